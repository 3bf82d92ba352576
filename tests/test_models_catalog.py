"""Catalog, method resolution and errors."""

import pytest

from splitbench.models import (
    MODEL_PRESETS,
    SplitbenchError,
    comparable_lora_split,
    resolve_method,
    resolve_model,
    trace_cache_key,
)
from splitbench.models.paradigms import paradigms

REQUIRED = [
    "llama2-7b",
    "llama2-13b",
    "llama-30b",
    "llama2-70b",
    "llama3.1-8b",
    "llama3.2-1b",
    "llama3.2-3b",
    "mistral-7b",
    "qwen2.5-0.5b",
    "qwen2.5-7b",
    "tiny",
]


def test_required_presets_with_sources():
    for name in REQUIRED:
        p = MODEL_PRESETS[name]
        assert p.source
        k = p.key_numbers()
        assert {"params", "layers", "d", "heads", "kv_heads", "vocab"} <= set(k)


@pytest.mark.parametrize(
    "name,lo,hi",
    [
        ("llama2-7b", 6.6e9, 6.8e9),
        ("llama2-70b", 68.5e9, 69.5e9),
        ("llama3.1-8b", 7.9e9, 8.1e9),
        ("qwen2.5-0.5b", 0.45e9, 0.52e9),
        ("llama-30b", 32.0e9, 32.8e9),
    ],
)
def test_param_counts(name, lo, hi):
    assert lo < MODEL_PRESETS[name].n_params < hi


def test_resolve_model_forms():
    assert resolve_model("tiny") is MODEL_PRESETS["tiny"]
    m = resolve_model({"base": "tiny", "num_hidden_layers": 2})
    assert m.n_layers == 2
    y = resolve_model(
        "model_type: llama\nhidden_size: 32\nintermediate_size: 64\nnum_hidden_layers: 1\n"
        "num_attention_heads: 4\nnum_key_value_heads: 2\nvocab_size: 50\n"
    )
    assert y.n_kv_heads == 2
    for bad in [
        "nope",
        {"base": "nope"},
        {"model_type": "bert", "hidden_size": 8},
        {"base": "tiny", "num_key_value_heads": 3},
        {"base": "tiny", "hidden_size": -1},
    ]:
        with pytest.raises(SplitbenchError):
            resolve_model(bad)


def test_methods():
    assert set(paradigms()) == {
        "device-only",
        "cloud-only",
        "privatelora",
        "spa",
        "lora-split",
        "layer-split",
    }
    m = resolve_method({"name": "privatelora", "rank": 64, "targets": ["q", "v"]})
    assert m["rank"] == 64 and m["targets"] == ["q_proj", "v_proj"]
    for bad in [
        {"name": "privatelora", "bogus": 1},
        {"name": "device-only", "weight_bits": 5},
        "x",
        {"name": "spa", "gate": "sometimes"},
        {"name": "lora-split", "targets": ["w_proj"]},
    ]:
        with pytest.raises(SplitbenchError):
            resolve_method(bad)


def test_spa_gate_rate_alone_means_rate_gate():
    m = resolve_method({"name": "spa", "gate_rate": 0.3})
    assert m["gate"] == "rate" and m["gate_rate"] == 0.3
    assert resolve_method("spa")["gate"] == "always"
    assert resolve_method(resolve_method({"name": "spa", "gate_rate": 0.3})) == m


def test_comparable_lora_split():
    c = comparable_lora_split("privatelora")
    assert (
        c["name"] == "lora-split" and c["head_on_device"] and c["targets"] == ["q_proj", "k_proj", "v_proj"]
    )
    assert comparable_lora_split("device-only") is None and comparable_lora_split("layer-split") is None


def test_cache_key_stable_and_sensitive():
    k = trace_cache_key("tiny", "privatelora", 16)
    assert k == trace_cache_key("tiny", {"name": "privatelora", "rank": 128}, 16)
    assert k != trace_cache_key("tiny", "privatelora", 17)
    assert k != trace_cache_key("tiny", {"name": "privatelora", "rank": 64}, 16)
