"""--health-every: per-layer gradient norms, update/weight ratios and clipping, logged, plotted."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from minillm.training import TrainConfig, Trainer
from minillm.training.health import layer_of

TINY = dict(n_layer=2, n_head=2, n_embd=16, block_size=16, batch_size=4, warmup=2, eval_iters=2,
            sample_tokens=0, seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n" * 40)
    return str(path)


def test_the_layers_add_up_to_the_global_norm_and_the_ratios_are_the_moves(corpus, tmp_path):
    cfg = TrainConfig(data=corpus, out_dir=str(tmp_path / "run"), max_steps=4, health_every=1,
                      eval_interval=4, **TINY)  # fmt: skip
    with Trainer(cfg, log=lambda *a: None) as trainer:
        named = dict(trainer.model.named_parameters())
        before = {n: p.data.astype(np.float64) for n, p in named.items()}
        _, norm = trainer.train_step()
        health = trainer.health
        layers = {layer_of(n) for n in named}
        assert set(health["grad_norm"]) == set(health["update_ratio"]) == layers
        assert {"transformer.h.0", "transformer.h.1", "transformer.wte"} <= layers
        total = math.sqrt(sum(v * v for v in health["grad_norm"].values()))
        assert total == pytest.approx(norm, rel=1e-5)
        for layer in layers:
            names = [n for n in named if layer_of(n) == layer]
            moved = math.sqrt(sum(np.sum((named[n].data - before[n]) ** 2) for n in names))
            size = math.sqrt(sum(np.sum(before[n] ** 2) for n in names))
            assert health["update_ratio"][layer] == pytest.approx(moved / size, rel=1e-5)
        assert health["clipped"] == (norm > cfg.grad_clip)


def test_health_is_logged_every_n_steps_and_plotted(corpus, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    cfg = TrainConfig(data=corpus, out_dir=str(out), max_steps=6, health_every=2, eval_interval=3,
                      grad_clip=1e-6, **TINY)  # fmt: skip
    with Trainer(cfg, log=lambda *a: None) as trainer:
        trainer.run(progress=False)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "health" in r] == [0, 2, 4]
    assert all(r["health"]["clipped"] for r in records if "health" in r)  # a clip of 1e-6
    assert (out / "health.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_health_every_must_not_be_negative():
    with pytest.raises(ValueError, match="health_every must be >= 0"):
        TrainConfig(health_every=-1)


def test_the_same_signal_twice_within_a_second_counts_once(monkeypatch):
    """A signal to the process group reaches a worker twice (its own, and the launcher's
    forward): that is one request to stop, not the second that aborts."""
    import signal

    from minillm.training.signals import StopOnSignal

    clock = [100.0]
    monkeypatch.setattr("minillm.training.signals.time.monotonic", lambda: clock[0])
    stop = StopOnSignal()
    stop._handler(signal.SIGTERM, None)
    stop._handler(signal.SIGTERM, None)  # the forwarded copy: ignored
    assert stop.signal == signal.SIGTERM
    clock[0] += 2.0
    with pytest.raises(KeyboardInterrupt):
        stop._handler(signal.SIGTERM, None)  # a real second request
