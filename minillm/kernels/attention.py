"""Scaled dot-product attention: a tiled online-softmax ("flash") forward and its backward.

For one (batch, head) slice g with queries q (Tq, D), keys k (Tk, D), values v (Tk, Dv):

    s_ij = scale q_i . k_j + bias_ij    (bias: 0 / -inf from a bool mask, or a float mask added;
                                          -inf where j > i when causal)
    p_ij = exp(s_ij - lse_i),  lse_i = log sum_j exp(s_ij)
    out_i = sum_j p_ij v_j

    backward:  delta_i = dout_i . out_i,   dp_ij = dout_i . v_j,   ds_ij = p_ij (dp_ij - delta_i)
               dq_i = scale sum_j ds_ij k_j,   dk_j = scale sum_i ds_ij q_i,
               dv_j = sum_i p_ij dout_i

The forward never stores the (Tq, Tk) matrix: it walks the keys in tiles, keeping for each query a
running maximum m, a running sum l of exp(s - m) and an unnormalized output, rescaled by
exp(m_old - m_new) whenever the maximum grows (Milakov & Gimelshein 2018; Dao et al. 2022).
Memory per head is O(Tq (Dv + 1)). Only ``lse`` is saved; the backward recomputes p tile by tile.

Fully masked rows (every s_ij = -inf): PyTorch returns NaN there. Here they return **zeros**
(out = 0, lse = -inf, no gradient flows), so a padded query never poisons a batch with NaN.

Shapes: ``q`` (G, Tq, D), ``k`` (G, Tk, D), ``v`` (G, Tk, Dv), ``out``/``dout`` (G, Tq, Dv), ``lse``
(G, Tq), all C-contiguous and of one float dtype (``lse`` float64). ``bias`` (Gb, Tq, Tk) holds
distinct mask slabs and ``bias_index`` (G,) int64 says which slab each g uses, so a mask shared
across heads or batches is never copied G times; with ``has_bias`` False, ``bias`` is ignored.
Called by ``minillm.ops.fused.Attention``; ``masked_softmax_forward`` serves
``AttentionWeights``, the path that materializes p because the caller asked for the weights.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import exp, row_dot, row_max, row_sum, softmax_prefix
from minillm.kernels._numba import entry, jit


def _scores_ref(
    q: np.ndarray,
    k: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> np.ndarray:
    """The full (G, Tq, Tk) score matrix, masked entries at -inf."""
    s = (q @ np.swapaxes(k, 1, 2)) * scale
    if has_bias:
        s = s + bias[bias_index]
    if causal:
        s = np.where(np.tri(s.shape[1], s.shape[2], dtype=bool), s, -np.inf)
    return s


def _probabilities_ref(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row softmax of ``s`` and its log-sum-exp; fully masked rows give p = 0 and lse = -inf."""
    m = s.max(axis=2, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s - m)
    total = e.sum(axis=2, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    with np.errstate(divide="ignore"):
        lse = (m + np.log(total))[..., 0]
    return p, lse


def attention_forward_ref(
    out: np.ndarray,
    lse: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    p, lse[:] = _probabilities_ref(_scores_ref(q, k, bias, bias_index, has_bias, causal, scale))
    out[:] = p @ v


def attention_backward_ref(
    dq: np.ndarray,
    dk: np.ndarray,
    dv: np.ndarray,
    dout: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    out: np.ndarray,
    lse: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    p, _ = _probabilities_ref(_scores_ref(q, k, bias, bias_index, has_bias, causal, scale))
    dv[:] = np.swapaxes(p, 1, 2) @ dout
    dp = dout @ np.swapaxes(v, 1, 2)
    delta = np.sum(dout * out, axis=2, keepdims=True, dtype=np.float64)
    ds = p * (dp - delta)
    dq[:] = (ds @ k) * scale
    dk[:] = (np.swapaxes(ds, 1, 2) @ q) * scale


def masked_softmax_forward_ref(
    p: np.ndarray,
    s: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    """p = softmax(scale s + bias) per row, with causal masking; fully masked rows give zeros."""
    z = s * scale
    if has_bias:
        z = z + bias[bias_index]
    if causal:
        z = np.where(np.tri(*s.shape[1:], dtype=bool), z, -np.inf)
    p[:] = _probabilities_ref(z)[0]


# ------------------------------------------------------------------------------------------------
# Numba versions. Tiles of BQ queries x BK keys: the score tile (BQ, BK) is the only quadratic
# buffer. Tile products are np.dot calls (BLAS) on contiguous slices; the loops around them do the
# masking and the online softmax, in float64, with the vectorizable exp of _math.py.
# ------------------------------------------------------------------------------------------------
BQ = 64
BK = 64


@jit
def _mask_tile(
    s: np.ndarray,
    bias: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
    i0: int,
    j0: int,
) -> None:
    """s <- scale s + bias, with -inf where a causal query would see a later key (in place)."""
    nq, nk = s.shape
    for ii in range(nq):
        i = i0 + ii
        for jj in range(nk):
            x = s[ii, jj] * scale
            if has_bias:
                x += bias[i, j0 + jj]
            s[ii, jj] = x
        if causal:
            for jj in range(max(i + 1 - j0, 0), nk):
                s[ii, jj] = -np.inf


@jit
def _forward_head(
    out: np.ndarray,
    lse: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    Tq, Tk, Dv = q.shape[0], k.shape[0], v.shape[1]
    for i0 in range(0, Tq, BQ):
        i1 = min(i0 + BQ, Tq)
        nq = i1 - i0
        m = np.full(nq, -np.inf, dtype=q.dtype)  # running row maximum (float32 keeps exp float32)
        l = np.zeros(nq)  # running sum of exp(s - m)
        acc = np.zeros((nq, Dv), dtype=out.dtype)  # running sum of exp(s - m) v
        j_end = min(Tk, i1) if causal else Tk  # causal: later keys are never seen by this tile
        for j0 in range(0, j_end, BK):
            j1 = min(j0 + BK, j_end)
            s = np.dot(q[i0:i1], k[j0:j1].T)  # (nq, nk) raw scores
            _mask_tile(s, bias, has_bias, causal, scale, i0, j0)
            for ii in range(nq):
                row = s[ii]
                m_new = max(m[ii], row_max(row))
                if m_new == -np.inf:  # nothing to attend to yet: this tile adds nothing
                    row[:] = 0.0
                    continue
                for jj in range(row.size):
                    row[jj] = exp(row[jj] - m_new)
                shrink = exp(m[ii] - m_new)  # rescale what was summed under the old maximum
                l[ii] = l[ii] * shrink + row_sum(row)
                m[ii] = m_new
                for e in range(Dv):
                    acc[ii, e] *= shrink
            acc += np.dot(s, v[j0:j1])
        for ii in range(nq):
            if l[ii] == 0.0:  # fully masked row: zeros, and lse = -inf tells the backward
                out[i0 + ii, :] = 0.0
                lse[i0 + ii] = -np.inf
            else:
                inv = 1.0 / l[ii]
                for e in range(Dv):
                    out[i0 + ii, e] = acc[ii, e] * inv
                lse[i0 + ii] = m[ii] + math.log(l[ii])


@entry(attention_forward_ref)
def attention_forward(
    out: np.ndarray,
    lse: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    G = q.shape[0]
    for g in range(G):
        _forward_head(
            out[g], lse[g], q[g], k[g], v[g], bias[bias_index[g]], has_bias, causal, scale
        )


@jit
def _backward_head(
    dq: np.ndarray,
    dk: np.ndarray,
    dv: np.ndarray,
    dout: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    out: np.ndarray,
    lse: np.ndarray,
    bias: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    Tq, Tk, Dv = q.shape[0], k.shape[0], v.shape[1]
    delta = np.empty(Tq)  # delta_i = dout_i . out_i
    for i in range(Tq):
        delta[i] = row_dot(dout[i], out[i])
    dq[:] = 0.0
    for j0 in range(0, Tk, BK):
        j1 = min(j0 + BK, Tk)
        dk_tile = np.zeros((j1 - j0, dk.shape[1]), dtype=dk.dtype)
        dv_tile = np.zeros((j1 - j0, Dv), dtype=dv.dtype)
        i_start = (j0 // BQ) * BQ if causal else 0  # causal: earlier queries never see these keys
        for i0 in range(i_start, Tq, BQ):
            i1 = min(i0 + BQ, Tq)
            p = np.dot(q[i0:i1], k[j0:j1].T)
            if has_bias:
                _mask_tile(p, bias, has_bias, causal, scale, i0, j0)
            for ii in range(i1 - i0):
                row_lse = lse[i0 + ii]
                if row_lse == -np.inf:  # fully masked row: p = 0, no gradient
                    p[ii, :] = 0.0
                    continue
                # keys this query may see; without a bias, the scale folds into the same pass
                n = min(max(i0 + ii + 1 - j0, 0), j1 - j0) if causal else j1 - j0
                if has_bias:
                    for jj in range(n):
                        p[ii, jj] = exp(p[ii, jj] - row_lse)
                else:
                    for jj in range(n):
                        p[ii, jj] = exp(p[ii, jj] * scale - row_lse)
                p[ii, n:] = 0.0
            dv_tile += np.dot(p.T, dout[i0:i1])
            ds = np.dot(dout[i0:i1], v[j0:j1].T)  # dp, turned into ds in place
            for ii in range(i1 - i0):
                d = delta[i0 + ii]
                for jj in range(j1 - j0):
                    ds[ii, jj] = p[ii, jj] * (ds[ii, jj] - d) * scale
            dq[i0:i1] += np.dot(ds, k[j0:j1])
            dk_tile += np.dot(ds.T, q[i0:i1])
        dk[j0:j1] = dk_tile
        dv[j0:j1] = dv_tile


@entry(attention_backward_ref)
def attention_backward(
    dq: np.ndarray,
    dk: np.ndarray,
    dv: np.ndarray,
    dout: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    out: np.ndarray,
    lse: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    G = q.shape[0]
    for g in range(G):
        grads = (dq[g], dk[g], dv[g])
        inputs = (dout[g], q[g], k[g], v[g], out[g], lse[g], bias[bias_index[g]])
        _backward_head(*grads, *inputs, has_bias, causal, scale)


@entry(masked_softmax_forward_ref)
def masked_softmax_forward(
    p: np.ndarray,
    s: np.ndarray,
    bias: np.ndarray,
    bias_index: np.ndarray,
    has_bias: bool,
    causal: bool,
    scale: float,
) -> None:
    G, Tq, Tk = p.shape
    for g in range(G):
        b = bias[bias_index[g]]
        for i in range(Tq):
            row, s_row = p[g, i], s[g, i]
            n = min(i + 1, Tk) if causal else Tk  # keys this query may see: row[:n]
            for j in range(n):
                row[j] = s_row[j] * scale
            if has_bias:
                for j in range(n):
                    row[j] += b[i, j]
            m = row_max(row[:n]) if n > 0 else -np.inf
            softmax_prefix(row, n, m)  # a fully masked row: zeros
