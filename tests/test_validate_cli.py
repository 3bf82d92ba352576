"""`splitbench validate`: per-phase rows, JSON output, and a non-zero exit when a case misses."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.validate import Case, validate


def test_link_cases_pass_with_per_phase_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--only", "link", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True
    phases = {c["phase"].split(" ")[0] for c in doc["cases"]}
    assert phases == {"completion", "handshake"}
    assert len(doc["cases"]) >= 36 and all(abs(c["error_pct"]) <= 10 for c in doc["cases"])
    assert all(c["kind"] == "link" for c in doc["cases"])


def test_tightened_target_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--only", "link", "--target", "link=0.01"]) == 1
    out = capsys.readouterr().out
    assert "NO" in out and "failed" in out.splitlines()[-1]


def test_bad_target_is_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--only", "link", "--target", "wire=3"]) == 2
    assert "--target" in capsys.readouterr().err


def test_device_cases_within_target() -> None:
    cases = validate(["device"])
    assert len(cases) == 4
    for c in cases:
        assert c.passed, (c.case, c.error_pct)
        assert c.reference in (73.8, 40.7, 18.3, 14.0)


def test_case_error_sign() -> None:
    c = Case("x", "c", "TTFT", 12.0, 10.0, "ms", 10.0, "s")
    assert c.error_pct == pytest.approx(20.0) and not c.passed
