"""Byte-level BPE: training time and encode/decode throughput, beside HuggingFace ``tokenizers``.

The corpus is the Python language reference shipped with CPython (``pydoc_data.topics``, about
0.47 MB), trained to a 1,024-token vocabulary. Target (issue 5): training takes seconds, not
minutes.
HuggingFace's Rust trainer runs on the same text with the same pre-split regex, on one thread
(``RAYON_RS_NUM_CPUS=1``) so both use one core; it is a reference point, not a race to win.

Encoding is timed cold (a fresh tokenizer, empty chunk cache) and warm (the same text again, every
chunk cached). Figures are medians of ``--repeats`` runs, ours and HuggingFace's alternating.

Run:  python benchmarks/bench_bpe.py     (rewrites "BPE tokenizer" in RESULTS.md)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Must be set before tokenizers starts its thread pool: one thread, like our pure-Python trainer.
os.environ.setdefault("RAYON_RS_NUM_CPUS", "1")

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results

from minillm.tokenizers import SPLIT_PATTERN, ByteLevelBPETokenizer


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def hf_trainer(text: str, vocab_size: int) -> Callable[[], object] | None:
    """A function that trains HuggingFace's byte-level BPE like ours, or None if not installed."""
    try:
        import tokenizers
    except ImportError:
        return None
    from tokenizers import Regex, models, pre_tokenizers, trainers

    def train() -> object:
        tok = tokenizers.Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator([text], trainer)
        return tok

    return train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from pydoc_data.topics import topics

    text = "\n".join(topics.values())
    megabytes = len(text.encode("utf-8")) / 1e6
    print(f"corpus: pydoc_data.topics, {megabytes:.3f} MB, {len(text):,} characters")

    ours: dict[str, list[float]] = {"train": [], "cold": [], "warm": [], "decode": []}
    theirs: dict[str, list[float]] = {"train": [], "encode": []}
    hf_train = hf_trainer(text, args.vocab_size)
    for _ in range(args.repeats):
        start = time.perf_counter()
        tok = ByteLevelBPETokenizer.train(text, args.vocab_size)
        ours["train"].append(time.perf_counter() - start)
        fresh = ByteLevelBPETokenizer(tok.merges, pattern=tok.pattern)  # an empty chunk cache
        start = time.perf_counter()
        ids = fresh.encode(text)
        ours["cold"].append(time.perf_counter() - start)
        ours["warm"].append(seconds(lambda: fresh.encode(text)))  # noqa: B023 (called at once)
        ours["decode"].append(seconds(lambda: tok.decode(ids)))  # noqa: B023
        if hf_train is not None:
            start = time.perf_counter()
            hf = hf_train()
            theirs["train"].append(time.perf_counter() - start)
            theirs["encode"].append(seconds(lambda: hf.encode(text)))  # type: ignore[attr-defined]  # noqa: B023
    assert tok.decode(ids) == text
    med = {k: statistics.median(v) for k, v in ours.items()}
    hf_med = {k: statistics.median(v) for k, v in theirs.items() if v}

    print(f"tokens: {len(ids):,} ({len(text.encode('utf-8')) / len(ids):.2f} bytes per token)")
    versions = machine()
    if hf_train is not None:
        import tokenizers

        versions += f", tokenizers {tokenizers.__version__} (1 thread)"
    rows = [
        [f"train to vocab {args.vocab_size}", f"{med['train']:.2f} s", _fmt_s(hf_med, "train")],
        ["encode, cold cache", _mbs(megabytes, med["cold"]), _mbs(megabytes, hf_med.get("encode"))],
        ["encode, warm cache", _mbs(megabytes, med["warm"]), "n/a"],
        ["decode", _mbs(megabytes, med["decode"]), "n/a"],
    ]
    header = (
        f"Command: `python benchmarks/bench_bpe.py` — machine: {versions}; "
        f"median of {args.repeats} runs on {megabytes:.2f} MB of pydoc_data.topics."
    )
    table = markdown_table(["byte-level BPE", "minillm", "HuggingFace tokenizers"], rows)
    print(f"\n{header}\n\n{table}")
    update_results("BPE tokenizer", f"{header}\n\n{table}")


def _mbs(megabytes: float, secs: float | None) -> str:
    return "n/a" if secs is None else f"{megabytes / secs:.1f} MB/s"


def _fmt_s(med: dict[str, float], key: str) -> str:
    return f"{med[key]:.2f} s" if key in med else "n/a"


if __name__ == "__main__":
    main()
