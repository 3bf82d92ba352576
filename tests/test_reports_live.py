"""The live section of a report: measured and simulated values side by side, errors computed from them."""

from __future__ import annotations

import csv
from pathlib import Path

from splitbench.reports import render
from tests.reports_sample import write_sample


def _make_live(root: Path) -> Path:
    """The sample results as if measured live: a mode column and host-profile predictions 10% above the
    measured TTFT and 20% below the measured TPOT."""
    out = write_sample(root, sweeps=False, timelines=False)
    path = out / "results.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    cols = [*rows[0].keys(), "mode", "tokens_match_reference", "sim_host_ttft_s", "sim_host_tpot_s"]
    for r in rows:
        r["mode"] = "live"
        r["tokens_match_reference"] = "true"
        ok = r["ttft_s"] not in ("", None)
        r["sim_host_ttft_s"] = repr(1.1 * float(r["ttft_s"])) if ok else ""
        r["sim_host_tpot_s"] = repr(0.8 * float(r["tpot_s"])) if ok and r["tpot_s"] else ""
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    return out


def test_live_section_shows_both_values_and_the_error(tmp_path: Path) -> None:
    md = render(_make_live(tmp_path)).read_text()
    section = md.split("## Live and simulated", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert table, "one row per live scenario"
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[4] == "+10.0" and cells[7] == "-20.0", line
        assert cells[8] == "true"
    assert md.index("## Live and simulated") < md.index("## Tables")


def test_a_simulated_run_has_no_live_section(tmp_path: Path) -> None:
    md = render(write_sample(tmp_path, sweeps=False, timelines=False)).read_text()
    assert "Live and simulated" not in md
