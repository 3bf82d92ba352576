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
A measured decode throughput (``measured_decode_tok_s``) overrides the roofline: see replay.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from splitbench import SplitbenchError
from splitbench.models.trace import Compute

I = "[I] estimate"  # noqa: E741


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
    # Rate of attention's activation-by-activation matmuls (Compute.attention_flops) relative to the
    # dense GEMM rate peak · compute_eff. 1.0 unless measured (``host``: small-K batched products).
    attention_eff: float = 1.0

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
        for f in ("kernel_overhead_us", "forward_overhead_us"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise SplitbenchError(f"profile.{f}: must be >= 0, got {v!r}")
        if (
            not isinstance(self.tflops, dict)
            or not self.tflops
            or any(not isinstance(v, int | float) or v <= 0 for v in self.tflops.values())
        ):
            raise SplitbenchError("profile.tflops: must map dtype -> positive TFLOP/s")
        if any(not isinstance(v, int | float) or v <= 0 for v in self.measured_decode_tok_s.values()):
            raise SplitbenchError("profile.measured_decode_tok_s: values must be positive tok/s")
        return self


def _p(
    name: str,
    bw: float,
    tflops: dict[str, float],
    mem_eff: float,
    compute_eff: float,
    overhead_us: float,
    mem_gb: float,
    runtime: str,
    source: dict[str, str],
    measured: dict[str, float] | None = None,
    usable: float = 0.9,
) -> Profile:
    return Profile(
        name, bw, tflops, mem_eff, compute_eff, overhead_us, mem_gb, measured or {}, runtime, source, usable
    )


_PHONE_MEM = f"usable memory 50% of RAM (OS and apps keep the rest) {I}"
_EFF_DC = (
    "measured decode reaches 25-55% of the bandwidth bound on datacenter GPUs with HF eager (REFERENCE.md)"
)
_EFF_APPLE = "65-80% of the bandwidth bound on Apple and x86 CPUs with llama.cpp (REFERENCE.md)"
_EFF_JET = "85-93% with MLC on Jetson (REFERENCE.md)"
_EFF_PHONE = f"phone runtimes (MLC/llama.cpp) ~60% of bandwidth bound {I}"
_CE = f"compute efficiency {I}"
_OV_GPU = f"~10 us per kernel launch (CUDA, eager) {I}"
_OV_CPU = f"~5 us per op (CPU/Metal runtime) {I}"
_OV_MLC = f"~3 us per kernel: MLC compiles fused kernels and replays CUDA graphs {I}"

_STATIC: dict[str, Profile] = {
    p.name: p
    for p in [
        # ---- phones
        _p(
            "iphone13-pro-max",
            42.7,
            {"fp16": 1.4, "fp32": 0.7},
            0.6,
            0.4,
            20,
            6,
            "mlc",
            {
                "mem_bw_gbps": "PrivateLoRA paper (arXiv 2311.14030) [S]",
                "tflops": f"A15 GPU ~1.4 TFLOPS fp16 {I}",
                "mem_eff": _EFF_PHONE,
                "compute_eff": _CE,
                "kernel_overhead_us": f"~20 us per op on mobile GPU {I}",
                "mem_gb": f"6 GB RAM (Apple) [S]; {_PHONE_MEM}",
                "measured_decode_tok_s": (
                    "LLaMA-2-7B 4-bit on a flagship phone 8.1 tok/s (PrivateLoRA paper) [M]"
                ),
            },
            {"llama2-7b@4bit": 8.1},
            usable=0.5,
        ),
        _p(
            "iphone15-pro",
            51.2,
            {"fp16": 2.1, "fp32": 1.05},
            0.6,
            0.4,
            20,
            8,
            "mlc",
            {
                "mem_bw_gbps": f"LPDDR5-6400 64-bit (A17 Pro) {I}",
                "tflops": f"A17 Pro GPU ~2.1 TFLOPS fp16 {I}",
                "mem_eff": _EFF_PHONE,
                "compute_eff": _CE,
                "kernel_overhead_us": f"~20 us per op {I}",
                "mem_gb": f"8 GB RAM (Apple) [S]; {_PHONE_MEM}",
            },
            usable=0.5,
        ),
        _p(
            "snapdragon-8gen2",
            67.0,
            {"fp16": 4.4, "fp32": 2.2},
            0.6,
            0.3,
            20,
            12,
            "mlc",
            {
                "mem_bw_gbps": "LPDDR5X-4200 64-bit, 67 GB/s (Qualcomm spec) [S]",
                "tflops": f"Adreno 740 ~4.4 TFLOPS fp16 {I}",
                "mem_eff": _EFF_PHONE,
                "compute_eff": _CE,
                "kernel_overhead_us": f"~20 us per op {I}",
                "mem_gb": f"12 GB RAM typical flagship {I}; {_PHONE_MEM}",
            },
            usable=0.5,
        ),
        _p(
            "snapdragon-8gen3",
            76.8,
            {"fp16": 5.6, "fp32": 2.8},
            0.6,
            0.3,
            20,
            16,
            "mlc",
            {
                "mem_bw_gbps": "LPDDR5X-4800, 76.8 GB/s (vendor) [S]",
                "tflops": f"Adreno 750 ~5.6 TFLOPS fp16 {I}",
                "mem_eff": _EFF_PHONE,
                "compute_eff": _CE,
                "kernel_overhead_us": f"~20 us per op {I}",
                "mem_gb": f"16 GB RAM typical flagship {I}; {_PHONE_MEM}",
            },
            usable=0.5,
        ),
        # ---- Apple silicon laptops/desktops (llama.cpp Metal)
        _p(
            "m1-max",
            400,
            {"fp16": 10.4, "fp32": 10.4},
            0.7,
            0.5,
            5,
            64,
            "llama.cpp",
            {
                "mem_bw_gbps": "Apple M1 Max spec 400 GB/s [S]",
                "tflops": "32-core GPU 10.4 TFLOPS fp32 (Apple) [S]",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": "64 GB unified memory config (Apple) [S]",
            },
        ),
        _p(
            "m2",
            100,
            {"fp16": 3.6, "fp32": 3.6},
            0.7,
            0.5,
            5,
            16,
            "llama.cpp",
            {
                "mem_bw_gbps": "Apple M2 100 GB/s [S]",
                "tflops": "3.6 TFLOPS fp32 GPU (Apple) [S]",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": "16 GB unified memory config (Apple) [S]",
            },
        ),
        _p(
            "m2-pro",
            200,
            {"fp16": 6.8, "fp32": 6.8},
            0.7,
            0.5,
            5,
            32,
            "llama.cpp",
            {
                "mem_bw_gbps": "Apple M2 Pro 200 GB/s [S]",
                "tflops": "19-core GPU 6.8 TFLOPS fp32 (Apple) [S]",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": "32 GB unified memory config (Apple) [S]",
            },
        ),
        _p(
            "m2-ultra",
            800,
            {"fp16": 27.2, "fp32": 27.2},
            0.7,
            0.5,
            5,
            192,
            "llama.cpp",
            {
                "mem_bw_gbps": "Apple M2 Ultra 800 GB/s [S]",
                "tflops": "76-core GPU 27.2 TFLOPS fp32 (Apple) [S]",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": "192 GB unified memory (Apple) [S]",
                "measured_decode_tok_s": (
                    "llama.cpp LLaMA-2-7B f16 40.7 tok/s (XiongjieDai/GPU-Benchmarks-on-LLM-Inference) [M]"
                ),
            },
            {"llama2-7b@16bit": 40.7},
        ),
        _p(
            "m3",
            100,
            {"fp16": 4.1, "fp32": 4.1},
            0.7,
            0.5,
            5,
            16,
            "llama.cpp",
            {
                "mem_bw_gbps": "Apple M3 100 GB/s [S]",
                "tflops": f"10-core GPU ~4.1 TFLOPS fp32 {I}",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": "16 GB unified memory config (Apple) [S]",
            },
        ),
        # ---- Jetson (MLC)
        _p(
            "jetson-orin-nano",
            68,
            {"fp16": 10, "int8": 20},
            0.88,
            0.5,
            3,
            8,
            "mlc",
            {
                "mem_bw_gbps": "NVIDIA Jetson Orin Nano 8GB 68 GB/s [S]",
                "tflops": f"10 TFLOPS fp16 {I}",
                "mem_eff": _EFF_JET,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_MLC,
                "mem_gb": "8 GB (NVIDIA) [S]",
                "measured_decode_tok_s": "MLC Llama-3.1-8B INT4 14.0 tok/s (NVIDIA Jetson AI Lab) [M]",
            },
            {"llama3.1-8b@4bit": 14.0},
        ),
        _p(
            "jetson-orin-nano-super",
            102,
            {"fp16": 17, "int8": 34},
            0.88,
            0.5,
            3,
            8,
            "mlc",
            {
                "mem_bw_gbps": "NVIDIA Jetson Orin Nano Super 102 GB/s [S]",
                "tflops": f"17 TFLOPS fp16 {I}",
                "mem_eff": _EFF_JET,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_MLC,
                "mem_gb": "8 GB (NVIDIA) [S]",
            },
        ),
        _p(
            "jetson-orin-nx",
            102.4,
            {"fp16": 25, "int8": 50},
            0.88,
            0.5,
            3,
            16,
            "mlc",
            {
                "mem_bw_gbps": "NVIDIA Jetson Orin NX 16GB 102.4 GB/s [S]",
                "tflops": f"~25 TFLOPS fp16 dense (100 INT8 TOPS sparse, NVIDIA) {I}",
                "mem_eff": _EFF_JET,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_MLC,
                "mem_gb": "16 GB (NVIDIA) [S]",
            },
        ),
        _p(
            "jetson-agx-orin",
            204.8,
            {"fp16": 42.5, "int8": 85},
            0.88,
            0.5,
            3,
            64,
            "mlc",
            {
                "mem_bw_gbps": "NVIDIA Jetson AGX Orin 64GB 204.8 GB/s [S]",
                "tflops": f"~42.5 TFLOPS fp16 dense (275 INT8 TOPS sparse, NVIDIA) {I}",
                "mem_eff": _EFF_JET,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_MLC,
                "mem_gb": "64 GB (NVIDIA) [S]",
            },
        ),
        # ---- CPUs
        _p(
            "rpi5",
            17,
            {"fp32": 0.15, "fp16": 0.15},
            0.7,
            0.5,
            5,
            8,
            "llama.cpp",
            {
                "mem_bw_gbps": f"LPDDR4X-4267 32-bit {I}",
                "tflops": f"0.15 fp32 CPU {I}",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": "8 GB model (Raspberry Pi) [S]",
            },
        ),
        _p(
            "i9-13900k",
            102,
            {"fp32": 0.85, "fp16": 0.85},
            0.75,
            0.5,
            5,
            64,
            "llama.cpp",
            {
                "mem_bw_gbps": f"DDR5-6400 dual channel {I}",
                "tflops": f"~0.85 TFLOPS fp32 AVX2 {I}",
                "mem_eff": _EFF_APPLE,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_CPU,
                "mem_gb": f"64 GB {I}",
                "measured_decode_tok_s": "llama.cpp 7B q4_0 8 threads 18.3 tok/s (llama.cpp issue 34) [M]",
            },
            {"llama2-7b@4bit": 18.3},
        ),
        # ---- GPUs
        _p(
            "rtx-3090",
            936,
            {"fp16": 71, "fp32": 35.6},
            0.55,
            0.5,
            10,
            24,
            "llama.cpp",
            {
                "mem_bw_gbps": "NVIDIA RTX 3090 spec 936 GB/s [S]",
                "tflops": "71 TFLOPS fp16 tensor dense, 35.6 fp32 (NVIDIA Ampere whitepaper) [S]",
                "mem_eff": f"upper end of 25-55% (REFERENCE.md) {I}",
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_GPU,
                "mem_gb": "24 GB GDDR6X (NVIDIA) [S]",
            },
        ),
        _p(
            "rtx-4090",
            1008,
            {"fp16": 165, "fp32": 82.6},
            0.55,
            0.5,
            10,
            24,
            "llama.cpp",
            {
                "mem_bw_gbps": "NVIDIA RTX 4090 spec 1008 GB/s [S]",
                "tflops": "165 TFLOPS fp16 tensor dense, 82.6 fp32 (NVIDIA Ada whitepaper) [S]",
                "mem_eff": f"upper end of 25-55% (REFERENCE.md) {I}",
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_GPU,
                "mem_gb": "24 GB GDDR6X (NVIDIA) [S]",
            },
        ),
        _p(
            "a100-40g",
            1555,
            {"fp16": 312, "bf16": 312, "fp32": 19.5},
            0.35,
            0.5,
            10,
            40,
            "hf-transformers",
            {
                "mem_bw_gbps": "NVIDIA A100 40GB SXM spec [S]",
                "tflops": "NVIDIA spec 312 fp16 dense [S]",
                "mem_eff": _EFF_DC,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_GPU,
                "mem_gb": "40 GB (NVIDIA) [S]",
            },
        ),
        _p(
            "a100-80g",
            2039,
            {"fp16": 312, "bf16": 312, "fp32": 19.5},
            0.35,
            0.5,
            10,
            80,
            "hf-transformers",
            {
                "mem_bw_gbps": "NVIDIA A100 80GB SXM spec 2039 GB/s (PCIe 1935; the paper uses 1935) [S]",
                "tflops": "NVIDIA spec 312 fp16 dense [S]",
                "mem_eff": _EFF_DC,
                "compute_eff": _CE,
                "kernel_overhead_us": _OV_GPU,
                "mem_gb": "80 GB (NVIDIA) [S]",
                "measured_decode_tok_s": "HF transformers batch 1 decode on one A100 80GB: LLaMA-2-7B 37.2, "
                "13B 27.8, 30B 16.7 tok/s (PrivateLoRA paper) [M]",
            },
            {"llama2-7b@16bit": 37.2, "llama2-13b@16bit": 27.8, "llama-30b@16bit": 16.7},
        ),
        _p(
            "a100-80g-llamacpp",
            2039,
            {"fp16": 312, "bf16": 312, "fp32": 19.5},
            0.5,
            0.5,
            2,
            80,
            "llama.cpp",
            {
                "mem_bw_gbps": "NVIDIA A100 80GB SXM spec 2039 GB/s [S]",
                "tflops": "NVIDIA spec 312 fp16 dense [S]",
                "mem_eff": f"upper end of the 25-55% datacenter-GPU range for llama.cpp (REFERENCE.md) {I}",
                "compute_eff": _CE,
                "kernel_overhead_us": f"~2 us per kernel: llama.cpp replays its CUDA graph {I}",
                "mem_gb": "80 GB (NVIDIA) [S]",
            },
        ),
        _p(
            "h100-sxm",
            3350,
            {"fp16": 989, "bf16": 989, "fp8": 1979, "fp32": 67},
            0.4,
            0.5,
            8,
            80,
            "hf-transformers",
            {
                "mem_bw_gbps": "NVIDIA H100 SXM spec 3350 GB/s [S]",
                "tflops": "989 fp16 dense (1979 is the sparse figure), NVIDIA spec [S]",
                "mem_eff": _EFF_DC,
                "compute_eff": _CE,
                "kernel_overhead_us": f"~8 us per kernel launch {I}",
                "mem_gb": "80 GB (NVIDIA) [S]",
            },
        ),
        _p(
            "h100-pcie",
            2000,
            {"fp16": 756, "bf16": 756, "fp8": 1513, "fp32": 51},
            0.4,
            0.5,
            8,
            80,
            "hf-transformers",
            {
                "mem_bw_gbps": "NVIDIA H100 PCIe spec 2000 GB/s [S]",
                "tflops": "756 fp16 dense, NVIDIA spec [S]",
                "mem_eff": _EFF_DC,
                "compute_eff": _CE,
                "kernel_overhead_us": f"~8 us per kernel launch {I}",
                "mem_gb": "80 GB (NVIDIA) [S]",
            },
        ),
    ]
}

_FIELDS = {f.name for f in fields(Profile)}


class _Presets(Mapping[str, Profile]):
    """The static presets plus ``host``, which is calibrated only when first looked up."""

    def __getitem__(self, key: str) -> Profile:
        if key == "host":
            from .host import host_profile  # calibrates this machine: only when asked for

            return host_profile()
        return _STATIC[key]

    def __iter__(self) -> Iterator[str]:
        return iter([*_STATIC, "host"])

    def __len__(self) -> int:
        return len(_STATIC) + 1


PROFILE_PRESETS: Mapping[str, Profile] = _Presets()


def profile_names() -> list[str]:
    return list(PROFILE_PRESETS)


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
            raise SplitbenchError(f"profile: unknown preset {spec!r} (known: {', '.join(profile_names())})")
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
