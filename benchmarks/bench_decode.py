"""Decoding speed: tokens/s with and without the KV cache, and beside a plain PyTorch loop.

Config (a) of the GPT benchmark (V256 L4 H4 C256, block 1024 here so long contexts fit), batch 1,
one thread, a 16-token prompt and 256 greedy new tokens:
  * minillm with the KV cache, minillm recomputing the context every token;
  * the same greedy loop in plain PyTorch with a hand-written KV cache on identical weights (the
    tokens must come out identical);
  * ms/token against context length 64 ... 1024 (cached grows linearly, uncached quadratically).

Targets (issue 6): cached >= 7x uncached at 256 tokens; minillm cached >= 1.5x the PyTorch loop's
tokens/s (aim 2x).

Run:  python benchmarks/bench_decode.py      (rewrites "Decoding" in RESULTS.md)
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results

import minillm
from minillm.inference import GPTEngine, generate
from minillm.machine import set_threads
from minillm.models import GPT, GPTConfig

CFG = GPTConfig(vocab_size=256, block_size=1024, n_layer=4, n_head=4, n_embd=256)
PROMPT = list(range(1, 17))
NEW = 256


def torch_greedy(model, prompt: list[int], new: int) -> tuple[list[int], float]:
    """Greedy decoding in plain PyTorch with a hand-written KV cache; returns (tokens, seconds)."""
    import torch
    import torch.nn.functional as F

    cfg = model.config
    H, C = cfg.n_head, cfg.n_embd
    D = C // H
    sd = {k: torch.tensor(v.data) for k, v in model.state_dict().items()}
    L = cfg.n_layer
    kc = torch.zeros(L, 1, H, cfg.block_size, D)
    vc = torch.zeros(L, 1, H, cfg.block_size, D)

    def forward(ids: torch.Tensor, start: int) -> torch.Tensor:
        T = ids.shape[1]
        x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][start : start + T]
        for i in range(L):
            p = f"transformer.h.{i}."
            h = F.layer_norm(x, (C,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
            qkv = F.linear(h, sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"])
            q, k, v = qkv.view(1, T, 3, H, D).permute(2, 0, 3, 1, 4)
            kc[i, :, :, start : start + T] = k
            vc[i, :, :, start : start + T] = v
            keys, values = kc[i, :, :, : start + T], vc[i, :, :, : start + T]
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=T > 1)
            y = y.transpose(1, 2).reshape(1, T, C)
            x = x + F.linear(y, sd[p + "attn.c_proj.weight"], sd[p + "attn.c_proj.bias"])
            h = F.layer_norm(x, (C,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
            h = F.gelu(
                F.linear(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"]), approximate="tanh"
            )
            x = x + F.linear(h, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
        x = F.layer_norm(
            x[:, -1:], (C,), sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"]
        )
        return x @ sd["transformer.wte.weight"].T

    out = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        logits = forward(torch.tensor([prompt]), 0)
        pos = len(prompt)
        for _ in range(new):
            token = int(logits[0, -1].argmax())
            out.append(token)
            if len(out) == new:
                break
            logits = forward(torch.tensor([[token]]), pos)
            pos += 1
        seconds = time.perf_counter() - t0
    return out, seconds


def timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    set_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    minillm.manual_seed(0)
    model = GPT(CFG).eval()
    engine = GPTEngine(model)
    generate(engine, PROMPT, 8, greedy=True)  # warm up
    runs = {"cached": [], "uncached": [], "PyTorch": []}
    tokens = {}
    for _ in range(3):
        tokens["cached"], t = timed(lambda: generate(engine, PROMPT, NEW, greedy=True))
        runs["cached"].append(t)
        tokens["uncached"], t = timed(
            lambda: generate(engine, PROMPT, NEW, greedy=True, use_cache=False)
        )
        runs["uncached"].append(t)
        if torch is not None:
            tokens["PyTorch"], t = torch_greedy(model, PROMPT, NEW)
            runs["PyTorch"].append(t)
    med = {k: float(np.median(v)) for k, v in runs.items() if v}
    assert tokens["cached"] == tokens["uncached"], "cached and uncached decoding disagree"
    if "PyTorch" in tokens:
        assert tokens["cached"] == tokens["PyTorch"], "minillm and PyTorch greedy tokens differ"
    rows = [[k, f"{NEW / t:,.0f}", f"{t / NEW * 1e3:.2f}"] for k, t in med.items()]
    speedup = med["uncached"] / med["cached"]
    vs_torch = med["PyTorch"] / med["cached"] if "PyTorch" in med else math.nan
    table = markdown_table(["decoder", "tokens/s", "ms/token"], rows)

    # ms/token at growing context: one decode tick after a prefill of n tokens
    scaling = []
    for n in (64, 128, 256, 512, 1023):
        ids = np.arange(n)[None] % CFG.vocab_size
        cache = engine.new_cache(1)
        engine.forward(ids[:, :-1], cache)
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            cache.length = n - 1
            engine.forward(ids[:, -1:], cache, last_only=True)
        cached = (time.perf_counter() - t0) / reps
        t0 = time.perf_counter()
        for _ in range(3):
            engine.forward(ids, last_only=True)
        uncached = (time.perf_counter() - t0) / 3
        scaling.append([str(n), f"{cached * 1e3:.2f}", f"{uncached * 1e3:.2f}"])
    scale_table = markdown_table(["context", "cached ms/token", "uncached ms/token"], scaling)
    print(table, f"\ncached/uncached speedup {speedup:.1f}x; cached vs PyTorch {vs_torch:.2f}x\n")
    print(scale_table)
    body = (
        f"Command: `python benchmarks/bench_decode.py` — machine: {machine()}; one thread; "
        f"batch 1; "
        f"V256 L4 H4 C256; 16-token prompt, {NEW} greedy tokens; median of 3 runs; identical "
        f"tokens from all three decoders.\n\n{table}\n\n"
        f"- KV cache speedup over recomputation: **{speedup:.1f}x** (target >= 7x)\n"
        f"- minillm cached tokens/s / PyTorch loop tokens/s: **{vs_torch:.2f}x** "
        "(target >= 1.5x)\n\n"
        f"One decode tick at a given context length:\n\n{scale_table}"
    )
    update_results("Decoding", body)


if __name__ == "__main__":
    main()
