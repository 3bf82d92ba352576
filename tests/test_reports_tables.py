"""Every number in the report's tables traces back to results.csv (or sweeps.csv for break-evens)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from splitbench.reports.breakeven import break_evens, crossings
from splitbench.reports.load import load
from splitbench.reports.metrics import METRICS, TABLE_METRICS, TEXT_METRICS, fmt_number
from splitbench.reports.tables import build_tables
from tests import reports_sample
from tests.reports_sample import RTT_BREAK_EVEN_MS, UP_BREAK_EVEN_MBPS

rendered = reports_sample.rendered_sample  # session fixture: render once


def _same(a: object, b: object) -> bool:
    fa, fb = float(a), float(b)  # type: ignore[arg-type]
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return fa == pytest.approx(fb, rel=1e-9, abs=1e-12)


def test_every_table_number_traces_to_results_csv(rendered: Path) -> None:
    raw = pd.read_csv(rendered / "results.csv").set_index("scenario_id")
    group_csvs = [p for p in sorted((rendered / "tables").glob("*.csv"))
                  if p.stem not in ("break_even",) and not p.stem.startswith("token_latency")]
    assert {p.stem for p in group_csvs} == {"llama2-7b__4g", "llama2-7b__5g"}
    seen = set()
    for p in group_csvs:
        table = pd.read_csv(p)
        for rec in table.to_dict("records"):
            src = raw.loc[rec["scenario_id"]]
            seen.add(rec["scenario_id"])
            assert rec["method_label"] == src["method_label"]
            for col in TABLE_METRICS:
                m = METRICS[col]
                if col in TEXT_METRICS:
                    assert rec[m.csv_column] == src[col]
                else:
                    assert _same(rec[m.csv_column], float(src[col]) * m.scale), (p.name, col)
    assert seen == set(raw.index)  # one row per scenario, none invented or lost


def test_display_cells_are_formatted_csv_values(rendered: Path) -> None:
    data = load(rendered)
    md = (rendered / "report.md").read_text(encoding="utf-8")
    for t in build_tables(data.results):
        for rec, cells in zip(t.data.to_dict("records"), t.display_rows, strict=True):
            for j, col in enumerate(TABLE_METRICS, start=1):
                v = rec[METRICS[col].csv_column]
                assert cells[j] == (v if col in TEXT_METRICS else fmt_number(v))
            assert "| " + " | ".join(cells) + " |" in md
    # units are in the headers, from the one metric dictionary
    assert "TTFT (ms)" in md and "decode (tok/s)" in md and "up (B/token)" in md


def test_infeasible_row_shows_reason(rendered: Path) -> None:
    t = pd.read_csv(rendered / "tables" / "llama2-7b__4g.csv")
    row = t[t["paradigm"] == "layer-split"].iloc[0]
    assert row["status"] == "infeasible: device memory 9.1 GB > 8 GB"
    assert math.isnan(row["decode_tok_s"])


def test_break_even_matches_analytic_crossing(rendered: Path) -> None:
    be = pd.read_csv(rendered / "tables" / "break_even.csv")
    pl = be[be["paradigm"] == "privatelora"].set_index("vary")
    assert pl.loc["rtt_ms", "break_even"] == pytest.approx(RTT_BREAK_EVEN_MS, rel=1e-9)
    assert pl.loc["up_mbps", "break_even"] == pytest.approx(UP_BREAK_EVEN_MBPS, rel=1e-9)
    verdict = be.set_index(["paradigm", "vary"])["verdict"]
    assert verdict[("layer-split", "rtt_ms")].startswith("beats device-only everywhere in the sweep")
    assert verdict[("lora-split", "up_mbps")].startswith("never beats device-only")
    md = (rendered / "report.md").read_text(encoding="utf-8")
    assert (f"it needs RTT below {fmt_number(RTT_BREAK_EVEN_MS)} ms and uplink above "
            f"{fmt_number(UP_BREAK_EVEN_MBPS)} Mbit/s to beat device-only") in md


def test_break_even_direction_and_interpolation() -> None:
    import numpy as np

    x = np.array([0.0, 10.0, 20.0, 30.0])
    assert crossings(x, np.array([3.0, 1.0, -1.0, -3.0])) == [15.0]
    assert crossings(x, np.array([1.0, 0.0, 1.0, 2.0])) == [10.0]  # touching counts once
    assert crossings(x, np.array([1.0, 2.0, 3.0, 4.0])) == []
    sw = pd.DataFrame({
        "sweep": "s", "vary": "up_mbps", "model": "m", "network": "n", "device": "d", "cloud": "c",
        "method": ["device-only"] * 3 + ["privatelora"] * 3, "method_label": ["device-only"] * 3 + ["p"] * 3,
        "value": [1.0, 10.0, 100.0] * 2, "decode_tok_s": [5.0, 5.0, 5.0, 1.0, 4.0, 6.0],
    })
    (b,) = break_evens(sw)
    # 4 -> 6 between 10 and 100 crosses 5 at the midpoint; the uplink break-even is the last crossing
    assert b.value == pytest.approx(55.0)
    assert b.sentence() == "needs uplink above 55 Mbit/s to beat device-only"


def test_headline_wording(rendered: Path) -> None:
    md = (rendered / "report.md").read_text(encoding="utf-8")
    raw = pd.read_csv(rendered / "results.csv")
    r = raw[(raw["network"] == "5g") & (raw["method"] == "privatelora")].iloc[0]
    expected = (f"On 5g with llama2-7b, PrivateLoRA r=128 decodes {fmt_number(r['decode_tok_s'])} tok/s: "
                f"{fmt_number(r['speedup_vs_device_only'])}× device-only and "
                f"{fmt_number(r['share_of_cloud_only_pct'])}% of cloud-only, sending "
                f"{fmt_number(r['comm_reduction_pct'])}% fewer bytes than LoRA on the device")
    assert expected in md
    assert "layer-split k=8 is infeasible: device memory 9.1 GB > 8 GB" in md
