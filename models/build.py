"""build_trace: run the real split model (shape or numeric mode) and assemble its ExecutionTrace.

Decode steps: the step is recorded at two context lengths (t1 = prompt_tokens and t1 + 1) from a KV
cache of that length — meta tensors in shape mode, a real unrecorded prefill in numeric mode — and
every per-step quantity is expressed as ``base + slope · t`` with t the number of tokens already in
the KV cache when the step starts (the first decode step after a prompt of P tokens has t = P).
``flops`` / ``kv_bytes`` / ``activation_bytes`` hold the value at t = 0, so ``flops_at(t)`` is exact.
The linearity is checked at a third point in the tests.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from splitbench import SplitbenchError
from splitbench.models import paradigms
from splitbench.models.catalog import ModelPreset, resolve_model
from splitbench.models.codec import ACT_DTYPES, KV_CACHES, per_side
from splitbench.models.methods import resolve_method, split_params
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.trace import TRACE_FORMAT_VERSION, Compute, ExecutionTrace, PhaseTrace, Transfer

# part of the trace cache key: change it whenever a change to models/ alters what a trace records
CODE_VERSION = "models-7"
_LINEAR = ("flops", "kv_bytes", "activation_bytes", "matvec_rows", "elementwise_bytes", "attention_flops")


def make_split(
    model: str | dict | ModelPreset,
    method: str | dict,
    mode: str = "shape",
    act_dtype: str = "fp16",
    seed: int = 0,
    compute_dtype: str | dict[str, str] | None = None,
    kv_dtype: str | dict[str, str] | None = None,
    kv_cache: str | dict[str, str] | None = None,
) -> SplitModel:
    if mode not in ("shape", "numeric"):
        raise SplitbenchError(f"mode: {mode!r} must be shape or numeric")
    if act_dtype not in ACT_DTYPES:
        raise SplitbenchError(f"act_dtype: {act_dtype!r} must be one of {', '.join(ACT_DTYPES)}")
    preset = resolve_model(model)
    m = resolve_method(method)
    cls, params = paradigms.get(m["name"]), split_params(m)
    cls.check_model(params, preset)
    return cls(preset, params, mode, act_dtype, seed, compute_dtype, kv_dtype, kv_cache)


def _phase(steps: list[dict[str, Any]], phase: str, tokens: int, context: int) -> PhaseTrace:
    out = []
    for s in steps:
        s = dict(s)
        s["deps"] = tuple(s["deps"])
        out.append(Compute(**s) if s.pop("kind") == "compute" else Transfer(**s))
    return PhaseTrace(phase=phase, tokens=tokens, context=context, steps=tuple(out))


def _linearize(a: list[dict[str, Any]], b: list[dict[str, Any]], t1: int, t2: int) -> list[dict[str, Any]]:
    if len(a) != len(b) or any(x["label"] != y["label"] for x, y in zip(a, b, strict=True)):
        raise SplitbenchError("internal: decode step structure changed with context length")
    out = []
    for x, y in zip(a, b, strict=True):
        x = dict(x)
        if x["kind"] == "compute":
            if x["weight_bytes"] != y["weight_bytes"] or x["kernels"] != y["kernels"]:
                raise SplitbenchError(f"internal: {x['label']} weight bytes/kernels depend on context")
            for f in _LINEAR:
                slope = (y[f] - x[f]) / (t2 - t1)
                x[f] = x[f] - slope * t1
                x[f + "_per_ctx"] = slope
        elif x["payload_bytes"] != y["payload_bytes"]:
            raise SplitbenchError(f"internal: payload of {x['label']} depends on context")
        out.append(x)
    return out


def build_trace(
    model: str | dict | ModelPreset,
    method: str | dict,
    prompt_tokens: int,
    act_dtype: str = "fp16",
    mode: str = "shape",
    seed: int = 0,
    compute_dtype: str | dict[str, str] | None = None,
    kv_dtype: str | dict[str, str] | None = None,
    kv_cache: str | dict[str, str] | None = None,
) -> ExecutionTrace:
    """The real split model run on the meta device (shape) or CPU tensors (numeric), recorded.

    ``act_dtype`` is the dtype of activations on the wire and changes nothing but payload bytes;
    ``compute_dtype`` / ``kv_dtype`` (one dtype or ``{device, cloud}``; default fp16) are each side's
    compute and KV-cache dtypes and ``kv_cache`` how its runtime appends to the cache (static, paged,
    dynamic; default static): netsim's profiles carry their runtime's."""
    if not isinstance(prompt_tokens, int) or prompt_tokens < 1:
        raise SplitbenchError(f"prompt_tokens: must be a positive integer, got {prompt_tokens!r}")
    split = make_split(model, method, mode, act_dtype, seed, compute_dtype, kv_dtype, kv_cache)
    m = resolve_method(method)
    P = prompt_tokens
    variants = split.decode_variants()
    split.reset()
    split.set_variant(type(split).prefill_variant(split.params))
    split.record(split.random_ids(P))
    prefill = _phase(split.last_steps, "prefill", P, 0)
    decode: dict[str, PhaseTrace] = {}
    for vname, v in variants.items():
        recs = []
        for t in (P, P + 1):
            split.fill_cache(t)
            split.set_variant(v)
            split.record(split.random_ids(1))
            recs.append(split.last_steps)
        decode[vname] = _phase(_linearize(recs[0], recs[1], P, P + 1), "decode", 1, P)
    split.set_variant(None)
    preset = split.preset
    meta = {
        "n_layers": preset.n_layers,
        "hidden_size": preset.hidden_size,
        "n_params": preset.n_params,
        "n_heads": preset.n_heads,
        "n_kv_heads": preset.n_kv_heads,
        "head_dim": preset.head_dim,
        "vocab_size": preset.vocab_size,
        "mode": mode,
        "code_version": CODE_VERSION,
        "kv_bytes_per_token": _kv_per_token(preset, split),
        "compute_dtype": split.compute_dtype,
        "kv_dtype": split.kv_dtype,
        "kv_cache": split.kv_cache,
    }
    meta.update(split.trace_meta())
    meta["whole_decode"] = _whole_decode(preset, split, decode, P, mode, seed)
    weights, weights_source = split.variant_weights()
    if weights_source is not None:
        meta["variant_weights_source"] = weights_source
    return ExecutionTrace(
        model=preset.name,
        method=m["name"],
        method_params=split_params(m),
        act_dtype=act_dtype,
        prompt_tokens=P,
        prefill=prefill,
        decode=decode,
        variant_weights=tuple(weights),
        device_memory_bytes=split.rec.memory_bytes("device"),
        cloud_memory_bytes=split.rec.memory_bytes("cloud"),
        data_leaving_device=split.data_leaving(),
        privacy=split.privacy(),
        meta=meta,
        version=TRACE_FORMAT_VERSION,
    )


def _side_totals(phase: PhaseTrace, side: str, weight_bits: int) -> dict[str, float]:
    cs = [s for s in phase.steps if s.kind == "compute" and s.side == side]
    return {
        "weight_bits": weight_bits,
        "flops": sum(s.flops for s in cs),
        "flops_per_ctx": sum(s.flops_per_ctx for s in cs),
        "bytes": sum(s.weight_bytes + s.activation_bytes + s.kv_bytes for s in cs),
        "bytes_per_ctx": sum(s.kv_bytes_per_ctx + s.activation_bytes_per_ctx for s in cs),
        "attention_flops": sum(s.attention_flops for s in cs),
        "attention_flops_per_ctx": sum(s.attention_flops_per_ctx for s in cs),
        "elementwise_bytes": sum(s.elementwise_bytes for s in cs),
        "elementwise_bytes_per_ctx": sum(s.elementwise_bytes_per_ctx for s in cs),
        "kernels": sum(s.kernels for s in cs),
    }


def _whole_decode(
    preset: ModelPreset,
    split: SplitModel,
    decode: dict[str, PhaseTrace],
    P: int,
    mode: str,
    seed: int,
) -> dict[str, float]:
    """Decode-step totals of the *unsplit* model (intercepts at t = 0 plus per-context slopes).

    Why: a measured tok/s (netsim's override) is a figure for the whole model on one node, so netsim
    needs the whole model's roofline in the same terms as the trace (the same kernels, bytes, FLOPs)
    to scale every trace of that model by one factor. A paradigm with a ``whole_model_side`` *is*
    the whole model on that side; any other borrows the cloud-only trace of the same model (16-bit
    weights) at this split's cloud dtypes and KV cache — the one this process built last for that
    key (a cloud-only trace records nothing on the device, so the device's runtime does not enter).
    """
    key = _whole_key(preset, P, split.compute_dtype, split.kv_dtype, split.kv_cache, mode, seed)
    side = split.whole_model_side
    if side is not None:
        totals = _side_totals(decode["default"], side, split.weight_bits()[side])
        if split.name == LENDER:
            _keep_whole(key, totals)
        return totals
    if key not in _CLOUD_ONLY:
        _build_cloud_only(*key)
    return dict(_CLOUD_ONLY[key])


#: The paradigm whose traces lend their whole-model decode totals to the other paradigms' traces of
#: the same model (_whole_decode).
LENDER = "cloud-only"

_WholeKey = tuple[str, int, tuple[str, str, str], str, int]
#: Whole-model decode totals of the cloud-only traces this process built or was lent, by _whole_key.
_CLOUD_ONLY: dict[_WholeKey, tuple[tuple[str, float], ...]] = {}


def _whole_key(
    preset: ModelPreset,
    P: int,
    compute_dtype: dict[str, str],
    kv_dtype: dict[str, str],
    kv_cache: dict[str, str],
    mode: str,
    seed: int,
) -> _WholeKey:
    """What a whole-model decode total depends on: the model, the prompt, the cloud's runtime."""
    return (
        json.dumps({"c": preset.config, "n": preset.name}, sort_keys=True),
        P,
        (compute_dtype["cloud"], kv_dtype["cloud"], kv_cache["cloud"]),
        mode,
        seed,
    )


def _keep_whole(key: _WholeKey, totals: dict[str, Any]) -> None:
    if len(_CLOUD_ONLY) >= 64:
        _CLOUD_ONLY.clear()
    _CLOUD_ONLY[key] = tuple(totals.items())


def whole_decode_role(
    model: str | dict | ModelPreset,
    method: str | dict,
    prompt_tokens: int,
    compute_dtype: str | dict[str, str] | None = None,
    kv_dtype: str | dict[str, str] | None = None,
    kv_cache: str | dict[str, str] | None = None,
) -> tuple[str | None, str]:
    """How a shape-mode trace (seed 0) comes by its ``meta["whole_decode"]``: ``"lends"`` (the
    cloud-only trace: other traces of its model borrow its totals), ``"borrows"`` (every paradigm
    without a ``whole_model_side``) or None (device-only: its own, lent to nobody); and the key that
    a borrower and the trace it borrows from share.

    Why: a process that builds a borrower without having built its lender builds the lender first
    (a second of work); a scheduler that knows the roles can hand it the built lender instead
    (:func:`lend_whole_decode`). Needs no torch."""
    preset = resolve_model(model)
    cls = paradigms.get(resolve_method(method)["name"])
    key = _whole_key(
        preset,
        prompt_tokens,
        per_side(compute_dtype, "compute_dtype"),
        per_side(kv_dtype, "kv_dtype"),
        per_side(kv_cache, "kv_cache", KV_CACHES, "static"),
        "shape",
        0,
    )
    role = "lends" if cls.name == LENDER else "borrows" if cls.whole_model_side is None else None
    return role, json.dumps(key)


def lend_whole_decode(model: str | dict | ModelPreset, trace: ExecutionTrace, seed: int = 0) -> None:
    """Keep the whole-model decode totals of ``trace``, a built cloud-only trace of ``model``, for the
    borrowing traces this process builds next: they take them as if this process had built it."""
    if trace.method != LENDER:
        raise SplitbenchError(f"internal: only {LENDER} traces lend whole-model totals, not {trace.method}")
    m = trace.meta
    key = _whole_key(resolve_model(model), trace.prompt_tokens, m["compute_dtype"], m["kv_dtype"],
                     m["kv_cache"], m["mode"], seed)
    _keep_whole(key, m["whole_decode"])


def _build_cloud_only(key: str, P: int, rt: tuple[str, str, str], mode: str, seed: int) -> None:
    blob = json.loads(key)
    preset = ModelPreset(name=blob["n"], config=blob["c"], source="whole-model reference")
    build_trace(
        preset, "cloud-only", P, "fp16", mode, seed, compute_dtype=rt[0], kv_dtype=rt[1], kv_cache=rt[2]
    )


def _kv_per_token(preset: ModelPreset, split: SplitModel) -> dict[str, int]:
    """KV bytes one context token adds on each side (netsim: memory at context t)."""
    from splitbench.models.codec import DTYPE_BYTES

    out = {"device": 0, "cloud": 0}
    for i in range(preset.n_layers):
        side = split.layer_side(i)
        out[side] += 2 * preset.n_kv_heads * preset.head_dim * DTYPE_BYTES[split.kv_dtype[side]]
    return out


def trace_cache_key(
    model: str | dict | ModelPreset,
    method: str | dict,
    prompt_tokens: int,
    act_dtype: str = "fp16",
    compute_dtype: str | dict[str, str] | None = None,
    kv_dtype: str | dict[str, str] | None = None,
    kv_cache: str | dict[str, str] | None = None,
) -> str:
    """Stable hash of everything a (shape-mode) trace depends on."""
    preset = resolve_model(model)
    blob = {
        "compute_dtype": per_side(compute_dtype, "compute_dtype"),
        "kv_dtype": per_side(kv_dtype, "kv_dtype"),
        "kv_cache": per_side(kv_cache, "kv_cache", KV_CACHES, "static"),
        "config": preset.config,
        "name": preset.name,
        "method": resolve_method(method),
        "prompt_tokens": prompt_tokens,
        "act_dtype": act_dtype,
        "trace_version": TRACE_FORMAT_VERSION,
        "code_version": CODE_VERSION,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:32]
