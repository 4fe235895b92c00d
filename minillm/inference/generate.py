"""Autoregressive generation: prefill the prompt once, then decode one token per forward pass.

The whole algorithm, for one prompt, with the KV cache (what ``stream`` below does for a batch):

    cache = engine.new_cache(1)
    logits = engine.forward([prompt], cache)[:, -1]     # prefill: every prompt position at once
    for _ in range(max_new_tokens):
        token = sample(logits)                           # temperature, top-k, top-p, or argmax
        yield token
        logits = engine.forward([[token]], cache)[:, -1]  # decode: the new position only

Each forward pass is one tick of the clock; each token produced is one moment. With the cache a
decode tick computes only the new position and reads the rest from the cache; without it
(``use_cache=False``) every tick recomputes the whole visible context. The two give the same
tokens (a test proves it). Batching, left padding, the context window's restart and the prefix
cache live one layer down, in ``batch.py``; the timeline records each tick.

Read next: ``minillm/inference/batch.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import minillm
from minillm.inference.batch import Batch
from minillm.inference.engine import GPTEngine
from minillm.inference.prefix_cache import PrefixCache
from minillm.inference.sampling import sample
from minillm.inference.timeline import Timeline


def _as_engine(model: Any) -> GPTEngine:
    return model if isinstance(model, GPTEngine) else GPTEngine(model)


def stream(
    model: Any,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
    use_cache: bool = True,
    timeline: Timeline | None = None,
    prefix_cache: PrefixCache | None = None,
) -> Iterator[np.ndarray]:
    """Yield the next token of every row, (B,) int64, once per decode tick.

    ``prompts`` is a batch of token-id lists (lengths may differ). Stopping is the caller's choice:
    see ``generate`` for stop ids. With a ``prefix_cache`` (and ``use_cache``), prompt blocks
    computed by earlier requests are reused instead of prefilled, and this request's blocks are
    stored for later ones.
    """
    engine = _as_engine(model)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature == 0:
        greedy = True
    rng = np.random.default_rng(seed) if seed is not None else minillm.random.generator()
    batch = Batch(engine, prompts, use_cache, prefix_cache)
    if max_new_tokens == 0:
        return
    try:
        t0 = time.perf_counter()
        logits = batch.prefill()  # (B, V)
        for step in range(max_new_tokens):
            try:
                token = sample(logits, rng, temperature, top_k, top_p, greedy)  # (B,)
            except FloatingPointError as e:
                raise FloatingPointError(f"generate, new token {step}: {e}") from None
            if timeline is not None:
                timeline.record(**batch.tick, seconds=time.perf_counter() - t0, step=step)
            yield token
            if step + 1 < max_new_tokens:
                t0 = time.perf_counter()
                logits = batch.step(token)  # (B, V)
    finally:  # also when the caller stops early or the generator is closed
        batch.close()


def generate(
    model: Any,
    prompt_ids: Sequence[int] | Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    stop_ids: Sequence[int] | None = None,
    seed: int | None = None,
    use_cache: bool = True,
    timeline: Timeline | None = None,
    prefix_cache: PrefixCache | None = None,
) -> list[int] | list[list[int]]:
    """Generate up to ``max_new_tokens`` tokens after a prompt (or a batch of prompts).

    Returns the new tokens only: a list for one prompt, a list of lists for a batch. A row ends
    early at the first token in ``stop_ids`` (included in its output). The same ``seed`` gives the
    same tokens.

    >>> import minillm
    >>> from minillm.models import GPT, GPTConfig
    >>> _ = minillm.manual_seed(0)
    >>> model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8))
    >>> a = generate(model, [1, 2, 3], max_new_tokens=5, seed=7)
    >>> b = generate(model, [1, 2, 3], max_new_tokens=5, seed=7, use_cache=False)
    >>> a == b and len(a) == 5
    True
    """
    single = len(prompt_ids) > 0 and isinstance(prompt_ids[0], (int, np.integer))
    prompts = [list(prompt_ids)] if single else [list(p) for p in prompt_ids]  # type: ignore[arg-type]
    stops = set() if stop_ids is None else {int(s) for s in stop_ids}
    out: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    tokens = stream(
        model,
        prompts,
        max_new_tokens,
        temperature,
        top_k,
        top_p,
        greedy,
        seed,
        use_cache,
        timeline,
        prefix_cache,
    )
    with contextlib.closing(tokens):  # releases prefix-cache blocks even when stopping early
        for token in tokens:
            for b, t in enumerate(token.tolist()):
                if not done[b]:
                    out[b].append(t)
                    done[b] = t in stops
            if all(done):
                break
    return out[0] if single else out
