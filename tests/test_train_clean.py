"""``minillm train --clean``: the corpus is cleaned before tokenizing, and a resume keeps it."""

from __future__ import annotations

import json

from minillm.cli import main
from minillm.tokenizers import load_tokenizer

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
        "--batch-size", "4", "--warmup", "2", "--eval-interval", "3", "--eval-iters", "2",
        "--sample-tokens", "0", "--no-progress", "--seed", "7"]  # fmt: skip


def test_clean_steps_apply_to_the_corpus_and_resume_refuses_a_change(tmp_path, capsys):
    corpus = tmp_path / "page.html"
    corpus.write_text("<p>The QUICK Brown Fox &amp; the Lazy DOG.</p>\n" * 60)
    out = tmp_path / "run"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY]
    assert main([*args, "--max-steps", "3", "--clean", "html, lower"]) == 0
    tokenizer = load_tokenizer(out / "tokenizer.json")
    alphabet = tokenizer.decode(range(tokenizer.vocab_size))
    assert not any(c.isupper() or c in "<>;" for c in alphabet)  # no capitals, tags or entities
    assert json.loads((out / "config.json").read_text())["train"]["clean"] == "html,lower"
    assert main([*args, "--max-steps", "6", "--resume"]) == 0  # the saved --clean carries over
    capsys.readouterr()
    assert main([*args, "--max-steps", "9", "--resume", "--clean", "nfkc"]) == 2
    assert "clean: checkpoint 'html,lower' vs now 'nfkc'" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--clean", "lower,nfkc9"]) == 2
    assert "unknown cleaning step 'nfkc9'" in capsys.readouterr().err
