"""The safetensors file format, written and read by minillm's own code.

A file has three parts::

    [8 bytes]  N: the header length, an unsigned 64-bit little-endian integer
    [N bytes]  the header: UTF-8 JSON, padded with spaces so the data starts 8-byte aligned
                 {"__metadata__": {"step": "100"},
                  "wte.weight": {"dtype": "F32", "shape": [65, 32], "data_offsets": [0, 8320]},
                  ...}
    [the rest] the data: each tensor's raw little-endian bytes in C order, back to back

``data_offsets`` are ``[begin, end)`` byte positions inside the data part; ``__metadata__``
(optional) maps strings to strings. There is no code and no pickle in the format: reading one is
parsing JSON and slicing bytes, so a file from a stranger is safe -- provided the reader distrusts
every number. ``_parse`` checks, before it touches a data byte, that:

- the header length fits in the file (and under 100 MB);
- the header is UTF-8 JSON holding an object, without duplicate keys;
- every entry has a known dtype, a shape of non-negative ints, and two offsets with
  ``end - begin == prod(shape) * itemsize``;
- the tensors tile the data exactly: sorted by offset, each starts where the previous one ended,
  the first at 0 and the last at the end of the file, so none overlaps another or leaves a hole.

Any failure raises ``SafetensorsError`` naming the file and the problem.

Dtypes: F64, F32, F16, I64, I32, I16, I8, U64, U32, U16, U8 and BOOL round-trip exactly. BF16 is
read-only (NumPy has no bfloat16): it is upcast to float32 exactly, by placing its 16 bits above 16
zero bits. F8 variants are refused with a clear error.

Writing: tensors appear in the header in the order given (so ``load`` returns them in that order),
but are laid out in the data by descending item size (stable), which keeps every tensor aligned to
its own item size because the data starts on an 8-byte boundary. ``save`` writes through
``atomic_write``.

Reading: ``load`` memory-maps the file copy-on-write (``mmap.ACCESS_COPY``): tensors are zero-copy
views that read pages lazily, and writing to one changes only this process's private copy of those
pages, never the file. The mapping lives as long as any tensor from it; replace the file with an
atomic rename (as ``save`` does), never by truncating it in place, or a mapped reader may crash.
Two cases copy instead of viewing: BF16 (converted) and a tensor that would be misaligned in memory
(a file from a writer that does not align). ``load(path, mmap=False)`` reads the whole
file into memory instead of mapping it.

Read next: ``minillm/io/checkpoint.py`` (a whole training state in one such file).
"""

from __future__ import annotations

import json
import math
import mmap as _mmap
import os
from collections.abc import Mapping
from typing import Any, Literal, overload

import numpy as np

from minillm.io.atomic import atomic_write
from minillm.tensor import Tensor

MAX_HEADER_BYTES = 100_000_000  # the official reader's limit; a longer header is hostile or broken

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # raw bits; converted to float32 on load
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# NumPy (kind, itemsize) -> safetensors name, for writing; BF16 has no NumPy dtype to come from.
_CODES: dict[tuple[str, int], str] = {
    (dt.kind, dt.itemsize): code for code, dt in _DTYPES.items() if code != "BF16"
}
_ENTRY_FIELDS = ("dtype", "shape", "data_offsets")


class SafetensorsError(ValueError):
    """A file (or bytes) that is not valid safetensors; the message names it and the problem."""


# ------------------------------------------------------------------------------------------ writing
def _to_array(name: Any, value: Any) -> np.ndarray:
    """Check one ``name -> value`` pair and return its data as a C-ordered little-endian array."""
    if not isinstance(name, str):
        raise TypeError(f"save: tensor names must be str, got {type(name).__name__} {name!r}")
    if name == "__metadata__":
        raise ValueError("save: '__metadata__' is reserved for metadata; pass metadata= instead")
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(
            f"save: value for {name!r} is a {type(value).__name__}; save stores Tensors and NumPy "
            f"arrays (use save_checkpoint for nested state with numbers and strings)"
        )
    arr = np.asarray(value)
    if (arr.dtype.kind, arr.dtype.itemsize) not in _CODES:
        raise TypeError(
            f"save: tensor {name!r} has dtype {arr.dtype}, which safetensors cannot store "
            f"(supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)"
        )
    return arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"save: metadata must be a dict of str to str, got {type(metadata).__name__}"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"save: metadata must map str to str, but {key!r} -> {value!r} "
                f"({type(key).__name__} -> {type(value).__name__}); use json.dumps for structure"
            )
    return dict(metadata)


def _plan(
    tensors: Mapping[str, Any], metadata: Mapping[str, str] | None
) -> tuple[bytes, list[np.ndarray]]:
    """The padded header (with its 8-byte length prefix) and the arrays in data order."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save: expected a dict of name -> tensor, got {type(tensors).__name__}")
    arrays = {name: _to_array(name, value) for name, value in tensors.items()}
    # Largest item size first (stable): the data starts 8-aligned, so every tensor stays aligned.
    layout = sorted(arrays, key=lambda name: -arrays[name].dtype.itemsize)
    offsets, cursor = {}, 0
    for name in layout:
        offsets[name] = [cursor, cursor + arrays[name].nbytes]
        cursor += arrays[name].nbytes
    header: dict[str, Any] = {}
    meta = _check_metadata(metadata)
    if meta is not None:
        header["__metadata__"] = meta
    for name, arr in arrays.items():
        code = _CODES[arr.dtype.kind, arr.dtype.itemsize]
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": offsets[name]}
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, [arrays[name] for name in layout]


def _raw_bytes(arr: np.ndarray) -> np.ndarray:
    """A uint8 view of a C-contiguous array's bytes (no copy), writable to a file as a buffer."""
    return arr.reshape(-1).view(np.uint8)


def save(
    tensors: Mapping[str, Any],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``{name: Tensor or ndarray}`` to ``path`` as safetensors, atomically.

    Args:
        tensors: Names to Tensors or NumPy arrays (any supported dtype, any layout).
        path: The file to create or replace.
        metadata: Optional ``{str: str}`` stored in the header's ``__metadata__``.

    Raises:
        TypeError: For a non-str name, a value that is not an array, an unsupported dtype or
            non-string metadata.

    >>> import os, tempfile, numpy as np, minillm
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> save({"w": minillm.ones(2, 3), "ids": np.arange(4)}, path, metadata={"note": "demo"})
    >>> tensors, meta = load(path, with_metadata=True)
    >>> tensors["w"].shape, tensors["ids"].tolist(), meta
    ((2, 3), [0, 1, 2, 3], {'note': 'demo'})
    """
    header, arrays = _plan(tensors, metadata)
    with atomic_write(path) as f:
        f.write(header)
        for arr in arrays:
            f.write(_raw_bytes(arr))


def save_bytes(tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors encoding of ``tensors`` as bytes (what ``save`` writes to a file).

    >>> import numpy as np
    >>> sorted(load_bytes(save_bytes({"x": np.zeros(3, np.int8)})))
    ['x']
    """
    header, arrays = _plan(tensors, metadata)
    return b"".join([header, *(_raw_bytes(arr).tobytes() for arr in arrays)])


save_file = save


# ------------------------------------------------------------------------------------------ reading
def _fail(source: str, problem: str) -> SafetensorsError:
    return SafetensorsError(f"{source}: {problem}")


def _is_count(x: Any) -> bool:
    """A JSON non-negative integer (``type`` rather than ``isinstance``: JSON ``true`` is no 1)."""
    return type(x) is int and x >= 0


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, refusing repeated keys (``json`` would silently keep the last one)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _decode_header(raw: bytes, source: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(source, f"header is not UTF-8 (byte {e.start + 8} of the file)") from None
    try:
        header = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except RecursionError:
        raise _fail(source, "header JSON is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, duplicate keys, NaN, ints too long to parse
        raise _fail(source, f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _fail(source, f"header must be a JSON object, got {type(header).__name__}")
    return header


def _check_entry(
    name: str, info: Any, data_len: int, source: str
) -> tuple[str, tuple[int, ...], int, int]:
    """Validate one header entry; return ``(dtype code, shape, begin, end)``."""
    if not isinstance(info, dict) or any(field not in info for field in _ENTRY_FIELDS):
        raise _fail(
            source, f"tensor {name!r}: entry must be an object with dtype, shape and data_offsets"
        )
    code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise _fail(
            source, f"tensor {name!r}: unknown dtype {code!r} (known: {', '.join(_DTYPES)})"
        )
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise _fail(
            source, f"tensor {name!r}: shape must be a list of non-negative ints, not {shape!r}"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise _fail(
            source, f"tensor {name!r}: data_offsets must be two non-negative ints, not {offsets!r}"
        )
    begin, end = offsets
    if begin > end or end > data_len:
        raise _fail(
            source,
            f"tensor {name!r}: data_offsets [{begin}, {end}] lie outside the data "
            f"(which is {data_len} bytes)",
        )
    nbytes = math.prod(shape) * _DTYPES[code].itemsize  # Python ints: no overflow to exploit
    if end - begin != nbytes:
        raise _fail(
            source,
            f"tensor {name!r}: shape {shape} of {code} needs {nbytes} bytes but data_offsets "
            f"[{begin}, {end}] span {end - begin}",
        )
    return code, tuple(shape), begin, end


def _check_tiling(
    entries: dict[str, tuple[str, tuple[int, ...], int, int]], data_len: int, source: str
) -> None:
    """The tensors must cover the data exactly once: no overlap, no hole, nothing left over."""
    cursor, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if begin < cursor:
            raise _fail(source, f"tensor {name!r} at byte {begin} overlaps tensor {previous!r}")
        if begin > cursor:
            raise _fail(source, f"bytes {cursor}..{begin} of the data belong to no tensor (a hole)")
        cursor, previous = end, name
    if cursor != data_len:
        raise _fail(
            source, f"bytes {cursor}..{data_len} at the end of the data belong to no tensor"
        )


def _check_metadata_field(meta: Any, source: str) -> dict[str, str]:
    if meta is None:
        return {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _fail(source, f"__metadata__ must be an object of strings, not {meta!r:.200}")
    return meta


def _tensor(
    buf: np.ndarray, start: int, code: str, shape: tuple[int, ...], source: str, name: str
) -> np.ndarray:
    """The array for one validated entry whose bytes are ``buf[start : start + nbytes]``."""
    dtype = _DTYPES[code]
    raw = buf[start : start + math.prod(shape) * dtype.itemsize]
    arr = raw.view(dtype)
    if not arr.flags.aligned:  # a writer that does not align: copy rather than hand out odd views
        arr = arr.copy()
    if code == "BF16":  # bfloat16 is the top half of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    elif code == "BOOL" and arr.size and raw.max() > 1:
        raise _fail(source, f"tensor {name!r}: BOOL bytes must be 0 or 1, found {raw.max()}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    try:
        return arr.reshape(shape)
    except ValueError as e:  # e.g. 70 dimensions, or an empty shape with a 2**62 extent
        problem = f"tensor {name!r}: NumPy cannot represent shape {list(shape)} ({e})"
        raise _fail(source, problem) from None


def _parse(buf: np.ndarray, source: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Validate the whole layout of a safetensors buffer, then cut the tensors out of it."""
    size = buf.size
    if size < 8:
        raise _fail(
            source, f"{size} bytes is too short for safetensors (the header length alone is 8)"
        )
    n = int.from_bytes(buf[:8].tobytes(), "little")
    if n > MAX_HEADER_BYTES:
        raise _fail(source, f"header length {n} is over the {MAX_HEADER_BYTES}-byte limit")
    if n > size - 8:
        raise _fail(source, f"header length {n} is larger than the {size - 8} bytes after it")
    header = _decode_header(buf[8 : 8 + n].tobytes(), source)
    metadata = _check_metadata_field(header.pop("__metadata__", None), source)
    data_start, data_len = 8 + n, size - 8 - n
    entries = {name: _check_entry(name, info, data_len, source) for name, info in header.items()}
    _check_tiling(entries, data_len, source)
    tensors = {
        name: Tensor(_tensor(buf, data_start + begin, code, shape, source, name))
        for name, (code, shape, begin, _) in entries.items()
    }
    return tensors, metadata


@overload
def load(
    path: str | os.PathLike[str], *, with_metadata: Literal[False] = ..., mmap: bool = ...
) -> dict[str, Tensor]: ...
@overload
def load(
    path: str | os.PathLike[str], *, with_metadata: Literal[True], mmap: bool = ...
) -> tuple[dict[str, Tensor], dict[str, str]]: ...
def load(
    path: str | os.PathLike[str], *, with_metadata: bool = False, mmap: bool = True
) -> dict[str, Tensor] | tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file into ``{name: Tensor}``, checking it fully first.

    With ``mmap=True`` (the default) the tensors are copy-on-write views of a memory map: loading
    is instant, pages are read on first touch, and writing to a tensor never changes the file. With
    ``mmap=False`` the file is read into memory. Either way tensors are writable leaves.

    Args:
        path: The file to read.
        with_metadata: Also return the header's ``__metadata__`` (``{}`` when absent).
        mmap: Memory-map the file rather than read it.

    Returns:
        The tensors in header order, or ``(tensors, metadata)`` with ``with_metadata=True``.

    Raises:
        SafetensorsError: The file is not valid safetensors; the message says why.

    >>> import os, tempfile, minillm
    >>> path = os.path.join(tempfile.mkdtemp(), "x.safetensors")
    >>> save({"x": minillm.arange(6).reshape(2, 3)}, path)
    >>> load(path)["x"].tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    source = os.fspath(path)
    with open(source, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8 or not mmap:
            data = bytearray(size)  # a bytearray, so the arrays made from it are writable
            if f.readinto(data) != size:
                raise _fail(source, "the file changed size while it was being read")
            buf = np.frombuffer(data, dtype=np.uint8)
        else:
            buf = np.frombuffer(_mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_COPY), np.uint8)
    tensors, metadata = _parse(buf, source)
    return (tensors, metadata) if with_metadata else tensors


@overload
def load_bytes(data: bytes, *, with_metadata: Literal[False] = ...) -> dict[str, Tensor]: ...
@overload
def load_bytes(
    data: bytes, *, with_metadata: Literal[True]
) -> tuple[dict[str, Tensor], dict[str, str]]: ...
def load_bytes(
    data: bytes, *, with_metadata: bool = False
) -> dict[str, Tensor] | tuple[dict[str, Tensor], dict[str, str]]:
    """Parse safetensors bytes (with the checks of ``load``); the tensors are writable copies.

    >>> load_bytes(b"\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}      ")
    {}
    """
    buf = np.frombuffer(bytearray(data), dtype=np.uint8)
    tensors, metadata = _parse(buf, "<bytes>")
    return (tensors, metadata) if with_metadata else tensors


load_file = load
