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


MU_ONLY = """
name: mu-only
defaults: {model: tiny, network: 5g, device: iphone13-pro-max, cloud: a100-80g, prompt_tokens: 8,
           new_tokens: 4}
matrix:
  method: [cloud-only, privatelora]
  users: [1, 3]
"""


def test_multiuser_only_suite_renders_its_report(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(textwrap.dedent(MU_ONLY))
    run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "out")
    assert _rows(tmp_path / "out" / "results.csv") == []
    assert len(_rows(tmp_path / "out" / "multiuser.csv")) == 4
    md = (tmp_path / "out" / "report.md").read_text()
    assert "0 single-user and 4 multi-user scenarios" in md and "## Many users, one cloud" in md
    assert "## Tables" not in md  # no empty single-user sections
    assert "| device | iphone13-pro-max |" in md  # presets of the multi-user rows, with sources
    assert (tmp_path / "out" / "report.html").is_file()


def test_feasibility_counts_the_kv_caches_the_cloud_holds_at_once(tmp_path: Path) -> None:
    """The cloud holds min(users, max_batch) requests' KV caches: memory sized for two fits
    max_batch 2 and not max_batch 4 (closed form from the trace's own per-token KV bytes)."""
    from splitbench.models import build_trace

    tr = build_trace("tiny", "cloud-only", 8)
    kv_req = tr.meta["kv_bytes_per_token"]["cloud"] * (8 + 4)
    mem_gb = (tr.cloud_memory_bytes + 3 * kv_req) / 0.9 / 1e9  # room for 3 requests' KV
    suite = f"""
name: mu-kv
defaults: {{model: tiny, method: cloud-only, network: 5g, device: iphone13-pro-max, prompt_tokens: 8,
           new_tokens: 4, users: 4, cloud: {{base: a100-80g, mem_gb: {mem_gb!r}}}}}
matrix:
  max_batch: [2, 4]
scenarios:
  - {{users: 2, max_batch: 4}}
"""
    (tmp_path / "s.yaml").write_text(textwrap.dedent(suite))
    run_suite(load_suite(tmp_path / "s.yaml"), tmp_path / "out", render_report=False)
    rows = {(r["users"], r["max_batch"]): r for r in _rows(tmp_path / "out" / "multiuser.csv")}
    assert rows[("4", "2")]["feasible"] == "true" and rows[("2", "4")]["feasible"] == "true"
    assert rows[("4", "4")]["feasible"] == "false"
    assert "x 4 requests" in rows[("4", "4")]["infeasible_reason"]
