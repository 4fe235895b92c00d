"""Reading a pretrained BERT tokenizer's files: ``vocab.txt`` and ``tokenizer_config.json``.

A Hugging Face model folder describes its tokenizer in plain files: ``vocab.txt`` (one token per
line, the line number being the id), ``tokenizer_config.json`` (``do_lower_case``,
``strip_accents``, ``tokenize_chinese_chars`` and the special tokens) and sometimes
``special_tokens_map.json``. Errors name the file, and for the vocabulary the line.

Read next: ``wordpiece.py`` (the tokenizer built from them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from minillm.tokenizers.base import TokenizerFileError
from minillm.tokenizers.bert_text import WHITESPACE


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding an object.

    Raises:
        TokenizerFileError: Not UTF-8, not JSON, or not an object (the message names the file).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise TokenizerFileError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_pretrained(
    path_or_name: str | Path, roles: tuple[str, ...]
) -> tuple[list[str], dict[str, Any], Path]:
    """The vocabulary and tokenizer options of a model folder or known model name.

    Args:
        path_or_name: A folder, or a name such as ``"all-MiniLM-L6-v2"``.
        roles: The special token roles to look up (``"unk_token"``...).

    Returns:
        The vocabulary in id order; the keyword arguments for ``WordPieceTokenizer``; the path of
        ``vocab.txt`` (for error messages).

    Raises:
        PretrainedNotFoundError: No such folder or name, or no ``vocab.txt`` in it.
        TokenizerFileError: A bad vocabulary or config file.
    """
    from minillm.models.pretrained import resolve_pretrained

    folder = resolve_pretrained(path_or_name, needs=("vocab.txt",))
    config: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the latter wins
        if (folder / name).is_file():
            config.update(read_json_object(folder / name))
    specials = {}
    for role in roles:
        value = config.get(role)
        if isinstance(value, dict):  # newer files write {"content": "[UNK]", ...}
            value = value.get("content")
        if isinstance(value, str):
            specials[role] = value
    options = {
        "lowercase": bool(config.get("do_lower_case", True)),
        "strip_accents": config.get("strip_accents"),
        "handle_chinese_chars": bool(config.get("tokenize_chinese_chars", True)),
        "special_tokens": specials,
    }
    return read_vocab_file(folder / "vocab.txt"), options, folder / "vocab.txt"


def read_vocab_file(path: str | Path) -> list[str]:
    """Read a ``vocab.txt``: one token per line, the line number (from 0) being its id.

    Raises:
        TokenizerFileError: Not UTF-8, an empty line, or a token listed twice (the message gives
            the file and line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TokenizerFileError(f"{path}: not UTF-8 (bad byte at offset {e.start})") from None
    vocab: list[str] = []
    seen: dict[str, int] = {}
    lines = text.split("\n")
    if lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    for number, line in enumerate(lines, start=1):
        token = line.rstrip("".join(WHITESPACE))  # as Rust's trim_end
        if not token:
            raise TokenizerFileError(f"{path}, line {number}: empty line (each line is a token)")
        if token in seen:
            raise TokenizerFileError(
                f"{path}, line {number}: token {token!r} already on line {seen[token]}"
            )
        seen[token] = number
        vocab.append(token)
    return vocab
