"""The KV cache: the same prompt decoded with and without it gives identical text, much faster.

Without a cache every new token re-runs the model over the whole context: tick t costs O(t)
positions, so n tokens cost O(n^2). With the cache, tick t computes one position and reads the keys
and values of the others from memory. This script trains nothing: a randomly initialized GPT is
enough to compare the two paths token for token, and the timeline shows what each tick computed and
reused.

Run:  python examples/05_kv_cache.py     (MINILLM_SMOKE=1: 30 tokens instead of 150)
"""

from __future__ import annotations

import os
import time

import minillm
from minillm.inference import GPTEngine, Timeline, generate
from minillm.models import GPT, GPTConfig


def main() -> None:
    minillm.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=256, block_size=256, n_layer=4, n_head=4, n_embd=128)).eval()
    engine = GPTEngine(model)  # the NumPy forward for generation, over the model's own arrays
    prompt = list(b"The KV cache stores the keys and values of every past position.")
    new = 30 if os.environ.get("MINILLM_SMOKE") else 150
    generate(engine, prompt, 4, greedy=True)  # warm up

    timelines = {}
    for use_cache in (True, False):
        tl = Timeline()
        t0 = time.perf_counter()
        out = generate(engine, prompt, new, seed=1, use_cache=use_cache, timeline=tl)
        seconds = time.perf_counter() - t0
        timelines[use_cache] = (out, seconds, tl)
        label = "with the cache   " if use_cache else "without the cache"
        print(f"{label}: {new} tokens in {seconds * 1e3:7.1f} ms ({new / seconds:6.0f} tokens/s)")

    (cached, t_cached, tl), (plain, t_plain, tl_plain) = timelines[True], timelines[False]
    assert cached == plain, "the cache must not change a single token"
    print(f"identical tokens: {cached == plain}; speedup {t_plain / t_cached:.1f}x")
    computed = sum(t.computed for t in tl.ticks)
    computed_plain = sum(t.computed for t in tl_plain.ticks)
    print(f"positions run through the model: {computed} with the cache, {computed_plain} without\n")
    print("The cached run, tick by tick (the first tick is the prefill of the prompt):")
    print(tl.table(max_rows=10))


if __name__ == "__main__":
    main()
