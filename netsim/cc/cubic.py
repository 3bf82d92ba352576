"""CUBIC with HyStart, as Linux runs it: the default congestion control of phones and servers.

Rules (Linux ``net/ipv4/tcp_cubic.c`` and ``tcp_cong.c``; RFC 9438), in segments and seconds:

- Slow start counts segments acked (appropriate byte counting, ``tcp_slow_start``): cwnd grows by
  the segments each ACK covers, so it doubles per round trip even with delayed ACKs.
- No growth while application-limited (``tcp_is_cwnd_limited``): in slow start cwnd grows only
  while it is below twice the most segments recently outstanding; in congestion avoidance only
  when the sender recently filled the window. A connection that carries small messages keeps its
  initial window instead of inflating a window it never uses.
- HyStart (``hystart=1``, both detectors, from cwnd >= 16): a round starts when every segment
  outstanding at the previous round's start has been acked. Delay: the minimum of a round's first
  8 RTT samples exceeding the connection's minimum RTT by clamp(min/8, 4 ms, 16 ms). ACK train:
  ACKs arriving at most 2 ms apart, continuously since the round started, for longer than half
  the minimum RTT. Either one ends slow start (ssthresh = cwnd) before the queue overflows.
- Congestion avoidance follows W(t) = C·(t − K)³ + W_max (C = 0.4, K = ∛(W_max·(1 − β)/C)), with
  t the time since the epoch began plus the minimum RTT, and the Reno-friendly estimate as a floor;
  the window grows by acked/cnt per ACK with cnt = cwnd / (target − cwnd) (Linux ``bictcp_update``,
  cnt at least 2; at most 20 before the first loss).
- A loss: W_max = cwnd (or cwnd·(1 + β)/2 with fast convergence when below the last W_max),
  ssthresh = max(β·cwnd, 2), β = 0.7, once per window of data; in fast recovery the window comes
  down to ssthresh by proportional rate reduction (RFC 6937, netsim/cc/base.py) and CUBIC does not
  grow it; a timeout sets cwnd to 1.
- Restart after idle (``tcp_cwnd_restart``): cwnd halves for every RTO of idle time, down to the
  initial window, and the CUBIC epoch moves forward by the idle time.
"""

from __future__ import annotations

import math

from ..link import LinkSpec
from .base import CongestionControl

C = 0.4  # segments / s^3
BETA = 717 / 1024  # Linux's beta_scale
HYSTART_LOW_WINDOW = 16
HYSTART_MIN_SAMPLES = 8
HYSTART_ACK_DELTA = 0.002
HYSTART_DELAY_MIN, HYSTART_DELAY_MAX = 0.004, 0.016
INF = math.inf


class Cubic(CongestionControl):
    """Linux CUBIC + HyStart (module docstring)."""

    __slots__ = (
        "w_max", "epoch", "k", "origin", "w_tcp", "ack_cnt", "min_rtt", "last_t", "delivered", "round_end",
        "round_start", "max_out", "prev_max_out", "found", "samples", "curr_rtt", "train_last", "hystart",
    )  # fmt: skip
    name = "cubic"
    tlp = True  # Linux sends tail-loss probes (RACK-TLP, RFC 8985; net.ipv4.tcp_early_retrans=3)
    train_frac = 0.5  # the ACK train ends slow start after this fraction of the minimum RTT
    delay_frac = 1.0 / 8.0  # the delay detector's threshold: this fraction of the minimum RTT ...
    delay_clamp = (HYSTART_DELAY_MIN, HYSTART_DELAY_MAX)  # ... clamped to this range (seconds)

    def __init__(self, link: LinkSpec) -> None:
        super().__init__(link)
        self.w_max = 0.0  # last_max_cwnd
        self.epoch = -1.0  # epoch start (-1: none)
        self.k = 0.0
        self.origin = 0.0
        self.w_tcp = 0.0  # Reno-friendly estimate
        self.ack_cnt = 0.0
        self.min_rtt = math.inf
        self.last_t = 0.0
        # application-limited bookkeeping and HyStart rounds (counted in delivered segments)
        self.delivered = 0
        self.round_end = 0
        self.round_start = 0.0
        self.max_out = 0  # most segments outstanding in this round
        self.prev_max_out = 0  # ... and in the previous one
        self.found = False
        self.samples = 0
        self.curr_rtt = math.inf
        self.train_last = 0.0
        self.hystart = link.hystart

    # --------------------------------------------------------------------------------- hooks
    def on_rtt(self, r: float) -> None:
        CongestionControl.on_rtt(self, r)  # the RFC 6298 estimator (named: cheaper than super())
        if r < self.min_rtt:
            self.min_rtt = r
        if self.samples < HYSTART_MIN_SAMPLES:
            if r < self.curr_rtt:
                self.curr_rtt = r
            self.samples += 1

    def on_ack(self, t: float, acked: int, inflight: int) -> float:
        # runs once per ACK: written on locals, without builtin calls
        out = inflight + acked
        max_out = self.max_out
        if out > max_out:
            self.max_out = max_out = out
        self.delivered = delivered = self.delivered + acked
        self.last_t = t
        if delivered >= self.round_end:  # a new round: everything outstanding at the last start acked
            self.round_end = delivered + inflight
            self.round_start = self.train_last = t
            self.prev_max_out, self.max_out = max_out, out
            max_out = out
            self.samples, self.curr_rtt = 0, INF
        if self.in_recovery:
            return self._prr_ack(acked, inflight)
        prev = self.prev_max_out
        most = prev if prev > max_out else max_out  # the most outstanding in this round or the last
        cwnd = self.cwnd
        if cwnd < self.ssthresh:
            if self.hystart and not self.found and cwnd >= HYSTART_LOW_WINDOW:
                self._hystart(t)
            if cwnd >= 2 * most:
                return cwnd  # application-limited
            ssthresh, grown = self.ssthresh, cwnd + acked
            room = (grown if grown < ssthresh else ssthresh) - cwnd
            cwnd += room
            acked -= room  # the rest, if any, counts in congestion avoidance
            self.cwnd = cwnd
            if acked <= 0:
                return cwnd
        if most + 1 <= cwnd:
            return cwnd  # application-limited
        cwnd += acked / self._cnt(t, acked)
        self.cwnd = cwnd
        return cwnd

    def on_loss(self, t: float, seq: int, timeout: bool, next_seq: int, inflight: int) -> float:
        if timeout or seq >= self.recover_seq:
            self.epoch = -1.0
            cwnd = self.cwnd
            self.w_max = cwnd * (1.0 + BETA) / 2.0 if cwnd < self.w_max else cwnd
            self.ssthresh = max(cwnd * BETA, 2.0)
            self.recover_seq = next_seq
            self.found = True  # no HyStart after the first loss (Linux resets it only on a timeout)
            if timeout:
                self.cwnd, self.in_recovery = 1.0, False
            else:
                self._prr_enter(inflight)
        elif self.in_recovery:
            self._prr_lost(inflight)
        return self.cwnd

    def on_idle(self, t: float) -> float:
        idle = t - self.last_t
        cwnd = self.cwnd
        while idle > self.rto and cwnd > self.iw:
            cwnd /= 2.0
            idle -= self.rto
        self.cwnd = max(cwnd, min(self.cwnd, self.iw))
        if self.epoch >= 0:
            self.epoch += t - self.last_t
        return self.cwnd

    # --------------------------------------------------------------------------------- CUBIC
    def _hystart(self, t: float) -> None:
        if t - self.train_last <= HYSTART_ACK_DELTA:
            self.train_last = t
            if t - self.round_start > self.min_rtt * self.train_frac:
                self.found = True
        if self.samples >= HYSTART_MIN_SAMPLES:
            lo, hi = self.delay_clamp
            thresh = min(max(self.min_rtt * self.delay_frac, lo), hi)
            if self.curr_rtt >= self.min_rtt + thresh:
                self.found = True
        if self.found:
            self.ssthresh = self.cwnd

    def _cnt(self, t: float, acked: int) -> float:
        """Segments to ack per one-segment increase (Linux ``bictcp_update``)."""
        cwnd = self.cwnd
        self.ack_cnt += acked
        if self.epoch < 0:
            self.epoch = t
            self.ack_cnt = acked
            self.w_tcp = cwnd
            if self.w_max <= cwnd:
                self.k, self.origin = 0.0, cwnd
            else:
                self.k, self.origin = ((self.w_max - cwnd) / C) ** (1.0 / 3.0), self.w_max
        rtt = self.min_rtt if self.min_rtt < math.inf else self.srtt
        target = self.origin + C * (t - self.epoch + rtt - self.k) ** 3
        cnt = cwnd / (target - cwnd) if target > cwnd else 100.0 * cwnd
        if self.w_max == 0 and cnt > 20:
            cnt = 20.0
        # Reno-friendly region: the window standard TCP would have reached since the epoch began
        delta = cwnd * (1.0 + BETA) / (3.0 * (1.0 - BETA))  # segments acked per Reno-equivalent increase
        while self.ack_cnt > delta:
            self.ack_cnt -= delta
            self.w_tcp += 1.0
        if self.w_tcp > cwnd:
            cnt = min(cnt, cwnd / (self.w_tcp - cwnd))
        return max(cnt, 2.0)


class Ns3Cubic(Cubic):
    """ns-3 3.44's TcpCubic, to replay the ns-3 default-TCP reference cases: Linux's rules except
    HyStart's two thresholds (``tcp-cubic.cc``): the delay detector fires at clamp(minimum RTT,
    4 ms, 1 s) above the minimum RTT instead of an eighth of it, and the ACK train after a whole
    minimum RTT instead of half of it. So ns-3 leaves slow start later than Linux does."""

    __slots__ = ()
    name = "cubic-ns3"
    tlp = False  # ns-3 3.44 has no RACK-TLP (TcpSocketBase: no probe timer; tcp-prr-recovery.cc)
    prr_by_flight = True  # TcpPrrRecovery: RecoverFS = bytes in flight at recovery start
    train_frac = 1.0
    delay_frac = 1.0
    delay_clamp = (HYSTART_DELAY_MIN, 1.0)
