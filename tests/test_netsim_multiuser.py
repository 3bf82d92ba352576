"""Multi-user cloud: N=1 equals the single-user replay, batching saturates at the batched roofline,
latency grows with load, queueing, arrivals, mixes, and the step vs interleave policies."""

from __future__ import annotations

import numpy as np
import pytest

from splitbench import SplitbenchError
from splitbench.models import build_trace
from splitbench.netsim import resolve_network, resolve_profile, simulate
from splitbench.netsim.batching import apportion
from splitbench.netsim.cost import measured_scale
from splitbench.netsim.multiuser import UserClass, assign_classes, simulate_multiuser

MODEL = "llama3.2-1b"
PROMPT = 16
DEV = resolve_profile("iphone13-pro-max")
CLOUD = resolve_profile("a100-80g")


@pytest.fixture(scope="module")
def traces():
    return {m: build_trace(MODEL, m, PROMPT) for m in ("privatelora", "spa", "cloud-only")}


def _cls(net: str, share: float = 1.0) -> UserClass:
    return UserClass(net, resolve_network(net), DEV, share)


MIX = [_cls("4g", 0.4), _cls("5g", 0.4), _cls("wifi6", 0.2)]


@pytest.mark.parametrize("method", ["privatelora", "spa", "cloud-only"])
@pytest.mark.parametrize("policy", ["step", "interleave", "exclusive"])
def test_one_user_equals_single_user_simulate(traces, method: str, policy: str) -> None:
    tr = traces[method]
    link = resolve_network("5g")  # jitter and loss: the user's seed must match too
    tl = simulate(tr, link, DEV, CLOUD, 24, seed=7)
    res = simulate_multiuser(tr, UserClass("5g", link, DEV), CLOUD, 1, 24, policy=policy, seed=7)
    req = res.requests[0]
    assert req.token_times == tl.token_times  # bit for bit
    m, single = res.metrics(), tl.metrics()
    assert m["ttft_p50_s"] == single["ttft_s"]
    assert m["tpot_p50_s"] == pytest.approx(single["tpot_s"], rel=1e-12)
    assert res.cloud_busy_s == single["cloud_busy_s"] and res.device_busy_s[0] == single["device_busy_s"]
    assert m["queue_delay_mean_s"] == 0.0 and m["mean_batch"] == 1.0


def _roofline(step, users: int, ctx: float, scale: float) -> float:
    """Hand formula: one batched launch of ``users`` copies of ``step`` at context ``ctx``."""
    bw = CLOUD.mem_bw_gbps * 1e9 * CLOUD.mem_eff
    peak = CLOUD.peak_flops(step.dtype) * CLOUD.compute_eff
    flops = users * (step.flops + step.flops_per_ctx * ctx)
    other = users * (
        step.activation_bytes + step.kv_bytes + (step.kv_bytes_per_ctx + step.activation_bytes_per_ctx) * ctx
    )
    elementwise = users * (step.elementwise_bytes + step.elementwise_bytes_per_ctx * ctx)  # adds, never hides
    return (
        max(flops / peak, (step.weight_bytes + other) / bw)
        + elementwise / bw
        + step.kernels * CLOUD.kernel_overhead_us * 1e-6
    ) * scale


def test_throughput_rises_then_saturates_at_batched_roofline(traces) -> None:
    tr, B, new = traces["cloud-only"], 8, 32
    uc = _cls("paper-5g")  # bandwidth-only link, no delay: the cloud is the only bottleneck
    thr = {
        n: simulate_multiuser(tr, uc, CLOUD, n, new, max_batch=B).metrics()["aggregate_tok_s"]
        for n in (1, 2, 4, 8, 16, 32)
    }
    assert thr[2] > 1.9 * thr[1] and thr[4] > 1.9 * thr[2] and thr[8] > 1.9 * thr[4]  # rises ~linearly
    assert thr[16] == pytest.approx(thr[8], rel=0.02) and thr[32] == pytest.approx(thr[8], rel=0.02)
    # closed form of one wave of B users: batched prefill, then new-1 batched decode steps
    (pre,) = [s for s in tr.prefill.steps if s.kind == "compute"]
    (dec,) = [s for s in tr.decode["default"].steps if s.kind == "compute"]
    scale = measured_scale(tr, CLOUD, "cloud")
    wave = _roofline(pre, B, 0, 1.0) + sum(_roofline(dec, B, PROMPT + k, scale) for k in range(new - 1))
    closed = B * new / wave
    assert thr[32] <= closed * 1.0001
    assert thr[32] == pytest.approx(closed, rel=0.01)  # the links add microseconds
    # one batched step serves B users for barely more than one user's step: weights are read once
    assert _roofline(dec, B, PROMPT, scale) < 1.1 * _roofline(dec, 1, PROMPT, scale)


def test_latency_grows_with_load(traces) -> None:
    tr = traces["privatelora"]
    uc = _cls("5g")
    tpot, ttft = [], []
    for n in (1, 2, 4, 8, 16):
        m = simulate_multiuser(tr, uc, CLOUD, n, 16, max_batch=8, policy="step").metrics()
        tpot.append(m["tpot_p50_s"])
        ttft.append(m["ttft_p90_s"])
    # each user draws its own delay variation around the median RTT: medians move by a little
    assert all(b >= a * 0.98 for a, b in zip(tpot, tpot[1:], strict=False)), tpot
    assert tpot[-1] > tpot[0] * 1.05
    assert ttft[-1] > 2 * ttft[3]  # beyond max_batch requests queue
    co = traces["cloud-only"]
    tp = [simulate_multiuser(co, uc, CLOUD, n, 16, max_batch=32).metrics()["tpot_p90_s"] for n in (1, 8, 32)]
    assert tp[0] < tp[1] < tp[2]


def test_queueing_only_beyond_max_batch(traces) -> None:
    tr = traces["cloud-only"]
    uc = _cls("wifi6")
    m4 = simulate_multiuser(tr, uc, CLOUD, 4, 8, max_batch=4).metrics()
    m8 = simulate_multiuser(tr, uc, CLOUD, 8, 8, max_batch=4).metrics()
    assert m4["queue_delay_mean_s"] == 0.0
    assert m8["queue_delay_mean_s"] > 0 and m8["queue_delay_p90_s"] > 0
    assert m8["ttft_p90_s"] > m4["ttft_p90_s"]


def test_interleave_recovers_what_round_trips_cost(traces) -> None:
    tr = traces["privatelora"]
    kw = dict(max_batch=8, seed=1)
    step = simulate_multiuser(tr, MIX, CLOUD, 8, 16, policy="step", **kw)
    inter = simulate_multiuser(tr, MIX, CLOUD, 8, 16, policy="interleave", **kw)
    ms, mi = step.metrics(), inter.metrics()
    assert ms["cloud_stall_s"] > 0.5 * ms["span_s"]  # the held batch mostly waits on links
    assert mi["cloud_stall_s"] == 0.0
    assert mi["cloud_utilisation"] > 2 * ms["cloud_utilisation"]
    assert mi["aggregate_tok_s"] > ms["aggregate_tok_s"]
    assert ms["mean_batch"] > mi["mean_batch"]  # interleaving trades batch size for busy time
    # the step policy moves everyone at the slowest link's pace: wifi6 users gain from interleaving
    wifi = [r["tpot_mean_s"] for r in step.per_user() if r["class"] == "wifi6"]
    wifi_i = [r["tpot_mean_s"] for r in inter.per_user() if r["class"] == "wifi6"]
    assert np.mean(wifi_i) < 0.8 * np.mean(wifi)


def test_mix_apportionment_and_assignment() -> None:
    assert apportion([0.4, 0.4, 0.2], 10) == [4, 4, 2]
    assert apportion([0.4, 0.4, 0.2], 7) == [3, 3, 1]
    assert apportion([1, 1, 1], 2) == [1, 1, 0]
    assert sum(apportion([0.3, 0.3, 0.4], 101)) == 101
    a = [c.name for c in assign_classes(MIX, 10, seed=3)]
    assert sorted(a) == ["4g"] * 4 + ["5g"] * 4 + ["wifi6"] * 2
    assert a == [c.name for c in assign_classes(MIX, 10, seed=3)]
    assert a != [c.name for c in assign_classes(MIX, 10, seed=4)]


def test_closed_loop_requests_follow_each_other(traces) -> None:
    res = simulate_multiuser(
        traces["spa"], MIX, CLOUD, 5, 6, think_time_s=0.5, requests_per_user=3, max_batch=2, seed=2
    )
    assert len(res.requests) == 15
    for u in range(5):
        rs = sorted((r for r in res.requests if r.user == u), key=lambda r: r.arrival)
        assert len(rs) == 3 and all(len(r.token_times) == 6 for r in rs)
        for a, b in zip(rs, rs[1:], strict=False):
            assert b.arrival > a.token_times[-1]  # exponential think time after the previous end
    again = simulate_multiuser(
        traces["spa"], MIX, CLOUD, 5, 6, think_time_s=0.5, requests_per_user=3, max_batch=2, seed=2
    )
    assert again.metrics() == res.metrics()


def test_poisson_arrivals(traces) -> None:
    tr = traces["cloud-only"]
    uc = _cls("5g")
    slow = simulate_multiuser(tr, uc, CLOUD, 4, 8, arrival={"poisson": 1.0}, requests_per_user=5, seed=5)
    fast = simulate_multiuser(tr, uc, CLOUD, 4, 8, arrival={"poisson": 500.0}, requests_per_user=5, seed=5)
    assert len(slow.requests) == 20 and slow.metrics()["arrival"] == "poisson:1"
    arrivals = [r.arrival for r in slow.requests]
    assert arrivals == sorted(arrivals) and np.mean(np.diff(arrivals)) == pytest.approx(1.0, rel=0.6)
    for u in range(4):  # one connection per user: its requests do not overlap
        rs = [r for r in fast.requests if r.user == u]
        assert all(b.admit >= a.token_times[-1] for a, b in zip(rs, rs[1:], strict=False))
    assert fast.metrics()["queue_delay_mean_s"] > slow.metrics()["queue_delay_mean_s"]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"users": 0}, "users"),
        ({"policy": "fifo"}, "policy"),
        ({"arrival": "open"}, "arrival"),
        ({"arrival": {"poisson": -1}}, "arrival.poisson"),
        ({"think_time_s": -1.0}, "think_time_s"),
        ({"max_batch": 0}, "max_batch"),
    ],
)
def test_bad_input_names_the_field(traces, kw: dict, field: str) -> None:
    args = {"users": 2, "policy": "step"} | kw
    users = args.pop("users")
    with pytest.raises(SplitbenchError, match=f"^{field}"):
        simulate_multiuser(traces["cloud-only"], MIX, CLOUD, users, 4, **args)
