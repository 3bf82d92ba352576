"""Model catalog: transformers configs with their source, and the builder for them.

Why configs as data: splitbench never downloads weights or configs; a trace only needs the shapes,
and the numbers must be reviewable in one place with where they came from. Each preset
(``models/presets/models/<name>.yaml``) is the subset of the model's published ``config.json`` that
determines shapes (sizes, heads, vocabulary, tying, rope); the rope settings do not change any
count but keep numeric runs faithful.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from splitbench import SplitbenchError
from splitbench.models.presets import PresetFile, PresetTable

if TYPE_CHECKING:  # torch loads where a module is built, not where presets are resolved
    import torch

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


def _build(pf: PresetFile) -> ModelPreset:
    spec = {**pf.fields, "name": pf.name}
    if "base" in spec:
        base = MODEL_PRESETS[spec["base"]] if spec["base"] in MODEL_PRESETS else None
        if base is not None:
            spec["source"] = f"{spec['source']}; other fields as {base.name}: {base.source}"
    return resolve_model(spec)


#: The model presets: ``models/presets/models/<name>.yaml`` plus the active user presets.
MODEL_PRESETS: PresetTable[ModelPreset] = PresetTable(
    "models", "model", Path(__file__).parent / "presets" / "models", _build
)


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
    description = str(spec.pop("description", ""))
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
    return ModelPreset(name=name, config=cfg, source=source, description=description)


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
    import torch
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
    import torch

    preset = ModelPreset("count", json.loads(config_json), "")
    model = build_model(preset, "meta", torch.float16)
    return sum(p.numel() for p in model.parameters())
