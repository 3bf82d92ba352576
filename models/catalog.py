"""Model catalog: transformers configs embedded with their source, and the builder for them.

Why embedded configs: splitbench never downloads weights or configs; a trace only needs the shapes,
and the numbers must be reviewable in one place with where they came from. Each preset is the
subset of the model's published ``config.json`` that determines shapes (sizes, heads, vocabulary,
tying, rope); the rope settings do not change any count but keep numeric runs faithful.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
import yaml

from splitbench import SplitbenchError

_SUPPORTED_TYPES = ("llama", "mistral", "qwen2")
_SHAPE_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


@dataclass(frozen=True)
class ModelPreset:
    """A named decoder config (a transformers config mapping) plus where its numbers come from."""

    name: str
    config: dict[str, Any]
    source: str
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.config["num_hidden_layers"])

    @property
    def hidden_size(self) -> int:
        return int(self.config["hidden_size"])

    @property
    def n_heads(self) -> int:
        return int(self.config["num_attention_heads"])

    @property
    def n_kv_heads(self) -> int:
        return int(self.config.get("num_key_value_heads") or self.n_heads)

    @property
    def head_dim(self) -> int:
        return int(self.config.get("head_dim") or self.hidden_size // self.n_heads)

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    @property
    def n_params(self) -> int:
        """Parameter count of the real module tree (tied embeddings counted once)."""
        return _param_count(json.dumps(self.config, sort_keys=True))

    def key_numbers(self) -> dict[str, Any]:
        """What `splitbench list models` shows."""
        return {
            "params": self.n_params,
            "layers": self.n_layers,
            "d": self.hidden_size,
            "heads": self.n_heads,
            "kv_heads": self.n_kv_heads,
            "vocab": self.vocab_size,
            "source": self.source,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": copy.deepcopy(self.config), "source": self.source}


def _llama(**kw: Any) -> dict[str, Any]:
    base = {
        "model_type": "llama",
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
    }
    base.update(kw)
    return base


_LLAMA3_ROPE = {
    "rope_type": "llama3",
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

MODEL_PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in [
        ModelPreset(
            "llama2-7b",
            _llama(
                hidden_size=4096,
                intermediate_size=11008,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=32,
                vocab_size=32000,
                max_position_embeddings=4096,
            ),
            "meta-llama/Llama-2-7b-hf config.json [S]; PrivateLoRA paper shapes (REFERENCE.md)",
        ),
        ModelPreset(
            "llama2-13b",
            _llama(
                hidden_size=5120,
                intermediate_size=13824,
                num_hidden_layers=40,
                num_attention_heads=40,
                num_key_value_heads=40,
                vocab_size=32000,
                max_position_embeddings=4096,
            ),
            "meta-llama/Llama-2-13b-hf config.json [S]",
        ),
        ModelPreset(
            "llama-30b",
            _llama(
                hidden_size=6656,
                intermediate_size=17920,
                num_hidden_layers=60,
                num_attention_heads=52,
                num_key_value_heads=52,
                vocab_size=32000,
                max_position_embeddings=2048,
                rms_norm_eps=1e-6,
            ),
            "huggyllama/llama-30b config.json (LLaMA-1 '33B') [S]; REFERENCE.md shapes",
        ),
        ModelPreset(
            "llama2-70b",
            _llama(
                hidden_size=8192,
                intermediate_size=28672,
                num_hidden_layers=80,
                num_attention_heads=64,
                num_key_value_heads=8,
                vocab_size=32000,
                max_position_embeddings=4096,
            ),
            "meta-llama/Llama-2-70b-hf config.json [S]",
        ),
        ModelPreset(
            "llama3.1-8b",
            _llama(
                hidden_size=4096,
                intermediate_size=14336,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=8,
                vocab_size=128256,
                max_position_embeddings=131072,
                rope_theta=500000.0,
                rope_scaling={**_LLAMA3_ROPE, "factor": 8.0},
            ),
            "meta-llama/Llama-3.1-8B config.json [S]",
        ),
        ModelPreset(
            "llama3.2-1b",
            _llama(
                hidden_size=2048,
                intermediate_size=8192,
                num_hidden_layers=16,
                num_attention_heads=32,
                num_key_value_heads=8,
                head_dim=64,
                vocab_size=128256,
                max_position_embeddings=131072,
                tie_word_embeddings=True,
                rope_theta=500000.0,
                rope_scaling={**_LLAMA3_ROPE, "factor": 32.0},
            ),
            "meta-llama/Llama-3.2-1B config.json [S]",
        ),
        ModelPreset(
            "llama3.2-3b",
            _llama(
                hidden_size=3072,
                intermediate_size=8192,
                num_hidden_layers=28,
                num_attention_heads=24,
                num_key_value_heads=8,
                head_dim=128,
                vocab_size=128256,
                max_position_embeddings=131072,
                tie_word_embeddings=True,
                rope_theta=500000.0,
                rope_scaling={**_LLAMA3_ROPE, "factor": 32.0},
            ),
            "meta-llama/Llama-3.2-3B config.json [S]",
        ),
        ModelPreset(
            "mistral-7b",
            {
                "model_type": "mistral",
                "hidden_size": 4096,
                "intermediate_size": 14336,
                "num_hidden_layers": 32,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "vocab_size": 32000,
                "hidden_act": "silu",
                "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-5,
                "rope_theta": 10000.0,
                "sliding_window": 4096,
                "tie_word_embeddings": False,
            },
            "mistralai/Mistral-7B-v0.1 config.json [S]",
        ),
        ModelPreset(
            "qwen2.5-0.5b",
            {
                "model_type": "qwen2",
                "hidden_size": 896,
                "intermediate_size": 4864,
                "num_hidden_layers": 24,
                "num_attention_heads": 14,
                "num_key_value_heads": 2,
                "vocab_size": 151936,
                "hidden_act": "silu",
                "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0,
                "tie_word_embeddings": True,
                "use_sliding_window": False,
            },
            "Qwen/Qwen2.5-0.5B config.json [S]",
        ),
        ModelPreset(
            "qwen2.5-7b",
            {
                "model_type": "qwen2",
                "hidden_size": 3584,
                "intermediate_size": 18944,
                "num_hidden_layers": 28,
                "num_attention_heads": 28,
                "num_key_value_heads": 4,
                "vocab_size": 152064,
                "hidden_act": "silu",
                "max_position_embeddings": 131072,
                "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0,
                "tie_word_embeddings": False,
                "use_sliding_window": False,
            },
            "Qwen/Qwen2.5-7B config.json [S]",
        ),
        ModelPreset(
            "tiny",
            _llama(
                hidden_size=64,
                intermediate_size=176,
                num_hidden_layers=4,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=256,
                max_position_embeddings=512,
            ),
            "splitbench test config: a 4-layer grouped-query Llama for fast numeric checks [I] synthetic",
        ),
    ]
}


def resolve_model(spec: str | dict[str, Any] | ModelPreset) -> ModelPreset:
    """A preset name, ``{base: name, **overrides}``, a full transformers config mapping (with
    ``model_type``), or a YAML string of either mapping -> ModelPreset. Bad input -> SplitbenchError."""
    if isinstance(spec, ModelPreset):
        return spec
    if isinstance(spec, str):
        if spec in MODEL_PRESETS:
            return MODEL_PRESETS[spec]
        if ":" in spec or "\n" in spec:
            try:
                loaded = yaml.safe_load(spec)
            except yaml.YAMLError as e:
                raise SplitbenchError(
                    f"model: not a preset name and not valid YAML ({e.__class__.__name__})"
                ) from e
            if isinstance(loaded, dict):
                return resolve_model(loaded)
        raise SplitbenchError(f"model: unknown preset {spec!r} (known: {', '.join(sorted(MODEL_PRESETS))})")
    if not isinstance(spec, dict):
        raise SplitbenchError(f"model: expected a preset name or a mapping, got {type(spec).__name__}")
    spec = dict(spec)
    if "base" in spec:
        base_name = spec.pop("base")
        if base_name not in MODEL_PRESETS:
            raise SplitbenchError(f"model.base: unknown preset {base_name!r}")
        base = MODEL_PRESETS[base_name]
        name = str(spec.pop("name", base_name + "+" + ",".join(f"{k}={spec[k]}" for k in sorted(spec))))
        source = str(spec.pop("source", base.source + " with user overrides"))
        cfg = {**base.config, **spec}
    else:
        name = str(spec.pop("name", "custom"))
        source = str(spec.pop("source", "user-supplied transformers config"))
        cfg = spec
    _validate_config(cfg)
    return ModelPreset(name=name, config=cfg, source=source)


def _validate_config(cfg: dict[str, Any]) -> None:
    mt = cfg.get("model_type")
    if mt not in _SUPPORTED_TYPES:
        raise SplitbenchError(
            f"model.model_type: {mt!r} is not a supported decoder with q/k/v projections "
            f"({', '.join(_SUPPORTED_TYPES)})"
        )
    for k in _SHAPE_KEYS:
        v = cfg.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise SplitbenchError(f"model.{k}: must be a positive integer, got {v!r}")
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    if not isinstance(kv, int) or kv <= 0 or heads % kv:
        raise SplitbenchError(f"model.num_key_value_heads: {kv!r} must divide num_attention_heads={heads}")
    if "head_dim" not in cfg and cfg["hidden_size"] % heads:
        raise SplitbenchError(
            f"model.hidden_size: {cfg['hidden_size']} is not divisible by num_attention_heads={heads}"
        )


def hf_config(preset: ModelPreset):  # -> transformers.PretrainedConfig
    """The transformers config object, eager attention (its matmuls are what flop_counter sees)."""
    from transformers import AutoConfig

    cfg = dict(preset.config)
    model_type = cfg.pop("model_type")
    try:
        conf = AutoConfig.for_model(model_type, **cfg)
    except (TypeError, ValueError) as e:
        raise SplitbenchError(f"model {preset.name}: transformers rejected the config: {e}") from e
    conf._attn_implementation = "eager"
    return conf


def build_model(preset: ModelPreset, device: str, dtype: torch.dtype, seed: int = 0) -> torch.nn.Module:
    """The real transformers causal LM: on ``meta`` (shape mode, no memory) or CPU (numeric mode)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    conf = hf_config(preset)
    if device == "meta":
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(conf, dtype=dtype, attn_implementation="eager")
    else:
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(conf, dtype=dtype, attn_implementation="eager")
    model.eval()
    model.requires_grad_(False)
    return model


@lru_cache(maxsize=64)
def _param_count(config_json: str) -> int:
    preset = ModelPreset("count", json.loads(config_json), "")
    model = build_model(preset, "meta", torch.float16)
    return sum(p.numel() for p in model.parameters())
