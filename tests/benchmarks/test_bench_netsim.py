"""netsim benchmarks: replay speed against bare simpy, and the 1,000-token PrivateLoRA decode.

Run with ``make bench`` (they are skipped in ``make test``)."""

from __future__ import annotations

import time

import simpy

from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, ComputeNode, Session, simulate
from tests.netsim_helpers import privatelora_like

DEV, CLOUD = PROFILE_PRESETS["iphone13-pro-max"], PROFILE_PRESETS["a100-80g"]


class CountingEnvironment(simpy.Environment):
    """Counts processed events, so the replay's event rate can be compared with a bare loop."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def step(self) -> None:
        self.events += 1
        super().step()


def _replay(tokens: int, network: str) -> tuple[int, float]:
    env = CountingEnvironment()
    tr = privatelora_like()
    s = Session(
        env,
        tr,
        NETWORK_PRESETS[network],
        ComputeNode(env, DEV, "device"),
        ComputeNode(env, CLOUD, "cloud"),
        tokens,
    )
    env.process(s.run())
    t = time.perf_counter()
    env.run()
    return env.events, time.perf_counter() - t


def _bare(n: int) -> float:
    env = CountingEnvironment()

    def loop():
        for _ in range(n):
            yield env.timeout(1e-3)

    env.process(loop())
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def test_des_event_rate_vs_bare_simpy(benchmark) -> None:
    """Replay of a 300-token PrivateLoRA decode over 5G (TCP) vs a bare loop of as many timeouts.

    Each round times both back to back; the best ratio over the rounds is kept, because other
    processes on a shared machine slow individual runs, not the code.
    """
    ratios: list[float] = []
    events: list[int] = []

    def run() -> None:
        n, t_sim = _replay(300, "5g")
        ratios.append(_bare(n) / t_sim)  # (n / t_sim) / (n / t_bare)
        events.append(n)

    benchmark.pedantic(run, rounds=5, iterations=1)
    best = max(ratios)
    benchmark.extra_info.update({"events": events[0], "ratio_vs_bare_simpy": best})
    assert best >= 0.30, f"replay runs at {best:.0%} of a bare simpy loop's event rate (target 30%)"


def test_privatelora_1000_token_decode_under_2s(benchmark) -> None:
    tr = privatelora_like()

    def run():
        return simulate(tr, NETWORK_PRESETS["5g"], DEV, CLOUD, new_tokens=1000)

    tl = benchmark.pedantic(run, rounds=3, iterations=1)
    assert tl.metrics()["messages"] == 66_000
    benchmark.extra_info["messages"] = 66_000
    assert benchmark.stats.stats.min < 2.0  # best of 3: other processes share the machine
