"""Benchmark: 100 users x 256 tokens each on one shared cloud (llama2-7b, 40% 4g / 40% 5g / 20% wifi6).

The issue's target is under 30 s on 2 cores. PrivateLoRA is the heavy case: ~1.7 M messages, each
timed by the per-user TCP model, and ~0.8 M layer launches on the cloud.
"""

from __future__ import annotations

import pytest

from splitbench.models import build_trace
from splitbench.netsim import UserClass, resolve_network, resolve_profile, simulate_multiuser

DEV = resolve_profile("iphone13-pro-max")
CLOUD = resolve_profile("a100-80g")
MIX = [UserClass(n, resolve_network(n), DEV, w) for n, w in (("4g", 0.4), ("5g", 0.4), ("wifi6", 0.2))]


@pytest.mark.parametrize("method", ["privatelora", "spa", "cloud-only"])
def test_bench_multiuser_100_users(benchmark, method: str) -> None:
    tr = build_trace("llama2-7b", method, 128)
    res = benchmark.pedantic(
        simulate_multiuser,
        args=(tr, MIX, CLOUD, 100, 256),
        kwargs={"max_batch": 64, "policy": "interleave"},
        rounds=1,
        iterations=1,
    )
    m = res.metrics()
    assert m["tokens"] == 100 * 256
    assert benchmark.stats.stats.max < 30.0
