"""Hyperparameter search: the best value found after 20 and 40 evaluations, over many seeds.

Problems (each minimised; the known minimum is printed beside it):

- Branin, 2-D on [-5, 10] x [0, 15], minimum 0.397887 (three global minima);
- Hartmann-6, 6-D on [0, 1]^6, minimum -3.32237;
- a noisy 1-D function, sin(5x) (1 - tanh(x^2)) + N(0, 0.1^2) on [-2, 2] (scikit-optimize's
  example). Each method's answer is the point with the lowest *observed* value, and the table shows
  the noise-free function there: what the user would get, not the luckiest noise draw.

Methods, each at the same budget and with 10 random initial points: minillm's ``gp_minimize``,
random search (``dummy_minimize``), and when installed scikit-optimize's ``gp_minimize`` (its
defaults: acquisition "gp_hedge") and Optuna's TPE sampler (``TPESampler(seed=seed)``). One run of
40 evaluations per method and seed gives both budgets (the best of its first 20, of all 40).
Figures are medians and interquartile ranges over the seeds. Target (issue 16): better than random
search on all three, within the spread of scikit-optimize's on Branin and Hartmann-6.

Run:  python benchmarks/bench_search.py              (20 seeds; rewrites "Hyperparameter search")
      python benchmarks/bench_search.py --seeds 5 --no-write   (a quick look)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# One BLAS thread, set before NumPy starts its thread pool.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results

from minillm.model_selection.bayes import dummy_minimize, gp_minimize

BUDGETS = (20, 40)


def branin(x: list) -> float:
    x1, x2 = x
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10)


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: list) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(-_H_ALPHA @ np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1)))


def wave(x: list) -> float:
    return float(np.sin(5 * x[0]) * (1 - np.tanh(x[0] ** 2)))


PROBLEMS = {
    "Branin (2-D)": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887, 0.0),
    "Hartmann-6": (hartmann6, [(0.0, 1.0)] * 6, -3.32237, 0.0),
    "noisy 1-D wave": (
        wave,
        [(-2.0, 2.0)],
        float(min(wave([v]) for v in np.linspace(-2, 2, 40001))),
        0.1,
    ),
}


def best_after(points: list, observed: list, truth: Callable, budget: int) -> float:
    """The noise-free value at the best observed point among the first ``budget``."""
    return truth(points[int(np.argmin(observed[:budget]))])


def run_minillm(fn: Callable, dims: list, n: int, seed: int, random: bool) -> tuple[list, list]:
    if random:
        res = dummy_minimize(fn, dims, n_calls=n, random_state=seed)
    else:
        res = gp_minimize(fn, dims, n_calls=n, n_initial_points=10, random_state=seed)
    return res.x_iters, list(res.func_vals)


def run_skopt(fn: Callable, dims: list, n: int, seed: int) -> tuple[list, list]:
    import skopt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "objective has been evaluated at point ... before"
        res = skopt.gp_minimize(fn, dims, n_calls=n, n_initial_points=10, random_state=seed)
    return res.x_iters, list(res.func_vals)


def run_optuna(fn: Callable, dims: list, n: int, seed: int) -> tuple[list, list]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(
        lambda t: fn([t.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(dims)]),
        n_trials=n,
    )
    points = [[t.params[f"x{i}"] for i in range(len(dims))] for t in study.trials]
    return points, [t.value for t in study.trials]


def methods() -> dict[str, Callable]:
    found: dict[str, Callable] = {
        "minillm gp_minimize": lambda *a: run_minillm(*a, random=False),
        "random search": lambda *a: run_minillm(*a, random=True),
    }
    for label, module, runner in (
        ("scikit-optimize gp_minimize", "skopt", run_skopt),
        ("Optuna TPE", "optuna", run_optuna),
    ):
        try:
            __import__(module)
        except Exception as error:  # an import that fails against today's NumPy counts as absent
            print(f"{label}: not available ({type(error).__name__}: {error})")
            continue
        found[label] = runner
    return found


def noisy(fn: Callable, sd: float, seed: int) -> Callable:
    """fn plus Gaussian noise from a generator of its own, seeded per run."""
    rng = np.random.default_rng(10_000 + seed)
    return fn if sd == 0 else (lambda x: fn(x) + sd * float(rng.standard_normal()))


def measure(seeds: int) -> dict:
    """{(problem, method): (array of best values, seeds x budgets; seconds per run)}."""
    results = {}
    for problem, (fn, dims, _, sd) in PROBLEMS.items():
        for method, run in methods().items():
            best, seconds = [], []
            for seed in range(seeds):
                start = time.perf_counter()
                points, observed = run(noisy(fn, sd, seed), dims, max(BUDGETS), seed)
                seconds.append(time.perf_counter() - start)
                best.append([best_after(points, observed, fn, b) for b in BUDGETS])
            results[problem, method] = (np.array(best), float(np.median(seconds)))
            print(f"  {problem:16s} {method:28s} done in {sum(seconds):6.1f} s", flush=True)
    return results


def spread(values: np.ndarray) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.4f} [{q25:.4f}, {q75:.4f}]"


def verdicts(results: dict) -> list[str]:
    """The issue's targets, checked on the medians (and skopt's upper quartile)."""
    lines = []
    for problem in PROBLEMS:
        ours = np.median(results[problem, "minillm gp_minimize"][0], axis=0)
        rand = np.median(results[problem, "random search"][0], axis=0)
        ok = bool(np.all(ours < rand))
        lines.append(
            f"- {problem}: better than random search at 20 and 40: {'yes' if ok else 'NO'}"
        )
        if (problem, "scikit-optimize gp_minimize") in results and problem != "noisy 1-D wave":
            theirs = results[problem, "scikit-optimize gp_minimize"][0]
            q75 = np.percentile(theirs, 75, axis=0)
            inside = bool(np.all(ours <= q75))
            lines.append(
                f"- {problem}: median within scikit-optimize's spread (at or below its upper "
                f"quartile) at 20 and 40: {'yes' if inside else 'NO'}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per method (default 20)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args()

    results = measure(args.seeds)
    rows = []
    for (problem, method), (best, seconds) in results.items():
        optimum = PROBLEMS[problem][2]
        rows.append(
            [
                problem,
                f"{optimum:.4f}",
                method,
                spread(best[:, 0]),
                spread(best[:, 1]),
                f"{seconds:.2f}",
            ]
        )
    header = ["problem", "optimum", "method", "best after 20", "best after 40", "s per run"]
    versions = machine()
    for module in ("skopt", "optuna"):
        try:
            versions += f", {module} {__import__(module).__version__}"
        except Exception:
            versions += f", {module} not available"
    command = "python benchmarks/bench_search.py" + (
        f" --seeds {args.seeds}" if args.seeds != 20 else ""
    )
    intro = (
        f"Command: `{command}` — machine: {versions}; one BLAS thread. Best value found "
        f"(noise-free value at the best observed point for the noisy function): median [25th, 75th "
        f"percentile] over {args.seeds} seeds; 10 random initial points for every method."
    )
    text = f"{intro}\n\n{markdown_table(header, rows)}\n\n" + "\n".join(verdicts(results))
    print(f"\n{text}")
    if not args.no_write:
        update_results("Hyperparameter search", text)


if __name__ == "__main__":
    main()
