"""Compute profiles: presets with sources, the step-time formula, resolution, host calibration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from splitbench import SplitbenchError
from splitbench.netsim import PROFILE_PRESETS, Profile, host_profile, profile_names, resolve_profile
from splitbench.netsim.tables import network_table, profile_table

ISSUE_NAMES = {
    "iphone13-pro-max",
    "iphone15-pro",
    "snapdragon-8gen2",
    "snapdragon-8gen3",
    "m1-max",
    "m2",
    "m2-pro",
    "m2-ultra",
    "m3",
    "jetson-orin-nano",
    "jetson-orin-nano-super",
    "jetson-orin-nx",
    "jetson-agx-orin",
    "rpi5",
    "i9-13900k",
    "rtx-3090",
    "rtx-4090",
    "a100-40g",
    "a100-80g",
    "h100-sxm",
    "h100-pcie",
    "host",
}


def test_presets_complete_and_sourced() -> None:
    assert ISSUE_NAMES <= set(profile_names())  # plus runtime variants, e.g. a100-80g-llamacpp
    for name in set(profile_names()) - {"host"}:
        p = PROFILE_PRESETS[name].validate()
        assert isinstance(p.source, dict)
        for f in ("mem_bw_gbps", "tflops", "mem_eff", "compute_eff", "kernel_overhead_us", "mem_gb"):
            assert p.source.get(f), f"{name}: no source for {f}"
        if p.measured_decode_tok_s:
            assert p.source.get("measured_decode_tok_s"), name
    # REFERENCE.md figures
    assert PROFILE_PRESETS["a100-80g"].measured_decode_tok_s["llama2-7b@16bit"] == 37.2
    assert PROFILE_PRESETS["iphone13-pro-max"].mem_bw_gbps == 42.7
    assert PROFILE_PRESETS["h100-sxm"].tflops["fp16"] == 989
    assert {r["name"] for r in profile_table()} == set(profile_names()) and len(network_table()) == 8


def test_step_time_is_roofline_plus_overhead() -> None:
    p = resolve_profile(
        {
            "name": "x",
            "mem_bw_gbps": 100,
            "tflops": {"fp16": 10},
            "mem_eff": 0.5,
            "compute_eff": 0.25,
            "kernel_overhead_us": 10,
            "mem_gb": 8,
        }
    )
    assert p.step_time(1e12, 1e9, 3) == pytest.approx(max(1e12 / 2.5e12, 1e9 / 50e9) + 30e-6)  # compute bound
    assert p.step_time(1e9, 1e10, 0) == pytest.approx(0.2)  # memory bound
    assert p.step_time(1e9, 0, 0, dtype="int8") == pytest.approx(1e9 / 2.5e12)  # unknown dtype -> fp16
    # elementwise traffic adds to a compute-bound step instead of hiding under the max()
    assert p.step_time(1e12, 1e9, 3, elementwise_bytes=5e8) == pytest.approx(0.4 + 5e8 / 50e9 + 30e-6)
    # and to a memory-bound one at the same bandwidth: bytes are bytes
    assert p.step_time(1e9, 1e10, 0, elementwise_bytes=1e9) == pytest.approx(0.2 + 0.02)
    # attention's activation products at half the GEMM rate: their share of the FLOPs takes twice as long
    half = dataclasses.replace(p, attention_eff=0.5)
    expected = 8e11 / 2.5e12 + 2 * 2e11 / 2.5e12
    assert half.step_time(1e12, 0, 0, attention_flops=2e11) == pytest.approx(expected)
    with pytest.raises(SplitbenchError, match="attention_eff"):
        resolve_profile({"base": "m2", "attention_eff": 0})
    with pytest.raises(SplitbenchError, match="forward_overhead_us"):
        resolve_profile({"base": "m2", "forward_overhead_us": -1})


def test_resolve_profile_forms_and_errors() -> None:
    base = resolve_profile({"base": "m2", "mem_eff": 0.5})
    assert base.mem_eff == 0.5 and base.mem_bw_gbps == 100 and base.source["mem_eff"] == "user override"
    for spec, field in [
        ("m5", "unknown preset"),
        ({"base": "m2", "bogus": 1}, "bogus"),
        ({"base": "m2", "mem_bw_gbps": 0}, "mem_bw_gbps"),
        ({"base": "m2", "mem_eff": 1.5}, "mem_eff"),
        ({"name": "x"}, "mem_bw_gbps"),
    ]:
        with pytest.raises(SplitbenchError, match=field):
            resolve_profile(spec)  # type: ignore[arg-type]


def test_host_profile_calibrates_once_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLITBENCH_CACHE", str(tmp_path))
    p = host_profile()
    cached = json.loads((tmp_path / "host.json").read_text())
    assert p.mem_bw_gbps == cached["mem_bw_gbps"] > 0.1 and p.tflops["fp32"] == cached["fp32_tflops"] > 1e-3
    # a message end costs at least a send or a receive system call, and far less than a second
    assert 1.0 < p.message_overhead_us == cached["message_overhead_us"] < 1e5
    assert (
        isinstance(resolve_profile("host"), Profile) and resolve_profile("host").mem_bw_gbps == p.mem_bw_gbps
    )


def test_dtype_tflops_shorthand_overrides_one_entry() -> None:
    from splitbench import SplitbenchError
    from splitbench.netsim import resolve_profile

    base = resolve_profile("m2")
    p = resolve_profile({"base": "m2", "fp16_tflops": 7.0, "mem_gb": 8})
    assert p.tflops["fp16"] == 7.0 and p.mem_gb == 8
    assert {k: v for k, v in p.tflops.items() if k != "fp16"} == {
        k: v for k, v in base.tflops.items() if k != "fp16"
    }
    for bad in ({"base": "m2", "fp99_tflops": 1.0}, {"base": "m2", "fp16_tflops": -1}):
        with pytest.raises(SplitbenchError, match="tflops"):
            resolve_profile(bad)


def test_evictor_hooks_each_layer_and_the_norm_and_its_time_is_taken_out() -> None:
    """The cold probe: one eviction before each decoder layer and the final norm; the time the
    hooks took is reported apart (time_passes subtracts it), so a large eviction does not show up as
    a slower step."""
    import time

    from splitbench.models import resolve_model
    from splitbench.netsim.host import PROBE_MODEL, Evictor, build_eager, time_passes

    model, ids = build_eager(resolve_model({"base": "tiny", **PROBE_MODEL, "num_hidden_layers": 3}), 8)
    ev = Evictor(model, 64 * 2**20)
    calls = []
    orig = ev._linear
    ev._linear = lambda *a: (calls.append(1), orig(*a))[1]
    t = time.perf_counter()
    steps = time_passes(model, ids, 0, 4, ev)[1]
    wall = time.perf_counter() - t
    assert len(calls) == (1 + 4) * (3 + 1) + 2 * (3 + 1)  # decode steps + warm-up, and two prefills
    assert ev.spent == 0.0  # each step's share was taken
    assert sum(steps) < 0.5 * wall  # 64 MiB streamed 4 times per step is most of the wall time
    ev.remove()
    ev._linear = orig
    calls.clear()
    time_passes(model, ids, 0, 1)
    assert not calls
