"""int8 quantization beside PyTorch's dynamic quantization, on the same weights, one thread.

* the int8 product alone: GEMV 1x1024 @ 1024x4096 (decode) and batch 64, minillm's int8 kernel
  (``kernels/qlinear.py``), its weight-only path, float32 BLAS, and torch's dynamically
  quantized Linear (fbgemm, per-channel weights) with its float32 Linear;
* config (a) of the GPT benchmark (V256 L4 H4 C256), greedy decode of 256 tokens after a
  16-token prompt: minillm float32 and int8 engines, PyTorch float32 and int8 (its
  ``quantize_dynamic`` of the same model, run by the same hand-written KV-cache loop as
  ``bench_decode.py``, with ``nn.Linear`` modules so that quantize_dynamic can replace them);
* file size of the transformer Linear layers, float32 vs int8, in safetensors.

Targets (issue 13): GEMV <= 1.5x torch's time (aim <= 1.0x); int8 decode tokens/s above torch's
int8 decode; >= 3.9x smaller per Linear weight.

Run:  python benchmarks/bench_quant.py      (rewrites "Quantization" in RESULTS.md)
"""

from __future__ import annotations

import io as _io
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import alternating_medians, machine, markdown_table, update_results

import minillm
from minillm import io
from minillm.compress import QuantizedLinear, linear_int8, quantize_dynamic
from minillm.inference import GPTEngine, generate
from minillm.kernels._numba import HAS_VNNI
from minillm.machine import set_threads
from minillm.models import GPT, GPTConfig
from minillm.nn import Linear

CFG = GPTConfig(vocab_size=256, block_size=1024, n_layer=4, n_head=4, n_embd=256)
PROMPT = list(range(1, 17))
NEW = 256
warnings.filterwarnings("ignore", message=".*deprecated.*")


def products(torch) -> list[list[str]]:
    rng = np.random.default_rng(0)
    minillm.manual_seed(0)
    layer = Linear(1024, 4096)
    q = QuantizedLinear.from_float(layer)
    tq = torch.ao.quantization
    t_lin = torch.nn.Linear(1024, 4096)
    with torch.no_grad():
        t_lin.weight.copy_(torch.from_numpy(layer.weight.data))
        t_lin.bias.copy_(torch.from_numpy(layer.bias.data))
    t_q = tq.quantize_dynamic(
        torch.nn.Sequential(t_lin), {torch.nn.Linear: tq.per_channel_dynamic_qconfig}
    )
    rows = []
    for N in (1, 64):
        x = rng.standard_normal((N, 1024)).astype(np.float32)
        out = np.empty((N, 4096), np.float32)
        tx = torch.from_numpy(x)
        fns = {
            "minillm int8": lambda out=out, x=x: linear_int8(out, x, q, "int8"),
            "minillm weight-only": lambda out=out, x=x: linear_int8(out, x, q, "weight_only"),
            "minillm float32 (BLAS)": lambda out=out, x=x: np.matmul(
                x, layer.weight.data.T, out=out
            ),
            "torch int8 (fbgemm)": lambda tx=tx: t_q(tx),
            "torch float32": lambda tx=tx: t_lin(tx),
        }
        with torch.inference_mode():
            med = alternating_medians(fns, number=5 if N == 64 else 50, repeats=9, warmup=10)
        base = med["torch int8 (fbgemm)"]
        for name, sec in med.items():
            rows.append([f"{N}x1024 @ 1024x4096", name, f"{sec * 1e6:,.0f}", f"{sec / base:.2f}"])
    return rows


def torch_decoder(model, torch, int8: bool):
    """bench_decode's hand-written loop, but over nn.Linear modules (quantize_dynamic's input)."""
    from bench_decode import TorchGreedy

    F = torch.nn.functional

    class Loop(TorchGreedy):
        def __init__(self, model):
            super().__init__(model)
            cfg, sd = self.cfg, self.sd
            lin = {}
            for i in range(cfg.n_layer):
                for part in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                    p = f"transformer.h.{i}.{part}"
                    w = sd[p + ".weight"]
                    m = torch.nn.Linear(w.shape[1], w.shape[0])
                    with torch.no_grad():
                        m.weight.copy_(w)
                        m.bias.copy_(sd[p + ".bias"])
                    lin[p] = m
            self.lin = torch.nn.ModuleDict({k.replace(".", "_"): v for k, v in lin.items()})
            if int8:
                tq = torch.ao.quantization
                self.lin = tq.quantize_dynamic(
                    self.lin, {torch.nn.Linear: tq.per_channel_dynamic_qconfig}
                )

        def forward(self, ids, start, kc, vc):
            sd, cfg, L = self.sd, self.cfg, self.lin
            H, C = cfg.n_head, cfg.n_embd
            B, T = ids.shape
            x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][start : start + T]
            for i in range(cfg.n_layer):
                p = f"transformer.h.{i}."
                k_ = p.replace(".", "_")
                h = F.layer_norm(x, (C,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
                q, k, v = L[k_ + "attn_c_attn"](h).view(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
                kc[i, :, :, start : start + T] = k
                vc[i, :, :, start : start + T] = v
                y = F.scaled_dot_product_attention(
                    q, kc[i, :, :, : start + T], vc[i, :, :, : start + T], is_causal=T > 1
                )
                x = x + L[k_ + "attn_c_proj"](y.transpose(1, 2).reshape(B, T, C))
                h = F.layer_norm(x, (C,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
                h = F.gelu(L[k_ + "mlp_c_fc"](h), approximate="tanh")
                x = x + L[k_ + "mlp_c_proj"](h)
            x = F.layer_norm(
                x[:, -1:], (C,), sd["transformer.ln_f.weight"], sd["transformer.ln_f.bias"]
            )
            return x @ sd["transformer.wte.weight"].T

    return Loop(model)


def decode(torch) -> tuple[list[list[str]], dict[str, float], float]:
    minillm.manual_seed(0)
    model = GPT(CFG).eval()
    qmodel = quantize_dynamic(model)
    engines = {"minillm float32": GPTEngine(model), "minillm int8": GPTEngine(qmodel)}
    loops = {"PyTorch float32": torch_decoder(model, torch, False),
             "PyTorch int8": torch_decoder(model, torch, True)}  # fmt: skip
    for e in engines.values():
        generate(e, PROMPT, 8, greedy=True)
    times: dict[str, list[float]] = {k: [] for k in (*engines, *loops)}
    tokens = {}
    for _ in range(5):
        for name, e in engines.items():
            t0 = time.perf_counter()
            tokens[name] = generate(e, PROMPT, NEW, greedy=True)
            times[name].append(time.perf_counter() - t0)
        for name, loop in loops.items():
            _, sec = loop.generate([PROMPT], NEW)
            times[name].append(sec)
    med = {k: float(np.median(v)) for k, v in times.items()}
    a, b = tokens["minillm float32"], tokens["minillm int8"]
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    rows = [[name, f"{NEW / s:,.0f}", f"{s / NEW * 1e3:.3f}"] for name, s in med.items()]
    return rows, med, first / len(a)


def sizes() -> list[list[str]]:
    minillm.manual_seed(0)
    model = GPT(CFG).eval()
    qmodel = quantize_dynamic(model)

    def nbytes(sd) -> int:
        buf = _io.BytesIO(io.save_bytes(dict(sd)))
        return len(buf.getvalue())

    rows = []
    names = [n for n, m in qmodel.named_modules() if isinstance(m, QuantizedLinear)][:4]
    for name in names:
        f, q = model.get_submodule(name), qmodel.get_submodule(name)
        fb, qb = nbytes(f.state_dict()), nbytes(q.state_dict())
        wr = f.weight.data.nbytes / (q.weight_int8.data.nbytes + q.weight_scale.data.nbytes)
        rows.append([name, f"{fb:,}", f"{qb:,}", f"{fb / qb:.2f}", f"{wr:.2f}"])
    fb, qb = nbytes(model.state_dict()), nbytes(qmodel.state_dict())
    rows.append(
        ["whole model (wte, wpe, norms stay float32)", f"{fb:,}", f"{qb:,}", f"{fb / qb:.2f}", ""]
    )
    return rows


def main() -> None:
    import torch

    set_threads(1)
    torch.set_num_threads(1)
    prod = products(torch)
    dec, med, agree = decode(torch)
    size = sizes()
    t1 = markdown_table(["product", "implementation", "us (median)", "time / torch int8"], prod)
    t2 = markdown_table(["decoder (batch 1, 256 tokens)", "tokens/s", "ms/token"], dec)
    t3 = markdown_table(["layer", "float32 bytes", "int8 bytes", "ratio", "weight ratio"], size)
    speed = med["minillm float32"] / med["minillm int8"]
    tspeed = med["PyTorch float32"] / med["PyTorch int8"]
    vs = med["PyTorch int8"] / med["minillm int8"]
    body = f"""Command: `python benchmarks/bench_quant.py` — machine: {machine()}; one thread; \
AVX-512 VNNI: {"yes" if HAS_VNNI else "no"}; medians of 9 alternating runs (products) and 5 \
(decode). torch: `quantize_dynamic` with `per_channel_dynamic_qconfig` on the same weights \
(fbgemm; per-tensor activations, reduce_range); minillm: per-channel int8 weights, per-row int8 \
activations.

{t1}

{t2}

- minillm int8 / float32 decode speed: **{speed:.2f}x**; PyTorch int8 / float32: {tspeed:.2f}x
- minillm int8 tokens/s / PyTorch int8 tokens/s: **{vs:.2f}x** (target: above 1)
- greedy tokens of the int8 engine equal float32's for the first {agree:.0%} of the 256
  (a random-weight model: near-ties in its logits; see tests/test_quantize.py for a trained one)

{t3}
"""
    print(body)
    update_results("Quantization", body)


if __name__ == "__main__":
    main()
