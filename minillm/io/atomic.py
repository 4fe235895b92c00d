"""Atomic file replacement: a reader sees the old file or the whole new one, never half of either.

Writing a checkpoint in place is dangerous: a crash, a full disk or Ctrl-C part-way leaves a file
that is neither the old checkpoint nor the new one, and the run's only copy is gone.
``atomic_write`` avoids that with the classic sequence (``write_json`` is it for a JSON file):

1. create a temporary file in the *same directory* (``os.replace`` is atomic only within one file
   system, and the same directory guarantees that);
2. write the content, then ``flush`` (Python's buffer -> the OS) and ``fsync`` (the OS -> the disk),
   so the bytes are durable before anything points at them;
3. ``os.replace(tmp, path)``: one atomic rename swaps the new file in;
4. ``fsync`` the directory, so the rename itself survives a power cut (POSIX only; Windows has no
   directory handles to sync).

If anything raises before step 3, the temporary file is removed and ``path`` is untouched.
Pitfall: a ``path`` that is a symbolic link is itself replaced by the new regular file.

Read next: ``minillm/io/safetensors.py`` (the file format written through this).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import IO, Any


def _fsync_directory(directory: str) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be opened)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces ``path`` only when the block succeeds.

    Args:
        path: The file to create or replace.
        mode: ``"wb"`` (bytes) or ``"w"`` (text).
        encoding: Text encoding for mode ``"w"`` (UTF-8 when omitted).

    Yields:
        The open temporary file.

    Raises:
        ValueError: For a mode other than ``"wb"`` or ``"w"``.
        FileNotFoundError: The directory of ``path`` does not exist.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> with atomic_write(path, "w") as f:
    ...     _ = f.write("hello")
    >>> open(path).read()
    'hello'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"atomic_write: cannot write {path!r}: no directory {directory!r}")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, exactly as a plain open() would;
    # tempfile.mkstemp would make every checkpoint private (0o600) instead.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        text_encoding = (encoding or "utf-8") if mode == "w" else None
        with os.fdopen(fd, mode, encoding=text_encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def write_json(path: str | os.PathLike[str], data: Any, indent: int | None = 1) -> None:
    """Write ``data`` as UTF-8 JSON (non-ASCII kept as is) to ``path`` with ``atomic_write``.

    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.json")
    >>> write_json(path, {"a": [1, "é"]})
    >>> json.load(open(path, encoding="utf-8"))
    {'a': [1, 'é']}
    """
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=indent)
        f.write("\n")
