"""The congestion-control strategy interface TcpPath calls (the hook contract is in netsim/tcp.py),
and the fast-recovery machinery every strategy shares: proportional rate reduction.

Proportional rate reduction (RFC 6937; Linux ``tcp_cwnd_reduction``, ns-3 ``TcpPrrRecovery``): in
fast recovery the window comes down to ssthresh gradually, by the segments each ACK reports
delivered, instead of at once. Per ACK, with ``prr_delivered`` the segments delivered and
``prr_out`` the segments sent since recovery began, and ``inflight`` after the ACK:

- while inflight > ssthresh: sndcnt = ceil(ssthresh · prr_delivered / RecoverFS) − prr_out (the
  sender sends ssthresh/RecoverFS of what is delivered: a proportional reduction);
- otherwise (slow-start reduction bound): sndcnt = min(ssthresh − inflight,
  max(prr_delivered − prr_out, delivered) + 1);
- sndcnt >= 1 while nothing has been sent yet (the fast retransmit), else >= 0; cwnd = inflight +
  sndcnt.

RecoverFS is the window before the reduction (Linux: ``prior_cwnd``) or the flight at its start
(ns-3: ``m_recoveryFlightSize``), per ``prr_by_flight``. A detected loss takes its packet out of
flight without opening room for another (cwnd drops with it); the retransmission goes out on the
room the next ACKs give, except the first (the fast retransmit, forced). Recovery ends when the
segments outstanding at its start (the lost one counted through its retransmission) have been
delivered, the count of a cumulative ACK reaching the recovery point; then cwnd = ssthresh (Linux
``tcp_end_cwnd_reduction``, ns-3's ExitRecovery). ``prr_out`` is inferred from the ``inflight``
the walker passes: between two hooks inflight changes only by sends (+1), ACKs and losses.
"""

from __future__ import annotations

import math

from ..link import LinkSpec


class CongestionControl:
    """Congestion-control rules of one TCP sender: the strategy TcpPath calls (module docstring).

    The base class holds the window state every strategy has, the RFC 6298 RTT estimator and
    proportional rate reduction; a strategy implements ``on_ack`` and ``on_loss`` (and may override
    the rest). ``tlp``: the walker sends tail-loss probes for this sender (RACK-TLP, RFC 8985).
    """

    # Slots, not a __dict__: CPython shares an instance dict's keys only up to 30 attributes, and a
    # strategy's hooks run once per ACK. A strategy of one's own needs none (it then has a __dict__).
    __slots__ = (
        "iw", "cwnd", "ssthresh", "srtt", "rttvar", "min_rto", "rto", "recover_seq", "in_recovery", "prr_fs",
        "prr_delivered", "prr_out", "prr_left", "_inflight",
    )  # fmt: skip
    name = "base"
    dupthresh = 3  # later deliveries that report a packet lost (three duplicate ACKs)
    tlp = False
    prr_by_flight = False  # PRR's RecoverFS: the flight at recovery start (ns-3), else prior cwnd

    def __init__(self, link: LinkSpec) -> None:
        self.iw = float(link.init_cwnd_pkts)
        self.cwnd = self.iw
        self.ssthresh = math.inf
        rtt = link.rtt_ms / 1000.0
        self.srtt, self.rttvar = rtt, rtt / 2
        self.min_rto = link.min_rto_ms / 1000.0
        self.rto = max(self.min_rto, self.srtt + 4 * self.rttvar)
        self.recover_seq = -1  # packets sent before this are covered by the current reduction
        # proportional rate reduction (module docstring)
        self.in_recovery = False
        self.prr_fs = 1
        self.prr_delivered = 0
        self.prr_out = 0
        self.prr_left = 0  # segments still to be delivered before recovery ends
        self._inflight = 0  # inflight at the last hook during recovery (to infer prr_out)

    def on_rtt(self, r: float) -> None:
        """An RTT sample: RFC 6298 smoothing (alpha 1/8, beta 1/4), RTO = max(min_rto, srtt + 4
        rttvar). Runs once per ACK: written without builtin calls, which cost more than the rest."""
        srtt = self.srtt
        d = srtt - r
        self.rttvar = rttvar = 0.75 * self.rttvar + 0.25 * (d if d > 0.0 else -d)
        self.srtt = srtt = 0.875 * srtt + 0.125 * r
        rto, floor = srtt + 4 * rttvar, self.min_rto
        self.rto = rto if rto > floor else floor

    def on_ack(self, t: float, acked: int, inflight: int) -> float:
        raise NotImplementedError

    def on_loss(self, t: float, seq: int, timeout: bool, next_seq: int, inflight: int) -> float:
        raise NotImplementedError

    def on_idle(self, t: float) -> float:
        """Restart after idle (RFC 5681 §4.1): back to the initial window."""
        self.cwnd = min(self.cwnd, self.iw)
        return self.cwnd

    # ------------------------------------------------------------------ proportional rate reduction
    def _prr_enter(self, inflight: int) -> float:
        """Fast recovery begins (ssthresh already set): the lost packet is out of ``inflight``."""
        self.in_recovery = True
        self.prr_fs = max(1, inflight + 1 if self.prr_by_flight else int(self.cwnd))
        self.prr_delivered = self.prr_out = 0
        self.prr_left = inflight + 1
        self._inflight = inflight
        self.cwnd = float(inflight + 1)  # the fast retransmit
        return self.cwnd

    def _prr_lost(self, inflight: int) -> float:
        """Another loss detected in this recovery: out of flight, no room opened for it."""
        self.prr_out += inflight + 1 - self._inflight
        self._inflight = inflight
        self.cwnd = max(self.cwnd - 1.0, 1.0)
        return self.cwnd

    def _prr_ack(self, acked: int, inflight: int) -> float:
        """An ACK in fast recovery: cwnd = inflight + sndcnt, or ssthresh once recovery ends."""
        self.prr_out += inflight + acked - self._inflight
        self._inflight = inflight
        self.prr_delivered += acked
        self.prr_left -= acked
        if self.prr_left <= 0:
            self.in_recovery = False
            self.cwnd = self.ssthresh
            return self.cwnd
        ss = int(self.ssthresh)
        if inflight > ss:
            sndcnt = -(-ss * self.prr_delivered // self.prr_fs) - self.prr_out
        else:
            sndcnt = min(ss - inflight, max(self.prr_delivered - self.prr_out, acked) + 1)
        if sndcnt < (0 if self.prr_out else 1):
            sndcnt = 0 if self.prr_out else 1
        self.cwnd = float(max(inflight + sndcnt, 1))
        return self.cwnd
