"""The walkthroughs in docs/ run: every ```python block executes (in order, one namespace per page),
and a ```text block right after one is exactly what it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)
PAGES = [p for p in sorted((ROOT / "docs").glob("*.md")) if "```python" in p.read_text()]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_block_runs_and_prints_what_the_page_shows(page):
    namespace: dict = {"__name__": "__walkthrough__"}
    printed = None
    for kind, body in BLOCK.findall(page.read_text()):
        if kind == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(body, f"{page.name}", "exec"), namespace)
            printed = out.getvalue()
        else:
            assert printed is not None, f"{page.name}: a text block with no code before it"
            assert printed.rstrip("\n") == body.rstrip("\n"), f"{page.name}: output differs"
            printed = None


def test_the_walkthroughs_exist():
    names = {p.name for p in PAGES}
    assert {"walkthrough-layernorm.md", "follow-a-token.md"} <= names
