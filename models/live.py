"""Split models as two programs: a device half and a cloud half exchanging the real serialized tensors
over one TCP connection.

One definition of each paradigm's exchange: both halves run the paradigm's own ``step`` — the same
code that records traces and that ``verify`` checks — with a :class:`LiveChannel` in place of the
in-process channel. Whatever one side computes, the other side computes on PyTorch's ``meta``
device (shapes only, no values, no weights): the side that sends a message encodes its real tensor
and writes the bytes to the socket, the side that receives it reads the frame and computes on with
the decoded tensor. So the messages of a live run are exactly the trace's messages, in the same
order, with the same codec and framing (models/codec.py), and neither program can drift from the
recorded exchange.

Which side each parameter belongs to is learnt from a dry run of the whole split in one process
(the recorder attributes every module call to the side doing the work; it also warms the kernels
up). Afterwards each half keeps only its own side's parameters; the others become ``meta``
tensors, and decoder layers that run wholly on the other side are replaced by pass-throughs (they
preserve the hidden state's shape, which is all the other side's code needs). So a half holds only
its own weights, and does next to no work for the other side.

SPA's ``gate: classifier`` is decided on the cloud and is not a message of the trace: the device half
learns each step's decision from the first message the cloud sends in it (hidden states when the gate
is open, the token when it is closed), by peeking at its codec id (LiveChannel.next_is_ids).

The wire protocol around the exchange (not counted as payload, before the timed part): the device
connects and sends a 4-byte length and a JSON ``hello`` naming the scenario (model, method,
act_dtype, seed, prompt and new tokens); the cloud answers ``R`` when its half is ready, or ``E``
plus a length-prefixed one-line error.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from splitbench import SplitbenchError
from splitbench.models.build import make_split
from splitbench.models.codec import HEADER_BYTES_PER_DIM, HEADER_FIXED_BYTES
from splitbench.models.modules import SplitLinear
from splitbench.models.paradigms.base import SplitModel
from splitbench.models.paradigms.params import PROJECTIONS
from splitbench.models.tracing import Channel

TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
SIDES = ("device", "cloud")
SENDER = {"up": "device", "down": "cloud"}


# ----------------------------------------------------------------------------------- sockets
def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise SplitbenchError("live: the other side closed the connection")
        got += k
    return bytes(buf)


def recv_frame(sock: socket.socket) -> bytes:
    """One codec message: the fixed header says how many dimension words and body bytes follow."""
    head = recv_exact(sock, HEADER_FIXED_BYTES)
    length, _, ndim, _ = struct.unpack("<IBBH", head)
    return head + recv_exact(sock, HEADER_BYTES_PER_DIM * ndim + length)


def socket_options(settings: str) -> tuple[str, bool]:
    """(congestion control, TCP_NODELAY) from a link's socket settings (netsim LinkSpec.linux_cc):
    the Linux congestion control, with ``+nagle`` when Nagle's algorithm stays on."""
    cc, _, flag = settings.partition("+")
    if flag not in ("", "nagle"):
        raise SplitbenchError(f"live: unknown socket setting {flag!r} in {settings!r} (known: nagle)")
    return cc, flag != "nagle"


def tune(sock: socket.socket, congestion_control: str) -> None:
    """TCP_NODELAY (unless the settings say ``+nagle``), and the congestion control chosen per
    socket (sysctls are per namespace). ``congestion_control``: LinkSpec.linux_cc."""
    congestion_control, nodelay = socket_options(congestion_control)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, congestion_control.encode())
    except OSError as e:
        raise SplitbenchError(
            f"live: congestion control {congestion_control!r} not available ({e})"
        ) from None


def send_blob(sock: socket.socket, data: bytes) -> None:
    sock.sendall(struct.pack("<I", len(data)) + data)


def recv_blob(sock: socket.socket) -> bytes:
    (n,) = struct.unpack("<I", recv_exact(sock, 4))
    return recv_exact(sock, n)


#: SCHED_FIFO priority of a timed half: above every ordinary process, below the link emulator's
#: forwarder (netsim/live/forwarder.py), which must deliver packets on time.
HALF_RT_PRIORITY = 5


@contextlib.contextmanager
def dedicated_cpu(cpu: int | None):
    """Run the enclosed (timed) generation as if on a machine of its own: on core ``cpu`` only, at
    real-time priority. The two halves of a live run stand for two machines; on one host they would
    otherwise share cores with each other and with anything else running, and a half that is
    preempted or woken on the other's core shows up as network or compute time the simulated
    deployment never has. Linux keeps 5% of each core for ordinary processes (sched_rt_runtime_us).
    Without the rights (not root) or with ``cpu`` None it changes nothing."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    affinity, policy = os.sched_getaffinity(0), os.sched_getscheduler(0)
    param = os.sched_getparam(0)
    try:
        os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(HALF_RT_PRIORITY))
    except (OSError, ValueError):
        pass
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.sched_setscheduler(0, policy, param)
            os.sched_setaffinity(0, affinity)


def half_cpus() -> dict[str, int | None]:
    """The cores of the device and the cloud half on this host: the first two it may use, or none
    on a single core."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return {"device": None, "cloud": None}
    return {"device": cpus[0], "cloud": cpus[1]}


# ----------------------------------------------------------------------------------- channel
class LiveChannel(Channel):
    """The channel of one half: messages this side sends go to the socket; messages it receives
    come from it. The sender continues with a ``meta`` stand-in (the other side uses the value)."""

    def __init__(self, base: Channel, side: str, sock: socket.socket):
        super().__init__(base.rec, base.codec, base.ids_codec)
        self.side, self.sock = side, sock
        self.payload = {"up": 0, "down": 0}
        self.messages = 0
        self.last_token: torch.Tensor | None = None
        self._peeked: bytes | None = None

    def _recv(self) -> bytes:
        data, self._peeked = self._peeked, None
        return data if data is not None else recv_frame(self.sock)

    def next_is_ids(self) -> bool | None:
        if SENDER["down"] == self.side:  # this side sends the cloud's messages: it decides itself
            return None
        if self._peeked is None:
            self._peeked = recv_frame(self.sock)
        return self._peeked[4] == self.ids_codec.codec_id  # the header's codec id (models/codec.py)

    def send(self, direction, x, label, *, ids=False, deps=None, streamed=False):
        codec = self.ids_codec if ids else self.codec
        with self.rec.paused():
            if SENDER[direction] == self.side:
                data = codec.encode(x)
                self.sock.sendall(data)
                y = torch.empty(x.shape, dtype=x.dtype, device="meta")
            else:
                data = self._recv()
                y = codec.decode(data, dtype=torch.long if ids else x.dtype)
                if tuple(y.shape) != tuple(x.shape):
                    raise SplitbenchError(
                        f"live: {label}: received shape {tuple(y.shape)}, this side expects {tuple(x.shape)}"
                    )
                if ids and direction == "down":
                    self.last_token = y
        self.payload[direction] += len(data)
        self.messages += 1
        self.log.append((direction, len(data), label))
        return y, self.rec.message(direction, len(data), label, deps, streamed)


# ----------------------------------------------------------------------------------- halves
class _PassThrough(nn.Module):
    """A decoder layer that runs on the other side: its output has its input's shape."""

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states if hidden_states.device.type == "meta" else _meta(hidden_states)


def _meta(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.device.type != "meta":
        return torch.empty(x.shape, dtype=x.dtype, device="meta")
    if isinstance(x, tuple | list):
        return type(x)(_meta(v) for v in x)
    return x


def _to_meta_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    return _meta(args), {k: _meta(v) for k, v in kwargs.items()}


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, dtype=like.dtype if like.is_floating_point() else torch.float32, device="meta")


# Shapes of the other side's work without running it: PyTorch's meta kernels are mostly Python and
# cost more than the real arithmetic of a small layer, so a half that ran the other side's layers on
# meta would lag behind its peer. Leaf modules get their output shape directly; anything else falls
# back to meta execution.
def _linear_shape(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return _empty((*x.shape[:-1], self.out_features), self.weight)


def _embedding_shape(self: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    return _empty((*ids.shape, self.embedding_dim), self.weight)


def _same_shape(self: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return _empty(tuple(x.shape), next(self.parameters()))


def _rotary_shape(self: nn.Module, x: torch.Tensor, position_ids: torch.Tensor) -> Any:
    if x.device.type != "meta":
        return type(self).forward(self, x, position_ids)
    shape = (*position_ids.shape, 2 * self.inv_freq.shape[-1])
    return _empty(shape, x), _empty(shape, x)


class _ExchangeOnly(nn.Module):
    """A decoder layer that runs on the other side but holds adapter exchanges (PrivateLoRA,
    lora-split): it drives its split projections in the layer's forward order (attention q, k, v,
    o; MLP gate, up, down) with inputs of the right shape, so this side takes part in each exchange
    exactly as the full layer would, and returns the hidden state's shape."""

    ORDER = PROJECTIONS

    def __init__(self, layer: nn.Module):
        super().__init__()
        mods = {m.proj_name: m for m in layer.modules() if isinstance(m, SplitLinear)}
        self.split_linears = [mods[n] for n in self.ORDER if n in mods]

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        h = _meta(hidden_states)
        inputs: dict[int, torch.Tensor] = {}
        for m in self.split_linears:
            x = inputs.setdefault(id(m.group), _empty((*h.shape[:-1], m.base.in_features), h))
            m.group.delta(m.proj_name, x)
        return h


_UNARY = {torch.relu, torch.Tensor.relu, F.relu, F.silu, F.gelu, torch.sigmoid, torch.tanh, torch.exp,
          torch.neg, torch.Tensor.__neg__, torch.rsqrt}
_BINARY = {torch.add, torch.Tensor.add, torch.Tensor.__add__, torch.Tensor.__radd__,
           torch.sub, torch.Tensor.sub, torch.Tensor.__sub__, torch.Tensor.__rsub__,
           torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, torch.Tensor.__rmul__,
           torch.div, torch.Tensor.div, torch.Tensor.__truediv__, torch.Tensor.__rtruediv__}


class _OtherSideShapes(TorchFunctionMode):
    """Active while a half runs the other side's code: an elementwise op on a ``meta`` tensor returns
    an empty ``meta`` tensor of the broadcast shape and promoted dtype at once.

    PyTorch's meta kernels for these ops are Python reference implementations: 0.2-1 ms per op on
    this project's CPUs, against microseconds for the real op on a decode step's vectors. Without
    this, the cloud half of SPA spends ~10 ms a token on the device's side network in shapes alone,
    on its critical path — time no real deployment spends. Every other op, and every op on real
    tensors, runs as usual; the mode is only entered between the recorder's ``begin`` of the other
    side and the next of this side (run_half), so this side's own work pays nothing for it."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False

    def switch(self, on: bool) -> None:
        if on and not self.active:
            self.__enter__()
        elif not on and self.active:
            self.__exit__(None, None, None)
        self.active = on

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if not kwargs.get("out") and (func in _UNARY or func in _BINARY):
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if tensors and any(t.device.type == "meta" for t in tensors) and (
                func in _UNARY or len(args) == 2
            ):
                shape = torch.broadcast_shapes(*(t.shape for t in tensors))
                dtype = tensors[0].dtype if func in _UNARY else torch.result_type(args[0], args[1])
                return torch.empty(shape, dtype=dtype, device="meta")
        return func(*args, **kwargs)


def prepare_half(
    model: Any, method: Any, side: str, act_dtype: str, seed: int, prompt_tokens: int
) -> SplitModel:
    """The split with only ``side``'s parameters real (see the module docstring)."""
    if side not in SIDES:
        raise SplitbenchError(f"live: side must be device or cloud, got {side!r}")
    split = make_split(model, method, mode="numeric", act_dtype=act_dtype, seed=seed)
    for variant in split.decode_variants().values():  # the dry run: every kind of step once
        split.reset()
        split.set_variant(variant)
        split.forward(split.random_ids(prompt_tokens))
        split.forward(split.random_ids(1))
    split.set_variant(None)
    split.reset()
    split.channel.log.clear()
    split.rec.attributing = False  # the sides are known now
    split.live_side = side
    mine = set(split.rec.side_params[side])
    roots = [split.model, *split.extra_modules()]
    for extra in ("pristine", "peft_model"):  # the numeric references' copies: not needed live
        if isinstance(getattr(split, extra, None), nn.Module):
            roots.append(getattr(split, extra))
    foreign: set[int] = set()
    for root in roots:
        for m in root.modules():
            for name, p in list(m._parameters.items()):
                if p is not None and id(p) not in mine:
                    m._parameters[name] = nn.Parameter(_meta(p.data), requires_grad=False)
                    if id(m) not in foreign:
                        foreign.add(id(m))
                        m.register_forward_pre_hook(_to_meta_hook, with_kwargs=True)
                        if isinstance(m, nn.Linear):
                            m.forward = _linear_shape.__get__(m)
                        elif isinstance(m, nn.Embedding):
                            m.forward = _embedding_shape.__get__(m)
                        elif "RMSNorm" in type(m).__name__ or isinstance(m, nn.LayerNorm):
                            m.forward = _same_shape.__get__(m)
    rotary = split.core.rotary_emb
    rotary.forward = _rotary_shape.__get__(rotary)
    for i in range(split.n_layers()):
        layer = split.layers[i]
        if split.layer_side(i) != side:
            has_exchange = any(isinstance(m, SplitLinear) for m in layer.modules())
            split.layers[i] = _ExchangeOnly(layer) if has_exchange else _PassThrough()
    return split


def run_half(split: SplitModel, side: str, sock: socket.socket | None, prompt_tokens: int, new_tokens: int,
             ) -> dict[str, Any]:
    """Generate ``new_tokens`` greedily as one half; the device's token times are the live metrics.
    ``sock`` None: a paradigm that never sends (device-only) runs alone."""
    ch = LiveChannel(split.channel, side, sock)
    split.channel = ch
    split.reset()
    if side == "device":
        ids = split.random_ids(prompt_tokens)
    else:
        ids = torch.empty(1, prompt_tokens, dtype=torch.long, device="meta")
    shapes_only = _OtherSideShapes()
    split.rec.on_begin = lambda s: shapes_only.switch(s != side)
    try:
        return _generate(split, ch, side, ids, prompt_tokens, new_tokens, shapes_only)
    finally:
        shapes_only.switch(False)
        split.rec.on_begin = None


def _generate(split: SplitModel, ch: LiveChannel, side: str, ids: torch.Tensor, prompt_tokens: int,
              new_tokens: int, shapes_only: _OtherSideShapes) -> dict[str, Any]:
    tokens: list[int | None] = []
    times: list[float] = []
    prefill: dict[str, int] = {}
    t0 = time.perf_counter()
    for step in range(new_tokens):
        ch.last_token = None
        logits = split.forward(ids)
        shapes_only.switch(False)
        if logits.device.type != "meta":
            tok = torch.argmax(logits, dim=-1, keepdim=True)
        elif ch.last_token is not None:
            tok = ch.last_token
        else:
            tok = torch.empty(1, 1, dtype=torch.long, device="meta")
        times.append(time.perf_counter() - t0)
        tokens.append(int(tok.item()) if tok.device.type != "meta" else None)
        ids = tok
        if step == 0:
            prefill = dict(ch.payload)
    return {
        "side": side,
        "tokens": tokens,
        "token_times_s": times,
        "up_bytes": ch.payload["up"],
        "down_bytes": ch.payload["down"],
        "prefill_up_bytes": prefill.get("up", 0),
        "prefill_down_bytes": prefill.get("down", 0),
        "messages": ch.messages,
        "cpu_s": time.process_time(),
    }


def reference_tokens(
    model: Any, method: Any, act_dtype: str, seed: int, prompt_tokens: int, new_tokens: int,
    which: tuple[str, ...] = ("split", "reference"),
) -> dict[str, list[int]]:
    """Greedy tokens of the unsplit reference model and/or of the whole split in one process."""
    split = make_split(model, method, mode="numeric", act_dtype=act_dtype, seed=seed)
    ref = split.reference()
    out: dict[str, list[int]] = {}
    for name, runner in (("split", split), ("reference", ref)):
        if name not in which:
            continue
        if runner is split:
            split.reset()
        ids = split.random_ids(prompt_tokens)
        toks = []
        for _ in range(new_tokens):
            tok = torch.argmax(runner.forward(ids), dim=-1, keepdim=True)
            toks.append(int(tok.item()))
            ids = tok
        out[name] = toks
    return out


# ----------------------------------------------------------------------------------- programs
def hello_spec(spec: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "method", "act_dtype", "seed", "prompt_tokens", "new_tokens")
    return {k: spec[k] for k in keys}


def serve_session(conn: socket.socket, halves: dict[str, SplitModel], cc: str, cpu: int | None = None,
                  ) -> dict[str, Any]:
    """The cloud side of one session: read the hello, prepare (or reuse) the half, run it."""
    tune(conn, cc)
    spec = json.loads(recv_blob(conn))
    key = json.dumps(hello_spec(spec), sort_keys=True)
    try:
        if key not in halves:
            halves[key] = prepare_half(spec["model"], spec["method"], "cloud", spec["act_dtype"],
                                       spec["seed"], spec["prompt_tokens"])
    except SplitbenchError as e:
        conn.sendall(b"E" + struct.pack("<I", len(str(e).encode())) + str(e).encode())
        raise
    conn.sendall(b"R")
    with dedicated_cpu(cpu):
        return run_half(halves[key], "cloud", conn, spec["prompt_tokens"], spec["new_tokens"])


def connect_and_run(split: SplitModel, spec: dict[str, Any], host: str, port: int, cc: str,
                    make_socket: Callable[[], socket.socket] | None = None, timeout_s: float = 60.0,
                    cpu: int | None = None, on_ready: Callable[[], Any] | None = None) -> dict[str, Any]:
    """The device side: connect (timed: the handshake), hello, then the timed generation (on core
    ``cpu``: dedicated_cpu). ``make_socket`` creates the socket (e.g. inside an emulator's device
    namespace)."""
    make_socket = make_socket or (lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    deadline = time.monotonic() + timeout_s
    while True:
        sock = make_socket()
        tune(sock, cc)
        t = time.perf_counter()
        try:
            sock.connect((host, port))
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise SplitbenchError(f"live: cannot connect to {host}:{port}") from None
            time.sleep(0.1)
    handshake = time.perf_counter() - t
    try:
        send_blob(sock, json.dumps(hello_spec(spec)).encode())
        status = recv_exact(sock, 1)
        if status != b"R":
            msg = recv_blob(sock).decode() if status == b"E" else "bad answer"
            raise SplitbenchError(f"live: the cloud refused the session: {msg}")
        if on_ready is not None:  # e.g. restart the emulated link, so the request starts it
            on_ready()
        with dedicated_cpu(cpu):
            out = run_half(split, "device", sock, spec["prompt_tokens"], spec["new_tokens"])
    finally:
        sock.close()
    out["handshake_s"] = handshake
    return out


def serve_forever(host: str, port: int, cc: str = "cubic", sessions: int | None = None,
                  log: Callable[[str], None] = print, cpu: int | None = None) -> None:
    """Cloud halves as a server: one session at a time, each half built on its first hello and kept."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        ls.bind((host, port))
    except OSError as e:
        raise SplitbenchError(f"serve: cannot listen on {host}:{port} ({e.strerror})") from None
    ls.listen(4)
    log(f"listening {host}:{port}")
    halves: dict[str, SplitModel] = {}
    done = 0
    while sessions is None or done < sessions:
        conn, peer = ls.accept()
        try:
            out = serve_session(conn, halves, cc, cpu)
            log(json.dumps({"peer": f"{peer[0]}:{peer[1]}", "messages": out["messages"],
                            "up_bytes": out["up_bytes"], "down_bytes": out["down_bytes"]}))
        except (SplitbenchError, OSError, KeyError, ValueError) as e:
            log(json.dumps({"peer": f"{peer[0]}:{peer[1]}", "error": str(e)[:200]}))
        finally:
            conn.close()
        done += 1
    ls.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m splitbench.models.live --listen HOST:PORT [--cc NAME] [--sessions N]``: the cloud
    halves' server (what ``splitbench serve`` runs), on one torch thread unless ``--threads``."""
    import argparse

    p = argparse.ArgumentParser(prog="splitbench-serve")
    p.add_argument("--listen", required=True)
    p.add_argument("--cc", default="cubic")
    p.add_argument("--sessions", type=int)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cpu", type=int, help="run each session on this core at real-time priority")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    host, _, port = a.listen.rpartition(":")
    try:
        serve_forever(host, int(port), a.cc, a.sessions, log=lambda s: print(s, flush=True), cpu=a.cpu)
    except SplitbenchError as e:
        print(f"error: {e}", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
