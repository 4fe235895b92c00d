"""Decoding speed: tokens/s beside a plain PyTorch loop, time to first token, the prefix cache's hit
path, batched decoding, and why generation has its own forward.

Config (a) of the GPT benchmark (V256 L4 H4 C256, block 1024 here so long contexts fit), one
thread, greedy:
  * batch 1, a 16-token prompt, 256 new tokens: minillm with the KV cache, minillm recomputing the
    context every token, and the same loop in plain PyTorch with a hand-written KV cache on
    identical weights (the tokens must come out identical; the PyTorch loop's output is checked
    after dropping its prompt);
  * time to first token (prefill + first sample) for 16- and 256-token prompts, both frameworks;
  * the prefix cache: a 256-token shared prefix + 16 new tokens, cold and warm;
  * batches of 8 and 32 equal-length prompts (64 new tokens), both frameworks batched alike;
  * the same uncached forward through the autograd model and through the engine (the mirror's
    reason to exist), and one decode tick against context length.

Targets (issue 12): minillm cached >= 1.8x the PyTorch loop's tokens/s at batch 1 (aim 2.0x).

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
from minillm.inference import GPTEngine, PrefixCache, generate
from minillm.machine import set_threads
from minillm.models import GPT, GPTConfig

CFG = GPTConfig(vocab_size=256, block_size=1024, n_layer=4, n_head=4, n_embd=256)
PROMPT = list(range(1, 17))
NEW = 256
RUNS = 3
BATCH_NEW = 64  # new tokens per row in the batched runs


class TorchGreedy:
    """Greedy decoding in plain PyTorch with a hand-written KV cache, batched (equal lengths)."""

    def __init__(self, model: GPT) -> None:
        import torch

        self.torch = torch
        self.sd = {k: torch.tensor(v.data) for k, v in model.state_dict().items()}
        self.cfg = model.config

    def forward(self, ids, start: int, kc, vc):
        import torch.nn.functional as F

        sd, cfg = self.sd, self.cfg
        H, C = cfg.n_head, cfg.n_embd
        B, T = ids.shape
        x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][start : start + T]
        for i in range(cfg.n_layer):
            p = f"transformer.h.{i}."
            h = F.layer_norm(x, (C,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
            qkv = F.linear(h, sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"])
            q, k, v = qkv.view(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
            kc[i, :, :, start : start + T] = k
            vc[i, :, :, start : start + T] = v
            keys, values = kc[i, :, :, : start + T], vc[i, :, :, : start + T]
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=T > 1)
            y = y.transpose(1, 2).reshape(B, T, C)
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

    def generate(self, prompts: list[list[int]], new: int) -> tuple[list[list[int]], float]:
        """Prompt + new tokens per row (as a PyTorch loop returns them), and the seconds taken."""
        torch, cfg = self.torch, self.cfg
        B, D = len(prompts), cfg.n_embd // cfg.n_head
        kc = torch.zeros(cfg.n_layer, B, cfg.n_head, cfg.block_size, D)
        vc = torch.zeros_like(kc)
        ids = torch.tensor(prompts)
        with torch.inference_mode():
            t0 = time.perf_counter()
            logits = self.forward(ids, 0, kc, vc)
            pos, out = ids.shape[1], [ids]
            for step in range(new):
                token = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
                out.append(token)
                if step + 1 < new:
                    logits = self.forward(token, pos, kc, vc)
                    pos += 1
            seconds = time.perf_counter() - t0
        return torch.cat(out, dim=1).tolist(), seconds


def timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def median(fn, runs: int = RUNS) -> tuple[object, float]:
    results = [timed(fn) for _ in range(runs)]
    return results[0][0], float(np.median([t for _, t in results]))


def main() -> None:
    set_threads(1)
    try:
        import torch

        torch.set_num_threads(1)
        ref = None
    except ImportError:
        torch = None
    minillm.manual_seed(0)
    model = GPT(CFG).eval()
    engine = GPTEngine(model)
    if torch is not None:
        ref = TorchGreedy(model)
    generate(engine, PROMPT, 8, greedy=True)  # warm up: load the compiled kernels

    # ---- batch 1: tokens/s, alternating runs ---------------------------------------------------
    runs: dict[str, list[float]] = {"minillm, KV cache": [], "minillm, no cache": [], "PyTorch": []}
    tokens: dict[str, list[int]] = {}
    for run in range(2 * RUNS - 1):  # the two fast decoders 5 times, recomputation 3
        tokens["cached"], t = timed(lambda: generate(engine, PROMPT, NEW, greedy=True))
        runs["minillm, KV cache"].append(t)
        if run < RUNS:
            tokens["uncached"], t = timed(
                lambda: generate(engine, PROMPT, NEW, greedy=True, use_cache=False)
            )
            runs["minillm, no cache"].append(t)
        if ref is not None:
            out, t = ref.generate([PROMPT], NEW)
            tokens["PyTorch"] = out[0][len(PROMPT) :]  # the loop returns prompt + new tokens
            runs["PyTorch"].append(t)
    med = {k: float(np.median(v)) for k, v in runs.items() if v}
    assert tokens["cached"] == tokens["uncached"], "cached and uncached decoding disagree"
    if "PyTorch" in tokens:
        assert tokens["cached"] == tokens["PyTorch"], "minillm and PyTorch greedy tokens differ"
    rows = [[k, f"{NEW / t:,.0f}", f"{t / NEW * 1e3:.3f}"] for k, t in med.items()]
    speedup = med["minillm, no cache"] / med["minillm, KV cache"]
    vs_torch = med["PyTorch"] / med["minillm, KV cache"] if "PyTorch" in med else math.nan
    table = markdown_table(["decoder (batch 1)", "tokens/s", "ms/token"], rows)

    # ---- time to first token, and the prefix cache's hit path ----------------------------------
    ttft_rows = []
    long_prompt = [int(t) for t in np.random.default_rng(1).integers(0, CFG.vocab_size, 256)]
    for name, prompt in (("16-token prompt", PROMPT), ("256-token prompt", long_prompt)):
        _, ours = median(lambda p=prompt: generate(engine, p, 1, greedy=True), runs=5)
        theirs = median(lambda p=prompt: ref.generate([p], 1), runs=5)[1] if ref else math.nan
        ttft_rows.append([name, f"{ours * 1e3:.2f}", f"{theirs * 1e3:.2f}"])
    suffix = [int(t) for t in np.random.default_rng(2).integers(0, CFG.vocab_size, 16)]
    shared = long_prompt + suffix  # a 256-token system prompt, then the question
    cold, t_cold = median(lambda: generate(engine, shared, 1, greedy=True), runs=5)
    pc = PrefixCache(block_tokens=16)
    generate(engine, long_prompt + [0], 1, greedy=True, prefix_cache=pc)  # another request
    warm, t_warm = median(lambda: generate(engine, shared, 1, greedy=True, prefix_cache=pc), 5)
    assert warm == cold, "the prefix cache changed the first token"
    hits = pc.stats.hits
    ttft_rows.append(["272 tokens, prefix cache cold", f"{t_cold * 1e3:.2f}", ""])
    ttft_rows.append(
        [f"272 tokens, 256 from the prefix cache ({hits} block hits)", f"{t_warm * 1e3:.2f}", ""]
    )
    ttft_table = markdown_table(["time to first token", "minillm ms", "PyTorch ms"], ttft_rows)

    # ---- batched decoding ----------------------------------------------------------------------
    batch_rows = []
    rng = np.random.default_rng(3)
    for B in (8, 32):
        prompts = [[int(t) for t in rng.integers(0, CFG.vocab_size, 16)] for _ in range(B)]
        ours_tokens, ours = median(lambda p=prompts: generate(engine, p, BATCH_NEW, greedy=True))
        row = [str(B), f"{B * BATCH_NEW / ours:,.0f}"]
        if ref is not None:
            theirs_tokens, theirs = median(lambda p=prompts: ref.generate(p, BATCH_NEW)[0])
            assert [t[16:] for t in theirs_tokens] == ours_tokens, f"batch {B}: tokens differ"
            row += [f"{B * BATCH_NEW / theirs:,.0f}", f"{theirs / ours:.2f}"]
        batch_rows.append(row)
    batch_table = markdown_table(
        ["batch", "minillm tokens/s", "PyTorch tokens/s", "minillm/PyTorch speed"], batch_rows
    )

    # ---- why a mirror: the same uncached forward through autograd and through the engine -------
    mirror_rows = []
    for n in (1, 16, 256):
        ids = np.arange(n)[None] % CFG.vocab_size
        with minillm.no_grad():
            _, autograd = median(lambda i=ids: model(minillm.tensor(i)), runs=5)
        _, mirror = median(lambda i=ids: engine.forward(i), runs=5)
        mirror_rows.append(
            [str(n), f"{autograd * 1e3:.2f}", f"{mirror * 1e3:.2f}", f"{autograd / mirror:.1f}"]
        )
    mirror_table = markdown_table(
        ["positions", "autograd GPT.forward ms", "engine.forward ms", "ratio"], mirror_rows
    )

    # ---- ms/token at growing context: one decode tick after a prefill of n tokens --------------
    scaling = []
    for n in (64, 256, 1023):
        ids = np.arange(n)[None] % CFG.vocab_size
        cache = engine.new_cache(1)
        engine.forward(ids[:, :-1], cache)
        reps = 50
        t0 = time.perf_counter()
        for _ in range(reps):
            cache.length = n - 1
            engine.forward(ids[:, -1:], cache, last_only=True)
        cached = (time.perf_counter() - t0) / reps
        _, uncached = median(lambda i=ids: engine.forward(i, last_only=True))
        scaling.append([str(n), f"{cached * 1e3:.3f}", f"{uncached * 1e3:.2f}"])
    scale_table = markdown_table(["context", "cached ms/token", "uncached ms/token"], scaling)

    # ---- where a decode tick goes: the weight products alone against the whole tick ------------
    x = {n: np.ones((1, n), engine.dtype) for n in (CFG.n_embd, 4 * CFG.n_embd)}
    weights = [w for L in engine.blocks for w in (L.attn_w, L.attn_proj_w, L.fc_w, L.mlp_proj_w)]
    outs = [np.empty((1, w.shape[0]), engine.dtype) for w in weights]

    def products() -> None:
        for w, o in zip(weights, outs):
            np.matmul(x[w.shape[1]], w.T, out=o)

    cache = engine.new_cache(1)
    engine.forward(np.arange(64)[None], cache)

    def tick() -> None:
        cache.length = 64
        engine.forward(np.array([[7]]), cache, last_only=True)

    gemv, whole = [], []
    for _ in range(7):  # alternating, so drift hits both
        gemv.append(timed(lambda: [products() for _ in range(100)])[1] / 100)
        whole.append(timed(lambda: [tick() for _ in range(100)])[1] / 100)
    gemv_s, tick_s = float(np.median(gemv)), float(np.median(whole))
    weight_mb = sum(w.nbytes for w in weights) / 1e6
    floor_line = (
        f"A decode tick at context 64: {tick_s * 1e6:.0f} us, of which the {len(weights)} "
        f"weight matrix-vector products alone ({weight_mb:.1f} MB of float32 weights per token) "
        f"take {gemv_s * 1e6:.0f} us ({gemv_s / tick_s:.0%}); the rest is attention, the fused "
        "kernels, the embedding, the head and Python."
    )

    print(table, f"\ncached/uncached {speedup:.1f}x; cached vs PyTorch {vs_torch:.2f}x\n")
    for t in (ttft_table, batch_table, mirror_table, scale_table, floor_line):
        print(t, "\n")
    body = (
        f"Command: `python benchmarks/bench_decode.py` — machine: {machine()}; one thread; "
        f"V256 L4 H4 C256; greedy; medians of 3-7 runs, alternating at batch 1; identical "
        f"tokens from every decoder (checked).\n\n"
        f"Batch 1, 16-token prompt, {NEW} new tokens:\n\n{table}\n\n"
        f"- minillm cached tokens/s / PyTorch loop tokens/s: **{vs_torch:.2f}x** "
        "(target >= 1.8x, aim 2.0x)\n"
        f"- KV cache speedup over recomputation: {speedup:.1f}x\n\n"
        f"Time to first token (prefill and one sample):\n\n{ttft_table}\n\n"
        f"Batched decoding, 16-token prompts, 64 new tokens each:\n\n{batch_table}\n\n"
        "The same uncached forward (logits of every position) through the autograd model and "
        "through generation's mirror, engine.py. One position is a decode tick's arithmetic "
        "without the cache, which the autograd model does not have: the mirror's reason to "
        f"exist.\n\n{mirror_table}\n\n"
        f"One decode tick at a given context length:\n\n{scale_table}\n\n{floor_line}"
    )
    update_results("Decoding", body)


if __name__ == "__main__":
    main()
