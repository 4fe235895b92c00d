"""The prefix cache: requests that share a prompt prefix skip prefilling it (LRU, hits, evictions).

A "system prompt" is shared by every request. Its keys and values are the same each time, so after
the first request they are served from fixed-size blocks in the prefix cache. The cache has a byte
budget: when it is full, the least recently used block that no request is holding is evicted.
Outputs are identical with and without the cache; only the work changes.

Run:  python examples/06_prefix_cache.py
"""

from __future__ import annotations

import minillm
from minillm.inference import GPTEngine, PrefixCache, Timeline, generate
from minillm.models import GPT, GPTConfig


def main() -> None:
    minillm.manual_seed(0)
    cfg = GPTConfig(vocab_size=256, block_size=128, n_layer=2, n_head=4, n_embd=64)
    engine = GPTEngine(GPT(cfg).eval())
    system = list(b"You are a helpful assistant that answers briefly. ")  # 51 tokens
    questions = [b"What is a tensor?", b"What is a gradient?", b"What is a tensor?", b"Why cache?"]
    block_bytes = 2 * cfg.n_layer * cfg.n_embd * 16 * 4  # keys + values of 16 float32 positions
    cache = PrefixCache(block_tokens=16, max_bytes=4 * block_bytes)  # room for four blocks
    print(f"prefix cache: blocks of 16 tokens, budget {cache.max_bytes} bytes (4 blocks)\n")
    print(
        f"{'request':<22} {'prefilled':>9} {'reused':>6} {'hits':>5} {'misses':>6} {'evictions':>9}"
    )
    for q in questions:
        prompt = system + list(q)
        tl = Timeline()
        out = generate(engine, prompt, 20, greedy=True, prefix_cache=cache, timeline=tl)
        assert out == generate(engine, prompt, 20, greedy=True), "the cache changed the output"
        first = tl.ticks[0]
        s = cache.stats
        print(
            f"{q.decode():<22} {first.computed:>9} {first.reused:>6} {s.hits:>5} {s.misses:>6} "
            f"{s.evictions:>9}"
        )
    print(f"\nblocks held: {len(cache.blocks)}, {cache.nbytes} bytes of {cache.max_bytes}")
    print("Every output matched generation without the prefix cache.")


if __name__ == "__main__":
    main()
