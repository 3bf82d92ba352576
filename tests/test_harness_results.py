"""results.csv rows: deterministic formatting, trace-derived columns, cross-row columns, labels, ids."""

from __future__ import annotations

import math

from splitbench.harness.resolve import canonical_hash, spec_label
from splitbench.harness.results import (
    RESULT_COLUMNS,
    add_derived,
    decode_payload_per_token,
    fmt,
    results_csv,
    round_trips_per_token,
    trace_columns,
)
from splitbench.models.methods import method_label, resolve_method
from splitbench.models.trace import Compute, ExecutionTrace, PhaseTrace, Transfer
from splitbench.reports.metrics import TABLE_METRICS

CONTRACT_COLUMNS = (
    "scenario_id, model, method, network, device, cloud, prompt_tokens, new_tokens, ttft_s, tpot_s, "
    "prefill_tok_s, decode_tok_s, e2e_s, up_bytes, down_bytes, up_bytes_per_token, down_bytes_per_token, "
    "round_trips_per_token, comm_reduction_pct, data_leaving_device, prompt_recoverable_by_cloud, "
    "output_recoverable_by_cloud, private_weights_leave_device, up_wire_bytes, down_wire_bytes, "
    "handshake_s, "
    "feasible, infeasible_reason, method_label, speedup_vs_device_only, share_of_cloud_only_pct, seed"
).split(", ")


def test_every_contract_column_is_present() -> None:
    assert set(CONTRACT_COLUMNS) <= set(RESULT_COLUMNS)
    assert set(TABLE_METRICS) <= set(RESULT_COLUMNS)  # the report defines only columns the harness writes
    assert len(RESULT_COLUMNS) == len(set(RESULT_COLUMNS))


def test_fmt_is_deterministic_and_empty_for_not_applicable() -> None:
    assert fmt(None) == "" and fmt(float("nan")) == "" and fmt(math.inf) == ""
    assert fmt(True) == "true" and fmt(False) == "false"
    assert fmt(262804.0) == "262804" and fmt(3) == "3"
    assert fmt(0.1 + 0.2) == "0.3"  # 7 significant digits hide last-bit noise
    assert fmt(1 / 3) == "0.3333333"
    assert fmt(2.5e-5) == "2.5e-05"


def _phase(n_layers: int, payload_down: int, payload_up: int) -> PhaseTrace:
    """A decode step with one down/up exchange per layer: n_layers sequential round trips."""
    steps: list = []
    prev: tuple[int, ...] = ()
    i = 0
    for _ in range(n_layers):
        steps.append(Compute(i, "cloud", 1e6, 1e6, 0, 0, 1, "cloud layer", prev))
        steps.append(Transfer(i + 1, "down", payload_down, "act down", (i,)))
        steps.append(Compute(i + 2, "device", 1e3, 1e3, 0, 0, 1, "device adapter", (i + 1,)))
        steps.append(Transfer(i + 3, "up", payload_up, "delta up", (i + 2,)))
        prev = (i + 3,)
        i += 4
    return PhaseTrace("decode", 1, 16, tuple(steps))


def _trace(
    decode: dict[str, PhaseTrace], gate_rate: float | None = None, leaving: str = "activations"
) -> ExecutionTrace:
    return ExecutionTrace(
        model="m",
        method="x",
        method_params={},
        act_dtype="fp16",
        prompt_tokens=16,
        prefill=PhaseTrace("prefill", 16, 0, ()),
        decode=decode,
        variant_weights=(("default", 1.0),)
        if gate_rate is None
        else (("gate_open", gate_rate), ("gate_closed", 1 - gate_rate)),
        data_leaving_device=leaving,
    )


def test_trace_columns_hand_formula() -> None:
    # PrivateLoRA-like: 6·r values per layer (r=128, fp16) vs lora-split 4·d (d=4096, fp16), 2 layers.
    r, d, layers = 128, 4096, 2
    plora = _trace({"default": _phase(layers, 3 * r * 2, 3 * r * 2)})
    lora = _trace({"default": _phase(layers, d * 2, 3 * d * 2)})
    cols = trace_columns(plora, lora)
    assert cols["round_trips_per_token"] == layers
    assert cols["data_leaving_device"] == "activations"
    assert math.isclose(cols["comm_reduction_pct"], 100 * (1 - (6 * r) / (4 * d)))
    assert trace_columns(plora, None)["comm_reduction_pct"] is None


def test_gated_variants_are_weighted_by_gate_rate() -> None:
    t = _trace(
        {"gate_open": _phase(3, 100, 10), "gate_closed": _phase(1, 2, 0)}, gate_rate=0.25, leaving="tokens"
    )
    assert math.isclose(round_trips_per_token(t), 0.25 * 3 + 0.75 * 1)
    assert math.isclose(decode_payload_per_token(t), 0.25 * 330 + 0.75 * 2)


def _row(sid: str, method: str, tps: float | None, network: str = "5g", feasible: bool = True) -> dict:
    return {
        "scenario_id": sid,
        "model": "m",
        "method": method,
        "network": network,
        "device": "d",
        "cloud": "c",
        "prompt_tokens": 8,
        "new_tokens": 4,
        "act_dtype": "fp16",
        "decode_tok_s": tps,
        "feasible": feasible,
    }


def test_speedup_and_share_use_the_fastest_baseline_of_the_same_group() -> None:
    rows = add_derived(
        [
            _row("a", "device-only", 4.0),
            _row("b", "device-only", 8.0),
            _row("c", "cloud-only", 40.0),
            _row("d", "privatelora", 20.0),
            _row("e", "privatelora", 20.0, network="4g"),
            _row("f", "device-only", None, feasible=False),
        ]
    )
    by = {r["scenario_id"]: r for r in rows}
    assert by["d"]["speedup_vs_device_only"] == 20.0 / 8.0
    assert by["d"]["share_of_cloud_only_pct"] == 50.0
    assert by["e"]["speedup_vs_device_only"] is None  # no device-only row on 4g
    assert by["f"]["speedup_vs_device_only"] is None


def test_results_csv_is_sorted_and_stable() -> None:
    rows = [_row("b", "privatelora", 1.0), _row("a", "device-only", 2.0)]
    text = results_csv(rows)
    assert text == results_csv(list(reversed(rows)))
    lines = text.splitlines()
    assert lines[0].split(",") == RESULT_COLUMNS
    assert [ln.split(",")[0] for ln in lines[1:]] == ["a", "b"]


def test_labels() -> None:
    assert spec_label("5g") == "5g"
    assert spec_label({"base": "5g", "rtt_ms": 10}) == "5g[rtt_ms=10]"
    assert spec_label({"base": "5g", "rtt_ms": 10.0, "loss": 0.01}) == "5g[loss=0.01,rtt_ms=10]"
    assert spec_label({"name": "my-phone", "mem_bw_gbps": 50}) == "my-phone"
    assert spec_label({"up_mbps": 1, "down_mbps": 2, "rtt_ms": 3}).startswith("custom-")
    m = resolve_method("privatelora")
    assert method_label(m) == "privatelora r=128"
    assert method_label({**m, "targets": ["q_proj", "v_proj"]}) == "privatelora r=128 targets=q_proj+v_proj"
    assert method_label({**m, "rank_c2d": 64}) == "privatelora r=128 r_c2d=64"
    assert method_label(resolve_method({"name": "spa", "gate": "classifier", "down_proj": "cloud"})) == (
        "spa gate=classifier@0.5 w=32 down_proj=cloud"
    )
    lora = resolve_method({"name": "lora-split", "layers": [3, 1]})
    assert method_label(lora) == "lora-split r=16 layers=1+3"
    assert method_label(resolve_method({"name": "device-only", "weight_bits": 4})) == "device-only w4bit"
    assert (
        method_label(
            {"name": "spa", "gate": "rate", "gate_rate": 0.5, "side_width": 32, "down_proj": "device"}
        )
        == "spa gate=0.5 w=32"
    )


def test_canonical_hash_ignores_key_order_and_tuple_vs_list() -> None:
    assert canonical_hash({"a": 1, "b": (1, 2)}) == canonical_hash({"b": [1, 2], "a": 1})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": 2})
