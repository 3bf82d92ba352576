"""The ExecutionTrace: the contract between models/ (which records it) and netsim/ (which replays it).

A trace says *what* a split model does for one forward step — which side computes how much, and
which tensors cross the network in which direction — but nothing about *how long* it takes: time
is netsim's business. Traces are plain data (dataclasses of numbers and strings) so that the
harness can cache them as JSON and ship them to other processes or Dask workers.

Shape of a trace
----------------
- ``prefill``: one :class:`PhaseTrace` for a prompt of ``prompt_tokens`` tokens; its last step makes
  the first output token known (TTFT).
- ``decode``: one :class:`PhaseTrace` per *variant* of a decode step (normally just ``"default"``;
  SPA has ``"gate_open"`` and ``"gate_closed"``). A decode step starts when the previous step's
  non-streamed work is done (see "Streamed tokens") and ends when its token is known on the device.
  Steps carry a base value plus a per-context-token slope for the quantities that grow with the KV
  cache (attention FLOPs and KV bytes), so a decode step at any
  context length ``t`` is ``value + slope * t`` — exact, because attention cost is linear in ``t`` —
  and netsim can evaluate thousands of steps without re-running the model. ``t`` is the number of
  tokens already in the KV cache when the step starts (the first decode step after a prompt of P
  tokens has t = P); the stored base values are the values at t = 0 (intercepts) and the decode
  PhaseTrace's ``context`` says at which t the step was recorded (models records at P and P + 1).
- ``variant_weights``: how often a token takes each decode variant, ``((name, probability), ...)``
  in draw order (netsim draws per token from a seeded generator: :meth:`ExecutionTrace.pick_variant`).

Steps and dependencies
----------------------
Steps of a phase are listed in a valid execution order. Each step names the ids of the steps it
waits for in ``deps`` (ids are unique within a phase). A step with no deps may start when the phase
starts. Steps on the same side (compute) or the same direction (transfer) never run at the same time
as each other — netsim serialises them on a resource — but a compute step and a transfer, or an up
and a down transfer, may overlap when the dependencies allow.

Streamed tokens
---------------
A :class:`Transfer` with ``streamed=True`` delivers the step's output token to the user and nothing
waits for it: no step of the phase depends on it, and the *next* phase does not either. Models set it
on the "token down" message exactly where the next step starts on the cloud (cloud-only, SPA, and
adapter splits with the embedding and LM head on the cloud): the cloud picked the token and embeds
it itself, and a serving stack streams tokens to the client while it keeps generating. Where the
next step starts on the device (it needs the token id or the final hidden state), the down message is
an ordinary transfer. netsim therefore separates, per phase, *when the next phase may start* (the
end of its last non-streamed step) from *when the token is known on the device* (the end of the
streamed transfer, or of the whole phase when there is none); token times are the latter.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Side = Literal["device", "cloud"]
Direction = Literal["up", "down"]  # up: device -> cloud; down: cloud -> device

TRACE_FORMAT_VERSION = 2


@dataclass(frozen=True)
class Compute:
    """Work done on one side. Bytes are what the step reads/writes from memory (roofline input)."""

    id: int
    side: Side
    flops: float
    weight_bytes: float
    activation_bytes: float
    kv_bytes: float
    kernels: int
    label: str
    deps: tuple[int, ...] = ()
    # Growth per token of context (decode steps only; 0 in prefill traces).
    flops_per_ctx: float = 0.0
    kv_bytes_per_ctx: float = 0.0
    # intermediate results that grow with context (attention scores)
    activation_bytes_per_ctx: float = 0.0
    dtype: str = "fp16"  # compute dtype whose peak FLOP/s applies
    # Output rows of matrix-*vector* products (matmul-class ops whose left operand has one row: every
    # decode-step projection, the LM head, decode attention). A CPU GEMV pays a fixed cost per output
    # row on top of streaming the row, so short rows stream far below the memory bandwidth; netsim
    # charges ``Profile.matvec_row_ns`` per row.
    matvec_rows: float = 0.0
    matvec_rows_per_ctx: float = 0.0
    # Bytes read and written by the non-matmul ops (norms, rotary, activations, softmax, residual
    # adds). They run as their own memory-bound kernels between the matmuls, so netsim adds their
    # time to the roofline rather than overlapping it; ``activation_bytes`` holds the matmul outputs.
    elementwise_bytes: float = 0.0
    elementwise_bytes_per_ctx: float = 0.0
    # The part of ``flops`` in matmuls of two activations (attention's Q·Kᵀ and P·V): netsim runs
    # them at the profile's ``attention_eff`` of the GEMM rate.
    attention_flops: float = 0.0
    attention_flops_per_ctx: float = 0.0
    kind: Literal["compute"] = "compute"

    def flops_at(self, context: int) -> float:
        return self.flops + self.flops_per_ctx * context

    def kv_bytes_at(self, context: int) -> float:
        return self.kv_bytes + self.kv_bytes_per_ctx * context

    def activation_bytes_at(self, context: int) -> float:
        return self.activation_bytes + self.activation_bytes_per_ctx * context

    def attention_flops_at(self, context: int) -> float:
        return self.attention_flops + self.attention_flops_per_ctx * context

    def elementwise_bytes_at(self, context: int) -> float:
        return self.elementwise_bytes + self.elementwise_bytes_per_ctx * context

    def matvec_rows_at(self, context: int) -> float:
        return self.matvec_rows + self.matvec_rows_per_ctx * context

    def memory_bytes_at(self, context: int) -> float:
        """Bytes under the roofline's max(): weights, KV cache and matmul outputs (not elementwise)."""
        return self.weight_bytes + self.activation_bytes_at(context) + self.kv_bytes_at(context)


@dataclass(frozen=True)
class Transfer:
    """One application message: serialized tensors (or token ids) plus framing, no TCP/IP headers."""

    id: int
    direction: Direction
    payload_bytes: int
    label: str
    deps: tuple[int, ...] = ()
    kind: Literal["transfer"] = "transfer"
    # delivers the step's output token to the user; the next step does not wait for it (see
    # "Streamed tokens" above)
    streamed: bool = False


Step = Compute | Transfer


@dataclass(frozen=True)
class PhaseTrace:
    """One forward step of the split model: a prefill of ``tokens`` tokens, or one decode step."""

    phase: Literal["prefill", "decode"]
    tokens: int  # tokens processed by this forward step (P for prefill, 1 for decode)
    context: int  # KV-cache length the base values were recorded at (0 for prefill)
    steps: tuple[Step, ...]

    def up_bytes(self) -> int:
        return sum(s.payload_bytes for s in self.steps if s.kind == "transfer" and s.direction == "up")

    def down_bytes(self) -> int:
        return sum(s.payload_bytes for s in self.steps if s.kind == "transfer" and s.direction == "down")

    def round_trips(self) -> int:
        """Sequential device<->cloud exchanges that one step waits on (longest dependency chain).

        Along a chain, a run of consecutive transfers in one direction is one *crossing* (SPA's
        streamed hidden states are one crossing); the count is ceil(crossings / 2): an up and the
        down that waits on it make one round trip, and a lone down or a lone up counts as one.
        Streamed token transfers are not waited on, so they are not counted: cloud-only decode -> 0,
        SPA gate open (hidden states down, side output up) -> 1. PrivateLoRA decode: embedding up,
        (down, up) per layer, final hidden down -> 2L + 2 crossings -> L + 1 round trips;
        device-only -> 0.
        """
        # best[id][last_direction] = most crossings of a chain ending at id whose last transfer went
        # that way ("" = no transfer yet)
        best: dict[int, dict[str, int]] = {}
        for s in self.steps:  # steps are in a valid order
            inherited: dict[str, int] = {"": 0}
            for d in s.deps:
                for last, n in best[d].items():
                    inherited[last] = max(inherited.get(last, 0), n)
            if s.kind == "transfer" and not s.streamed:
                mine = s.direction
                n = max((v if last == mine else v + 1) for last, v in inherited.items())
                best[s.id] = {mine: n}
            else:
                best[s.id] = inherited
        crossings = max((n for v in best.values() for n in v.values()), default=0)
        return (crossings + 1) // 2

    def critical_path_transfers(self) -> int:
        """Number of transfers on the chain with the most transfers (a latency lower bound in RTT/2)."""
        depth: dict[int, int] = {}
        for s in self.steps:
            base = max((depth[d] for d in s.deps), default=0)
            depth[s.id] = base + (1 if s.kind == "transfer" else 0)
        return max(depth.values(), default=0)


@dataclass(frozen=True)
class ExecutionTrace:
    """Everything netsim needs to replay one (model, method, shapes, dtype) combination."""

    model: str
    method: str
    method_params: dict[str, Any]
    act_dtype: str
    prompt_tokens: int
    prefill: PhaseTrace
    decode: dict[str, PhaseTrace]
    variant_weights: tuple[tuple[str, float], ...] = (("default", 1.0),)
    # Bytes each side must hold (weights at their stored precision, plus KV at max context).
    device_memory_bytes: float = 0.0
    cloud_memory_bytes: float = 0.0
    data_leaving_device: Literal["nothing", "activations", "tokens"] = "nothing"
    # models.privacy: prompt/output recoverable by the cloud, private weights leave the device
    privacy: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = TRACE_FORMAT_VERSION

    def decode_variant(self, name: str = "default") -> PhaseTrace:
        return self.decode[name]

    def pick_variant(self, u: float) -> str:
        """The decode variant of a step for a uniform draw ``u`` in [0, 1): the first variant whose
        cumulative weight exceeds ``u`` (the last one when rounding leaves the sum below ``u``)."""
        total = 0.0
        for name, w in self.variant_weights:
            total += w
            if u < total:
                return name
        return self.variant_weights[-1][0]

    # ----- serialisation (plain JSON, stable key order, so cached traces are byte-identical) -----
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ExecutionTrace:
        def phase(p: dict[str, Any]) -> PhaseTrace:
            steps: list[Step] = []
            for s in p["steps"]:
                s = dict(s)
                s["deps"] = tuple(s.get("deps", ()))
                steps.append(Compute(**s) if s["kind"] == "compute" else Transfer(**s))
            return PhaseTrace(phase=p["phase"], tokens=p["tokens"], context=p["context"], steps=tuple(steps))

        d = dict(d)
        d["prefill"] = phase(d["prefill"])
        d["decode"] = {k: phase(v) for k, v in d["decode"].items()}
        d["variant_weights"] = tuple((str(n), float(w)) for n, w in d["variant_weights"])
        return ExecutionTrace(**d)

    @staticmethod
    def from_json(text: str) -> ExecutionTrace:
        return ExecutionTrace.from_dict(json.loads(text))
