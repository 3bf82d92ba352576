"""The built-in `paper` suites: they run, and the claims table matches independent closed forms."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from splitbench.harness.cli import main
from splitbench.harness.resolve import resolve_suite
from splitbench.harness.suite import load_suite
from splitbench.models import build_trace
from splitbench.netsim import NETWORK_PRESETS, measured_scale, resolve_profile, simulate

D7, L7, R = 4096, 32, 128


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("paper")
    methods = ("[cloud-only, {name: privatelora, rank: 128}, "
               "{name: lora-split, layers: lora-s, head_on_device: true}]")
    rc = main(["run", "paper", "--out", str(out), "-q", "--set", "new_tokens=8",
               "--set", "matrix.model=[llama2-7b, llama-30b]", "--set", f"matrix.method={methods}"])
    assert rc == 0
    return out


def _claims(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "tables" / "paper_claims.csv").open()))


def test_paper_claims_match_closed_forms(paper_run: Path) -> None:
    rows = {(r["claim"].split(" vs ")[1][:12], r["model"]): r for r in _claims(paper_run)}
    comm = rows[("LoRA on q,k,", "llama2-7b")]
    # whole decode step, fp16: PrivateLoRA 6r per layer + embedding up + hidden down; LoRA on q,k,v 4d
    # per layer + the same two d-wide tensors; framing bytes make the measured figure slightly lower
    closed = 100 * (1 - (L7 * 6 * R + 2 * D7) / (L7 * 4 * D7 + 2 * D7))
    assert float(comm["splitbench_value"]) == pytest.approx(closed, abs=0.15)
    assert comm["holds"] == ("yes" if float(comm["splitbench_value"]) > 95 else "no")
    assert f"{100 * (1 - 6 * R / (4 * D7)):.1f}" in comm["note"] or "95.2%" in comm["note"]
    loras = rows[("LoRA^S (q,k,", "llama2-7b")]
    # LoRA^S: two layers of x down (d) and three deltas up (3d), plus the same head traffic; bytes at
    # fp16 plus one 20-byte tensor header (models/codec.py: 8 + 4 per dim, 3 dims) per message
    pl_bytes = 2 * (L7 * 6 * R + 2 * D7) + 20 * 2 * (L7 + 1)
    loras_bytes = 2 * (2 * 4 * D7 + 2 * D7) + 20 * 2 * (2 + 1)
    assert float(loras["splitbench_value"]) == pytest.approx(100 * (1 - pl_bytes / loras_bytes), abs=0.01)
    results = {(r["model"], r["method"]): r for r in csv.DictReader((paper_run / "results.csv").open())}
    speed = rows[("device-only,", "llama2-7b")]
    ratio = float(results[("llama2-7b", "privatelora")]["decode_tok_s"]) / float(
        results[("llama2-7b", "device-only")]["decode_tok_s"])
    assert float(speed["splitbench_value"]) == pytest.approx(100 * ratio, rel=1e-6)
    assert speed["holds"] == ("yes" if ratio > 3 else "no")
    a100 = rows[("the A100's o", "llama-30b")]
    share = float(results[("llama-30b", "privatelora")]["decode_tok_s"]) / 16.7  # the paper's A100 input
    assert float(a100["splitbench_value"]) == pytest.approx(100 * share, rel=0.01)
    report = (paper_run / "report.md").read_text()
    assert "claims versus splitbench" in report and "| paper-5g |" in report


def test_measured_inputs_reproduced(paper_run: Path) -> None:
    res = {(r["model"], r["method"]): float(r["decode_tok_s"]) for r in csv.DictReader(
        (paper_run / "results.csv").open())}
    assert res[("llama2-7b", "cloud-only")] == pytest.approx(37.2, rel=0.01)
    assert res[("llama-30b", "cloud-only")] == pytest.approx(16.7, rel=0.01)
    assert res[("llama2-7b", "device-only")] == pytest.approx(8.1, rel=0.01)


def test_split_trace_uses_the_whole_model_scale() -> None:
    """The paper's 1/TPS_cloud_decoder: a split trace's backbone gets cloud-only's scale factor."""
    a100 = resolve_profile("a100-80g")
    whole = build_trace("llama2-7b", "cloud-only", 128)
    split = build_trace("llama2-7b", {"name": "privatelora", "rank": 128}, 128)
    assert measured_scale(split, a100, "cloud") == pytest.approx(measured_scale(whole, a100, "cloud"))
    tl = simulate(whole, NETWORK_PRESETS["paper-5g"], resolve_profile("iphone13-pro-max"), a100, 3)
    cloud_step = sum(e["end"] - e["start"] for e in tl.decode_step_events(0) if e["lane"] == "cloud")
    assert cloud_step == pytest.approx(1 / 37.2, rel=1e-3)


def test_paper_realistic_expands() -> None:
    scenarios, points = resolve_suite(load_suite("paper-realistic"))
    assert len(scenarios) == 48 and len(points) == 48
    nets = {s.labels["network"] for s in scenarios}
    assert nets == {"4g", "5g", "wifi6"}
    assert {p.sweep.vary for p in points} == {"rtt_ms", "up_mbps"}
    assert all(p.link.transport == "tcp" for p in points)
