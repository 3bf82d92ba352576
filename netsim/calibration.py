"""Calibration: a measured decode speed fixes the hardware's memory efficiency, once, for everything.

A profile's ``measured_decode_tok_s`` says how fast its runtime decoded one model (``model@Nbit``).
Memory-bound decode takes (weight + KV + activation bytes) / (bandwidth · mem_eff) + elementwise
bytes / (bandwidth · mem_eff) + kernels · per-kernel cost (Profile.step_time); given the whole
model's totals (models: ``trace.meta["whole_decode"]`` of a device-only trace at the measured
bits), the one unknown, ``mem_eff``, follows from the measured step time. The calibrated profile
then runs every paradigm on that hardware at that efficiency — device-only, the device half of a
split, the cloud half, prefill and decode alike — and carries no measured figure any more, so
nothing downstream scales it a second time. ``calibration`` says which figure set it.

When even ``mem_eff`` = 1 is slower than the measurement (the runtime beats this profile's
per-kernel cost), ``mem_eff`` is 1 and ``kernel_overhead_us`` is the value that meets it; when the
bandwidth alone is slower, both stay at their limits and ``calibration`` says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .profiles import Profile


def whole_step_time(profile: Profile, totals: dict[str, Any], context: float) -> float:
    """Seconds of one decode step of the whole model (``totals``: models' whole_decode) at ``context``."""
    t = float(context)

    def lin(name: str) -> float:
        return float(totals.get(name, 0.0)) + float(totals.get(name + "_per_ctx", 0.0)) * t

    return float(
        profile.step_time(
            totals["flops"] + totals["flops_per_ctx"] * t,
            totals["bytes"] + totals["bytes_per_ctx"] * t,
            int(totals["kernels"]),
            profile.compute_dtype,
            elementwise_bytes=lin("elementwise_bytes"),
            attention_flops=lin("attention_flops"),
        )
    ) + profile.forward_overhead_us * 1e-6


def _solve(f: Any, target: float, lo: float, hi: float) -> float:
    """x in [lo, hi] with f(x) = target, f decreasing (bisection to 1e-9 relative)."""
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * hi:
            break
    return 0.5 * (lo + hi)


def calibrate(profile: Profile, totals: dict[str, Any], tok_s: float, context: float, figure: str) -> Profile:
    """``profile`` with the memory efficiency (and, if need be, per-kernel cost) that makes the whole
    model's decode step at ``context`` take 1 / ``tok_s``; ``figure`` names the measurement."""
    target = 1.0 / tok_s

    def at(eff: float, overhead: float | None = None) -> float:
        o = profile.kernel_overhead_us if overhead is None else overhead
        p = replace(profile, mem_eff=eff, kernel_overhead_us=o)
        return whole_step_time(p, totals, context)

    src = dict(profile.source) if isinstance(profile.source, dict) else {"profile": str(profile.source)}
    measured = src.pop("measured_decode_tok_s", "")
    eff, overhead = profile.mem_eff, profile.kernel_overhead_us
    if at(1.0) <= target:
        eff = _solve(at, target, 1e-4, 1.0)
        how = f"mem_eff {eff:.3f} (was {profile.mem_eff:g})"
        src["mem_eff"] = f"calibrated: {figure} ({measured or 'measured'}) [M]"
    elif at(1.0, 0.0) <= target:
        eff = 1.0
        # the per-kernel cost enters linearly: kernels x overhead
        overhead = (target - at(1.0, 0.0)) / (int(totals["kernels"]) * 1e-6)
        how = (f"mem_eff 1, kernel_overhead_us {overhead:.3g} (were {profile.mem_eff:g}, "
               f"{profile.kernel_overhead_us:g})")
        src["mem_eff"] = src["kernel_overhead_us"] = f"calibrated: {figure} ({measured or 'measured'}) [M]"
    else:
        eff, overhead = 1.0, 0.0
        how = "mem_eff 1, kernel_overhead_us 0: the measurement is faster than this profile's bandwidth bound"
        src["mem_eff"] = src["kernel_overhead_us"] = f"bound: {figure} ({measured or 'measured'}) [M]"
    note = f"{figure} at {context:g} tokens of context -> {how}"
    out = replace(profile, mem_eff=eff, kernel_overhead_us=overhead, measured_decode_tok_s={})
    out = replace(out, calibration=note, source=src)
    return out.validate()
