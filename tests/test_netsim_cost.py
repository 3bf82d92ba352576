"""One cost model: a batched launch is the single-user price over summed user terms, so it is
never cheaper than one of its members, equals it at batch 1, and grows with the batch; plans,
single-user replay and batched launches all price through it."""

from __future__ import annotations

import numpy as np
import pytest

from splitbench.models import build_trace
from splitbench.netsim import PROFILE_PRESETS, resolve_profile
from splitbench.netsim.cost import (
    LaunchTerms,
    MeasuredCost,
    RooflineCost,
    cost_model,
    measured_scale,
    sum_terms,
    user_terms,
)
from splitbench.netsim.engine import build_plans, message_ends
from splitbench.netsim.host import host_from_measurement
from tests.netsim_helpers import privatelora_like

# a calibration of the kind netsim/host.py measures on a 2-core CPU (per-row, per-kernel and
# per-forward costs all non-zero: the terms a batch must not drop)
HOST = host_from_measurement(
    {
        "fp32_tflops": 0.09,
        "attention_eff": 0.6,
        "mem_bw_gbps": 9.0,
        "matvec_row_ns": 2.5,
        "kernel_overhead_us": 9.0,
        "forward_overhead_us": 450.0,
        "message_overhead_us": 120.0,
    },
    "test",
)
PROFILES = {"host": HOST, **{n: resolve_profile(n) for n in PROFILE_PRESETS if n != "host"}}


@pytest.fixture(scope="module")
def traces():
    return [build_trace("llama3.2-1b", m, 16) for m in ("privatelora", "cloud-only", "spa")]


@pytest.mark.parametrize("name", list(PROFILES))
def test_batched_step_non_decreasing_and_single_at_batch_one(traces, name: str) -> None:
    prof = PROFILES[name]
    for tr in traces:
        for kind, phases in (("prefill", [tr.prefill]), ("decode", list(tr.decode.values()))):
            cost = cost_model(tr, prof, "cloud", kind)
            for ph in phases:
                first = True
                for s in ph.steps:
                    if s.kind != "compute" or s.side != "cloud":
                        continue
                    launch = LaunchTerms.of(s, forward=first)
                    first = False
                    ctx = [tr.prompt_tokens + 37 * k for k in range(9)]  # users at different contexts
                    single = cost.price(launch, *user_terms(s, ctx[0]))
                    prices = [
                        cost.price(launch, *sum_terms([user_terms(s, c) for c in ctx[:b]]))
                        for b in range(1, len(ctx) + 1)
                    ]
                    assert prices[0] == single
                    assert all(b >= a for a, b in zip(prices, prices[1:], strict=False)), (s.label, prices)
                    # never cheaper than any member alone
                    assert all(prices[-1] >= cost.price(launch, *user_terms(s, c)) for c in ctx)


def test_host_batch_keeps_per_row_and_per_forward_costs(traces) -> None:
    tr = traces[1]  # cloud-only: the first cloud step of a decode pays the per-forward cost
    (s, *_) = [s for s in tr.decode["default"].steps if s.kind == "compute" and s.side == "cloud"]
    cost = cost_model(tr, HOST, "cloud", "decode")
    launch = LaunchTerms.of(s, forward=True)
    one = user_terms(s, 100.0)
    two = cost.price(launch, *sum_terms([one, one]))
    # hand formula: the roofline of twice the user terms plus the launch's own terms once
    bw = HOST.mem_bw_gbps * 1e9
    rate = HOST.peak_flops(s.dtype)
    f, a = 2 * one[0], 2 * one[1]
    tc = (f - a) / rate + a / (rate * HOST.attention_eff)
    mem = s.weight_bytes + 2 * (one[2] + one[3])
    hand = (
        max(tc, mem / bw)
        + (s.matvec_rows + 2 * one[5]) * HOST.matvec_row_ns * 1e-9
        + 2 * one[4] / bw
        + s.kernels * HOST.kernel_overhead_us * 1e-6
        + HOST.forward_overhead_us * 1e-6
    )
    assert two == pytest.approx(hand, rel=1e-12)
    assert s.matvec_rows > 0 and HOST.forward_overhead_us > 0


def test_plans_price_through_the_cost_model() -> None:
    tr = privatelora_like(n_layers=4)  # llama2-7b: a100-80g has a measured decode rate for it
    dev, cloud = PROFILE_PRESETS["iphone13-pro-max"], PROFILE_PRESETS["a100-80g"]
    pre, dec = build_plans(tr, dev, cloud, 5, key_of={})
    plan = dec["default"]
    scale = measured_scale(tr, cloud, "cloud")
    assert isinstance(cost_model(tr, cloud, "cloud", "decode"), MeasuredCost) and scale != 1.0
    assert type(cost_model(tr, cloud, "cloud", "prefill")) is RooflineCost  # measured: decode only
    forward = set()
    msgs = message_ends(plan.phase.steps, plan.dependents)
    for i, s in enumerate(plan.phase.steps):
        if s.kind != "compute":
            continue
        prof = dev if s.side == "device" else cloud
        sc = measured_scale(tr, prof, s.side)
        launch = LaunchTerms.of(s, forward=s.side not in forward)
        forward.add(s.side)
        for k in range(4):  # decode step k+1 runs at context prompt + k
            ctx = tr.prompt_tokens + k
            hand = (prof.time_of(s, ctx) + (prof.forward_overhead_us * 1e-6 if launch.forward else 0.0)) * sc
            assert plan.columns[k][i] == pytest.approx(hand, rel=1e-12)
            if s.side == "cloud":
                assert plan.launch[i] == launch
                np.testing.assert_array_equal(plan.uterms[i][k], user_terms(s, float(ctx), msgs[i]))


def test_messages_priced_per_end_unscaled_and_summed_over_a_batch(traces) -> None:
    """The messages term: message_overhead_us per message end, after the measured scale (it is no
    roofline work), and a batch pays every member's messages."""
    tr = traces[0]
    (s, *_) = [s for s in tr.decode["default"].steps if s.kind == "compute" and s.side == "cloud"]
    launch = LaunchTerms.of(s)
    cost = cost_model(tr, HOST, "cloud", "decode")
    base = cost.price(launch, *user_terms(s, 100.0))
    assert cost.price(launch, *user_terms(s, 100.0, 2)) - base == pytest.approx(2 * 120e-6, rel=1e-9)
    scaled = MeasuredCost(HOST, 3.0)
    assert scaled.price(launch, *user_terms(s, 100.0, 2)) - 3.0 * base == pytest.approx(2 * 120e-6, rel=1e-9)
    two = cost.price(launch, *sum_terms([user_terms(s, 100.0, 2), user_terms(s, 100.0, 1)]))
    none = cost.price(launch, *sum_terms([user_terms(s, 100.0)] * 2))
    assert two - none == pytest.approx(3 * 120e-6, rel=1e-9)
    assert RooflineCost(PROFILES["a100-80g"]).message_s == 0.0  # presets: I/O beside the compute


def test_message_ends_charge_each_message_once_at_each_end() -> None:
    """PrivateLoRA's decode chain d, up, c, down, d, ...: every message is sent at the end of the step
    before it and received at the start of the step after it, so the compute steps' counts add up to
    two per message, and a step's count is its received plus its sent messages."""
    tr = build_trace("tiny", "privatelora", 8)
    for phase in [tr.prefill, *tr.decode.values()]:
        steps = phase.steps
        pos = {st.id: i for i, st in enumerate(steps)}
        dependents: list[list[int]] = [[] for _ in steps]
        for i, st in enumerate(steps):
            for d in st.deps:
                dependents[pos[d]].append(i)
        counts = message_ends(steps, dependents)
        transfers = [i for i, st in enumerate(steps) if st.kind != "compute"]
        assert all(counts[i] == 0 for i in transfers)
        for i, st in enumerate(steps):
            if st.kind != "compute":
                continue
            received = sum(1 for d in st.deps if steps[pos[d]].kind != "compute")
            sent = sum(1 for k in dependents[i] if steps[k].kind != "compute")
            assert counts[i] == received + sent, st.label
        assert sum(counts) == 2 * len(transfers) - sum(1 for i in transfers if not dependents[i])
