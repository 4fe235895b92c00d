"""README's autograd example prints exactly the numbers its comments promise."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_autograd_example_prints_the_documented_numbers():
    text = README.read_text()
    block = re.search(r"## Autograd in ten lines\n\n```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    promised = [line.split("# ")[1].split("  =")[0].strip() for line in block.splitlines()
                if line.startswith("print(")]  # fmt: skip
    assert printed == promised
