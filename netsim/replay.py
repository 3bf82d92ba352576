"""Replay an ExecutionTrace on a device, a link and a cloud node: a simpy simulation.

Each compute side is a :class:`ComputeNode` holding a ``simpy.Resource`` (the cloud node can be
shared by several users' sessions in one environment). A session walks each phase's steps in the
order they become ready (all deps done), which is what a per-step process would do, without a
process per step: the walker advances the clock to a step's ready time, requests the node, and
schedules the release at the step's end. Transfers are timed by the link's transport model
(tcp.py), which keeps per-direction connection state across the whole request; they need no
events of their own. So a step costs about one event, and a 1,000-token PrivateLoRA decode
(~130,000 steps) replays in well under two seconds.

Phases overlap where the trace allows it: a phase returns when the next one may start (the end of
its last non-streamed step) and, separately, when its token is known on the device (the end of its
streamed token transfer — ``Transfer.streamed`` — or of the whole phase when it has none). So a
cloud that picks and embeds the token itself (cloud-only, SPA) computes the next token while the
previous one travels down; token times are arrival times on the device, and the down path stays
FIFO (the streamed token and the next step's down messages queue on it in order).

Limitation (documented): if a compute node is busy when one of this user's steps is ready, the
user's walker waits for it, so that user's later-ready steps on other lanes are released no
earlier than that; with one user and a trace whose same-side steps do not overlap this never
changes a result.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace, PhaseTrace

from .link import LinkSpec
from .profiles import Profile
from .tcp import make_path
from .timeline import Record, Timeline

KERNELS_PER_LAYER = 12  # [I] estimate: norms, q/k/v/o, attention, MLP, residual adds in one decoder layer


class ComputeNode:
    """A device or cloud node: a profile plus a simpy resource that serialises its steps."""

    def __init__(self, env: simpy.Environment, profile: Profile, side: str, capacity: int = 1) -> None:
        self.env = env
        self.profile = profile
        self.side = side
        self.resource = simpy.Resource(env, capacity=capacity)


def _weight_bits(trace: ExecutionTrace, side: str) -> int:
    if side == "device":
        return int(trace.meta.get("weight_bits", 16))
    return int(trace.meta.get("cloud_weight_bits", 16))


def measured_scale(trace: ExecutionTrace, profile: Profile, side: str) -> float:
    """Factor that makes a whole-model decode step on ``profile`` take 1/measured tok/s.

    The whole-model roofline comes from ``trace.meta["whole_decode"]`` (models/: the unsplit
    model's decode-step FLOPs, bytes and kernels, the same numbers its device-only / cloud-only
    trace replays), evaluated at the first decode step's context (prompt_tokens). So the
    cloud-only trace decodes at exactly the measured rate, and a split trace's backbone is
    scaled by the same factor — the paper's 1/TPS_cloud_decoder for the backbone, plus the
    split's own extra work at the same efficiency. Older traces without ``whole_decode`` fall
    back to an estimate from ``n_params``: FLOPs 2·n_params, bytes n_params·bits/8,
    KERNELS_PER_LAYER kernels per layer, no KV. 1.0 when the profile has no figure for this model.
    """
    m = profile.measured_decode_tok_s
    if not m:
        return 1.0
    bits = _weight_bits(trace, side)
    tok_s = m.get(f"{trace.model}@{bits}bit", m.get(trace.model))
    n_params = trace.meta.get("n_params")
    if tok_s is None or not n_params:
        return 1.0
    whole = trace.meta.get("whole_decode")
    if isinstance(whole, dict) and int(whole.get("weight_bits", -1)) == bits:
        t = float(trace.prompt_tokens)
        full = profile.step_time(
            whole["flops"] + whole["flops_per_ctx"] * t,
            whole["bytes"] + whole["bytes_per_ctx"] * t,
            int(whole["kernels"]),
            elementwise_bytes=whole.get("elementwise_bytes", 0.0)
            + whole.get("elementwise_bytes_per_ctx", 0.0) * t,
            attention_flops=whole.get("attention_flops", 0.0) + whole.get("attention_flops_per_ctx", 0.0) * t,
        ) + profile.forward_overhead_us * 1e-6
    else:
        full = profile.step_time(
            2.0 * n_params, n_params * bits / 8.0, int(trace.meta.get("n_layers", 0)) * KERNELS_PER_LAYER
        )
    return (1.0 / tok_s) / full


def draw_variants(trace: ExecutionTrace, rng: random.Random, n: int) -> list[str]:
    """The decode variant of each of ``n`` steps, drawn per token from ``rng`` (trace.pick_variant)."""
    names = list(trace.decode)
    if len(names) == 1:
        return names * n
    return [trace.pick_variant(rng.random()) for _ in range(n)]


@dataclass
class _Plan:
    """A phase's static structure, precomputed once per variant."""

    phase: PhaseTrace
    lanes: list[str]
    labels: list[str]
    nbytes: list[int]
    ndeps: list[int]
    dependents: list[list[int]]
    roots: list[int]
    durations: np.ndarray  # (n_steps, n_instances) compute seconds; 0 for transfers
    streamed: list[bool]  # the step is a streamed token transfer: the next phase does not wait for it

    def __post_init__(self) -> None:
        # per-instance Python lists: indexing numpy scalars in the replay loop costs more than the step
        self.columns: list[list[float]] = self.durations.T.tolist()

    @classmethod
    def build(
        cls, phase: PhaseTrace, contexts: np.ndarray, device: Profile, cloud: Profile, scale: dict[str, float]
    ) -> _Plan:
        pos = {s.id: i for i, s in enumerate(phase.steps)}
        n = len(phase.steps)
        dependents: list[list[int]] = [[] for _ in range(n)]
        for i, s in enumerate(phase.steps):
            for d in s.deps:
                dependents[pos[d]].append(i)
        dur = np.zeros((n, len(contexts)))
        lanes, labels, nbytes = [], [], []
        forward_paid: set[str] = set()
        for i, s in enumerate(phase.steps):
            labels.append(s.label)
            if s.kind == "compute":
                lanes.append(s.side)
                prof = device if s.side == "device" else cloud
                # the side's per-forward framework cost goes on its first compute step of the phase
                fwd = 0.0 if s.side in forward_paid else prof.forward_overhead_us * 1e-6
                forward_paid.add(s.side)
                dur[i] = (prof.time_of(s, contexts) + fwd) * scale[s.side]
                nbytes.append(0)
            else:
                lanes.append(s.direction)
                nbytes.append(int(s.payload_bytes))
        ndeps = [len(s.deps) for s in phase.steps]
        streamed = [s.kind == "transfer" and bool(getattr(s, "streamed", False)) for s in phase.steps]
        for i, s in enumerate(phase.steps):
            if streamed[i] and dependents[i]:
                raise SplitbenchError(
                    f"trace: streamed transfer {s.label!r} has dependent steps (nothing may wait for it)"
                )
        roots = [i for i in range(n) if not ndeps[i]]
        return cls(phase, lanes, labels, nbytes, ndeps, dependents, roots, dur, streamed)


class Session:
    """One user's request: handshake, prefill, then new_tokens-1 decode steps on one connection."""

    def __init__(
        self,
        env: simpy.Environment,
        trace: ExecutionTrace,
        link: LinkSpec,
        device: ComputeNode,
        cloud: ComputeNode,
        new_tokens: int,
        seed: int = 0,
        start: float = 0.0,
    ) -> None:
        self.env, self.trace, self.link = env, trace, link
        self.nodes = {"device": device, "cloud": cloud}
        self.new_tokens = new_tokens
        self.start = start
        self.paths = {"up": make_path(link, "up", seed), "down": make_path(link, "down", seed)}
        self.rng = random.Random(seed)
        self.timeline = Timeline(trace.prompt_tokens, self.paths["up"].handshake_s())
        self.busy = {"device": 0.0, "cloud": 0.0}
        self.decode_bytes = {"up": 0, "down": 0}

    def _variants(self) -> list[str]:
        return draw_variants(self.trace, self.rng, self.new_tokens - 1)

    def run(self) -> Generator[simpy.Event, Any, None]:
        tr = self.trace
        dev, cld = self.nodes["device"].profile, self.nodes["cloud"].profile
        one = {"device": 1.0, "cloud": 1.0}
        pre = _Plan.build(tr.prefill, np.array([0.0]), dev, cld, one)
        variants = self._variants()
        # decode step k (k = 1..new_tokens-1) processes generated token k; its KV cache holds
        # prompt + k - 1 tokens before it
        scale = {"device": measured_scale(tr, dev, "device"), "cloud": measured_scale(tr, cld, "cloud")}
        plans: dict[str, tuple[_Plan, dict[int, int]]] = {}
        for name in sorted(set(variants)):
            ks = [k for k, v in enumerate(variants) if v == name]
            ctx = np.array([tr.prompt_tokens + k for k in ks], dtype=float)
            plans[name] = (
                _Plan.build(tr.decode[name], ctx, dev, cld, scale),
                {k: j for j, k in enumerate(ks)},
            )
        if self.start > self.env.now:
            yield self.env.timeout(self.start - self.env.now)
        t = self.start
        t, token = yield from self._phase(pre, 0, t, decode=False)
        self.timeline.token_times.append(token)
        for k, name in enumerate(variants):
            plan, col = plans[name]
            t, token = yield from self._phase(plan, col[k], t, decode=True)
            self.timeline.token_times.append(token)
        tl = self.timeline
        up, down = self.paths["up"], self.paths["down"]
        tl.bytes = {
            "up": up.payload_bytes,
            "down": down.payload_bytes,
            "up_wire": up.wire_bytes,
            "down_wire": down.wire_bytes,
            "up_decode": self.decode_bytes["up"],
            "down_decode": self.decode_bytes["down"],
        }
        tl.messages = up.messages + down.messages
        tl.busy = dict(self.busy)

    def _phase(
        self, plan: _Plan, col: int, t0: float, decode: bool
    ) -> Generator[simpy.Event, Any, tuple[float, float]]:
        """Run one phase instance; return (when the next phase may start: the end of its last
        non-streamed step, when its token is known on the device: the end of the streamed token
        transfer, or the phase's end when it has none)."""
        env = self.env
        n = len(plan.lanes)
        pending = list(plan.ndeps)
        ready = [t0] * n
        heap = [(t0, i) for i in plan.roots]
        heapq.heapify(heap)
        recs: list[Record] = []
        end_all = t0
        token = -1.0
        streamed = plan.streamed
        lanes, labels, durs, deps_of = plan.lanes, plan.labels, plan.columns[col], plan.dependents
        paths, nbytes = self.paths, plan.nbytes
        while heap:
            r, i = heapq.heappop(heap)
            lane = lanes[i]
            if lane == "up" or lane == "down":
                path = paths[lane]
                nb = nbytes[i]
                end = path.send(r, nb)
                start = path.last_start
                wire = path.last_wire
                if decode:
                    self.decode_bytes[lane] += nb
            else:
                if r > env.now:
                    yield env.timeout(r - env.now)
                res = self.nodes[lane].resource
                req = res.request()
                if not req.triggered:
                    yield req
                start = env.now
                d = durs[i]
                end = start + d
                wire = _NO_WIRE
                env.timeout(d).callbacks.append(lambda _e, req=req, res=res: res.release(req))
                self.busy[lane] += d
            recs.append((lane, labels[i], start, end, wire))
            if streamed[i]:
                if end > token:
                    token = end
            elif end > end_all:
                end_all = end
            for j in deps_of[i]:
                if end > ready[j]:
                    ready[j] = end
                pending[j] -= 1
                if not pending[j]:
                    heapq.heappush(heap, (ready[j], j))
        self.timeline.phases.append(recs)
        self.timeline.phase_starts.append(t0)
        return end_all, (token if token >= 0.0 else end_all)


_NO_WIRE: list[list[float]] = []  # a compute step's (shared, never mutated) wire intervals


def simulate(
    trace: ExecutionTrace, link: LinkSpec, device: Profile, cloud: Profile, new_tokens: int, seed: int = 0
) -> Timeline:
    """Replay ``trace`` for one request generating ``new_tokens`` tokens; see the module docstring."""
    if not isinstance(new_tokens, int) or new_tokens < 1:
        raise SplitbenchError(f"new_tokens: must be an integer >= 1, got {new_tokens!r}")
    link = link.validate()
    env = simpy.Environment()
    sess = Session(
        env,
        trace,
        link,
        ComputeNode(env, device, "device"),
        ComputeNode(env, cloud, "cloud"),
        new_tokens,
        seed,
    )
    env.process(sess.run())
    env.run()
    return sess.timeline


def feasible(trace: ExecutionTrace, device: Profile, cloud: Profile, new_tokens: int) -> tuple[bool, str]:
    """Do weights + KV cache at prompt + new_tokens context fit in each side's usable memory?"""
    ctx = trace.prompt_tokens + new_tokens
    for side, prof, base in (
        ("device", device, trace.device_memory_bytes),
        ("cloud", cloud, trace.cloud_memory_bytes),
    ):
        kv = trace.meta.get("kv_bytes_per_token", {}).get(side)
        if kv is None:  # a decode step reads the whole cache: its per-context KV slope is the cache per token
            kv = max(
                (
                    sum(s.kv_bytes_per_ctx for s in p.steps if s.kind == "compute" and s.side == side)
                    for p in trace.decode.values()
                ),
                default=0.0,
            )
        need = base + kv * ctx
        have = prof.usable_bytes()
        if need > have:
            return False, (
                f"{side} {prof.name}: needs {need / 1e9:.2f} GB (weights+buffers "
                f"{base / 1e9:.2f} + KV {kv * ctx / 1e9:.2f} at {ctx} tokens) > usable "
                f"{have / 1e9:.2f} GB ({prof.usable_mem_frac:.0%} of {prof.mem_gb:g} GB)"
            )
    return True, ""
