"""The report's live section: measured and simulated values side by side.

A results directory written by ``splitbench live`` has a ``mode`` column (``live``) and, per row,
``sim_host_ttft_s`` / ``sim_host_tpot_s``: the simulator's prediction for the same scenario with this
machine's ``host`` profile on both sides, which is what the live run tests (the suite's device and
cloud profiles describe other hardware). Every other section of such a report shows the live
measurements.
"""

from __future__ import annotations

import pandas as pd

from splitbench.reports.document import Block, Heading, Para, ReportContext, TableBlock
from splitbench.reports.metrics import fmt_number

HEADERS = ["paradigm", "network", "TTFT live (ms)", "TTFT simulated (ms)", "TTFT error (%)", "TPOT live (ms)",
           "TPOT simulated (ms)", "TPOT error (%)", "tokens match reference"]


def _number(v: object) -> float:
    return float(pd.to_numeric(v, errors="coerce"))


def live_rows(res: pd.DataFrame) -> list[list[str]]:
    """One row per live scenario that ran: live and simulated TTFT and TPOT, and the simulator's error
    (simulated / live - 1)."""
    if "mode" not in res.columns:
        return []
    live = res[(res["mode"] == "live") & res["feasible"]]
    rows = []
    for _, r in live.sort_values(["network", "method", "method_label", "scenario_id"]).iterrows():
        cells = [r["method_label"], r["network"]]
        for phase in ("ttft_s", "tpot_s"):
            meas, sim = (_number(r.get(c)) for c in (phase, f"sim_host_{phase}"))
            err = 100 * (sim / meas - 1) if meas else float("nan")
            cells += [fmt_number(1e3 * meas), fmt_number(1e3 * sim), "—" if pd.isna(err) else f"{err:+.1f}"]
        cells.append(str(r.get("tokens_match_reference", "—")) or "—")
        rows.append(cells)
    return rows


def section_live(ctx: ReportContext) -> list[Block]:
    rows = live_rows(ctx.data.results)
    if not rows:
        return []
    return [
        Heading(2, "Live and simulated"),
        Para("These scenarios ran for real (`splitbench live`): a device program and a cloud program "
             "exchanging the real serialized tensors over TCP, through the link emulator configured from "
             "the scenario's network (or over a real network with `--cloud`). Every other section of this "
             "report shows these measurements. Next to them, the simulator's prediction for the same "
             "trace and link with this machine's `host` profile on both sides (`sim_host_ttft_s`, "
             "`sim_host_tpot_s`); error = simulated / live − 1."),
        TableBlock(HEADERS, rows, "`results.csv`"),
    ]
