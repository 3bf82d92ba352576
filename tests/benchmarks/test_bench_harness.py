"""splitbench's own speed (pytest-benchmark; run by `make bench`, skipped by `make test`).

- shape-mode trace extraction of LLaMA-2-7B (PrivateLoRA split, 128-token prompt);
- a 1,000-token PrivateLoRA decode simulation over 5G;
- the whole built-in quick suite (traces, simulations, sweeps; no report), from an empty directory.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", FutureWarning)


def test_bench_trace_llama2_7b_shape(benchmark) -> None:
    from splitbench.models import build_trace

    trace = benchmark.pedantic(
        build_trace,
        args=("llama2-7b", "privatelora", 128),
        kwargs={"mode": "shape"},
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )
    assert trace.meta["n_layers"] == 32


def test_bench_privatelora_decode_1000_tokens(benchmark) -> None:
    from splitbench.models import build_trace
    from splitbench.netsim import resolve_network, resolve_profile, simulate

    trace = build_trace("llama2-7b", "privatelora", 128, mode="shape")
    link, dev, cloud = resolve_network("5g"), resolve_profile("snapdragon-8gen3"), resolve_profile("a100-80g")
    tl = benchmark.pedantic(simulate, args=(trace, link, dev, cloud, 1000), rounds=3, iterations=1)
    assert len(tl.token_times) == 1000


def test_bench_quick_suite(benchmark, tmp_path: Path) -> None:
    from splitbench.harness.runner import run_suite
    from splitbench.harness.suite import load_suite

    out = tmp_path / "quick"

    def run() -> None:
        shutil.rmtree(out, ignore_errors=True)
        run_suite(load_suite("quick"), out, render_report=False)

    benchmark.pedantic(run, rounds=2, iterations=1)
    assert (out / "results.csv").is_file()
