"""minillm.text.augment: same seed, same output; the back-off rules hold for any input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.text import augment
from minillm.text.augment import is_special

WORDS = ["big", "quick", "idea", "the", "of", "run", "file", "[MASK]", "[URL]", "<eos>", "zebra"]
sentences = st.lists(st.sampled_from(WORDS), max_size=12)
OPS = {
    "synonym_replacement": lambda w, s: augment.synonym_replacement(w, 0.3, s),
    "random_insertion": lambda w, s: augment.random_insertion(w, 0.3, s),
    "random_swap": lambda w, s: augment.random_swap(w, 0.3, s),
    "random_deletion": lambda w, s: augment.random_deletion(w, 0.5, s),
    "keyboard_typos": lambda w, s: augment.keyboard_typos(w, 0.3, s),
}


def _specials(words):
    return [w for w in words if is_special(w)]


@settings(max_examples=30)
@given(sentences, st.sampled_from(sorted(OPS)), st.integers(0, 2**31))
def test_same_seed_same_output_and_special_tokens_untouched(words, name, seed):
    op = OPS[name]
    out = op(words, seed)
    assert out == op(words, seed)
    assert _specials(out) == _specials(words)  # same special tokens, same order
    if name in ("synonym_replacement", "random_swap", "keyboard_typos"):
        assert [i for i, w in enumerate(out) if is_special(w)] == [
            i for i, w in enumerate(words) if is_special(w)
        ]  # and in the same places


@settings(max_examples=30)
@given(sentences, st.floats(0, 1), st.integers(0, 2**31))
def test_random_deletion_never_deletes_every_word(words, p, seed):
    out = augment.random_deletion(words, p, seed)
    free = [w for w in words if not is_special(w)]
    kept = [w for w in out if not is_special(w)]
    assert len(kept) >= min(1, len(free))
    assert all(w in free for w in kept)


@settings(max_examples=30)
@given(sentences, st.integers(0, 2**31))
def test_typos_never_empty_a_word_and_eda_is_reproducible(words, seed):
    out = augment.keyboard_typos(words, 1.0, seed)
    assert len(out) == len(words) and all(out)
    text = " ".join(words)
    assert augment.eda(text, 5, seed=seed) == augment.eda(text, 5, seed=seed)
    assert len(augment.eda(text, 5, seed=seed)) == 5


def test_operations_with_nothing_to_do_say_so():
    assert augment.synonym_replacement("zebra [MASK]", seed=0) == "zebra [MASK]"
    assert augment.random_swap("[MASK] zebra [URL]", seed=0) == "[MASK] zebra [URL]"
    explained = augment.explain("zebra [MASK]", seed=0)
    assert "no word has a synonym: unchanged" in explained
    assert "fewer than two words to swap: unchanged" in explained


def test_seed_none_follows_minillm_manual_seed():
    import minillm

    minillm.manual_seed(7)
    a = augment.eda("a big quick idea of the file", 3)
    minillm.manual_seed(7)
    assert augment.eda("a big quick idea of the file", 3) == a


@settings(max_examples=30)
@given(st.integers(0, 60), st.floats(0, 0.9), st.integers(0, 2**31))
def test_span_mask_hides_the_asked_share_and_never_a_special_id(n, ratio, seed):
    ids = np.arange(n) % 7
    masked, mask = augment.span_mask(ids, mask_id=99, ratio=ratio, seed=seed, special_ids=[0])
    maskable = ids != 0
    assert mask.sum() == int(np.ceil(ratio * maskable.sum()))
    assert not (mask & ~maskable).any()
    assert (masked[mask] == 99).all() and (masked[~mask] == ids[~mask]).all()
    again, _ = augment.span_mask(ids, mask_id=99, ratio=ratio, seed=seed, special_ids=[0])
    assert (again == masked).all()


@settings(max_examples=30)
@given(st.integers(1, 50), st.integers(1, 60), st.integers(0, 2**31))
def test_random_crop_is_a_window(length, n, seed):
    ids = np.arange(n)
    window = augment.random_crop(ids, length, seed)
    assert len(window) == min(length, n)
    assert (np.diff(window) == 1).all() and window[0] >= 0 and window[-1] < n


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="alpha must be in"):
        augment.synonym_replacement("a b", alpha=2)
    with pytest.raises(TypeError, match="seed must be"):
        augment.random_swap("a b", seed="x")
    with pytest.raises(ValueError, match="ratio must be"):
        augment.span_mask([1, 2], 0, ratio=1.0)
