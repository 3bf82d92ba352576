"""The congestion-control strategy interface TcpPath calls (the hook contract is in netsim/tcp.py)."""

from __future__ import annotations

import math

from ..link import LinkSpec


class CongestionControl:
    """Congestion-control rules of one TCP sender: the strategy TcpPath calls (module docstring).

    The base class holds the window state every strategy has and the RFC 6298 RTT estimator;
    a strategy implements ``on_ack`` and ``on_loss`` (and may override the rest).
    """

    name = "base"
    dupthresh = 3  # later deliveries that report a packet lost (three duplicate ACKs)

    def __init__(self, link: LinkSpec) -> None:
        self.iw = float(link.init_cwnd_pkts)
        self.cwnd = self.iw
        self.ssthresh = math.inf
        rtt = link.rtt_ms / 1000.0
        self.srtt, self.rttvar = rtt, rtt / 2
        self.min_rto = link.min_rto_ms / 1000.0
        self.rto = max(self.min_rto, self.srtt + 4 * self.rttvar)

    def on_rtt(self, r: float) -> None:
        """An RTT sample: RFC 6298 smoothing (alpha 1/8, beta 1/4), RTO = srtt + 4 rttvar."""
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
        self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = max(self.min_rto, self.srtt + 4 * self.rttvar)

    def on_ack(self, t: float, acked: int, inflight: int) -> float:
        raise NotImplementedError

    def on_loss(self, t: float, seq: int, timeout: bool, next_seq: int, inflight: int) -> float:
        raise NotImplementedError

    def on_idle(self, t: float) -> float:
        """Restart after idle (RFC 5681 §4.1): back to the initial window."""
        self.cwnd = min(self.cwnd, self.iw)
        return self.cwnd
