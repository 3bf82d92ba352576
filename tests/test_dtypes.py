"""act_dtype is the wire only; compute and KV dtypes come from each side's profile (its runtime)."""

import pytest

from splitbench import SplitbenchError
from splitbench.harness import run_scenario
from splitbench.models import build_trace
from splitbench.netsim import resolve_profile

BASE = {"model": "llama2-7b", "network": "5g", "device": "snapdragon-8gen3", "cloud": "a100-80g",
        "prompt_tokens": 32, "new_tokens": 3}
TIMES = ("ttft_s", "tpot_s", "device_busy_s", "cloud_busy_s")


@pytest.mark.parametrize("method", ["cloud-only", {"name": "device-only", "weight_bits": 4}])
def test_unsplit_times_do_not_depend_on_act_dtype(method) -> None:
    rows = [run_scenario(**BASE, method=method, act_dtype=a) for a in ("fp16", "fp32", "int8")]
    for r in rows[1:]:
        assert {k: r[k] for k in TIMES} == {k: rows[0][k] for k in TIMES}
        assert (r["up_bytes"], r["down_bytes"]) == (rows[0]["up_bytes"], rows[0]["down_bytes"])


def test_act_dtype_changes_only_the_link_bytes_of_a_split() -> None:
    a = run_scenario(**BASE, method="privatelora", act_dtype="fp16")
    b = run_scenario(**BASE, method="privatelora", act_dtype="fp32")
    assert (a["device_busy_s"], a["cloud_busy_s"]) == (b["device_busy_s"], b["cloud_busy_s"])
    assert 1.9 < b["up_bytes_per_token"] / a["up_bytes_per_token"] < 2.0  # values x2, headers not
    assert b["tpot_s"] > a["tpot_s"]


def test_compute_and_kv_dtypes_are_profile_fields_with_runtime_defaults() -> None:
    a100 = resolve_profile("a100-80g")
    assert (a100.runtime, a100.compute_dtype, a100.kv_dtype) == ("hf-transformers", "fp16", "fp16")
    assert "hf-transformers" in a100.source["compute_dtype"]
    assert resolve_profile({"base": "a100-80g", "kv_dtype": "fp32"}).kv_dtype == "fp32"
    with pytest.raises(SplitbenchError, match="profile.compute_dtype"):
        resolve_profile({"base": "a100-80g", "compute_dtype": "int3"})
    long = {**BASE, "prompt_tokens": 512}  # a compute-bound prefill
    fast = run_scenario(**long, method="cloud-only")
    fp32_cloud = {"base": "a100-80g", "compute_dtype": "fp32"}
    slow = run_scenario(**{**long, "cloud": fp32_cloud}, method="cloud-only")
    assert slow["ttft_s"] > 3 * fast["ttft_s"]  # the prefill runs at the fp32 rate (19.5 vs 312 TFLOP/s)


def test_kv_dtype_sets_kv_bytes_per_side() -> None:
    t16 = build_trace("tiny", "layer-split", 8)
    t32 = build_trace("tiny", "layer-split", 8, kv_dtype={"device": "fp32", "cloud": "fp16"})
    kv16, kv32 = t16.meta["kv_bytes_per_token"], t32.meta["kv_bytes_per_token"]
    assert kv32["device"] == 2 * kv16["device"] and kv32["cloud"] == kv16["cloud"]
    steps = {s.label: s for s in t32.decode["default"].steps if s.kind == "compute"}
    ref = {s.label: s for s in t16.decode["default"].steps if s.kind == "compute"}
    for label, s in steps.items():
        assert s.kv_bytes_per_ctx == (2 if s.side == "device" else 1) * ref[label].kv_bytes_per_ctx
        assert s.activation_bytes == ref[label].activation_bytes  # compute dtype unchanged
