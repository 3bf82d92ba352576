"""``splitbench compare``: regression-test a split-inference design against a stored baseline.

Rows are matched by ``scenario_id`` (stable across runs and preset-table versions). For every
throughput metric (higher is better) and latency metric (lower is better) the relative change is
reported; a *regression* is a change in the bad direction, in percent of the baseline. A scenario
that was feasible in the baseline and is infeasible now is a regression of 100%.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from splitbench import SplitbenchError

from .results import LATENCY_METRICS, THROUGHPUT_METRICS, fmt

METRICS = THROUGHPUT_METRICS + LATENCY_METRICS


@dataclass
class Change:
    scenario_id: str
    metric: str
    baseline: float | None
    current: float | None
    change_pct: float | None  # signed relative change, current vs baseline
    regression_pct: float  # >= 0: how much worse (0 when better or unchanged)


@dataclass
class Comparison:
    changes: list[Change] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)
    only_current: list[str] = field(default_factory=list)

    def regressions(self, max_pct: float) -> list[Change]:
        return [c for c in self.changes if c.regression_pct > max_pct]


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            if "scenario_id" not in cols:
                raise SplitbenchError(f"{path}: not a results.csv (no 'scenario_id' column)")
            missing = [m for m in METRICS if m not in cols]
            if missing:
                raise SplitbenchError(f"{path}: missing column '{missing[0]}'")
            rows = {}
            for r in reader:
                if r.get("scenario_id"):
                    rows[r["scenario_id"]] = r
            return rows
    except FileNotFoundError:
        raise SplitbenchError(f"{path}: no such file") from None
    except (IsADirectoryError, UnicodeDecodeError, csv.Error) as e:
        raise SplitbenchError(f"{path}: cannot read as CSV ({e.__class__.__name__})") from None


def _value(row: dict[str, str], metric: str, path: Path) -> float | None:
    raw = (row.get(metric) or "").strip()
    if not raw:
        return None
    try:
        x = float(raw)
    except ValueError:
        raise SplitbenchError(
            f"{path}: scenario {row['scenario_id']}: {metric} is not a number: {raw!r}"
        ) from None
    return x if math.isfinite(x) else None


def _feasible(row: dict[str, str]) -> bool:
    return (row.get("feasible") or "true").strip().lower() not in ("false", "0", "no")


def compare_files(baseline: Path, current: Path) -> Comparison:
    base, cur = read_rows(baseline), read_rows(current)
    out = Comparison(only_baseline=sorted(set(base) - set(cur)), only_current=sorted(set(cur) - set(base)))
    for sid in sorted(set(base) & set(cur)):
        b_row, c_row = base[sid], cur[sid]
        lost = _feasible(b_row) and not _feasible(c_row)
        for m in METRICS:
            b, c = _value(b_row, m, baseline), _value(c_row, m, current)
            if b is None or c is None or b == 0:
                change = None
                regression = 100.0 if (lost and b is not None) else 0.0
            else:
                change = 100.0 * (c - b) / abs(b)
                regression = max(0.0, -change if m in THROUGHPUT_METRICS else change)
            out.changes.append(Change(sid, m, b, c, change, regression))
    return out


def format_report(cmp: Comparison, max_pct: float) -> str:
    """A table: one line per scenario, one column per metric (signed % change; * marks a regression)."""
    by_sid: dict[str, dict[str, Change]] = {}
    for c in cmp.changes:
        by_sid.setdefault(c.scenario_id, {})[c.metric] = c
    width = max([len("scenario_id"), *(len(s) for s in by_sid)])
    lines = ["  ".join(["scenario_id".ljust(width), *(m.rjust(14) for m in METRICS)])]
    for sid, ms in by_sid.items():
        cells = []
        for m in METRICS:
            c = ms[m]
            text = "n/a" if c.change_pct is None else f"{c.change_pct:+.2f}%"
            if c.change_pct is None and c.regression_pct > 0:
                text = "infeasible"
            cells.append((text + ("*" if c.regression_pct > max_pct else " ")).rjust(14))
        lines.append("  ".join([sid.ljust(width), *cells]))
    for sid in cmp.only_baseline:
        lines.append(f"{sid}: only in baseline")
    for sid in cmp.only_current:
        lines.append(f"{sid}: only in current")
    regs = cmp.regressions(max_pct)
    worst = max((c.regression_pct for c in cmp.changes), default=0.0)
    lines.append(
        f"{len(by_sid)} scenarios compared; {len(regs)} metric(s) regressed by more than {fmt(max_pct)}% "
        f"(worst regression {worst:.2f}%)"
    )
    return "\n".join(lines)
