"""Tests for minillm.io's checkpoints: the nested-tree codec, save/load_checkpoint, exact resuming.

The headline test trains a tiny model with a hand-written SGD-momentum optimizer, a step scheduler,
a shuffling DataLoader and random noise drawn from three generators each step: N steps straight
must equal k steps, a checkpoint, and N - k more steps in a fresh Python process -- bit for bit, in
the weights, the optimizer state, every loss, the RNG states and the loader position.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minillm
from minillm.io import (
    CheckpointError,
    SafetensorsError,
    load,
    load_checkpoint,
    load_tree,
    save,
    save_checkpoint,
    save_tree,
)
from minillm.io.checkpoint import METADATA_KEY

REPO = Path(__file__).resolve().parents[1]


def assert_same(a: object, b: object, where: str = "") -> None:
    """Equal with exact types: tuples stay tuples, int keys stay ints, floats match bit for bit."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, minillm.Tensor):
        a, b = a.data, b.data
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), where
        assert math.copysign(1.0, a) == math.copysign(1.0, b), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert type(key) is type(next(k for k in b if k == key)), where
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}/{i}")
    else:
        assert a == b, where


arrays = st.sampled_from(["<f4", "<f8", "<i8", "u1", "?"]).map(
    lambda dt: np.arange(6).astype(dt).reshape(2, 3)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**130), 2**130)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from([np.float32(0.1), np.int64(-3), np.bool_(True), np.uint8(200)])
    | arrays
    | arrays.map(minillm.Tensor)
)
keys = st.text(max_size=6) | st.integers(-5, 2**70) | st.sampled_from(["__tensor__", "__dict__"])
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=3)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ckpt")


# ---------------------------------------------------------------------------- the tree codec
@given(tree=trees)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
def test_tree_round_trip_is_exact(workdir, tree):
    path = workdir / "tree.safetensors"
    save_tree(tree, path)
    assert_same(load_tree(path), tree)


def test_tree_layout_is_readable(workdir):
    """Arrays become named tensors; the rest is one JSON document in __metadata__["minillm"]."""
    path = workdir / "layout.safetensors"
    tree = {
        "optimizer": {"state": {0: {"step": 3, "exp_avg": minillm.ones(2)}}, "lr": 0.1},
        "a/b": np.zeros(1),
        "a": {"b": np.ones(1)},  # same path as "a/b": gets a suffix instead of clobbering it
        "tag": {"__tensor__": "a/b"},  # a user dict that looks like a tag
    }
    save_tree(tree, path)
    tensors, meta = load(path, with_metadata=True)
    assert set(tensors) == {"optimizer/state/0/exp_avg", "a/b", "a/b#1"}
    doc = json.loads(meta[METADATA_KEY])
    assert doc["format_version"] == 1 and doc["kind"] == "tree"
    assert doc["tree"]["optimizer"]["lr"] == 0.1
    assert doc["tree"]["optimizer"]["state"] == {
        "__dict__": [[0, {"step": 3, "exp_avg": {"__tensor__": "optimizer/state/0/exp_avg"}}]]
    }
    assert_same(load_tree(path), tree)


def test_tree_rejects_unstorable_values(workdir):
    with pytest.raises(TypeError, match=r"cannot store a set at 'opt/x'"):
        save_tree({"opt": {"x": {1, 2}}}, workdir / "bad.safetensors")
    with pytest.raises(TypeError, match="complex128 scalar"):
        save_tree([np.complex128(1j)], workdir / "bad.safetensors")
    with pytest.raises(TypeError, match="cannot be a dict key"):
        save_tree({1: {minillm.ones(1): 2}}, workdir / "bad.safetensors")
    assert not (workdir / "bad.safetensors").exists()


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("not json", "is not JSON"),
        ('{"tree": 1}', "not a minillm document"),
        ('{"format_version": 99, "kind": "tree", "tree": 1}', "format version 99"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__tensor__": "nope"}}', "no tensor"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__float__": "1.5"}}', "bad __float__"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__dict__": [[[1], 2]]}}', "bad __dict"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__dict__": 3}}', "bad __dict__"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__tuple__": {}}}', "bad __tuple__"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__numpy__": ["O", 1]}}', "bad __numpy"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__numpy__": ["zz", 1]}}', "bad __numpy"),
        ('{"format_version": 1, "kind": "tree", "tree": {"__numpy__": ["|i1", 999]}}', "bad __num"),
        ('{"format_version": 1, "kind": "other", "tree": 1}', "holds a 'other', not a 'tree'"),
    ],
)
def test_malformed_checkpoint_documents(workdir, doc, match):
    path = workdir / "malformed.safetensors"
    save({}, path, metadata={METADATA_KEY: doc})
    with pytest.raises(CheckpointError, match=match):
        load_tree(path, kind="tree")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


tagged_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__"])
            | st.sampled_from(["__numpy__", "w", ""]),
            inner,
            max_size=2,
        )
    ),
    max_leaves=8,
)


@given(tree=tagged_json)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_tree_documents(workdir, tree):
    """Any JSON tree either decodes or raises CheckpointError."""
    path = workdir / "fuzz.safetensors"
    doc = json.dumps({"format_version": 1, "kind": "tree", "tree": tree})
    save({"w": np.zeros(1)}, path, metadata={METADATA_KEY: doc})
    with contextlib.suppress(CheckpointError):
        load_tree(path)


def test_not_a_checkpoint(workdir):
    path = workdir / "plain.safetensors"
    save({"w": np.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a minillm checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"garbage!garbage!")
    with pytest.raises(SafetensorsError):
        load_checkpoint(path)
    deep = workdir / "deep.safetensors"
    tree = "[" * 100_000 + "]" * 100_000
    save({}, deep, metadata={METADATA_KEY: f'{{"format_version":1,"kind":"tree","tree":{tree}}}'})
    with pytest.raises(CheckpointError):
        load_tree(deep)


# ---------------------------------------------------------------------------- stand-in objects
class Model:
    """A stand-in for nn.Module: a flat state dict of dotted names."""

    def __init__(self) -> None:
        self.weight = minillm.randn(3, 2)
        self.bias = minillm.zeros(2)

    def state_dict(self) -> dict:
        return {"layer.weight": self.weight, "layer.bias": self.bias}

    def load_state_dict(self, sd: dict) -> None:
        self.weight.data[...] = sd["layer.weight"].data
        self.bias.data[...] = sd["layer.bias"].data


class Optimizer:
    """A stand-in with PyTorch's optimizer state-dict shape (int keys in "state")."""

    def __init__(self) -> None:
        self.state: dict = {}
        self.param_groups = [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "params": [0, 1]}]

    def state_dict(self) -> dict:
        return {"state": self.state, "param_groups": self.param_groups}

    def load_state_dict(self, sd: dict) -> None:
        self.state, self.param_groups = sd["state"], sd["param_groups"]


class Scheduler:
    def __init__(self) -> None:
        self.last_epoch, self.base_lrs, self.best = 0, [0.1], float("inf")

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": self.base_lrs, "best": self.best}

    def load_state_dict(self, sd: dict) -> None:
        self.last_epoch, self.base_lrs, self.best = sd["last_epoch"], sd["base_lrs"], sd["best"]


def test_checkpoint_restores_objects_and_rngs(workdir):
    path = workdir / "ckpt.safetensors"
    model, opt, sched = Model(), Optimizer(), Scheduler()
    opt.state = {
        0: {"step": 3, "exp_avg": minillm.randn(3, 2), "exp_avg_sq": minillm.rand(3, 2)},
        1: {"step": 3, "exp_avg": minillm.randn(2), "exp_avg_sq": minillm.rand(2)},
    }
    sched.last_epoch, sched.best = 7, 0.123456789012345678
    loader_state = {"epoch": 2, "position": 1, "epoch_seed": 2**62 + 1, "in_epoch": True}
    minillm.manual_seed(42)
    np.random.seed(42)
    random.seed(42)
    save_checkpoint(
        path,
        model=model,
        optimizer=opt,
        scheduler=sched,
        step=12,
        data_state=loader_state,
        extra={"config": {"n_layer": 2}, "losses": [2.5, 1.25]},
    )
    expect_draws = (minillm.randn(3).tolist(), np.random.rand(), random.random())

    minillm.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    model2, opt2, sched2 = Model(), Optimizer(), Scheduler()
    info = load_checkpoint(path, model=model2, optimizer=opt2, scheduler=sched2)
    assert (minillm.randn(3).tolist(), np.random.rand(), random.random()) == expect_draws
    assert info["step"] == 12 and info["data_state"] == loader_state
    assert info["extra"] == {"config": {"n_layer": 2}, "losses": [2.5, 1.25]}
    assert_same(model2.state_dict(), model.state_dict())
    assert_same(opt2.state_dict(), opt.state_dict())
    assert_same(sched2.state_dict(), sched.state_dict())
    opt2.state[0]["exp_avg"].data += 1.0  # loaded state is private and writable
    assert load_checkpoint(path, restore_rng=False)["optimizer"]["state"][0]["step"] == 3


def test_checkpoint_missing_component(workdir):
    path = workdir / "model_only.safetensors"
    save_checkpoint(path, model=Model(), step=1)
    info = load_checkpoint(path, model=Model())
    assert info["optimizer"] is None and info["scheduler"] is None
    with pytest.raises(CheckpointError, match="optimizer state was not saved, but one was given"):
        load_checkpoint(path, optimizer=Optimizer())


def test_checkpoint_write_is_atomic(workdir, monkeypatch):
    from minillm.io import safetensors as st_module

    path = workdir / "atomic.safetensors"
    save_checkpoint(path, model=Model(), step=5)
    before = path.read_bytes()

    def explode(arr: np.ndarray) -> np.ndarray:
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing the tensors

    monkeypatch.setattr(st_module, "_raw_bytes", explode)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model=Model(), step=6)
    assert path.read_bytes() == before
    assert [p.name for p in workdir.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 5


# ---------------------------------------------------------------------------- exact resume
TRAIN_SCRIPT = textwrap.dedent(
    '''
    """Train a tiny linear model; optionally resume from and/or save a checkpoint; print results."""
    import json
    import random
    import sys

    import numpy as np

    import minillm
    from minillm.data import DataLoader, TensorDataset
    from minillm.io import load_checkpoint, save_checkpoint


    class Model:
        def __init__(self):
            self.w = minillm.randn(3, 1, dtype=np.float64, requires_grad=True)
            self.b = minillm.zeros(1, dtype=np.float64, requires_grad=True)

        def parameters(self):
            return [self.w, self.b]

        def __call__(self, x):
            return x @ self.w + self.b

        def state_dict(self):
            return {"linear.weight": self.w.detach(), "linear.bias": self.b.detach()}

        def load_state_dict(self, sd):
            self.w.data[...] = sd["linear.weight"].data
            self.b.data[...] = sd["linear.bias"].data


    class SGDMomentum:
        def __init__(self, params, lr, momentum):
            self.params = params
            self.param_groups = [{"lr": lr, "momentum": momentum, "params": [0, 1]}]
            self.state = {}

        def step(self):
            group = self.param_groups[0]
            for i, p in enumerate(self.params):
                st = self.state.setdefault(i, {"step": 0, "momentum_buffer": None})
                g = p.grad.data
                buf = st["momentum_buffer"]
                buf = g.copy() if buf is None else group["momentum"] * buf + g
                st["momentum_buffer"], st["step"] = buf, st["step"] + 1
                p.data -= group["lr"] * buf

        def state_dict(self):
            state = {
                i: {"step": s["step"], "momentum_buffer": minillm.tensor(s["momentum_buffer"])}
                for i, s in self.state.items()
            }
            return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

        def load_state_dict(self, sd):
            self.state = {
                i: {"step": s["step"], "momentum_buffer": s["momentum_buffer"].data.copy()}
                for i, s in sd["state"].items()
            }
            self.param_groups = [dict(g) for g in sd["param_groups"]]


    class StepLR:
        def __init__(self, opt, step_size, gamma):
            self.opt, self.step_size, self.gamma = opt, step_size, gamma
            self.base_lr, self.last_step = opt.param_groups[0]["lr"], 0

        def step(self):
            self.last_step += 1
            decay = self.gamma ** (self.last_step // self.step_size)
            self.opt.param_groups[0]["lr"] = self.base_lr * decay

        def state_dict(self):
            return {"base_lr": self.base_lr, "last_step": self.last_step}

        def load_state_dict(self, sd):
            self.base_lr, self.last_step = sd["base_lr"], sd["last_step"]


    def main(stop, load_path, save_path):
        minillm.manual_seed(1234)
        np.random.seed(99)
        random.seed(7)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(10, 3))
        y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
        loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
        model = Model()
        opt = SGDMomentum(model.parameters(), lr=0.05, momentum=0.9)
        sched = StepLR(opt, step_size=4, gamma=0.5)
        step, losses = 0, []
        if load_path:
            info = load_checkpoint(load_path, model=model, optimizer=opt, scheduler=sched)
            step, losses = info["step"], info["extra"]["losses"]
            loader.load_state_dict(info["data_state"])
        while step < stop:
            for xb, yb in loader:
                model.w.grad = model.b.grad = None
                loss = ((model(xb) - yb) ** 2).mean()
                loss.backward()
                noise = minillm.randn(3, 1, dtype=np.float64).data * 1e-3
                model.w.grad.data += noise + np.random.rand() * 1e-4 + random.random() * 1e-5
                opt.step()
                sched.step()
                losses.append(loss.item())
                step += 1
                if step == stop:
                    break
        if save_path:
            save_checkpoint(
                save_path, model=model, optimizer=opt, scheduler=sched, step=step,
                data_state=loader.state_dict(), extra={"losses": losses},
            )
        buffers = [opt.state[i]["momentum_buffer"].tobytes().hex() for i in sorted(opt.state)]
        print(json.dumps({
            "w": model.w.data.tobytes().hex(), "b": model.b.data.tobytes().hex(),
            "buffers": buffers, "lr": opt.param_groups[0]["lr"], "losses": losses,
            "loader": loader.state_dict(), "minillm_rng": minillm.get_rng_state(),
            "numpy_draw": np.random.rand(), "python_draw": random.random(), "step": step,
        }))


    if __name__ == "__main__":
        main(int(sys.argv[1]), sys.argv[2] or None, sys.argv[3] or None)
    '''
)


def run_training(script: Path, stop: int, load_path: str = "", save_path: str = "") -> dict:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, str(script), str(stop), load_path, save_path],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "k", [5, 6]
)  # mid-epoch (3 batches an epoch), and just after an epoch's end
def test_resume_in_a_fresh_process_is_bit_exact(tmp_path, k):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    ckpt = str(tmp_path / "ckpt.safetensors")
    n_steps = 11
    straight = run_training(script, n_steps)
    first = run_training(script, k, save_path=ckpt)
    resumed = run_training(script, n_steps, load_path=ckpt)
    assert first["losses"] == straight["losses"][:k]
    assert resumed == straight
    assert straight["step"] == n_steps and straight["loader"]["epoch"] == 3
    assert len(set(straight["losses"])) == n_steps  # the run actually moved
