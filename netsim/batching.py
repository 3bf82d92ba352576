"""Building blocks of a shared, batching cloud: the batched roofline and the user mix.

Batched roofline. A cloud step that several users run at the same time on the same weights (the
same decoder layers, the same phase) is one launch: the weights stream from memory once, while
FLOPs and activation/KV traffic add up per user. So

    t(batch) = (max(sum flops / (peak * compute_eff), (W + sum other bytes) / (bw * mem_eff))
                + sum elementwise bytes / (bw * mem_eff) + kernels * kernel_overhead) * scale

(the FLOP term with attention's share at ``attention_eff``, exactly as Profile.step_time, which
computes it) where ``W`` is the step's weight bytes, "other bytes" each user's activations and KV cache at its
own context, and ``scale`` the measured-throughput factor of replay.measured_scale (the same runtime
inefficiency is assumed at every batch size). For a batch of one this is exactly the single-user
step time of replay.py. Decode is bandwidth bound at small batches, so a step of B users costs
barely more than a step of one: that is where batching's throughput comes from, and it saturates
where the sum of FLOPs or KV bytes catches up with the weight read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from splitbench import SplitbenchError

from .profiles import Profile


def batched_step_time(
    profile: Profile,
    flops: float,
    weight_bytes: float,
    other_bytes: float,
    kernels: int,
    dtype: str = "fp16",
    scale: float = 1.0,
    elementwise_bytes: float = 0.0,
    attention_flops: float = 0.0,
) -> float:
    """Time of one batched launch: ``flops`` (of which ``attention_flops``), ``other_bytes`` and
    ``elementwise_bytes`` summed over the batch, weights once (Profile.step_time with the totals)."""
    t = profile.step_time(flops, weight_bytes + other_bytes, kernels, dtype,
                          elementwise_bytes=elementwise_bytes, attention_flops=attention_flops)
    return float(t) * scale


def apportion(weights: Sequence[float], n: int) -> list[int]:
    """Split ``n`` users between classes by largest remainder (Hamilton); ties go to the earlier class.

    Deterministic and exact: the counts sum to ``n`` and each is floor or ceil of ``n * share``.
    """
    total = float(sum(weights))
    quotas = [n * w / total for w in weights]
    counts = [math.floor(q) for q in quotas]
    left = n - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def parse_mix(mix: Mapping[str, Any], field: str = "mix") -> list[tuple[str, float]]:
    """Validate a ``{name: share}`` mapping (shares > 0, any positive scale) in its given order."""
    if not isinstance(mix, Mapping) or not mix:
        raise SplitbenchError(f"{field}: must be a non-empty mapping of network -> share, got {mix!r}")
    out = []
    for name, w in mix.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w <= 0:
            raise SplitbenchError(f"{field}.{name}: share must be a positive number, got {w!r}")
        out.append((str(name), float(w)))
    return out
