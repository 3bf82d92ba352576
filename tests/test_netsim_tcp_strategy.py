"""Congestion control as a strategy: the fast per-message path equals the general walk, and a
strategy other than NewReno plugs into the walker unchanged."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbench.netsim import LinkSpec
from splitbench.netsim.cc import CONGESTION_CONTROLS
from splitbench.netsim.tcp import CongestionControl, NewReno, TcpPath

links = st.builds(
    LinkSpec,
    up_mbps=st.floats(min_value=0.5, max_value=300),
    down_mbps=st.just(10.0),
    rtt_ms=st.floats(min_value=0, max_value=150),
    jitter_ms=st.sampled_from([0.0, 0.5, 5.0]),
    loss=st.sampled_from([0.0, 0.001, 0.02, 0.1]),
    loss_burst=st.sampled_from([1.0, 3.0]),
    trace_up=st.sampled_from([None, None, "synth:5g-up:3", "synth:onoff:1"]),
    rwnd_bytes=st.sampled_from([4 * 1024 * 1024, 20_000, 64 * 1024]),
    init_cwnd_pkts=st.integers(min_value=1, max_value=12),
    idle_restart=st.booleans(),
    queue_pkts=st.sampled_from([4, 30, 1000]),
    min_rto_ms=st.sampled_from([200.0, 50.0]),
    delack_ms=st.sampled_from([200.0, 40.0]),
    reorder=st.booleans(),
    nodelay=st.booleans(),
    quickack=st.booleans(),
    cc=st.sampled_from(["cubic", "newreno", "cubic-ns3"]),
)
# (gap before the message in ms, bytes): small messages exercise the fast path, large ones the window
messages = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 1.0, 20.0, 300.0]),
        st.one_of(st.integers(0, 3000), st.integers(3000, 200_000)),
    ),
    min_size=1,
    max_size=40,
)


def _state(p: TcpPath) -> tuple:
    cc = p.cc
    return (
        p.used, p.last_arrival, p.payload_bytes, p.wire_bytes, p.retx_bytes, p.messages, p.inflight,
        p.next_seq, p.sender_free, p.last_ack, p.backoff, p.limit, p.pending_ack, p.bad, p._tie,
        sorted(p.events), [tuple(u) for u in p.undetected], list(p.retx), list(p.queue),
        cc.cwnd, cc.ssthresh, cc.srtt, cc.rttvar, cc.rto, cc.recover_seq,
        p.quick, p.rcv_last, p.sml, p.retx_pkts, p._tlp_armed, p._tlp_at, p._probe,
        cc.in_recovery, cc.prr_fs, cc.prr_delivered, cc.prr_out, cc.prr_left,
    )  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(links, messages, st.integers(0, 2**16))
def test_fast_path_equals_general_walk(link: LinkSpec, msgs: list, seed: int) -> None:
    cc = CONGESTION_CONTROLS[link.cc]
    fast = TcpPath(link, "up", random.Random(seed), cc)
    general = TcpPath(link, "up", random.Random(seed), cc)
    general.fast = False
    t = 0.0
    for gap, nbytes in msgs:
        t += gap / 1000.0
        a, b = fast.send(t, nbytes), general.send(t, nbytes)
        assert a == b
        assert (fast.last_start, fast.last_wire, fast.last_wire_end) == (
            general.last_start,
            general.last_wire,
            general.last_wire_end,
        )
        assert _state(fast) == _state(general)
        t = max(t, a - link.rtt_ms / 2000.0)  # request/response: the next one follows the reply


class FixedWindow(CongestionControl):
    """A constant window of ``W`` segments whatever happens: a closed form for the walker's pacing."""

    name = "fixed"
    W = 4.0

    def __init__(self, link: LinkSpec) -> None:
        super().__init__(link)
        self.cwnd = self.W

    def on_ack(self, t: float, acked: int, inflight: int) -> float:
        return self.cwnd

    def on_loss(self, t: float, seq: int, timeout: bool, next_seq: int, inflight: int) -> float:
        return self.cwnd

    def on_idle(self, t: float) -> float:
        return self.cwnd


def test_a_strategy_plugs_into_the_walker() -> None:
    # 400 segments, 4 per round trip, on a fat pipe with delack 0 (every segment ACKed at once):
    # about 100 round trips, against NewReno's few rounds of slow start
    link = LinkSpec(1000, 1000, 40, delack_ms=0.0)
    nbytes = 400 * 1448
    fixed = TcpPath(link, "up", random.Random(0), FixedWindow).send(0.0, nbytes)
    reno = TcpPath(link, "up", random.Random(0), NewReno).send(0.0, nbytes)
    assert fixed == pytest.approx(100 * 0.040, rel=0.02)
    assert reno < 10 * 0.040


@settings(max_examples=40, deadline=None)
@given(links, messages, st.integers(0, 2**16))
def test_fast_path_equals_general_walk_on_a_connection(link: LinkSpec, msgs: list, seed: int) -> None:
    """Both directions of one connection (make_connection pairs them, so each direction's data carries the
    other's pending ACK): request/response with the fast path on and off gives the same state."""
    from splitbench.netsim.tcp import make_connection

    pairs = []
    for fast in (True, False):
        up, down = make_connection(link, seed)
        assert isinstance(up, TcpPath) and isinstance(down, TcpPath) and up.peer is down
        up.fast = down.fast = fast
        pairs.append((up, down))
    (fu, fd), (gu, gd) = pairs
    t = 0.0
    for gap, nbytes in msgs:
        t += gap / 1000.0
        a, b = fu.send(t, nbytes), gu.send(t, nbytes)
        assert a == b
        a, b = fd.send(a, nbytes // 3), gd.send(b, nbytes // 3)
        assert a == b
        assert _state(fu) == _state(gu) and _state(fd) == _state(gd)
        t = a
