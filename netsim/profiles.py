"""Compute profiles: what one device or cloud node can do, each number with its source.

Step time = max(compute, bytes / (bandwidth · mem_eff)) + matvec rows · row cost
            + elementwise bytes / (bandwidth · mem_eff) + kernels · overhead,
compute   = (flops − attention flops) / (peak · compute_eff) + attention flops / (peak · compute_eff
            · attention_eff).
The max() is the roofline of the matmul-class work (weights, KV cache, matmul outputs). Two costs
run as kernels of their own and so add instead of hiding under it: the elementwise ops between the
matmuls (norms, rotary, activations, softmax, adds: memory-bound), and the fixed per-row cost of
matrix-*vector* products (``matvec_row_ns``, measured on ``host`` only) — in a decode step, where
everything is memory-bound, that is the same sum as before; in a prefill it is the one-position LM
head, which a max() with the prompt's GEMMs hid. (Profile.step_time, Profile.time_of.)
Decode is memory-bandwidth bound, so ``mem_bw_gbps`` and ``mem_eff`` matter most; efficiencies
depend on the runtime (llama.cpp, MLC, HF eager) and are stated per profile with their source.
A measured decode throughput (``measured_decode_tok_s``) calibrates the profile's efficiency for
every paradigm that runs on it (calibration.py; the harness applies it when it resolves a scenario).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from splitbench import SplitbenchError
from splitbench.models.codec import COMPUTE_DTYPES, KV_CACHES
from splitbench.models.presets import PresetFile, PresetTable
from splitbench.models.trace import Compute

I = "[I] estimate"  # noqa: E741

#: runtime -> (compute dtype, KV-cache dtype, KV-cache kind, source): what a profile computes in and
#: how it keeps its KV cache unless it says (models.codec.KV_CACHES: a dynamic cache is re-copied on
#: every append, a static or paged one is written in place).
RUNTIME_DEFAULTS: dict[str, tuple[str, str, str, str]] = {
    "hf-transformers": (
        "fp16",
        "fp16",
        "dynamic",
        "eager transformers with torch_dtype=float16 (the PrivateLoRA paper's A100 figures); its default "
        "DynamicCache appends with torch.cat, copying each layer's K and V every step "
        "(transformers cache_utils.DynamicLayer.update) [S]",
    ),
    "llama.cpp": (
        "fp16",
        "fp16",
        "static",
        "KV cache preallocated, type f16 by default (llama.cpp --cache-type-k/-v) [S]; activations fp16 "
        f"on GPU/Metal back ends {I}",
    ),
    "mlc": (
        "fp16",
        "fp16",
        "paged",
        "MLC LLM q4f16/q0f16 modes: fp16 activations and KV cache, in its paged KV cache (MLC LLM docs) [S]",
    ),
    "vllm": (
        "fp16",
        "fp16",
        "paged",
        "vLLM dtype=auto runs fp16 checkpoints in fp16, kv_cache_dtype=auto keeps the model dtype, "
        "PagedAttention writes each token's K/V into its block in place (vLLM docs; Kwon et al., "
        "SOSP 2023) [S]",
    ),
    "torch-cpu": (
        "fp32",
        "fp32",
        "static",
        "fp32 eager PyTorch on the CPU with a preallocated StaticCache (what `host` and validate time) [M]",
    ),
    "": ("fp16", "fp16", "static", f"fp16, cache written in place {I}"),
}


@dataclass(frozen=True)
class Profile:
    name: str
    mem_bw_gbps: float
    tflops: dict[str, float]  # dtype -> dense TFLOP/s
    mem_eff: float
    compute_eff: float
    kernel_overhead_us: float
    mem_gb: float
    measured_decode_tok_s: dict[str, float] = field(default_factory=dict)
    runtime: str = ""
    source: dict[str, str] | str = ""
    usable_mem_frac: float = 0.9  # share of mem_gb a model may use (OS, other apps)
    # Fixed cost per output row of a matrix-vector product (Compute.matvec_rows), on top of streaming
    # the row at mem_bw_gbps: a CPU GEMV reaches far less than the bandwidth on short rows. 0 unless
    # measured (``host``); the presets' efficiencies already fold in their runtime's behaviour.
    matvec_row_ns: float = 0.0
    # Fixed framework cost of one forward pass on this side (HF eager builds masks, position ids, cache
    # and output objects once per call), charged once per phase on each side that computes. 0 unless
    # measured (``host``): the presets' runtimes are compiled loops whose per-pass cost is in their
    # efficiencies.
    forward_overhead_us: float = 0.0
    # CPU time this side spends on each message it sends or receives (serialising, the socket calls,
    # waking for it), on the critical path of the step before a send and the step after a receive.
    # 0 unless measured (``host``): a serving runtime's network I/O runs beside its compute.
    message_overhead_us: float = 0.0
    # Rate of attention's activation-by-activation matmuls (Compute.attention_flops) relative to the
    # dense GEMM rate peak · compute_eff. 1.0 unless measured (``host``: small-K batched products).
    attention_eff: float = 1.0
    # SoC power of a device (netsim/energy.py): computing the prefill, a decode step, and awake
    # waiting for the network; None: no power figures for this profile.
    prefill_w: float | None = None
    decode_w: float | None = None
    wait_w: float | None = None
    # The dtypes this side computes in and keeps its KV cache in, and how its runtime appends to the
    # cache; "" = the runtime's default (RUNTIME_DEFAULTS). Independent of the wire's act_dtype.
    compute_dtype: str = ""
    kv_dtype: str = ""
    kv_cache: str = ""
    # Which measured speed set this profile's efficiency (netsim.calibration); "" = none applied.
    calibration: str = ""

    def __post_init__(self) -> None:
        default = RUNTIME_DEFAULTS.get(self.runtime, RUNTIME_DEFAULTS[""])
        filled = []
        for f, v in zip(("compute_dtype", "kv_dtype", "kv_cache"), default, strict=False):
            if not getattr(self, f):
                object.__setattr__(self, f, v)
                filled.append(f)
        if filled and isinstance(self.source, dict):
            src = dict(self.source)
            for f in filled:
                src.setdefault(f, f"default of the {self.runtime or 'unnamed'} runtime: {default[3]}")
            object.__setattr__(self, "source", src)

    def __hash__(self) -> int:
        return hash(json.dumps(asdict(self), sort_keys=True))

    def peak_flops(self, dtype: str) -> float:
        t = self.tflops.get(dtype)
        if t is None:  # fall back to the closest thing we know: fp16, then anything
            t = self.tflops.get("fp16") or max(self.tflops.values())
        return t * 1e12

    def step_time(
        self,
        flops: Any,
        mem_bytes: Any,
        kernels: Any,
        dtype: str = "fp16",
        matvec_rows: Any = 0.0,
        elementwise_bytes: Any = 0.0,
        attention_flops: Any = 0.0,
    ) -> Any:
        """Seconds of one compute step (module docstring); floats or numpy arrays, elementwise."""
        bw = self.mem_bw_gbps * 1e9 * self.mem_eff
        rate = self.peak_flops(dtype) * self.compute_eff
        tc = (flops - attention_flops) / rate + attention_flops / (rate * self.attention_eff)
        serial = matvec_rows * self.matvec_row_ns * 1e-9 + elementwise_bytes / bw
        return np.maximum(tc, mem_bytes / bw) + serial + kernels * self.kernel_overhead_us * 1e-6

    def time_of(self, step: Compute, context: Any) -> Any:
        """Seconds of a trace's compute step at ``context`` tokens of KV cache (a number or an array)."""
        return self.step_time(
            step.flops_at(context),
            step.memory_bytes_at(context),
            step.kernels,
            step.dtype,
            step.matvec_rows_at(context),
            step.elementwise_bytes_at(context),
            step.attention_flops_at(context),
        )

    def usable_bytes(self) -> float:
        return self.mem_gb * 1e9 * self.usable_mem_frac

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> Profile:
        for f in ("mem_bw_gbps", "mem_eff", "compute_eff", "mem_gb", "usable_mem_frac"):
            v = getattr(self, f)
            if not isinstance(v, int | float) or not v > 0:
                raise SplitbenchError(f"profile.{f}: must be a positive number, got {v!r}")
        for f in ("mem_eff", "compute_eff", "usable_mem_frac"):
            if getattr(self, f) > 1:
                raise SplitbenchError(f"profile.{f}: must be in (0, 1], got {getattr(self, f)!r}")
        if not isinstance(self.matvec_row_ns, int | float) or self.matvec_row_ns < 0:
            raise SplitbenchError(f"profile.matvec_row_ns: must be >= 0, got {self.matvec_row_ns!r}")
        if isinstance(self.attention_eff, bool) or not isinstance(self.attention_eff, int | float) \
                or not 0 < self.attention_eff <= 1:
            raise SplitbenchError(f"profile.attention_eff: must be in (0, 1], got {self.attention_eff!r}")
        for f in ("kernel_overhead_us", "forward_overhead_us", "message_overhead_us"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise SplitbenchError(f"profile.{f}: must be >= 0, got {v!r}")
        if (
            not isinstance(self.tflops, dict)
            or not self.tflops
            or any(not isinstance(v, int | float) or v <= 0 for v in self.tflops.values())
        ):
            raise SplitbenchError("profile.tflops: must map dtype -> positive TFLOP/s")
        for f in ("prefill_w", "decode_w", "wait_w"):
            v = getattr(self, f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
                raise SplitbenchError(f"profile.{f}: must be a number of watts >= 0, got {v!r}")
        for f in ("compute_dtype", "kv_dtype"):
            if getattr(self, f) not in COMPUTE_DTYPES:
                raise SplitbenchError(
                    f"profile.{f}: {getattr(self, f)!r} must be one of {', '.join(COMPUTE_DTYPES)}"
                )
        if self.kv_cache not in KV_CACHES:
            raise SplitbenchError(
                f"profile.kv_cache: {self.kv_cache!r} must be one of {', '.join(KV_CACHES)}"
            )
        if any(not isinstance(v, int | float) or v <= 0 for v in self.measured_decode_tok_s.values()):
            raise SplitbenchError("profile.measured_decode_tok_s: values must be positive tok/s")
        return self


def _build(pf: PresetFile) -> Profile:
    spec = {**pf.fields, "name": pf.name}
    source = spec.pop("source")
    if "base" in spec:
        overridden = [k for k in spec if k not in ("base", "name")]
        if isinstance(source, str):
            source = {k: source for k in overridden}
        missing = [k for k in overridden if k not in source and not k.endswith("_tflops")]
        if missing:
            raise SplitbenchError(f"source.{missing[0]}: required for each field the file sets")
    spec["source"] = source
    return resolve_profile(spec)


def _host() -> Profile:
    from .host import host_profile  # calibrates this machine: only when asked for

    return host_profile()


#: The profile presets: ``netsim/presets/profiles/<name>.yaml``, the active user presets, and
#: ``host``, which is calibrated only when first looked up.
PROFILE_PRESETS: PresetTable[Profile] = PresetTable(
    "profiles", "profile", Path(__file__).parent / "presets" / "profiles", _build, lazy={"host": _host}
)


def profile_names() -> list[str]:
    return list(PROFILE_PRESETS)


_FIELDS = {f.name for f in fields(Profile)}

#: dtypes a ``<dtype>_tflops`` shorthand may name.
TFLOPS_DTYPES = ("fp32", "fp16", "bf16", "int8", "int4")


def _fold_dtype_tflops(d: dict[str, Any], base_name: Any) -> dict[str, Any]:
    """``fp16_tflops: 7`` (the suite shorthand) is ``tflops: {fp16: 7}`` merged over the base's table."""
    short = {k: d.pop(k) for k in [k for k in d if k.endswith("_tflops")]}
    if not short:
        return d
    if isinstance(base_name, str) and base_name in PROFILE_PRESETS and "tflops" not in d:
        table = dict(PROFILE_PRESETS[base_name].tflops)
    else:
        table = dict(d.get("tflops") or {})
    for k, v in short.items():
        dtype = k.removesuffix("_tflops")
        if dtype not in TFLOPS_DTYPES:
            raise SplitbenchError(f"profile.{k}: unknown dtype {dtype!r} (known: {', '.join(TFLOPS_DTYPES)})")
        table[dtype] = v
    d["tflops"] = table
    return d


def resolve_profile(spec: str | dict[str, Any] | Profile) -> Profile:
    """A preset name (or ``host``), ``{"base": name, **overrides}``, a full mapping, or a Profile."""
    if isinstance(spec, Profile):
        return spec.validate()
    if isinstance(spec, str):
        if spec not in PROFILE_PRESETS:
            raise PROFILE_PRESETS.unknown(spec)
        return PROFILE_PRESETS[spec]
    if not isinstance(spec, dict):
        raise SplitbenchError(f"profile: expected a preset name or a mapping, got {type(spec).__name__}")
    d = _fold_dtype_tflops(dict(spec), spec.get("base"))
    unknown = sorted(set(d) - _FIELDS - {"base"})
    if unknown:
        raise SplitbenchError(f"profile: unknown key {unknown[0]!r}")
    base_name = d.pop("base", None)
    if base_name is not None:
        base = resolve_profile(base_name)
        if d and (("source" not in d) or isinstance(d["source"], dict)):
            # keep the base's sources; overridden fields get the caller's source or "user override"
            given = d.pop("source", None) or {}
            src = dict(base.source) if isinstance(base.source, dict) else {"profile": base.source}
            src.update({k: "user override" for k in d if k != "name"})
            src.update(given)
            d["source"] = src
        if "name" not in d:
            d["name"] = f"{base.name}*" if d else base.name
        out = replace(base, **d)
    else:
        missing = [
            k
            for k in (
                "name",
                "mem_bw_gbps",
                "tflops",
                "mem_eff",
                "compute_eff",
                "kernel_overhead_us",
                "mem_gb",
            )
            if k not in d
        ]
        if missing:
            raise SplitbenchError(f"profile.{missing[0]}: required (or give base: <preset>)")
        out = Profile(**d)
    return out.validate()
