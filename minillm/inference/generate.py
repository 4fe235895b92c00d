"""Autoregressive generation: prefill the prompt once, then decode one token per forward pass.

Each forward pass is one tick of the clock; each token produced is one moment. With the KV cache
(``use_cache=True``) a decode tick computes only the new position and reads the rest from the cache.
Without it, every tick recomputes the whole visible context. The two give the same tokens (a test
proves it).

The context-window policy: a GPT sees at most ``block_size`` positions. When the context would grow
past that, the visible window restarts from the most recent ``block_size // 2`` tokens, so the cache
is rebuilt by one prefill of those tokens, not one per step. The uncached path applies the same
rule, which keeps both paths identical.

Batches: prompts of different lengths are left padded. A mask keeps padding out of attention, and
position ids start at each row's first real token, so row b generates exactly what it would alone,
as long as the batch fits the window. The window restarts for the whole batch at once (its padded
width reaches block_size), so after a restart a shorter row sees less context than it would alone.

Read next: ``minillm/inference/prefix_cache.py`` (sharing prompt prefixes between requests) and
``minillm/inference/timeline.py`` (what each tick did).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import minillm
from minillm.inference.engine import GPTEngine
from minillm.inference.kv_cache import KVCache
from minillm.inference.prefix_cache import Block, PrefixCache
from minillm.inference.sampling import sample
from minillm.inference.timeline import Timeline


def _as_engine(model: Any) -> GPTEngine:
    return model if isinstance(model, GPTEngine) else GPTEngine(model)


def _left_pad(prompts: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(B, P) ids and a (B, P) mask that is False on the left padding."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate: every prompt needs at least one token")
    P = max(len(p) for p in prompts)
    ids = np.zeros((len(prompts), P), dtype=np.int64)
    mask = np.zeros((len(prompts), P), dtype=bool)
    for b, p in enumerate(prompts):
        ids[b, P - len(p) :] = p
        mask[b, P - len(p) :] = True
    return ids, mask


def _positions(mask: np.ndarray) -> np.ndarray:
    """Position ids that count real tokens only: 0 at each row's first real token (pads get 0)."""
    return np.maximum(np.cumsum(mask, axis=1) - 1, 0)


def _attention_flops(n_layer: int, C: int, new: int, context: int) -> int:
    """Multiply-adds of QK^T and AV for ``new`` queries over ``context`` keys, times 2 for FLOPs."""
    return 2 * 2 * n_layer * C * new * context


def _reuse_prefixes(
    prefix_cache: PrefixCache,
    cache: KVCache,
    prompts: Sequence[Sequence[int]],
    acquired: list[Block],
) -> int:
    """Load each row's longest cached prefix into ``cache``; return the first column to compute.

    Row b's prompt sits after ``pad_b`` columns of left padding, so its cached blocks go there.
    Columns before ``pad_b + cached_b`` need no computing for row b (padding is masked out anyway),
    and a batch computes from the smallest such column over its rows. At least one prompt token is
    always computed, because its logits are the first prediction.
    """
    width = max(len(p) for p in prompts)
    first = width
    for b, p in enumerate(prompts):
        pad = width - len(p)
        blocks = prefix_cache.acquire(p, max_blocks=(len(p) - 1) // prefix_cache.block_tokens)
        acquired.extend(blocks)
        first = min(first, pad + prefix_cache.load_into(blocks, cache, row=b, offset=pad))
    return first


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
    ids, mask = _left_pad(prompts)
    W = engine.config.block_size
    keep = max(W // 2, 1)
    start = max(ids.shape[1] - W, 0)  # first visible column of the padded token matrix
    cache = engine.new_cache(len(prompts), W) if use_cache else None
    cfg = engine.config
    share = prefix_cache is not None and cache is not None and start == 0
    acquired: list[Block] = []  # prefix-cache blocks this request holds
    try:
        for step in range(max_new_tokens):
            t0 = time.perf_counter()
            # the window is full: restart it from the most recent tokens
            if ids.shape[1] - start > W:
                start = ids.shape[1] - keep
                if cache is not None:
                    cache.reset()
            window_ids, window_mask = ids[:, start:], mask[:, start:]
            if share and step == 0:
                cache.length = _reuse_prefixes(prefix_cache, cache, prompts, acquired)  # type: ignore[union-attr, arg-type]
            cached = 0 if cache is None else cache.length
            new_ids = window_ids[:, cached:]
            positions = _positions(window_mask)[:, cached:]
            if (
                cache is not None and new_ids.shape[1] == 1
            ):  # a decode tick: the allocation-free path
                logits = engine.decode(new_ids[:, 0], cache, positions[:, 0], window_mask)  # (B, V)
            else:
                logits = engine.forward(
                    new_ids, cache=cache, positions=positions, key_mask=window_mask, last_only=True
                )[:, -1, :]  # (B, V)
            if share and step == 0:
                width = ids.shape[1]
                for b, p in enumerate(prompts):
                    prefix_cache.insert(p, cache, row=b, offset=width - len(p))  # type: ignore[union-attr, arg-type]
            try:
                token = sample(logits, rng, temperature, top_k, top_p, greedy)  # (B,)
            except FloatingPointError as e:
                raise FloatingPointError(f"generate, new token {step}: {e}") from None
            if timeline is not None:
                context = window_ids.shape[1]
                # a prefill starts a context (the prompt, a restarted window); decode extends it
                restarted = cache is not None and cached == 0
                timeline.record(
                    phase="prefill" if step == 0 or restarted else "decode",
                    tokens=len(prompts),
                    computed=new_ids.shape[1] * len(prompts),
                    reused=cached * len(prompts),
                    cache_len=0 if cache is None else cache.length,
                    cache_bytes=0 if cache is None else cache.used_bytes,
                    attention_flops=_attention_flops(
                        cfg.n_layer, cfg.n_embd, new_ids.shape[1], context
                    )
                    * len(prompts),
                    seconds=time.perf_counter() - t0,
                    step=step,
                )
            ids = np.concatenate([ids, token[:, None]], axis=1)
            mask = np.concatenate([mask, np.ones((len(prompts), 1), dtype=bool)], axis=1)
            yield token
    finally:  # also when the caller stops early or the generator is closed
        if prefix_cache is not None:
            prefix_cache.release(acquired)


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
