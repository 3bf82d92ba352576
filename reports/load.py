"""Read and validate a results directory (the harness's output) into plain pandas/python objects.

reports/ never imports the harness: the directory layout in the contract is the whole interface.
Anything the report cannot work without (results.csv and its required columns) is validated here
and rejected with a one-line :class:`SplitbenchError` naming the file; optional inputs
(scenarios.yaml, timelines/, sweeps.csv, multiuser.csv) are read when present and tolerated when
absent, so a partial run still gives a report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from splitbench import SplitbenchError
from splitbench.reports.metrics import TEXT_METRICS, paradigm_rank

TEXT_COLUMNS = ["scenario_id", "model", "method", "network", "device", "cloud"]
NUMERIC_COLUMNS = [
    "prompt_tokens", "new_tokens", "ttft_s", "tpot_s", "prefill_tok_s", "decode_tok_s", "e2e_s",
    "up_bytes", "down_bytes", "up_bytes_per_token", "down_bytes_per_token", "round_trips_per_token",
    "comm_reduction_pct",
]
OPTIONAL_NUMERIC = [
    "up_wire_bytes", "down_wire_bytes", "handshake_s", "speedup_vs_device_only",
    "share_of_cloud_only_pct", "seed", "device_energy_j", "energy_per_token_j", "soc_energy_j",
    "radio_energy_j", "radio_tail_j", "radio_promotion_s",
]
REQUIRED_COLUMNS = TEXT_COLUMNS + NUMERIC_COLUMNS + ["data_leaving_device"]
SWEEP_COLUMNS = ["sweep", "vary", "value", "model", "method", "network", "decode_tok_s"]

# One "group" = one comparison table: the same model, network, hardware and request shape.
GROUP_KEYS = ["model", "network", "device", "cloud", "prompt_tokens", "new_tokens"]


@dataclass
class ResultsDir:
    """Everything reports/ reads from one results directory."""

    path: Path
    results: pd.DataFrame
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)  # scenario_id -> resolved spec
    timelines: dict[str, dict[str, Any]] = field(default_factory=dict)  # scenario_id -> timeline json
    sweeps: pd.DataFrame | None = None
    multiuser: pd.DataFrame | None = None


def _parse_bool(value: Any, path: Path, row: int) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True  # empty = not recorded: treat as feasible
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "1.0"}:
        return True
    if text in {"false", "0", "no", "0.0"}:
        return False
    raise SplitbenchError(f"{path}: column 'feasible' row {row}: expected true/false, got {value!r}")


def _numeric(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    raw = df[column]
    out = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = out.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise SplitbenchError(f"{path}: column {column!r} row {i + 1}: not a number: {raw.iloc[i]!r}")
    return out


def read_results(path: Path, allow_empty: bool = False) -> pd.DataFrame:
    """Read results.csv with typed columns; SplitbenchError when missing or malformed, or when it
    has no rows unless ``allow_empty`` (a run of multi-user scenarios only: multiuser.csv has them)."""
    if not path.is_file():
        raise SplitbenchError(f"{path}: results.csv not found (run `splitbench run` first)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SplitbenchError(f"{path}: cannot parse results.csv: {reason}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise SplitbenchError(f"{path}: missing column(s): {', '.join(missing)}")
    if df.empty and not allow_empty:
        raise SplitbenchError(f"{path}: results.csv has no rows")
    for c in TEXT_COLUMNS:
        if df[c].isna().any():
            i = int(df[c].isna().to_numpy().nonzero()[0][0])
            raise SplitbenchError(f"{path}: column {c!r} row {i + 1} is empty")
        df[c] = df[c].astype(str)
    for c in NUMERIC_COLUMNS + [c for c in OPTIONAL_NUMERIC if c in df.columns]:
        df[c] = _numeric(df, c, path)
    for c in OPTIONAL_NUMERIC:
        if c not in df.columns:
            df[c] = float("nan")
    if "method_label" not in df.columns:
        df["method_label"] = df["method"]
    df["method_label"] = df["method_label"].fillna(df["method"]).astype(str)
    feasible = df["feasible"] if "feasible" in df.columns else pd.Series([True] * len(df))
    df["feasible"] = [_parse_bool(v, path, i + 1) for i, v in enumerate(feasible)]
    if "infeasible_reason" not in df.columns:
        df["infeasible_reason"] = ""
    df["infeasible_reason"] = df["infeasible_reason"].fillna("").astype(str)
    for col in TEXT_METRICS:  # the privacy columns are optional: results written before them lack them
        df[col] = df[col].fillna("").astype(str) if col in df.columns else ""
    if df["scenario_id"].duplicated().any():
        dup = df.loc[df["scenario_id"].duplicated(), "scenario_id"].iloc[0]
        raise SplitbenchError(f"{path}: duplicate scenario_id {dup!r}")
    return df.sort_values("scenario_id", kind="stable").reset_index(drop=True)


def _scenario_entries(doc: Any) -> list[tuple[str | None, dict[str, Any]]]:
    """Find scenario mappings in scenarios.yaml whatever the exact nesting the harness chose."""
    if isinstance(doc, dict) and "scenarios" in doc:
        return _scenario_entries(doc["scenarios"])
    if isinstance(doc, list):
        return [(None, s) for s in doc if isinstance(s, dict)]
    if isinstance(doc, dict):
        return [(str(k), v) for k, v in doc.items() if isinstance(v, dict)]
    return []


def read_scenarios(path: Path) -> dict[str, dict[str, Any]]:
    """scenario_id -> resolved scenario; {} when the file is absent (sources then show as unknown)."""
    if not path.is_file():
        return {}
    try:
        # libyaml's parser where PyYAML has it: the same documents, several times faster than PyYAML's
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise SplitbenchError(f"{path}: cannot parse YAML: {str(exc).splitlines()[0]}") from None
    out: dict[str, dict[str, Any]] = {}
    for key, spec in _scenario_entries(doc):
        sid = spec.get("scenario_id", spec.get("id", key))
        if sid is not None:
            out[str(sid)] = spec
    return out


def resolved_part(scenario: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The resolved spec of one part of a scenario (model, method, network, device, cloud).

    Tolerant of nesting: breadth-first search for the first mapping stored under ``kind`` (the
    harness keeps top-level names as strings and resolved specs under ``resolved:``), preferring one
    that carries a ``source`` anywhere inside it.
    """
    found: list[dict[str, Any]] = []
    queue: list[Any] = [scenario]
    while queue:
        obj = queue.pop(0)
        if isinstance(obj, dict):
            v = obj.get(kind)
            if isinstance(v, dict):
                found.append(v)
            queue.extend(x for k, x in obj.items() if isinstance(x, dict | list) and k != kind)
        elif isinstance(obj, list):
            queue.extend(obj)
    with_source = [d for d in found if "source" in json.dumps(d, default=str)]
    return (with_source or found or [None])[0]


def read_timelines(folder: Path) -> dict[str, dict[str, Any]]:
    """scenario_id -> timeline JSON for every timelines/*.json present (not the *.trace.json
    Chrome traces beside them)."""
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.json")):
        if f.name.endswith(".trace.json"):
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SplitbenchError(f"{f}: malformed timeline JSON: {exc.msg} (line {exc.lineno})") from None
        out[str(data.get("scenario_id", f.stem))] = data
    return out


def read_sweeps(path: Path) -> pd.DataFrame | None:
    """sweeps.csv with typed value/decode_tok_s columns, or None when the suite had no sweeps."""
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SplitbenchError(f"{path}: cannot parse sweeps.csv: {str(exc).splitlines()[0]}") from None
    missing = [c for c in SWEEP_COLUMNS if c not in df.columns]
    if missing:
        raise SplitbenchError(f"{path}: missing column(s): {', '.join(missing)}")
    for c in ["value", "decode_tok_s", "ttft_s", "tpot_s"]:
        if c in df.columns:
            df[c] = _numeric(df, c, path)
    for c in ["method_label", "device", "cloud"]:
        if c not in df.columns:
            df[c] = df["method"] if c == "method_label" else ""
        df[c] = df[c].fillna(df["method"] if c == "method_label" else "").astype(str)
    return df


def load(results_dir: Path) -> ResultsDir:
    """Read one results directory; only results.csv is mandatory."""
    results_dir = Path(results_dir)
    multiuser_path = results_dir / "multiuser.csv"
    multiuser = pd.read_csv(multiuser_path) if multiuser_path.is_file() else None
    return ResultsDir(
        path=results_dir,
        results=read_results(
            results_dir / "results.csv", allow_empty=multiuser is not None and not multiuser.empty
        ),
        scenarios=read_scenarios(results_dir / "scenarios.yaml"),
        timelines=read_timelines(results_dir / "timelines"),
        sweeps=read_sweeps(results_dir / "sweeps.csv"),
        multiuser=multiuser,
    )


def iter_groups(results: pd.DataFrame):
    """Yield (key dict, rows) per comparison group in a stable order, rows sorted by paradigm."""
    for key, rows in results.groupby(GROUP_KEYS, sort=True, dropna=False):
        rows = rows.assign(_rank=rows["method"].map(paradigm_rank))
        rows = rows.sort_values(["_rank", "method_label", "scenario_id"], kind="stable").drop(columns="_rank")
        yield dict(zip(GROUP_KEYS, key, strict=True)), rows
