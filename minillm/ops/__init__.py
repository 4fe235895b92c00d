"""Differentiable primitives: one Function subclass per op, on raw ndarrays, grouped by kind.

* ``elementwise`` — arithmetic, exp/log, activations, where, casts;
* ``reduce`` — sum, max/min, logsumexp, softmax, log-softmax;
* ``movement`` — reshape, permute, expand, indexing, cat, pad, tril/triu;
* ``linalg`` — matmul.

Everything else (mean, var, std, stack, split, masked_fill, ...) is composed from these in
``minillm/tensor.py`` and needs no derivative code of its own. Read ``elementwise.py`` first.
"""
