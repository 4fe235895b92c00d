"""A labelled text dataset that needs no download: sentences from the standard library's
docstrings, labelled by the area of the library they document.

Seven areas, each a handful of modules (``AREAS``): text processing, numbers, dates and times,
files, networking, concurrency, and data formats. For every module we read the docstrings of the
module and of its public classes, functions and their methods (``inspect.getdoc``), cut them into
sentences (``tokenize.sentence_spans``), keep the prose ones (5 to 60 words, no ``>>>`` prompt),
and draw at most ``per_class`` of each area with a fixed seed. The task, "which area is this
sentence about?", is real (nobody wrote these sentences for it) and small, and some sentences
are hard or ambiguous: "Return a new object." could come from any area, and a module may share a
docstring with another (``os`` re-exports ``posix``; ``io`` and ``os`` both describe files), so a
sentence may appear under two areas; ``splits.deduplicate`` drops the later copy and counts the
label conflict.

The text depends on the Python version (docstrings change between releases), so a benchmark
built on it records the version. Under ``python -OO`` docstrings are stripped, and this raises.

Read next: ``benchmarks/bench_augment.py`` (augmentation measured on this dataset).
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Any

import numpy as np

from minillm.text.cleaning import normalize_whitespace
from minillm.text.tokenize import split_sentences

AREAS: dict[str, tuple[str, ...]] = {
    "text": ("re", "string", "textwrap", "difflib", "unicodedata", "codecs", "html.parser"),
    "numbers": ("math", "cmath", "decimal", "fractions", "statistics", "random", "numbers"),
    "time": ("datetime", "time", "calendar", "zoneinfo", "sched"),
    "files": ("os.path", "shutil", "pathlib", "glob", "fnmatch", "tempfile", "filecmp", "stat"),
    "network": (
        "socket",
        "ssl",
        "http.client",
        "urllib.request",
        "urllib.parse",
        "smtplib",
        "ftplib",
        "http.server",
        "ipaddress",
    ),
    "concurrency": (
        "threading",
        "multiprocessing",
        "queue",
        "asyncio",
        "concurrent.futures",
        "subprocess",
        "signal",
    ),
    "data": (
        "json",
        "csv",
        "pickle",
        "sqlite3",
        "shelve",
        "zipfile",
        "tarfile",
        "gzip",
        "configparser",
    ),
}


def _docstrings(module_name: str) -> list[str]:
    """The docstrings of a module, its public classes and routines, and their methods."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(module_name)
    found, seen = [], set()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        doc = inspect.getdoc(obj) if depth else obj.__doc__
        if doc:
            found.append(doc)
        if depth >= 2:
            return
        for name, member in sorted(getattr(obj, "__dict__", {}).items()):
            if not name.startswith("_") and (inspect.isclass(member) or inspect.isroutine(member)):
                visit(member, depth + 1)

    visit(module, 0)
    return found


def _is_prose(sentence: str) -> bool:
    n_words = len(sentence.split())
    return 5 <= n_words <= 60 and ">>>" not in sentence and sentence[:1].isupper()


def area_sentences(area: str) -> list[str]:
    """Every prose sentence of an area's docstrings, in module order, whitespace normalized."""
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}; the areas are {', '.join(AREAS)}")
    out = []
    for module in AREAS[area]:
        for doc in _docstrings(module):
            out += [s for s in map(normalize_whitespace, split_sentences(doc)) if _is_prose(s)]
    return out


def stdlib_docstrings(per_class: int = 240, seed: int = 0) -> tuple[list[str], np.ndarray, list]:
    """``(texts, labels, areas)``: up to ``per_class`` sentences of each area, drawn with
    ``seed``; ``labels[i]`` indexes ``areas``.

    >>> texts, labels, areas = stdlib_docstrings(per_class=20)
    >>> len(texts), np.bincount(labels).tolist(), areas[2]
    (140, [20, 20, 20, 20, 20, 20, 20], 'time')
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for k, area in enumerate(AREAS):
        sentences = area_sentences(area)
        if not sentences:
            raise RuntimeError("the standard library has no docstrings here (python -OO?)")
        chosen = rng.permutation(len(sentences))[:per_class]
        texts += [sentences[i] for i in sorted(chosen)]
        labels += [k] * len(chosen)
    return texts, np.asarray(labels, dtype=np.int64), list(AREAS)
