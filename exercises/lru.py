"""Exercise 4: an LRU cache, the eviction rule of minillm's prefix cache.

``get(key)`` returns the value (or None) and marks the key as just used; ``put(key, value)``
inserts or updates it, and when more than ``capacity`` keys are held, drops the least recently
used one. Both in O(1): a dict plus an order (``collections.OrderedDict`` has ``move_to_end`` and
``popitem(last=False)``). ``minillm/inference/prefix_cache.py`` applies the same rule to KV blocks.
The checks: ``exercises/test_exercises.py -k lru``.
"""

from __future__ import annotations

from typing import Any


class LRUCache:
    def __init__(self, capacity: int) -> None:
        raise NotImplementedError("exercise 4: remember capacity and an ordered mapping")

    def get(self, key: Any) -> Any:
        raise NotImplementedError("exercise 4")

    def put(self, key: Any, value: Any) -> None:
        raise NotImplementedError("exercise 4")

    def __len__(self) -> int:
        raise NotImplementedError("exercise 4")
