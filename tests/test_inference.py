"""Generation: the KV cache equals recomputation, batches equal one by one, sampling obeys filters,
the prefix cache changes nothing but speed, and the timeline records every tick."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm.inference import GPTEngine, PrefixCache, Timeline, generate, probabilities, sample
from minillm.models import GPT, GPTConfig

CFG = GPTConfig(vocab_size=19, block_size=16, n_layer=2, n_head=2, n_embd=16)


@pytest.fixture(scope="module")
def model64():
    minillm.manual_seed(11)
    return GPT(CFG).double().eval()


@pytest.fixture(scope="module")
def model32():
    minillm.manual_seed(12)
    return GPT(CFG).eval()


@settings(max_examples=15)
@given(
    B=st.integers(1, 3),
    T=st.integers(1, 16),
    split=st.integers(0, 15),
    seed=st.integers(0, 1000),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_cached_logits_equal_full_recomputation(model64, model32, B, T, split, seed, dtype):
    model = model64 if dtype == "float64" else model32
    tol = 1e-10 if dtype == "float64" else 1e-5
    idx = np.random.default_rng(seed).integers(0, CFG.vocab_size, (B, T))
    full = model(minillm.tensor(idx))[0].data  # the autograd model, all positions at once
    engine = GPTEngine(model)
    np.testing.assert_allclose(engine.forward(idx), full, atol=tol, rtol=0)
    cache = engine.new_cache(B)
    cut = min(split, T - 1)
    parts = [engine.forward(idx[:, :cut], cache)] if cut else []
    for t in range(cut, T):  # then one token at a time, like decoding
        parts.append(engine.forward(idx[:, t : t + 1], cache))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=tol, rtol=0)
    assert cache.length == T


def test_generation_past_block_size_is_the_same_with_and_without_cache(model64):
    prompt = [1, 2, 3, 4, 5]
    a = generate(model64, prompt, 40, seed=3, use_cache=True)
    b = generate(model64, prompt, 40, seed=3, use_cache=False)
    assert a == b and len(a) == 40  # 45 tokens > block_size 16: the window restarted twice


def test_long_prompt_keeps_the_most_recent_window(model64):
    prompt = list(np.random.default_rng(0).integers(0, 19, 40))
    a = generate(model64, prompt, 5, greedy=True)
    b = generate(model64, prompt[-CFG.block_size :], 5, greedy=True)
    assert a == b


def test_padded_batch_equals_one_by_one(model64):
    prompts = [[3], [4, 5, 6, 7, 8], [9, 10, 11]]
    batched = generate(model64, prompts, 12, greedy=True)
    alone = [generate(model64, p, 12, greedy=True) for p in prompts]
    assert batched == alone


def test_same_seed_same_tokens_and_stop_ids(model32):
    a = generate(model32, [1, 2], 20, seed=5, temperature=1.5)
    b = generate(model32, [1, 2], 20, seed=5, temperature=1.5)
    c = generate(model32, [1, 2], 20, seed=6, temperature=1.5)
    assert a == b and a != c
    stop = a[3]
    cut = generate(model32, [1, 2], 20, seed=5, temperature=1.5, stop_ids=[stop])
    assert cut == a[: a.index(stop) + 1]


def test_tiny_temperature_equals_greedy(model64):
    greedy = generate(model64, [7, 8], 15, greedy=True)
    assert generate(model64, [7, 8], 15, temperature=1e-8, seed=0) == greedy
    assert generate(model64, [7, 8], 15, temperature=0.0) == greedy


@given(
    logits=st.lists(st.floats(-5, 5), min_size=2, max_size=12),
    temperature=st.floats(0.2, 3.0),
    top_k=st.none() | st.integers(1, 12),
    top_p=st.none() | st.floats(0.05, 1.0),
)
def test_probabilities_sum_to_one_and_respect_filters(logits, temperature, top_k, top_p):
    z = np.array(logits)
    p = probabilities(z, temperature, top_k, top_p)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (p >= 0).all()
    if top_k is not None:
        kth = np.sort(z)[::-1][min(top_k, len(z)) - 1]
        assert (p[z < kth] == 0).all()  # nothing outside the k best (ties at the k-th are kept)
    if top_p is not None and top_k is None:
        q = probabilities(z, temperature)
        kept = p > 0
        # the kept set is the smallest most-likely set with mass >= top_p
        assert q[kept].sum() >= top_p - 1e-12
        smallest_kept = q[kept].min()
        assert q[kept].sum() - smallest_kept < top_p + 1e-12
        assert (q[~kept] <= smallest_kept + 1e-15).all()


def test_sampling_follows_the_distribution_and_never_leaves_top_k():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    draws = np.array([sample(logits, rng, top_k=2)[0] for _ in range(4000)])
    assert set(draws.tolist()) <= {0, 1}
    assert abs((draws == 0).mean() - 0.5 / 0.8) < 0.03
    draws = np.array([sample(logits, rng)[0] for _ in range(4000)])
    np.testing.assert_allclose(
        np.bincount(draws, minlength=4) / 4000, [0.5, 0.3, 0.15, 0.05], atol=0.03
    )


def test_bad_sampling_arguments_are_rejected():
    with pytest.raises(ValueError, match="top_p"):
        probabilities(np.zeros(3), top_p=1.5)
    with pytest.raises(ValueError, match="top_k"):
        probabilities(np.zeros(3), top_k=0)
    with pytest.raises(ValueError, match="temperature"):
        probabilities(np.zeros(3), temperature=-1)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("greedy", [False, True])
def test_non_finite_logits_never_become_token_zero(bad, greedy):
    rng = np.random.default_rng(0)
    logits = np.array([[1.0, 2.0, 3.0], [0.5, bad, 0.0]])
    with pytest.raises(FloatingPointError, match="not finite"):
        sample(logits, rng, greedy=greedy)
    with pytest.raises(FloatingPointError):
        sample(np.full((1, 3), -np.inf), rng)  # nothing to choose from
    assert sample(np.array([[-np.inf, 0.0, -np.inf]]), rng).tolist() == [1]  # masked is fine


def test_generation_with_broken_weights_names_the_step():
    minillm.manual_seed(3)
    model = GPT(CFG).eval()
    with minillm.no_grad():
        model.lm_head.weight.data[...] = np.nan
    with pytest.raises(FloatingPointError, match="new token 0"):
        generate(model, [1, 2, 3], max_new_tokens=4, seed=0)


def test_prefix_cache_changes_nothing_but_work(model64):
    system = list(range(1, 12))  # a shared 11-token "system prompt"
    requests = [system + [3, 4], system + [5], system + [6, 7, 8]]
    pc = PrefixCache(block_tokens=4, max_bytes=1 << 20)
    for r in requests:
        tl = Timeline()
        with_cache = generate(model64, r, 6, greedy=True, prefix_cache=pc, timeline=tl)
        assert with_cache == generate(model64, r, 6, greedy=True)
    assert pc.stats.hits >= 4  # requests 2 and 3 reused the two full blocks of the system prompt
    assert tl.ticks[0].reused == 8 and tl.ticks[0].computed == len(requests[-1]) - 8
    assert all(b.refs == 0 for b in pc.blocks.values())  # every reference released


def test_prefix_cache_batched_prompts(model64):
    pc = PrefixCache(block_tokens=2, max_bytes=1 << 20)
    prompts = [[1, 2, 3, 4, 5], [1, 2, 3], [9, 8, 7, 6, 5, 4]]
    generate(model64, prompts, 3, greedy=True, prefix_cache=pc)
    again = generate(model64, prompts, 5, greedy=True, prefix_cache=pc)
    assert again == generate(model64, prompts, 5, greedy=True)
    assert pc.stats.hits > 0


def test_prefix_cache_eviction_under_tiny_budget_never_corrupts(model64):
    engine = GPTEngine(model64)
    one_block = 2 * CFG.n_layer * CFG.n_head * 4 * (CFG.n_embd // CFG.n_head) * 8
    pc = PrefixCache(block_tokens=4, max_bytes=3 * one_block)
    rng = np.random.default_rng(1)
    prompts = [list(rng.integers(0, 19, int(n))) for n in rng.integers(5, 14, 12)]
    prompts += prompts[:4]  # some repeats, some of which were evicted meanwhile
    for p in prompts:
        assert generate(engine, p, 4, greedy=True, prefix_cache=pc) == generate(
            engine, p, 4, greedy=True
        )
        assert pc.nbytes <= pc.max_bytes
    assert pc.stats.evictions > 0


def test_referenced_blocks_are_never_evicted():
    from minillm.inference import KVCache

    cache = KVCache(n_layer=1, batch=1, n_head=1, max_len=8, head_dim=2, dtype=np.float64)
    cache.k[...] = np.arange(16.0).reshape(1, 1, 1, 8, 2)
    cache.length = 8
    pc = PrefixCache(block_tokens=4, max_bytes=2 * 64)  # room for exactly one block (k + v)
    assert pc.insert([1, 2, 3, 4], cache) == 1
    held = pc.acquire([1, 2, 3, 4])
    assert pc.insert([5, 6, 7, 8], cache) == 0  # no room: the held block may not be evicted
    assert len(pc.blocks) == 1 and pc.stats.evictions == 0
    pc.release(held)
    assert pc.insert([5, 6, 7, 8], cache) == 1 and pc.stats.evictions == 1
    with pytest.raises(RuntimeError, match="released more"):
        pc.release(held)


def test_timeline_summary_and_chrome_trace(model32, tmp_path):
    tl = Timeline()
    generate(model32, [1, 2, 3], 10, seed=0, timeline=tl)
    phases = [t.phase for t in tl.ticks]
    assert phases[0] == "prefill" and set(phases[1:]) == {"decode"}
    assert [t.cache_len for t in tl.ticks] == list(range(3, 13))
    assert all(t.computed == 1 for t in tl.ticks[1:]) and tl.ticks[5].reused == 7
    s = tl.summary()
    assert s["ticks"] == 10 and s["itl_p90_ms"] >= s["itl_p50_ms"] > 0
    path = tmp_path / "trace.json"
    tl.save_chrome_trace(path)
    events = json.loads(path.read_text())["traceEvents"]
    assert len(events) == 10 and events[1]["ts"] == pytest.approx(events[0]["dur"])
    assert "time to first token" in tl.table()


def test_uncached_timeline_recomputes_everything(model32):
    tl = Timeline()
    generate(model32, [1, 2, 3], 5, seed=0, use_cache=False, timeline=tl)
    assert [t.computed for t in tl.ticks] == [3, 4, 5, 6, 7]
    assert all(t.reused == 0 for t in tl.ticks)


def test_kv_cache_overflow_is_an_error(model32):
    engine = GPTEngine(model32)
    cache = engine.new_cache(1, max_len=4)
    engine.forward(np.array([[1, 2, 3]]), cache)
    with pytest.raises(ValueError, match="overflow"):
        engine.forward(np.array([[1, 2]]), cache)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_decode_ticks_equal_full_recomputation_and_reuse_their_buffers(model64, model32, dtype):
    model = model64 if dtype == "float64" else model32
    tol = 1e-10 if dtype == "float64" else 1e-5
    engine = GPTEngine(model)
    idx = np.random.default_rng(4).integers(0, CFG.vocab_size, (2, 12))
    full = model(minillm.tensor(idx))[0].data
    cache = engine.new_cache(2)
    engine.forward(idx[:, :5], cache)
    for t in range(5, 12):
        logits = engine.forward(idx[:, t : t + 1], cache)
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=tol, rtol=0)
    assert cache.length == 12
    buffers = engine._tick
    assert buffers is not None and buffers[0] == 2
    engine.forward(idx[:, :3], engine.new_cache(2))  # a prefill in between keeps nothing
    engine.forward(idx[:, :1], engine.new_cache(2))
    assert engine._tick is buffers  # a decode tick's work arrays are made once


def test_timeline_phases_and_token_rate_for_batches_and_no_cache(model32):
    tl = Timeline()
    generate(model32, [[1, 2], [3, 4, 5]], 4, seed=0, use_cache=False, timeline=tl)
    assert [t.phase for t in tl.ticks] == ["prefill", "decode", "decode", "decode"]
    assert all(t.tokens == 2 for t in tl.ticks)
    s = tl.summary()
    total = sum(t.seconds for t in tl.ticks)
    assert s["tokens_per_s"] == pytest.approx(8 / total, rel=1e-3) and s["itl_p50_ms"] > 0
    pc = PrefixCache(block_tokens=2)
    generate(model32, [1, 2, 3, 4, 5], 2, greedy=True, prefix_cache=pc)
    tl = Timeline()
    generate(model32, [1, 2, 3, 4, 6], 3, greedy=True, prefix_cache=pc, timeline=tl)
    assert tl.ticks[0].phase == "prefill" and tl.ticks[0].reused == 4  # a partial prefill
    assert [t.phase for t in tl.ticks[1:]] == ["decode", "decode"]


def test_engine_reads_the_models_current_weights_without_copying():
    model = GPT(CFG).eval()
    engine = GPTEngine(model)
    assert engine.blocks[0].attn_w is model.transformer.h[0].attn.c_attn.weight.data
    idx = np.array([[1, 2, 3]])
    with minillm.no_grad():  # an in-place update (what an optimizer step does)
        for p in model.parameters():
            p.data *= 1.5
    np.testing.assert_allclose(engine.forward(idx), model(minillm.tensor(idx))[0].data, atol=1e-5)
    other = GPT(CFG).eval()
    model.load_state_dict(other.state_dict())  # arrays replaced, or copied into: either is seen
    np.testing.assert_allclose(engine.forward(idx), other(minillm.tensor(idx))[0].data, atol=1e-5)
    model.double()  # a new dtype: new arrays, and the engine follows
    assert engine.forward(idx).dtype == np.float64


def test_engine_rejects_bad_inputs_with_clear_errors(model32):
    engine = GPTEngine(model32)
    with pytest.raises(ValueError, match="integer token ids"):
        engine.forward(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 19\)"):
        engine.forward(np.array([[1, 19]]))
    with pytest.raises(ValueError, match="at least one"):
        engine.forward(np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(ValueError, match="block_size"):
        engine.forward(np.array([[1]]), positions=np.array([[16]]))
    with pytest.raises(ValueError, match="block_size 16"):
        engine.forward(np.zeros((1, 17), dtype=np.int64))
    with pytest.raises(ValueError, match="key_mask has shape"):
        engine.forward(np.array([[1, 2]]), key_mask=np.ones((1, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"make it with engine\.new_cache"):
        engine.forward(np.array([[1]]), engine.new_cache(2))  # two rows for one
    from minillm.inference import KVCache

    wrong_heads = KVCache(CFG.n_layer, 1, 1, 16, CFG.n_embd, np.float32)
    with pytest.raises(ValueError, match=r"make it with engine\.new_cache"):
        engine.forward(np.array([[1]]), wrong_heads)
    wrong_dtype = KVCache(CFG.n_layer, 1, CFG.n_head, 16, CFG.n_embd // CFG.n_head, np.float64)
    with pytest.raises(ValueError, match="float64"):
        engine.forward(np.array([[1]]), wrong_dtype)
    with pytest.raises(ValueError, match="positions must be integers"):
        engine.forward(np.array([[1]]), positions=np.array([[0.0]]))


def test_a_huge_token_budget_with_stop_ids_costs_only_the_tokens_made(model32):
    # the batch keeps the visible window only: nothing is sized by max_new_tokens
    out = generate(model32, [1, 2, 3], 10**12, greedy=True, stop_ids=range(CFG.vocab_size))
    assert len(out) == 1


def test_eviction_takes_the_deepest_block_of_a_prefix_first():
    from minillm.inference import KVCache

    cache = KVCache(n_layer=1, batch=1, n_head=1, max_len=8, head_dim=2, dtype=np.float64)
    cache.length = 8
    one = 2 * 4 * 2 * 8  # keys + values of one 4-token block
    pc = PrefixCache(block_tokens=4, max_bytes=2 * one)
    assert pc.insert([1, 2, 3, 4, 5, 6, 7, 8], cache) == 2  # a root block and its child
    assert pc.insert([9, 9, 9, 9], cache) == 1  # needs room: the child goes, the root stays
    assert len(pc.acquire([1, 2, 3, 4, 5, 6, 7, 8])) == 1


def test_a_fully_padded_query_is_masked_alike_in_training_and_in_generation():
    """Training's attention (F.scaled_dot_product_attention, fused and weights paths) and the
    engine's kernel (Numba and its twin) agree on a left-padded batch, the pad queries included:
    a query that may see no key returns zeros everywhere, never NaN or a self-attention."""
    from minillm.kernels import twins
    from minillm.nn import functional as F

    rng = np.random.default_rng(0)
    B, H, T, D = 2, 2, 5, 4
    C = H * D
    qkv = rng.standard_normal((B, T, 3 * C))
    key_mask = np.array([[False, False, True, True, True], [True] * 5])  # row 0: two pads
    q, k, v = (
        minillm.tensor(qkv[:, :, i * C : (i + 1) * C].reshape(B, T, H, D).transpose(0, 2, 1, 3))
        for i in range(3)
    )
    allowed = np.tril(np.ones((T, T), dtype=bool)) & key_mask[:, None, None, :]  # (B, 1, T, T)
    fused = F.scaled_dot_product_attention(q, k, v, attn_mask=minillm.tensor(allowed))
    weighted, _ = F.scaled_dot_product_attention(
        q, k, v, attn_mask=minillm.tensor(allowed), return_weights=True
    )
    paths = {"training (fused)": fused.data, "training (weights)": weighted.data}
    for fn in twins("kv_attention"):
        y = np.empty((B, T, C))
        kc, vc = np.zeros((2, B, H, T, D))
        fn(y, kc, vc, qkv, key_mask, True, 0, 1.0 / np.sqrt(D))
        paths[f"generation ({fn.__name__})"] = y.reshape(B, T, H, D).transpose(0, 2, 1, 3)
    reference = paths["training (fused)"]
    assert (reference[0, :, :2] == 0).all()  # the two pad queries of row 0: zeros
    for name, y in paths.items():
        np.testing.assert_allclose(y, reference, atol=1e-12, err_msg=name)
