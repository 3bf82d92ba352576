"""Numeric equivalence of every split paradigm with its unsplit reference (``splitbench verify``).

For each method: the split model (fp32 codec, CPU tensors) and its reference run the same seeded
prompt and then greedy decode steps with their KV caches; the table reports the largest
|Δlogit| over all steps and whether the greedy tokens agree. References:
privatelora → the unsplit transformers model with merged weights W + B·M·A; lora-split → peft's
LoRA model; spa → SPA in one process (:class:`splitbench.models.paradigms.spa.SPAReference`); device-only,
cloud-only, layer-split → the unsplit transformers model (its own forward and DynamicCache).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from splitbench.models.build import make_split
from splitbench.models.catalog import resolve_model

TOLERANCE = 1e-4

VERIFY_METHODS: list[dict[str, Any]] = [
    {"name": "device-only"},
    {"name": "cloud-only"},
    {"name": "privatelora", "rank": 8},
    {"name": "privatelora", "rank_c2d": 6, "rank_d2c": 4, "targets": "all"},
    {"name": "lora-split", "rank": 4, "alpha": 8},
    {
        "name": "lora-split",
        "rank": 4,
        "alpha": 8,
        "targets": "all",
        "layers": "lora-s",
        "head_on_device": True,
    },
    {"name": "spa", "gate": "rate", "gate_rate": 0.5},
    {"name": "spa", "gate": "always", "down_proj": "cloud"},
    {"name": "layer-split", "device_layers": 2},
    {"name": "layer-split", "device_layers": 1, "head_on_device": True},
]


@dataclass(frozen=True)
class VerifyRow:
    method: str
    max_abs_dlogit: float
    tokens_match: bool
    passed: bool


def _label(m: dict[str, Any]) -> str:
    extra = ",".join(f"{k}={v}" for k, v in m.items() if k != "name")
    return m["name"] + (f"({extra})" if extra else "")


class _HFRef:
    """An unsplit transformers model stepped with its own DynamicCache."""

    def __init__(self, model: torch.nn.Module):
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache(config=getattr(model, "config", None))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(input_ids=ids, past_key_values=self.cache, use_cache=True).logits[:, -1, :]


def compare(
    model: Any, method: dict[str, Any], seed: int = 0, prompt_tokens: int = 7, steps: int = 5
) -> VerifyRow:
    split = make_split(model, method, mode="numeric", act_dtype="fp32", seed=seed)
    if method["name"] == "spa":
        from splitbench.models.paradigms.spa import SPAReference

        ref: Any = SPAReference(split)
    else:
        ref = _HFRef(split.reference_model())
    split.reset()
    ids = split.random_ids(prompt_tokens)
    a, b = split.forward(ids), ref.forward(ids)
    worst = float((a - b).abs().max())
    match = True
    for _ in range(steps):
        ta, tb = torch.argmax(a, -1, keepdim=True), torch.argmax(b, -1, keepdim=True)
        match = match and bool(torch.equal(ta, tb))
        a, b = split.forward(ta), ref.forward(ta)
        worst = max(worst, float((a - b).abs().max()))
    return VerifyRow(_label(method), worst, match, worst <= TOLERANCE and match)


def verify(model: Any = "tiny", seed: int = 0) -> list[VerifyRow]:
    """The equivalence table for every paradigm (several parameterisations) on ``model``."""
    preset = resolve_model(model)
    rows = []
    for m in VERIFY_METHODS:
        m = dict(m)
        if m["name"] == "layer-split":
            m["device_layers"] = min(m["device_layers"], preset.n_layers)
        rows.append(compare(preset, m, seed))
    return rows
