"""The suite file format, as a JSON-schema dict, and its validation.

Why a schema rather than ad-hoc checks: one declarative place says which keys exist, so an unknown
key (a typo such as ``new_token``) is an error instead of being silently ignored, and new fields
(multi-user ``users``, ``arrival`` …) are added by extending :data:`SCENARIO_FIELDS` or
:data:`SUITE_FIELDS` — nothing else. The *contents* of preset-valued fields (a network's
``up_mbps``, a method's ``rank``) are checked by the resolvers in models/ and netsim/, which own
those fields; the schema only checks that such a field is a preset name or a mapping.

Error messages name the path of the offending key, e.g. ``matrix.network[3]`` or
``scenarios[0].new_tokens``, so the user can find it in the YAML file.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from splitbench import SplitbenchError
from splitbench.models.codec import ACT_DTYPES

#: A preset-valued field: a preset name, ``{base: name, ...overrides}`` or a full specification.
PRESET_VALUE: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "object", "minProperties": 1},
    ]
}

#: Fields a scenario may set (in ``defaults``, a ``matrix`` list, or a ``scenarios`` entry).
SCENARIO_FIELDS: dict[str, dict[str, Any]] = {
    "model": PRESET_VALUE,
    "method": PRESET_VALUE,
    "network": PRESET_VALUE,
    "device": PRESET_VALUE,
    "cloud": PRESET_VALUE,
    "prompt_tokens": {"type": "integer", "minimum": 1},
    "new_tokens": {"type": "integer", "minimum": 1},
    "act_dtype": {"enum": list(ACT_DTYPES)},
    "seed": {"type": "integer", "minimum": 0},
}

#: Multi-user fields (harness/multiuser.py): a scenario that sets ``users`` is multi-user.
MULTIUSER_FIELDS: dict[str, dict[str, Any]] = {
    "users": {"type": "integer", "minimum": 1},
    "mix": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
    },
    "arrival": {
        "oneOf": [
            {"enum": ["closed"]},
            {
                "type": "object",
                "properties": {"poisson": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["poisson"],
                "additionalProperties": False,
            },
        ]
    },
    "think_time_s": {"type": "number", "minimum": 0},
    "requests_per_user": {"type": "integer", "minimum": 1},
    "max_batch": {"type": "integer", "minimum": 1},
    "policy": {"enum": ["interleave", "step", "exclusive"]},
    "shared_cell": {"type": "boolean"},
}
SCENARIO_FIELDS.update(MULTIUSER_FIELDS)

#: Fields every scenario must end up with after defaults are applied.
REQUIRED_SCENARIO_FIELDS = ("model", "method", "network", "device", "cloud")

#: Values used when neither the scenario, the matrix nor the suite's ``defaults`` sets a field.
BUILTIN_DEFAULTS: dict[str, Any] = {"prompt_tokens": 128, "new_tokens": 128, "act_dtype": "fp16"}

#: Link fields a sweep may vary.
SWEEP_VARY = ["rtt_ms", "up_mbps", "down_mbps", "loss", "jitter_ms"]

SCENARIO_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": SCENARIO_FIELDS,
    "additionalProperties": False,
}

SWEEP_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
        "methods": {"type": "array", "items": PRESET_VALUE, "minItems": 1},
        "vary": {"enum": SWEEP_VARY},
        "values": {"type": "array", "items": {"type": "number"}, "minItems": 1},
        **{k: v for k, v in SCENARIO_FIELDS.items() if k != "method" and k not in MULTIUSER_FIELDS},
    },
    "required": ["name", "methods", "vary", "values"],
    "additionalProperties": False,
}

#: Top-level keys of a suite file.
SUITE_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
    "description": {"type": "string"},
    "seed": {"type": "integer", "minimum": 0},
    "defaults": SCENARIO_OBJECT,
    "matrix": {
        "type": "object",
        "properties": {
            k: {"oneOf": [{"type": "array", "items": v, "minItems": 1}, v]}
            for k, v in SCENARIO_FIELDS.items()
        },
        "additionalProperties": False,
    },
    "scenarios": {"type": "array", "items": SCENARIO_OBJECT},
    "sweeps": {"type": "array", "items": SWEEP_OBJECT},
    "presets": {
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        ]
    },
}

SUITE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "splitbench suite",
    "type": "object",
    "properties": SUITE_FIELDS,
    "additionalProperties": False,
    "anyOf": [{"required": ["matrix"]}, {"required": ["scenarios"]}, {"required": ["sweeps"]}],
}

_VALIDATOR = jsonschema.Draft202012Validator(SUITE_SCHEMA)


def format_path(parts: Any) -> str:
    """``['matrix', 'network', 3]`` → ``matrix.network[3]``; empty → ``(top level)``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _describe(err: jsonschema.ValidationError) -> tuple[str, str]:
    """Turn a jsonschema error into (path, problem) in the user's terms."""
    path = list(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return format_path([*path, extra[0]]), f"unknown key (allowed: {', '.join(allowed)})"
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return format_path(path), f"missing required key '{missing[0]}'"
    if v == "anyOf" and not path:
        return "(top level)", "a suite needs at least one of 'matrix', 'scenarios' or 'sweeps'"
    if v == "oneOf":
        # Describe the error inside the branch the value was meant for: the branch whose own
        # type check passed (a list is meant for the list branch, a mapping for the mapping one).
        branches: dict[int, list[jsonschema.ValidationError]] = {}
        for e in err.context or []:
            branches.setdefault(int(e.relative_schema_path[0]), []).append(e)
        for errs in branches.values():
            if not any(e.validator == "type" and not e.relative_path for e in errs):
                deepest = max(errs, key=lambda e: len(e.absolute_path))
                return _describe(deepest)
        if err.validator_value is PRESET_VALUE["oneOf"]:
            return format_path(path), "must be a preset name or a mapping"
        return format_path(path), f"invalid value {err.instance!r}"
    if v == "type":
        return format_path(path), f"must be of type {err.validator_value}, got {err.instance!r}"
    if v == "minimum":
        return format_path(path), f"must be >= {err.validator_value}, got {err.instance!r}"
    if v == "enum":
        return format_path(
            path
        ), f"must be one of {', '.join(map(str, err.validator_value))}, got {err.instance!r}"
    if v == "minItems":
        return format_path(path), "must not be empty"
    if v == "pattern":
        return format_path(path), "may contain only letters, digits, '.', '_' and '-'"
    return format_path(path), err.message


def validate_suite(doc: Any, source: str) -> None:
    """Raise :class:`SplitbenchError` ``"<source>: <path>: <problem>"`` for the first schema error.

    Errors are ordered by path so the message is the same on every run.
    """
    if not isinstance(doc, dict):
        raise SplitbenchError(f"{source}: a suite must be a YAML mapping, got {type(doc).__name__}")
    errors = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        path, problem = _describe(errors[0])
        raise SplitbenchError(f"{source}: {path}: {problem}")
