"""Method (paradigm) presets: defaults, validation, and the lora-split reference for each method."""

from __future__ import annotations

import copy
from typing import Any

from splitbench import SplitbenchError

QKV = ["q_proj", "k_proj", "v_proj"]
_SHORT = {
    "q": "q_proj",
    "k": "k_proj",
    "v": "v_proj",
    "o": "o_proj",
    "gate": "gate_proj",
    "up": "up_proj",
    "down": "down_proj",
}
ALL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

METHOD_PRESETS: dict[str, dict[str, Any]] = {
    "device-only": {
        "description": "the whole model on the device (weight_bits 16/8/4/3); nothing crosses the network",
        "params": {"weight_bits": 16},
    },
    "cloud-only": {
        "description": "token ids up, the whole model on the cloud, token ids down",
        "params": {},
    },
    "privatelora": {
        "description": "PrivateLoRA: cloud decoder + frozen A/B, private M on the device; r-wide activations",
        "params": {"rank": 128, "rank_c2d": None, "rank_d2c": None, "targets": QKV, "layers": "all"},
    },
    "spa": {
        "description": "SPA: cloud backbone + gate, ladder side network on the device; hidden states down",
        "params": {"side_width": 32, "gate": "always", "gate_rate": 0.5, "down_proj": "device"},
    },
    "lora-split": {
        "description": "LoRA weights on the device (peft), full-width activations down and deltas up",
        "params": {"rank": 16, "alpha": 32, "targets": QKV, "layers": "all", "head_on_device": False},
    },
    "layer-split": {
        "description": "embedding + first device_layers decoder layers on the device, the rest on the cloud",
        "params": {"device_layers": 4, "head_on_device": False},
    },
}


def _targets(v: Any) -> list[str]:
    if v == "all":
        return list(ALL_TARGETS)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list | tuple) or not v:
        raise SplitbenchError(f"method.targets: {v!r} must be 'all' or a non-empty list of projections")
    out = []
    for t in v:
        t = _SHORT.get(t, t)
        if t not in ALL_TARGETS:
            raise SplitbenchError(
                f"method.targets: unknown projection {t!r} (known: {', '.join(ALL_TARGETS)})"
            )
        if t not in out:
            out.append(t)
    return sorted(out, key=ALL_TARGETS.index)


def _pos_int(name: str, v: Any, allow_none: bool = False, allow_zero: bool = False) -> Any:
    if v is None and allow_none:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < (0 if allow_zero else 1):
        raise SplitbenchError(
            f"method.{name}: must be a {'non-negative' if allow_zero else 'positive'} integer, got {v!r}"
        )
    return v


def resolve_method(spec: str | dict[str, Any]) -> dict[str, Any]:
    """``"privatelora"`` or ``{name: privatelora, rank: 64, ...}`` -> {"name": ..., **all params}."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise SplitbenchError(f"method: expected a name or a mapping, got {type(spec).__name__}")
    spec = dict(spec)
    name = spec.pop("name", None) or spec.pop("method", None)
    if name not in METHOD_PRESETS:
        raise SplitbenchError(f"method.name: unknown method {name!r} (known: {', '.join(METHOD_PRESETS)})")
    params = copy.deepcopy(METHOD_PRESETS[name]["params"])
    for k, v in spec.items():
        if k not in params:
            raise SplitbenchError(
                f"method.{k}: unknown parameter for {name} (known: {', '.join(params) or 'none'})"
            )
        params[k] = v
    p = params
    if name == "device-only" and p["weight_bits"] not in (16, 8, 4, 3):
        raise SplitbenchError(f"method.weight_bits: {p['weight_bits']!r} must be one of 16, 8, 4, 3")
    if name in ("privatelora", "lora-split"):
        p["targets"] = _targets(p["targets"])
        _pos_int("rank", p["rank"])
        layers = p["layers"]
        if not (
            layers in ("all", "lora-s")
            or (isinstance(layers, list) and layers and all(isinstance(i, int) and i >= 0 for i in layers))
        ):
            raise SplitbenchError(
                f"method.layers: {layers!r} must be 'all', 'lora-s' or a list of layer indices"
            )
        if isinstance(layers, list):
            p["layers"] = sorted(set(layers))
    if name == "privatelora":
        _pos_int("rank_c2d", p["rank_c2d"], allow_none=True)
        _pos_int("rank_d2c", p["rank_d2c"], allow_none=True)
    if name == "lora-split":
        if not isinstance(p["alpha"], int | float) or p["alpha"] <= 0:
            raise SplitbenchError(f"method.alpha: must be a positive number, got {p['alpha']!r}")
    if name == "spa":
        _pos_int("side_width", p["side_width"])
        # A gate_rate on its own means "open the gate at that rate", not a number silently ignored
        # by the default `always` gate. (A resolved method names its gate, so this is idempotent.)
        if "gate_rate" in spec and "gate" not in spec:
            p["gate"] = "rate"
        if p["gate"] not in ("always", "never", "rate", "classifier"):
            raise SplitbenchError(f"method.gate: {p['gate']!r} must be always, never, rate or classifier")
        if not isinstance(p["gate_rate"], int | float) or not 0.0 <= p["gate_rate"] <= 1.0:
            raise SplitbenchError(f"method.gate_rate: {p['gate_rate']!r} must be in [0, 1]")
        if p["down_proj"] not in ("device", "cloud"):
            raise SplitbenchError(f"method.down_proj: {p['down_proj']!r} must be device or cloud")
    if name == "layer-split":
        _pos_int("device_layers", p["device_layers"], allow_zero=True)
    for flag in ("head_on_device",):
        if flag in p and not isinstance(p[flag], bool):
            raise SplitbenchError(f"method.{flag}: must be true or false, got {p[flag]!r}")
    return {"name": name, **p}


def comparable_lora_split(method: dict[str, Any] | str, model: Any = None) -> dict[str, Any] | None:
    """The lora-split whose payload is the reference for comm_reduction_pct.

    - privatelora: LoRA on the same projections and layers with embedding/LM head on the device
      (the same placement, so the only difference is r-wide versus full-width activations);
    - spa: LoRA on q/k/v of every layer with the LM head on the cloud (SPA's tokens are on the
      cloud too) — the conventional device-side adaptation of the same backbone;
    - lora-split: itself; device-only, cloud-only, layer-split: None (nothing to adapt / compare).
    """
    m = resolve_method(method)
    if m["name"] == "privatelora":
        return resolve_method(
            {"name": "lora-split", "targets": m["targets"], "layers": m["layers"], "head_on_device": True}
        )
    if m["name"] == "spa":
        return resolve_method(
            {"name": "lora-split", "targets": QKV, "layers": "all", "head_on_device": False}
        )
    if m["name"] == "lora-split":
        return m
    return None
