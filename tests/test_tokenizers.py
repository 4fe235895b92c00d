"""Tests for minillm.tokenizers: the char tokenizer, byte-level BPE, and their JSON files.

The BPE trainer's incremental pair counts are checked against a slow twin written here (recount
everything after every merge), its rank-based encoder against replaying the merges in training
order, and both against the HuggingFace ``tokenizers`` package when it is installed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from minillm.tokenizers import (
    SPLIT_PATTERN,
    ByteLevelBPETokenizer,
    CharTokenizer,
    TokenizerFileError,
    load_tokenizer,
)

EOT = "<|endoftext|>"

# Any Unicode string that UTF-8 can encode: lone surrogates (category Cs) are the only exclusion.
any_text = st.text(st.characters(exclude_categories=["Cs"]))
# Strings built from the pieces that stress a byte-level tokenizer: multi-byte characters, emoji
# (with joiners and skin tones), combining marks, and runs of every kind of whitespace.
tricky_pieces = st.sampled_from(
    [
        "a",
        "Z",
        "'s",
        "'LL",
        "1234",
        "é",
        "e\u0301",
        "\u0915\u093f",
        "漢字",
        "😀",
        "👩\u200d💻",
        "👍🏽",
    ]
    + [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "...", "!?", "\x00", "\ufffd"]
)
tricky_text = st.lists(tricky_pieces, max_size=30).map("".join)
texts = st.one_of(any_text, tricky_text)


@pytest.fixture(scope="module")
def corpus() -> str:
    """About 100 KB of the Python reference manual, shipped with CPython."""
    from pydoc_data.topics import topics

    return "\n".join(topics.values())[:100_000]


@pytest.fixture(scope="module")
def bpe(corpus: str) -> ByteLevelBPETokenizer:
    return ByteLevelBPETokenizer.train(corpus, vocab_size=512, special_tokens=[EOT])


# ------------------------------------------------------------------------------ CharTokenizer
def test_char_vocabulary_is_sorted_unique_characters() -> None:
    tok = CharTokenizer.from_text("hello, world")
    assert tok.chars == sorted(set("hello, world"))
    assert tok.vocab_size == 9
    assert tok.encode("dew") == [tok.chars.index(c) for c in "dew"]
    assert CharTokenizer.train("hello, world").chars == tok.chars


@given(texts)
def test_char_round_trip(text: str) -> None:
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


@given(st.text("abc", max_size=20), st.text("abc", max_size=20), st.sampled_from("xé😀\n"))
def test_char_unknown_character_names_it_and_its_position(
    before: str, after: str, unknown: str
) -> None:
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=regex.escape(f"{unknown!r}")) as info:
        tok.encode(before + unknown + after + unknown)
    assert f"U+{ord(unknown):04X}" in str(info.value)
    assert f"position {len(before)} " in str(info.value)  # the first occurrence


def test_char_decode_rejects_unknown_ids() -> None:
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="unknown token id 3 at position 1"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="unknown token id -1 at position 0"):
        tok.decode([-1])  # would silently mean "c" if used as a list index
    with pytest.raises(TypeError, match="position 0"):
        tok.decode([1.0])  # type: ignore[list-item]


def test_char_rejects_a_bad_alphabet() -> None:
    with pytest.raises(ValueError, match=r"'a'.*twice"):
        CharTokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="one character"):
        CharTokenizer(["ab"])


# ------------------------------------------------------------------------------ BPE: worked example
def test_bpe_textbook_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Wikipedia's example: "aaabdaaabac" -> "ZabdZabac" -> "ZYdZYac" -> "XdXac".

    Merge 1: "aa" occurs 4 times (overlapping), more than any other pair -> Z = 256.
    Merge 2: "ab" (97, 98) and "Za" (256, 97) both occur twice; the tie goes to the smaller pair,
    so "ab" -> Y = 257, as on Wikipedia. Merge 3: "ZY" (256, 257), twice -> X = 258.
    """
    tok = ByteLevelBPETokenizer.train("aaabdaaabac", vocab_size=256 + 3, verbose=True)
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert [tok.token_bytes(i) for i in (256, 257, 258)] == [b"aa", b"ab", b"aaab"]
    ids = tok.encode("aaabdaaabac")
    assert ids == [258, ord("d"), 258, ord("a"), ord("c")]  # "XdXac": 5 tokens for 11 bytes
    assert tok.decode(ids) == "aaabdaaabac"
    printed = capsys.readouterr().out.splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in printed] == ["x4", "x2", "x2"]


def test_bpe_stops_when_no_pair_is_left() -> None:
    # Chunks "ab" and " ab": merge "ab", then " " + "ab"; after that every chunk is one token.
    tok = ByteLevelBPETokenizer.train("ab ab", vocab_size=1000)
    assert tok.merges == [(97, 98), (32, 256)]
    assert tok.vocab_size == 258


def test_bpe_vocab_size_must_hold_bytes_and_specials() -> None:
    with pytest.raises(ValueError, match="vocab_size=256 is too small"):
        ByteLevelBPETokenizer.train("abc", vocab_size=256, special_tokens=[EOT])
    assert ByteLevelBPETokenizer.train("abc", 257, special_tokens=[EOT]).merges == []


# ------------------------------------------------------------------------------ BPE: properties
@given(texts)
def test_bpe_round_trips_any_string(bpe: ByteLevelBPETokenizer, text: str) -> None:
    ids = bpe.encode(text)
    assert all(isinstance(i, int) and 0 <= i < bpe.vocab_size for i in ids)
    assert len(ids) <= len(text.encode("utf-8"))
    assert bpe.decode(ids) == text


@given(any_text, st.integers(0, 40))
def test_bpe_trained_on_any_text_round_trips_it(text: str, extra: int) -> None:
    tok = ByteLevelBPETokenizer.train(text, vocab_size=256 + extra)
    ids = tok.encode(text)
    assert max(ids, default=0) < tok.vocab_size <= 256 + extra
    assert tok.decode(ids) == text


def _merge_ref(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Merge ``pair`` left to right, written independently of the library's ``_merge``."""
    out: list[int] = []
    i = 0
    while i < len(ids):
        if tuple(ids[i : i + 2]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _train_ref(text: str, num_merges: int) -> list[tuple[int, int]]:
    """The slow twin: recount every pair of every chunk after each merge."""
    chunk_counts = Counter(regex.findall(SPLIT_PATTERN, text))
    words = {chunk: list(chunk.encode("utf-8")) for chunk in chunk_counts}
    merges: list[tuple[int, int]] = []
    for k in range(num_merges):
        counts: Counter[tuple[int, int]] = Counter()
        for chunk, f in chunk_counts.items():
            for pair in zip(words[chunk], words[chunk][1:]):
                counts[pair] += f
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest pair
        merges.append(best)
        words = {chunk: _merge_ref(w, best, 256 + k) for chunk, w in words.items()}
    return merges


@given(st.text("ab c\n'é😀1.", min_size=20, max_size=300), st.integers(0, 40))
def test_bpe_incremental_training_equals_recounting(text: str, num_merges: int) -> None:
    tok = ByteLevelBPETokenizer.train(text, vocab_size=256 + num_merges)
    assert tok.merges == _train_ref(text, num_merges)


def test_bpe_incremental_training_equals_recounting_on_prose(corpus: str) -> None:
    text = corpus[:20_000]
    assert ByteLevelBPETokenizer.train(text, vocab_size=256 + 80).merges == _train_ref(text, 80)


@given(texts)
def test_bpe_encode_by_rank_equals_replaying_merges(bpe: ByteLevelBPETokenizer, text: str) -> None:
    expected: list[int] = []
    for chunk in regex.findall(SPLIT_PATTERN, text):
        ids = list(chunk.encode("utf-8"))
        for k, pair in enumerate(bpe.merges):  # training order, every merge, every chunk
            ids = _merge_ref(ids, pair, 256 + k)
        expected += ids
    assert bpe.encode_ordinary(text) == expected


@given(st.text("abcd efg\n", max_size=200), st.integers(0, 30))
def test_bpe_training_is_deterministic(text: str, num_merges: int) -> None:
    first = ByteLevelBPETokenizer.train(text, 256 + num_merges)
    second = ByteLevelBPETokenizer.train(text, 256 + num_merges)
    assert first.merges == second.merges


def test_bpe_learned_tokens_come_from_the_corpus(bpe: ByteLevelBPETokenizer, corpus: str) -> None:
    chunks = set(regex.findall(SPLIT_PATTERN, corpus))
    assert len(bpe.merges) == 512 - 256 - 1
    for token_id in range(256, 256 + len(bpe.merges)):
        piece = bpe.token_bytes(token_id)
        assert any(piece in chunk.encode("utf-8") for chunk in chunks), piece
    # Compression on the training text: fewer tokens than bytes (about 2.5x on this corpus).
    assert len(bpe.encode(corpus)) < 0.5 * len(corpus.encode("utf-8"))


# ------------------------------------------------------------------------------ special tokens
def test_bpe_special_tokens_follow_tiktoken_rules(bpe: ByteLevelBPETokenizer) -> None:
    eot_id = bpe.vocab_size - 1
    assert bpe.special_tokens == {EOT: eot_id}
    text = f"one{EOT}two"
    with pytest.raises(ValueError, match=regex.escape(f"'{EOT}' appears at position 3")):
        bpe.encode(text)
    for allowed in ("all", {EOT}, [EOT]):
        ids = bpe.encode(text, allowed_special=allowed)
        assert ids == bpe.encode("one") + [eot_id] + bpe.encode("two")
        assert bpe.decode(ids) == text
    as_text = bpe.encode(text, allowed_special="none")
    assert eot_id not in as_text and as_text == bpe.encode_ordinary(text)
    assert bpe.decode(as_text) == text
    with pytest.raises(ValueError, match="not special"):
        bpe.encode(text, allowed_special={"<|nope|>"})
    with pytest.raises(ValueError, match="expected 'all'"):
        bpe.encode(text, allowed_special="some")


def test_bpe_a_set_allows_only_its_tokens() -> None:
    tok = ByteLevelBPETokenizer(special_tokens=["<a>", "<b>"])
    assert tok.encode("x<a>", allowed_special={"<a>"}) == [ord("x"), 256]
    with pytest.raises(ValueError, match="'<b>' appears at position 4"):
        tok.encode("x<a><b>", allowed_special={"<a>"})


def test_bpe_longest_special_token_wins() -> None:
    tok = ByteLevelBPETokenizer(special_tokens=["<|e", "<|end|>"])
    assert tok.encode("<|end|><|e", allowed_special="all") == [257, 256]


def test_bpe_learns_nothing_from_special_tokens() -> None:
    text = f"hello world{EOT}" * 50
    tok = ByteLevelBPETokenizer.train(text, vocab_size=300, special_tokens=[EOT])
    learned = [tok.token_bytes(i) for i in range(256, 256 + len(tok.merges))]
    assert learned and not any(b"<|" in piece or b"|>" in piece for piece in learned)
    assert tok.decode(tok.encode(text, allowed_special="all")) == text


# ------------------------------------------------------------------------------ errors
def test_bpe_decode_errors_and_replacement() -> None:
    tok = ByteLevelBPETokenizer()
    with pytest.raises(ValueError, match="unknown token id 256 at position 2"):
        tok.decode([104, 105, 256])
    with pytest.raises(ValueError, match="unknown token id -5"):
        tok.decode([-5])
    assert tok.decode(list("😀".encode())[:3]) == "\ufffd"  # a cut emoji, not an exception


def test_bpe_encode_rejects_lone_surrogates() -> None:
    with pytest.raises(ValueError, match="surrogate '\\\\ud800'"):
        ByteLevelBPETokenizer().encode("ab\ud800")


def test_bpe_rejects_bad_merges_and_patterns() -> None:
    with pytest.raises(ValueError, match="merge 1 is \\[256, 257\\]"):
        ByteLevelBPETokenizer(merges=[(1, 2), (256, 257)])
    with pytest.raises(ValueError, match="does not cover every character"):
        ByteLevelBPETokenizer(pattern=r"\w+").encode("a b")


# ------------------------------------------------------------------------------ save / load
@given(texts)
def test_bpe_save_load_round_trip(
    bpe: ByteLevelBPETokenizer, tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("tok") / "bpe.json"
    bpe.save(path)
    for loaded in (ByteLevelBPETokenizer.load(path), load_tokenizer(path)):
        assert isinstance(loaded, ByteLevelBPETokenizer)
        assert loaded.merges == bpe.merges and loaded.special_tokens == bpe.special_tokens
        assert loaded.encode(text, allowed_special="all") == bpe.encode(text, allowed_special="all")


def test_saved_files_are_readable_json_and_written_atomically(
    bpe: ByteLevelBPETokenizer, tmp_path: Path
) -> None:
    path = tmp_path / "bpe.json"
    path.write_text("old contents")
    bpe.save(path)  # overwrites
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == "byte_level_bpe" and data["version"] == 1
    assert data["merges"][0] == list(bpe.merges[0]) and data["special_tokens"] == {EOT: 511}
    assert data["pattern"] == SPLIT_PATTERN
    assert os.listdir(tmp_path) == ["bpe.json"]  # no temporary file left behind

    char_path = tmp_path / "char.json"
    CharTokenizer.from_text("héllo\n").save(char_path)
    loaded = load_tokenizer(char_path)
    assert isinstance(loaded, CharTokenizer) and loaded.chars == sorted(set("héllo\n"))
    assert CharTokenizer.load(char_path).encode("hé\n") == loaded.encode("hé\n")


def _bpe_file(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "type": "byte_level_bpe",
        "version": 1,
        "pattern": SPLIT_PATTERN,
        "merges": [[97, 98]],
        "special_tokens": {EOT: 257},
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8 \\(bad byte at offset 0\\)"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps({"version": 1}).encode(), "missing the string field 'type'"),
        (json.dumps(_bpe_file(version=7)).encode(), "format version 7"),
        (json.dumps(_bpe_file(type="unigram")).encode(), "unknown tokenizer type 'unigram'"),
        (json.dumps(_bpe_file(merges=None)).encode(), "missing the field 'merges'"),
        (json.dumps(_bpe_file(merges="ab")).encode(), "'merges' should be a list, found str"),
        (json.dumps(_bpe_file(merges=[[97, 300]])).encode(), "merge 0 is \\[97, 300\\]"),
        (json.dumps(_bpe_file(special_tokens={EOT: 300})).encode(), "has id 300, expected 257"),
        (json.dumps(_bpe_file(pattern="(")).encode(), "'pattern' is not a regex"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(
    tmp_path: Path, contents: bytes, problem: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(contents)
    with pytest.raises(TokenizerFileError, match=problem) as info:
        load_tokenizer(path)
    assert str(path) in str(info.value)


def test_loading_the_wrong_kind_says_so(tmp_path: Path) -> None:
    path = tmp_path / "char.json"
    CharTokenizer.from_text("abc").save(path)
    with pytest.raises(TokenizerFileError, match="holds a 'char' tokenizer"):
        ByteLevelBPETokenizer.load(path)
    path.write_text(json.dumps({"type": "char", "version": 1, "chars": ["a", "a"]}))
    with pytest.raises(TokenizerFileError, match=r"char.json: field 'chars'.*twice"):
        CharTokenizer.load(path)
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "missing.json")


# ------------------------------------------------------------------------------ HuggingFace oracle
def _gpt2_byte_alphabet() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte, the alphabet HuggingFace's ByteLevel uses.

    Printable Latin-1 bytes stand for themselves; the other 68 (controls, space, ...) take the
    code points from 256 upwards, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    shown = {b: chr(b) for b in printable}
    for b in range(256):
        if b not in shown:
            shown[b] = chr(256 + len(shown) - len(printable))
    return shown


def _hf_pre_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")
    as_bytes = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return pre_tokenizers.Sequence([split, as_bytes])


@pytest.fixture(scope="module")
def hf_twin(bpe: ByteLevelBPETokenizer):  # type: ignore[no-untyped-def]
    """A HuggingFace BPE tokenizer holding exactly our merges (special token left out)."""
    tokenizers = pytest.importorskip("tokenizers")
    shown = _gpt2_byte_alphabet()

    def name(token_id: int) -> str:
        return "".join(shown[b] for b in bpe.token_bytes(token_id))

    vocab = {name(i): i for i in range(256 + len(bpe.merges))}
    assert len(vocab) == 256 + len(bpe.merges)  # no two tokens with the same bytes
    merges = [(name(a), name(b)) for a, b in bpe.merges]
    hf = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=merges))
    hf.pre_tokenizer = _hf_pre_tokenizer()
    return hf


@given(texts)
def test_encode_matches_huggingface(bpe: ByteLevelBPETokenizer, hf_twin, text: str) -> None:  # type: ignore[no-untyped-def]
    assert bpe.encode_ordinary(text) == hf_twin.encode(text).ids


def test_encode_corpus_matches_huggingface(
    bpe: ByteLevelBPETokenizer, hf_twin, corpus: str
) -> None:  # type: ignore[no-untyped-def]
    assert bpe.encode(corpus) == hf_twin.encode(corpus).ids


def test_training_agrees_with_huggingface(bpe: ByteLevelBPETokenizer, corpus: str) -> None:
    """HuggingFace's trainer learns the same merges, up to the order of equally frequent pairs.

    The two break ties differently (we take the smallest pair of byte ids; HuggingFace orders by
    its own ids, which sort the printable byte stand-ins first), so the lists agree exactly until
    the first tie, and as sets almost everywhere.
    """
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer(tokenizers.models.BPE())
    hf.pre_tokenizer = _hf_pre_tokenizer()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=256 + len(bpe.merges),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([corpus], trainer)
    hf_merges = json.loads(hf.to_str())["model"]["merges"]
    hf_merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in hf_merges]

    shown = _gpt2_byte_alphabet()
    ours = [
        (
            "".join(shown[b] for b in bpe.token_bytes(a)),
            "".join(shown[b] for b in bpe.token_bytes(b)),
        )
        for a, b in bpe.merges
    ]
    assert len(hf_merges) == len(ours)
    assert hf_merges[:20] == ours[:20]
    assert len(set(hf_merges) & set(ours)) >= 0.95 * len(ours)
