"""The serving layer under ``generate``: a batch of prompts decoding together, one tick at a time.

``generate.stream`` reads as prefill, then one decode tick per token; this file is what a tick
means for a real batch:

* **padding** — prompts of different lengths are left padded to one width; ``mask`` is False on
  the padding, and position ids count real tokens only, so row b computes what it would alone;
* **the window** — a GPT sees at most ``block_size`` positions. When the context would grow past
  that, the visible window restarts from the most recent ``block_size // 2`` tokens and the cache
  is rebuilt by one prefill of them (not one per token). The uncached path applies the same rule,
  which keeps both paths' tokens identical. The window restarts for the whole batch at once, so
  after a restart a shorter row sees less context than it would alone;
* **the prefix cache** — prompt blocks computed by earlier requests are copied into the KV cache
  instead of prefilled, and this request's blocks are stored for later ones;
* **the tick record** — what each forward pass computed, reused and cached, for the timeline.

Read next: ``minillm/inference/prefix_cache.py`` and ``minillm/inference/timeline.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.inference.engine import GPTEngine
from minillm.inference.prefix_cache import Block, PrefixCache


def left_pad(prompts: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
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


def positions_of(mask: np.ndarray) -> np.ndarray:
    """Position ids that count real tokens only: 0 at each row's first real token (pads get 0)."""
    return np.maximum(np.cumsum(mask, axis=1) - 1, 0)


def attention_flops(n_layer: int, C: int, new: int, context: int) -> int:
    """Multiply-adds of QK^T and AV for ``new`` queries over ``context`` keys, times 2 for FLOPs."""
    return 2 * 2 * n_layer * C * new * context


class Batch:
    """Prompts decoding together: the visible tokens, the KV cache and the prefix cache.

    ``prefill()`` returns the logits (B, V) after the prompts; ``step(token)`` appends one token per
    row and returns the logits after it. ``tick`` describes the last forward pass; ``close()``
    releases the prefix-cache blocks this batch holds.
    """

    def __init__(
        self,
        engine: GPTEngine,
        prompts: Sequence[Sequence[int]],
        use_cache: bool = True,
        prefix_cache: PrefixCache | None = None,
    ) -> None:
        self.engine, self.prompts = engine, [list(p) for p in prompts]
        ids, mask = left_pad(prompts)
        B, P = ids.shape
        self.W = engine.config.block_size
        self.keep = max(self.W // 2, 1)
        # Room for the window and no more: appending a token is a write, not a concatenate, and
        # a restart moves the kept tokens to the front, so memory never grows with the tokens made.
        room = max(P, self.keep) + self.W + 1
        self.ids = np.zeros((B, room), dtype=np.int64)
        self.mask = np.ones((B, room), dtype=bool)
        self.ids[:, :P], self.mask[:, :P] = ids, mask
        self.width = P  # columns filled
        self.padded = not mask.all()  # without padding the forward needs no key mask
        self.start = max(P - self.W, 0)  # first visible column
        self.cache = engine.new_cache(B, self.W) if use_cache else None
        self.prefix_cache = prefix_cache if self.cache is not None and self.start == 0 else None
        self.acquired: list[Block] = []
        self.tick: dict[str, Any] = {}

    def prefill(self) -> np.ndarray:
        """Logits (B, V) of the next token after each prompt: one forward over the prompt (less
        what the prefix cache already holds)."""
        if self.prefix_cache is not None:
            self.cache.length = self._reuse_prefixes()  # type: ignore[union-attr]
        logits = self._forward("prefill")
        if self.prefix_cache is not None:
            for b, p in enumerate(self.prompts):
                self.prefix_cache.insert(p, self.cache, row=b, offset=self.width - len(p))  # type: ignore[arg-type]
        return logits

    def step(self, token: np.ndarray) -> np.ndarray:
        """Append ``token`` (B,) and return the logits (B, V) after it."""
        self.ids[:, self.width] = token
        self.width += 1
        phase = "decode"  # a prefill starts a context (the prompt, a restarted window)
        if self.width - self.start > self.W:  # the window is full: restart it from recent tokens
            recent = slice(self.width - self.keep, self.width)
            self.ids[:, : self.keep] = self.ids[:, recent].copy()
            self.mask[:, : self.keep] = self.mask[:, recent].copy()
            self.mask[:, self.keep :] = True
            self.start, self.width = 0, self.keep
            if self.cache is not None:
                self.cache.reset()
                phase = "prefill"
        return self._forward(phase)

    def _forward(self, phase: str) -> np.ndarray:
        ids = self.ids[:, self.start : self.width]
        mask = self.mask[:, self.start : self.width]
        cached = 0 if self.cache is None else self.cache.length
        new = ids[:, cached:]
        # without padding the positions are the columns, the engine's default
        positions = positions_of(mask)[:, cached:] if self.padded else None
        logits = self.engine.forward(
            new, self.cache, positions, mask if self.padded else None, last_only=True
        )[:, -1, :]  # (B, V)
        B, cfg = len(self.prompts), self.engine.config
        self.tick = dict(
            phase=phase,
            tokens=B,
            computed=new.shape[1] * B,
            reused=cached * B,
            cache_len=0 if self.cache is None else self.cache.length,
            cache_bytes=0 if self.cache is None else self.cache.used_bytes,
            attention_flops=attention_flops(cfg.n_layer, cfg.n_embd, new.shape[1], ids.shape[1])
            * B,
        )
        return logits

    def _reuse_prefixes(self) -> int:
        """Load each row's longest cached prefix into the KV cache; return the first column to
        compute.

        Row b's prompt sits after ``pad_b`` columns of left padding, so its cached blocks go there.
        Columns before ``pad_b + cached_b`` need no computing for row b (padding is masked out
        anyway), and a batch computes from the smallest such column over its rows. At least one
        prompt token is always computed, because its logits are the first prediction.
        """
        pc, first = self.prefix_cache, self.width
        for b, p in enumerate(self.prompts):
            pad = self.width - len(p)
            blocks = pc.acquire(p, max_blocks=(len(p) - 1) // pc.block_tokens)  # type: ignore[union-attr]
            self.acquired.extend(blocks)
            first = min(first, pad + pc.load_into(blocks, self.cache, row=b, offset=pad))  # type: ignore[union-attr, arg-type]
        return first

    def close(self) -> None:
        """Release the prefix-cache blocks this batch holds (also when generation stops early)."""
        if self.prefix_cache is not None:
            self.prefix_cache.release(self.acquired)
            self.acquired = []
