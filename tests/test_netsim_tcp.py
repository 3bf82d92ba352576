"""Transport: ideal closed form, TCP against the ns-3 reference figures, windows, idle restart, loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbench import SplitbenchError
from splitbench.netsim import LinkSpec, netcheck

NS3 = Path(__file__).resolve().parents[1] / "netsim" / "reference" / "ns3_results.json"


@pytest.mark.parametrize(
    "up, down, rtt, n, m, c, k",
    [
        (10, 40, 50, 1500, 1500, 2, 50),
        (60, 100, 0, 8212, 788, 0.5, 7),
        (1, 5, 80, 300_000, 10, 0, 2),
        (200, 400, 4, 1, 100, 3, 4),
    ],
)
def test_ideal_constant_link_is_closed_form(
    up: float, down: float, rtt: float, n: int, m: int, c: float, k: int
) -> None:
    r = netcheck(n, m, c, k, LinkSpec(up, down, rtt, transport="ideal"))
    per_round = n * 8 / (up * 1e6) + m * 8 / (down * 1e6) + rtt / 1000 + c / 1000
    assert r["completion_s"] == pytest.approx(k * per_round, rel=1e-9)
    assert r["per_round_s"] == pytest.approx([per_round] * k, rel=1e-9)
    assert r["handshake_s"] == 0.0


def test_every_ns3_reference_case_within_10pct() -> None:
    """Both recorded ns-3 sets (NewReno; the default CUBIC/SACK/PRR with two buffer sizes), replayed
    by validate with the matching congestion control: every completion and handshake within 10%."""
    from splitbench.harness.validate import link_cases

    cases = link_cases()
    assert len(cases) == 2 * (18 + 30)
    bad = [f"{c.case} {c.phase}: {c.error_pct:+.1f}%" for c in cases if not c.passed]
    assert not bad, bad
    # the upper-bound cases are exactly those where ns-3 timed out, and there are some
    assert 0 < sum(c.upper_bound for c in cases) < 8


@pytest.mark.skipif(not NS3.is_file(), reason="netsim/reference/ns3_results.json not generated yet")
@pytest.mark.parametrize("case", json.loads(NS3.read_text())["cases"], ids=lambda c: c["name"])
def test_wire_bytes_match_ns3(case: dict) -> None:
    meta = json.loads(NS3.read_text())
    link = LinkSpec(
        case["up_mbps"],
        case["down_mbps"],
        2 * case["one_way_ms"],
        rwnd_bytes=case["rwnd_bytes"],
        mss_bytes=meta["mss_bytes"],
        header_bytes=meta.get("header_bytes", 52),
        init_cwnd_pkts=meta.get("init_cwnd_pkts", 10),
        queue_pkts=100,
        cc="newreno",
        delack_ms=200,
        min_rto_ms=1000,
        quickack=False,
    )
    r = netcheck(case["up_bytes"], case["down_bytes"], case["compute_ms"], case["rounds"], link)
    # headers and retransmissions counted the same way
    assert r["up_wire_bytes"] == pytest.approx(case["up_wire_bytes"], rel=0.02)
    assert r["down_wire_bytes"] == pytest.approx(case["down_wire_bytes"], rel=0.02)


def test_fresh_connection_pays_slow_start() -> None:
    tcp = netcheck(262_144, 100, 0, 1, LinkSpec(10, 40, 50))["completion_s"]
    ideal = netcheck(262_144, 100, 0, 1, LinkSpec(10, 40, 50, transport="ideal"))["completion_s"]
    # 182 segments from an initial window of 10 doubling per RTT (10, 20, 40, 80, ...): rounds that
    # wait for ACKs, so well over one extra RTT
    assert tcp > ideal + 1.5 * 0.05


def test_receive_window_caps_bulk_rate() -> None:
    # 128 KiB window at 20 ms one-way: ~90 segments per 40 ms RTT ~ 26 Mb/s of payload, not 300
    r = netcheck(100, 10_000_000, 0, 1, LinkSpec(50, 300, 40, rwnd_bytes=131072))
    rate = 10_000_000 * 8 / r["completion_s"] / 1e6
    assert 20 < rate < (131072 // 1448) * 1448 * 8 / 0.040 / 1e6 * 1.01


def test_idle_restart_falls_back_to_initial_window() -> None:
    def two_bursts(idle_restart: bool) -> list[float]:
        link = LinkSpec(50, 300, 20, idle_restart=idle_restart)
        return netcheck(262_144, 100, 2000, 2, link)["per_round_s"]  # 2 s of compute: idle > RTO

    restart, keep = two_bursts(True), two_bursts(False)
    assert restart[1] == pytest.approx(restart[0], rel=0.02)
    assert keep[1] < restart[1] - 0.02 + 2.0


def test_wire_bytes_count_headers() -> None:
    link = LinkSpec(10, 40, 50)
    r = netcheck(3000, 10, 0, 2, link)
    assert r["up_wire_bytes"] == 2 * (3000 + 3 * 52) and r["down_wire_bytes"] == 2 * (10 + 52)


def test_loss_costs_retransmissions_and_is_deterministic() -> None:
    link = LinkSpec(20, 50, 40, loss=0.05)
    a = netcheck(200_000, 20_000, 1, 5, link, seed=7)
    b = netcheck(200_000, 20_000, 1, 5, link, seed=7)
    clean = netcheck(200_000, 20_000, 1, 5, LinkSpec(20, 50, 40), seed=7)
    assert a == b
    assert a["up_retx_bytes"] > 0 and a["completion_s"] > clean["completion_s"]
    first_copies = 5 * (200_000 + -(-200_000 // 1448) * 52)
    assert a["up_wire_bytes"] - a["up_retx_bytes"] == first_copies
    assert clean["up_wire_bytes"] - clean["up_retx_bytes"] == first_copies


def test_tail_loss_needs_a_timeout() -> None:
    # one-segment messages: no later segments to produce duplicate ACKs, so a loss waits for the RTO
    link = LinkSpec(20, 50, 40, loss=0.3, min_rto_ms=200)
    per = netcheck(100, 100, 0, 40, link, seed=1)["per_round_s"]
    assert max(per) >= 0.2 + 0.04 and min(per) == pytest.approx(0.04, rel=0.01)


@pytest.mark.parametrize(
    "kw, field",
    [({"rounds": 0}, "rounds"), ({"up_bytes": -1}, "up_bytes"), ({"compute_ms": -2.0}, "compute_ms")],
)
def test_netcheck_rejects_impossible_parameters(kw: dict, field: str) -> None:
    args = {"up_bytes": 10, "down_bytes": 10, "compute_ms": 0.0, "rounds": 1, **kw}
    with pytest.raises(SplitbenchError, match=field):
        netcheck(link=LinkSpec(1, 1, 1), **args)
    with pytest.raises(SplitbenchError, match="loss"):
        netcheck(1, 1, 0, 1, LinkSpec(1, 1, 1, loss=1.5))
