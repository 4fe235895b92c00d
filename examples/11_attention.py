"""Where does "it" look? Attention in every layer of a pretrained BERT (all-MiniLM-L6-v2).

Two sentences differ in one word, and the word decides what "it" means:

    The cat sat on the mat because it was tired.     "it" is the cat
    The cat sat on the mat because it was soft.      "it" is the mat

``minillm.models.attention_weights`` returns the WordPiece tokens of a text and the softmax
weights of every head, an (L, H, T, T) array (6 layers x 12 heads here). For each sentence we
print, layer by layer, the head-averaged row of the query "it": the keys it attends to most,
and its weight on "cat" and on "mat". Then the head-averaged map of the first and the last
layer as text, and the single heads whose preference between "cat" and "mat" changes most
from one sentence to the other.

What this shows, honestly: averaged over heads, "it" looks mostly at ``[CLS]`` (a spot where
heads park weight they have no use for), at its neighbours in the low layers, and at the nouns
in the top layers -- "cat" a little more than "mat" in *both* sentences, so the average does
not resolve the pronoun. A few single heads do move with the meaning: in one of them "it" leans
to "cat" when the cat is tired and not when the mat is soft. Attention is where a head looks,
not what the model concludes; averages hide the heads that do the work.

With matplotlib installed, both sentences' head-averaged maps, every layer, are drawn to
``attention.png`` in the current folder. The command line shows the same maps:
``minillm attention "The cat sat on the mat because it was tired" --layer 5 --average``.

Run:  python examples/11_attention.py        (a few seconds; loading the model is most of it)
"""

from __future__ import annotations

import numpy as np

from minillm.models import SentenceEncoder, attention_weights
from minillm.models.inspect_attention import text_heatmap, top_keys

SENTENCES = {
    "cat": "The cat sat on the mat because it was tired",
    "mat": "The cat sat on the mat because it was soft",
}


def main() -> None:
    encoder = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")  # the BERT and its tokenizer
    maps = {}
    for referent, text in SENTENCES.items():
        tokens, weights = attention_weights(text, encoder)  # (L, H, T, T)
        maps[referent] = tokens, weights
        it, cat, mat = tokens.index("it"), tokens.index("cat"), tokens.index("mat")
        L, H = weights.shape[:2]
        print(f'\n"{text}"  ("it" is the {referent})')
        print(f"tokens: {' '.join(tokens)}   ({L} layers x {H} heads)")
        print('layer  where "it" attends (mean of the heads), top 3       on cat  on mat')
        for layer in range(L):
            row = weights[layer].mean(axis=0)[it]  # (T,): the query "it", sums to 1
            best = "  ".join(f"{tok} {w:.2f}" for _, tok, w in top_keys(row, tokens, 3))
            print(f"{layer:>5}  {best:<52} {row[cat]:6.3f}  {row[mat]:6.3f}")

    tokens, weights = maps["cat"]
    for layer in (0, weights.shape[0] - 1):
        print(f'\nlayer {layer}, mean of the heads, "{SENTENCES["cat"]}"')
        print(text_heatmap(tokens, weights[layer].mean(axis=0), top=2))

    # Per head: how much more "it" attends to "cat" than to "mat", in each sentence.
    def preference(referent: str) -> np.ndarray:
        tokens, weights = maps[referent]
        it, cat, mat = tokens.index("it"), tokens.index("cat"), tokens.index("mat")
        return weights[:, :, it, cat] - weights[:, :, it, mat]  # (L, H)

    tired, soft = preference("cat"), preference("mat")
    change = tired - soft
    print('\nthe heads whose "it" moves most between the sentences (weight on cat - on mat):')
    print("layer head   tired   soft")
    for flat in np.argsort(-np.abs(change), axis=None)[:4]:
        layer, head = np.unravel_index(flat, change.shape)
        print(f"{layer:>5} {head:>4}  {tired[layer, head]:+6.2f} {soft[layer, head]:+6.2f}")
    print(f"mean of all heads, last layer: {tired[-1].mean():+.3f} (tired), "
          f"{soft[-1].mean():+.3f} (soft)")  # fmt: skip
    plot(maps)


def plot(maps: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib is not installed: no attention.png)")
        return
    L = next(iter(maps.values()))[1].shape[0]
    fig, axes = plt.subplots(len(maps), L, figsize=(3.1 * L, 3.6 * len(maps)), layout="constrained")
    for row, (referent, (tokens, weights)) in enumerate(maps.items()):
        for layer in range(L):
            ax = axes[row, layer]
            image = ax.imshow(weights[layer].mean(axis=0), cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
            ax.set_yticks(range(len(tokens)), tokens if layer == 0 else [], fontsize=7)
            ax.set_title(f"layer {layer}", fontsize=9)
            if layer == 0:
                ax.set_ylabel(f'"it" = the {referent}')
    fig.suptitle("all-MiniLM-L6-v2, mean of the 12 heads (rows: queries, columns: keys)")
    fig.colorbar(image, ax=axes, fraction=0.015, pad=0.01, label="attention weight")
    fig.savefig("attention.png", dpi=110)
    plt.close(fig)
    print("\nattention.png: both sentences, every layer")


if __name__ == "__main__":
    main()
