"""Compressed run folders that ``minillm generate`` loads like any other.

``write_run(model, src, dst, note)`` writes ``dst/`` with the source run's ``config.json`` and
``tokenizer.json`` (the same bytes), the model alone in ``ckpt.safetensors`` (no optimizer: the
folder is for generation) and ``compress.json``, a note of what was done. For an int8 model the
checkpoint holds each quantized layer's ``weight_int8`` (int8), ``weight_scale`` and ``bias``
(float32) under the layer's own name, and the note says ``"quantized": "int8"``;
``prepare_model(model, run_dir)`` reads the note and gives a freshly built float GPT the int8
layers, so that the checkpoint loads into it. A pruned model needs nothing: its zeros are
ordinary weights (``prune.remove`` first), stored as they are.

Every file is written atomically (``minillm/io/atomic.py``).

Read next: ``command.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from minillm import io
from minillm.compress.dynamic import quantize_dynamic

NOTE = "compress.json"
_COPIED = ("config.json", "tokenizer.json")


def write_run(model: Any, src: Path, dst: Path, note: dict[str, Any]) -> None:
    """Write ``dst`` as a run folder holding ``model`` (see the module docstring)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        data = (src / name).read_bytes()
        with io.atomic_write(dst / name, "wb") as f:
            f.write(data)
    io.save_checkpoint(dst / "ckpt.safetensors", model=model)
    io.write_json(dst / NOTE, {"source": str(src), **note})


def read_note(run_dir: Path) -> dict[str, Any]:
    """The folder's ``compress.json`` ({} for an ordinary run)."""
    path = Path(run_dir) / NOTE
    if not path.exists():
        return {}
    try:
        note = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(note, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return note


def prepare_model(model: Any, run_dir: Path) -> Any:
    """``model`` shaped for the checkpoint in ``run_dir``: int8 layers where it was quantized."""
    kind = read_note(run_dir).get("quantized")
    if kind is None:
        return model
    if kind != "int8":
        raise ValueError(f"{Path(run_dir) / NOTE}: unknown quantization {kind!r} (expected int8)")
    return quantize_dynamic(model, inplace=True)
