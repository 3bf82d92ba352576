"""One direction's propagation delay: the preset's median plus a time-correlated variation.

What a link preset's ``rtt_ms`` is: the median round-trip time of small messages, as speed tests
and ping studies report it. Delay variation (``jitter_ms``) moves the one-way delay around that
median; it never adds on top of it. So the one-way delay of a packet leaving the bottleneck at time
``t`` is::

    rtt_ms / 2  +  X(t)

where X is a zero-median process, held for a burst and drawn afresh, independently, at the start
of a burst once the current value is older than ``jitter_interval_ms``. A burst is a run of
packets leaving the bottleneck back to back (each within two packet times of the one before): a
bulk transfer that keeps the link busy sees one delay, however long it runs, while messages apart
in time see independent ones. X is Laplace distributed with scale ``jitter_ms``
(so ``jitter_ms`` is the mean absolute deviation of the one-way delay from its median; Laplace
because cellular delay distributions are sharply peaked with heavy tails), clipped so that a
packet never arrives sooner than a tenth of the base delay.

Why time-correlated: on cellular links delay varies with scheduling, HARQ retransmission rounds
and queue build-up, which move together for every packet in flight at the same moment (Jiang et
al., "Tackling bufferbloat in 3G/4G networks", IMC 2012). Independent per-packet draws with
in-order delivery would make a burst of n packets wait for the largest of n draws, which no
measurement shows. Holding the value through a busy period also reflects what moves: scheduling
grants and per-transmission HARQ rounds vary the delay of sparse messages, while a flow that keeps
the radio busy is scheduled continuously.

The process for one direction is deterministic for a given seed: values are drawn in departure
order from its own random stream (packets on one path depart in time order).
"""

from __future__ import annotations

import math
import random


class DelayProcess:
    """``at(t)``: the one-way delay (seconds) of a packet that leaves the bottleneck at ``t``.

    TcpPath.send applies ``at`` inline on its per-packet path (a call per packet costs more than
    the rule); its fast-vs-general property test, whose general walk calls ``at``, keeps the two
    equal."""

    __slots__ = ("base", "scale", "interval", "gap", "floor", "rng", "drawn", "last", "value")

    def __init__(
        self, one_way_s: float, jitter_s: float, interval_s: float, packet_s: float, rng: random.Random
    ) -> None:
        """``packet_s``: one packet's serialisation time at the bottleneck (bursts are runs of
        departures at most two of these apart)."""
        self.base = one_way_s
        self.scale = jitter_s
        self.interval = interval_s
        self.gap = 2.0 * packet_s
        self.floor = 0.1 * one_way_s
        self.rng = rng
        self.drawn = -math.inf  # when the current value was drawn
        self.last = -math.inf  # the latest departure
        self.value = one_way_s

    def at(self, t: float) -> float:
        if not self.scale:
            return self.base
        if t - self.last > self.gap and t - self.drawn > self.interval:
            self.drawn = t
            self.value = self._draw()
        self.last = t
        return self.value

    def _draw(self) -> float:
        # Laplace(0, scale) by inversion, x = -scale sign(u) ln(1 - 2|u|): one uniform draw per
        # interval (written with comparisons: builtin calls cost more than the arithmetic)
        u = self.rng.random() - 0.5
        v = 1.0 - 2.0 * (u if u >= 0.0 else -u)
        ln = math.log(v if v >= 1e-300 else 1e-300)
        d = self.base + self.scale * (-ln if u >= 0.0 else ln)
        return d if d > self.floor else self.floor
