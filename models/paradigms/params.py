"""Parameters of paradigms: the declaration (:class:`Param`), the checks they share, and the
projections an adapter may target.

A paradigm lists its parameters with their defaults and a check; ``resolve_method`` fills in the
defaults, runs every check (which may normalise the value: ``targets: [q, v]`` becomes
``[q_proj, v_proj]``) and then the paradigm's own cross-parameter check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from splitbench import SplitbenchError

#: The projections of a decoder layer an adapter may target, in layer order.
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: The attention input projections (the PrivateLoRA paper's and peft's usual LoRA targets).
QKV = ["q_proj", "k_proj", "v_proj"]
#: Short names accepted in ``targets``.
SHORT = {p.removesuffix("_proj"): p for p in PROJECTIONS}


def format_value(v: Any) -> str:
    """A value in a label: 10.0 -> 10, [15, 31] -> 15+31, a mapping -> a short hash of it."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list | tuple):
        return "+".join(format_value(x) for x in v)
    if isinstance(v, dict):
        text = json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:6]
    return str(v)


@dataclass(frozen=True)
class Param:
    """One parameter of a paradigm: its default, a check (returns the value, possibly normalised,
    or raises SplitbenchError naming ``method.<name>``) and what it means."""

    name: str
    default: Any
    check: Callable[[str, Any], Any]
    doc: str = ""


def positive_int(name: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise SplitbenchError(f"method.{name}: must be a positive integer, got {v!r}")
    return v


def non_negative_int(name: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise SplitbenchError(f"method.{name}: must be a non-negative integer, got {v!r}")
    return v


def optional_positive_int(name: str, v: Any) -> int | None:
    return None if v is None else positive_int(name, v)


def positive_number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise SplitbenchError(f"method.{name}: must be a positive number, got {v!r}")
    return v


def fraction(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
        raise SplitbenchError(f"method.{name}: {v!r} must be in [0, 1]")
    return v


def boolean(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise SplitbenchError(f"method.{name}: must be true or false, got {v!r}")
    return v


def one_of(*choices: Any) -> Callable[[str, Any], Any]:
    def check(name: str, v: Any) -> Any:
        if v not in choices:
            *head, last = [str(c) for c in choices]
            raise SplitbenchError(f"method.{name}: {v!r} must be {', '.join(head)} or {last}")
        return v

    return check


def targets(name: str, v: Any) -> list[str]:
    """``all``, one projection or a list (short names allowed) -> projections in layer order."""
    if v == "all":
        return list(PROJECTIONS)
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list | tuple) or not v:
        raise SplitbenchError(f"method.{name}: {v!r} must be 'all' or a non-empty list of projections")
    out = []
    for t in v:
        t = SHORT.get(t, t)
        if t not in PROJECTIONS:
            known = ", ".join(PROJECTIONS)
            raise SplitbenchError(f"method.{name}: unknown projection {t!r} (known: {known})")
        if t not in out:
            out.append(t)
    return sorted(out, key=PROJECTIONS.index)


def layers(name: str, v: Any) -> str | list[int]:
    """``all``, ``lora-s`` (the PrivateLoRA paper's two layers) or a list of layer indices (sorted,
    de-duplicated); whether the indices exist is checked against the model (:func:`layer_indices`)."""
    if v in ("all", "lora-s"):
        return v
    if isinstance(v, list) and v and all(type(i) is int and i >= 0 for i in v):
        return sorted(set(v))
    raise SplitbenchError(f"method.{name}: {v!r} must be 'all', 'lora-s' or a list of layer indices")


def layer_indices(spec: Any, n_layers: int) -> list[int]:
    """The layers ``spec`` (a checked ``layers`` value) names in a model of ``n_layers`` layers:
    ``lora-s`` is n/2 - 1 and n - 1 (15 and 31 of 32)."""
    if spec == "all":
        return list(range(n_layers))
    if spec == "lora-s":
        return sorted({n_layers // 2 - 1, n_layers - 1})
    idx = layers("layers", spec)
    if any(i >= n_layers for i in idx):
        raise SplitbenchError(
            f"method.layers: {spec!r} must be 'all', 'lora-s' or a list of layer indices < {n_layers}"
        )
    return list(idx)
