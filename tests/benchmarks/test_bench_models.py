"""Benchmarks for models/: shape-mode trace extraction (llama2-70b) and numeric split overhead.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_models.py --benchmark-only -p no:cacheprovider
"""

import pytest
import torch

from splitbench.models.build import make_split


def _record_prefill(split, P):
    split.reset()
    split.record(split.random_ids(P))


def _record_decode(split, t):
    split.fill_cache(t)
    split.record(split.random_ids(1))


@pytest.mark.parametrize("method", ["privatelora", "device-only"])
def test_bench_shape_prefill_llama2_70b(benchmark, method):
    split = make_split("llama2-70b", method, "shape")
    benchmark.pedantic(_record_prefill, args=(split, 128), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("method", ["privatelora", "device-only"])
def test_bench_shape_decode_llama2_70b(benchmark, method):
    """One recorded decode step (build_trace records two per variant to fit base + slope)."""
    split = make_split("llama2-70b", method, "shape")
    benchmark.pedantic(_record_decode, args=(split, 1024), rounds=3, warmup_rounds=1)


def _unsplit(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids, logits_to_keep=1).logits[:, -1]


@pytest.mark.parametrize("model", ["tiny", {"base": "qwen2.5-0.5b", "num_hidden_layers": 6}])
@pytest.mark.parametrize("variant", ["unsplit", "split-fp32", "split-fp16"])
def test_bench_numeric_split_vs_unsplit(benchmark, model, variant):
    """Numeric prefill of 32 tokens: the unsplit transformers forward vs the privatelora split
    (fp32 codec: framing/serialisation of lossless bytes; fp16: plus conversion)."""
    act = "fp16" if variant == "split-fp16" else "fp32"
    split = make_split(model, {"name": "privatelora", "rank": 16}, "numeric", act)
    ids = split.random_ids(32)
    if variant == "unsplit":
        ref = split.reference_model()
        benchmark(_unsplit, ref, ids)
    else:

        calls = [0]

        def run():
            calls[0] += 1
            split.reset()
            return split.forward(ids)

        split.channel.serialize_s = 0.0
        benchmark(run)
        benchmark.extra_info["serialize_ms_per_forward"] = 1e3 * split.channel.serialize_s / calls[0]
