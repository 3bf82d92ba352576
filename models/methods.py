"""Methods: a paradigm name plus its parameters, completed with the defaults and checked.

What a paradigm's parameters are, their defaults and checks, and its lora-split reference are the
paradigm's own declarations (models/paradigms/); this module applies them to what a suite wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError
from splitbench.models import paradigms
from splitbench.models.presets import PresetFile, PresetTable


@dataclass(frozen=True)
class MethodPreset:
    """A named method: a paradigm with parameters (``methods/<name>.yaml``), shown as ``label``."""

    name: str
    method: dict[str, Any]  # resolved: {"name": paradigm, **params}
    label: str
    source: str
    description: str = ""


def _build(pf: PresetFile) -> MethodPreset:
    fields = dict(pf.fields)
    source, description = str(fields.pop("source")), str(fields.pop("description", ""))
    label = fields.pop("label", pf.name)
    if not isinstance(label, str) or not label.strip():
        raise SplitbenchError(f"label: must be a non-empty string, got {label!r}")
    if pf.name in paradigms.paradigms():
        raise SplitbenchError(f"{pf.name!r} is a paradigm's name: a method preset needs a name of its own")
    if "paradigm" not in fields:
        raise SplitbenchError(f"paradigm: required (one of {', '.join(paradigms.paradigms())})")
    method = resolve_method({"name": fields.pop("paradigm"), **fields})
    return MethodPreset(pf.name, method, label, source, description)


#: Named methods (``methods/<name>.yaml``: ``paradigm:`` plus parameters, ``label``, ``source``),
#: used by name like a paradigm. None are built in: every paradigm is already a method of its name.
METHOD_PRESETS: PresetTable[MethodPreset] = PresetTable(
    "methods", "method", Path(__file__).parent / "presets" / "methods", _build
)


def resolve_method(spec: str | dict[str, Any]) -> dict[str, Any]:
    """``"privatelora"`` or ``{name: privatelora, rank: 64, ...}`` -> {"name": ..., **all params}."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise SplitbenchError(f"method: expected a name or a mapping, got {type(spec).__name__}")
    given = dict(spec)
    name = given.pop("name", None) or given.pop("method", None)
    if isinstance(name, str) and name not in paradigms.paradigms() and name in METHOD_PRESETS:
        return resolve_method({**METHOD_PRESETS[name].method, **given})
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


def preset_label(spec: Any) -> str | None:
    """The label of the method preset ``spec`` names (a name, or ``{name: ..., **overrides}``: then
    the overrides follow as ``key=value``), else None."""
    from splitbench.models.paradigms.params import format_value

    name = spec.get("name") if isinstance(spec, dict) else spec
    if not (isinstance(name, str) and name not in paradigms.paradigms() and name in METHOD_PRESETS):
        return None
    over = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
    return " ".join([METHOD_PRESETS[name].label, *(f"{k}={format_value(over[k])}" for k in sorted(over))])
