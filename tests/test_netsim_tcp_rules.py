"""Linux TCP rules of the walker, each against a hand-computed timeline or a closed form: Nagle with
delayed ACKs, receiver quick-ACK, the tail-loss probe, proportional rate reduction."""

from __future__ import annotations

import math
import random

import pytest

from splitbench import SplitbenchError
from splitbench.netsim import LinkSpec, netcheck, resolve_network
from splitbench.netsim.cc import Cubic
from splitbench.netsim.tcp import TcpPath


class Script(random.Random):
    """The loss draws in a given order (then ``rest``): a loss pattern fixed by hand."""

    def __init__(self, xs: list[float], rest: float = 0.2) -> None:
        super().__init__(0)
        self.xs, self.rest = list(xs), rest

    def random(self) -> float:
        return self.xs.pop(0) if self.xs else self.rest


class Samples(Cubic):
    """CUBIC that records its RTT samples."""

    def __init__(self, link: LinkSpec) -> None:
        super().__init__(link)
        self.rtts: list[float] = []

    def on_rtt(self, r: float) -> None:
        self.rtts.append(r)
        super().on_rtt(r)


class NoTlp(Cubic):
    tlp = False


def _ser(nbytes: int, mbps: float) -> float:
    return nbytes * 8 / (mbps * 1e6)


# ---------------------------------------------------------------------------------------- Nagle
def test_nagle_write_write_read_stalls_for_the_delayed_ack() -> None:
    """Two 100-byte writes at once on a warm connection: with TCP_NODELAY both go out back to back;
    with Nagle the second waits for the first one's ACK, which the receiver delays by its timer:
    the second arrives delack + RTT later (the classic write-write-read stall)."""
    ow, delack, pkt = 0.010, 0.040, _ser(100 + 52, 100)
    arrivals = {}
    for nodelay in (True, False):
        p = TcpPath(LinkSpec(100, 100, 20, nodelay=nodelay, quickack=False), "up", random.Random(0))
        first, second = p.send(1.0, 100), p.send(1.0, 100)
        assert first == pytest.approx(1.0 + pkt + ow, abs=1e-9)
        arrivals[nodelay] = second
    assert arrivals[True] == pytest.approx(1.0 + 2 * pkt + ow, abs=1e-9)
    # the first's ACK: arrival + delack + one way back; then the second crosses
    assert arrivals[False] == pytest.approx(1.0 + pkt + ow + delack + ow + pkt + ow, abs=1e-9)


def test_nagle_as_linux_holds_only_behind_a_small_segment() -> None:
    """Linux's Nagle (Minshall's rule): a message's sub-MSS tail behind its own full segments goes
    at once, and a reply carries the ACK of the request it answers: request/response rounds and a
    1.5-MSS message take the same time as with TCP_NODELAY."""
    for up, down in ((100, 100), (2172, 100), (100, 3000)):
        on = netcheck(up, down, 5, 30, LinkSpec(100, 100, 20, nodelay=True))
        off = netcheck(up, down, 5, 30, LinkSpec(100, 100, 20, nodelay=False))
        assert off["per_round_s"] == on["per_round_s"]


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_nodelay_must_be_a_boolean(bad: object) -> None:
    with pytest.raises(SplitbenchError, match="network.nodelay: must be true or false"):
        resolve_network({"base": "4g", "nodelay": bad})


def test_live_socket_settings_follow_nodelay() -> None:
    from splitbench.models.live import socket_options

    on, off = resolve_network("4g"), resolve_network({"base": "4g", "nodelay": False})
    assert socket_options(on.linux_cc) == ("cubic", True)
    assert socket_options(off.linux_cc) == ("cubic", False)
    assert socket_options(resolve_network({"base": "4g", "cc": "newreno"}).linux_cc) == ("reno", True)
    with pytest.raises(SplitbenchError, match="unknown socket setting"):
        socket_options("cubic+cork")


def test_live_socket_gets_nodelay_from_the_link() -> None:
    """A real socket, tuned as the live halves tune theirs: TCP_NODELAY set, or left off for Nagle."""
    import socket

    from splitbench.models.live import tune

    for nodelay in (True, False):
        with socket.socket() as sock:
            tune(sock, resolve_network({"base": "4g", "nodelay": nodelay}).linux_cc)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == int(nodelay)


# ------------------------------------------------------------------------------------ quick-ACK
@pytest.mark.parametrize("rwnd, quick", [(4 * 1024 * 1024, 16), (20 * 1448, 10), (2000, 2)])
def test_quickack_at_connection_start_then_delayed(rwnd: int, quick: int) -> None:
    """Single-segment messages 100 ms apart (less than the RTO, more than the ACK timer): the first
    min(16, rwnd / (2 MSS)) (2 when that is 0) are ACKed at once, one RTT after they were sent;
    the rest wait for the 40 ms timer. After an idle second (more than the RTO) quick-ACK again."""
    link = LinkSpec(100, 100, 20, rwnd_bytes=rwnd)
    p = TcpPath(link, "up", random.Random(0), Samples)
    for k in range(30):
        p.send(0.1 * k, 1000)
    for k in range(4):
        p.send(5.0 + 0.1 * k, 1000)
    p.send(20.0, 1000)  # collects the last ACKs
    rtt = 0.020 + _ser(1052, 100)
    again = min(quick, 4)
    expect = [rtt] * quick + [rtt + 0.040] * (30 - quick) + [rtt] * again + [rtt + 0.040] * (4 - again)
    assert p.cc.rtts == pytest.approx(expect, abs=1e-9)


def test_no_quickack_is_ns3s_receiver() -> None:
    link = LinkSpec(100, 100, 20, quickack=False)
    p = TcpPath(link, "up", random.Random(0), Samples)
    for k in range(5):
        p.send(0.1 * k, 1000)
    p.send(20.0, 1000)
    assert p.cc.rtts == pytest.approx([0.020 + _ser(1052, 100) + 0.040] * 5, abs=1e-9)


# ----------------------------------------------------------------------------- tail-loss probe
def test_tail_loss_probe_repairs_without_a_timeout() -> None:
    """20 segments on a fresh connection, the last three lost in one burst. Hand timeline (ser: one
    1500-byte packet at 100 Mbit/s, ow = 20 ms): 10 go at 0, their quick ACKs release two each;
    the 17th leaves at 40 ms + 8 ser, arrives at 60 ms + 8 ser and, quick-ACKs spent, is ACKed by
    the 40 ms timer: last ACK at 120 ms + 8 ser. With TLP the last segment goes again 2 SRTT later;
    its arrival out of order is ACKed at once and reports the two before it lost (RACK); both go at
    once and the last arrives 2 ser + ow later. Without TLP the RTO (200 ms) fires instead and
    repairs from a window of one: 1 + 2 segments, the same 3 ser + 3 ow after the timer."""
    link = LinkSpec(100, 100, 40, loss=0.01, loss_burst=3.0)
    draws = [0.2] * 17 + [0.0, 0.9, 0.9]  # good x17, then enter the bad state and stay for two more
    ser, ow = _ser(1500, 100), 0.020
    last_ack = 0.120 + 8 * ser
    tlp = TcpPath(link, "up", Script(draws), Cubic)
    done_tlp = tlp.send(0.0, 20 * 1448)
    rto = TcpPath(link, "up", Script(draws), NoTlp)
    done_rto = rto.send(0.0, 20 * 1448)
    assert done_rto == pytest.approx(last_ack + 0.200 + 3 * ser + 3 * ow, abs=1e-9)
    assert done_tlp == pytest.approx(last_ack + 2 * tlp.cc.srtt + 3 * ser + 3 * ow, abs=1e-9)
    assert done_tlp < done_rto - 0.1
    # the probe is a loss response, not a timeout: the window is reduced, not reset to one
    assert tlp.cc.ssthresh == pytest.approx(27 * 717 / 1024)
    assert tlp.retx_bytes == rto.retx_bytes == 3 * 1500


# ------------------------------------------------------------------ proportional rate reduction
def test_prr_brings_the_window_down_in_proportion_to_deliveries() -> None:
    """RFC 6937's proportional phase, by hand: cwnd 20, one loss, ssthresh = floor(20·0.7) = 14. A
    sender that always has data sends, over the k-th delivery, whatever keeps its total since the
    loss at ceil(14·k/20) (at least the one fast retransmission) while the flight is above 14, then
    holds the flight at 14: it falls from 20 to 14 over the deliveries of one window instead of at
    once (3 segments per 10 deliveries), and recovery ends with cwnd = ssthresh."""
    cc = Cubic(LinkSpec(100, 100, 40))
    cc.cwnd, cc.found = 20.0, True
    inflight = 19  # the lost packet is out of flight
    cwnd = cc.on_loss(1.0, seq=0, timeout=False, next_seq=20, inflight=inflight)
    sent = 0
    while inflight < cwnd:  # the fast retransmission
        inflight, sent = inflight + 1, sent + 1
    assert sent == 1 and int(cc.ssthresh) == 14
    flights = []
    for k in range(1, 21):
        inflight -= 1
        proportional = inflight > 14
        cwnd = cc.on_ack(1.0 + k * 0.001, 1, inflight)
        while inflight < cwnd:
            inflight, sent = inflight + 1, sent + 1
        flights.append(inflight)
        if k < 20:
            if proportional:
                assert sent == max(1, math.ceil(14 * k / 20)), k
            else:  # down to ssthresh: the flight is held there (the reduction bound)
                assert inflight == 14, k
    assert flights[:10] == [19, 19, 19, 18, 18, 18, 17, 17, 17, 16]
    assert not cc.in_recovery and cc.cwnd == cc.ssthresh
