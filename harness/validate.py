"""``splitbench validate``: the simulator against references, one row per case and phase.

Three kinds of reference, each with its own target (the largest |error| a case may show):

- ``compute`` (20%): netsim's prediction with the ``host`` profile against real forward passes of
  the same transformers Llama (random weights, fp32, CPU eager) timed on this machine — prefill of
  P tokens (TTFT) and one decode step with a KV cache (TPOT), for several model sizes;
- ``device`` (25%): device-only decode throughput predicted from the roofline of a preset device
  *without* its measured override, against the published measured figure (references/), on the
  runtime the figure was measured with (the profile's efficiencies are that runtime's);
- ``link`` (10%): netcheck against the recorded ns-3 cases (netsim/reference/ns3_results.json), the
  completion time (all rounds) and the handshake separately;
- ``energy`` (25%): the radio model's single packet from idle on the 2012 LTE preset against the
  energy Huang et al. (MobiSys 2012) give for it — promotion plus tail, from their Table 3 — and
  every published device energy-per-token measurement there is a device preset for;
- ``live`` (15%, only with ``--only live``: root, minutes): TTFT and TPOT of split models run for
  real through the link emulator (harness/live.py) against the simulator's prediction on the
  ``host`` profile, per paradigm and link.

Errors are per phase, never only end-to-end: a model that is right on average but wrong on both
prefill and decode would pass an end-to-end check and fail here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

KINDS = ("compute", "device", "link", "energy", "live")
#: What a plain ``validate`` runs: ``live`` needs root and minutes, so only ``--only live`` runs it.
DEFAULT_KINDS = ("compute", "device", "link", "energy")
DEFAULT_TARGETS = {"compute": 20.0, "device": 25.0, "link": 10.0, "energy": 25.0, "live": 15.0}

#: Compute cases: (name, transformers config overrides on the ``tiny`` preset). Few layers keep the
#: real passes fast; the widths span overhead-heavy (d=256) to bandwidth/compute-bound (d=2048).
#: The validated sizes start at d=256: below that, one-token F.linear leaves the regime the host
#: profile models (a bandwidth term plus a per-output-row cost, fitted at K=384..6144). Measured here
#: with 1 thread: 138 ns/row at K=256 and 198 at K=512 (the model: ~146 and ~193), but 61 ns/row at
#: K=128 and 7 ns/row at K=64, where the BLAS takes a different path and the weights sit in cache.
#: So `tiny` (d=64), a test fixture rather than a language model, is not a validation case.
COMPUTE_MODELS: list[tuple[str, dict[str, Any]]] = [
    ("llama d=256, 4 layers", {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
                               "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 8192}),
    ("llama d=512, 4 layers", {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 4,
                               "num_attention_heads": 8, "num_key_value_heads": 8, "vocab_size": 8192}),
    ("llama d=1024, 4 layers", {"hidden_size": 1024, "intermediate_size": 2752, "num_hidden_layers": 4,
                                "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 8192}),
    ("llama d=2048, 2 layers", {"hidden_size": 2048, "intermediate_size": 5504, "num_hidden_layers": 2,
                                "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 8192}),
]
PROMPT_TOKENS = 128

#: Device cases: published measured decode throughputs (REFERENCE.md) and the preset that models the
#: hardware on the runtime that measured it.
DEVICE_PROMPT_TOKENS = 128
DEVICE_NEW_TOKENS = 16  # short generations, as the published benchmarks use


@dataclass(frozen=True)
class Case:
    """One validated quantity: a prediction, its reference, and whether the error is within target."""

    kind: str
    case: str
    phase: str
    predicted: float
    reference: float
    unit: str
    target_pct: float
    source: str
    upper_bound: bool = False  # the reference bounds the prediction from above only

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.predicted - self.reference) / self.reference

    @property
    def passed(self) -> bool:
        if self.upper_bound:
            return self.error_pct <= self.target_pct
        return abs(self.error_pct) <= self.target_pct

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_pct": self.error_pct, "passed": self.passed}


# ------------------------------------------------------------------------------------- compute
#: Each case is measured in ROUNDS rounds of {calibrate the host profile, predict, time the real
#: passes}. Each round predicts its own passes from its own calibration, and the case reports the
#: round whose error is the median (ROUNDS is odd: a real round, not an average). Timings are best-of
#: (the calibration's microbenchmarks and each round's passes: netsim.host._best_time): other tenants
#: only ever add time. Why rounds are paired rather than pooled: this VM's speed swings by up to 50%
#: between rounds seconds apart (GEMMs at 60 GFLOP/s in one round, 90 in the next), and a median
#: calibration set against a median pass pairs a fast moment with a slow one; that alone gave errors
#: of -25% on cases the paired rounds put within 5%.
ROUNDS = 7
#: Timed passes per round (after one warm-up call): prefills, and decode steps of one generation.
PREFILL_REPS = 3
DECODE_STEPS = 8


def fp32_weights(trace: Any) -> Any:
    """The trace with weights counted at 4 bytes: the real passes hold fp32 weights, while models/
    stores unquantised weights as 16-bit (the serving assumption)."""
    from splitbench.models.trace import Compute

    def phase(p: Any) -> Any:
        steps = tuple(replace(s, weight_bytes=s.weight_bytes * 2) if isinstance(s, Compute) else s
                      for s in p.steps)
        return replace(p, steps=steps)

    return replace(trace, prefill=phase(trace.prefill), decode={k: phase(v) for k, v in trace.decode.items()})


def predict_host(preset: Any, prompt_tokens: int, decode_steps: int, host: Any) -> tuple[float, float]:
    """netsim's (TTFT, mean TPOT) for device-only fp32 on the host profile (nothing crosses a link)."""
    from splitbench.models import build_trace
    from splitbench.netsim import LinkSpec, simulate

    tr = fp32_weights(build_trace(preset, "device-only", prompt_tokens, mode="shape",
                                  compute_dtype=host.compute_dtype, kv_dtype=host.kv_dtype))
    link = LinkSpec(up_mbps=1000, down_mbps=1000, rtt_ms=0, transport="ideal", source="validate: unused")
    m = simulate(tr, link, host, host, new_tokens=decode_steps + 1).metrics()
    return m["ttft_s"], m["tpot_s"]


def compute_cases(target: float = DEFAULT_TARGETS["compute"]) -> list[Case]:
    import torch

    # One thread for the calibration and the timed passes alike: on a shared machine, several
    # multi-threaded processes oversubscribe the cores and slow every call by a varying factor.
    # Calibrated now, not from the cache: the machine's state then and now may differ.
    threads = torch.get_num_threads()
    torch.set_num_threads(COMPUTE_THREADS)
    try:
        return _compute_cases(target)
    finally:
        torch.set_num_threads(threads)


#: Seconds of microbenchmarks in each round's host calibration (the overhead probe comes on top).
CALIBRATION_BUDGET_S = 1.0

#: torch threads for the calibration and the timed passes alike (recorded in every row's source).
COMPUTE_THREADS = 1


Round = tuple[dict[str, float], tuple[float, ...], tuple[float, ...]]


def median_round(rounds: list[Round], phase: int) -> Round:
    """The round (calibration, predicted, measured) whose error in ``phase`` is the median one."""
    ranked = sorted(rounds, key=lambda r: r[1][phase] / r[2][phase])
    return ranked[len(ranked) // 2]


def _compute_cases(target: float) -> list[Case]:
    """Per case: ROUNDS paired rounds (see ROUNDS), then per phase the round with the median error. The
    profile comes only from the microbenchmarks and the overhead probe, never from the validated
    passes."""
    from splitbench.models import resolve_model
    from splitbench.netsim.host import build_eager, calibrate_host, host_from_measurement, time_passes

    where = f"this validate run, {COMPUTE_THREADS} torch thread(s)"
    out = []
    for name, over in COMPUTE_MODELS:
        preset = resolve_model({"base": "tiny", **over})
        model, ids = build_eager(preset, PROMPT_TOKENS)
        rounds: list[Round] = []
        for _ in range(ROUNDS):
            meas = calibrate_host(CALIBRATION_BUDGET_S)
            predicted = predict_host(preset, PROMPT_TOKENS, DECODE_STEPS, host_from_measurement(meas, where))
            pre, dec = time_passes(model, ids, PREFILL_REPS, DECODE_STEPS)
            rounds.append((meas, predicted, (min(pre), min(dec))))
        for i, phase in enumerate((f"TTFT (prefill {PROMPT_TOKENS})", "TPOT (decode step)")):
            meas, predicted, real = median_round(rounds, i)
            errors = sorted(100 * (r[1][i] / r[2][i] - 1) for r in rounds)
            src = (f"real fp32 forward passes on this machine (transformers eager, random weights, static "
                   f"KV cache), {COMPUTE_THREADS} torch thread(s); the median-error round of {ROUNDS}, "
                   f"each calibrated just before it times the fastest of {PREFILL_REPS} prefills / "
                   f"{DECODE_STEPS} decode steps; errors of all rounds: "
                   + ", ".join(f"{e:+.0f}%" for e in errors)
                   + f"; host: {meas['fp32_tflops'] * 1e3:.0f} GFLOP/s (attention "
                   f"x{meas['attention_eff']:.2f}), {meas['mem_bw_gbps']:.1f} GB/s + "
                   f"{meas['matvec_row_ns']:.0f} ns/row, {meas['kernel_overhead_us']:.1f} us/kernel + "
                   f"{meas['forward_overhead_us']:.0f} us/forward [M]")
            out.append(Case("compute", f"host: {name}", phase, predicted[i] * 1e3, real[i] * 1e3, "ms",
                            target, src))
    return out


# -------------------------------------------------------------------------------------- device
def device_cases(target: float = DEFAULT_TARGETS["device"]) -> list[Case]:
    """Every measured decode speed of every preset, predicted without it: calibrated on another of
    the same hardware's figures where it has one (a cross-check of the calibration: another model or
    weight width), else by the roofline at the preset's stated efficiency."""
    from splitbench.models import MODEL_PRESETS, build_trace
    from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, resolve_profile, simulate

    from .calibrate import calibrate_on, parse_key

    out = []
    cloud = resolve_profile("a100-80g")
    link = NETWORK_PRESETS["paper-5g"]
    for name in [n for n in PROFILE_PRESETS if n != "host"]:
        preset = PROFILE_PRESETS[name]
        figures = dict(preset.measured_decode_tok_s)
        src = preset.source.get("measured_decode_tok_s", "") if isinstance(preset.source, dict) else ""
        for key, tok_s in figures.items():
            model, nbits = parse_key(key)
            # calibrated on the nearest other figure: the same model at another width, else the model
            # closest in size
            size = MODEL_PRESETS[model].n_params
            others = sorted((k for k in figures if k != key),
                            key=lambda k: abs(MODEL_PRESETS[parse_key(k)[0]].n_params - size))
            prof = replace(preset, measured_decode_tok_s={})
            if others:
                prof = calibrate_on(prof, others[0], figures[others[0]])
                how = f"calibrated on {others[0]}"
            else:
                how = f"roofline, mem_eff {prof.mem_eff:g}, kernel {prof.kernel_overhead_us:g} us"
            tr = build_trace(model, {"name": "device-only", "weight_bits": nbits}, DEVICE_PROMPT_TOKENS,
                             compute_dtype=prof.compute_dtype, kv_dtype=prof.kv_dtype, kv_cache=prof.kv_cache)
            prof = replace(prof, usable_mem_frac=1.0, mem_gb=max(prof.mem_gb, 1e3))  # speed, not capacity
            m = simulate(tr, link, prof, cloud, new_tokens=DEVICE_NEW_TOKENS).metrics()
            out.append(Case("device", f"{name}: {key}", f"decode tok/s ({how})", m["decode_tok_s"], tok_s,
                            "tok/s", target, src))
    return out


# ---------------------------------------------------------------------------------------- link
def ns3_reference_path(name: str = "ns3_results.json") -> Path:
    return Path(__file__).resolve().parents[1] / "netsim" / "reference" / name


# The recorded ns-3 sets and the congestion control that replays each: NewReno as ns-3's
# TcpNewReno, and ns-3's default TCP (CUBIC with HyStart, SACK, PRR) as ns-3's CUBIC.
NS3_SETS = (("ns3_results.json", "newreno"), ("ns3_default_results.json", "cubic-ns3"))


def link_cases(target: float = DEFAULT_TARGETS["link"], path: Path | None = None) -> list[Case]:
    """netcheck against every recorded ns-3 case, with ns-3's own timer settings (delayed-ACK
    timeout 200 ms, minimum RTO 1 s), its receiver (no quick-ACK) and the case's buffer.

    One asymmetry: where ns-3's CUBIC run needed a retransmission timeout, the reference is an upper
    bound only. ns-3 has no RACK (RFC 8985), so a lost retransmission waits for its timer (1 s
    minimum) while the link idles; Linux, which the model follows, detects it from later deliveries.
    Such a case must not come out slower than ns-3 (beyond the target); it may come out faster."""
    sets = [(path, "newreno")] if path is not None else [(ns3_reference_path(n), cc) for n, cc in NS3_SETS]
    out = []
    for p, cc in sets:
        out += _ns3_cases(p, cc, target)
    return out


def _ns3_cases(path: Path, cc: str, target: float) -> list[Case]:
    from splitbench.netsim import LinkSpec, netcheck

    try:
        ref = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SplitbenchError(f"{path}: ns-3 reference file not found") from None
    except json.JSONDecodeError as e:
        raise SplitbenchError(f"{path}: malformed JSON: {e.msg} (line {e.lineno})") from None
    src = f"ns-3 {ref.get('ns3_version', '?')} {ref.get('tcp', 'TCP')}, {ref.get('queue', '')} [M]"
    tag = "ns-3 NewReno" if cc == "newreno" else "ns-3 default TCP"
    out = []
    for c in ref.get("cases", []):
        link = LinkSpec(up_mbps=c["up_mbps"], down_mbps=c["down_mbps"], rtt_ms=2 * c["one_way_ms"],
                        rwnd_bytes=c["rwnd_bytes"], mss_bytes=ref.get("mss_bytes", 1448),
                        queue_pkts=c.get("queue_pkts", 100), cc=cc, delack_ms=200.0, min_rto_ms=1000.0,
                        quickack=False, source="ns-3 reference case")
        r = netcheck(c["up_bytes"], c["down_bytes"], c["compute_ms"], c["rounds"], link)
        bound = cc != "newreno" and bool(c.get("up_rto_timeouts") or c.get("down_rto_timeouts"))
        phase = f"completion ({c['rounds']} rounds)" + (", ns-3 RTO: upper bound" if bound else "")
        out.append(Case("link", f"{tag}: {c['name']}", phase,
                        r["completion_s"] * 1e3, c["completion_s"] * 1e3, "ms", target, src, bound))
        out.append(Case("link", f"{tag}: {c['name']}", "handshake", r["handshake_s"] * 1e3,
                        c["handshake_s"] * 1e3, "ms", target, src))
    return out


# -------------------------------------------------------------------------------------- energy
#: Huang et al., MobiSys 2012, Table 3 (LTE, HTC ThunderBolt on AT&T): a packet sent from RRC_IDLE
#: pays the promotion (260.1 ms at 1210.7 mW) and the whole tail (11.576 s at 1060.0 mW).
HUANG_SINGLE_PACKET_J = 0.2601 * 1.2107 + 11.576 * 1.0600
#: Published device energy per token: (case, device preset, model, weight bits, J/token, source).
ENERGY_PER_TOKEN_CASES: list[tuple[str, str, str, int, float, str]] = [
    ("7B LLM on an iPhone, ~10 tok/s", "iphone13-pro-max", "llama2-7b", 4, 0.7,
     "0.7 J/token for a 7B model on an iPhone (mike.gold/notes/x-bookmarks/ai/"
     "llm-energy-consumption-analysis) [M, secondary; iPhone model not stated]"),
]


def energy_cases(target: float = DEFAULT_TARGETS["energy"]) -> list[Case]:
    from splitbench.models import build_trace
    from splitbench.netsim import NETWORK_PRESETS, netcheck, resolve_profile, simulate
    from splitbench.netsim.energy import device_busy_by_phase, soc_for_device
    from splitbench.netsim.radio import resolve_radio

    r = netcheck(100, 0, 0.0, 1, NETWORK_PRESETS["4g"], radio=resolve_radio("lte-2012"))
    out = [Case("energy", "lte-2012: one 100-byte packet from RRC_IDLE", "promotion + transfer + tail",
                r["radio_energy_j"], HUANG_SINGLE_PACKET_J, "J", target,
                "Huang et al. MobiSys 2012 Table 3: 260.1 ms x 1210.7 mW + 11.576 s x 1060.0 mW [M]")]
    cloud = resolve_profile("a100-80g")
    for name, device, model, bits, jpt, src in ENERGY_PER_TOKEN_CASES:
        prof = resolve_profile(device)
        tr = build_trace(model, {"name": "device-only", "weight_bits": bits}, DEVICE_PROMPT_TOKENS)
        tl = simulate(tr, NETWORK_PRESETS["4g"], prof, cloud, new_tokens=DEVICE_NEW_TOKENS)
        soc = soc_for_device(prof)
        assert soc is not None
        # steady decode, as the published figure is: the decode steps' SoC energy per token
        span = tl.token_times[-1] - tl.token_times[0]
        busy = device_busy_by_phase(tl)[1]
        jpt_pred = (soc.decode_w * busy + soc.wait_w * max(0.0, span - busy)) / (tl.new_tokens - 1)
        out.append(Case("energy", f"{device}: {name}", "decode energy per token", jpt_pred,
                        jpt, "J/token", target, src))
    return out


# ---------------------------------------------------------------------------------------- run
def _live_cases(target: float = DEFAULT_TARGETS["live"]) -> list[Case]:
    from .live import live_cases

    return live_cases(target)


RUNNERS: dict[str, Callable[..., list[Case]]] = {
    "compute": compute_cases, "device": device_cases, "link": link_cases, "energy": energy_cases,
    "live": _live_cases,
}


def validate(only: list[str] | None = None, targets: dict[str, float] | None = None) -> list[Case]:
    """Run the selected kinds (all by default) with their targets (DEFAULT_TARGETS unless given)."""
    kinds = only or list(DEFAULT_KINDS)
    for k in kinds:
        if k not in KINDS:
            raise SplitbenchError(f"--only: unknown kind {k!r} (known: {', '.join(KINDS)})")
    t = {**DEFAULT_TARGETS, **(targets or {})}
    out: list[Case] = []
    for k in kinds:
        out += RUNNERS[k](t[k])
    return out


def format_table(cases: list[Case]) -> str:
    """Plain-text table: case, phase, predicted, reference, error %, target, pass."""
    headers = ["case", "phase", "predicted", "reference", "error %", "target", "pass"]
    rows = [[c.case, c.phase, f"{c.predicted:.4g} {c.unit}", f"{c.reference:.4g} {c.unit}",
             f"{c.error_pct:+.1f}", f"±{c.target_pct:g}%", "yes" if c.passed else "NO"] for c in cases]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    failed = sum(not c.passed for c in cases)
    lines.append(f"{len(cases)} checks, {len(cases) - failed} passed, {failed} failed")
    return "\n".join(lines)
