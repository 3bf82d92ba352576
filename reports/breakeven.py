"""Break-even points: where a split paradigm's throughput curve crosses device-only's.

Why here and not in the harness: the harness writes the raw sweep (decode tok/s at each RTT or
uplink rate); where a curve crosses another is a property of the plot, so the report derives it and
says how (linear interpolation between neighbouring sweep points — exact when the curve is linear
between them, and a sampling-limited estimate otherwise; the sweep grid bounds the error).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from splitbench.reports.metrics import REFERENCE_PARADIGMS, SWEEP_AXES, fmt_number, paradigm_rank

_num = fmt_number

SWEEP_GROUP_KEYS = ["sweep", "vary", "model", "network", "device", "cloud"]


@dataclass(frozen=True)
class BreakEven:
    """How one split paradigm compares with device-only along one sweep."""

    sweep: str
    vary: str
    model: str
    network: str
    device: str
    cloud: str
    method: str
    method_label: str
    crossings: tuple[float, ...]  # values where the curves cross, ascending
    beats_at_low: bool  # split faster than device-only at the smallest swept value
    beats_at_high: bool  # ... at the largest swept value
    lo: float
    hi: float

    @property
    def value(self) -> float | None:
        """The break-even: where, moving towards a worse link, the paradigm stops beating device-only.

        A worse link is a larger RTT or a smaller uplink rate, so the break-even is the first
        crossing for an RTT sweep and the last for an uplink sweep. None when there is no crossing.
        """
        if not self.crossings:
            return None
        return self.crossings[0] if self.vary != "up_mbps" else self.crossings[-1]

    @property
    def span(self) -> str:
        """The swept range in words, e.g. 'RTT 0–80 ms'."""
        unit = SWEEP_AXES.get(self.vary, (self.vary, ""))[1]
        what = {"rtt_ms": "RTT", "up_mbps": "uplink"}.get(self.vary, self.vary)
        return f"{what} {_num(self.lo)}–{_num(self.hi)} {unit}".strip()

    def clause(self) -> tuple[str, str]:
        """(kind, words): kind 'needs' ('RTT below 40 ms'), 'everywhere', 'never' or 'crosses'."""
        unit = SWEEP_AXES.get(self.vary, (self.vary, ""))[1]
        what = {"rtt_ms": "RTT", "up_mbps": "uplink"}.get(self.vary, self.vary)
        span = self.span
        if not self.crossings:
            if self.beats_at_low:
                return "everywhere", f"beats device-only everywhere in the sweep ({span})"
            return "never", f"never beats device-only in the sweep ({span})"
        v = f"{_num(self.value)} {unit}".strip()
        if self.vary == "rtt_ms" and self.beats_at_low:
            return "needs", f"RTT below {v}"
        if self.vary == "up_mbps" and self.beats_at_high:
            return "needs", f"uplink above {v}"
        pts = ", ".join(f"{_num(c)}" for c in self.crossings)
        return "crosses", f"crosses device-only at {what} {pts} {unit}".strip()

    def sentence(self) -> str:
        """Plain words: 'needs RTT below 40 ms to beat device-only' or the everywhere/never cases."""
        kind, words = self.clause()
        return f"needs {words} to beat device-only" if kind == "needs" else words


def crossings(x: np.ndarray, diff: np.ndarray) -> list[float]:
    """x values where a piecewise-linear ``diff`` (sorted by x) changes sign or touches zero."""
    out: list[float] = []
    for i in range(len(x)):
        if diff[i] == 0 and (not out or out[-1] != x[i]):
            out.append(float(x[i]))
        if i + 1 < len(x) and diff[i] * diff[i + 1] < 0:
            out.append(float(x[i] + (x[i + 1] - x[i]) * diff[i] / (diff[i] - diff[i + 1])))
    return out


def curve(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (value, decode_tok_s) of one paradigm's sweep curve, NaNs dropped, duplicates averaged."""
    r = rows.dropna(subset=["value", "decode_tok_s"]).groupby("value", sort=True)["decode_tok_s"].mean()
    return r.index.to_numpy(dtype=float), r.to_numpy(dtype=float)


def iter_sweep_groups(sweeps: pd.DataFrame) -> Iterator[tuple[dict[str, str], pd.DataFrame]]:
    """One group per swept curve family (same sweep, axis, model, base network and hardware)."""
    for key, rows in sweeps.groupby(SWEEP_GROUP_KEYS, sort=True, dropna=False):
        yield dict(zip(SWEEP_GROUP_KEYS, key, strict=True)), rows


def break_evens(sweeps: pd.DataFrame | None) -> list[BreakEven]:
    """Break-even of every split paradigm in every sweep that also has a device-only curve."""
    if sweeps is None or sweeps.empty:
        return []
    out: list[BreakEven] = []
    for key, rows in iter_sweep_groups(sweeps):
        dev = rows[rows["method"] == "device-only"]
        if dev.empty:
            continue
        dx, dy = curve(dev)
        labels = rows[~rows["method"].isin(REFERENCE_PARADIGMS)][["method", "method_label"]].drop_duplicates()
        labels = sorted(labels.itertuples(index=False), key=lambda t: (paradigm_rank(t[0]), t[1]))
        for method, label in labels:
            x, y = curve(rows[rows["method_label"] == label])
            if len(x) == 0 or len(dx) == 0:
                continue
            # device-only is usually flat in a link sweep; interpolate it onto the split's grid anyway
            diff = y - np.interp(x, dx, dy)
            out.append(BreakEven(
                crossings=tuple(crossings(x, diff)), beats_at_low=bool(diff[0] > 0),
                beats_at_high=bool(diff[-1] > 0), lo=float(x[0]), hi=float(x[-1]),
                method=str(method), method_label=str(label), **{k: str(v) for k, v in key.items()},
            ))
    return out
