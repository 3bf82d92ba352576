"""The ``host`` profile: this machine, measured the way an eager PyTorch forward pass uses it.

Why a calibrated profile at all: ``splitbench validate`` checks the compute model against real
forward passes timed here, and the only honest way to do that is to predict them from numbers that
were measured *independently* of those passes — microbenchmarks of the operations a transformer runs
(GEMMs, matrix-vector products, attention's batched products) and a probe model that is nothing but
dispatch overhead — never from the validated passes themselves.

What is measured (``calibrate_host``), each at torch's current thread count:

- ``fp32_tflops``: ``F.linear`` at prefill shapes, (128 x d) @ (d x d | 4d) for d = 768, 1536;
- ``attention_eff``: the rate of attention-shaped batched products (8 heads, 128 x 96 @ 96 x 128 and
  back) relative to that GEMM rate, at most 1 (on this project's 2-core EPYC VM they run at about
  the GEMM rate, 87-96 GFLOP/s, so it comes out 1.0);
- ``mem_bw_gbps`` and ``matvec_row_ns``: one token through ``F.linear`` over weights filling a buffer
  three times a 32 MiB last-level cache, at row lengths 384…6144; the time per call fitted as
  bytes / bandwidth + rows · row cost. A decode step is such products, and short rows reach far less
  than the streaming rate;
- ``kernel_overhead_us`` and ``forward_overhead_us``: a least-squares line through the decode-step
  time of an all-overhead transformers Llama (d = 32) at 1, 2, 4 and 8 layers against the kernels its
  trace counts — the slope is what each dispatched kernel costs, the intercept what one forward pass
  costs whatever its size (masks, position ids, cache and output objects). The probe runs with its
  caches cold, as dispatch runs inside a model whose weights exceed the last-level cache: before
  each decoder layer and the final norm, a hook streams a buffer the size of that cache (its time is
  measured and taken out of the step). Timed hot instead, in a loop that keeps the interpreter's and
  the dispatcher's working set in cache, the probe gave 9-23 us per kernel here where the cold probe
  gives 27-37 us, and the hot figures put the d=512 model's decode step 18-28% low against real
  steps timed in the same minute (the cold ones -9…+1%).

- ``message_overhead_us``: what one end of a message costs a side — serialising with the wire
  codec, the socket calls, and waking for it. A ping-pong over loopback TCP (TCP_NODELAY) with an
  echo process on another core that answers ``MESSAGE_WAIT_S`` after a message arrives (it spins,
  so it is on time): this side encodes a (1, 1, 384) fp32 tensor, sends it, blocks until the echo
  comes, and decodes it, caches cold as in the probe (the stream before each round is timed apart).
  A round less the wait is four message ends, two of them waking a process that slept. On this
  project's VM a process blocked on a socket wakes 0.1-0.6 ms after the data arrives, more the
  longer it slept (a 10 ms wait is the order of a link's round trip or a layer's compute); timed
  hot and without the wait, the same round costs a quarter to a half as much.

None of the shapes is a width ``validate`` checks (d = 256, 512, 1024, 2048; head_dim 64 and 128).
The result is cached as JSON (``$SPLITBENCH_CACHE`` or ``~/.cache/splitbench/host.json``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

from .profiles import Profile

CAL_GEMM_TOKENS = 128
CAL_GEMM_WIDTHS = (768, 1536)
CAL_ATTN_HEADS, CAL_ATTN_HEAD_DIM = 8, 96
CAL_MATVEC_BYTES = 96 * 2**20
#: Row lengths of the matrix-vector fit. 384 anchors the short-row end: without it the fit extrapolated
#: from 768 down to a d=256 model's rows, and the per-row cost there swung 131-220 ns between
#: calibrations (136-181 ns with it).
CAL_MATVEC_ROWS = (384, 768, 1536, 3072, 6144)

#: The overhead probe: all dispatch (its bytes and FLOPs are well under 1% of a step), at several depths.
PROBE_MODEL: dict[str, Any] = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                               "num_key_value_heads": 2, "vocab_size": 64}
PROBE_LAYERS = (1, 2, 4, 8)
PROBE_PROMPT = 16
#: Decode steps timed per probe depth. With 24, four calibrations on a quiet core put the d=512
#: decode step's dispatch cost (197 kernels + one forward) at 7.0-9.2 ms; with 64, at 8.2-8.4 ms.
PROBE_STEPS = 64
#: Bytes each eviction hook streams when the last-level cache's size cannot be read.
DEFAULT_LLC_BYTES = 32 * 2**20

#: Keys a cached calibration must have (an older cache without one is measured again).
CAL_KEYS = ("fp32_tflops", "attention_eff", "mem_bw_gbps", "matvec_row_ns", "kernel_overhead_us",
            "forward_overhead_us", "message_overhead_us")


def _cache_dir() -> Path:
    env = os.environ.get("SPLITBENCH_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "splitbench"


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _best_time(fn: Callable[[], Any], seconds: float, min_reps: int = 3,
               pick: Callable[[list[float]], float] = min) -> float:
    """Fastest seconds per call after a warm-up call, over ``seconds`` or ``min_reps`` calls.

    The fastest, not the median: on a shared machine other tenants only ever *add* time, by an amount
    that changes from second to second (this VM: per-call times of the same GEMM from 42 to 82 GFLOP/s
    within a minute). The best call is the machine's own speed; a median is that plus whatever the
    neighbours did meanwhile, and ``validate`` found calibration medians and pass medians taken
    seconds apart disagreeing by up to 48% for that reason alone. The passes ``validate`` compares
    against are best-of too."""
    fn()
    times: list[float] = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds or len(times) < min_reps:
        t1 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t1)
    return pick(times)


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of ys against xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise SplitbenchError("internal: a line fit needs at least two distinct x values")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


# ------------------------------------------------------------------ real eager forward passes
def build_eager(preset: Any, prompt_tokens: int, seed: int = 0) -> tuple[Any, Any]:
    """The fp32 CPU transformers model of ``preset`` (random weights) and a random prompt."""
    import torch

    from splitbench.models.catalog import build_model

    model = build_model(preset, "cpu", torch.float32, seed)
    g = torch.Generator().manual_seed(seed)
    return model, torch.randint(0, preset.vocab_size, (1, prompt_tokens), generator=g)


def llc_bytes() -> int:
    """Size of this machine's last-level cache (sysfs), or DEFAULT_LLC_BYTES."""
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    best = 0
    for idx in base.glob("index*"):
        try:
            text = (idx / "size").read_text().strip()
            level = int((idx / "level").read_text())
        except (OSError, ValueError):
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        size = int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text or 0)
        if level >= 2 and size > best:
            best = size
    return best or DEFAULT_LLC_BYTES


class Evictor:
    """Forward pre-hooks that stream ``nbytes`` through the cache before each decoder layer and the
    final norm of a transformers model (the probe's cold caches; module docstring); ``spent`` is the
    seconds the hooks themselves took since the last ``take()``."""

    def __init__(self, model: Any, nbytes: int) -> None:
        import torch
        from torch.nn.functional import linear

        cols = 1024
        self._buf = torch.rand(max(nbytes // 4 // cols, 1), cols)
        self._x = torch.rand(1, cols)
        self._linear = linear
        self.spent = 0.0
        core = model.model
        self._handles = [m.register_forward_pre_hook(self._hook) for m in [*core.layers, core.norm]]

    def _hook(self, *_: Any) -> None:
        t = time.perf_counter()
        self._linear(self._x, self._buf)
        self.spent += time.perf_counter() - t

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def time_passes(
    model: Any, ids: Any, prefill_reps: int, decode_steps: int, evictor: Evictor | None = None
) -> tuple[list[float], list[float]]:
    """Seconds of real passes of a built transformers model on prompt ``ids``: (prefills, decode steps).

    As ``generate`` runs them: the prefill computes logits for the last position only
    (``logits_to_keep=1``, which is also what the trace records — a full-sequence LM head would add
    2·P·d·vocab FLOPs that no generation spends); the decode steps run on the prompt's KV cache, which
    grows by one token per step. The cache is preallocated (transformers' ``StaticCache``): each step
    writes its token's K and V in place, as serving runtimes do and as the trace models it. The default
    ``DynamicCache`` instead copies the whole cache with ``torch.cat`` every step, a cost of that
    implementation only (measured: 0.85 ms of a 10 ms d=512 decode step, growing with the context).
    Each list starts after a warm-up call (the first call allocates; the first step after a prefill is
    slower). With an ``evictor`` its hooks' time is taken out of each pass."""
    import torch
    from transformers import StaticCache

    def cache() -> Any:
        return StaticCache(config=model.config, max_cache_len=ids.shape[1] + decode_steps + 1)

    prefills, steps = [], []
    with torch.inference_mode():
        model(ids, past_key_values=cache(), use_cache=True, logits_to_keep=1)
        for _ in range(prefill_reps):
            past = cache()
            t0 = time.perf_counter()
            model(ids, past_key_values=past, use_cache=True, logits_to_keep=1)
            prefills.append(time.perf_counter() - t0)
        out = model(ids, past_key_values=cache(), use_cache=True, logits_to_keep=1)
        past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        for i in range(decode_steps + 1):
            if evictor is not None:
                evictor.take()
            t0 = time.perf_counter()
            out = model(tok, past_key_values=past, use_cache=True)
            if i:
                steps.append(time.perf_counter() - t0 - (evictor.take() if evictor is not None else 0.0))
            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    return prefills, steps


def eager_overheads_us(pick: Callable[[list[float]], float] = min) -> tuple[float, float]:
    """(per kernel, per forward) microseconds of transformers eager decode here, caches cold (module
    docstring).

    Why a fit over several layer counts: dividing one 1-layer probe's time by its kernels folds the
    intercept into every kernel (8.8 us/kernel that way, against a fitted 5.7 us/kernel + 240 us per
    forward), which put the 4-layer d=256 decode step about 10% high."""
    from splitbench.models import build_trace, resolve_model

    kernels, times = [], []
    evict = llc_bytes()
    for layers in PROBE_LAYERS:
        preset = resolve_model({"base": "tiny", **PROBE_MODEL, "num_hidden_layers": layers})
        tr = build_trace(preset, "device-only", PROBE_PROMPT, "fp32")
        kernels.append(float(sum(s.kernels for s in tr.decode["default"].steps if s.kind == "compute")))
        model, ids = build_eager(preset, PROBE_PROMPT)
        evictor = Evictor(model, evict)
        steps = time_passes(model, ids, 0, PROBE_STEPS, evictor)[1]
        evictor.remove()
        times.append(1e6 * pick(steps))
    slope, intercept = fit_line(kernels, times)
    return max(slope, 0.0), max(intercept, 0.0)


#: The message probe: the tensor's shape, its rounds (after ``MESSAGE_WARMUP`` untimed ones), and
#: how long the echo waits before it answers.
MESSAGE_SHAPE = (1, 1, 384)
MESSAGE_ROUNDS, MESSAGE_WARMUP = 40, 3
MESSAGE_WAIT_S = 0.01
#: The echo end of the message probe: a plain-Python process returning each codec frame as it came.
_ECHO = """
import socket, struct, sys, time
wait = float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def exact(n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return bytes(b)
while True:
    head = exact(8)
    length, _, ndim, _ = struct.unpack("<IBBH", head)
    msg = head + exact(4 * ndim + length)
    until = time.perf_counter() + wait
    while time.perf_counter() < until:
        pass
    s.sendall(msg)
"""


def _other_cpus() -> set[int] | None:
    """The cores this process may use other than the one it runs on (None: no affinity control)."""
    try:
        mine = os.sched_getaffinity(0)
        allowed = set(range(os.cpu_count() or 1))
    except (AttributeError, OSError):
        return None
    others = allowed - mine
    return others or None


def message_overhead_us(pick: Callable[[list[float]], float] = min) -> float:
    """Microseconds one end of a message costs this side (module docstring)."""
    import torch
    from torch.nn.functional import linear

    from splitbench.models.codec import CODECS
    from splitbench.models.live import recv_frame

    codec = CODECS["fp32"]
    x = torch.rand(*MESSAGE_SHAPE)
    evict, ex = torch.rand(max(llc_bytes() // 4 // 1024, 1), 1024), torch.rand(1, 1024)
    others = _other_cpus()

    def child_setup() -> None:  # the echo runs beside this side, at normal priority
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            if others:
                os.sched_setaffinity(0, others)
        except (AttributeError, OSError):
            pass

    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        ls.settimeout(30)
        echo = subprocess.Popen([sys.executable, "-c", _ECHO, str(ls.getsockname()[1]), str(MESSAGE_WAIT_S)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=child_setup)
        try:
            conn, _ = ls.accept()
        except OSError as e:
            echo.kill()
            echo.wait()
            raise SplitbenchError(f"host calibration: the message probe's echo did not connect ({e})"
                                  ) from None
    rounds: list[float] = []
    try:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(MESSAGE_WARMUP + MESSAGE_ROUNDS):
                linear(ex, evict)  # caches cold, as between a model's layers (not timed)
                t = time.perf_counter()
                conn.sendall(codec.encode(x))
                codec.decode(recv_frame(conn))  # the live halves' own framing (models/live.py)
                if i >= MESSAGE_WARMUP:
                    rounds.append(time.perf_counter() - t)
    finally:
        echo.kill()
        echo.wait()
    return 1e6 * max(pick(rounds) - MESSAGE_WAIT_S, 0.0) / 4


# ------------------------------------------------------------------ calibration
def calibrate_host(budget_s: float = 2.0, sustained: bool = False) -> dict[str, float]:
    """Measure this machine (module docstring); ``budget_s`` seconds of microbenchmarks plus the probe.

    ``sustained``: every timing is the median call instead of the fastest, for predicting a run
    timed as a whole (a live generation's mean time per token includes its slower steps, which
    a fastest-call calibration never sees); the best-of calibration predicts best-of passes."""
    pick = median if sustained else min
    import torch
    from torch.nn.functional import linear

    flops = secs = 0.0
    for d in CAL_GEMM_WIDTHS:
        x = torch.randn(CAL_GEMM_TOKENS, d)
        for n in (d, 4 * d):
            w = torch.randn(n, d)
            secs += _best_time(lambda x=x, w=w: linear(x, w), budget_s * 0.3 / 4, pick=pick)
            flops += 2.0 * CAL_GEMM_TOKENS * d * n
    gemm_rate = flops / secs
    t, hd = CAL_GEMM_TOKENS, CAL_ATTN_HEAD_DIM
    q, k = torch.randn(CAL_ATTN_HEADS, t, hd), torch.randn(CAL_ATTN_HEADS, hd, t)
    p, v = torch.randn(CAL_ATTN_HEADS, t, t), torch.randn(CAL_ATTN_HEADS, t, hd)
    attn_s = _best_time(lambda: (torch.bmm(q, k), torch.bmm(p, v)), budget_s * 0.1, pick=pick)
    attn_rate = 2 * 2.0 * CAL_ATTN_HEADS * t * t * hd / attn_s
    buf = torch.rand(CAL_MATVEC_BYTES // 4)
    rows, times = [], []
    for kk in CAL_MATVEC_ROWS:
        n = buf.numel() // kk
        w, x = buf[: n * kk].view(n, kk), torch.rand(1, kk)
        times.append(_best_time(lambda w=w, x=x: linear(x, w), budget_s * 0.6 / len(CAL_MATVEC_ROWS),
                                pick=pick))
        rows.append(float(n))
    row_s, stream_s = fit_line(rows, times)
    if row_s < 0:  # no measurable per-row cost: all streaming
        row_s, stream_s = 0.0, median(times)
    per_kernel, per_forward = eager_overheads_us(pick)
    return {
        "fp32_tflops": gemm_rate / 1e12,
        "attention_eff": min(attn_rate / gemm_rate, 1.0),
        "mem_bw_gbps": CAL_MATVEC_BYTES / stream_s / 1e9,
        "matvec_row_ns": row_s * 1e9,
        "kernel_overhead_us": per_kernel,
        "forward_overhead_us": per_forward,
        "message_overhead_us": message_overhead_us(pick),
        "threads": float(torch.get_num_threads()),
    }


def host_from_measurement(meas: dict[str, float], where: str) -> Profile:
    """The ``host`` Profile for one calibration (``where`` says where the numbers came from)."""
    try:
        import psutil  # type: ignore[import-not-found]

        mem_gb = psutil.virtual_memory().total / 1e9
    except ImportError:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    rows = f"{CAL_MATVEC_ROWS[0]}-{CAL_MATVEC_ROWS[-1]}"
    return Profile(
        "host",
        meas["mem_bw_gbps"],
        {"fp32": meas["fp32_tflops"], "fp16": meas["fp32_tflops"]},
        1.0,
        1.0,
        meas["kernel_overhead_us"],
        mem_gb,
        {},
        "torch-cpu",
        {
            "mem_bw_gbps": f"one-token F.linear over 96 MiB of fp32 weights, streaming term of a fit over "
            f"row lengths {rows}, {where} [M]",
            "matvec_row_ns": f"per-row term of the same fit, {where} [M]",
            "tflops": f"fp32 F.linear (128 x d) @ (d x d | 4d), d = 768, 1536, {where} [M]; fp16 assumed "
            "equal [I] estimate",
            "attention_eff": f"bmm rate at {CAL_ATTN_HEADS} heads x (128 x {CAL_ATTN_HEAD_DIM}) @ "
            f"({CAL_ATTN_HEAD_DIM} x 128) and back, over the GEMM rate, {where} [M]",
            "mem_eff": "1.0: measured bandwidth is already achieved bandwidth",
            "compute_eff": "1.0: measured GEMM rate is already achieved",
            "kernel_overhead_us": f"slope of transformers eager decode-step time against kernels, d=32 "
            f"probe at {', '.join(map(str, PROBE_LAYERS))} layers, caches cold (a last-level-cache-sized "
            f"stream before each layer), {where} [M]",
            "forward_overhead_us": f"intercept of the same fit, {where} [M]",
            "message_overhead_us": f"a quarter of a cold {MESSAGE_SHAPE} fp32 ping-pong round over "
            f"loopback TCP with an echo process answering after {MESSAGE_WAIT_S * 1e3:g} ms, less that "
            f"wait, {where} [M]",
            "mem_gb": "physical memory of this machine [M]",
        },
        matvec_row_ns=meas["matvec_row_ns"],
        forward_overhead_us=meas["forward_overhead_us"],
        message_overhead_us=meas.get("message_overhead_us", 0.0),
        attention_eff=meas["attention_eff"],
    )


def host_profile(recalibrate: bool = False) -> Profile:
    """``host``: this machine's calibration (``calibrate_host``), measured once and cached as JSON."""
    path = _cache_dir() / "host.json"
    meas: dict[str, float] | None = None
    if path.is_file() and not recalibrate:
        try:
            meas = json.loads(path.read_text())
            for k in CAL_KEYS:
                float(meas[k])
        except (ValueError, KeyError, TypeError):
            meas = None  # unreadable or from an older calibration: measure again
    if meas is None:
        meas = calibrate_host()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(meas, sort_keys=True))
        except OSError:
            pass  # cache is a convenience
    return host_from_measurement(meas, f"measured on this machine (cached in {path})")
