"""`splitbench validate`: per-phase rows, JSON output, and a non-zero exit when a case misses."""

from __future__ import annotations

import json

import pytest

from splitbench.harness.cli import main
from splitbench.harness.validate import Case, validate


def test_link_cases_pass_with_per_phase_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--only", "link", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True
    phases = {c["phase"].split(" ")[0] for c in doc["cases"]}
    assert phases == {"completion", "handshake"}
    assert len(doc["cases"]) >= 96 and all(c["passed"] for c in doc["cases"])
    assert all(abs(c["error_pct"]) <= 10 for c in doc["cases"] if "upper bound" not in c["phase"])
    assert all(c["kind"] == "link" for c in doc["cases"])


def test_tightened_target_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--only", "link", "--target", "link=0.01"]) == 1
    out = capsys.readouterr().out
    assert "NO" in out and "failed" in out.splitlines()[-1]


def test_bad_target_is_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--only", "link", "--target", "wire=3"]) == 2
    assert "--target" in capsys.readouterr().err


def test_device_cases_within_target() -> None:
    from splitbench.netsim import PROFILE_PRESETS

    cases = validate(["device"])
    figures = {(n, k): v for n in PROFILE_PRESETS if n != "host"
               for k, v in PROFILE_PRESETS[n].measured_decode_tok_s.items()}
    assert len(cases) == len(figures) >= 15  # every published figure of every preset
    for c in cases:
        assert c.passed, (c.case, c.error_pct)
    crossed = [c for c in cases if "calibrated on" in c.phase]
    assert len(crossed) >= 10  # most are predicted from another figure of the same hardware


def test_case_error_sign() -> None:
    c = Case("x", "c", "TTFT", 12.0, 10.0, "ms", 10.0, "s")
    assert c.error_pct == pytest.approx(20.0) and not c.passed


def test_fit_line_recovers_slope_and_intercept() -> None:
    from splitbench.netsim.host import fit_line

    xs = [54.0, 92.0, 168.0, 320.0]
    assert fit_line(xs, [5.7 * x + 240 for x in xs]) == pytest.approx((5.7, 240.0))
    with pytest.raises(Exception, match="two distinct"):
        fit_line([3.0, 3.0], [1.0, 2.0])


def test_median_round_pairs_each_calibration_with_its_own_passes() -> None:
    from splitbench.harness.validate import median_round

    # (calibration, (predicted TTFT, TPOT), (measured TTFT, TPOT)); errors TTFT -50%, +0%, +100%
    rounds = [({"r": 0.0}, (1.0, 9.0), (2.0, 10.0)), ({"r": 1.0}, (3.0, 10.0), (3.0, 5.0)),
              ({"r": 2.0}, (8.0, 4.0), (4.0, 4.0))]
    assert median_round(rounds, 0)[0] == {"r": 1.0}  # the round itself, not a mix of rounds
    assert median_round(rounds, 1)[0] == {"r": 2.0}  # TPOT errors -10%, +100%, 0%: median is 0%


def test_compute_case_runs_real_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One small compute case end to end, shortened (one round, two probe depths): real timed passes
    and a calibrated prediction per phase. The ±20% target is `splitbench validate`'s business on a
    quiet machine; here only a gross modelling error (a factor of 3) fails, which load cannot cause."""
    import splitbench.harness.validate as v
    import splitbench.netsim.host as host

    monkeypatch.setattr(v, "COMPUTE_MODELS", [("llama d=256, 1 layer", {
        "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 1, "num_attention_heads": 4,
        "num_key_value_heads": 4, "vocab_size": 1024})])
    monkeypatch.setattr(v, "ROUNDS", 1)
    monkeypatch.setattr(host, "PROBE_LAYERS", (1, 4))
    monkeypatch.setattr(v, "CALIBRATION_BUDGET_S", 0.2)
    cases = v.validate(["compute"])
    assert [c.phase for c in cases] == ["TTFT (prefill 128)", "TPOT (decode step)"]
    for c in cases:
        assert c.kind == "compute" and c.unit == "ms" and c.target_pct == 20.0
        assert 1 / 3 < c.predicted / c.reference < 3, (c.phase, c.predicted, c.reference)
        assert "us/kernel" in c.source and "us/forward" in c.source
