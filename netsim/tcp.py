"""Transport models: one sender per direction of one connection.

Why not packet-by-packet simpy events: a 1,000-token PrivateLoRA decode sends ~66,000 messages and
must replay in about a second. Each message is therefore timed here, outside the event loop, by a
tight per-packet walk that needs no scheduler: the bottleneck is FIFO, so departures follow from the
link's byte-space position (see capacity.py), arrivals add the one-way delay (its median, varied in
time by netsim/delay.py), and ACKs come back in order, so the sender's window is advanced from a
small heap of pending ACK times. The simpy
replay then waits once per message for the time this returns. The walk is written on local
variables (TcpPath.send for a message that fits in the open window, _send_loop for the rest): a
100-user multi-user run offers millions of packets, and per-packet method calls dominated it.

TCP model. The sender's machinery is fixed: a drop-tail bottleneck queue of ``queue_pkts`` packets,
random loss (Gilbert-Elliott bursts) after the bottleneck, per-packet loss detection (a lost packet
is reported once ``dupthresh`` later-sent packets have been delivered, SACK-style, or else by a
retransmission timeout: RTO doubles), retransmissions first, window = min(cwnd, receive window),
and restart after idle (nothing in flight for longer than one RTO: RFC 5681 §4.1, unless
``idle_restart`` is off). ACKs are assumed not to compete for the reverse link's capacity (40-60
byte packets). The rest, as Linux does it:

- Receiver ACKs: one per two segments, or after ``delack_ms``; at once for a segment that arrives
  out of order or fills a hole (RFC 5681 §4.2); quick-ACK (``quickack``, Linux
  ``tcp_event_data_recv``/``tcp_incr_quickack``): at the first data, and after the receiver was
  idle for longer than its RTO (this sender's estimate stands in for it: same path), every segment
  is ACKed at once for min(16, rwnd / (2 MSS)) segments (2 if that is 0). Data leaving a host carries
  the ACK its delayed-ACK timer holds for the other direction (the two senders of a connection are
  paired by make_connection), so a reply acknowledges its request.
- Nagle (``nodelay: false``; Linux ``tcp_nagle_check``, Minshall's rule): a message's sub-MSS last
  segment waits while the previous sub-MSS segment sent is unacknowledged (packets are counted in
  send order; acknowledged once everything sent up to it is acked or detected lost). A later
  message is never merged into the held segment (messages are timed when handed over), so the hold
  ends with the ACK.
- Tail-loss probe (strategies with ``tlp``; RACK-TLP, RFC 8985 §7): when only undetected losses
  are outstanding, PTO = max(2 SRTT (+ 200 ms for a lone segment), 10 ms) after the last ACK or
  send, no later than the RTO, the last segment is sent again whatever the window (not new data: the
  walker knows none is pending), the strategy responds as to a loss, and the probe's delivery
  reports every earlier outstanding packet lost (RACK), so a tail is repaired by fast recovery
  instead of a timeout. One probe until the next ACK.

The congestion-control rules are a strategy object, one per sender (CongestionControl; the first
one is NewReno). The walker calls it at four points and reads two attributes:

- ``on_rtt(r)`` on every ACK that carries an RTT sample ``r`` (seconds; ACKs of retransmissions
  carry none), before ``on_ack``; the base class keeps the RFC 6298 estimator (srtt, rttvar, rto);
- ``on_ack(t, acked, inflight) -> cwnd`` on every ACK: ``t`` its arrival at the sender, ``acked``
  the segments it covers (1 or 2, delayed ACKs), ``inflight`` the segments still outstanding after
  it. Returns the new congestion window in segments (a float); the walker sends while
  ``inflight < min(cwnd, rwnd)``. Time-based growth (CUBIC's W(t)) reads ``t``; byte counting
  reads ``acked``; a delay-based slow-start exit (HyStart) reads the samples of ``on_rtt`` and
  can count rounds by delivered segments (a round ends when the segments outstanding at its start
  are acked); proportional rate reduction sets cwnd = inflight + sndcnt here (netsim/cc/base.py);
- ``on_loss(t, seq, timeout, next_seq, inflight) -> cwnd`` once per lost packet when its loss is
  detected (``timeout``: by the retransmission timer), ``next_seq`` the next new sequence number
  (packets below it are outstanding or done: the recovery point), ``inflight`` after removing the
  lost packet. The packet is queued for retransmission by the walker;
- ``on_idle(t) -> cwnd`` at a restart after idle;
- attributes ``rto`` (the retransmission timeout before backoff, seconds), ``srtt`` (the PTO),
  ``dupthresh`` (later deliveries that report a loss) and ``tlp`` (send tail-loss probes).

A strategy keeps whatever state it needs; the walker never reads cwnd or ssthresh itself. Hooks
are plain method calls in the hot loop (about one ACK per two packets), so a strategy should keep
them short.

NewReno (as ns-3 3.44's TcpNewReno with SACK-style recovery): initial window ``init_cwnd_pkts``;
slow start grows cwnd by one segment per ACK (ns-3 does not count bytes acked, so with delayed ACKs
the window grows 1.5x per RTT: checked against ns-3's max-cwnd figures), congestion avoidance by
1/cwnd per ACK; on a loss ssthresh = max(cwnd/2, 2) and cwnd = ssthresh (fast retransmit, once
per window of data, brought down by proportional rate reduction as ns-3's TcpPrrRecovery) or
cwnd = 1 (timeout); no tail-loss probe (ns-3 has none).

Wire bytes = payload + ``header_bytes`` per packet (including retransmitted packets). The
handshake's SYN/SYN-ACK and the pure ACKs are not counted.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from heapq import heappop, heappush

from .capacity import Capacity, ConstantCapacity
from .cc import CONGESTION_CONTROLS, CongestionControl, NewReno
from .delay import DelayProcess
from .link import LinkSpec

SYN_BYTES = 64  # SYN or SYN-ACK with options, on the wire
ACK, LOSS = 0, 1  # event kinds
MAX_QUICKACKS = 16  # Linux TCP_MAX_QUICKACKS
TLP_WC_DELACK = 0.200  # RFC 8985 WCDelAckT (Linux adds TCP_RTO_MIN): a lone segment's PTO allowance
TLP_MIN_PTO = 0.010  # the shortest probe timeout
# loss draws fetched ahead per sender: small, so that a many-user run's senders stay in the CPU's caches
DRAW_BLOCK = 64
_FIXED: dict[tuple, tuple] = {}  # TcpPath._fixed, interned (by values and their types)


class Path:
    """Common bookkeeping of one direction: capacity position, jitter and counters."""

    # Slots, not a __dict__: CPython shares an instance dict's keys only up to 30 attributes, so a
    # sender's state would be a hash table per instance, looked up on every access in the hot loop.
    __slots__ = (
        "link", "cap", "one_way", "jitter", "rng", "delay", "used", "last_arrival", "payload_bytes",
        "wire_bytes", "retx_bytes", "messages", "last_start", "last_wires", "last_wire_start",
        "last_wire_end", "_bps",
    )  # fmt: skip

    def __init__(self, link: LinkSpec, direction: str, rng: random.Random) -> None:
        self.link = link
        self.cap: Capacity = link.capacity(direction)
        self.one_way = link.one_way_s
        self.jitter = link.jitter_ms / 1000.0
        self.rng = rng
        # the one-way delay around its median (netsim/delay.py), from a stream of its own
        self.delay = DelayProcess(
            self.one_way,
            self.jitter,
            link.jitter_interval_ms / 1000.0,
            (link.mss_bytes + link.header_bytes) * 8 / (self.cap.mean_mbps() * 1e6),
            random.Random(rng.getrandbits(64) if self.jitter else 0),
        )
        self.used = 0.0  # capacity bytes consumed so far
        self.last_arrival = 0.0
        self.payload_bytes = 0
        self.wire_bytes = 0
        self.retx_bytes = 0
        self.messages = 0
        self.last_start = 0.0  # when the latest message began to go out (for the timeline)
        # the latest message on the bottleneck: [start, end] intervals in which its packets were
        # being serialised (back-to-back packets merged; retransmissions included), and the end of
        # the last one, when its last byte left. Between the intervals the sender waits for ACKs
        # (window); after the last, until arrival, the bytes are in flight (propagation, jitter).
        # Kept compact, as read by the walker's records: ``last_wires`` is None when the message
        # went out in one interval, [last_wire_start, last_wire_end] (the common case, which then
        # allocates no list), else the intervals themselves (none for an empty message).
        self.last_wires: list[list[float]] | None = []
        self.last_wire_start = 0.0
        self.last_wire_end = 0.0
        const = isinstance(self.cap, ConstantCapacity)
        self._bps = self.cap.bytes_per_s if const else 0.0  # type: ignore[attr-defined]

    @property
    def last_wire(self) -> list[list[float]]:
        """The latest message's [start, end] intervals on the bottleneck (see __init__)."""
        w = self.last_wires
        return [[self.last_wire_start, self.last_wire_end]] if w is None else w

    def _serialize(self, t: float, nbytes: float) -> float:
        """Put ``nbytes`` on the bottleneck no earlier than ``t``; return when the last bit leaves."""
        if self._bps:
            start = max(self.used, t * self._bps)
            self.used = start + nbytes
            return self.used / self._bps
        start = max(self.used, self.cap.position_at(t))
        self.used = start + nbytes
        return self.cap.time_of(self.used)

    def _arrive(self, departure: float) -> float:
        a = departure + (self.delay.at(departure) if self.jitter else self.one_way)
        if not self.link.reorder:
            a = max(a, self.last_arrival)
        self.last_arrival = max(self.last_arrival, a)
        return a

    def packets(self, nbytes: int) -> int:
        return max(1, -(-nbytes // self.link.mss_bytes))

    def send(self, t0: float, nbytes: int) -> float:
        """Hand ``nbytes`` to the transport at ``t0``; return when the last byte has arrived.

        An empty message is not sent at all: it "arrives" when it is handed over.
        """
        self.last_start = self.last_wire_end = t0
        self.last_wires = []
        return self._send(t0, nbytes) if nbytes > 0 else t0

    def _send(self, t0: float, nbytes: int) -> float:
        raise NotImplementedError


class IdealPath(Path):
    """No transport effects: payload serialised at the link rate, plus propagation (and jitter).

    This is the paper's bandwidth-only model when the delay is 0. Wire bytes still count headers.
    """

    __slots__ = ()

    def _send(self, t0: float, nbytes: int) -> float:
        self.messages += 1
        self.payload_bytes += nbytes
        self.wire_bytes += nbytes + self.packets(nbytes) * self.link.header_bytes
        self.last_start = max(t0, self.cap.time_of(self.used))
        self.last_wire_end = self._serialize(t0, nbytes)
        self.last_wires, self.last_wire_start = None, self.last_start
        return self._arrive(self.last_wire_end)

    def handshake_s(self) -> float:
        return 0.0


class TcpPath(Path):
    """One TCP sender (see module docstring). State persists across messages of a connection.

    ``fast`` (on unless set off on the instance) lets send() time a message that fits in the open
    window in one tight loop, and apply due ACKs before it on local variables; off, every message
    and every event goes through the general walk (_send_loop, _next_event). The two give identical
    results (a property test compares them); the general walk is the reference.
    """

    __slots__ = (
        "fast", "mss", "hdr", "rwnd", "cc", "backoff", "delack", "events", "_tie", "inflight", "next_seq",
        "sender_free", "last_ack", "queue", "pending_ack", "undetected", "retx", "p_bg", "p_gb", "bad",
        "limit", "_u", "_j", "_qmax", "_reorder", "_idle_restart", "quickacks", "quick", "rcv_last", "nagle",
        "sml", "retx_pkts", "_tlp_armed", "_tlp_at", "_probe", "peer", "_fixed",
    )  # fmt: skip

    def __init__(
        self, link: LinkSpec, direction: str, rng: random.Random, cc: type[CongestionControl] = NewReno
    ) -> None:
        super().__init__(link, direction, rng)
        self.fast = True
        self.mss = link.mss_bytes
        self.hdr = link.header_bytes
        self.rwnd = max(1, link.rwnd_bytes // link.mss_bytes)
        self.cc = cc(link)
        self.backoff = 1.0
        self.delack = link.delack_ms / 1000.0
        # (time, tiebreak, kind, npkts|seq, send time for an RTT sample or -1); kinds: ACK, LOSS
        self.events: list[tuple[float, int, int, int, float]] = []
        self._tie = 0
        self.inflight = 0
        self.next_seq = 0
        self.sender_free = 0.0
        self.last_ack = 0.0
        self.queue: deque[float] = deque()  # departure times of packets in the bottleneck buffer
        self.pending_ack: tuple[float, float] | None = None  # (arrival, send time) awaiting a 2nd
        self.undetected: list[list] = []  # [seq, send_time, size, later_delivered, owner]
        self.retx: deque[tuple[int, int, int]] = deque()  # (seq, size, owner) awaiting retransmission
        # loss process (Gilbert-Elliott): p_gb chosen so the stationary loss rate is link.loss
        p, b = link.loss, link.loss_burst
        self.p_bg = 1.0 / b
        self.p_gb = p / (b * (1 - p)) if p > 0 else 0.0
        self.bad = False
        self.limit = min(self.cc.cwnd, float(self.rwnd))
        # uniform draws of self.rng, fetched ahead in blocks and consumed strictly in order: the
        # same numbers in the same order as calling rng.random() per packet, but a message can
        # take its packets' draws as one slice
        self._u: list[float] = []
        self._j = 0
        self._qmax, self._reorder, self._idle_restart = link.queue_pkts, link.reorder, link.idle_restart
        # receiver quick-ACK (Linux tcp_incr_quickack): ACKs left to send at once, and the last data
        # arrival (the receiver's idle clock)
        q = link.rwnd_bytes // (2 * link.mss_bytes)
        self.quickacks = min(MAX_QUICKACKS, q if q else 2) if link.quickack else 0
        self.quick = 0
        self.rcv_last = -math.inf
        # Nagle (Linux tcp_nagle_check): packets sent so far (new + retransmitted) when the last
        # sub-MSS segment went out; it is acknowledged once next_seq + retx_pkts - inflight reaches it
        self.nagle = not link.nodelay
        self.sml = 0
        self.retx_pkts = 0
        # tail-loss probe (RFC 8985): one per ACK; the probe's time and sequence number
        self._tlp_armed = True
        self._tlp_at = -math.inf
        self._probe = -1
        # the other direction of the connection (make_connection pairs them): this sender's data carries
        # the ACK its host owes for the peer's data
        self.peer: TcpPath | None = None
        # the link's parameters the fast path reads, in one tuple (they are fixed)
        fixed = (
            self.mss, self.hdr, self._bps, self.one_way, self.delack, self.rwnd, self._qmax, self.p_gb,
            self.jitter, self._reorder, self.quickacks,
        )  # fmt: skip
        # one tuple (and the same number objects) for every sender with these parameters: the users
        # of a many-user run read it on every message, from the CPU's cache instead of one copy each
        key = (fixed, tuple(map(type, fixed)))  # equal values of equal types (1 == 1.0 == True)
        if len(_FIXED) >= 4096:
            _FIXED.clear()
        self._fixed = _FIXED.setdefault(key, fixed)

    @property
    def cwnd(self) -> float:
        return self.cc.cwnd

    # ------------------------------------------------------------------ events
    def _on_ack(self, t: float, n: int, sent: float) -> None:
        self.inflight -= n
        self.last_ack = t
        self.backoff = 1.0
        self._tlp_armed = True
        cc = self.cc
        if sent >= 0:
            cc.on_rtt(t - sent)
        cwnd = cc.on_ack(t, n, self.inflight)
        self.limit = cwnd if cwnd <= self.rwnd else self.rwnd

    def _on_loss(self, t: float, seq: int, rto: bool) -> None:
        """A lost packet is detected: the strategy reacts, the packet waits for retransmission."""
        idx = next((i for i, u in enumerate(self.undetected) if u[0] == seq), None)
        if idx is None:
            return  # already handled (e.g. by an RTO)
        u = self.undetected.pop(idx)
        self.inflight -= 1
        if rto:
            self.backoff *= 2
        cwnd = self.cc.on_loss(t, seq, rto, self.next_seq, self.inflight)
        self.limit = cwnd if cwnd <= self.rwnd else self.rwnd
        self.retx.append((u[0], u[2], u[4]))

    def _next_event(self) -> float:
        """Process the earliest pending event (materialising a delayed ACK or an RTO if due)."""
        pa = self.pending_ack
        if pa is not None and (not self.events or pa[0] + self.delack + self.one_way <= self.events[0][0]):
            self.pending_ack = None
            t = pa[0] + self.delack + self.one_way
            self._on_ack(t, 1, pa[1])
            return t
        if self.events:
            t, _, kind, val, sent = heapq.heappop(self.events)
            if kind == ACK:
                self._on_ack(t, val, sent)
            else:
                self._on_loss(t, val, rto=False)
            return t
        # nothing in flight but losses nobody can report: a tail-loss probe or the retransmission timer
        und, cc = self.undetected, self.cc
        u0 = min(und, key=lambda u: u[1])
        t = max(self.last_ack, u0[1], self._tlp_at) + cc.rto * self.backoff
        if cc.tlp and self._tlp_armed:
            # RFC 8985 §7: PTO = 2 SRTT (+ WCDelAckT for a lone segment) after the last send or ACK,
            # no later than the RTO; the last segment goes again, whatever the window, and its
            # delivery reports the packets before it lost (RACK). The strategy treats the tail as
            # a loss (Linux: recovery, or CWR when the probe alone repaired it)
            pto = 2.0 * cc.srtt + (TLP_WC_DELACK if self.inflight == 1 else 0.0)
            tp = max(self.last_ack, max(u[1] for u in und)) + max(pto, TLP_MIN_PTO)
            t = min(t, tp)
            last = max(und, key=lambda u: u[0])[0]
            self._tlp_armed, self._tlp_at, self._probe = False, t, last
            self._on_loss(t, last, rto=False)
            self.retx.rotate(1)  # the probe first
            if self.limit < self.inflight + 1:
                self.limit = self.inflight + 1
            return t
        for u in list(und):
            self._on_loss(t, u[0], rto=True)
        self.last_ack = t
        return t

    def _due(self, t0: float) -> bool:
        """Is an ACK, delayed ACK or loss report due by ``t0``?"""
        ev, pa = self.events, self.pending_ack
        return bool(ev and ev[0][0] <= t0) or (pa is not None and pa[0] + self.delack + self.one_way <= t0)

    # ------------------------------------------------------------------ sending
    def _fill(self, need: int) -> None:
        """Make at least ``need`` unconsumed draws available (in stream order)."""
        rnd = self.rng.random
        self._u = self._u[self._j :] + [rnd() for _ in range(need if need > DRAW_BLOCK else DRAW_BLOCK)]
        self._j = 0

    def send(self, t0: float, nbytes: int) -> float:
        """Hand ``nbytes`` to the transport at ``t0``; return when the last byte has arrived.

        First the data picks up the ACK its host owes the peer (piggybacking), then every ACK,
        delayed ACK and loss report due by ``t0`` is processed, earliest first: with ``fast`` the
        ACKs, by far the most frequent events, are applied here on local variables (the order and
        calls of _next_event in a loop, a due delayed ACK winning a tie with the heap's head) until
        a loss report is due, which goes with the rest to _next_event on written-back state; without
        ``fast``, _next_event does all.

        Then the common case is handled here, in one tight loop: a message of a few packets that
        fits in the open window and in the queue, on a constant-rate link, with no loss pending. Its
        packets leave back to back at ``now``; per packet: serialisation, the loss draw, the delay
        (DelayProcess.at, inlined), the in-order arrival and the delayed-ACK pairing (_send_loop's
        arithmetic and draws, in the same order, so the result is identical). If a packet is lost at
        random the message is finished by _send_loop, which handles recovery; it also handles every
        other case (window or queue full, retransmissions pending, capacity traces).
        """
        if nbytes <= 0:  # an empty message is not sent: it "arrives" when it is handed over
            self.last_start = self.last_wire_end = t0
            self.last_wires = []
            return t0
        self.messages = owner = self.messages + 1
        self.payload_bytes += nbytes
        free = self.sender_free
        now = t0 if t0 >= free else free  # when the message starts to go out
        peer = self.peer
        ppa = peer.pending_ack if peer is not None else None
        if ppa is not None and ppa[0] <= now < ppa[0] + peer.delack:  # type: ignore[union-attr]
            # the data carries the ACK its host's delayed-ACK timer holds for the peer's data (arrived,
            # the timer not fired yet)
            peer.pending_ack = None
            peer._tie += 1
            heappush(peer.events, (now + peer.one_way, peer._tie, ACK, 1, ppa[1]))
        mss, hdr, bps, ow, delack, rwnd, qmax, p_gb, jitter, reorder, qa = self._fixed
        ev, pa, cc, inflight, limit = self.events, self.pending_ack, self.cc, self.inflight, self.limit
        if (ev and ev[0][0] <= t0) or (pa is not None and pa[0] + delack + ow <= t0):
            general = True
            if self.fast:  # the due ACKs on local variables, as _next_event applies them
                last_ack, acked = self.last_ack, False
                while True:
                    if pa is not None and (tpa := pa[0] + delack + ow) <= t0 and (not ev or tpa <= ev[0][0]):
                        t, n, sent = tpa, 1, pa[1]
                        pa = None
                    elif ev and (head := ev[0])[0] <= t0:
                        if head[2] != ACK:
                            break  # a loss report (rare): the general handler takes over
                        t, _, _, n, sent = heappop(ev)
                    else:
                        general = False
                        break
                    inflight -= n  # _on_ack
                    last_ack = t
                    acked = True
                    if sent >= 0:
                        cc.on_rtt(t - sent)
                    cwnd = cc.on_ack(t, n, inflight)
                    limit = cwnd if cwnd <= rwnd else rwnd
                self.inflight, self.limit, self.last_ack, self.pending_ack = inflight, limit, last_ack, pa
                if acked:
                    self.backoff, self._tlp_armed = 1.0, True
            if general:
                while self._due(t0):
                    self._next_event()
                inflight, limit, pa = self.inflight, self.limit, self.pending_ack
        if inflight == 0 and self._idle_restart and not self.undetected:
            last_ack = self.last_ack
            if t0 - (free if free > last_ack else last_ack) > cc.rto:  # restart after idle
                cwnd = cc.on_idle(t0)
                self.limit = limit = cwnd if cwnd <= rwnd else rwnd
        self.last_start = now
        npk = -(-nbytes // mss)
        last_size = nbytes - (npk - 1) * mss
        self.wire_bytes += nbytes + npk * hdr  # first copies; retransmissions are added as sent
        if not (bps and self.fast) or self.retx or self.undetected or self.bad or npk > limit - inflight:
            return self._send_loop(now, npk, last_size, 0, npk, 0.0)
        if self.nagle and last_size < mss and inflight:  # Nagle: does the sub-MSS tail wait?
            if self.next_seq + self.retx_pkts - inflight < self.sml:
                return self._send_loop(now, npk, last_size, 0, npk, 0.0)
        q = self.queue
        while q and q[0] <= now:
            q.popleft()
        if len(q) + npk > qmax:
            return self._send_loop(now, npk, last_size, 0, npk, 0.0)
        buf, j = self._u, self._j
        if p_gb and j + npk > len(buf):
            self._fill(npk)
            buf, j = self._u, 0
        dl, quick, rcv_last, tie, und = self.delay, self.quick, self.rcv_last, self._tie, self.undetected
        seq, used, last_arr = self.next_seq, self.used, self.last_arrival
        tb = now * bps
        if tb > used:
            used = tb
        wire_start = used / bps  # the packets go out back to back from here
        done, bad, lost, w, last = 0.0, False, 0, mss + hdr, npk - 1
        for k in range(npk):
            used += w if k < last else last_size + hdr
            dep = used / bps
            q.append(dep)
            if p_gb:  # Gilbert-Elliott: leave the bad state with p_bg, enter it with p_gb
                x = buf[j]
                j += 1
                if bad:
                    if x < self.p_bg:
                        bad = False
                elif x < p_gb:
                    bad = True
                if bad:
                    und.append([seq, now, mss if k < last else last_size, 0, owner])
                    seq += 1
                    lost += 1
                    continue
            if jitter:  # DelayProcess.at: redrawn at a burst's start once the value is old
                if dep - dl.last > dl.gap and dep - dl.drawn > dl.interval:
                    dl.drawn = dep
                    dl.value = dl._draw()
                dl.last = dep
                arr = dep + dl.value
            else:
                arr = dep + ow
            if arr > last_arr:
                last_arr = arr
            elif not reorder:
                arr = last_arr
            if arr > done:
                done = arr
            ofo = False
            if und:  # later deliveries count as duplicate ACKs for this message's losses
                dupthresh = cc.dupthresh
                for u in und:
                    if u[0] < seq:
                        ofo = True
                        u[3] += 1
                        if u[3] == dupthresh:
                            tie += 1
                            heappush(ev, (arr + ow, tie, LOSS, u[0], -1.0))
            if qa:  # quick-ACK: at the first data, and after the receiver was idle for an RTO
                if arr - rcv_last > cc.rto and quick < qa:
                    quick = qa
                rcv_last = arr
            if quick or ofo:  # ACK at once (with a pending one if its timer has not fired)
                if quick:
                    quick -= 1
                n = 1
                if pa is not None:
                    if arr - pa[0] < delack:
                        n = 2
                    else:
                        tie += 1
                        heappush(ev, (pa[0] + delack + ow, tie, ACK, 1, pa[1]))
                    pa = None
                tie += 1
                heappush(ev, (arr + ow, tie, ACK, n, now))
            elif pa is not None and arr - pa[0] < delack:  # second segment: ACK now
                tie += 1
                heappush(ev, (arr + ow, tie, ACK, 2, now))
                pa = None
            else:
                if pa is not None:  # the previous one's delayed-ACK timer had fired
                    tie += 1
                    heappush(ev, (pa[0] + delack + ow, tie, ACK, 1, pa[1]))
                pa = (arr, now)
            seq += 1
        while q[0] <= now and len(q) > 1:  # _send_loop pops the queue before each packet
            q.popleft()
        self.used, self.last_arrival, self.pending_ack, self._tie, self.bad = used, last_arr, pa, tie, bad
        self._j = j
        self.quick, self.rcv_last = quick, rcv_last
        self.inflight = inflight + npk
        self.next_seq = seq
        if self.nagle and last_size < mss:
            self.sml = seq + self.retx_pkts
        if lost:  # the last packet left last: departures follow the byte position
            return self._send_loop(now, npk, last_size, npk, lost, done, [[wire_start, dep]])
        self.last_wires, self.last_wire_start, self.last_wire_end = None, wire_start, dep
        self.sender_free = now
        return done

    def _send_loop(
        self,
        now: float,
        npk: int,
        last_size: int,
        sent_new: int,
        remaining: int,
        done: float,
        wire: list[list[float]] | None = None,
    ) -> float:
        """Send one message's ``npk`` packets; return when the last of them has arrived.

        ``sent_new`` of them are already out, ``remaining`` not yet delivered; ``done`` is the
        latest arrival and ``wire`` the bottleneck intervals of those already out (send() hands
        over after a random loss). Sets ``last_wires``/``last_wire_end`` (see Path), retransmissions
        included: a packet dropped at the full queue never occupied the link, one lost after the
        bottleneck did.

        Each turn either offers one packet to the bottleneck (a retransmission first, else the next
        new packet) if the window has room, or processes the earliest pending event. Per packet:
        drop-tail queue, serialisation at the bottleneck (Path._serialize), Gilbert-Elliott loss,
        propagation plus jitter (Path._arrive), delayed-ACK pairing; per ACK: _on_ack. All inlined
        on local variables, because this walk is the model's hot loop (a 100-user run offers
        millions of packets) and attribute access and calls dominated it. Loss detection and
        timeouts, which are rare, go through _next_event/_on_loss with the state written back
        first. Each packet draws its loss from the path's stream; the delay process has its own.
        """
        mss, hdr, ow, delack, bps, cap = self.mss, self.hdr, self.one_way, self.delack, self._bps, self.cap
        qmax, rwnd, cc = self.link.queue_pkts, self.rwnd, self.cc
        on_rtt, on_ack, dupthresh = cc.on_rtt, cc.on_ack, cc.dupthresh
        q, events, und, retx = self.queue, self.events, self.undetected, self.retx
        jitter, reorder, p_gb, p_bg = self.jitter, self.link.reorder, self.p_gb, self.p_bg
        delay_at = self.delay.at
        buf, j = self._u, self._j
        qa, quick, rcv_last = self.quickacks, self.quick, self.rcv_last
        nagle, partial, probe = self.nagle, last_size < mss, self._probe
        owner = self.messages
        limit, inflight, last_ack = self.limit, self.inflight, self.last_ack
        used, last_arr, pa, tie, bad, seq = (
            self.used,
            self.last_arrival,
            self.pending_ack,
            self._tie,
            self.bad,
            self.next_seq,
        )
        acked = False  # an ACK was applied: backoff goes back to 1
        last = npk - 1
        t_now, pos_now = -1.0, 0.0  # capacity position at ``now``, cached
        if wire is None:
            wire = []
        while remaining:
            if inflight < limit and (
                retx
                or (
                    sent_new < npk
                    # Nagle: the sub-MSS tail waits while the last sub-MSS segment is unacknowledged
                    and not (
                        nagle and partial and sent_new == last and inflight
                        and seq + self.retx_pkts - inflight < self.sml
                    )
                )
            ):
                if retx:
                    p, size, own = retx.popleft()
                    self.retx_bytes += size + hdr
                    self.wire_bytes += size + hdr
                    self.retx_pkts += 1
                    sent = -1.0
                else:
                    p, size, own = seq, (mss if sent_new < last else last_size), owner
                    seq += 1
                    sent_new += 1
                    sent = now
                    if nagle and size < mss:
                        self.sml = seq + self.retx_pkts
                inflight += 1
                # _transmit: drop-tail queue, then the bottleneck, then random loss
                while q and q[0] <= now:
                    q.popleft()
                if len(q) >= qmax:
                    und.append([p, now, size, 0, own])
                    continue
                if now != t_now:
                    t_now, pos_now = now, (now * bps if bps else cap.position_at(now))
                p0 = used if used > pos_now else pos_now
                used = p0 + (size + hdr)
                dep = used / bps if bps else cap.time_of(used)
                q.append(dep)
                if own == owner:  # this message's time on the link, back-to-back packets merged
                    ts = p0 / bps if bps else cap.time_of(p0)
                    if wire and ts <= wire[-1][1]:
                        wire[-1][1] = dep
                    else:
                        wire.append([ts, dep])
                if j + 2 > len(buf):
                    self._j = j
                    self._fill(2)
                    buf, j = self._u, 0
                if p_gb:  # Gilbert-Elliott: leave the bad state with p_bg, enter it with p_gb
                    x = buf[j]
                    j += 1
                    if bad:
                        if x < p_bg:
                            bad = False
                    elif x < p_gb:
                        bad = True
                    if bad:
                        und.append([p, now, size, 0, own])
                        continue
                arr = dep + (delay_at(dep) if jitter else ow)  # _arrive
                if not reorder:
                    arr = max(arr, last_arr)
                last_arr = max(last_arr, arr)
                if own == owner:
                    remaining -= 1
                    if arr > done:
                        done = arr
                ack_t = arr + ow
                ofo = sent < 0  # a retransmission fills a hole: ACK at once (RFC 5681 §4.2)
                if und:  # later deliveries count as duplicate ACKs for earlier losses
                    if p == probe:  # RACK: the tail-loss probe reports every earlier packet lost
                        probe = -1
                        for u in und:
                            if u[0] < p and u[3] < dupthresh:
                                u[3] = dupthresh
                                tie += 1
                                heappush(events, (ack_t, tie, LOSS, u[0], -1.0))
                    for u in und:
                        if u[0] < p:
                            ofo = True  # out of order: ACK at once (RFC 5681 §4.2)
                            u[3] += 1
                            if u[3] == dupthresh:
                                tie += 1
                                heappush(events, (ack_t, tie, LOSS, u[0], -1.0))
                if qa:  # quick-ACK: at the first data, and after the receiver was idle for an RTO
                    if arr - rcv_last > cc.rto and quick < qa:
                        quick = qa
                    rcv_last = arr
                if quick or ofo:  # ACK at once (with a pending one if its timer has not fired)
                    if quick:
                        quick -= 1
                    n = 1
                    if pa is not None:
                        if arr - pa[0] < delack:
                            n = 2
                        else:
                            tie += 1
                            heappush(events, (pa[0] + delack + ow, tie, ACK, 1, pa[1]))
                        pa = None
                    tie += 1
                    heappush(events, (ack_t, tie, ACK, n, sent))
                elif pa is not None and arr - pa[0] < delack:  # second segment: ACK now
                    tie += 1
                    heappush(events, (ack_t, tie, ACK, 2, sent))
                    pa = None
                else:
                    if pa is not None:  # the previous one's delayed-ACK timer had fired
                        tie += 1
                        heappush(events, (pa[0] + delack + ow, tie, ACK, 1, pa[1]))
                    pa = (arr, sent)
                continue
            # the earliest event, as _next_event: a due delayed ACK wins a tie with the heap
            if pa is not None and (not events or pa[0] + delack + ow <= events[0][0]):
                t, n, sent = pa[0] + delack + ow, 1, pa[1]
                pa = None
            elif events and events[0][2] == ACK:
                t, _, _, n, sent = heappop(events)
            else:  # a loss report, a probe or a retransmission timeout: the general handlers, on synced state
                self.limit, self.inflight, self.last_ack = limit, inflight, last_ack
                self.pending_ack, self.next_seq, self._probe = pa, seq, probe
                if acked:
                    self.backoff, self._tlp_armed, acked = 1.0, True, False
                t = self._next_event()
                limit, inflight, last_ack, pa = self.limit, self.inflight, self.last_ack, self.pending_ack
                probe = self._probe
                if t > now:
                    now = t
                continue
            # _on_ack
            inflight -= n
            last_ack = t
            acked = True
            if sent >= 0:
                on_rtt(t - sent)
            cwnd = on_ack(t, n, inflight)
            limit = cwnd if cwnd <= rwnd else rwnd
            if t > now:
                now = t
        self.limit, self.inflight, self.last_ack = limit, inflight, last_ack
        self.used, self.last_arrival, self.pending_ack, self._tie, self.bad, self.next_seq = (
            used,
            last_arr,
            pa,
            tie,
            bad,
            seq,
        )
        if acked:
            self.backoff, self._tlp_armed = 1.0, True
        self._j = j
        self.quick, self.rcv_last, self._probe = quick, rcv_last, probe
        self.sender_free = now
        self.last_wires = wire
        self.last_wire_end = wire[-1][1] if wire else now
        return done

    def handshake_s(self) -> float:
        """SYN up, SYN-ACK down; the client's ACK rides on the first data segment."""
        up = SYN_BYTES * 8 / (self.link.up_mbps * 1e6)
        down = SYN_BYTES * 8 / (self.link.down_mbps * 1e6)
        return self.link.rtt_ms / 1000.0 + up + down


#: the "up" sender of each (link, seed) whose "down" sender has not been made yet
def make_path(
    link: LinkSpec, direction: str, seed: int, cc: type[CongestionControl] | None = None
) -> Path:
    """The sender of one direction: ideal, or TCP with congestion-control strategy ``cc`` (by
    default the link's ``cc``, from the registry in netsim/cc/)."""
    rng = random.Random(f"{seed}:{direction}")
    if link.transport == "ideal":
        return IdealPath(link, direction, rng)
    return TcpPath(link, direction, rng, cc or CONGESTION_CONTROLS[link.cc])


def make_connection(
    link: LinkSpec, seed: int, cc: type[CongestionControl] | None = None
) -> tuple[Path, Path]:
    """Both senders of one connection, (up, down); TCP senders are paired, so that each direction's
    data carries the ACKs its host owes for the other's."""
    up, down = make_path(link, "up", seed, cc), make_path(link, "down", seed, cc)
    if isinstance(up, TcpPath) and isinstance(down, TcpPath):
        up.peer, down.peer = down, up
    return up, down
