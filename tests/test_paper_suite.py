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
    results = {(r["model"], r["method"]): r for r in csv.DictReader((paper_run / "results.csv").open())
               if not r["method_label"].startswith("W")}  # the waterfall's rows have a table of their own
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
        (paper_run / "results.csv").open()) if not r["method_label"].startswith("W")}
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
    assert len(scenarios) == 48 and len(points) == 3 * 8 + 3 * 8 + 3 * 5
    nets = {s.labels["network"] for s in scenarios}
    assert nets == {"4g", "5g", "wifi6"}
    assert {p.sweep.vary for p in points} == {"rtt_ms", "up_mbps", "loss"}
    assert all(p.link.transport == "tcp" for p in points)
    # the sweeps keep the presets' bottleneck buffer
    assert {p.link.queue_pkts for p in points} == {NETWORK_PRESETS["5g"].queue_pkts}


def test_waterfall_in_the_paper_report(paper_run: Path) -> None:
    wf = list(csv.DictReader((paper_run / "tables" / "paper_waterfall.csv").open()))
    steps = {m: sorted(int(r["step"]) for r in wf if r["model"] == m) for m in ("llama2-7b", "llama-30b")}
    assert steps == {"llama2-7b": list(range(8)), "llama-30b": list(range(8))}
    seven = {int(r["step"]): r for r in wf if r["model"] == "llama2-7b"}
    # each step adds a cost: the realistic phone, the head transfers, the A/B kernels, the RTT, TCP
    for k in (1, 2, 3, 4):
        assert float(seven[k]["decode_tok_s"]) < float(seven[k - 1]["decode_tok_s"]), k
    assert float(seven[0]["claim_value"]) == pytest.approx(float(seven[0]["decode_tok_s"]) / 8.1, rel=0.02)
    assert (paper_run / "plots" / "paper_waterfall.png").is_file()
    report = (paper_run / "report.md").read_text()
    assert "one realistic effect at a time" in report and "plots/paper_waterfall.png" in report
    claims = _claims(paper_run)
    assert any("waterfall: " in c["note"] for c in claims if c["model"] == "llama2-7b")
    assert any("waterfall: " in c["note"] for c in claims if c["model"] == "llama-30b")


def test_paper_accounting_reduces_to_the_papers_closed_form() -> None:
    """W0: per token, the cloud's decoder (+ A/B fused) at the A100's measured speed, plus the
    phone's work as bytes / 42.7 GB/s, plus each per-layer message's bits / link rate, in series."""
    import numpy as np

    from splitbench.harness import run_scenario
    from splitbench.harness.single import _trace, resolve_one

    w0 = {"model": "llama2-7b", "network": "paper-5g", "device": "paper-iphone13", "cloud": "a100-80g",
          "prompt_tokens": 128, "new_tokens": 2,
          "method": {"name": "privatelora", "rank": 128, "head_transfers": False, "fused_adapters": True}}
    sc = resolve_one(w0)
    tr = _trace(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype, sc.trace_runtime())[2]
    step = tr.decode["default"]
    assert [s.label for s in step.steps if s.kind == "transfer" and "L" not in s.label] == []  # layers only
    ctx = 128.0
    cloud = sum(float(np.asarray(sc.cloud.time_of(s, ctx))) for s in step.steps
                if s.kind == "compute" and s.side == "cloud")
    device = sum((s.weight_bytes + s.activation_bytes + s.kv_bytes + s.kv_bytes_per_ctx * ctx
                  + s.activation_bytes_per_ctx * ctx + s.elementwise_bytes_at(ctx)) / 42.7e9
                 for s in step.steps if s.kind == "compute" and s.side == "device")
    wire = sum(s.payload_bytes * 8 / ((60 if s.direction == "up" else 100) * 1e6)
               for s in step.steps if s.kind == "transfer")
    r = run_scenario(**w0)
    assert 1 / r["decode_tok_s"] == pytest.approx(cloud + device + wire, rel=1e-6)
    # the cloud's part is the A100's measured decoder (37.2 tok/s for the whole model: embedding and
    # LM head are on the phone here) plus the fused A/B reads
    assert 0.8 / 37.2 < cloud < 1.05 / 37.2
