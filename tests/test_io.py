"""Tests for minillm.io's safetensors reader/writer and atomic_write.

Round trips over every dtype and odd layouts, the exact byte format, interop with the official
``safetensors`` package, one test per kind of hostile file, and Hypothesis fuzzing: random bytes,
truncations, flipped bytes and edited headers must either load consistently or raise
SafetensorsError -- never anything else.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minillm
from minillm.io import (
    SafetensorsError,
    atomic_write,
    load,
    load_bytes,
    load_file,
    save,
    save_bytes,
    save_file,
)

DTYPES = ["<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "i1", "<u8", "<u4", "<u2", "u1", "?"]

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
arrays = st.sampled_from(DTYPES).flatmap(
    lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0))
)
tensor_dicts = st.dictionaries(names.filter(lambda s: s != "__metadata__"), arrays, max_size=5)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (so NaN payloads and -0.0 count)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def header_of(raw: bytes) -> dict:
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n])


def with_header(header: object, data: bytes = b"", pad: bool = True) -> bytes:
    """A file made of any JSON-able header object followed by ``data``."""
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("io")


# ---------------------------------------------------------------------------- round trips
@given(tensors=tensor_dicts, use_mmap=st.booleans())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_file_round_trip_is_exact(workdir, tensors, use_mmap):
    path = workdir / "rt.safetensors"
    save(tensors, path, metadata={"k": "v"})
    loaded, meta = load(path, with_metadata=True, mmap=use_mmap)
    assert list(loaded) == list(tensors)  # header order is insertion order
    assert meta == {"k": "v"}
    for name, arr in tensors.items():
        assert isinstance(loaded[name], minillm.Tensor)
        assert same_bits(loaded[name].data, arr)


@given(tensors=tensor_dicts)
def test_bytes_round_trip_and_layout(tensors):
    raw = save_bytes(tensors)
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0 and raw[8:9] == b"{"  # data starts 8-aligned
    header = header_of(raw)
    spans = sorted(tuple(info["data_offsets"]) for info in header.values())
    cursor = 0
    for begin, end in spans:  # contiguous, no holes, no overlap
        assert begin == cursor
        cursor = end
    assert cursor == len(raw) - 8 - n
    for name, info in header.items():  # every tensor is aligned to its own item size
        assert info["data_offsets"][0] % tensors[name].dtype.itemsize == 0
        assert info["shape"] == list(tensors[name].shape)
    loaded = load_bytes(raw)
    assert all(same_bits(loaded[k].data, v) for k, v in tensors.items())


def test_odd_inputs_are_normalised(workdir):
    """Non-contiguous, big-endian and 0-d inputs and NumPy scalars are stored as C-order LE."""
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    tensors = {
        "strided": base[::2, ::3],
        "transposed": base.T,
        "big_endian": np.arange(5, dtype=">i4"),
        "zero_d": np.array(2.5),
        "scalar": np.int16(-7),
        "tensor": minillm.tensor([[1.0, 2.0]]),
        "empty": np.zeros((3, 0), dtype=np.int64),
    }
    path = workdir / "odd.safetensors"
    save(tensors, path)
    loaded = load(path)
    for name, value in tensors.items():
        expect = np.asarray(value.data if isinstance(value, minillm.Tensor) else value)
        got = loaded[name].data
        assert got.shape == expect.shape and got.dtype == expect.dtype.newbyteorder("=")
        np.testing.assert_array_equal(got, expect)
    assert header_of(path.read_bytes())["big_endian"]["dtype"] == "I32"


def test_known_bytes():
    """The exact bytes for a tiny file, written out by hand from the format description."""
    raw = save_bytes({"x": np.array([1, 2], dtype=np.int16)}, metadata={"a": "b"})
    header = b'{"__metadata__":{"a":"b"},"x":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}'
    header += b" " * (-len(header) % 8)
    assert raw == len(header).to_bytes(8, "little") + header + b"\x01\x00\x02\x00"


def test_loaded_tensors_are_writable_copy_on_write(workdir):
    path = workdir / "cow.safetensors"
    save({"w": np.arange(4, dtype=np.float32), "v": np.ones(3)}, path)
    before = path.read_bytes()
    a, b = load(path), load(path)
    a["w"].data[:] = -1.0  # allowed, and private to this tensor's pages
    (a["v"] * 2).sum()
    assert a["w"].data.flags.writeable
    assert path.read_bytes() == before
    np.testing.assert_array_equal(b["w"].data, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(load(path, mmap=False)["w"].data, np.arange(4))


def test_save_replaces_a_file_that_is_memory_mapped(workdir):
    path = workdir / "remap.safetensors"
    save({"w": np.zeros(1000)}, path)
    mapped = load(path)
    save({"w": mapped["w"].data + 1}, path)  # reading the old mapping while writing the new file
    np.testing.assert_array_equal(load(path)["w"].data, np.ones(1000))
    assert mapped["w"].data.sum() == 0.0  # the old mapping still sees the old file


def test_aliases_and_empty_file(workdir):
    assert save_file is save and load_file is load
    path = workdir / "empty.safetensors"
    save({}, path)
    assert load(path) == {} and load(path, with_metadata=True) == ({}, {})
    assert path.stat().st_size == 16  # 8-byte length + "{}" padded to 8


def test_unaligned_tensor_from_another_writer_is_copied_aligned():
    header = {
        "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
        "b": {"dtype": "F64", "shape": [2], "data_offsets": [1, 17]},
    }
    data = b"\x07" + np.array([1.5, -2.0]).tobytes()
    loaded = load_bytes(with_header(header, data))
    assert loaded["b"].data.flags.aligned
    assert loaded["b"].tolist() == [1.5, -2.0] and loaded["a"].tolist() == [7]


def test_bf16_is_upcast_exactly():
    bits = np.array([0x3FC0, 0xC010, 0x7F80, 0x0001], dtype="<u2")  # 1.5, -2.25, inf, tiny
    header = {"h": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}
    got = load_bytes(with_header(header, bits.tobytes()))["h"].data
    assert got.dtype == np.float32 and got.shape == (2, 2)
    expect = (bits.astype(np.uint32) << 16).view(np.float32).reshape(2, 2)
    assert same_bits(got, expect)
    assert got[0].tolist() == [1.5, -2.25] and got[1, 0] == np.inf


# ---------------------------------------------------------------------------- save errors
@pytest.mark.parametrize(
    ("tensors", "metadata", "error", "match"),
    [
        ({1: np.zeros(1)}, None, TypeError, "names must be str"),
        ({"__metadata__": np.zeros(1)}, None, ValueError, "reserved"),
        ({"x": [1.0, 2.0]}, None, TypeError, "'x' is a list"),
        ({"x": np.zeros(2, np.complex64)}, None, TypeError, "'x' has dtype complex64"),
        ({"x": np.array(["a"])}, None, TypeError, "'x' has dtype <U1"),
        ({"x": np.zeros(1)}, {"k": 1}, TypeError, "metadata must map str to str"),
        ({"x": np.zeros(1)}, ["k"], TypeError, "metadata must be a dict"),
        ([np.zeros(1)], None, TypeError, "expected a dict"),
    ],
)
def test_save_rejects_bad_input(workdir, tensors, metadata, error, match):
    path = workdir / "bad.safetensors"
    with pytest.raises(error, match=match):
        save(tensors, path, metadata=metadata)
    assert not path.exists()


# ---------------------------------------------------------------------------- hostile files
GOOD = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
EIGHT = bytes(8)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "0 bytes is too short"),
        (b"\x01\x00\x00", "3 bytes is too short"),
        ((100).to_bytes(8, "little") + b"{}", "header length 100 is larger than the 2 bytes"),
        ((2**64 - 1).to_bytes(8, "little") + b"{}", "over the 100000000-byte limit"),
        ((4).to_bytes(8, "little") + b"\xff\xfe{}", "not UTF-8"),
        ((8).to_bytes(8, "little") + b"{'a': 1}", "not valid JSON"),
        ((8).to_bytes(8, "little") + b"[1, 2]  ", "must be a JSON object, got list"),
        ((16).to_bytes(8, "little") + b'{"a":NaN}       ', "NaN is not valid JSON"),
        (with_header({"x": GOOD, "y": GOOD}, EIGHT * 2), "'y' at byte 0 overlaps tensor 'x'"),
        (with_header({"x": {**GOOD, "dtype": "F8_E4M3"}}, EIGHT), "unknown dtype 'F8_E4M3'"),
        (with_header({"x": {**GOOD, "dtype": 5}}, EIGHT), "unknown dtype 5"),
        (with_header({"x": {"dtype": "F32", "shape": [2]}}, EIGHT), "must be an object with"),
        (with_header({"x": [1, 2]}, EIGHT), "must be an object with"),
        (with_header({"x": {**GOOD, "shape": [-2]}}, EIGHT), "non-negative ints"),
        (with_header({"x": {**GOOD, "shape": [2.0]}}, EIGHT), "non-negative ints"),
        (with_header({"x": {**GOOD, "shape": [True, 2]}}, EIGHT), "non-negative ints"),
        (with_header({"x": {**GOOD, "shape": 2}}, EIGHT), "non-negative ints"),
        (with_header({"x": {**GOOD, "data_offsets": [-8, 0]}}, EIGHT), "two non-negative ints"),
        (with_header({"x": {**GOOD, "data_offsets": [0, 8, 9]}}, EIGHT), "two non-negative"),
        (with_header({"x": {**GOOD, "data_offsets": [8, 0]}}, EIGHT), "lie outside the data"),
        (with_header({"x": {**GOOD, "data_offsets": [0, 16]}}, EIGHT), "lie outside the data"),
        (
            with_header({"x": {**GOOD, "data_offsets": [0, 2**70]}}, EIGHT),
            "lie outside the data",
        ),
        (with_header({"x": {**GOOD, "shape": [3]}}, EIGHT), "needs 12 bytes but .* span 8"),
        (
            with_header({"x": {**GOOD, "shape": [2**40, 2**40]}}, EIGHT),
            "needs 4835703278458516698824704 bytes",
        ),
        (
            with_header({"x": GOOD, "y": {**GOOD, "data_offsets": [4, 12]}}, EIGHT * 2),
            "'y' at byte 4 overlaps tensor 'x'",
        ),
        (with_header({"x": {**GOOD, "data_offsets": [4, 12]}}, EIGHT * 2), "bytes 0..4"),
        (with_header({"x": GOOD}, EIGHT * 2), "bytes 8..16 at the end"),
        (with_header({}, EIGHT), "bytes 0..8 at the end"),
        (with_header({"__metadata__": {"a": 1}}), "__metadata__ must be an object of strings"),
        (with_header({"__metadata__": "text"}), "__metadata__ must be an object of strings"),
        (
            with_header(
                {"x": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02"
            ),
            "BOOL bytes must be 0 or 1",
        ),
        (
            with_header({"x": {"dtype": "F64", "shape": [0, 2**62], "data_offsets": [0, 0]}}),
            "cannot represent shape",
        ),
        (
            with_header({"x": {"dtype": "U8", "shape": [1] * 80, "data_offsets": [0, 1]}}, b"\0"),
            "cannot represent shape",
        ),
        ((100_000).to_bytes(8, "little") + b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        ((4400).to_bytes(8, "little") + b"[" + b"9" * 4398 + b"]", "not valid JSON"),
    ],
)
def test_hostile_bytes_raise_a_clear_error(raw, match):
    with pytest.raises(SafetensorsError, match=match):
        load_bytes(raw)


def test_duplicate_keys_are_rejected():
    text = b'{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],'
    text += b'"data_offsets":[0,1]}}'
    text += b" " * (-len(text) % 8)
    with pytest.raises(SafetensorsError, match="duplicate key 'x'"):
        load_bytes(len(text).to_bytes(8, "little") + text + b"\x01")


def test_file_errors_name_the_file(workdir):
    path = workdir / "short.safetensors"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(SafetensorsError, match=f"{path}: 2 bytes is too short"):
        load(path)
    path.write_bytes(with_header({"x": {**GOOD, "dtype": "Q"}}, EIGHT))
    for use_mmap in (True, False):
        with pytest.raises(SafetensorsError, match=rf"{path}: tensor 'x': unknown dtype 'Q'"):
            load(path, mmap=use_mmap)
    assert issubclass(SafetensorsError, ValueError)


def check_consistent(raw: bytes) -> None:
    """Load ``raw``; it must either raise SafetensorsError or match its own header byte for byte."""
    try:
        loaded, meta = load_bytes(raw, with_metadata=True)
    except SafetensorsError:
        return
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert meta == (header.pop("__metadata__", None) or {})
    assert set(loaded) == set(header)
    for name, info in header.items():
        begin, end = info["data_offsets"]
        got = loaded[name].data
        assert got.shape == tuple(info["shape"])
        if info["dtype"] != "BF16":
            assert got.tobytes() == raw[8 + n + begin : 8 + n + end]


VALID = save_bytes(
    {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "ids": np.array([3, 1, 2], dtype=np.int64),
        "mask": np.array([True, False]),
        "h": np.ones(3, dtype=np.float16),
    },
    metadata={"note": "x"},
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(-3, 40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["F32", "I64", "BOOL", "BF16", "U8", "F8_E5M2", ""])
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["dtype", "shape", "data_offsets", "w", "__metadata__", "k"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@given(raw=st.binary(max_size=200))
def test_fuzz_random_bytes(raw):
    check_consistent(raw)


@given(raw=st.binary(max_size=64), n=st.integers(0, 80))
def test_fuzz_random_bytes_with_a_plausible_length(raw, n):
    check_consistent(n.to_bytes(8, "little") + raw)


@given(cut=st.integers(0, len(VALID)), extra=st.binary(max_size=9))
def test_fuzz_truncated_or_extended(cut, extra):
    check_consistent(VALID[:cut])
    check_consistent(VALID + extra)


@given(flips=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), max_size=4))
def test_fuzz_flipped_bytes(flips):
    raw = bytearray(VALID)
    for at, mask in flips:
        raw[at] ^= mask
    check_consistent(bytes(raw))


@given(
    target=st.sampled_from(["w", "ids", "mask", "h", "__metadata__", "new"]),
    field=st.sampled_from(["dtype", "shape", "data_offsets", None]),
    value=json_values,
    pad=st.booleans(),
    data_delta=st.integers(-3, 3),
)
def test_fuzz_edited_headers(target, field, value, pad, data_delta):
    header = header_of(VALID)
    n = int.from_bytes(VALID[:8], "little")
    data = VALID[8 + n :]
    if field is None or target == "__metadata__":
        header[target] = value
    else:
        entry = header.setdefault(target, {})
        if isinstance(entry, dict):
            entry[field] = value
    data = data[: len(data) + data_delta] if data_delta < 0 else data + bytes(data_delta)
    check_consistent(with_header(header, data, pad=pad))


@given(value=json_values)
def test_fuzz_whole_header_replaced(value):
    check_consistent(with_header(value, b"\x00" * 8))


@given(raw=st.one_of(st.binary(max_size=40), st.just(VALID), st.just(VALID[:50])))
@settings(max_examples=15)
def test_fuzz_through_files_and_mmap(raw):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.safetensors")
        with open(path, "wb") as f:
            f.write(raw)
        for use_mmap in (True, False):
            try:
                load(path, mmap=use_mmap)
            except SafetensorsError as e:
                assert path in str(e)


# ---------------------------------------------------------------------------- interop
def test_official_package_reads_ours(workdir):
    st_numpy = pytest.importorskip("safetensors.numpy")
    safe_open = pytest.importorskip("safetensors").safe_open
    tensors = {
        "b": np.random.randn(3, 2),
        "a": np.arange(5, dtype=np.uint8),
        "m": np.array([True, False]),
        "s": np.array(1.5, dtype=np.float16),
        "e": np.zeros((0, 3), dtype=np.int32),
        "i": np.array([-(2**62), 7], dtype=np.int64),
    }
    path = workdir / "ours.safetensors"
    save(tensors, path, metadata={"who": "minillm"})
    theirs = st_numpy.load_file(str(path))
    assert set(theirs) == set(tensors)
    assert all(same_bits(theirs[k], v) for k, v in tensors.items())
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"who": "minillm"}
    assert all(same_bits(st_numpy.load(save_bytes(tensors))[k], v) for k, v in tensors.items())


def test_we_read_the_official_packages_files(workdir):
    st_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {
        "z": np.random.randn(4).astype(np.float32),
        "y": np.arange(6, dtype=np.int16).reshape(2, 3),
        "x": np.array([1, 0, 1], dtype=np.bool_),
        "w": np.arange(3, dtype=np.uint64),
    }
    path = workdir / "theirs.safetensors"
    st_numpy.save_file(tensors, str(path), metadata={"format": "np"})
    loaded, meta = load(path, with_metadata=True)
    assert meta == {"format": "np"}
    assert all(same_bits(loaded[k].data, v) for k, v in tensors.items())
    assert all(same_bits(load_bytes(st_numpy.save(tensors))[k].data, v) for k, v in tensors.items())


def test_bf16_written_by_torch(workdir):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    values = torch.randn(5, 3).to(torch.bfloat16)
    path = workdir / "bf16.safetensors"
    st_torch.save_file({"x": values, "f": torch.ones(2)}, str(path))
    got = load(path)["x"].data
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.float().numpy())


# ---------------------------------------------------------------------------- atomic_write
def test_atomic_write_replaces_on_success(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with atomic_write(path, "w") as f:
        f.write("new")
        assert path.read_text() == "old"  # not visible until the block ends
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"precious")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_write(path) as f:
        f.write(b"half a fi")
        raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["f.bin"]  # the temporary file is gone


def test_save_failing_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    from minillm.io import safetensors as st_module

    path = tmp_path / "w.safetensors"
    save({"a": np.ones(3)}, path)
    before = path.read_bytes()
    calls = []

    def explode(arr: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return arr.reshape(-1).view(np.uint8)

    monkeypatch.setattr(st_module, "_raw_bytes", explode)
    with pytest.raises(OSError, match="No space left"):
        save({"a": np.zeros(3), "b": np.zeros(2)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]


def test_atomic_write_permissions_follow_the_umask(tmp_path):
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "p.bin") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "p.bin").stat().st_mode & 0o777 == 0o644


def test_atomic_write_needs_an_existing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no directory"), atomic_write(tmp_path / "a" / "b"):
        pass


def test_atomic_write_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode must be"), atomic_write(tmp_path / "x", "ab"):
        pass
