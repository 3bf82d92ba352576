"""Recording a split forward pass: FLOPs, kernels, bytes per compute segment, and the KV cache.

Why a dispatch mode rather than hand formulas: every ATen op the real transformers modules run goes
through ``_Counter.__torch_dispatch__``; matmul-class ops are costed with the formulas of
``torch.utils.flop_counter`` (its ``flop_registry``, the same table ``FlopCounterMode`` uses), so a
FLOP count is whatever the model really executes, on CPU tensors or on ``meta`` tensors alike. One
mode is entered per recorded forward step and the paradigm moves a "current segment" pointer, which
is far cheaper than a ``FlopCounterMode`` (module tracker) per segment — that is what keeps a
70B shape-mode trace well under a second per phase.

What each Compute field means here
----------------------------------
- ``flops``: flop_counter FLOPs (2·m·n·k for a matmul) of the ops in the segment.
- ``attention_flops``: the part of ``flops`` in matmuls of two activations (Q·Kᵀ and P·V, batched
  over heads, or a fused attention op). Attention kernels reach a different share of peak than the
  weight GEMMs (flash-attention kernels on GPUs; on this project's CPU, measured, about the same
  rate), so netsim applies the profile's ``attention_eff`` to them.
- ``weight_bytes``: parameters read, at their *stored* precision (not the tensor dtype the
  numeric run happens to use): 16-bit unless the side stores quantised weights (device-only
  ``weight_bits``), then ``bits`` per weight plus group-wise quantisation overhead
  (:func:`quantized_bytes`). An embedding reads only the rows it looks up.
- ``activation_bytes``: bytes written by matmul-class ops (projections, attention products), at
  the compute dtype: their output traffic overlaps their own arithmetic, so it belongs under the
  roofline's max() with the weights and the KV cache.
- ``elementwise_bytes``: bytes read and written by every other non-view op (norms, rotary, SiLU,
  softmax, residual adds, casts), at the compute dtype. These ops are memory-bound kernels that run
  one after another with the matmuls, so netsim *adds* their time to the matmul roofline instead of
  hiding it under max(): in a compute-bound prefill they are otherwise invisible (measured on this
  project's CPU: about 20% of a d=256 prefill). Gathers (the embedding lookup) count only their
  output; the rows they read are in ``weight_bytes``. KV-cache appends are excluded here too.
- ``kv_bytes``: K and V read by attention (the whole cache after appending this step's tokens).
- ``kernels``: non-view ATen ops dispatched — what eager PyTorch launches, an upper bound for a
  fused runtime.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.flop_counter import flop_registry

from splitbench import SplitbenchError
from splitbench.models.codec import DTYPE_BYTES, Codec

aten = torch.ops.aten
_NOT_KERNELS = {aten.detach, aten.lift_fresh, aten.sym_size, aten.sym_stride, aten.sym_numel, aten.alias}

# Group-wise weight quantisation layout (GGML Q4_1/Q5_1/Q8_1-style): blocks of QUANT_GROUP weights
# with an fp16 scale and an fp16 minimum per block -> +1 bit per weight at group size 32.
QUANT_GROUP = 32
QUANT_OVERHEAD_BYTES_PER_GROUP = 4
QUANT_SOURCE = "llama.cpp ggml-common.h block_q4_1/q5_1 layout: 32 weights + fp16 scale + fp16 min [S]"


def quantized_bytes(numel: int, bits: int) -> float:
    """Stored bytes of ``numel`` weights at ``bits`` (16 = plain fp16, no overhead)."""
    if bits >= 16:
        return numel * 2.0
    return numel * bits / 8.0 + math.ceil(numel / QUANT_GROUP) * QUANT_OVERHEAD_BYTES_PER_GROUP


_ACTIVE: Recorder | None = None


def _account_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
    if _ACTIVE is not None:
        _ACTIVE.account(module, args)


def attach_weight_hooks(root: nn.Module) -> None:
    """Every module that owns parameters reports its weight reads to the active recorder."""
    for m in root.modules():
        if any(True for _ in m.parameters(recurse=False)) and not getattr(m, "_sb_hooked", False):
            m.register_forward_pre_hook(_account_hook)
            m._sb_hooked = True


@dataclass
class _Segment:
    id: int
    side: str
    label: str
    deps: tuple[int, ...]
    explicit: bool
    flops: float = 0.0
    attention_flops: float = 0.0
    weight_bytes: float = 0.0
    act_elems: float = 0.0
    elementwise_elems: float = 0.0
    kv_elems: float = 0.0
    kv_copy_elems: float = 0.0  # a growing (dynamic) KV cache re-copied on each append
    kernels: int = 0
    matvec_rows: float = 0.0
    last_label: str = ""


@dataclass
class _Message:
    id: int
    direction: str
    payload_bytes: int
    label: str
    deps: tuple[int, ...]
    streamed: bool = False  # the output token, streamed to the user (trace.Transfer.streamed)


@dataclass
class Recorder:
    """Collects the ordered steps of one forward step. Inactive (``recording=False``) runs still go
    through the channel and codec but leave no steps — used for numeric cache filling and verify."""

    # per side: the dtype matmul outputs and elementwise traffic are counted in, and the KV cache's
    compute_dtype: dict[str, str] = field(default_factory=lambda: {"device": "fp16", "cloud": "fp16"})
    kv_dtype: dict[str, str] = field(default_factory=lambda: {"device": "fp16", "cloud": "fp16"})
    # per side: "static" / "paged" (the new token's K/V written in place) or "dynamic" (the cache is a
    # tensor grown by concatenation: every append reads the old cache and writes the new one)
    kv_cache: dict[str, str] = field(default_factory=lambda: {"device": "static", "cloud": "static"})
    weight_bits: dict[str, int] = field(default_factory=lambda: {"device": 16, "cloud": 16})
    recording: bool = False
    steps: list[_Segment | _Message] = field(default_factory=list)
    current: _Segment | None = None
    side_params: dict[str, dict[int, float]] = field(default_factory=lambda: {"device": {}, "cloud": {}})
    #: whether unrecorded runs still learn which side each parameter belongs to (a live half, whose
    #: sides are fixed, turns it off: the weight hooks then cost one call each)
    attributing: bool = True
    #: called with the side at every ``begin`` (a live half switches its shapes-only mode with it)
    on_begin: Callable[[str], None] | None = None
    _paused: int = 0
    _fused: int = 0

    # ----- segments -----
    def begin(self, side: str, label: str, deps: tuple[int, ...] | None = None) -> int:
        """Make ``side`` the one doing the work from now on. With default deps, consecutive work on
        the same side merges into one step (nothing can interleave with it)."""
        if self.on_begin is not None:
            self.on_begin(side)
        if not self.recording:
            self.current = _Segment(-1, side, label, (), False)
            return -1
        last = self.steps[-1] if self.steps else None
        if deps is None and isinstance(last, _Segment) and last.side == side and not last.explicit:
            last.last_label = label
            self.current = last
            return last.id
        seg = _Segment(
            len(self.steps),
            side,
            label,
            self._default_deps() if deps is None else tuple(deps),
            deps is not None,
        )
        self.steps.append(seg)
        self.current = seg
        return seg.id

    def _default_deps(self) -> tuple[int, ...]:
        return (self.steps[-1].id,) if self.steps else ()

    @contextlib.contextmanager
    def fused(self):
        """Ops run here are counted (FLOPs, bytes) but launch no kernels of their own: they are
        fused into the neighbouring kernel (PrivateLoRA's A and B folded into the projections)."""
        self._fused += 1
        try:
            yield
        finally:
            self._fused -= 1

    @contextlib.contextmanager
    def paused(self):
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    @property
    def counting(self) -> bool:
        return self.recording and self._paused == 0 and self.current is not None

    def account(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self.attributing and not self.recording:
            return
        if self.current is None:
            raise SplitbenchError(f"internal: module {type(module).__name__} ran outside any compute segment")
        side = self.current.side
        bits = self.weight_bits.get(side, 16)
        for name, p in module.named_parameters(recurse=False):
            quantizable = name == "weight" and isinstance(module, nn.Linear | nn.Embedding)
            stored = quantized_bytes(p.numel(), bits if quantizable else 16)
            self.side_params[side][id(p)] = stored
            if not self.counting:
                continue
            if isinstance(module, nn.Embedding) and name == "weight" and args:
                rows = args[0].numel()
                self.current.weight_bytes += stored * rows / module.num_embeddings
            else:
                self.current.weight_bytes += stored

    def add_kv(self, elems: int) -> None:
        if self.counting:
            self.current.kv_elems += elems

    def add_kv_append(self, old_elems: int, new_elems: int) -> None:
        """One layer's K and V appended to a cache already holding ``old_elems`` elements."""
        if self.counting and old_elems and self.kv_cache[self.current.side] == "dynamic":
            # torch.cat of K and of V: two kernels reading the old cache and writing the grown one
            self.current.kv_copy_elems += old_elems + new_elems
            self.current.kernels += 2

    # ----- transfers -----
    def message(
        self,
        direction: str,
        nbytes: int,
        label: str,
        deps: tuple[int, ...] | None = None,
        streamed: bool = False,
    ) -> int:
        if not self.recording:
            return -1
        msg = _Message(
            len(self.steps),
            direction,
            int(nbytes),
            label,
            self._default_deps() if deps is None else tuple(deps),
            streamed,
        )
        self.steps.append(msg)
        self.current = None
        return msg.id

    # ----- dispatch counting -----
    def on_op(self, func, args, kwargs, out, flops: float | None = None) -> None:
        if not self.counting or func.is_view:
            return
        seg = self.current
        packet = func._overloadpacket
        if flops is None and packet in flop_registry:
            flops = flop_registry[packet](*args, **(kwargs or {}), out_val=out)
        if flops:
            seg.flops += flops
            if _is_attention(packet, args):
                seg.attention_flops += flops
        if packet in _NOT_KERNELS:
            return
        if not self._fused:
            seg.kernels += 1
        written = _float_elems(out)
        if packet in _MATMULS or packet in flop_registry:
            seg.matvec_rows += _matvec_rows(packet, args)
            seg.act_elems += written
        else:
            read = 0.0 if packet in _GATHERS else _float_elems((args, kwargs))
            seg.elementwise_elems += read + written

    def exported_steps(self) -> list[dict[str, Any]]:
        """Steps as plain dicts (ids, deps, raw counts) — assembled into Compute/Transfer by build."""
        out = []
        for s in self.steps:
            if isinstance(s, _Segment):
                nb = DTYPE_BYTES[self.compute_dtype[s.side]]
                label = (
                    s.label if not s.last_label or s.last_label == s.label else f"{s.label} .. {s.last_label}"
                )
                out.append(
                    {
                        "kind": "compute",
                        "id": s.id,
                        "side": s.side,
                        "label": f"{s.side}: {label}",
                        "deps": s.deps,
                        "flops": float(s.flops),
                        "attention_flops": float(s.attention_flops),
                        "weight_bytes": float(s.weight_bytes),
                        "activation_bytes": float(s.act_elems * nb),
                        "elementwise_bytes": float(
                            s.elementwise_elems * nb + s.kv_copy_elems * DTYPE_BYTES[self.kv_dtype[s.side]]
                        ),
                        "kv_bytes": float(s.kv_elems * DTYPE_BYTES[self.kv_dtype[s.side]]),
                        "kernels": int(s.kernels),
                        "matvec_rows": float(s.matvec_rows),
                        "dtype": self.compute_dtype[s.side],
                    }
                )
            else:
                out.append(
                    {
                        "kind": "transfer",
                        "id": s.id,
                        "direction": s.direction,
                        "payload_bytes": s.payload_bytes,
                        "label": s.label,
                        "deps": s.deps,
                        "streamed": s.streamed,
                    }
                )
        return out

    def memory_bytes(self, side: str) -> float:
        return float(sum(self.side_params[side].values()))


_MATMULS = {aten.mm, aten.bmm, aten.addmm, aten.baddbmm, aten.linear, aten.matmul, aten.mv}
#: Ops that read a few rows of a table (the embedding): the rows are weights, already in weight_bytes.
_GATHERS = {aten.embedding, aten.index_select, aten.gather, aten.index}


def _is_attention(packet, args) -> bool:
    """A matmul of two activations: a batched product (bmm, or matmul whose right operand has batch
    dimensions) or a fused attention op. Weight projections (linear, mm, addmm, matmul by a 2-D
    weight) are not."""
    if packet in (aten.bmm, aten.baddbmm):
        return True
    if packet is aten.matmul:
        return args[1].dim() >= 3
    return packet not in _MATMULS and "attention" in packet.__name__


def _float_elems(tree: Any) -> float:
    """Elements of the floating-point tensors in an argument or output structure (tensors, nested
    lists/tuples, dict values). Hand-rolled rather than tree_flatten: it runs for every op of a 70B
    shape trace, where tree_flatten cost about 30% of the recording time."""
    if isinstance(tree, torch.Tensor):
        return float(tree.numel()) if tree.is_floating_point() else 0.0
    if isinstance(tree, dict):
        tree = tree.values()
    elif not isinstance(tree, list | tuple):
        return 0.0
    n = 0.0  # whole numbers: exact in any order of addition
    for x in tree:  # the tensors of a flat argument list without a call each
        if isinstance(x, torch.Tensor):
            if x.is_floating_point():
                n += x.numel()
        elif isinstance(x, list | tuple | dict):
            n += _float_elems(x)
    return n


def _matvec_rows(packet, args) -> float:
    """Output rows of a matrix-vector product: a matmul-class op whose left operand has one row (a
    decode-step projection, the LM head at one position, decode attention). 0 for a GEMM (m > 1)."""
    if packet not in _MATMULS:
        return 0.0
    if packet in (aten.addmm, aten.baddbmm):
        args = args[1:]
    a, b = args[0], args[1]
    if packet is aten.mv:
        return float(a.shape[0])
    if packet is aten.linear:  # x @ w.T, w is (n, k)
        return float(b.shape[0]) if math.prod(a.shape[:-1]) == 1 else 0.0
    if a.dim() < 2 or b.dim() < 2 or a.shape[-2] != 1:
        return 0.0
    batch = math.prod(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    return float(batch * b.shape[-1])


def _composite_flops(func, args) -> float | None:
    """FLOPs of the composite matmul ops that reach the mode undecomposed, with flop_counter's own
    mm/bmm formulas applied to their 2-D/3-D equivalents (cheaper than decomposing on meta), once
    per operand shapes."""
    packet = func._overloadpacket
    if packet is aten.linear:
        x, w = args[0], args[1]
        key = (packet, math.prod(x.shape[:-1]), tuple(w.shape))
    elif packet is aten.matmul and args[0].dim() >= 2 and args[1].dim() >= 2:
        a, b = args[0], args[1]
        key = (packet, tuple(a.shape), tuple(b.shape))
    else:
        return None
    flops = _COMPOSITE_FLOPS.get(key)
    if flops is None:
        if packet is aten.linear:
            m, (n, k) = key[1], key[2]
            flops = flop_registry[aten.mm](
                torch.empty(m, k, device="meta"), torch.empty(k, n, device="meta")
            )
        else:
            a, b = args[0], args[1]
            batch = math.prod(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
            flops = flop_registry[aten.bmm](
                torch.empty(batch, a.shape[-2], a.shape[-1], device="meta"),
                torch.empty(batch, b.shape[-2], b.shape[-1], device="meta"),
            )
        _COMPOSITE_FLOPS[key] = flops
    return flops


_COMPOSITE_FLOPS: dict[tuple[Any, ...], Any] = {}


def _spec(x: Any) -> Any:
    """A non-tensor argument as part of a memo key (tensors: _key), or TypeError if it cannot be."""
    if x is None or isinstance(
        x, bool | int | float | str | torch.dtype | torch.device | torch.layout | torch.memory_format
    ):
        return x
    raise TypeError


def _key(xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The memo key of an argument list: each tensor's shape, stride, dtype and device type."""
    return tuple(
        ("T", tuple(x.shape), tuple(x.stride()), x.dtype, x.device.type) if isinstance(x, torch.Tensor)
        else _key(x) if isinstance(x, list | tuple) else _spec(x)
        for x in xs
    )


_DECOMPOSABLE: dict[Any, bool] = {}


def _decomposable(func) -> bool:
    """Whether ``func.decompose`` would do anything (a CompositeImplicitAutograd kernel), per op:
    for the others the mode need not be re-entered only to be told NotImplemented."""
    ok = _DECOMPOSABLE.get(func)
    if ok is None:
        ok = _DECOMPOSABLE[func] = func is not torch.ops.prim.device.default and func._can_decompose()
    return ok


class _Counter(TorchDispatchMode):
    """Counts every op; in shape mode also memoises meta ops by their argument metadata: the 80 layers
    of a 70B model run the same ops on the same shapes, and PyTorch's meta kernels are mostly Python
    (the dominant cost of a shape-mode trace). Only non-view, non-mutating ops are memoised: their
    outputs are fresh tensors fully described by shape/stride/dtype."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """No: nothing is compiled while recording, so torch need not wrap every dispatch in a frame
        that turns TorchDynamo off (left on, that wrapper cost about a tenth of a shape trace)."""
        return False

    def __init__(self, rec: Recorder, memo: dict[Any, Any] | None):
        super().__init__()
        self.rec, self.memoize = rec, memo is not None
        self.memo: dict[Any, tuple[Any, list[Any]]] = memo if memo is not None else {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        extra = _composite_flops(func, args)
        if extra is not None:
            with self.rec.paused():
                with self:
                    out = func.decompose(*args, **kwargs) if self.memoize is False else None
                if out is None or out is NotImplemented:
                    out = self._run(func, args, kwargs)
            self.rec.on_op(func, args, kwargs, out, flops=extra)
            return out
        if func._overloadpacket not in flop_registry and _decomposable(func):
            with self:
                r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
        out = self._run(func, args, kwargs)
        self.rec.on_op(func, args, kwargs, out)
        return out

    def _run(self, func, args, kwargs):
        if not self.memoize or func.is_view or func._schema.is_mutable:
            return func(*args, **kwargs)
        try:
            key = (func, _key(args), _key(tuple(kwargs.items())) if kwargs else ())
        except TypeError:
            return func(*args, **kwargs)
        hit = self.memo.get(key)
        if hit is None:
            out = func(*args, **kwargs)
            leaves, spec = tree_flatten(out)
            if not all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in leaves):
                return out
            self.memo[key] = (spec, [(tuple(t.shape), tuple(t.stride()), t.dtype) for t in leaves])
            return out
        spec, metas = hit
        leaves = [torch.empty_strided(sh, st, dtype=dt, device="meta") for sh, st, dt in metas]
        return tree_unflatten(leaves, spec)


@contextlib.contextmanager
def recording(rec: Recorder, record: bool = True, memo: dict[Any, Any] | None = None):
    """Activate ``rec`` (weight hooks report to it) and, when ``record``, count every ATen op."""
    global _ACTIVE
    prev = _ACTIVE
    _ACTIVE = rec
    rec.recording = record
    rec.steps = []
    rec.current = None
    try:
        with torch.inference_mode():
            if record:
                with _Counter(rec, memo):
                    yield rec
            else:
                yield rec
    finally:
        _ACTIVE = prev
        rec.recording = False
        rec.current = None


class KVCache:
    """Per-side K/V store with the one method transformers attention calls (``update``).

    Own class rather than ``DynamicCache`` because each side of a split keeps only its own layers,
    and a shape-mode decode step needs a cache of length t made of meta tensors without running t
    steps (:meth:`fill_meta`). The read of the whole cache is counted in kv_bytes. The concatenation
    stands for the runtime's append: in place for a static or paged cache (nothing more to count),
    a copy of the whole cache for a dynamic one (transformers' DynamicCache: Recorder.add_kv_append).
    """

    def __init__(self, rec: Recorder):
        self.rec = rec
        self.layers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def update(self, k: torch.Tensor, v: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any):
        old = 0
        with self.rec.paused():
            if layer_idx in self.layers:
                pk, pv = self.layers[layer_idx]
                old = pk.numel() + pv.numel()
                k, v = torch.cat([pk, k], dim=-2), torch.cat([pv, v], dim=-2)
            self.layers[layer_idx] = (k, v)
        self.rec.add_kv_append(old, k.numel() + v.numel())
        self.rec.add_kv(k.numel() + v.numel())
        return k, v

    def fill_meta(self, layer_ids: list[int], n_kv_heads: int, head_dim: int, t: int, dtype: torch.dtype):
        self.layers = {
            i: (
                torch.empty(1, n_kv_heads, t, head_dim, device="meta", dtype=dtype),
                torch.empty(1, n_kv_heads, t, head_dim, device="meta", dtype=dtype),
            )
            for i in layer_ids
        }

    def clear(self) -> None:
        self.layers = {}


class Channel:
    """The only way tensors cross between the device part and the cloud part.

    Numeric mode: the tensor is serialised with the codec and the receiver gets the decoded bytes.
    Shape mode: the codec computes the size from shape and dtype. Either way the transfer is logged
    (``log``) and, while recording, becomes a Transfer step.
    """

    def __init__(self, rec: Recorder, codec: Codec, ids_codec: Codec):
        self.rec, self.codec, self.ids_codec = rec, codec, ids_codec
        self.log: list[tuple[str, int, str]] = []
        self.serialize_s = 0.0  # wall time spent encoding/decoding (benchmarks report it separately)

    def send(
        self,
        direction: str,
        x: torch.Tensor,
        label: str,
        *,
        ids: bool = False,
        deps: tuple[int, ...] | None = None,
        streamed: bool = False,
    ) -> tuple[torch.Tensor, int]:
        """Move ``x`` to the other side; ``streamed`` marks the output token that nothing waits for."""
        codec = self.ids_codec if ids else self.codec
        with self.rec.paused():
            if x.device.type == "meta":
                nbytes, y = codec.encoded_size(x.shape), x
            else:
                t0 = time.perf_counter()
                data = codec.encode(x)
                nbytes = len(data)
                y = codec.decode(data, dtype=torch.long if ids else x.dtype)
                self.serialize_s += time.perf_counter() - t0
        self.log.append((direction, nbytes, label))
        return y, self.rec.message(direction, nbytes, label, deps, streamed)

    def next_is_ids(self) -> bool | None:
        """Whether the next message from the cloud will be token ids, where this side must learn it
        from the wire (a live device half following the cloud's SPA gate); None where this side
        decides itself (one process, or the cloud half)."""
        return None
