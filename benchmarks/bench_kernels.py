"""Every Numba kernel against its NumPy twin and PyTorch, at GPT shapes, on one thread.

For each kernel: the twin's time, the Numba time, the speedup, the first call's compile time (cold,
in a fresh ``NUMBA_CACHE_DIR``, and again loading from that cache, each in a fresh process) and
PyTorch's time for the same op. Configurations: (a) B=16, T=128, C=256, H=4, V=256 (the GPT example)
and (b) B=4, T=512, C=512, H=8, V=4096. All arrays are float32.

Also measured: the fused AdamW step over one flat buffer against ``torch.optim.AdamW(...).step()``
(default settings) on ~3.3M parameters in 50 tensors; ``import minillm`` in a fresh process; and
the peak memory of the attention forward without weights at T=256 and T=1024 (tracemalloc).

Targets (issue 4): Numba >= 2x its twin where the twin is not one BLAS call; AdamW <= 0.3x PyTorch;
import < 0.5 s; attention forward memory O(T) per head.

Run:  python benchmarks/bench_kernels.py      (rewrites the "Kernels" section of RESULTS.md)
      python benchmarks/bench_kernels.py --only attention --configs a    (a quick look; no rewrite)
"""

from __future__ import annotations

import os

# One thread everywhere, set before NumPy/BLAS load: the twins' BLAS calls must not get more cores
# than the Numba kernels do.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results  # noqa: E402

from minillm.kernels import twins  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "a": dict(B=16, T=128, C=256, H=4, V=256),
    "b": dict(B=4, T=512, C=512, H=8, V=4096),
}
TINY = dict(B=2, T=8, C=8, H=2, V=16)  # same dtypes and layouts: compiles the same signatures
F32 = np.float32


@dataclass
class Case:
    kernel: str  # name in the dispatcher
    shape: str
    twin: Callable[[], object]
    numba: Callable[[], object]
    torch: Callable[[], object] | None
    blas: bool = False  # the twin is mostly BLAS calls (the 2x target does not apply)


def _pair(name: str, make_args: Callable[[], tuple]) -> tuple[Callable[[], object], ...]:
    """(twin call, numba call), each on its own copy of the arguments (outputs are written)."""
    ref, fast = twins(name)
    a_ref, a_fast = make_args(), make_args()
    return (lambda: ref(*a_ref)), (lambda: fast(*a_fast))


def cases(cfg: dict[str, int], with_torch: bool = True) -> list[Case]:
    """The benchmark cases for one configuration (the same code builds the tiny compile inputs)."""
    B, T, C, H, V = cfg["B"], cfg["T"], cfg["C"], cfg["H"], cfg["V"]
    N, D, G = B * T, C // H, B * H
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((N, V)).astype(F32)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(F32)
    logprobs = np.log(probs)
    lse_ce = np.log(np.exp(logits.astype(np.float64)).sum(1))
    dlogits = rng.standard_normal((N, V)).astype(F32)
    target = rng.integers(0, V, N)
    target[::10] = -100
    x_ln = rng.standard_normal((N, C)).astype(F32)
    dy_ln = rng.standard_normal((N, C)).astype(F32)
    w_ln, b_ln = rng.standard_normal(C).astype(F32), rng.standard_normal(C).astype(F32)
    mean, rstd = x_ln.mean(1, dtype=np.float64), 1.0 / x_ln.std(1, dtype=np.float64)
    x_mlp = rng.standard_normal(N * 4 * C).astype(F32)
    d_mlp = rng.standard_normal(N * 4 * C).astype(F32)
    idx = rng.integers(0, V, N)
    dy_emb = rng.standard_normal((N, C)).astype(F32)
    q, k, v, dout = (rng.standard_normal((G, T, D)).astype(F32) for _ in range(4))
    bias, bias_index = np.zeros((1, 1, 1), F32), np.zeros(G, np.int64)
    scale = 1.0 / math.sqrt(D)
    out_att = np.empty_like(q)
    lse_att = np.empty((G, T))
    twins("attention_forward")[0](out_att, lse_att, q, k, v, bias, bias_index, False, True, scale)
    scores = (q @ k.transpose(0, 2, 1)).astype(F32)

    def empty(*shape: int) -> np.ndarray:
        return np.empty(shape, dtype=F32)

    def e64(*shape: int) -> np.ndarray:  # row statistics (lse, mean, rstd) are float64
        return np.empty(shape)

    att = (bias, bias_index, False, True, scale)
    specs: list[tuple[str, str, Callable[[], tuple], bool]] = [
        ("softmax_forward", f"({N}, {V})", lambda: (empty(N, V), logits), False),
        ("softmax_backward", f"({N}, {V})", lambda: (empty(N, V), dlogits, probs), False),
        ("log_softmax_forward", f"({N}, {V})", lambda: (empty(N, V), logits), False),
        (
            "log_softmax_backward",
            f"({N}, {V})",
            lambda: (empty(N, V), dlogits, logprobs),
            False,
        ),
        (
            "cross_entropy_forward",
            f"({N}, {V})",
            lambda: (
                e64(N),
                e64(N),
                logits,
                target,
                -100,
                0.1,
            ),
            False,
        ),
        (
            "cross_entropy_backward",
            f"({N}, {V})",
            lambda: (empty(N, V), np.full(N, 1.0 / N), logits, lse_ce, target, -100, 0.1),
            False,
        ),
        (
            "layernorm_forward",
            f"({N}, {C})",
            lambda: (
                empty(N, C),
                e64(N),
                e64(N),
                x_ln,
                w_ln,
                b_ln,
                1e-5,
            ),
            False,
        ),
        (
            "layernorm_backward",
            f"({N}, {C})",
            lambda: (empty(N, C), empty(C), empty(C), dy_ln, x_ln, mean, rstd, w_ln),
            False,
        ),
        ("gelu_forward", f"({N * 4 * C},) tanh", lambda: (empty(N * 4 * C), x_mlp, True), False),
        (
            "gelu_backward",
            f"({N * 4 * C},) tanh",
            lambda: (empty(N * 4 * C), d_mlp, x_mlp, True),
            False,
        ),
        ("gelu_forward", f"({N * 4 * C},) exact", lambda: (empty(N * 4 * C), x_mlp, False), False),
        (
            "gelu_backward",
            f"({N * 4 * C},) exact",
            lambda: (empty(N * 4 * C), d_mlp, x_mlp, False),
            False,
        ),
        (
            "embedding_backward",
            f"({V}, {C}) <- {N} rows",
            lambda: (np.zeros((V, C), F32), dy_emb, idx, -1),
            False,
        ),
        (
            "attention_forward",
            f"({B}, {H}, {T}, {D}) causal",
            lambda: (empty(G, T, D), e64(G, T), q, k, v, *att),
            True,
        ),
        (
            "attention_backward",
            f"({B}, {H}, {T}, {D}) causal",
            lambda: (
                empty(G, T, D),
                empty(G, T, D),
                empty(G, T, D),
                dout,
                q,
                k,
                v,
                out_att,
                lse_att,
                *att,
            ),
            True,
        ),
        (
            "masked_softmax_forward",
            f"({G}, {T}, {T}) causal",
            lambda: (empty(G, T, T), scores, *att),
            False,
        ),
    ]
    torch_fns = _torch_cases(locals()) if with_torch else {}
    out = []
    for name, shape, make_args, blas in specs:
        twin, fast = _pair(name, make_args)
        torch_key = f"{name} exact" if shape.endswith("exact") else name
        out.append(Case(name, shape, twin, fast, torch_fns.get(torch_key), blas))
    return out


def _torch_cases(a: dict) -> dict[str, Callable[[], object]]:
    """PyTorch doing the same work as each kernel (forward ops, or the matching backward)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return {}
    torch.set_num_threads(1)
    tt = torch.from_numpy
    logits, dlogits, probs, logprobs = (
        tt(a[n]) for n in ("logits", "dlogits", "probs", "logprobs")
    )
    target = tt(a["target"])
    x_ln, dy_ln, w_ln, b_ln = (tt(a[n]) for n in ("x_ln", "dy_ln", "w_ln", "b_ln"))
    C, V, T = a["C"], a["V"], a["T"]
    x_mlp, d_mlp = tt(a["x_mlp"]), tt(a["d_mlp"])
    idx, dy_emb = tt(a["idx"]), tt(a["dy_emb"])
    q, k, v = (tt(a[n]).clone().requires_grad_(True) for n in ("q", "k", "v"))
    dout = tt(a["dout"])
    lg = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(lg, target, label_smoothing=0.1, reduction="sum")
    _, ln_mean, ln_rstd = torch.native_layer_norm(x_ln, (C,), w_ln, b_ln, 1e-5)
    att_out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    scores = tt(a["scores"])
    causal = torch.full((T, T), -math.inf).triu(1)
    return {
        "softmax_forward": lambda: torch.softmax(logits, -1),
        "softmax_backward": lambda: torch._softmax_backward_data(dlogits, probs, -1, torch.float32),
        "log_softmax_forward": lambda: torch.log_softmax(logits, -1),
        "log_softmax_backward": lambda: torch._log_softmax_backward_data(
            dlogits, logprobs, -1, torch.float32
        ),
        "cross_entropy_forward": lambda: F.cross_entropy(
            logits, target, label_smoothing=0.1, reduction="none"
        ),
        "cross_entropy_backward": lambda: torch.autograd.grad(loss, lg, retain_graph=True),
        "layernorm_forward": lambda: torch.native_layer_norm(x_ln, (C,), w_ln, b_ln, 1e-5),
        "layernorm_backward": lambda: torch.ops.aten.native_layer_norm_backward(
            dy_ln, x_ln, (C,), ln_mean, ln_rstd, w_ln, b_ln, [True, True, True]
        ),
        "gelu_forward": lambda: F.gelu(x_mlp, approximate="tanh"),
        "gelu_backward": lambda: torch.ops.aten.gelu_backward(d_mlp, x_mlp, approximate="tanh"),
        "gelu_forward exact": lambda: F.gelu(x_mlp),
        "gelu_backward exact": lambda: torch.ops.aten.gelu_backward(d_mlp, x_mlp),
        "embedding_backward": lambda: torch.ops.aten.embedding_dense_backward(
            dy_emb, idx, V, -1, False
        ),
        "attention_forward": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "attention_backward": lambda: torch.autograd.grad(
            att_out, (q, k, v), dout, retain_graph=True
        ),
        "masked_softmax_forward": lambda: torch.softmax(scores * a["scale"] + causal, -1),
    }


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------
def medians(fns: dict[str, Callable[[], object]], budget: float = 0.6) -> dict[str, float]:
    """Median seconds per call of each function, sampled in alternation (drift hits all alike)."""
    for fn in fns.values():
        fn()  # warm up (and compile)
    probe = {name: _seconds(fn, 1) for name, fn in fns.items()}
    repeats = 3 if max(probe.values()) > 0.5 else 9
    number = {
        name: max(1, int(budget / repeats / max(t, 1e-6) / len(fns))) for name, t in probe.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_seconds(fn, number[name]))
    return {name: float(np.median(s)) for name, s in samples.items()}


def _seconds(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def compile_times() -> dict[str, float]:
    """First-call seconds of each kernel in this process (run in a subprocess by ``main``)."""
    out = {}
    for case in cases(TINY, with_torch=False):
        start = time.perf_counter()
        case.numba()
        out.setdefault(case.kernel, time.perf_counter() - start)  # a kernel's first case compiles
    _, adam = twins("adam_step")
    p, g, m, v = (np.zeros(8, F32) for _ in range(4))
    start = time.perf_counter()
    adam(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1, True)
    out["adam_step"] = time.perf_counter() - start
    return out


def compile_table() -> tuple[dict[str, float], dict[str, float]]:
    """Compile seconds per kernel: cold (empty cache dir), then loading from that cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        runs = []
        for _ in range(2):
            res = subprocess.run(
                [sys.executable, __file__, "--compile-times"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def import_time() -> tuple[float, bool]:
    """Median seconds of ``import minillm`` in a fresh process, and whether Numba got imported."""
    code = (
        "import time, sys; t = time.perf_counter(); import minillm; "
        "print(time.perf_counter() - t, 'numba' in sys.modules)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times, numba_loaded = [], False
    for _ in range(5):
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        seconds, loaded = res.stdout.split()
        times.append(float(seconds))
        numba_loaded |= loaded == "True"
    return float(np.median(times)), numba_loaded


def adamw_rows() -> list[list[str]]:
    """Fused AdamW over one flat buffer vs torch.optim.AdamW.step() on ~3.3M params / 50 tensors."""
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in rng.integers(10_000, 122_000, 50)]
    sizes[-1] += 3_300_000 - sum(sizes)
    n = sum(sizes)
    p, g = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
    bufs = {name: (p.copy(), g, np.zeros(n, F32), np.zeros(n, F32)) for name in ("twin", "numba")}
    ref, fast = twins("adam_step")
    step = {"twin": 0, "numba": 0}

    def run(name: str, fn: Callable) -> Callable[[], None]:
        def call() -> None:
            step[name] += 1
            fn(*bufs[name], 1e-3, 0.9, 0.999, 1e-8, 0.01, step[name], True)

        return call

    fns = {"twin": run("twin", ref), "numba": run("numba", fast)}
    try:
        import torch

        torch.set_num_threads(1)
        params = [torch.nn.Parameter(torch.from_numpy(p[:s].copy())) for s in sizes]
        for t in params:
            t.grad = torch.randn_like(t)
        opt = torch.optim.AdamW(params)
        fns["torch"] = opt.step
    except ImportError:
        pass
    med = medians(fns, budget=2.0)
    torch_ms = med.get("torch")
    ratio = f"{med['numba'] / torch_ms:.2f}x torch" if torch_ms else "n/a"
    return [
        [
            "adam_step (AdamW)",
            f"{n:,} params ({len(sizes)} tensors)",
            f"{med['twin'] * 1e3:.2f}",
            f"{med['numba'] * 1e3:.2f}",
            f"{med['twin'] / med['numba']:.1f}x",
            f"{torch_ms * 1e3:.2f}" if torch_ms else "n/a",
            ratio,
        ]
    ]


def attention_memory() -> list[list[str]]:
    """Peak bytes allocated (tracemalloc) by the attention op's forward without weights: with the
    Numba kernel, and with the twin (which materializes the T x T scores) for contrast."""
    from minillm.nn.functional import scaled_dot_product_attention
    from minillm.tensor import Tensor

    def peak(q: Tensor, k: Tensor, v: Tensor) -> int:
        scaled_dot_product_attention(q, k, v, is_causal=True)  # compile outside the measurement
        tracemalloc.start()
        scaled_dot_product_attention(q, k, v, is_causal=True)
        bytes_ = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return bytes_

    rows = []
    for T in (256, 1024):
        rng = np.random.default_rng(0)
        q, k, v = (Tensor(rng.standard_normal((1, 1, T, 64)).astype(F32)) for _ in range(3))
        fast = peak(q, k, v)
        saved = os.environ.get("MINILLM_NUMBA")
        os.environ["MINILLM_NUMBA"] = "0"
        slow = peak(q, k, v)
        if saved is None:
            del os.environ["MINILLM_NUMBA"]
        else:
            os.environ["MINILLM_NUMBA"] = saved
        rows.append([str(T), f"{fast / 1024:.0f}", f"{slow / 1024:.0f}", f"{T * T * 4 / 1024:.0f}"])
    return rows


def main() -> None:
    import argparse

    import numba

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="time only kernels whose name contains this")
    parser.add_argument("--configs", default="a,b", help="comma-separated configurations")
    args = parser.parse_args()
    partial = bool(args.only) or args.configs != "a,b"
    numba.set_num_threads(1)
    cold, cached = ({}, {}) if partial else compile_table()
    rows = []
    for label in args.configs.split(","):
        for case in cases(CONFIGS[label]):
            if args.only not in case.kernel:
                continue
            fns = {"twin": case.twin, "numba": case.numba}
            if case.torch is not None:
                fns["torch"] = case.torch
            med = medians(fns)
            speed = med["twin"] / med["numba"]
            torch_ms = f"{med['torch'] * 1e3:.3f}" if "torch" in med else "n/a"
            rows.append(
                [
                    f"({label}) {case.kernel}",
                    case.shape,
                    f"{med['twin'] * 1e3:.3f}",
                    f"{med['numba'] * 1e3:.3f}",
                    f"{speed:.1f}x" + (" (BLAS twin)" if case.blas else ""),
                    f"{cold[case.kernel]:.2f}" if cold and label == "a" else "",
                    f"{cached[case.kernel]:.3f}" if cached and label == "a" else "",
                    torch_ms,
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    if partial:
        if args.only in "adam_step":
            print(adamw_rows())
        return
    header = ["kernel", "shape", "twin ms", "Numba ms", "speedup", "compile s (cold)",
              "compile s (cached)", "PyTorch ms"]  # fmt: skip
    kernels = markdown_table(header, rows)
    adam = markdown_table(
        [
            "step",
            "parameters",
            "twin ms",
            "Numba ms",
            "speedup",
            "PyTorch AdamW ms",
            "Numba / PyTorch",
        ],
        adamw_rows(),
    )
    seconds, numba_loaded = import_time()
    memory = markdown_table(
        ["T", "Numba peak KiB", "twin peak KiB", "one T x T float32 matrix, KiB"],
        attention_memory(),
    )
    body = "\n\n".join(
        [
            "Command: `python benchmarks/bench_kernels.py` (one thread: "
            "`numba.set_num_threads(1)`, `torch.set_num_threads(1)`, BLAS threads 1).",
            f"Machine: {machine()}, Numba {numba.__version__}.",
            "Medians of alternating runs; float32. (a) B=16, T=128, C=256, H=4, V=256; "
            "(b) B=4, T=512, C=512, H=8, V=4096. Compile times are first calls on tiny inputs in a "
            "fresh process; helpers shared by several kernels are compiled with the first that "
            "needs them.",
            kernels,
            adam,
            f"`import minillm`: {seconds:.3f} s (median of 5 fresh processes); "
            f"Numba imported at import time: {'yes' if numba_loaded else 'no'}.",
            "Attention forward peak memory (tracemalloc), one head, D=64, causal, no weights. "
            "Numba's own allocations inside the kernel (fixed 64 x 64 score tiles) are not traced "
            "by tracemalloc; they do not grow with T.",
            memory,
        ]
    )
    print(body)
    update_results("Kernels", body)


if __name__ == "__main__":
    if "--compile-times" in sys.argv:
        print(json.dumps(compile_times()))
    else:
        main()
