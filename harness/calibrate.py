"""Apply a profile's measured decode speed once, when a scenario is resolved (netsim.calibration).

The figure used is the one for the scenario's own model when the profile has one (any weight
width: the efficiency it yields is the hardware's), else the profile's first figure — a measured
speed of another model still says how close this runtime gets to the bandwidth bound. The whole
model's decode totals come from a shape-mode device-only trace of the measured model at the
measured weight width, at the profile's compute/KV dtypes and KV cache, with ``CAL_CONTEXT``
tokens of context (published decode speeds are taken after a short prompt).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

CAL_CONTEXT = 128


def parse_key(key: str) -> tuple[str, int]:
    """``llama2-7b@4bit`` -> (llama2-7b, 4); a bare model name is 16-bit."""
    name, _, bits = key.partition("@")
    return name, int(bits.removesuffix("bit") or 16)


def figure_for(measured: dict[str, float], model_name: str) -> tuple[str, int, float] | None:
    """(model, weight bits, tok/s) of the figure that calibrates a profile for ``model_name``."""
    if not measured:
        return None
    keys = list(measured)
    same = [k for k in keys if k.split("@")[0] == model_name]
    key = same[0] if same else keys[0]
    return (*parse_key(key), float(measured[key]))


#: A trace job's arguments: model, method, prompt tokens, wire dtype, runtime (each side's dtypes, KV cache).
TraceArgs = tuple[str, dict[str, Any], int, str, dict[str, str]]


def calibration_trace(profile: Any, key: str) -> TraceArgs:
    """(model, method, prompt tokens, wire dtype, runtime) of the trace whose whole-model decode totals
    calibrate ``profile`` by the figure ``key`` (``model@Nbit``): a device-only trace of the measured
    model at the measured weight width, at the profile's dtypes and KV cache."""
    return _trace_args(key, profile.compute_dtype, profile.kv_dtype, profile.kv_cache)


def _trace_args(key: str, compute: str, kv: str, cache: str) -> TraceArgs:
    name, bits = parse_key(key)
    runtime = {"compute_dtype": compute, "kv_dtype": kv, "kv_cache": cache}
    return name, {"name": "device-only", "weight_bits": bits}, CAL_CONTEXT, "fp16", runtime


def calibrate_on(profile: Any, key: str, tok_s: float, totals: dict[str, Any] | None = None) -> Any:
    """``profile`` calibrated by the figure ``key`` (``model@Nbit``) = ``tok_s``; ``totals``: the
    ``whole_decode`` of its calibration_trace when the caller has built it, else it is built here."""
    from splitbench.netsim.calibration import calibrate

    name, bits = parse_key(key)
    if totals is None:
        totals = json.loads(_totals(name, bits, profile.compute_dtype, profile.kv_dtype, profile.kv_cache))
    return calibrate(profile, totals, tok_s, CAL_CONTEXT, f"{name}@{bits}bit {tok_s:g} tok/s")


@lru_cache(maxsize=64)
def _totals(model: str, bits: int, compute: str, kv: str, cache: str) -> str:
    import warnings

    from splitbench.models import build_trace

    name, method, prompt_tokens, act_dtype, rt = _trace_args(f"{model}@{bits}bit", compute, kv, cache)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tr = build_trace(name, method, prompt_tokens, act_dtype, **rt)
    return json.dumps(tr.meta["whole_decode"])


def calibration_figure(profile: Any, model_name: str) -> tuple[str, float] | None:
    """(``model@Nbit``, tok/s) of the figure that calibrates ``profile`` for ``model_name``, or None."""
    fig = figure_for(profile.measured_decode_tok_s, model_name)
    if fig is None:
        return None
    name, bits, tok_s = fig
    return f"{name}@{bits}bit", tok_s


def calibrated(profile: Any, model_name: str, totals: dict[str, Any] | None = None) -> Any:
    """``profile`` calibrated by its measured figure for ``model_name`` (netsim.calibration), or as it
    is when it has none; ``totals`` as in :func:`calibrate_on`."""
    fig = calibration_figure(profile, model_name)
    if fig is None:
        return profile
    return calibrate_on(profile, fig[0], fig[1], totals)
