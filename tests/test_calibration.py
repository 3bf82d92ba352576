"""One calibration path: a measured speed sets the hardware's efficiency for every paradigm on it."""

from __future__ import annotations

import numpy as np
import pytest

from splitbench.harness import run_scenario
from splitbench.harness.single import resolve_one

PHONE = {"base": "iphone13-pro-max", "usable_mem_frac": 0.75}
BASE = {"model": "llama2-7b", "network": "paper-5g", "device": PHONE, "cloud": "a100-80g",
        "prompt_tokens": 128, "new_tokens": 2}
DO = {"name": "device-only", "weight_bits": 4}
PL = {"name": "privatelora", "rank": 128}


def test_device_half_and_device_only_read_weights_at_the_same_efficiency() -> None:
    do, pl = resolve_one({**BASE, "method": DO}), resolve_one({**BASE, "method": PL})
    assert do.device == pl.device  # one phone, one calibration
    assert do.device.calibration.startswith("llama2-7b@4bit 8.1 tok/s")
    assert do.device.measured_decode_tok_s == {}  # applied once: nothing left to scale again
    assert pl.cloud.calibration.startswith("llama2-7b@16bit 37.2 tok/s")
    assert "calibration" in pl.resolved_dict()["resolved"]["device"]  # scenarios.yaml shows it


def test_calibrated_device_only_reproduces_the_measurement() -> None:
    r = run_scenario(**BASE, method=DO)  # one decode step at 128 tokens of context
    assert r["decode_tok_s"] == pytest.approx(8.1, rel=1e-6)
    c = run_scenario(**BASE, method="cloud-only")  # + the cloud's argmax kernel that picks the token
    assert c["decode_tok_s"] == pytest.approx(37.2, rel=1e-3)


def test_split_halves_are_priced_by_the_calibrated_profiles_alone() -> None:
    """device_busy_s of PrivateLoRA (prefill and decode) = its device steps at the calibrated phone's
    roofline, no further factor: the same efficiency as device-only above."""
    from splitbench.harness.single import _trace

    sc = resolve_one({**BASE, "method": PL})
    tr = _trace(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype, sc.trace_runtime())[2]
    r = run_scenario(**BASE, method=PL)
    expect = 0.0
    for phase, ctx in ((tr.prefill, 0.0), (tr.decode["default"], 128.0)):
        for s in phase.steps:
            if s.kind == "compute" and s.side == "device":
                expect += float(np.asarray(sc.device.time_of(s, ctx)))
    assert r["device_busy_s"] == pytest.approx(expect, rel=1e-9)
