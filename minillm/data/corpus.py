"""Text corpora for language modelling: the built-in one, and any UTF-8 file or folder of files.

The built-in corpus needs no download and exists wherever CPython does: the Python language
reference topics shipped in ``pydoc_data.topics`` (about 0.47 MB of English prose with code
samples), joined in sorted key order so every machine builds the same text.

Read next: ``minillm/data/windows.py`` (token ids -> training batches).
"""

from __future__ import annotations

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


def _read_utf8(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not valid UTF-8 at byte offset {e.start} ({e.reason}, byte "
            f"{raw[e.start : e.start + 1]!r}); minillm reads UTF-8 text only"
        ) from None


def read_corpus(
    path: str | Path | None = None, exclude: str | Path | None = None
) -> tuple[str, str]:
    """Return ``(text, name)``: the built-in corpus (None), a file's text, or a folder's files.

    A folder contributes every regular, non-hidden file below it, in sorted path order, separated by
    blank lines, leaving out anything under ``exclude`` (a run's own output folder). A missing path,
    an empty corpus or invalid UTF-8 (named by file and byte offset) raises.
    """
    if path is None:
        return builtin_corpus(), BUILTIN_NAME
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"corpus path {str(root)!r} does not exist")
    if root.is_dir():
        skip = None if exclude is None else Path(exclude).resolve()
        files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
            and not (skip is not None and p.resolve().is_relative_to(skip))
        )
        if not files:
            raise ValueError(f"corpus folder {str(root)!r} contains no files")
        text = "\n\n".join(_read_utf8(p) for p in files)
    else:
        text = _read_utf8(root)
    if not text.strip():
        raise ValueError(f"corpus {str(root)!r} is empty")
    return text, str(root)
