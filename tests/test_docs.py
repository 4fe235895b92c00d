"""Every file the documentation points a reader to exists: README, ARCHITECTURE and docstrings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a path from the repository root, as the docs write them: minillm/io/atomic.py, tests/, ...
ROOTED = re.compile(r"\b((?:minillm|tests|examples|benchmarks|docs)/[\w./-]*)")
# a bare file name in a docstring's double backticks: ``char.py`` (relative to the module)
BARE = re.compile(r"``([\w/]+\.(?:py|md))``")


def _rooted_paths(text: str) -> set[str]:
    return {m.rstrip(".,;:)") for m in ROOTED.findall(text)}


DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# a dotted name in backticks: `minillm.parallel.all_reduce`
SYMBOL = re.compile(r"`(minillm(?:\.\w+)+)`")


@pytest.mark.parametrize("doc", DOCS)
def test_paths_named_in_the_docs_exist(doc):
    missing = [p for p in _rooted_paths((ROOT / doc).read_text()) if not (ROOT / p).exists()]
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def _resolves(name: str) -> bool:
    """``minillm.a.b.c`` is a module, or an attribute reached from the longest importable one."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS)
def test_symbols_named_in_the_docs_exist(doc):
    missing = [s for s in SYMBOL.findall((ROOT / doc).read_text()) if not _resolves(s)]
    assert not missing, f"{doc} names symbols that do not exist: {missing}"


def test_paths_named_in_module_docstrings_exist():
    import ast

    missing = []
    for module in sorted((ROOT / "minillm").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(module.read_text())) or ""
        for p in _rooted_paths(doc):
            if not (ROOT / p).exists():
                missing.append(f"{module.relative_to(ROOT)}: {p}")
        for name in BARE.findall(doc):
            if "/" in name and name.split("/")[0] in ("minillm", "tests", "docs"):
                continue  # rooted, checked above
            if not ((module.parent / name).exists() or (ROOT / name).exists()):
                missing.append(f"{module.relative_to(ROOT)}: {name}")
    assert not missing, "docstrings name files that do not exist:\n" + "\n".join(missing)


def test_architecture_lists_every_package_and_top_level_module():
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    for entry in sorted((ROOT / "minillm").iterdir()):
        if entry.name.startswith("_") or entry.name == "py.typed" or entry.suffix == ".pyc":
            continue
        if entry.is_dir() and not (entry / "__init__.py").exists():
            continue
        name = entry.name + ("/" if entry.is_dir() else "")
        assert re.search(rf"(?m)^\s+{re.escape(name)}", text), f"ARCHITECTURE.md misses {name}"
