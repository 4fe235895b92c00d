"""Training checkpoints: model, optimizer, scheduler, RNG and data position in one safetensors file.

A training state is a tree: dicts (with str *or int* keys, as in an optimizer's ``state``), lists,
tuples, numbers, strings -- and arrays at the leaves. ``save_tree`` splits it in two:

- every Tensor or ndarray becomes a safetensors tensor named by its path in the tree
  (``optimizer/state/0/exp_avg``; a clash gets a ``#1`` suffix), and
- everything else becomes one JSON document stored in the header's ``__metadata__`` under
  ``"minillm"``, with a format version, where each array is replaced by a reference to its tensor.

JSON has no int keys, tuples, NaN or arrays, so those are tagged with a one-key object::

    {"__tensor__": "model/w"}                a Tensor
    {"__ndarray__": "rng/numpy/state/key"}   an ndarray
    {"__tuple__": [...]}                     a tuple
    {"__dict__": [[0, {...}], [1, {...}]]}   a dict with non-str keys, as [key, value] pairs
    {"__float__": "inf"}                     nan, -nan (its sign bit kept), inf or -inf
    {"__numpy__": ["<f4", 0.5]}              a NumPy scalar (dtype, value)

Plain dicts with str keys stay plain JSON objects. Python floats round-trip exactly (``json`` writes
the shortest repr that parses back to the same double) and ints of any size survive (RNG states are
128-bit). Reading only ever parses JSON and slices bytes: no pickle, nothing executed.

``save_checkpoint`` stores ``{model, optimizer, scheduler, step, data_state, extra, rng}`` where
``rng`` holds minillm's generator, NumPy's legacy global generator and Python's ``random`` (code
outside minillm may use either), so a resumed run draws the same numbers. Objects are duck-typed:
anything with ``state_dict()`` / ``load_state_dict(sd)`` works. The file is written atomically.
``load_checkpoint`` reads the file into memory (no memory map), so a run that keeps loaded optimizer
state can later replace the same file safely on any operating system.

Read next: ``minillm/data/dataloader.py`` (the ``data_state`` to resume mid-epoch).
"""

from __future__ import annotations

import json
import math
import os
import random as _pyrandom
from typing import Any

import numpy as np

from minillm import random as _random
from minillm.io.safetensors import load, save
from minillm.tensor import Tensor

FORMAT_VERSION = 1
METADATA_KEY = "minillm"  # the __metadata__ entry holding the JSON document
_TAGS = frozenset({"__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__", "__numpy__"})
_COMPONENTS = ("model", "optimizer", "scheduler")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read back: not a minillm checkpoint, newer format, malformed."""


# ------------------------------------------------------------------------------------- tree codec
def _child(path: str, key: Any) -> str:
    return f"{path}/{key}" if path else str(key)


def _encode(obj: Any, path: str, tensors: dict[str, Any]) -> Any:
    """``obj`` as JSON-able data; its arrays are moved into ``tensors`` under path-like names."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (Tensor, np.ndarray)):
        name = base = path or "tensor"
        suffix = 0
        while name in tensors:  # "a/b" as a key and {"a": {"b": ...}} would otherwise collide
            suffix += 1
            name = f"{base}#{suffix}"
        tensors[name] = obj
        return {"__tensor__" if isinstance(obj, Tensor) else "__ndarray__": name}
    if isinstance(obj, np.generic):  # before float/int: np.float64 is a subclass of float
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint: cannot store a NumPy {obj.dtype} scalar at {path!r}")
        return {"__numpy__": [obj.dtype.str, _encode(obj.item(), path, tensors)]}
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        negative_nan = math.isnan(obj) and math.copysign(1.0, obj) < 0  # repr() drops its sign
        return {"__float__": "-nan" if negative_nan else repr(float(obj))}
    if isinstance(obj, list):
        return [_encode(v, _child(path, i), tensors) for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, _child(path, i), tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        plain = all(type(k) is str for k in obj) and not (len(obj) == 1 and set(obj) <= _TAGS)
        if plain:
            return {k: _encode(v, _child(path, k), tensors) for k, v in obj.items()}
        pairs = []
        for k, v in obj.items():
            if isinstance(k, (Tensor, np.ndarray)):
                raise TypeError(f"checkpoint: an array cannot be a dict key (at {path!r})")
            pairs.append([_encode(k, path, tensors), _encode(v, _child(path, k), tensors)])
        return {"__dict__": pairs}
    raise TypeError(
        f"checkpoint: cannot store a {type(obj).__name__} at {path or '/'!r}; checkpoints "
        f"hold Tensors, ndarrays, numbers, strings, None, and lists/tuples/dicts of them"
    )


def _decode(node: Any, tensors: dict[str, Tensor], where: str) -> Any:
    """Invert ``_encode``; malformed input raises CheckpointError naming the place."""
    if isinstance(node, list):
        return [_decode(v, tensors, f"{where}/{i}") for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    if len(node) != 1 or not set(node) <= _TAGS:
        return {k: _decode(v, tensors, f"{where}/{k}") for k, v in node.items()}
    ((tag, value),) = node.items()
    try:
        return _decode_tagged(tag, value, tensors, where)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as e:  # hand-edited or corrupted
        problem = f"checkpoint tree at {where or '/'!r}: bad {tag} entry ({e})"
        raise CheckpointError(problem) from None


def _decode_tagged(tag: str, value: Any, tensors: dict[str, Tensor], where: str) -> Any:
    if tag in ("__tensor__", "__ndarray__"):
        if not isinstance(value, str) or value not in tensors:
            raise CheckpointError(f"checkpoint tree at {where!r}: no tensor named {value!r}")
        return tensors[value] if tag == "__tensor__" else tensors[value].data
    if tag in ("__tuple__", "__dict__") and not isinstance(value, list):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    if tag == "__tuple__":
        return tuple(_decode(value, tensors, where))
    if tag == "__dict__":
        out = {}
        for k, v in value:
            key = _decode(k, tensors, where)
            out[key] = _decode(v, tensors, f"{where}/{key}")
        return out
    if tag == "__float__":
        if value not in ("nan", "-nan", "inf", "-inf"):
            raise ValueError(f"{value!r} is not nan, -nan, inf or -inf")
        return float(value)
    dtype_str, item = value  # "__numpy__"
    dtype = np.dtype(dtype_str)
    if dtype.kind not in "biuf":
        raise ValueError(f"NumPy scalars of dtype {dtype} are not stored in checkpoints")
    return dtype.type(_decode(item, tensors, where))


def save_tree(tree: Any, path: str | os.PathLike[str], *, kind: str = "tree") -> None:
    """Save a nested structure of dicts, lists, tuples, scalars and arrays to one safetensors file.

    >>> import os, tempfile, minillm
    >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> save_tree({"w": minillm.ones(2), "state": {0: (1, float("inf"))}}, path)
    >>> load_tree(path)["state"]
    {0: (1, inf)}
    """
    tensors: dict[str, Any] = {}
    doc = {"format_version": FORMAT_VERSION, "kind": kind, "tree": _encode(tree, "", tensors)}
    save(tensors, path, metadata={METADATA_KEY: json.dumps(doc, allow_nan=False)})


def load_tree(path: str | os.PathLike[str], *, kind: str | None = None) -> Any:
    """Read what ``save_tree`` wrote; ``kind`` (if given) must match the saved kind.

    Raises:
        SafetensorsError: The file is not valid safetensors.
        CheckpointError: It is, but holds no readable minillm tree (or one of another kind).
    """
    source = os.fspath(path)
    tensors, metadata = load(source, with_metadata=True, mmap=False)
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{source}: not a minillm checkpoint (no {METADATA_KEY!r} metadata)")
    try:
        doc = json.loads(metadata[METADATA_KEY])
    except (ValueError, RecursionError) as e:
        raise CheckpointError(
            f"{source}: the {METADATA_KEY!r} metadata is not JSON ({e})"
        ) from None
    if not isinstance(doc, dict) or not {"format_version", "kind", "tree"} <= set(doc):
        raise CheckpointError(f"{source}: the {METADATA_KEY!r} metadata is not a minillm document")
    version = doc["format_version"]
    if type(version) is not int or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: format version {version!r}; this minillm reads up to {FORMAT_VERSION}"
        )
    if kind is not None and doc["kind"] != kind:
        raise CheckpointError(f"{source}: holds a {doc['kind']!r}, not a {kind!r}")
    try:
        return _decode(doc["tree"], tensors, "")
    except RecursionError:
        raise CheckpointError(f"{source}: checkpoint tree nested too deeply") from None
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None


# -------------------------------------------------------------------------------- checkpoints
def _rng_states() -> dict[str, Any]:
    return {
        "minillm": _random.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": _pyrandom.getstate(),
    }


def _restore_rng(states: dict[str, Any]) -> None:
    _random.set_rng_state(states["minillm"])
    np.random.set_state(states["numpy"])
    _pyrandom.setstate(states["python"])


def _first_problem(error: BaseException) -> str:
    """The first problem a ``load_state_dict`` error lists, and how many more (one line)."""
    lines = [ln.strip() for ln in str(error).split("\n") if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(error).__name__
    details = lines[1:]  # after "Error(s) in loading state_dict for ...:"
    first = details[0]
    for lead in ("Missing key(s) in state_dict: ", "Unexpected key(s) in state_dict: "):
        if first.startswith(lead):  # one key, not all sixty
            keys = first[len(lead) :].rstrip(".").split(", ")
            first = f"{lead}{keys[0]}" + (f" and {len(keys) - 1} more" if len(keys) > 1 else "")
    more = f" (and {len(details) - 1} more problems)" if len(details) > 1 else ""
    return first + more


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    step: int = 0,
    data_state: Any = None,
    extra: Any = None,
) -> None:
    """Save everything needed to resume training bit-exactly, atomically, to one file.

    Args:
        path: The checkpoint file (conventionally ``*.safetensors``) to create or replace.
        model: Anything with ``state_dict()`` (a flat ``{name: Tensor}``), or None.
        optimizer: Anything with ``state_dict()`` (PyTorch's ``{"state", "param_groups"}``).
        scheduler: Anything with ``state_dict()``, or None.
        step: The number of optimizer steps taken so far.
        data_state: Where the data stream is, e.g. ``DataLoader.state_dict()``.
        extra: Any other tree of arrays and plain values (config, best loss, ...).

    The random states of minillm, NumPy's legacy global generator and ``random`` are saved too.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> save_checkpoint(path, step=7, extra={"best": 1.5})
    >>> info = load_checkpoint(path)
    >>> info["step"], info["extra"]
    (7, {'best': 1.5})
    """
    tree = {
        "step": step,
        **{
            name: None if obj is None else obj.state_dict()
            for name, obj in zip(_COMPONENTS, (model, optimizer, scheduler))
        },
        "data_state": data_state,
        "extra": extra,
        "rng": _rng_states(),
    }
    save_tree(tree, path, kind="checkpoint")


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore a checkpoint written by ``save_checkpoint`` into the given objects.

    Each given object gets ``load_state_dict(saved_state)``; the random generators are restored
    unless ``restore_rng=False``.

    Returns:
        ``{"step", "data_state", "extra", "model", "optimizer", "scheduler"}``: the saved values
        (the last three are the raw state dicts, or None where none was saved).

    Raises:
        SafetensorsError: The file is not valid safetensors.
        CheckpointError: Not a minillm checkpoint, an object was given whose state is absent,
            or a saved state does not fit its object (the first mismatch is named, on one line).
    """
    tree = load_tree(path, kind="checkpoint")
    if not isinstance(tree, dict) or not {"step", "rng", *_COMPONENTS} <= set(tree):
        raise CheckpointError(f"{os.fspath(path)}: checkpoint tree lacks its standard fields")
    for name, obj in zip(_COMPONENTS, (model, optimizer, scheduler)):
        if obj is None:
            continue
        if tree[name] is None:
            raise CheckpointError(
                f"{os.fspath(path)}: {name} state was not saved, but one was given"
            )
        try:
            obj.load_state_dict(tree[name])
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError) as e:
            raise CheckpointError(
                f"{os.fspath(path)}: the saved {name} state does not fit this "
                f"{type(obj).__name__}: {_first_problem(e)}"
            ) from None
    if restore_rng:
        try:
            _restore_rng(tree["rng"])
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as e:
            raise CheckpointError(f"{os.fspath(path)}: bad random-generator state ({e})") from None
    keys = ("step", "data_state", "extra", *_COMPONENTS)
    return {key: tree.get(key) for key in keys}
