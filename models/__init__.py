"""splitbench models: catalog, split paradigms, codecs/channel, and execution traces.

Public API: MODEL_PRESETS, ModelPreset, resolve_model, resolve_method, comparable_lora_split,
build_trace, make_split, trace_cache_key, verify, VerifyRow, CODECS, get_codec, the trace types
ExecutionTrace, PhaseTrace, Compute, Transfer, and the paradigm registry (``models.paradigms``).
The names load on first use, so a light module of this package (``models.codec``,
``models.paradigms.params``, ``models.presets``) is importable without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from splitbench import SplitbenchError

_WHERE = {
    "build_trace": "build", "make_split": "build", "trace_cache_key": "build",
    "MODEL_PRESETS": "catalog", "ModelPreset": "catalog", "resolve_model": "catalog",
    "CODECS": "codec", "get_codec": "codec",
    "comparable_lora_split": "methods", "resolve_method": "methods",
    "Compute": "trace", "ExecutionTrace": "trace", "PhaseTrace": "trace", "Transfer": "trace",
    "VerifyRow": "verify", "verify": "verify",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # also replaces the submodule attribute of the same name (verify)
    # Caveat: once the submodule ``models.verify`` is imported by name, the package attribute
    # ``verify`` is that module and this hook is not asked again; code takes the function from
    # ``splitbench.models.verify`` itself.
    return value


__all__ = ["SplitbenchError", *_WHERE]
