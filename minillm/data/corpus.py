"""Text corpora for language modelling: the built-in one, and any UTF-8 file or folder of files.

The built-in corpus needs no download and exists wherever CPython does: the Python language
reference topics shipped in ``pydoc_data.topics`` (about 0.47 MB of English prose with code
samples), joined in sorted key order so every machine builds the same text.

Read next: ``minillm/data/windows.py`` (token ids -> training batches).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BUILTIN_NAME = "python-docs"


def builtin_corpus() -> str:
    """The Python language reference topics, as one string.

    >>> text = builtin_corpus()
    >>> len(text) > 400_000 and "lambda" in text
    True
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics))


# Folders that hold tools' caches, never text someone wrote.
CACHE_DIRS = frozenset({"__pycache__", "node_modules"})
RUN_MARKERS = ("train.lock", "ckpt.safetensors")  # a minillm run's folder (minillm/rundir.py)


def _read_utf8(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not valid UTF-8 at byte offset {e.start} ({e.reason}, byte "
            f"{raw[e.start : e.start + 1]!r}); minillm reads UTF-8 text only"
        ) from None


def _text_of(path: Path) -> str | None:
    """A file's text, or None for a binary file (a NUL byte, or bytes that are not UTF-8)."""
    raw = path.read_bytes()
    if b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass
class Corpus:
    """The training text and where it came from; ``skipped`` says what a folder left out."""

    text: str
    name: str
    files: int = 1
    skipped: list[str] = field(default_factory=list)

    def note(self) -> str | None:
        """One line about what was left out of a folder, or None when nothing was."""
        if not self.skipped:
            return None
        shown = ", ".join(self.skipped[:3]) + (", ..." if len(self.skipped) > 3 else "")
        return (
            f"corpus {self.name}: read {self.files} text files, skipped {len(self.skipped)} "
            f"binary files or cache folders ({shown}); choose files with --include GLOB"
        )


def _listing(root: Path, skip: Path | None, include: list[str]) -> tuple[list[Path], list[str]]:
    """The candidate files below ``root`` in sorted order, and the folders left out.

    Hidden files and folders are ignored silently; cache folders and other minillm runs' folders
    are reported, since a user may wonder where their text went.
    """
    files, left_out = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in list(dirnames):
            sub = here / name
            rel = str(sub.relative_to(root)) + "/"
            if name.startswith(".") or (skip is not None and sub.resolve() == skip):
                dirnames.remove(name)
            elif name in CACHE_DIRS or any((sub / m).exists() for m in RUN_MARKERS):
                dirnames.remove(name)
                left_out.append(rel)
        for name in filenames:
            rel = (here / name).relative_to(root)
            if name.startswith(".") or not (here / name).is_file():
                continue
            if not include or any(rel.match(g) for g in include):
                files.append(here / name)
    return sorted(files), sorted(left_out)


def load_corpus(
    path: str | Path | None = None,
    exclude: str | Path | None = None,
    include: str | None = None,
) -> Corpus:
    """The built-in corpus (None), a file's text, or the text files of a folder.

    A folder contributes every regular, non-hidden file below it, in sorted path order, separated by
    blank lines. Left out, and listed in ``skipped``: binary files (a NUL byte or invalid UTF-8),
    cache folders (``__pycache__``, ``node_modules``) and other minillm runs' folders. Anything
    under ``exclude`` (the run's own output folder) is left out silently. ``include`` keeps only
    the files whose path relative to the folder matches one of its comma-separated globs
    (``"*.py,*.md"``; ``*.py`` matches at any depth).

    A single file must be UTF-8 (an error names the byte offset otherwise). A missing path or a
    corpus with no text raises.
    """
    if path is None:
        return Corpus(builtin_corpus(), BUILTIN_NAME)
    if not str(path).strip():
        raise ValueError(
            "--data is empty; give a file or folder (or leave it out for the built-in)"
        )
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"corpus path {str(root)!r} does not exist")
    if not root.is_dir():
        if include:
            raise ValueError(
                f"--include picks files in a folder, but --data {str(root)!r} is a file"
            )
        text = _read_utf8(root)
        if not text.strip():
            raise ValueError(f"corpus {str(root)!r} is empty")
        return Corpus(text, str(root))
    globs = [g.strip() for g in (include or "").split(",") if g.strip()]
    skip = None if exclude is None else Path(exclude).resolve()
    files, skipped = _listing(root, skip, globs)
    texts = []
    for p in files:
        text = _text_of(p)
        if text is None:
            skipped.append(str(p.relative_to(root)))
        else:
            texts.append(text)
    if not texts:
        which = f" matching --include {include!r}" if globs else ""
        raise ValueError(f"corpus folder {str(root)!r} contains no text files{which}")
    text = "\n\n".join(texts)
    if not text.strip():
        raise ValueError(f"corpus {str(root)!r} is empty")
    return Corpus(text, str(root), files=len(texts), skipped=skipped)
