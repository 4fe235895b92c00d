"""Looking inside BERT's attention: the weights of every head for one text, as numbers and pictures.

:func:`attention_weights` runs one text through a :class:`~minillm.models.bert.BertModel` with
``output_attentions=True`` and returns its WordPiece tokens beside every layer's softmax
weights, stacked into one (L, H, T, T) array. Row ``q`` of a head's (T, T) map is the
distribution query token ``q`` spreads over the keys: it sums to 1, and entry ``[q, k]`` is how
much of token ``k``'s value vector goes into ``q``'s output. ::

    tokens, w = attention_weights("The cat sat on the mat because it was tired")
    w.shape                   (6, 12, 12, 12) for all-MiniLM-L6-v2: L=6 layers, H=12 heads, T=12
    w[5, 3]                   layer 5, head 3: rows are queries, columns are keys
    w[5].mean(axis=0)         the head-averaged map of layer 5 (rows still sum to 1)

:func:`text_heatmap` draws a (T, T) map with a character ramp, each query row followed by the
keys it attends to most; :func:`plot_attention` draws it with matplotlib. A caution when reading
them: attention says where a head *looks*, not what the model *concludes*; many heads in BERTs
park most of their weight on ``[CLS]``, ``[SEP]`` or punctuation (a "no-op" spot), so a map tells
more by where the rest of the weight goes.

Read next: ``command.py`` (``minillm attention`` and ``minillm embed``) and ``bert.py``
(``SelfAttention``, where the weights are computed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RAMP = " .:-=+*#%@"  # light to dark: RAMP[0] for 0, RAMP[-1] for the map's largest weight


def load_bert(model: Any = "all-MiniLM-L6-v2", tokenizer: Any = None) -> tuple[Any, Any]:
    """``(BertModel, tokenizer)`` from a name, a folder, a ``SentenceEncoder`` or a ``BertModel``.

    A ``BertModel`` comes with no tokenizer, so one must be given with it; for a name or a
    folder the tokenizer is read from the same folder (``vocab.txt``) unless one is given.
    """
    from minillm.models.bert import BertModel

    if isinstance(model, BertModel):
        if tokenizer is None:
            raise ValueError("attention_weights: a BertModel needs its tokenizer= as well")
        return model, tokenizer
    if hasattr(model, "model") and hasattr(model, "tokenizer"):  # a SentenceEncoder
        return model.model, tokenizer if tokenizer is not None else model.tokenizer
    if not isinstance(model, (str, Path)):
        raise TypeError(
            f"attention_weights: model must be a name, a folder, a BertModel or a "
            f"SentenceEncoder, got {type(model).__name__}"
        )
    bert = BertModel.from_pretrained(model)
    if tokenizer is None:
        from minillm.tokenizers.wordpiece import WordPieceTokenizer

        tokenizer = WordPieceTokenizer.from_pretrained(model)
    return bert, tokenizer


def attention_weights(
    text: str, model: Any = "all-MiniLM-L6-v2", tokenizer: Any = None
) -> tuple[list[str], np.ndarray]:
    """The tokens of ``text`` and every head's attention weights, ``(tokens, (L, H, T, T))``.

    Args:
        text: one text; it is encoded as ``[CLS] text [SEP]`` and must fit the model's
            max_position_embeddings (512 for MiniLM) -- no silent truncation here.
        model: a ``BertModel`` (then ``tokenizer`` is required), a ``SentenceEncoder``, a model
            folder or a known name (the default, the packaged all-MiniLM-L6-v2). Loading by name
            takes a few seconds: pass a loaded model when calling this in a loop.
        tokenizer: anything whose ``encode(text)`` has ``.ids`` and ``.tokens``.

    Returns:
        The T token strings, and a float array whose ``[l, h, q, k]`` is how much query ``q``
        attends to key ``k`` in head ``h`` of layer ``l``; each ``[l, h, q, :]`` sums to 1.
    """
    import minillm

    if not isinstance(text, str):
        raise TypeError(f"attention_weights: text must be a str, got {type(text).__name__}")
    bert, tokenizer = load_bert(model, tokenizer)
    encoding = tokenizer.encode(text)
    limit = bert.config.max_position_embeddings
    if len(encoding.ids) > limit:
        raise ValueError(
            f"the text is {len(encoding.ids)} tokens long, more than the model's {limit}; "
            f"shorten it"
        )
    with minillm.no_grad():
        out = bert(np.array([encoding.ids], dtype=np.int64), output_attentions=True)
    weights = np.stack([a.data[0] for a in out.attentions])  # L of (1, H, T, T) -> (L, H, T, T)
    return list(encoding.tokens), weights


def top_keys(row: np.ndarray, tokens: list[str], k: int = 3) -> list[tuple[int, str, float]]:
    """The ``k`` keys a query row attends to most: ``(index, token, weight)``, largest first.

    >>> top_keys(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"], k=2)
    [(1, 'b', 0.6), (2, 'c', 0.3)]
    """
    order = np.argsort(-row, kind="stable")[:k]
    return [(int(i), tokens[i], float(row[i])) for i in order]


def text_heatmap(tokens: list[str], weights: np.ndarray, top: int = 3) -> str:
    """A (T, T) map as text: one row per query, two ramp characters per key, then its top keys.

    Shades are relative to the map's largest weight (printed in the header), so a map whose
    weights are all small still shows where they go.

    >>> print(text_heatmap(["a", "b"], np.array([[1.0, 0.0], [0.5, 0.5]]), top=1))
    shade: weight / 1.000 (the largest), ramp " .:-=+*#%@"
                 0 1
     0 a        @@    | a 1.00
     1 b        ====  | a 0.50
    """
    T = len(tokens)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (T, T):
        raise ValueError(f"text_heatmap: weights {weights.shape} do not match {T} tokens")
    peak = float(weights.max()) if weights.size else 0.0
    scale = peak if peak > 0 else 1.0
    shades = np.rint(np.clip(weights / scale, 0.0, 1.0) * (len(RAMP) - 1)).astype(int)
    width = max(8, *(len(t) for t in tokens)) if tokens else 8
    label = f"{{:>2}} {{:<{width}}} "  # " 3 cat      "
    lines = [f'shade: weight / {peak:.3f} (the largest), ramp "{RAMP}"']
    indent = " " * len(label.format(0, ""))
    if T > 10:  # the tens digit of each column above its units digit
        lines.append(indent + "".join(f" {k // 10 % 10}" if k >= 10 else "  " for k in range(T)))
    lines.append(indent + "".join(f" {k % 10}" for k in range(T)))
    for q in range(T):
        cells = "".join(RAMP[s] * 2 for s in shades[q])
        best = "  ".join(f"{tok} {w:.2f}" for _, tok, w in top_keys(weights[q], tokens, top))
        line = label.format(q, tokens[q]) + cells + ("  | " + best if top > 0 else "")
        lines.append(line.rstrip())
    return "\n".join(lines)


def plot_attention(
    tokens: list[str], weights: np.ndarray, path: str | Path, title: str = ""
) -> None:
    """Draw a (T, T) map with matplotlib (tokens on both axes, a colorbar) to ``path``, atomically.

    The format is the suffix's (.png, .svg, .pdf). Raises ImportError without matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minillm.io import atomic_write

    T = len(tokens)
    size = min(4.0 + 0.32 * T, 16.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0)
    ax.set_xticks(range(T), tokens, rotation=90)
    ax.set_yticks(range(T), tokens)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format=Path(path).suffix.lstrip(".").lower() or "png", dpi=120)
    plt.close(fig)
