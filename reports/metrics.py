"""Metric definitions, units, and paradigm names, colours and order: the one place reports/ takes
them from (the paradigms' own from their declarations in models/paradigms/).

Why a single dictionary: the table headers, the CSV column names and the report's definitions
section are all generated from :data:`METRICS`, so a unit can never differ between what a table
shows and what the report says it means. Every table value is ``results.csv value × scale``; the
scale is the only unit conversion reports/ ever applies (documented per metric below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from splitbench.models.privacy import PRIVACY_COLUMNS
from splitbench.netsim.energy import ENERGY_COLUMNS


@dataclass(frozen=True)
class Metric:
    """One results.csv column as the report presents it."""

    column: str  # results.csv column
    header: str  # short table header (unit appended by :meth:`label`)
    unit: str  # unit in the table (after scaling); "" for dimensionless text
    definition: str
    scale: float = 1.0  # table value = results.csv value * scale
    csv_name: str = ""  # column name in tables/*.csv; defaults to ``column``

    @property
    def csv_column(self) -> str:
        return self.csv_name or self.column

    def label(self) -> str:
        """Header text with its unit, e.g. ``TTFT (ms)``."""
        return f"{self.header} ({self.unit})" if self.unit else self.header


_METRIC_LIST: list[Metric] = [
    Metric("decode_tok_s", "decode", "tok/s",
           "Decode throughput: 1 / tpot_s, output tokens per second after the first token."),
    Metric("ttft_s", "TTFT", "ms",
           "Time to first token: from the first prompt byte leaving the device to the first output "
           "token known on the device, excluding the connection handshake (results.csv: seconds).",
           scale=1000.0, csv_name="ttft_ms"),
    Metric("tpot_s", "TPOT", "ms",
           "Time per output token: mean time per output token after the first (results.csv: seconds).",
           scale=1000.0, csv_name="tpot_ms"),
    Metric("e2e_s", "end-to-end", "s",
           "End-to-end time of one request: ttft_s + (new_tokens - 1) · tpot_s."),
    Metric("speedup_vs_device_only", "speed-up vs device-only", "×",
           "decode_tok_s divided by the decode_tok_s of device-only with the same model, device, "
           "prompt and generation length (filled by the harness when that row exists)."),
    Metric("share_of_cloud_only_pct", "share of cloud-only", "%",
           "decode_tok_s as a percentage of cloud-only's decode_tok_s on the same model, network "
           "and cloud."),
    Metric("up_bytes_per_token", "up", "B/token",
           "Decode-phase application payload sent device → cloud per generated token (serialized "
           "tensors or token ids plus framing; no TCP/IP headers)."),
    Metric("down_bytes_per_token", "down", "B/token",
           "Decode-phase application payload sent cloud → device per generated token."),
    Metric("round_trips_per_token", "round trips", "per token",
           "Sequential device ↔ cloud exchanges one decode step waits on (each costs at least one "
           "RTT on a real link)."),
    Metric("comm_reduction_pct", "comm. reduction vs lora-split", "%",
           "1 - (up + down payload per token) / (that of lora-split with the same adapted "
           "projections and layers and the same embedding/LM-head placement), in percent; empty "
           "where no comparable lora-split exists (device-only, cloud-only, layer-split)."),
    Metric("data_leaving_device", "data leaving device", "",
           "What leaves the user's device: nothing, activations only, or tokens (raw text)."),
    Metric("prompt_recoverable_by_cloud", "prompt to cloud", "",
           "Whether the cloud can recover the prompt from what it receives: exact (token ids, or rows "
           "of the public embedding table, which a lookup in the same table turns back into ids), "
           "by-inversion (hidden states after device-side layers: needs an inversion attack), no."),
    Metric("output_recoverable_by_cloud", "output to cloud", "",
           "Whether the cloud can recover each output token: exact (it picks the token, or computes "
           "the final hidden state that the public LM head turns into the token's logits), "
           "by-inversion, no."),
    Metric("private_weights_leave_device", "private weights leave", "",
           "yes when the personalised weights must be held by the cloud (cloud-only); no when they "
           "stay on the device (PrivateLoRA's M, LoRA's A/B, SPA's side network, device layers)."),
]

# Metrics defined in the report but not shown in the per-network tables.
_EXTRA_DEFINITIONS: list[Metric] = [
    Metric("prefill_tok_s", "prefill", "tok/s", "Prompt processing rate: prompt_tokens / ttft_s."),
    Metric("handshake_s", "handshake", "s",
           "Connection set-up (TCP handshake) before the first prompt byte; reported apart from TTFT."),
    Metric("up_bytes", "up (request)", "B", "Application payload device → cloud for the whole request."),
    Metric("down_bytes", "down (request)", "B", "Application payload cloud → device for the whole request."),
    Metric("up_wire_bytes", "up on the wire", "B",
           "Bytes device → cloud on the wire: payload + TCP/IP headers + retransmissions."),
    Metric("down_wire_bytes", "down on the wire", "B",
           "Bytes cloud → device on the wire: payload + TCP/IP headers + retransmissions."),
    Metric("token_latency_p50_ms", "p50 token latency", "ms",
           "Median of the per-token latencies in timelines/<scenario_id>.json after the first token "
           "(time between consecutive output tokens; the first token's latency is the TTFT)."),
    Metric("token_latency_p99_ms", "p99 token latency", "ms",
           "99th percentile of the per-token latencies (linear interpolation between order statistics)."),
    Metric("device_energy_j", "device energy", "J",
           "Energy the device spends on one request: soc_energy_j + radio_energy_j (the radio's tail "
           "after the last byte included; screen excluded)."),
    Metric("energy_per_token_j", "energy per token", "J/token", "device_energy_j / new_tokens."),
    Metric("soc_energy_j", "SoC energy", "J",
           "SoC power of the device preset while computing the prefill and the decode steps, and "
           "while awake waiting for the network, from the radio's promotion to the last token."),
    Metric("radio_energy_j", "radio energy", "J",
           "The radio's RRC/power-save state machine over the request's transfers: promotion from "
           "idle, β·time + α_up·Mbit up + α_down·Mbit down while transferring, the inactivity/DRX "
           "tail between transfers and after the last one; idle paging is not charged."),
    Metric("radio_tail_j", "radio tail", "J",
           "Part of radio_energy_j after the request's last byte, until the radio has returned to idle."),
    Metric("radio_promotion_s", "radio promotion", "s",
           "Promotion delay of the radio from idle (before the handshake, outside TTFT like it); "
           "mid-request promotions after a gap longer than the tail are counted but do not shift "
           "the timeline."),
    Metric("break_even", "break-even", "ms or Mbit/s",
           "In a sweep of RTT (or uplink rate), the value at which a split paradigm's decode_tok_s "
           "crosses device-only's decode_tok_s at the same sweep point; found by linear interpolation "
           "between neighbouring sweep points."),
]

METRICS: dict[str, Metric] = {m.column: m for m in _METRIC_LIST}
ALL_DEFINITIONS: dict[str, Metric] = {m.column: m for m in _METRIC_LIST + _EXTRA_DEFINITIONS}
TABLE_METRICS: list[str] = [m.column for m in _METRIC_LIST]
#: Columns whose values are words, not numbers (shown as they are).
TEXT_METRICS: tuple[str, ...] = ("data_leaving_device", *PRIVACY_COLUMNS)

# ----- results.csv and sweeps.csv: every column, in file order (harness/results.py writes them)
#: What identifies a scenario: its presets, request shape, wire dtype and seed.
ID_COLUMNS = [
    "scenario_id", "model", "method", "method_label", "network", "device", "cloud", "prompt_tokens",
    "new_tokens", "act_dtype", "seed",
]
#: The simulation's figures (netsim's Timeline.metrics).
METRIC_COLUMNS = [
    "ttft_s", "tpot_s", "prefill_tok_s", "decode_tok_s", "e2e_s", "handshake_s", "up_bytes", "down_bytes",
    "up_wire_bytes", "down_wire_bytes", "up_bytes_per_token", "down_bytes_per_token", "messages",
    "device_busy_s", "cloud_busy_s", *ENERGY_COLUMNS,
]
#: From the traces alone (the method, not the network).
TRACE_COLUMNS = ["round_trips_per_token", "comm_reduction_pct", *TEXT_METRICS]
#: Across rows of one comparison group.
DERIVED_COLUMNS = ["speedup_vs_device_only", "share_of_cloud_only_pct"]
RESULT_COLUMNS = [
    *ID_COLUMNS, "feasible", "infeasible_reason", *METRIC_COLUMNS, *TRACE_COLUMNS, *DERIVED_COLUMNS,
]
SWEEP_COLUMNS = [
    "sweep", "vary", "value", "model", "method", "method_label", "network", "device", "cloud",
    "prompt_tokens", "new_tokens", "feasible", "decode_tok_s", "ttft_s", "tpot_s", "up_bytes_per_token",
    "down_bytes_per_token", "scenario_id",
]
#: Throughput metrics (higher is better) and latency metrics (lower is better), for compare.
THROUGHPUT_METRICS = ["prefill_tok_s", "decode_tok_s"]
LATENCY_METRICS = ["ttft_s", "tpot_s", "e2e_s"]

# ----- paradigms: name, order and colour (the same in every plot), from each paradigm's declaration
#: The paradigms every split one is compared with (speed-up and share columns; drawn as references).
REFERENCE_PARADIGMS: tuple[str, str] = ("device-only", "cloud-only")
_FALLBACK_COLORS = ["#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


def paradigm_declarations() -> dict[str, Any]:
    """Name -> paradigm class (models.paradigms), in display order."""
    from splitbench.models.paradigms import paradigms

    return paradigms()


SWEEP_AXES: dict[str, tuple[str, str]] = {
    # vary -> (axis label with unit, unit for sentences)
    "rtt_ms": ("round-trip time (ms)", "ms"),
    "up_mbps": ("uplink bandwidth (Mbit/s)", "Mbit/s"),
}


def paradigm_color(method: str) -> str:
    """Fixed colour of a paradigm; unknown paradigms get a stable colour derived from the name."""
    known = paradigm_declarations()
    if method in known:
        return known[method].color
    return _FALLBACK_COLORS[sum(method.encode()) % len(_FALLBACK_COLORS)]


def paradigm_rank(method: str) -> int:
    """Sort key: the paradigms' display order, unknown ones last."""
    order = list(paradigm_declarations())
    return order.index(method) if method in order else len(order)


def display_name(method: str, method_label: str) -> str:
    """Readable paradigm name for sentences: 'privatelora r=128' -> 'PrivateLoRA r=128'; a name
    ending in a parenthesis takes the parameters inside it: 'LoRA on the device (lora-split r=16)'."""
    known = paradigm_declarations()
    name = known[method].label if method in known else method
    if method_label and method_label != method:
        rest = method_label[len(method):].strip() if method_label.startswith(method) else method_label
        if name.endswith(")") and rest:
            return f"{name[:-1]} {rest})"
        return f"{name} {rest}".strip()
    return name


def fmt_number(value: float | None) -> str:
    """Human formatting used in every markdown/HTML table and sentence.

    Whole numbers (and anything from 1000 up) with thousands separators, otherwise three
    significant digits without trailing zeros; "—" for not applicable. Tables keep the full value
    in their CSV; this is presentation only.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if v == round(v) or abs(v) >= 999.5:
        return f"{v:,.0f}"
    return f"{v:.3g}"
