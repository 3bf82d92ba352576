"""Multi-user scenarios through the harness: schema, multiuser.csv, resume, N=1 == results.csv."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest

from splitbench import SplitbenchError
from splitbench.harness.multiuser import MULTIUSER_COLUMNS
from splitbench.harness.runner import run_suite
from splitbench.harness.suite import load_suite

SUITE = """
name: mu-test
defaults: {model: llama3.2-1b, method: cloud-only, network: 5g, device: iphone13-pro-max, cloud: a100-80g,
           prompt_tokens: 16, new_tokens: 8, max_batch: 2}
matrix:
  users: [1, 4]
  policy: [step, interleave]
scenarios:
  - {}
  - {users: 3, mix: {4g: 0.5, wifi6: 0.5}, arrival: {poisson: 5.0}, requests_per_user: 2}
"""


def _rows(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


def test_multiuser_rows_and_resume(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SUITE))
    s = run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "out", render_report=False)
    mu = _rows(tmp_path / "out" / "multiuser.csv")
    res = _rows(tmp_path / "out" / "results.csv")
    assert len(res) == 1 and len(mu) == 5 and s.n_run == 6
    assert list(mu[0]) == MULTIUSER_COLUMNS
    one = [r for r in mu if r["users"] == "1"]
    for r in one:  # one user alone is the single-user scenario
        assert float(r["ttft_p50_s"]) == pytest.approx(float(res[0]["ttft_s"]), rel=1e-6)
        assert float(r["tpot_p50_s"]) == pytest.approx(float(res[0]["tpot_s"]), rel=1e-6)
    mix = [r for r in mu if r["network"] == "4g:0.5+wifi6:0.5"]
    assert len(mix) == 1 and mix[0]["arrival"] == "poisson:5" and mix[0]["requests"] == "6"
    four = [r for r in mu if r["users"] == "4"]
    assert all(float(r["queue_delay_mean_s"]) > 0 for r in four)  # max_batch 2
    before = (tmp_path / "out" / "multiuser.csv").read_bytes()
    s2 = run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "out", render_report=False)
    assert s2.n_run == 0 and (tmp_path / "out" / "multiuser.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("  - {users: 0}\n", "users"),
        ("  - {users: 2, policy: fifo}\n", "policy"),
        ("  - {users: 2, arrival: {poisson: 0}}\n", "arrival"),
        ("  - {users: 2, mix: {nowhere: 1.0}}\n", "mix.nowhere"),
    ],
)
def test_bad_multiuser_fields_are_named(tmp_path: Path, extra: str, match: str) -> None:
    (tmp_path / "s.yaml").write_text(textwrap.dedent(SUITE) + extra)
    with pytest.raises(SplitbenchError, match=match):
        run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "out", render_report=False)
