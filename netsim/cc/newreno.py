"""NewReno: the rules of ns-3's TcpNewReno, against which the ns-3 NewReno reference cases were run."""

from __future__ import annotations

from ..link import LinkSpec
from .base import CongestionControl


class NewReno(CongestionControl):
    """NewReno as ns-3's TcpNewReno (one segment per ACK in slow start), ssthresh as Linux."""

    __slots__ = ()
    name = "newreno"
    prr_by_flight = True  # the ns-3 reference runs used TcpPrrRecovery (RecoverFS = flight)

    def __init__(self, link: LinkSpec) -> None:
        super().__init__(link)

    def on_ack(self, t: float, acked: int, inflight: int) -> float:
        if self.in_recovery:
            return self._prr_ack(acked, inflight)
        cwnd = self.cwnd
        ssthresh = self.ssthresh
        if cwnd < ssthresh:  # one segment per ACK, as ns-3's TcpNewReno (no byte counting), to ssthresh
            cwnd = ssthresh if ssthresh < cwnd + 1.0 else cwnd + 1.0
        else:
            cwnd += 1.0 / cwnd
        self.cwnd = cwnd
        return cwnd

    def on_loss(self, t: float, seq: int, timeout: bool, next_seq: int, inflight: int) -> float:
        # ssthresh from the congestion window, as Linux does (tcp_reno_ssthresh: max(cwnd/2, 2)),
        # not from the data in flight (RFC 5681, ns-3 NewReno): a lost packet at the tail of a burst
        # has almost nothing in flight behind it, and flight/2 would pin ssthresh at 2 packets and
        # leave every later burst crawling in congestion avoidance. Within 2% of ns-3 either way on
        # the reference cases, where losses come mid-transfer with flight ~ cwnd.
        if timeout:
            self.ssthresh = max(self.cwnd / 2.0, 2.0)
            self.cwnd, self.in_recovery = 1.0, False
            self.recover_seq = next_seq
        elif seq >= self.recover_seq:  # once per window of data; PRR brings cwnd down to ssthresh
            self.ssthresh = max(self.cwnd / 2.0, 2.0)
            self.recover_seq = next_seq
            self._prr_enter(inflight)
        elif self.in_recovery:
            self._prr_lost(inflight)
        return self.cwnd
