"""Link capacity: a constant rate, or a Mahimahi delivery-opportunity trace.

Why byte-space bookkeeping: a link's state is "how many capacity bytes have been used so far". A
transmission of ``w`` bytes that reaches an idle link at time ``s`` starts at the first unused byte
of capacity at or after ``s`` (capacity offered while the queue was empty is wasted, as on a real
link) and finishes when the cumulative capacity reaches that point plus ``w``. For a constant link
that is plain arithmetic; for a trace it is two bisections in the cumulative opportunity array, so
a transfer costs O(log n) however long it is.

Mahimahi format (Winstein et al., NSDI 2013; GitHub ravinet/mahimahi): one line per opportunity to
deliver 1500 bytes, an integer millisecond timestamp from the start of the trace, non-decreasing;
the trace repeats with a period equal to its last timestamp. A file holding the single line ``1`` is
1500 bytes every millisecond: 12 Mbps.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from splitbench import SplitbenchError

MAHIMAHI_BYTES = 1500  # bytes per delivery opportunity (Mahimahi's MTU)


class Capacity:
    """Interface: byte-space position <-> time. Times are seconds."""

    def position_at(self, t: float) -> float:
        """Capacity bytes offered strictly before time ``t``."""
        raise NotImplementedError

    def time_of(self, pos: float) -> float:
        """Earliest time by which ``pos`` capacity bytes have been offered."""
        raise NotImplementedError

    def mean_mbps(self) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantCapacity(Capacity):
    mbps: float

    @property
    def bytes_per_s(self) -> float:
        return self.mbps * 1e6 / 8.0

    def position_at(self, t: float) -> float:
        return t * self.bytes_per_s

    def time_of(self, pos: float) -> float:
        return pos / self.bytes_per_s

    def mean_mbps(self) -> float:
        return self.mbps


class TraceCapacity(Capacity):
    """A repeating delivery-opportunity trace (timestamps in integer ms)."""

    def __init__(self, timestamps_ms: list[int], name: str = "<trace>") -> None:
        if not timestamps_ms:
            raise SplitbenchError(f"capacity trace {name}: no delivery opportunities")
        if any(b < a for a, b in zip(timestamps_ms, timestamps_ms[1:], strict=False)):
            raise SplitbenchError(f"capacity trace {name}: timestamps must be non-decreasing")
        if timestamps_ms[-1] <= 0:
            raise SplitbenchError(
                f"capacity trace {name}: last timestamp must be > 0 ms (it sets the period)"
            )
        self.name = name
        self.ts = [t / 1000.0 for t in timestamps_ms]  # seconds
        self.n = len(self.ts)
        self.period = self.ts[-1]

    def position_at(self, t: float) -> float:
        if t <= 0:
            return 0.0
        q, r = divmod(t, self.period)
        return (int(q) * self.n + bisect_left(self.ts, r)) * float(MAHIMAHI_BYTES)

    def time_of(self, pos: float) -> float:
        if pos <= 0:
            return 0.0
        k = math.ceil(pos / MAHIMAHI_BYTES - 1e-9)  # opportunities needed, 1-based
        q, r = divmod(k - 1, self.n)
        return q * self.period + self.ts[r]

    def mean_mbps(self) -> float:
        return self.n * MAHIMAHI_BYTES * 8 / self.period / 1e6

    def outage_fraction(self, gap_s: float = 0.1) -> float:
        """Share of the period covered by gaps longer than ``gap_s`` between opportunities."""
        gaps = [b - a for a, b in zip([0.0, *self.ts], self.ts, strict=False)]
        return sum(g for g in gaps if g > gap_s) / self.period


def parse_mahimahi(text: str, name: str) -> list[int]:
    out: list[int] = []
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        try:
            v = int(s)
        except ValueError:
            raise SplitbenchError(
                f"capacity trace {name}: line {i}: {s[:30]!r} is not an integer ms timestamp"
            ) from None
        if v < 0:
            raise SplitbenchError(f"capacity trace {name}: line {i}: negative timestamp {v}")
        if out and v < out[-1]:
            raise SplitbenchError(f"capacity trace {name}: line {i}: timestamp {v} < previous {out[-1]}")
        out.append(v)
    if not out:
        raise SplitbenchError(f"capacity trace {name}: file is empty")
    return out


@lru_cache(maxsize=64)
def load_trace(spec: str) -> TraceCapacity:
    """Load a Mahimahi file, or build a synthetic trace from ``synth:<kind>:<seed>`` (see SYNTHETIC)."""
    if spec.startswith("synth:"):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or parts[1] not in SYNTHETIC:
            raise SplitbenchError(f"capacity trace {spec!r}: expected synth:<{'|'.join(SYNTHETIC)}>[:seed]")
        try:
            seed = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            raise SplitbenchError(f"capacity trace {spec!r}: seed must be an integer") from None
        return TraceCapacity(SYNTHETIC[parts[1]](seed), name=spec)
    p = Path(spec)
    if not p.is_file():
        raise SplitbenchError(f"capacity trace {spec}: file not found")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SplitbenchError(f"capacity trace {spec}: cannot read ({e.__class__.__name__})") from e
    return TraceCapacity(parse_mahimahi(text, spec), name=spec)


def write_mahimahi(path: str | Path, timestamps_ms: list[int]) -> Path:
    p = Path(path)
    p.write_text("".join(f"{t}\n" for t in timestamps_ms))
    return p


# ---------------------------------------------------------------- synthetic generators
def rate_series_to_mahimahi(rates_mbps: list[float], step_ms: int = 100) -> list[int]:
    """Turn a piecewise-constant rate series into evenly spread delivery opportunities.

    Fractional opportunities carry over between steps so the mean rate is exact.
    """
    out: list[int] = []
    carry = 0.0
    for i, r in enumerate(rates_mbps):
        n_f = r * 1e6 / 8 / MAHIMAHI_BYTES * step_ms / 1000 + carry
        n = int(n_f)
        carry = n_f - n
        t0 = i * step_ms
        out.extend(t0 + 1 + (j * step_ms) // max(n, 1) for j in range(n))
    end = len(rates_mbps) * step_ms
    if not out or out[-1] < end:
        out.append(end)  # pin the period to the series length
    return out


def onoff_trace(
    on_mbps: float, mean_on_s: float, mean_off_s: float, duration_s: float, seed: int = 0, step_ms: int = 10
) -> list[int]:
    """Alternating exponential on (rate ``on_mbps``) and off (no capacity) periods: outages."""
    rng = random.Random(seed)
    rates: list[float] = []
    on = True
    n_steps = int(duration_s * 1000 / step_ms)
    while len(rates) < n_steps:
        dur = rng.expovariate(1.0 / (mean_on_s if on else mean_off_s))
        k = max(1, round(dur * 1000 / step_ms))
        rates.extend([on_mbps if on else 0.0] * k)
        on = not on
    return rate_series_to_mahimahi(rates[:n_steps], step_ms)


def markov_trace(
    mean_mbps: float,
    cv: float,
    dwell_s: float,
    duration_s: float,
    seed: int = 0,
    outage_p: float = 0.0,
    states: int = 6,
    step_ms: int = 100,
) -> list[int]:
    """Markov-modulated rate: a birth-death chain over log-spaced rates.

    The rate levels are spread so that the stationary (uniform) distribution has mean ``mean_mbps``
    and coefficient of variation ``cv``; each step the chain moves to a neighbour with probability
    ``step/dwell``. With probability ``outage_p`` per dwell the link goes dark for one dwell.
    """
    rng = random.Random(seed)
    # log-uniform levels with spread s: choose s so the CV of the levels matches cv
    sigma = math.sqrt(math.log(1 + cv * cv))
    zs = [(-1 + 2 * i / (states - 1)) * sigma * math.sqrt(3) for i in range(states)]
    lv = [math.exp(z) for z in zs]
    scale = mean_mbps / (sum(lv) / states)
    levels = [v * scale for v in lv]
    p_move = min(1.0, step_ms / 1000 / dwell_s)
    s = rng.randrange(states)
    rates: list[float] = []
    n_steps = int(duration_s * 1000 / step_ms)
    outage_left = 0
    while len(rates) < n_steps:
        if outage_left > 0:
            rates.append(0.0)
            outage_left -= 1
            continue
        if rng.random() < outage_p * p_move:
            outage_left = max(1, round(dwell_s * 1000 / step_ms))
            continue
        rates.append(levels[s])
        if rng.random() < p_move:
            s = min(states - 1, max(0, s + rng.choice((-1, 1))))
    return rate_series_to_mahimahi(rates, step_ms)


# Named synthetic links. Statistics [I] estimates fitted to published means:
# lte-*: Mahimahi ATT-LTE-driving means (5.17 down / 0.83 up Mbps, Winstein et al. NSDI 2013 traces);
# 5g-*: 5Gophers (Narayanan et al. WWW 2020) driving-trace throughput of order 100 Mbps down; CV and
# dwell [I]. onoff: 12 Mbps with 2 s outages every ~8 s [I].
SYNTHETIC = {
    "lte-down": lambda seed: markov_trace(5.17, 0.8, 1.0, 120, seed, outage_p=0.02),
    "lte-up": lambda seed: markov_trace(0.83, 0.9, 1.0, 120, seed, outage_p=0.02),
    "5g-down": lambda seed: markov_trace(120.0, 0.6, 1.0, 60, seed, outage_p=0.01),
    "5g-up": lambda seed: markov_trace(20.0, 0.6, 1.0, 60, seed, outage_p=0.01),
    "onoff": lambda seed: onoff_trace(12.0, 8.0, 2.0, 120, seed),
}
