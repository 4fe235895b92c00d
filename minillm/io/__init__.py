"""Saving and loading: the safetensors format, atomic file replacement and training checkpoints.

Read in this order: ``atomic.py`` (replace a file so a crash never leaves half of it),
``safetensors.py`` (the file format, and the checks that make loading a stranger's file safe),
``checkpoint.py`` (a whole training state -- nested dicts, int keys, RNG states -- in one file).
"""

from __future__ import annotations

from minillm.io.atomic import atomic_write, write_json
from minillm.io.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_tree,
    save_checkpoint,
    save_tree,
)
from minillm.io.safetensors import (
    SafetensorsError,
    load,
    load_bytes,
    load_file,
    save,
    save_bytes,
    save_file,
)

__all__ = [
    "CheckpointError",
    "SafetensorsError",
    "atomic_write",
    "load",
    "load_bytes",
    "load_checkpoint",
    "load_file",
    "load_tree",
    "save",
    "save_bytes",
    "save_checkpoint",
    "save_file",
    "save_tree",
    "write_json",
]
