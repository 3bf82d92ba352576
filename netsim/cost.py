"""The cost model of compute steps: each cost term declared once, the trace carries it, a profile
prices it, and a batched launch is priced by the same function as a single step.

A compute step's terms (models.trace.Compute, at a context of ``t`` cached tokens) are of two kinds:

- launch terms (LaunchTerms), paid once per launch however many users share it, because the batch
  runs the same weights: the weight bytes streamed, the kernels launched, the context-independent
  matrix-vector rows (the rows of the weight matrices, ``Compute.matvec_rows``), the compute dtype,
  and the side's per-forward framework cost (``Profile.forward_overhead_us``) when the step is the
  side's first compute step of its phase (one forward call, whatever the batch);
- user terms (USER_TERMS, user_terms()), one set per user at its own context, summed over a
  batched launch: FLOPs and their attention share, matmul-output (activation) bytes and KV bytes
  (under the roofline with the weights), elementwise bytes, the matrix-vector rows that grow
  with the context (attention over the user's own cache), and the messages this side handles at the
  step's ends (the one it received to start the step, the one it sends when done: serialising, the
  socket calls, waking for it; ``Profile.message_overhead_us`` each, never scaled).

A cost model prices (launch terms, summed user terms) in seconds. A single user's step is the batch
of one, so a batch of B users costs at least as much as any of its members alone (every user term
is non-negative and the price is non-decreasing in each) and exactly the single-user time at B = 1.

- RooflineCost: the profile's roofline (Profile.step_time) plus the per-forward cost.
- MeasuredCost: the roofline scaled so that the unsplit model's decode step takes 1/measured tok/s
  on this profile (``Profile.measured_decode_tok_s``, measured_scale()); the same runtime efficiency
  is assumed for the split's own extra work and at every batch size. It prices decode steps;
  prefill stays on the roofline (the measured figures are decode throughputs).

cost_model() picks the model of one side and phase kind; plans (engine.py) call ``price`` with
numpy arrays (all of a variant's decode instances at once) or with floats (a batched launch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from splitbench.models.trace import Compute, ExecutionTrace

from .profiles import Profile

KERNELS_PER_LAYER = 12  # [I] estimate: norms, q/k/v/o, attention, MLP, residual adds in one decoder layer

# the per-user terms, in the order user_terms() returns them and price() takes them
USER_TERMS = ("flops", "attention_flops", "activation_bytes", "kv_bytes", "elementwise_bytes", "matvec_rows",
              "messages")


@dataclass(frozen=True)
class LaunchTerms:
    """The terms of a compute step paid once per launch (module docstring)."""

    weight_bytes: float
    kernels: int
    matvec_rows: float
    dtype: str
    forward: bool  # the side's first compute step of the phase: pays the per-forward cost

    @classmethod
    def of(cls, step: Compute, forward: bool = False) -> LaunchTerms:
        return cls(float(step.weight_bytes), int(step.kernels), float(step.matvec_rows), step.dtype, forward)


def user_terms(step: Compute, context: Any, messages: int = 0) -> tuple[Any, ...]:
    """One user's terms of ``step`` at ``context`` cached tokens (a number or a numpy array), with
    ``messages`` handled at its ends (the plan knows them: engine.message_ends)."""
    return (
        step.flops_at(context),
        step.attention_flops_at(context),
        step.activation_bytes_at(context),
        step.kv_bytes_at(context),
        step.elementwise_bytes_at(context),
        step.matvec_rows_per_ctx * context,
        float(messages),
    )


def sum_terms(terms: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Per-user terms of a batch: summed term by term."""
    if len(terms) == 1:
        return terms[0]
    f = a = act = kv = e = r = m = 0.0
    for t in terms:
        f += t[0]
        a += t[1]
        act += t[2]
        kv += t[3]
        e += t[4]
        r += t[5]
        m += t[6]
    return f, a, act, kv, e, r, m


class RooflineCost:
    """The profile's roofline: Profile.step_time of the launch's weights plus the users' terms, the
    per-forward cost, times ``scale`` (1 here); then the messages."""

    name = "roofline"
    scale = 1.0

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.forward_s = profile.forward_overhead_us * 1e-6
        self.message_s = profile.message_overhead_us * 1e-6

    def price(
        self, launch: LaunchTerms, flops: Any, attn: Any, act: Any, kv: Any, elem: Any, rows: Any,
        msgs: Any = 0.0,
    ) -> Any:
        t = self.profile.step_time(
            flops,
            launch.weight_bytes + act + kv,
            launch.kernels,
            launch.dtype,
            launch.matvec_rows + rows,
            elem,
            attn,
        )
        t = t + (self.forward_s if launch.forward else 0.0)
        if self.scale != 1.0:
            t = t * self.scale
        return t + msgs * self.message_s


class MeasuredCost(RooflineCost):
    """The roofline scaled to the profile's measured decode throughput of this model (``scale``)."""

    name = "measured"

    def __init__(self, profile: Profile, scale: float) -> None:
        super().__init__(profile)
        self.scale = scale


def _weight_bits(trace: ExecutionTrace, side: str) -> int:
    if side == "device":
        return int(trace.meta.get("weight_bits", 16))
    return int(trace.meta.get("cloud_weight_bits", 16))


def measured_scale(trace: ExecutionTrace, profile: Profile, side: str) -> float:
    """Factor that makes a whole-model decode step on ``profile`` take 1/measured tok/s.

    The whole-model roofline comes from ``trace.meta["whole_decode"]`` (models/: the unsplit
    model's decode-step FLOPs, bytes and kernels, the same numbers its device-only / cloud-only
    trace replays), evaluated at the first decode step's context (prompt_tokens). So the
    cloud-only trace decodes at exactly the measured rate, and a split trace's backbone is
    scaled by the same factor — the paper's 1/TPS_cloud_decoder for the backbone, plus the
    split's own extra work at the same efficiency. Older traces without ``whole_decode`` fall
    back to an estimate from ``n_params``: FLOPs 2·n_params, bytes n_params·bits/8,
    KERNELS_PER_LAYER kernels per layer, no KV. 1.0 when the profile has no figure for this model.
    """
    m = profile.measured_decode_tok_s
    if not m:
        return 1.0
    bits = _weight_bits(trace, side)
    tok_s = m.get(f"{trace.model}@{bits}bit", m.get(trace.model))
    n_params = trace.meta.get("n_params")
    if tok_s is None or not n_params:
        return 1.0
    whole = trace.meta.get("whole_decode")
    if isinstance(whole, dict) and int(whole.get("weight_bits", -1)) == bits:
        t = float(trace.prompt_tokens)
        full = profile.step_time(
            whole["flops"] + whole["flops_per_ctx"] * t,
            whole["bytes"] + whole["bytes_per_ctx"] * t,
            int(whole["kernels"]),
            elementwise_bytes=whole.get("elementwise_bytes", 0.0)
            + whole.get("elementwise_bytes_per_ctx", 0.0) * t,
            attention_flops=whole.get("attention_flops", 0.0) + whole.get("attention_flops_per_ctx", 0.0) * t,
        ) + profile.forward_overhead_us * 1e-6
    else:
        full = profile.step_time(
            2.0 * n_params, n_params * bits / 8.0, int(trace.meta.get("n_layers", 0)) * KERNELS_PER_LAYER
        )
    return (1.0 / tok_s) / full


def cost_model(trace: ExecutionTrace, profile: Profile, side: str, phase: str) -> RooflineCost:
    """The cost model of ``side``'s steps in a ``phase`` ("prefill" or "decode") of ``trace``."""
    if phase == "decode":
        scale = measured_scale(trace, profile, side)
        if scale != 1.0:
            return MeasuredCost(profile, scale)
    return RooflineCost(profile)
