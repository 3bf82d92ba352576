"""Replay: the paper's closed form as a limit, timeline/metrics consistency, overlap, SPA variants,
measured-throughput override, feasibility and a shared cloud node."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import simpy

from splitbench.models.trace import Compute, ExecutionTrace, PhaseTrace, Transfer
from splitbench.netsim import (
    NETWORK_PRESETS,
    PROFILE_PRESETS,
    Engine,
    LinkSpec,
    feasible,
    simulate,
)
from splitbench.netsim.cost import measured_scale
from splitbench.netsim.engine import Request
from tests.netsim_helpers import privatelora_like

DEV, CLOUD = PROFILE_PRESETS["iphone15-pro"], PROFILE_PRESETS["h100-sxm"]  # no measured figures for llama2


def _paper_step_time(phase: PhaseTrace, ctx: int, link: LinkSpec) -> float:
    """PrivateLoRA's model: sum of compute + sum of bits/rate, no propagation (hand formula)."""
    t = 0.0
    for s in phase.steps:
        if s.kind == "compute":
            prof = DEV if s.side == "device" else CLOUD
            t += prof.step_time(s.flops_at(ctx), s.memory_bytes_at(ctx), s.kernels, s.dtype,
                                s.matvec_rows_at(ctx), s.elementwise_bytes_at(ctx))
        else:
            t += s.payload_bytes * 8 / ((link.up_mbps if s.direction == "up" else link.down_mbps) * 1e6)
    return t


def test_paper_limit_synthetic_privatelora() -> None:
    tr = privatelora_like()
    link = NETWORK_PRESETS["paper-5g"]
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=20)
    assert tl.token_times[0] == pytest.approx(_paper_step_time(tr.prefill, 0, link), rel=1e-9)
    for k, lat in enumerate(tl.token_latencies()[1:], start=1):
        assert lat == pytest.approx(
            _paper_step_time(tr.decode["default"], tr.prompt_tokens + k - 1, link), rel=1e-9
        )


@pytest.mark.skipif(
    importlib.util.find_spec("splitbench.models.build") is None, reason="models.build_trace not available"
)
def test_paper_limit_real_llama2_7b_privatelora_trace() -> None:
    from splitbench.models import build_trace

    tr = build_trace("llama2-7b", "privatelora", 128)
    link = NETWORK_PRESETS["paper-5g"]
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=5)
    for k, lat in enumerate(tl.token_latencies()[1:], start=1):
        assert lat == pytest.approx(
            _paper_step_time(tr.decode["default"], tr.prompt_tokens + k - 1, link), rel=1e-9
        )
    m = tl.metrics()
    assert m["up_bytes_per_token"] == tr.decode["default"].up_bytes()
    assert m["messages"] == sum(s.kind == "transfer" for s in tr.prefill.steps) + 4 * sum(
        s.kind == "transfer" for s in tr.decode["default"].steps
    )


def test_timeline_metrics_are_consistent() -> None:
    tr = privatelora_like(n_layers=4)
    tl = simulate(tr, NETWORK_PRESETS["5g"], DEV, CLOUD, new_tokens=6, seed=3)
    m = tl.metrics()
    assert m["ttft_s"] == tl.token_times[0] and m["e2e_s"] == tl.token_times[-1]
    assert sum(tl.token_latencies()) == pytest.approx(m["e2e_s"])
    assert m["tpot_s"] == pytest.approx((m["e2e_s"] - m["ttft_s"]) / 5)
    assert m["decode_tok_s"] == pytest.approx(1 / m["tpot_s"])
    assert m["prefill_tok_s"] == pytest.approx(tr.prompt_tokens / m["ttft_s"])
    assert m["up_bytes"] == tr.prefill.up_bytes() + 5 * tr.decode["default"].up_bytes()
    assert m["down_bytes_per_token"] == tr.decode["default"].down_bytes()
    assert m["up_wire_bytes"] > m["up_bytes"] and m["handshake_s"] == pytest.approx(0.05, rel=0.01)
    assert m["messages"] == 6 * (2 + 2 * 4)
    ev = tl.decode_step_events(2)
    assert {e["lane"] for e in ev} == {"device", "cloud", "up", "down"}
    assert min(e["start"] for e in ev) == pytest.approx(0.0, abs=1e-12)
    assert max(e["end"] for e in ev) == pytest.approx(tl.token_latencies()[3])
    assert m["device_busy_s"] == pytest.approx(
        sum(e[3] - e[2] for p in tl.phases for e in p if e[0] == "device")
    )
    with pytest.raises(IndexError):
        tl.decode_step_events(5)


def _phase(steps: tuple, kind: str = "decode") -> PhaseTrace:
    return PhaseTrace(phase=kind, tokens=1, context=0, steps=steps)


def _trace(prefill: PhaseTrace, decode: dict[str, PhaseTrace], **kw) -> ExecutionTrace:
    return ExecutionTrace(
        model="toy",
        method="toy",
        method_params={},
        act_dtype="fp16",
        prompt_tokens=4,
        prefill=prefill,
        decode=decode,
        **kw,
    )


def _c(i: int, side: str, mem: float, deps: tuple = ()) -> Compute:
    return Compute(
        id=i,
        side=side,
        flops=0,
        weight_bytes=mem,
        activation_bytes=0,
        kv_bytes=0,
        kernels=0,
        label=f"c{i}",
        deps=deps,
    )


def test_recorded_phases_are_every_step_with_the_senders_wire(monkeypatch) -> None:
    """Phases (the walker's compact records) read back as one Record per executed step, in the
    plan's lanes and labels, each transfer with the start, arrival and wire intervals its sender
    reported (a lossy, narrow link: messages whose bytes went out in several intervals too); and
    its sums without Records agree with the Records."""
    from splitbench.netsim import tcp

    sent: list[tuple] = []
    send = tcp.TcpPath.send

    def spy(self, t0: float, nbytes: int) -> float:
        end = send(self, t0, nbytes)
        sent.append((self.last_start, end, self.last_wire))
        return end

    monkeypatch.setattr(tcp.TcpPath, "send", spy)
    tr = privatelora_like(n_layers=3, prompt=256)
    link = dataclasses.replace(NETWORK_PRESETS["4g"], up_mbps=2.0, loss=0.02, loss_burst=1.0)
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=5, seed=1)
    assert len(tl.phases) == 5
    plans = [tr.prefill, *[tr.decode["default"]] * 4]
    for recs, phase in zip(tl.phases, plans, strict=True):
        lanes = {s.label: (s.side if s.kind == "compute" else s.direction) for s in phase.steps}
        assert sorted(r[1] for r in recs) == sorted(lanes) and all(lanes[r[1]] == r[0] for r in recs)
    transfers = [r for p in tl.phases for r in p if r[0] in ("up", "down")]
    assert [(r[2], r[3], r[4]) for r in transfers] == sent
    assert any(len(r[4]) > 1 for r in transfers)  # the case stored beside the one-interval one
    for k, recs in enumerate(tl.phases):
        for lane in ("device", "cloud"):
            assert tl.phases.busy(k, lane) == pytest.approx(sum(r[3] - r[2] for r in recs if r[0] == lane))
    assert tl.phases.transfer_spans() == [(r[2], r[3]) for r in transfers if r[4]]
    assert tl.phases[1:3] == [tl.phases[1], tl.phases[2]]


@pytest.mark.parametrize("method", ["device-only", "privatelora"])
def test_forward_overhead_charged_once_per_side_and_phase(method: str) -> None:
    """A profile's per-forward cost is paid once per phase by each side that computes, however many
    segments the split cuts the forward pass into (PrivateLoRA: L + 1 device segments per token)."""
    from splitbench.models import build_trace

    tr = build_trace("tiny", method, 8)
    link = LinkSpec(up_mbps=100, down_mbps=100, rtt_ms=0, transport="ideal", source="test")
    extra = {"device": 2e-3, "cloud": 5e-3}
    dev2 = dataclasses.replace(DEV, forward_overhead_us=extra["device"] * 1e6)
    cloud2 = dataclasses.replace(CLOUD, forward_overhead_us=extra["cloud"] * 1e6)
    a = simulate(tr, link, DEV, CLOUD, new_tokens=4).token_latencies()
    b = simulate(tr, link, dev2, cloud2, new_tokens=4).token_latencies()
    for phase, la, lb in zip([tr.prefill] + [tr.decode["default"]] * 3, a, b, strict=True):
        sides = {s.side for s in phase.steps if s.kind == "compute"}
        assert lb - la == pytest.approx(sum(extra[s] for s in sides), rel=1e-6)


@pytest.mark.parametrize("method", ["cloud-only", "privatelora", "layer-split"])
def test_message_overhead_adds_its_ends_to_a_serial_chain(method: str) -> None:
    """Each message costs ``message_overhead_us`` at the end that sends it and at the one that
    receives it; on a chain of steps (these paradigms' phases), a token takes exactly that much longer
    per message end — a streamed token ends the phase on arrival, so its receiving end is free."""
    from splitbench.models import build_trace

    tr = build_trace("tiny", method, 8)
    link = LinkSpec(up_mbps=100, down_mbps=100, rtt_ms=0, transport="ideal", source="test")
    us = 250.0
    a = simulate(tr, link, DEV, CLOUD, new_tokens=4).token_latencies()
    b = simulate(tr, link, dataclasses.replace(DEV, message_overhead_us=us),
                 dataclasses.replace(CLOUD, message_overhead_us=us), new_tokens=4).token_latencies()
    for phase, la, lb in zip([tr.prefill] + [tr.decode["default"]] * 3, a, b, strict=True):
        ids = {s.id: s for s in phase.steps}
        ends = 0
        for s in phase.steps:
            if s.kind == "compute":
                continue
            sender = "device" if s.direction == "up" else "cloud"
            ends += any(ids[d].kind == "compute" and ids[d].side == sender for d in s.deps)
            ends += any(s.id in t.deps for t in phase.steps if t.kind == "compute")
        assert ends > 0
        assert lb - la == pytest.approx(ends * us * 1e-6, rel=1e-6)


def test_independent_steps_overlap() -> None:
    # device and cloud work with no dependency between them, then one transfer after both
    steps = (
        _c(0, "device", 1e9),
        _c(1, "cloud", 1e9),
        Transfer(id=2, direction="up", payload_bytes=1000, label="t", deps=(0, 1)),
    )
    tr = _trace(_phase(steps, "prefill"), {"default": _phase(steps)})
    link = LinkSpec(10, 10, 0, transport="ideal")
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=2)
    t_dev = DEV.step_time(0, 1e9, 0)
    assert tl.token_times[0] == pytest.approx(max(t_dev, CLOUD.step_time(0, 1e9, 0)) + 1000 * 8 / 10e6)


def test_spa_variants_drawn_per_token_from_seed() -> None:
    open_ = _phase(
        (
            _c(0, "cloud", 1e9),
            Transfer(id=1, direction="down", payload_bytes=270_000, label="acts", deps=(0,)),
            _c(2, "device", 1e6, (1,)),
        )
    )
    closed = _phase((_c(0, "cloud", 1e9),))
    weights = (("gate_open", 0.3), ("gate_closed", 0.7))
    tr = _trace(closed, {"gate_open": open_, "gate_closed": closed}, variant_weights=weights)
    link = LinkSpec(20, 100, 40)
    a = simulate(tr, link, DEV, CLOUD, new_tokens=200, seed=5)
    b = simulate(tr, link, DEV, CLOUD, new_tokens=200, seed=5)
    assert a.token_times == b.token_times
    opened = sum(1 for p in a.phases[1:] if any(r[0] == "down" for r in p))
    assert 0.15 * 199 < opened < 0.45 * 199
    assert a.metrics()["down_bytes"] == opened * 270_000


def test_measured_throughput_overrides_roofline() -> None:
    n = 6.74e9
    whole = _phase(
        (
            Compute(
                id=0,
                side="cloud",
                flops=2 * n,
                weight_bytes=2 * n,
                activation_bytes=0,
                kv_bytes=0,
                kernels=32 * 12,
                label="whole model",
            ),
        )
    )
    tr = _trace(whole, {"default": whole}, meta={"n_params": n, "n_layers": 32})
    tr = ExecutionTrace(**{**tr.__dict__, "model": "llama2-7b"})
    a100 = PROFILE_PRESETS["a100-80g"]
    tl = simulate(tr, LinkSpec(100, 100, 0, transport="ideal"), DEV, a100, new_tokens=4)
    assert tl.token_latencies()[1] == pytest.approx(1 / 37.2, rel=1e-9)  # the paper's measured figure
    assert tl.token_times[0] == pytest.approx(a100.step_time(2 * n, 2 * n, 32 * 12))  # prefill: roofline


def test_feasibility() -> None:
    tr = privatelora_like()
    ok, why = feasible(tr, DEV, CLOUD, 256)
    assert ok and why == ""
    big = ExecutionTrace(**{**tr.__dict__, "device_memory_bytes": 40e9})
    ok, why = feasible(big, DEV, CLOUD, 256)
    assert not ok and "device" in why and "iphone15-pro" in why and "\n" not in why
    kv_heavy = ExecutionTrace(**{**tr.__dict__, "cloud_memory_bytes": 79e9})
    assert not feasible(kv_heavy, DEV, CLOUD, 4096)[0]


def test_exclusive_cloud_is_shared_between_users_on_a_simpy_clock() -> None:
    tr = privatelora_like(n_layers=4)
    link = NETWORK_PRESETS["paper-5g"]
    single = simulate(tr, link, DEV, CLOUD, new_tokens=5)
    eng = Engine(tr, CLOUD, 5, max_batch=3, policy="exclusive")
    users = [eng.add_user(link, DEV, seed=i, record=True) for i in range(3)]
    for u in users:
        eng.push_arrival(0.0, u, Request(u.idx, 0.0))
    env = simpy.Environment()
    env.process(eng.process(env))
    env.run()
    ends = sorted(u.requests[0].token_times[-1] for u in users)
    assert env.now == ends[-1]  # the simpy clock followed the replay to its end
    assert ends[0] == pytest.approx(single.token_times[-1], rel=0.2)
    assert ends[-1] > single.token_times[-1]  # someone queued behind the others on the one cloud node
    # the node runs one step at a time: no two users' cloud steps overlap
    cloud_steps = sorted((r[2], r[3]) for u in users for p in u.phases for r in p if r[0] == "cloud")
    assert len(cloud_steps) == 3 * sum(1 for p in single.phases for r in p if r[0] == "cloud")
    assert all(b[0] >= a[1] - 1e-12 for a, b in zip(cloud_steps, cloud_steps[1:], strict=False))
    assert eng.policy.busy_s == pytest.approx(3 * single.metrics()["cloud_busy_s"])
    assert eng.policy.launches == eng.policy.launched_steps == len(cloud_steps)


# ----- streamed tokens: the cloud does not wait for a token to reach the device -----------------


def _cloud_compute(phase: PhaseTrace, ctx: int, scale: float) -> float:
    """Hand formula: the phase's cloud compute at context ``ctx`` (roofline, times the measured scale)."""
    return scale * sum(
        CLOUD.step_time(
            s.flops_at(ctx),
            s.memory_bytes_at(ctx),
            s.kernels,
            s.dtype,
            s.matvec_rows_at(ctx),
            s.elementwise_bytes_at(ctx),
        )
        for s in phase.steps
        if s.kind == "compute"
    )


def _unstreamed(tr: ExecutionTrace) -> ExecutionTrace:
    """The same trace with every streamed flag cleared: the old, fully chained semantics."""

    def clear(ph: PhaseTrace) -> PhaseTrace:
        steps = tuple(dataclasses.replace(s, streamed=False) if s.kind == "transfer" else s for s in ph.steps)
        return dataclasses.replace(ph, steps=steps)

    return dataclasses.replace(
        tr, prefill=clear(tr.prefill), decode={k: clear(v) for k, v in tr.decode.items()}
    )


@pytest.mark.parametrize("down_mbps", [40.0, 0.002])
def test_cloud_only_streams_tokens_closed_form(down_mbps: float) -> None:
    from splitbench.models import build_trace

    tr = build_trace("llama2-7b", "cloud-only", 64)
    rtt, up_mbps, n = 120.0, 10.0, 12
    link = LinkSpec(up_mbps, down_mbps, rtt, transport="ideal")
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=n)
    (prompt_up,) = [s for s in tr.prefill.steps if s.kind == "transfer" and s.direction == "up"]
    (token,) = [s for s in tr.decode["default"].steps if s.kind == "transfer"]
    assert token.streamed and token.payload_bytes < 64  # a token id, a few bytes
    R = rtt / 1000
    up = prompt_up.payload_bytes * 8 / (up_mbps * 1e6)
    down = token.payload_bytes * 8 / (down_mbps * 1e6)
    scale = measured_scale(tr, CLOUD, "cloud")
    pre = _cloud_compute(tr.prefill, 0, 1.0)
    C = [_cloud_compute(tr.decode["default"], tr.prompt_tokens + k - 1, scale) for k in range(1, n)]
    m = tl.metrics()
    # TTFT = up(prompt) + RTT + prefill compute + down(token)
    assert m["ttft_s"] == pytest.approx(up + R + pre + down, rel=1e-9)
    if down <= min(C):
        # the downlink keeps up: tokens arrive spaced by the cloud's compute, not by the RTT
        for lat, c in zip(tl.token_latencies()[1:], C, strict=True):
            assert lat == pytest.approx(c, rel=1e-9)
        assert m["tpot_s"] == pytest.approx(sum(C) / (n - 1), rel=1e-9)
        assert m["tpot_s"] < R / 4
    else:
        # a downlink slower than the cloud: tokens queue FIFO on it and arrive one serialisation apart
        assert down > 2 * max(C)
        assert m["tpot_s"] == pytest.approx(down, rel=1e-9)
    assert m["e2e_s"] == tl.token_times[-1]
    # one representative decode step: the cloud's compute from 0, then its own token down
    ev = {e["lane"]: e for e in tl.decode_step_events(3)}
    assert set(ev) == {"cloud", "down"} and ev["cloud"]["start"] == 0.0
    assert ev["down"]["end"] == pytest.approx(tl.token_times[4] - tl.phase_starts[4], rel=1e-9)
    # the old chaining (each step waits for the token's arrival) would pay the RTT on every token
    chained = simulate(_unstreamed(tr), link, DEV, CLOUD, new_tokens=n).metrics()
    assert chained["ttft_s"] == pytest.approx(m["ttft_s"], rel=1e-12)
    assert chained["tpot_s"] == pytest.approx(sum(C) / (n - 1) + down + R / 2, rel=1e-9)


@pytest.mark.parametrize(
    "method",
    [
        "privatelora",
        {"name": "device-only", "weight_bits": 4},
        {"name": "layer-split", "device_layers": 4},
        {"name": "lora-split", "layers": "lora-s", "head_on_device": True},
    ],
)
def test_device_started_steps_stay_chained(method) -> None:
    """Where the next step starts on the device, nothing is streamed: each decode step starts when
    the previous token is known on the device, exactly as before streamed transfers existed."""
    from splitbench.models import build_trace

    tr = build_trace("llama2-7b", method, 32)
    phases = [tr.prefill, *tr.decode.values()]
    assert not any(s.kind == "transfer" and s.streamed for p in phases for s in p.steps)
    link = NETWORK_PRESETS["4g"]
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=6, seed=2)
    for k in range(5):
        assert tl.phase_starts[k + 1] == tl.token_times[k]
        assert tl.token_times[k] == max(r[3] for r in tl.phases[k])
    assert tl.token_times[-1] == max(r[3] for r in tl.phases[-1])


@pytest.mark.parametrize("gate", ["always", "never"])
def test_spa_next_step_does_not_wait_for_the_token(gate: str) -> None:
    from splitbench.models import build_trace

    tr = build_trace("llama2-7b", {"name": "spa", "gate": gate}, 32)
    link = NETWORK_PRESETS["4g"]
    tl = simulate(tr, link, DEV, CLOUD, new_tokens=6, seed=2)
    for k in range(5):
        (tok,) = [r for r in tl.phases[k] if r[1] == "token down"]
        assert tl.token_times[k] == tok[3]
        # the next step starts when the LM head is done, before the token reaches the device
        assert tl.phase_starts[k + 1] == tok[2] < tok[3]

