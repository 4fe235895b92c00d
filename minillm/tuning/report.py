"""What a study found: the ranked table (printed and written to results.md) and two plots.

Trials rank by validation loss: finished ones first, then pruned ones (their loss is from the step
they stopped at, so it is not comparable and is marked), then failed ones with their error.
``objective.png`` shows each trial's loss in trial order with the best so far as a line (did the
search keep finding better settings?); ``params.png`` one panel per tuned setting, loss against
its value on the setting's own scale (log for a log range), which shows where the good region is.

Read next: ``minillm/tuning/command.py`` (``minillm tune`` runs the study and this report).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minillm.io.atomic import atomic_write

_ORDER = {"complete": 0, "pruned": 1, "failed": 2}


def ranked(trials: list[dict]) -> list[dict]:
    return sorted(trials, key=lambda t: (_ORDER[t["state"]], t["val_loss"] or 0.0, t["trial"]))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(trials: list[dict], names: list[str]) -> str:
    """A Markdown table of the trials, best first."""
    header = ["rank", "trial", *names, "val loss", "state", "steps", "seconds"]
    rows = []
    for rank, t in enumerate(ranked(trials), 1):
        loss = "" if t["val_loss"] is None else f"{t['val_loss']:.4f}"
        state = t["state"] if t["state"] != "failed" else f"failed: {t['error']}"
        rows.append([str(rank), str(t["trial"]), *(_cell(t["params"][n]) for n in names), loss,
                     state, str(t["step"]), f"{t.get('seconds', 0):.1f}"])  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def write_report(folder: Path, trials: list[dict], dimensions: list, settings: dict) -> Path:
    names = [d.name for d in dimensions]
    lines = [
        f"# Study in {folder}",
        "",
        f"method {settings['method']}, {len(trials)} trials of {settings['base']['max_steps']} "
        f"steps, pruning: {settings['prune']}; space: " + "; ".join(settings["space"]),
        "",
        table(trials, names),
        "",
    ]
    path = folder / "results.md"
    with atomic_write(path, "w") as f:
        f.write("\n".join(lines))
    return path


def plot(folder: Path, trials: list[dict], dimensions: list) -> list[Path]:
    """objective.png and params.png (an ImportError when matplotlib is missing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minillm.model_selection.space import Categorical

    scored = [t for t in sorted(trials, key=lambda t: t["trial"]) if t["val_loss"] is not None]
    written = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for state, marker in (("complete", "o"), ("pruned", "x")):
        chosen = [t for t in scored if t["state"] == state]
        ax.scatter([t["trial"] for t in chosen], [t["val_loss"] for t in chosen], marker=marker,
                   label=state)  # fmt: skip
    best, line = float("inf"), []
    for t in scored:
        if t["state"] == "complete":
            best = min(best, t["val_loss"])
        line.append(best)
    ax.step([t["trial"] for t in scored], line, where="post", label="best so far")
    ax.set(xlabel="trial", ylabel="validation loss", title="objective by trial")
    ax.legend()
    written.append(_save(fig, folder / "objective.png"))
    fig, axes = plt.subplots(1, len(dimensions), figsize=(4 * len(dimensions), 3.5), squeeze=False)
    for ax, dim in zip(axes[0], dimensions):
        for state, marker in (("complete", "o"), ("pruned", "x")):
            chosen = [t for t in scored if t["state"] == state]
            xs = [t["params"][dim.name] for t in chosen]
            if isinstance(dim, Categorical):
                xs = [list(dim.categories).index(x) for x in xs]
            ax.scatter(xs, [t["val_loss"] for t in chosen], marker=marker, label=state)
        if isinstance(dim, Categorical):
            ax.set_xticks(range(len(dim.categories)), [str(c) for c in dim.categories])
        elif dim.prior == "log-uniform":
            ax.set_xscale("log")
        ax.set(xlabel=dim.name, ylabel="validation loss")
    axes[0][0].legend()
    written.append(_save(fig, folder / "params.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path
