"""Comparison tables: one per model × network (× hardware and request shape), one row per paradigm.

Each table exists twice: as a CSV in ``tables/`` holding the full-precision value in the table's unit
(results.csv value × :attr:`Metric.scale`, nothing else), with the scenario_id so every row traces
back to results.csv; and as a display table (strings from :func:`fmt_number`) for the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from splitbench.reports.breakeven import BreakEven
from splitbench.reports.load import GROUP_KEYS, iter_groups
from splitbench.reports.metrics import METRICS, SWEEP_AXES, TABLE_METRICS, TEXT_METRICS, fmt_number


@dataclass
class Table:
    """One comparison table."""

    name: str  # file stem in tables/
    title: str
    key: dict[str, object]
    data: pd.DataFrame  # machine columns (csv names), full precision
    display_headers: list[str]
    display_rows: list[list[str]]


def slug(*parts: object) -> str:
    """File-system-safe, stable name from group key parts."""
    text = "__".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")


def _status(feasible: bool, reason: str) -> str:
    return "ok" if feasible else f"infeasible: {reason or 'reason not recorded'}"


def group_title(key: dict[str, object], varying: set[str]) -> str:
    """'llama2-7b on 5g' plus the hardware/request fields only when they vary across the suite."""
    title = f"{key['model']} on {key['network']}"
    extras = [f"{k.replace('_', ' ')} {key[k]}" for k in GROUP_KEYS[2:] if k in varying]
    return title + (f" ({', '.join(extras)})" if extras else "")


def group_slug(key: dict[str, object], varying: set[str], *prefix: str) -> str:
    """Stable file stem of a group: model, network, then only the keys that vary in the suite."""
    return slug(*prefix, key["model"], key["network"], *[key[k] for k in GROUP_KEYS[2:] if k in varying])


def varying_keys(results: pd.DataFrame) -> set[str]:
    return {k for k in GROUP_KEYS if results[k].nunique(dropna=False) > 1}


def build_table(key: dict[str, object], rows: pd.DataFrame, varying: set[str]) -> Table:
    """Table for one group; infeasible rows keep their (possibly empty) numbers and show the reason."""
    data = pd.DataFrame({
        "scenario_id": rows["scenario_id"].to_numpy(),
        "paradigm": rows["method"].to_numpy(),
        "method_label": rows["method_label"].to_numpy(),
    })
    for col in TABLE_METRICS:
        m = METRICS[col]
        if col in TEXT_METRICS:
            data[m.csv_column] = rows[col].to_numpy()
        else:
            data[m.csv_column] = rows[col].to_numpy(dtype=float) * m.scale
    data["status"] = [_status(f, r) for f, r in zip(rows["feasible"], rows["infeasible_reason"], strict=True)]
    headers = ["paradigm"] + [METRICS[c].label() for c in TABLE_METRICS] + ["status"]
    display_rows: list[list[str]] = []
    for rec in data.to_dict("records"):
        cells = [str(rec["method_label"])]
        for col in TABLE_METRICS:
            v = rec[METRICS[col].csv_column]
            cells.append(str(v) if col in TEXT_METRICS else fmt_number(v))
        cells.append(str(rec["status"]))
        display_rows.append(cells)
    return Table(name=group_slug(key, varying), title=group_title(key, varying), key=key, data=data,
                 display_headers=headers, display_rows=display_rows)


def build_tables(results: pd.DataFrame) -> list[Table]:
    varying = varying_keys(results)
    return [build_table(key, rows, varying) for key, rows in iter_groups(results)]


def break_even_table(items: list[BreakEven]) -> Table | None:
    """Break-even points of every split paradigm in every sweep (value empty = no crossing)."""
    if not items:
        return None
    data = pd.DataFrame({
        "sweep": [b.sweep for b in items],
        "model": [b.model for b in items],
        "network": [b.network for b in items],
        "device": [b.device for b in items],
        "cloud": [b.cloud for b in items],
        "paradigm": [b.method for b in items],
        "method_label": [b.method_label for b in items],
        "vary": [b.vary for b in items],
        "break_even": [np.nan if b.value is None else b.value for b in items],
        "verdict": [b.sentence() for b in items],
    })
    headers = ["sweep", "model", "base network", "paradigm", "varied", "break-even", "verdict"]
    rows = [[b.sweep, b.model, b.network, b.method_label, SWEEP_AXES.get(b.vary, (b.vary, ""))[0],
             fmt_number(b.value), b.sentence()] for b in items]
    return Table(name="break_even", title="Break-even versus device-only", key={}, data=data,
                 display_headers=headers, display_rows=rows)


def write_tables(tables: list[Table], folder: Path) -> list[Path]:
    """Write each table's CSV (full precision, '' for not applicable) with a stable float format."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tables:
        p = folder / f"{t.name}.csv"
        t.data.to_csv(p, index=False, float_format="%.10g", lineterminator="\n")
        paths.append(p)
    return paths
