"""netsim benchmarks: the engine's per-message cost against a bare simpy loop measured in the same
run, a large multi-user run's memory, and the quick suite from cold.

Run with ``make bench`` (skipped by ``make test``). A ratio is the engine's time over a bare simpy
loop doing two timeouts per message for as many messages, both timed back to back in each round;
the best round is kept, because other processes on a shared machine slow single runs, not the
code. The ratios are recorded in ``extra_info``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import simpy

from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, UserClass, simulate, simulate_multiuser
from tests.netsim_helpers import privatelora_like

DEV, CLOUD = PROFILE_PRESETS["iphone13-pro-max"], PROFILE_PRESETS["a100-80g"]
ROOT = Path(__file__).resolve().parents[2]


def bare_simpy(messages: int) -> float:
    """Seconds for a bare simpy process doing two timeouts per message."""
    env = simpy.Environment()

    def loop():
        for _ in range(messages):
            yield env.timeout(1e-4)
            yield env.timeout(1e-4)

    env.process(loop())
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def _timed(f, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = f(*args, **kwargs)
    return time.perf_counter() - t, out


def test_bench_privatelora_990_extra_decode_tokens_vs_bare_simpy(benchmark) -> None:
    """990 decode tokens of PrivateLoRA (32 layers, 66 messages a token) on 5g: the replay of
    1,000 tokens less that of 10, so the per-run setup cancels; target at most 3x the bare loop."""
    tr, link = privatelora_like(), NETWORK_PRESETS["5g"]
    ratios: list[float] = []

    def run() -> None:
        t10, short = _timed(simulate, tr, link, DEV, CLOUD, 10)
        t1000, long = _timed(simulate, tr, link, DEV, CLOUD, 1000)
        messages = long.messages - short.messages
        ratios.append((t1000 - t10) / bare_simpy(messages))
        benchmark.extra_info["messages"] = messages

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["ratio_vs_bare_simpy"] = min(ratios)
    benchmark.extra_info["ratios"] = ratios
    assert benchmark.extra_info["messages"] == 990 * 66
    assert min(ratios) <= 3.0, f"replay costs {min(ratios):.2f}x a bare simpy loop (target 3x)"


@pytest.mark.xfail(
    reason="target not met: 5.4-11.5x measured on 2 cores (5.4-6.5x at load 1-1.3). The work per message "
    "is the single-user replay's (about 1,050 bytecodes at 20 users, 1,020 alone), which is itself 2.2-3x "
    "the bare loop; its time grows with the users (test_bench_per_message_cost_by_users: about 2x one user's "
    "at 100, 4x at 320) as each launch walks every ready user's senders, strategies and walk, thousands of "
    "separate Python objects: with a 512 KiB L2 modelled (cachegrind), 1.5 L2 misses a message at 10 users, "
    "88 at 100",
    strict=False,
)
def test_bench_100_users_interleave_vs_bare_simpy(benchmark) -> None:
    """100 users x 256 PrivateLoRA tokens on 5g, interleaved on one cloud; target at most 3x."""
    tr, uc = privatelora_like(), UserClass("5g", NETWORK_PRESETS["5g"], DEV)
    ratios: list[float] = []

    def run() -> None:
        t, res = _timed(simulate_multiuser, tr, uc, CLOUD, 100, 256, max_batch=100, policy="interleave")
        assert res.metrics()["tokens"] == 100 * 256
        messages = 100 * 256 * 66  # prefill and decode steps alike: 66 messages each
        ratios.append(t / bare_simpy(messages))
        benchmark.extra_info["messages"] = messages

    benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info["ratio_vs_bare_simpy"] = min(ratios)
    benchmark.extra_info["ratios"] = ratios
    assert min(ratios) <= 3.0, f"multi-user replay costs {min(ratios):.2f}x a bare simpy loop (target 3x)"


def test_bench_per_message_cost_by_users(benchmark) -> None:
    """The interleaved replay's cost per message as the users grow and the total stays the same
    (6,400 PrivateLoRA tokens on 5g: 1 x 6,400 ... 320 x 20). The work per message does not depend on
    the users; what grows is the memory each launch walks through (every ready user's senders,
    strategies and walk), so the per-message time records where the users stop fitting the CPU's
    caches. ``extra_info``: microseconds per message and the ratio to one user, per user count."""
    tr, uc = privatelora_like(), UserClass("5g", NETWORK_PRESETS["5g"], DEV)
    total, counts = 6400, (1, 10, 32, 100, 320)

    def run() -> dict[int, float]:
        us: dict[int, float] = {}
        for n in counts:
            t, res = _timed(simulate_multiuser, tr, uc, CLOUD, n, total // n, max_batch=n)
            assert res.metrics()["tokens"] == total
            us[n] = t / (total * 66) * 1e6
        return us

    us = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["us_per_message"] = us
    benchmark.extra_info["ratio_to_one_user"] = {n: us[n] / us[1] for n in counts}
    benchmark.extra_info["bare_simpy_us_per_message"] = bare_simpy(total * 66) / (total * 66) * 1e6


_THOUSAND = """
import json, resource, sys, time
from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, UserClass, simulate_multiuser
from tests.netsim_helpers import privatelora_like

def peak_mb():
    # this program's own peak: ru_maxrss keeps the forking parent's RSS across exec (Linux), VmHWM does not
    try:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

tr = privatelora_like()
uc = UserClass("5g", NETWORK_PRESETS["5g"], PROFILE_PRESETS["iphone13-pro-max"])
before = peak_mb()
t = time.perf_counter()
res = simulate_multiuser(tr, uc, PROFILE_PRESETS["a100-80g"], 1000, 64, max_batch=256)
t = time.perf_counter() - t
m = res.metrics()
json.dump({"seconds": t, "tokens": m["tokens"], "peak_rss_mb": peak_mb(), "rss_before_mb": before,
           "aggregate_tok_s": m["aggregate_tok_s"]}, sys.stdout)
"""


def test_bench_1000_users_64_tokens_peak_rss(benchmark) -> None:
    """1,000 users x 64 PrivateLoRA tokens in one run (its own process, so the peak RSS is its own)."""

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _THOUSAND], cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        )  # fmt: skip
        return json.loads(out.stdout)

    r = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(r)
    assert r["tokens"] == 1000 * 64
    assert r["peak_rss_mb"] < 4096


_PRELOAD = "import splitbench.harness._preload"  # what the fork server imports before any trace build


def _phases(out: Path, start: float) -> dict[str, float]:
    """Seconds from the start of the run to the stages its output files mark: the first trace built
    (the fork server's imports are before it), every result, the report's text, its last figure."""

    def mtimes(pattern: str) -> list[float]:
        return [p.stat().st_mtime - start for p in out.glob(pattern)]

    stages = {
        "first_trace_s": min(mtimes("traces/*.json")),
        "results_s": max(mtimes("results.csv")),
        "report_md_s": max(mtimes("report.md")),
        "last_figure_s": max(mtimes("plots/*")),
    }
    return {k: round(v, 2) for k, v in stages.items()}


def test_bench_quick_suite_cold(benchmark, tmp_path: Path) -> None:
    """The default quick suite from nothing: no results, no trace cache, no host calibration.
    ``extra_info`` also times the stages (_phases) and, in a fresh interpreter of its own, the fork
    server's preload (torch and transformers' model code), which every trace build waits for: the
    run's serial floor."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def run() -> float:
        out = tmp_path / f"quick-{time.monotonic_ns()}"
        start, t = time.time(), time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "splitbench.harness.cli", "run", "quick", "--out", str(out), "--quiet"],
            cwd=ROOT, env={**env, "SPLITBENCH_CACHE": str(out / "cache")}, check=True, capture_output=True,
        )  # fmt: skip
        seconds = time.perf_counter() - t
        assert (out / "results.csv").is_file()
        benchmark.extra_info.update(_phases(out, start))
        return seconds

    seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PRELOAD], cwd=ROOT, env=env, check=True)
    benchmark.extra_info["preload_s"] = round(time.perf_counter() - t, 2)
    benchmark.extra_info["seconds"] = seconds
    benchmark.extra_info["load_average_1min"] = os.getloadavg()[0]  # other tenants' share of the cores
