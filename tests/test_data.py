"""Tests for minillm.data: datasets, collation, DataLoader (batching, shuffling, resuming), splits.

The central properties: every epoch hands out each example exactly once (or all but the dropped
tail); a seed fixes the order; and a loader restored from ``state_dict()`` -- even through JSON, as
in a checkpoint -- continues with exactly the batches the original would have produced.
"""

from __future__ import annotations

import json
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm
from minillm.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def flat(batches: list) -> list[int]:
    """The example ids in a list of ``(ids,)`` batches."""
    return [i for (ids,) in batches for i in ids.tolist()]


def ids_loader(n: int, **kw) -> DataLoader:
    return DataLoader(TensorDataset(minillm.arange(n)), **kw)


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, dtype=np.float64), "y": i * i, "name": f"#{i}"}


# ---------------------------------------------------------------------------- datasets
def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


def test_tensor_dataset_items():
    x, y = minillm.randn(5, 3), np.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi.data, x.data[3])
    assert yi.item() == 3 and yi.dtype == np.int64
    assert ds[-1][1].item() == 4
    with pytest.raises(IndexError):
        ds[5]


@pytest.mark.parametrize(
    ("tensors", "match"),
    [
        ((), "at least one"),
        ((np.zeros((3, 2)), np.zeros(4)), r"same first dimension .*\(3, 2\), \(4,\)"),
        ((np.zeros(3), np.array(1.0)), "needs a first dimension"),
    ],
)
def test_tensor_dataset_errors(tensors, match):
    with pytest.raises(ValueError, match=match):
        TensorDataset(*tensors)


def test_subset():
    sub = Subset(Squares(10), [7, 2])
    assert len(sub) == 2 and sub[0]["y"] == 49 and sub[-1]["y"] == 4


# ---------------------------------------------------------------------------- collation
def test_default_collate_structures():
    Pair = namedtuple("Pair", "a b")
    batch = default_collate(
        [
            {"t": minillm.ones(2), "n": 1, "f": 0.5, "b": True, "p": Pair(np.int16(1), [1.0, 2])},
            {"t": minillm.zeros(2), "n": 2, "f": 1.5, "b": False, "p": Pair(np.int16(2), [3.0, 4])},
        ]
    )
    assert batch["t"].shape == (2, 2) and batch["t"].dtype == np.float32
    assert batch["n"].tolist() == [1, 2] and batch["n"].dtype == np.int64
    assert batch["f"].dtype == np.float32 and batch["b"].dtype == np.bool_
    assert isinstance(batch["p"], Pair) and batch["p"].a.dtype == np.int16
    assert isinstance(batch["p"].b, list) and batch["p"].b[1].tolist() == [2, 4]
    assert default_collate(["a", "b"]) == ["a", "b"]
    float64 = default_collate([np.zeros(3), np.ones(3)])
    assert float64.dtype == np.float64 and float64.shape == (2, 3)


def test_default_collate_drops_autograd_history():
    x = minillm.ones(2, requires_grad=True)
    out = default_collate([x * 2, x * 3])
    assert out.is_leaf and not out.requires_grad


@pytest.mark.parametrize(
    ("batch", "error", "match"),
    [
        ([], ValueError, "empty batch"),
        ([np.zeros(2), np.zeros(3)], ValueError, r"example 1 has shape \(3,\)"),
        ([{"a": 1}, {"b": 1}], ValueError, "example 1 has keys"),
        ([(1, 2), (1,)], ValueError, "example 1 has 1 fields"),
        ([object(), object()], TypeError, "cannot batch examples of type object"),
    ],
)
def test_default_collate_errors(batch, error, match):
    with pytest.raises(error, match=match):
        default_collate(batch)


# ---------------------------------------------------------------------------- DataLoader
@given(
    n=st.integers(0, 30),
    batch_size=st.integers(1, 8),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.none() | st.integers(0, 2**32),
)
def test_each_epoch_covers_the_dataset_once(n, batch_size, shuffle, drop_last, seed):
    loader = ids_loader(n, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        assert all(len(ids) == batch_size for (ids,) in batches[: n // batch_size])
        seen = flat(batches)
        assert len(seen) == len(set(seen))
        if drop_last:
            assert len(seen) == (n // batch_size) * batch_size
        else:
            assert sorted(seen) == list(range(n))
        if not shuffle:
            assert seen == list(range(len(seen)))


def test_len():
    assert len(ids_loader(10, batch_size=3)) == 4
    assert len(ids_loader(10, batch_size=3, drop_last=True)) == 3
    assert len(ids_loader(2, batch_size=3, drop_last=True)) == 0
    assert len(ids_loader(0, batch_size=3)) == 0


def test_seeded_shuffle_is_deterministic_and_changes_per_epoch():
    a, b = (
        ids_loader(50, batch_size=7, shuffle=True, seed=3),
        ids_loader(50, batch_size=7, shuffle=True, seed=3),
    )
    epochs_a = [flat(list(a)) for _ in range(3)]
    epochs_b = [flat(list(b)) for _ in range(3)]
    assert epochs_a == epochs_b
    assert len({tuple(e) for e in epochs_a}) == 3
    assert flat(list(ids_loader(50, batch_size=7, shuffle=True, seed=4))) != epochs_a[0]


def test_unseeded_shuffle_follows_manual_seed_and_plain_order_draws_nothing():
    minillm.manual_seed(11)
    first = flat(list(ids_loader(40, batch_size=5, shuffle=True)))
    minillm.manual_seed(11)
    again = flat(list(ids_loader(40, batch_size=5, shuffle=True)))
    assert first == again and first != list(range(40))
    state = minillm.get_rng_state()
    list(ids_loader(40, batch_size=5))
    list(ids_loader(40, batch_size=5, shuffle=True, seed=1))
    assert minillm.get_rng_state() == state  # neither drew from the global generator


def test_fast_path_equals_per_example_collation():
    x = np.random.default_rng(0).normal(size=(13, 3)).astype(np.float32)
    ds = TensorDataset(x, np.arange(13), np.arange(13) % 2 == 0)
    for dataset in (ds, Subset(ds, np.arange(13)[::-1][:9])):
        fast = list(DataLoader(dataset, batch_size=4, shuffle=True, seed=5))
        slow = list(
            DataLoader(dataset, batch_size=4, shuffle=True, seed=5, collate_fn=default_collate)
        )
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow):
            for a, b in zip(f, s):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a.data, b.data)


def test_generic_dataset_and_custom_collate():
    batches = list(DataLoader(Squares(5), batch_size=2))
    assert batches[0]["x"].shape == (2, 2) and batches[2]["y"].tolist() == [16]
    assert batches[1]["name"] == ["#2", "#3"]
    sizes = list(DataLoader(list(range(7)), batch_size=3, collate_fn=len))
    assert sizes == [3, 3, 1]


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "4"])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        ids_loader(4, batch_size=batch_size)


@pytest.mark.parametrize("seed", [-1, 1.0, "x", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        ids_loader(4, shuffle=True, seed=seed)


# ---------------------------------------------------------------------------- resuming
def run_batches(loader: DataLoader, count: int) -> list[list[int]]:
    """``count`` batches from ``loader``, crossing epochs as a training loop does."""
    out: list[list[int]] = []
    while len(out) < count and len(loader) > 0:
        for (ids,) in loader:
            out.append(ids.tolist())
            if len(out) == count:
                break
    return out


@given(
    n=st.integers(0, 20),
    batch_size=st.integers(1, 6),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.none() | st.integers(0, 1000),
    k=st.integers(0, 12),
    more=st.integers(0, 12),
)
def test_resume_mid_epoch_is_exact(n, batch_size, shuffle, drop_last, seed, k, more):
    kw = {"batch_size": batch_size, "shuffle": shuffle, "drop_last": drop_last, "seed": seed}
    minillm.manual_seed(5)
    straight = ids_loader(n, **kw)
    expect = run_batches(straight, k + more)

    minillm.manual_seed(5)
    first = ids_loader(n, **kw)
    head = run_batches(first, k)
    state = json.loads(json.dumps(first.state_dict()))  # as a checkpoint stores it
    rng = minillm.get_rng_state()

    minillm.manual_seed(999)  # a fresh process would start elsewhere; the checkpoint restores it
    resumed = ids_loader(n, **kw)
    resumed.load_state_dict(state)
    minillm.set_rng_state(rng)
    tail = run_batches(resumed, more)
    assert head + tail == expect
    assert resumed.state_dict() == straight.state_dict()


def test_state_dict_tracks_epoch_and_position():
    loader = ids_loader(10, batch_size=4, shuffle=True, seed=0)
    assert loader.state_dict()["epoch"] == 0 and not loader.state_dict()["in_epoch"]
    it = iter(loader)
    assert loader.state_dict()["epoch_seed"] == [0, 0] and loader.state_dict()["position"] == 0
    next(it)
    next(it)
    assert loader.state_dict()["position"] == 2 and loader.epoch == 0
    list(it)
    assert loader.state_dict()["epoch"] == 1 and loader.state_dict()["position"] == 0
    it = iter(loader)
    next(it)
    iter(loader)  # abandoning an epoch part-way still moves to the next one
    assert loader.epoch == 2 and loader.state_dict()["epoch_seed"] == [0, 2]
    next(it)  # a superseded iterator keeps working but no longer moves the state
    assert loader.state_dict()["position"] == 0


def test_resume_at_epoch_start_does_not_redraw_the_seed():
    minillm.manual_seed(0)
    loader = ids_loader(9, batch_size=2, shuffle=True)
    it = iter(loader)  # draws this epoch's seed now
    state, rng = loader.state_dict(), minillm.get_rng_state()
    expect = [ids.tolist() for (ids,) in it]
    resumed = ids_loader(9, batch_size=2, shuffle=True)
    resumed.load_state_dict(state)
    minillm.set_rng_state(rng)
    assert [ids.tolist() for (ids,) in resumed] == expect


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"batch_size": 3}, "saved with batch_size=3, but this loader has batch_size=4"),
        ({"num_examples": 11}, "saved with num_examples=11, but this loader has num_examples=10"),
    ],
)
def test_load_state_dict_rejects_a_different_setup(change, match):
    state = ids_loader(10, batch_size=4).state_dict()
    with pytest.raises(ValueError, match=match):
        ids_loader(10, batch_size=4).load_state_dict({**state, **change})
    del state["position"]
    with pytest.raises(ValueError, match="missing keys"):
        ids_loader(10, batch_size=4).load_state_dict(state)


# ---------------------------------------------------------------------------- random_split
@given(
    n=st.integers(0, 40),
    seed=st.integers(0, 100),
    cuts=st.lists(st.integers(1, 5), min_size=1, max_size=4),
)
def test_random_split_fractions_partition_the_dataset(n, seed, cuts):
    fractions = [c / sum(cuts) for c in cuts]
    fractions[-1] = 1.0 - sum(fractions[:-1])
    parts = random_split(list(range(n)), fractions, seed=seed)
    sizes = [len(p) for p in parts]
    floors = [int(np.floor(n * f)) for f in fractions]
    assert sum(sizes) == n
    assert all(0 <= s - f <= 1 for s, f in zip(sizes, floors))
    assert sorted(i for p in parts for i in (p[j] for j in range(len(p)))) == list(range(n))
    again = random_split(list(range(n)), fractions, seed=seed)
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again))


def test_random_split_sizes_match_pytorch():
    torch = pytest.importorskip("torch")
    for n, fractions in [(10, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]), (11, [0.1, 0.2, 0.3, 0.4])]:
        ours = [len(p) for p in random_split(range(n), fractions, seed=0)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


def test_random_split_lengths_and_global_rng():
    minillm.manual_seed(2)
    a = random_split(Squares(6), [4, 2])
    minillm.manual_seed(2)
    b = random_split(Squares(6), [4, 2])
    assert [len(p) for p in a] == [4, 2]
    assert a[0].indices.tolist() == b[0].indices.tolist()
    assert a[1][0]["y"] == a[1].indices[0] ** 2


@pytest.mark.parametrize(
    ("lengths", "error", "match"),
    [
        ([3, 2], ValueError, r"lengths \[3, 2\] sum to 5, but the dataset has 6 examples"),
        ([7, -1], ValueError, "non-negative"),
        ([0.5, 0.4], ValueError, "sum to 1"),
        ([1.5, -0.5], ValueError, "lie in"),
        ([], ValueError, "must not be empty"),
        (["a"], TypeError, "ints or fractions"),
    ],
)
def test_random_split_errors(lengths, error, match):
    with pytest.raises(error, match=match):
        random_split(Squares(6), lengths, seed=0)
