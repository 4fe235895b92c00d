"""What every tokenizer shares: the interface, and saving/loading as JSON.

A tokenizer turns text into a list of integer ids (``encode``) and back (``decode``); ``vocab_size``
bounds the ids, so a model knows how many rows its embedding table needs. Each concrete tokenizer
describes itself as a plain dict (``to_dict``) with a ``"type"`` field, and ``save`` writes that
dict as JSON. JSON rather than pickle: a tokenizer file is data a person can read, and loading it
can never run code.

Saving is atomic: the JSON goes to a temporary file in the same folder, is flushed and fsynced to
disk, and only then renamed over the target with ``os.replace``. A crash mid-save leaves the old
file intact instead of half a file. Loading checks everything and names the file and the problem
(:class:`TokenizerFileError`).

Read next: ``char.py`` (the simplest tokenizer), then ``bpe.py`` (byte-level BPE).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from minillm.io.atomic import write_json

# Bumped when a saved file's layout changes, so an old reader refuses a file it cannot understand.
FORMAT_VERSION = 1

T = TypeVar("T", bound="Tokenizer")


class TokenizerFileError(ValueError):
    """A tokenizer file that cannot be read: its message names the file and what is wrong."""


class Tokenizer(ABC):
    """The interface every tokenizer implements.

    Subclasses set ``type_name`` (the ``"type"`` written in their JSON files) and implement
    ``encode``, ``decode``, ``vocab_size``, ``to_dict`` and ``_from_dict``; ``save`` and ``load``
    come from here.
    """

    type_name: ClassVar[str]

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Turn ``text`` into token ids, each in ``range(vocab_size)``."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Turn token ids back into text."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """How many distinct ids this tokenizer produces: they run from 0 to ``vocab_size - 1``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as JSON-ready data."""

    @classmethod
    @abstractmethod
    def _from_dict(cls: type[T], data: dict[str, Any], source: str) -> T:
        """Rebuild from ``to_dict``'s output; ``source`` (a file name) goes into error messages."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this tokenizer to ``path`` as JSON, atomically.

        Args:
            path: Destination file. Its folder must exist.
        """
        data = {"type": self.type_name, "version": FORMAT_VERSION, **self.to_dict()}
        write_json(path, data)

    @classmethod
    def load(cls: type[T], path: str | os.PathLike[str]) -> T:
        """Read a tokenizer of this class from a JSON file written by ``save``.

        Args:
            path: The file to read.

        Returns:
            The tokenizer.

        Raises:
            TokenizerFileError: The file is not valid JSON, holds another kind of tokenizer, or has
                a missing or malformed field.
        """
        data = read_tokenizer_json(path)
        if data["type"] != cls.type_name:
            raise TokenizerFileError(
                f"{path}: holds a {data['type']!r} tokenizer, not {cls.type_name!r} "
                "(use minillm.tokenizers.load_tokenizer to load any kind)"
            )
        return cls._from_dict(data, str(path))


def read_tokenizer_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a tokenizer file and check the fields every kind shares (``type``, ``version``).

    Args:
        path: The file to read.

    Returns:
        The parsed JSON object.

    Raises:
        FileNotFoundError: No such file.
        TokenizerFileError: Invalid UTF-8 or JSON, not an object, or a bad ``type``/``version``.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerFileError(f"{path}: not UTF-8 (bad byte at offset {e.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TokenizerFileError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    if not isinstance(data, dict):
        raise TokenizerFileError(f"{path}: expected a JSON object, found {type(data).__name__}")
    if not isinstance(data.get("type"), str):
        raise TokenizerFileError(f"{path}: missing the string field 'type' (the tokenizer kind)")
    if data.get("version") != FORMAT_VERSION:
        raise TokenizerFileError(
            f"{path}: format version {data.get('version')!r} is not supported "
            f"(this minillm reads version {FORMAT_VERSION})"
        )
    return data


def load_tokenizer(path: str | os.PathLike[str]) -> Tokenizer:
    """Load any tokenizer saved with ``save``, choosing the class from the file's ``"type"``.

    Args:
        path: The file to read.

    Returns:
        A ``CharTokenizer``, ``ByteLevelBPETokenizer`` or ``WordPieceTokenizer``.

    Raises:
        TokenizerFileError: The file is unreadable, or its type is unknown.

    >>> import tempfile, os
    >>> from minillm.tokenizers import CharTokenizer
    >>> with tempfile.TemporaryDirectory() as d:
    ...     CharTokenizer.from_text("hello").save(os.path.join(d, "tok.json"))
    ...     load_tokenizer(os.path.join(d, "tok.json")).encode("hole")
    [1, 3, 2, 0]
    """
    # Imported here, not at the top: char.py and bpe.py import this module, and the table below
    # is the one place that needs to know every kind.
    from minillm.tokenizers.bpe import ByteLevelBPETokenizer
    from minillm.tokenizers.char import CharTokenizer
    from minillm.tokenizers.wordpiece import WordPieceTokenizer

    kinds: dict[str, type[Tokenizer]] = {
        CharTokenizer.type_name: CharTokenizer,
        ByteLevelBPETokenizer.type_name: ByteLevelBPETokenizer,
        WordPieceTokenizer.type_name: WordPieceTokenizer,
    }
    data = read_tokenizer_json(path)
    if data["type"] not in kinds:
        raise TokenizerFileError(
            f"{path}: unknown tokenizer type {data['type']!r} (known: {', '.join(sorted(kinds))})"
        )
    return kinds[data["type"]]._from_dict(data, str(path))


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], source: str) -> Any:
    """Fetch ``data[name]``, checking it exists and has the expected JSON type.

    Args:
        data: A parsed tokenizer file.
        name: The field.
        kind: The Python type(s) JSON gives for it (``list``, ``str``, ``dict``).
        source: The file name, for the error message.

    Raises:
        TokenizerFileError: The field is missing or of the wrong type.

    >>> field({"chars": ["a"]}, "chars", list, "tok.json")
    ['a']
    """
    if name not in data:
        raise TokenizerFileError(f"{source}: missing the field {name!r}")
    value = data[name]
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise TokenizerFileError(
            f"{source}: field {name!r} should be a {expected}, found {type(value).__name__}"
        )
    return value


def check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """Return ``ids`` as a list of ints, each checked to lie in ``range(vocab_size)``.

    ``decode`` indexes a table with these ids, and a negative id would silently index from the end
    of a Python list; this check turns that (and any id that is too large) into a clear error.

    Args:
        ids: Token ids: a list, tuple, 1-D NumPy array or any iterable of ints.
        vocab_size: The tokenizer's vocabulary size.

    Raises:
        ValueError: An id is out of range (the message gives the id and its position).
        TypeError: An id is not an integer.

    >>> check_ids(np.array([2, 0]), 3)
    [2, 0]
    """
    ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    for position, i in enumerate(ids):
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"token id at position {position} is {i!r}, not an integer")
        if not 0 <= i < vocab_size:
            raise ValueError(
                f"unknown token id {i} at position {position}: ids run from 0 to {vocab_size - 1}"
            )
    return ids
