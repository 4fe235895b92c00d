"""A plain-PyTorch BERT over a dict of Hugging Face-named weights, for parity tests and benches.

Shared by ``tests/test_bert.py`` (its oracle) and ``benchmarks/bench_bert.py`` (the PyTorch side),
as ``reference_gpt.py`` is for the GPT: one copy, so the benchmark times exactly what the tests
hold minillm equal to. ``torch_bert`` is written from torch.nn.functional ops (embedding,
layer_norm, linear, gelu, softmax), independent of minillm's modules; torch is imported inside the
functions, so importing this module does not need it.
"""

from __future__ import annotations

import numpy as np

from minillm.io import safetensors
from minillm.models import BertModel


def torch_bert(w, cfg, ids, mask, types=None):
    """BERT from torch.nn.functional over ``w`` (HF names -> torch tensors).

    Returns (last_hidden_state, pooler_output, hidden_states, attentions). The padding mask is
    Hugging Face's additive form: 0 for a real key, the dtype's most negative value for padding.
    """
    import torch
    import torch.nn.functional as F

    ids = torch.as_tensor(np.asarray(ids))
    B, T = ids.shape
    types = torch.zeros_like(ids) if types is None else torch.as_tensor(np.asarray(types))
    dt = w["embeddings.word_embeddings.weight"].dtype
    eps, H = cfg.layer_norm_eps, cfg.num_attention_heads
    C = cfg.hidden_size
    D = C // H
    approximate = "none" if cfg.hidden_act == "gelu" else "tanh"

    def ln(x, name):
        return F.layer_norm(x, (C,), w[name + ".weight"], w[name + ".bias"], eps)

    def lin(x, name):
        return F.linear(x, w[name + ".weight"], w[name + ".bias"])

    x = F.embedding(ids, w["embeddings.word_embeddings.weight"])
    x = x + F.embedding(torch.arange(T), w["embeddings.position_embeddings.weight"])
    x = x + F.embedding(types, w["embeddings.token_type_embeddings.weight"])
    x = ln(x, "embeddings.LayerNorm")
    keep = torch.as_tensor(np.asarray(mask), dtype=dt)[:, None, None, :]  # (B, 1, 1, T)
    bias = (1.0 - keep) * torch.finfo(dt).min
    hidden, attentions = [x], []
    for i in range(cfg.num_hidden_layers):
        p = f"encoder.layer.{i}."

        def heads(t):
            return t.view(B, T, H, D).transpose(1, 2)

        q, k, v = (heads(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        probs = F.softmax(q @ k.transpose(-1, -2) / D**0.5 + bias, dim=-1)
        y = (probs @ v).transpose(1, 2).reshape(B, T, C)
        a = ln(lin(y, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        f = F.gelu(lin(a, p + "intermediate.dense"), approximate=approximate)
        x = ln(lin(f, p + "output.dense") + a, p + "output.LayerNorm")
        hidden.append(x)
        attentions.append(probs)
    pooled = torch.tanh(lin(x[:, 0], "pooler.dense"))
    return x, pooled, hidden, attentions


def torch_weights(model_or_file, dtype="float64", requires_grad=False):
    import torch

    if isinstance(model_or_file, BertModel):
        arrays = {k: v.data for k, v in model_or_file.state_dict().items()}
    else:
        arrays = {k: v.data for k, v in safetensors.load(model_or_file).items()}
    return {
        k: torch.tensor(np.asarray(a, dtype=dtype), requires_grad=requires_grad)
        for k, a in arrays.items()
        if k != "embeddings.position_ids"
    }


def mean_pool(h, mask, normalize=True):
    m = np.asarray(mask, dtype=h.dtype)[:, :, None]
    e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return e / np.linalg.norm(e, axis=1, keepdims=True) if normalize else e
