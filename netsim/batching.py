"""Building blocks of a multi-user population: the user mix and its apportionment.

(The batched launch's price is the cost model's, cost.py: weights once, per-user terms summed.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from splitbench import SplitbenchError


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
