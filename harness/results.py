"""Rows of results.csv and sweeps.csv: what each column means, how it is computed and printed.

Determinism: numbers are printed with a fixed number of significant digits (floats) or as integers,
rows are sorted by ``scenario_id`` and no wall-clock value appears, so the same suite and seed give
a byte-identical file whichever executor ran it. Run metadata goes to meta.json.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import Any

from splitbench.models.privacy import PRIVACY_COLUMNS
from splitbench.models.trace import ExecutionTrace

# the columns in file order, and which are throughput or latency metrics: reports.metrics, the one
# home of results.csv's layout and definitions (reports/ reads them from there too)
from splitbench.reports.metrics import (  # noqa: F401 - re-exported for compare and the tests
    DERIVED_COLUMNS,
    ID_COLUMNS,
    LATENCY_METRICS,
    METRIC_COLUMNS,
    RESULT_COLUMNS,
    SWEEP_COLUMNS,
    THROUGHPUT_METRICS,
    TRACE_COLUMNS,
)

from .resolve import Resolved

#: Significant digits of floats in CSV files.
FLOAT_DIGITS = 7

def fmt(value: Any) -> str:
    """Deterministic text for one CSV cell; empty for not-applicable (None or NaN)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{FLOAT_DIGITS}g}"
    return str(value)


def variant_weights(trace: ExecutionTrace) -> dict[str, float]:
    """Probability of each decode variant (the trace's ``variant_weights``)."""
    return dict(trace.variant_weights)


def decode_payload_per_token(trace: ExecutionTrace) -> float:
    """Expected application payload (both directions) of one decode step, from the trace."""
    return sum(
        w * (trace.decode[n].up_bytes() + trace.decode[n].down_bytes())
        for n, w in variant_weights(trace).items()
    )


def round_trips_per_token(trace: ExecutionTrace) -> float:
    """Expected sequential device↔cloud exchanges one decode step waits on."""
    return sum(w * trace.decode[n].round_trips() for n, w in variant_weights(trace).items())


def trace_columns(trace: ExecutionTrace, reference: ExecutionTrace | None) -> dict[str, Any]:
    """Columns that depend on the method only (not on the network): from the traces."""
    cols: dict[str, Any] = {
        "round_trips_per_token": round_trips_per_token(trace),
        "data_leaving_device": trace.data_leaving_device,
        **{c: trace.privacy.get(c, "") for c in PRIVACY_COLUMNS},
        "comm_reduction_pct": None,
    }
    if reference is not None:
        ref = decode_payload_per_token(reference)
        if ref > 0:
            cols["comm_reduction_pct"] = 100.0 * (1.0 - decode_payload_per_token(trace) / ref)
    return cols


def _finite(v: Any) -> Any:
    """NaN/inf mean "not applicable" in a row (e.g. TPOT with one new token): stored as empty."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def scenario_row(sc: Resolved, outcome: dict[str, Any], trace_cols: dict[str, Any]) -> dict[str, Any]:
    """One results.csv row (without the cross-row columns) from a simulation outcome."""
    row: dict[str, Any] = {
        "scenario_id": sc.scenario_id,
        **sc.labels,
        "prompt_tokens": sc.prompt_tokens,
        "new_tokens": sc.new_tokens,
        "act_dtype": sc.act_dtype,
        "seed": sc.seed,
        "feasible": bool(outcome["feasible"]),
        "infeasible_reason": "" if outcome["feasible"] else outcome.get("reason", ""),
    }
    metrics = outcome.get("metrics", {})
    for c in METRIC_COLUMNS:
        row[c] = _finite(metrics.get(c))
    row.update(trace_cols)
    return row


def sweep_row(sc: Resolved, outcome: dict[str, Any]) -> dict[str, Any]:
    assert sc.sweep is not None
    metrics = outcome.get("metrics", {})
    return {
        "sweep": sc.sweep.sweep,
        "vary": sc.sweep.vary,
        "value": sc.sweep.value,
        **{k: sc.labels[k] for k in ("model", "method", "method_label", "device", "cloud")},
        "network": sc.sweep.network,
        "prompt_tokens": sc.prompt_tokens,
        "new_tokens": sc.new_tokens,
        "feasible": bool(outcome["feasible"]),
        **{
            k: _finite(metrics.get(k))
            for k in SWEEP_COLUMNS
            if k in METRIC_COLUMNS
        },
        "scenario_id": sc.scenario_id,
    }


def _num(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def add_derived(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Speed-up over device-only and share of cloud-only speed, within one comparison group.

    A group is the same model, network, device, cloud and request shape. When a group holds several
    device-only (or cloud-only) rows — e.g. 4-bit and 16-bit weights — the fastest feasible one is
    the baseline: the honest comparison is against the best the alternative can do.
    """

    def group(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            r["model"],
            r["network"],
            r["device"],
            r["cloud"],
            r["prompt_tokens"],
            r["new_tokens"],
            r["act_dtype"],
        )

    best: dict[tuple[str, tuple[Any, ...]], float] = {}
    for r in rows:
        tps = _num(r.get("decode_tok_s"))
        if r["method"] in ("device-only", "cloud-only") and r.get("feasible") and tps:
            k = (r["method"], group(r))
            best[k] = max(best.get(k, 0.0), tps)
    out = []
    for r in rows:
        r = dict(r)
        tps = _num(r.get("decode_tok_s"))
        dev = best.get(("device-only", group(r)))
        cld = best.get(("cloud-only", group(r)))
        r["speedup_vs_device_only"] = tps / dev if (tps is not None and dev) else None
        r["share_of_cloud_only_pct"] = 100.0 * tps / cld if (tps is not None and cld) else None
        out.append(r)
    return out


def to_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([fmt(r.get(c)) for c in columns])
    return buf.getvalue()


def results_csv(rows: list[dict[str, Any]]) -> str:
    rows = sorted(add_derived(rows), key=lambda r: r["scenario_id"])
    return to_csv(rows, RESULT_COLUMNS)


def sweeps_csv(rows: list[dict[str, Any]]) -> str:
    rows = sorted(rows, key=lambda r: (r["sweep"], r["method_label"], r["value"], r["scenario_id"]))
    return to_csv(rows, SWEEP_COLUMNS)
