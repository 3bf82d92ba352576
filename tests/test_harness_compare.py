"""splitbench compare: relative change per metric, regressions in the bad direction, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitbench import SplitbenchError
from splitbench.harness.cli import main
from splitbench.harness.compare import compare_files
from splitbench.harness.results import RESULT_COLUMNS, results_csv


def _rows(decode: float, ttft: float, feasible: bool = True) -> list[dict]:
    base = {c: "" for c in RESULT_COLUMNS}
    row = {
        **base,
        "scenario_id": "s1",
        "model": "m",
        "method": "privatelora",
        "network": "5g",
        "device": "d",
        "cloud": "c",
        "prompt_tokens": 8,
        "new_tokens": 4,
        "act_dtype": "fp16",
        "feasible": feasible,
    }
    if feasible:
        row.update(
            decode_tok_s=decode, prefill_tok_s=100.0, ttft_s=ttft, tpot_s=1 / decode, e2e_s=ttft + 3 / decode
        )
    other = {
        **row,
        "scenario_id": "s2",
        "decode_tok_s": 10.0,
        "prefill_tok_s": 50.0,
        "ttft_s": 0.2,
        "tpot_s": 0.1,
        "e2e_s": 0.5,
        "feasible": True,
    }
    return [row, other]


def _write(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    p = tmp_path / name
    p.write_text(results_csv(rows))
    return p


def test_identical_files_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path, "a.csv", _rows(10.0, 0.1))
    assert main(["compare", str(a), str(a)]) == 0
    out = capsys.readouterr().out
    assert "2 scenarios compared; 0 metric(s) regressed" in out


def test_throughput_drop_and_latency_rise_are_regressions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _write(tmp_path, "base.csv", _rows(10.0, 0.10))
    cur = _write(tmp_path, "cur.csv", _rows(9.0, 0.104))  # decode -10%, ttft +4%
    cmp = compare_files(base, cur)
    ch = {(c.scenario_id, c.metric): c for c in cmp.changes}
    assert ch["s1", "decode_tok_s"].change_pct == pytest.approx(-10.0)
    assert ch["s1", "decode_tok_s"].regression_pct == pytest.approx(10.0)
    assert ch["s1", "ttft_s"].regression_pct == pytest.approx(4.0)
    assert ch["s1", "tpot_s"].regression_pct == pytest.approx(100 * (1 / 9 - 1 / 10) / (1 / 10), rel=1e-5)
    assert ch["s2", "decode_tok_s"].regression_pct == 0.0
    assert main(["compare", str(base), str(cur), "--max-regression", "5"]) == 1
    assert "decode_tok_s" in capsys.readouterr().out
    assert main(["compare", str(base), str(cur), "--max-regression", "12"]) == 0
    # Improvements are never regressions.
    assert main(["compare", str(cur), str(base), "--max-regression", "0"]) == 0


def test_feasible_to_infeasible_is_a_regression(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.csv", _rows(10.0, 0.1))
    cur = _write(tmp_path, "cur.csv", _rows(10.0, 0.1, feasible=False))
    assert main(["compare", str(base), str(cur), "--max-regression", "50"]) == 1


def test_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, "a.csv", _rows(10.0, 0.1))
    bad = tmp_path / "bad.csv"
    bad.write_text("scenario_id,decode_tok_s\ns1,1\n")
    assert main(["compare", str(good), str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err
    assert main(["compare", str(good), str(bad)]) == 2
    assert "bad.csv: missing column" in capsys.readouterr().err
    with pytest.raises(SplitbenchError, match="not a number"):
        notnum = tmp_path / "nn.csv"
        notnum.write_text(good.read_text().replace("10,", "ten,", 1))
        compare_files(good, notnum)
