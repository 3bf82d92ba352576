"""Methods: a paradigm name plus its parameters, completed with the defaults and checked.

What a paradigm's parameters are, their defaults and checks, and its lora-split reference are the
paradigm's own declarations (models/paradigms/); this module applies them to what a suite wrote.
"""

from __future__ import annotations

from typing import Any

from splitbench import SplitbenchError
from splitbench.models import paradigms


def resolve_method(spec: str | dict[str, Any]) -> dict[str, Any]:
    """``"privatelora"`` or ``{name: privatelora, rank: 64, ...}`` -> {"name": ..., **all params}."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise SplitbenchError(f"method: expected a name or a mapping, got {type(spec).__name__}")
    given = dict(spec)
    name = given.pop("name", None) or given.pop("method", None)
    cls = paradigms.get(name)
    p = cls.defaults()
    for k, v in given.items():
        if k not in p:
            known = ", ".join(p) or "none"
            raise SplitbenchError(f"method.{k}: unknown parameter for {name} (known: {known})")
        p[k] = v
    for param in cls.params:
        p[param.name] = param.check(param.name, p[param.name])
    cls.check_params(p, given)
    return {"name": name, **p}


def split_params(method: dict[str, Any]) -> dict[str, Any]:
    """A resolved method's parameters (everything but its name)."""
    return {k: v for k, v in method.items() if k != "name"}


def comparable_lora_split(method: dict[str, Any] | str) -> dict[str, Any] | None:
    """The lora-split whose payload is the reference for comm_reduction_pct (the paradigm's
    ``comparable_lora_split``), resolved; None where there is nothing to compare with."""
    m = resolve_method(method)
    ref = paradigms.get(m["name"]).comparable_lora_split(split_params(m))
    return None if ref is None else resolve_method(ref)


def method_label(method: dict[str, Any]) -> str:
    """The readable label of a resolved method (the paradigm's ``method_label``)."""
    return paradigms.get(method["name"]).method_label(split_params(method))
