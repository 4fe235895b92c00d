"""Generation: the model's forward mirrored in NumPy, KV cache, sampling, prefix cache, timeline.

Read in this order: ``sampling.py``, ``kv_cache.py``, ``engine.py`` (the GPT forward without
autograd, over the model's own arrays), ``generate.py`` (prefill, then one decode tick per token),
``batch.py`` (padding, the window, the prefix cache), ``prefix_cache.py``, ``timeline.py``.
"""

from minillm.inference.engine import GPTEngine
from minillm.inference.generate import generate, stream
from minillm.inference.kv_cache import KVCache
from minillm.inference.prefix_cache import PrefixCache
from minillm.inference.sampling import probabilities, sample
from minillm.inference.timeline import Timeline

__all__ = [
    "GPTEngine",
    "KVCache",
    "PrefixCache",
    "Timeline",
    "generate",
    "probabilities",
    "sample",
    "stream",
]
