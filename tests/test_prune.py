"""``minillm.nn.utils.prune``: PyTorch's masks for the same weights, the reparametrization,
composition, remove, global pruning, zeros kept through training and checkpoints, the command."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

import minillm
from minillm import io, nn
from minillm.nn.utils import prune


def _pair(shape=(6, 10), seed=0):
    pytest.importorskip("torch")
    import torch.nn.utils.prune  # a submodule that `import torch` does not load

    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    ours = nn.Linear(shape[1], shape[0])
    ours.weight.data[...] = w
    theirs = torch.nn.Linear(shape[1], shape[0])
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    return torch, ours, theirs


@pytest.mark.parametrize("amount", [0, 3, 0.3, 0.5, 1.0])
def test_l1_unstructured_mask_equals_torch(amount):
    torch, ours, theirs = _pair()
    prune.l1_unstructured(ours, "weight", amount=amount)
    torch.nn.utils.prune.l1_unstructured(theirs, "weight", amount=amount)
    np.testing.assert_array_equal(ours.weight_mask.data, theirs.weight_mask.numpy())
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach().numpy())


@pytest.mark.parametrize("n", [1, 2, float("inf"), "fro"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ln_structured_mask_equals_torch(n, dim):
    torch, ours, theirs = _pair(seed=1)
    prune.ln_structured(ours, "weight", amount=0.4, n=n, dim=dim)
    torch.nn.utils.prune.ln_structured(theirs, "weight", amount=0.4, n=n, dim=dim)
    np.testing.assert_array_equal(ours.weight_mask.data, theirs.weight_mask.numpy())


def test_composition_equals_torch():
    torch, ours, theirs = _pair((8, 12), seed=2)
    tp = torch.nn.utils.prune
    for ours_fn, theirs_fn, kw in (
        (prune.l1_unstructured, tp.l1_unstructured, {"amount": 0.5}),
        (prune.l1_unstructured, tp.l1_unstructured, {"amount": 0.5}),
        (prune.ln_structured, tp.ln_structured, {"amount": 2, "n": 2, "dim": 0}),
        (prune.l1_unstructured, tp.l1_unstructured, {"amount": 3}),
    ):
        ours_fn(ours, "weight", **kw)
        theirs_fn(theirs, "weight", **kw)
        np.testing.assert_array_equal(ours.weight_mask.data, theirs.weight_mask.numpy())
    assert ours.weight_mask.data.mean() == theirs.weight_mask.numpy().mean()
    assert len([h for h in ours._forward_pre_hooks.values()]) == 1  # one container


def test_global_unstructured_equals_torch():
    torch, a, ta = _pair((5, 7), seed=3)
    _, b, tb = _pair((4, 9), seed=4)
    prune.l1_unstructured(a, "weight", amount=0.2)  # a mask already there is respected
    torch.nn.utils.prune.l1_unstructured(ta, "weight", amount=0.2)
    prune.global_unstructured([(a, "weight"), (b, "weight")], prune.L1Unstructured, amount=0.6)
    torch.nn.utils.prune.global_unstructured(
        [(ta, "weight"), (tb, "weight")], torch.nn.utils.prune.L1Unstructured, amount=0.6
    )
    np.testing.assert_array_equal(a.weight_mask.data, ta.weight_mask.numpy())
    np.testing.assert_array_equal(b.weight_mask.data, tb.weight_mask.numpy())


def test_reparametrization_remove_is_pruned_and_random_counts():
    layer = nn.Linear(10, 4)
    assert not prune.is_pruned(layer)
    prune.random_unstructured(layer, "weight", amount=0.25)
    assert prune.is_pruned(layer)
    assert sorted(n for n, _ in layer.named_parameters()) == ["bias", "weight_orig"]
    assert [n for n, _ in layer.named_buffers()] == ["weight_mask"]
    assert int((layer.weight_mask.data == 0).sum()) == 10  # round(0.25 * 40)
    prune.random_structured(layer, "bias", amount=1, dim=0)
    assert int((layer.bias.data == 0).sum()) == 1
    prune.remove(layer, "weight")
    assert "weight" in dict(layer.named_parameters()) and not hasattr(layer, "weight_mask")
    assert int((layer.weight.data == 0).sum()) >= 10
    with pytest.raises(ValueError, match="has to be pruned"):
        prune.remove(layer, "weight")
    with pytest.raises(ValueError, match=r"amount=1\.5"):
        prune.l1_unstructured(layer, "weight", amount=1.5)
    with pytest.raises(ValueError, match="smaller than the number"):
        prune.l1_unstructured(nn.Linear(2, 2), "weight", amount=9)


def test_pruned_weights_stay_zero_through_adam_and_a_checkpoint(tmp_path):
    minillm.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    prune.ln_structured(net[2], "weight", amount=1, n=2, dim=0)
    opt = minillm.optim.AdamW(net.parameters(), lr=0.1, weight_decay=0.1)
    x, y = minillm.randn(32, 8), minillm.tensor(np.arange(32) % 3)
    for _ in range(5):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net(x)  # the pre-hook recomputes weight = weight_orig * weight_mask
    dead = net[0].weight_mask.data == 0
    assert (net[0].weight.data[dead] == 0).all() and (net[0].weight_orig.data[dead] != 0).any()
    io.save_checkpoint(tmp_path / "ckpt.safetensors", model=net)
    fresh = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    prune.identity(fresh[0], "weight")
    prune.identity(fresh[2], "weight")
    io.load_checkpoint(tmp_path / "ckpt.safetensors", model=fresh)
    np.testing.assert_array_equal(fresh(x).data, net(x).data)
    assert (fresh[0].weight.data[dead] == 0).all()
    assert (fresh[2].weight.data == 0).all(axis=1).sum() == 1


def test_prune_command_round_trip(tmp_path, capsys):
    from minillm.cli import main
    from minillm.compress.command import add_prune_args, cmd_prune
    from minillm.inference.command import load_model

    corpus = tmp_path / "text.txt"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 60)
    out = tmp_path / "out"
    flags = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
             "--batch-size", "4", "--warmup", "2", "--eval-interval", "3", "--eval-iters", "2",
             "--sample-tokens", "5", "--no-progress", "--max-steps", "3"]  # fmt: skip
    assert main(["train", "--data", str(corpus), "--out-dir", str(out), *flags]) == 0
    parser = argparse.ArgumentParser()
    add_prune_args(parser)
    for method in ("l1", "global"):
        dst = tmp_path / f"pruned-{method}"
        args = ["--out-dir", str(out), "--to", str(dst), "--amount", "0.5", "--method", method]
        assert cmd_prune(parser.parse_args(args)) == 0
        assert "are zero" in capsys.readouterr().out
        model, _ = load_model(dst)  # an ordinary run folder: generate loads it as it is
        ws = [m.weight.data for m in model.transformer.modules() if isinstance(m, nn.Linear)]
        sparsity = sum(int((w == 0).sum()) for w in ws) / sum(w.size for w in ws)
        assert abs(sparsity - 0.5) < 0.01
    bad = parser.parse_args(["--out-dir", str(out), "--to", str(out)])
    assert cmd_prune(bad) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["--to", "x", "--amount", "1.5"])


def test_the_pruning_example_runs(tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    from threadpoolctl import threadpool_limits

    from minillm import kernels

    example = Path(__file__).parent.parent / "examples" / "10_pruning.py"
    monkeypatch.chdir(tmp_path)  # it draws pruning.png in the current folder
    with threadpool_limits(limits=None):  # restores BLAS's threads; the example asks for one
        runpy.run_path(str(example), run_name="__main__")  # it asserts its own checks
    kernels.set_num_threads(1 << 16)  # Numba's default again: all its threads
    pytest.importorskip("matplotlib")
    assert (tmp_path / "pruning.png").stat().st_size > 0
