"""Numeric equivalence of every split paradigm with its unsplit reference (``splitbench verify``).

For each paradigm's verify cases: the split model (fp32 codec, CPU tensors) and its reference
(``SplitModel.reference``) run the same seeded prompt and then greedy decode steps with their KV
caches; the table reports the largest |Δlogit| over all steps and whether the greedy tokens agree.
References: privatelora → the unsplit transformers model with merged weights W + B·M·A;
lora-split → peft's LoRA model; spa → SPA in one process (``SPAReference``); device-only,
cloud-only, layer-split → the unsplit transformers model (its own forward and DynamicCache).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from splitbench.models import paradigms
from splitbench.models.build import make_split
from splitbench.models.catalog import resolve_model

TOLERANCE = 1e-4

@dataclass(frozen=True)
class VerifyRow:
    method: str
    max_abs_dlogit: float
    tokens_match: bool
    passed: bool


def _label(m: dict[str, Any]) -> str:
    extra = ",".join(f"{k}={v}" for k, v in m.items() if k != "name")
    return m["name"] + (f"({extra})" if extra else "")


def compare(
    model: Any, method: dict[str, Any], seed: int = 0, prompt_tokens: int = 7, steps: int = 5
) -> VerifyRow:
    split = make_split(model, method, mode="numeric", act_dtype="fp32", seed=seed)
    ref = split.reference()
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
    """The equivalence table for every paradigm (each paradigm's ``verify_cases``) on ``model``."""
    preset = resolve_model(model)
    cases = [m for cls in paradigms.paradigms().values() for m in cls.verify_cases(preset)]
    return [compare(preset, m, seed) for m in cases]
