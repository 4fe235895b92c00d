"""Byte-pair encoding, one merge at a time, on one sentence.

BPE starts from the 256 byte values and repeatedly merges the most frequent adjacent pair into a
new token. This script trains ``ByteLevelBPETokenizer`` on a short sentence and then replays its
merges: after each one it prints the pair that was merged, how often it occurred, and the
sentence as tokens (``|`` between them), so you can watch "the" and " cat" become single
tokens. Encoding new text replays the same merges in the same order; the last lines show that on
a sentence the tokenizer never saw.

Run:  python examples/04_bpe_steps.py     (instant)
"""

from __future__ import annotations

import itertools
from collections import Counter

import regex

from minillm.tokenizers import ByteLevelBPETokenizer
from minillm.tokenizers.bpe import SPLIT_PATTERN

TEXT = "the cat sat on the mat; the cat ate the rat that sat on the hat"
MERGES = 12

tokenizer = ByteLevelBPETokenizer.train(TEXT, vocab_size=256 + MERGES)


def show(ids: list[int]) -> str:
    return "|".join(tokenizer.token_bytes(i).decode("utf-8", "replace") for i in ids)


# Replay: start from the bytes of each pre-split chunk (merges never cross a chunk boundary)
chunks = [list(chunk.encode("utf-8")) for chunk in regex.findall(SPLIT_PATTERN, TEXT)]
print(f"{len(TEXT)} characters, {sum(map(len, chunks))} bytes, {len(chunks)} chunks")
print("start:", "|".join(show(c) for c in chunks), "\n")
for k, (a, b) in enumerate(tokenizer.merges):
    pairs = Counter(p for c in chunks for p in itertools.pairwise(c))
    new = 256 + k
    merged = []
    for c in chunks:  # replace every (a, b) by the new id, left to right
        out, i = [], 0
        while i < len(c):
            if i + 1 < len(c) and (c[i], c[i + 1]) == (a, b):
                out.append(new)
                i += 2
            else:
                out.append(c[i])
                i += 1
        merged.append(out)
    chunks = merged
    print(f"merge {k + 1:2d}: {show([a])!r} + {show([b])!r} -> {show([new])!r}  "
          f"(seen {pairs[(a, b)]}x; now {sum(map(len, chunks))} tokens)")  # fmt: skip
    print("         ", "|".join(show(c) for c in chunks))

assert [i for c in chunks for i in c] == tokenizer.encode(TEXT)  # the replay is the tokenizer
unseen = "the rat ate the cat"
print(f"\n{unseen!r} -> {show(tokenizer.encode(unseen))}  ({len(tokenizer.encode(unseen))} tokens "
      f"for {len(unseen.encode())} bytes)")  # fmt: skip
print("decode(encode(x)) == x:", tokenizer.decode(tokenizer.encode(unseen)) == unseen)
