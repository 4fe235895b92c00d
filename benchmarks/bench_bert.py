"""Sentence embeddings with all-MiniLM-L6-v2: minillm's SentenceEncoder beside a PyTorch BERT.

* 256 real sentences (prose sentences of the built-in corpus, ``minillm/data/corpus.py``, split by
  ``minillm.text.tokenize.split_sentences``), tokenized once; both sides embed the same token ids.
* minillm: ``SentenceEncoder.encode`` (float32; batches sorted by length, padded to the longest,
  mean pooling, L2 norm), at batch size 1 and 32.
* PyTorch: the plain-functional BERT of ``reference_bert.py`` (``torch_bert``, the tests' oracle)
  in float32 under ``torch.inference_mode``, with the same length-sorted batches and pooling.
* the share of minillm's encode time spent in the exact (erf) GELU, timed by hooks on the six
  ``nn.GELU`` modules.

One thread on both sides (``set_threads(1)``, ``torch.set_num_threads(1)``); medians of 5 runs.

Run:  python benchmarks/bench_bert.py      (rewrites "Sentence embeddings (BERT)" in RESULTS.md)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results
from reference_bert import mean_pool, torch_bert, torch_weights

from minillm import nn
from minillm.data.corpus import builtin_corpus
from minillm.machine import set_threads
from minillm.models import BertModel, SentenceEncoder
from minillm.models.pretrained import INSTALL_HINT, packaged_model_dir
from minillm.text.tokenize import split_sentences
from minillm.tokenizers import WordPieceTokenizer

N_SENTENCES = 256
REPEATS = 5


def corpus_sentences(n: int = N_SENTENCES) -> list[str]:
    """The first ``n`` prose-like sentences (20..300 characters, mostly letters) of the corpus."""
    out = []
    for s in split_sentences(builtin_corpus()):
        s = " ".join(s.split())
        if 20 <= len(s) <= 300 and sum(c.isalpha() or c == " " for c in s) > 0.85 * len(s):
            out.append(s)
        if len(out) == n:
            break
    return out


def torch_encode(torch, w, cfg, tok, texts: list[str], batch: int) -> np.ndarray:
    order = np.argsort([-len(s) for s in texts], kind="stable")
    out = np.empty((len(texts), cfg.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            rows = order[start : start + batch]
            encs = tok.encode_batch([texts[i] for i in rows], max_length=256)
            ids = np.array([e.ids for e in encs])
            mask = np.array([e.attention_mask for e in encs])
            x, *_ = torch_bert(w, cfg, ids, mask)
            out[rows] = mean_pool(x.numpy(), mask)
    return out


def gelu_share(enc: SentenceEncoder, texts: list[str], batch: int) -> float:
    """Fraction of ``enc.encode`` wall time spent inside the GELU modules."""
    spent = [0.0]
    start: list[float] = []
    handles = []
    for m in enc.model.modules():
        if isinstance(m, nn.GELU):
            handles.append(
                m.register_forward_pre_hook(lambda *_: start.append(time.perf_counter()))
            )
            handles.append(m.register_forward_hook(
                lambda *_: spent.__setitem__(0, spent[0] + time.perf_counter() - start.pop())
            ))  # fmt: skip
    t0 = time.perf_counter()
    enc.encode(texts, batch_size=batch)
    total = time.perf_counter() - t0
    for h in handles:
        h.remove()
    return spent[0] / total


def main() -> None:
    import torch

    folder = packaged_model_dir()
    if folder is None:
        sys.exit(f"all-MiniLM-L6-v2 is not installed; {INSTALL_HINT}")
    set_threads(1)
    torch.set_num_threads(1)
    texts = corpus_sentences()
    model = BertModel.from_pretrained(folder)
    tok = WordPieceTokenizer.from_pretrained(folder)
    enc = SentenceEncoder(model, tok, max_seq_length=256)
    w = torch_weights(folder / "model.safetensors", "float32")
    lengths = [sum(e.attention_mask) for e in tok.encode_batch(texts, max_length=256)]
    n_tokens = sum(lengths)
    rows, speeds, worst = [], {}, 0.0
    for batch in (1, 32):
        enc.encode(texts[:8], batch_size=batch)  # compile and warm up
        torch_encode(torch, w, model.config, tok, texts[:8], batch)
        times: dict[str, list[float]] = {"minillm": [], "PyTorch": []}
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            ours = enc.encode(texts, batch_size=batch)
            times["minillm"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            theirs = torch_encode(torch, w, model.config, tok, texts, batch)
            times["PyTorch"].append(time.perf_counter() - t0)
        worst = max(worst, float(np.abs(ours - theirs).max()))
        med = {k: float(np.median(v)) for k, v in times.items()}
        for name, sec in med.items():
            speeds[name, batch] = len(texts) / sec
            rows.append([str(batch), name, f"{len(texts) / sec:,.1f}", f"{n_tokens / sec:,.0f}",
                         f"{sec / med['PyTorch']:.2f}"])  # fmt: skip
    shares = {b: float(np.median([gelu_share(enc, texts, b) for _ in range(3)])) for b in (1, 32)}
    table = markdown_table(
        ["batch", "implementation", "sentences/s", "real tokens/s", "time / PyTorch"], rows
    )
    body = f"""Command: `python benchmarks/bench_bert.py` — machine: {machine()}; one thread on \
both sides; medians of {REPEATS} runs. all-MiniLM-L6-v2 in float32 on {len(texts)} sentences \
of the built-in corpus ({n_tokens:,} real tokens, {min(lengths)}..{max(lengths)} per sentence \
with [CLS]/[SEP] before padding), batched longest first and padded to each batch's longest, \
mean-pooled and normalized; the same tokenizer ({type(tok).__name__}) and token ids on both \
sides, its time included in both (PyTorch: the functional BERT of \
`benchmarks/reference_bert.py`, the tests' oracle, under `torch.inference_mode`). Largest \
difference between the two sides' embeddings: {worst:.1e}.

{table}

Exact (erf) GELU's share of minillm's encode time: {shares[1]:.1%} at batch 1, \
{shares[32]:.1%} at batch 32 (hooks on the six `nn.GELU` modules)."""
    print(body)
    update_results("Sentence embeddings (BERT)", body)


if __name__ == "__main__":
    main()
