"""The cloud's KV-cache kind follows its runtime: a dynamic cache (HF eager) re-copies the cache
on every append, a static or paged one writes in place; large batches show the difference."""

from __future__ import annotations

from splitbench.models import MODEL_PRESETS, build_trace
from splitbench.netsim import resolve_network, resolve_profile
from splitbench.netsim.multiuser import UserClass, simulate_multiuser


def test_dynamic_cache_copies_the_cache_once_per_append() -> None:
    static = build_trace("tiny", "cloud-only", 8, kv_cache="static")
    dyn = build_trace("tiny", "cloud-only", 8, kv_cache="dynamic")
    p = MODEL_PRESETS["tiny"]
    kv_token = 2 * p.n_kv_heads * p.head_dim * 2 * p.n_layers  # K and V, fp16, every layer
    assert dyn.meta["kv_bytes_per_token"]["cloud"] == kv_token
    s = sum(x.elementwise_bytes_per_ctx for x in static.decode["default"].steps if x.kind == "compute")
    d = sum(x.elementwise_bytes_per_ctx for x in dyn.decode["default"].steps if x.kind == "compute")
    assert d - s == 2 * kv_token  # the old cache read and the grown cache written: 2 x KV per context token
    ks = sum(x.kernels for x in static.decode["default"].steps if x.kind == "compute")
    kd = sum(x.kernels for x in dyn.decode["default"].steps if x.kind == "compute")
    assert kd - ks == 2 * p.n_layers  # one torch.cat for K and one for V per layer


def test_presets_state_their_runtime_cache() -> None:
    assert resolve_profile("a100-80g").kv_cache == "dynamic"  # HF eager
    vllm = resolve_profile("a100-80g-vllm")
    assert (vllm.runtime, vllm.kv_cache) == ("vllm", "paged") and "[M]" in vllm.source["mem_eff"]
    assert resolve_profile("snapdragon-8gen3").kv_cache == "paged"  # MLC


def test_large_batches_pay_for_a_dynamic_cache() -> None:
    link = resolve_network("wifi6")
    dev = resolve_profile("m2-ultra")
    cloud = resolve_profile({"base": "a100-80g", "measured_decode_tok_s": {}})
    tpot = {}
    for kind in ("static", "dynamic"):
        tr = build_trace("llama2-7b", "cloud-only", 1024, kv_cache={"device": "static", "cloud": kind})
        for users in (1, 32):
            res = simulate_multiuser(tr, UserClass("wifi6", link, dev), cloud, users, 4, max_batch=32)
            tpot[kind, users] = res.metrics()["tpot_p50_s"]
    one = tpot["dynamic", 1] / tpot["static", 1]
    many = tpot["dynamic", 32] / tpot["static", 32]
    assert 1.0 < one < many  # the copy is per request: at 32 it is a large share of the step
    assert many > 1.5
