"""splitbench models: catalog, split paradigms, codecs/channel, and execution traces.

Public API: MODEL_PRESETS, ModelPreset, resolve_model, METHOD_PRESETS,
resolve_method, comparable_lora_split, build_trace, trace_cache_key, verify, VerifyRow, and the trace
types ExecutionTrace, PhaseTrace, Compute, Transfer.
"""

from splitbench import SplitbenchError
from splitbench.models.build import build_trace, make_split, trace_cache_key
from splitbench.models.catalog import MODEL_PRESETS, ModelPreset, resolve_model
from splitbench.models.codec import CODECS, get_codec
from splitbench.models.methods import METHOD_PRESETS, comparable_lora_split, resolve_method
from splitbench.models.trace import Compute, ExecutionTrace, PhaseTrace, Transfer
from splitbench.models.verify import VerifyRow, verify

__all__ = [
    "CODECS", "METHOD_PRESETS", "MODEL_PRESETS", "Compute", "ExecutionTrace", "ModelPreset", "PhaseTrace",
    "SplitbenchError", "Transfer", "VerifyRow", "build_trace", "comparable_lora_split", "get_codec",
    "make_split", "resolve_method", "resolve_model", "trace_cache_key", "verify",
]
