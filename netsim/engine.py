"""The replay engine: users walking their traces, one cloud shared under a scheduling policy.

One engine replays any number of users; netsim.simulate is the case of one user on an exclusive
cloud (replay.py), netsim.simulate_multiuser the case of N users on a batching one (multiuser.py).

Plans. A phase of the trace (the prefill, each decode variant) becomes one Plan: its steps' lanes,
dependencies and message sizes, and per instance (the decode step's context) each compute step's
duration, priced by the cost model of its side and phase kind (cost.py). A cloud step also keeps
its launch terms and per-instance user terms, so a batched launch is priced by the same function.

Walkers. Each user has a Walker: its own device (steps one at a time), its own link (two TCP
senders from tcp.py, whose state persists across the user's requests) and its own random streams.
Its walk is one Python coroutine for the user's whole life, suspended while it waits for a request
or for a cloud step the policy did not run at once, so a resume carries on with the walk's local
state instead of rebuilding it. It walks a phase's steps in the order they become ready (all deps
done; ties by step index): a device step starts when the device is free, a transfer is timed by the
sender at its ready time, and a cloud step is submitted to the policy. A phase is over when its
steps are; its token is known on the device when its streamed token transfer
(``Transfer.streamed``: cloud-only, SPA) arrives, or at the end of the phase when it has none, and
the next phase may start as soon as the phase's non-streamed work is done — so a cloud that picks
the token itself computes the next one while the previous one travels down, and the down path stays
FIFO. With ``record`` on, a walker keeps every step's start, end and wire intervals for the
timeline.

Policies (the hook). The cloud is a Policy object; the walker calls ``submit(user, step, ready,
ordinal)`` for each cloud step (``ordinal``: its rank among the phase's cloud steps) and gets back
the step's end time if the policy ran it at once, or None, in which case the policy later calls
``user.resume(step, start, end)``. The engine's event loop asks ``next_launch()`` (the earliest
time the cloud will start something; inf if nothing is waiting) and calls ``launch(start)`` when no
request event comes first. Policy._launch prices and accounts a launch (busy time, launches,
batched steps) and resumes its users; a batch's price is memoised by weight key and summed terms.
The policies:

- Exclusive: no batching, one step per launch, first ready first served. With a single user every
  cloud step runs at once, synchronously (start = max(ready, cloud free)): the single-user replay.
- StepBatching (``step``): iteration-level batching, the batch held together. An iteration starts
  when every admitted request has its next forward step ready, and runs that step for all of them:
  the j-th cloud step of each member is launched when all members have it ready (while one member
  waits on its link, the cloud stalls and every member moves at the pace of the slowest link).
- Interleave (``interleave``): layer-level. Whenever the cloud is free it launches, as one batch,
  every ready step that shares weights with the oldest ready step (FIFO, so nothing starves).

A launch batches steps with the same weights (same phase kind, label and launch terms); its price
is the cost model's over the summed user terms (cost.py), so a launch of one step costs exactly
the single-user step time.

Requests. The engine admits requests FIFO by arrival into ``max_batch`` slots (continuous batching;
the slot is freed when the request's last token is known on the device) and runs the request
events (arrivals, releases) on one heap with the policy's launches.

Why simpy is kept to the clock. A decision here is a whole batched launch or a request event, and
between two of them every walker runs on private state (its device, its link) with no scheduler at
all; a simpy process per user and a Resource request per step would multiply the events by the
steps (~66 per PrivateLoRA token) and cost several times more. So the engine is the same
discrete-event scheme on a plain heap, and Engine.process(env) runs it as a simpy process that
advances ``env``'s clock to each decision time, for a caller who embeds the replay in a larger simpy
model; simulate and simulate_multiuser drive the loop directly (a timeout per decision would only
add cost).
"""

from __future__ import annotations

import gc
import heapq
import math
import random
from array import array
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace, PhaseTrace

from .cost import LaunchTerms, RooflineCost, cost_model, sum_terms, user_terms
from .link import LinkSpec
from .profiles import Profile
from .tcp import make_connection
from .timeline import LANES, Phases

DEVICE, CLOUD, UP, DOWN = 0, 1, 2, 3  # lanes, as indices of timeline.LANES
_LANE = {name: i for i, name in enumerate(LANES)}
_ARRIVE, _RELEASE = 0, 1


# ---------------------------------------------------------------------- decode variants
def draw_variants(trace: ExecutionTrace, rng: random.Random, n: int) -> list[str]:
    """The decode variant of each of ``n`` steps, drawn per token from ``rng`` (trace.pick_variant)."""
    names = list(trace.decode)
    if len(names) == 1:
        return names * n
    return [trace.pick_variant(rng.random()) for _ in range(n)]


# ---------------------------------------------------------------------- plans
class Plan:
    """A phase's static structure and every instance's compute durations (module docstring)."""

    __slots__ = (
        "phase", "kind", "n", "lanes", "labels", "nbytes", "ndeps", "dependents", "roots", "streamed",
        "chain", "columns", "keys", "launch", "uterms", "up_bytes", "down_bytes",
    )  # fmt: skip

    def __init__(
        self,
        phase: PhaseTrace,
        kind: str,
        contexts: np.ndarray,
        costs: dict[str, RooflineCost],
        key_of: dict[tuple, int] | None = None,
    ) -> None:
        """``costs``: side -> cost model of this phase kind; ``key_of`` (batching): the engine's
        weight-key table, to which the cloud steps' keys are added (None: no batching data)."""
        steps = phase.steps
        self.phase, self.kind, self.n = phase, kind, len(steps)
        pos = {s.id: i for i, s in enumerate(steps)}
        self.dependents: list[list[int]] = [[] for _ in steps]
        for i, s in enumerate(steps):
            for d in s.deps:
                self.dependents[pos[d]].append(i)
        self.ndeps = [len(s.deps) for s in steps]
        self.roots = [i for i in range(self.n) if not self.ndeps[i]]
        # the step that waits for step i alone, if that is i's only dependent (else -1): a chain link
        self.chain = [d[0] if len(d) == 1 and self.ndeps[d[0]] == 1 else -1 for d in self.dependents]
        self.labels = [s.label for s in steps]
        self.streamed = [s.kind == "transfer" and bool(getattr(s, "streamed", False)) for s in steps]
        for i, s in enumerate(steps):
            if self.streamed[i] and self.dependents[i]:
                raise SplitbenchError(
                    f"trace: streamed transfer {s.label!r} has dependent steps (nothing may wait for it)"
                )
        self.lanes, self.nbytes = [], []
        self.keys: list[int] = [-1] * self.n
        self.launch: list[LaunchTerms | None] = [None] * self.n
        self.uterms: list[list[tuple] | None] = [None] * self.n
        dur = np.zeros((self.n, len(contexts)))
        msgs = message_ends(steps, self.dependents)
        first: set[str] = set()
        for i, s in enumerate(steps):
            if s.kind != "compute":
                self.lanes.append(_LANE[s.direction])
                self.nbytes.append(int(s.payload_bytes))
                continue
            self.lanes.append(_LANE[s.side])
            self.nbytes.append(0)
            launch = LaunchTerms.of(s, forward=s.side not in first)  # the side's per-forward cost
            first.add(s.side)
            terms = user_terms(s, contexts, msgs[i])
            dur[i] = costs[s.side].price(launch, *terms)
            if s.side == "cloud" and key_of is not None:
                key = (kind, s.label, launch)
                self.keys[i] = key_of.setdefault(key, len(key_of))
                self.launch[i] = launch
                cols = [np.broadcast_to(np.asarray(x, dtype=float), contexts.shape).tolist() for x in terms]
                self.uterms[i] = list(zip(*cols, strict=True))
        # per instance, an array of C doubles: indexing numpy scalars in the walk costs more than the
        # step, and a list of Python floats is four times the memory a many-user run's users, each at
        # its own instance, cycle through
        self.columns: list[array[float]] = [array("d", row.tobytes()) for row in np.ascontiguousarray(dur.T)]
        self.up_bytes = sum(b for b, lane in zip(self.nbytes, self.lanes, strict=True) if lane == UP)
        self.down_bytes = sum(b for b, lane in zip(self.nbytes, self.lanes, strict=True) if lane == DOWN)


def message_ends(steps: list[Any], dependents: list[list[int]]) -> list[int]:
    """Per step of a phase, the messages its side handles at its ends (cost.py's ``messages`` term):
    a transfer is sent at the end of the latest sending-side compute step it depends on and received
    at the start of the earliest receiving-side compute step that depends on it (a message with no
    such step on one end costs nothing there)."""
    pos = {s.id: i for i, s in enumerate(steps)}
    counts = [0] * len(steps)
    for j, s in enumerate(steps):
        if s.kind == "compute":
            continue
        sender = "device" if s.direction == "up" else "cloud"
        before = [pos[d] for d in s.deps if steps[pos[d]].kind == "compute" and steps[pos[d]].side == sender]
        after = [k for k in dependents[j] if steps[k].kind == "compute" and steps[k].side != sender]
        if before:
            counts[max(before)] += 1
        if after:
            counts[min(after)] += 1
    return counts


def build_plans(
    trace: ExecutionTrace,
    device: Profile,
    cloud: Profile,
    new_tokens: int,
    key_of: dict[tuple, int] | None = None,
) -> tuple[Plan, dict[str, Plan]]:
    """The prefill plan and one plan per decode variant over every decode step's context.

    Decode step k (k = 1..new_tokens-1) processes generated token k; its KV cache holds
    prompt + k - 1 tokens before it (instance k - 1 of each variant's plan).
    """

    def costs(kind: str) -> dict[str, RooflineCost]:
        return {side: cost_model(trace, p, side, kind) for side, p in (("device", device), ("cloud", cloud))}

    pre = Plan(trace.prefill, "prefill", np.array([0.0]), costs("prefill"), key_of)
    dec: dict[str, Plan] = {}
    if new_tokens > 1:
        ctx = trace.prompt_tokens + np.arange(new_tokens - 1, dtype=float)
        c = costs("decode")
        for name in sorted(trace.decode):
            dec[name] = Plan(trace.decode[name], "decode", ctx, c, key_of)
    return pre, dec


# ---------------------------------------------------------------------- requests
class Request:
    """One request's life: arrival, slot, and the time each output token became known."""

    __slots__ = ("user", "arrival", "admit", "token_times", "variants")

    def __init__(self, user: int, arrival: float) -> None:
        self.user, self.arrival, self.admit = user, arrival, math.nan
        self.token_times: list[float] = []
        self.variants: list[str] = []

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.arrival

    @property
    def tpot(self) -> float | None:
        n = len(self.token_times) - 1
        return (self.token_times[-1] - self.token_times[0]) / n if n > 0 else None

    @property
    def queue_delay(self) -> float:
        return self.admit - self.arrival


# ---------------------------------------------------------------------- walkers
class Walker:
    """One user: replays its own steps, hands cloud steps to the policy (module docstring)."""

    def __init__(
        self, idx: int, link: LinkSpec, seed: int, plans: tuple[Plan, dict[str, Plan]], eng: Engine,
        record: bool = False, name: str = "",
    ) -> None:  # fmt: skip
        self.idx, self.name, self.eng = idx, name, eng
        self.pre, self.dec = plans
        self.paths = [None, None, *make_connection(link, seed)]
        self.handshake_s = self.paths[UP].handshake_s()
        self.rng = random.Random(seed)
        self.dev_busy = 0.0
        self.decode_bytes = [0, 0, 0, 0]  # decode payload per lane (up, down)
        self.busy = False  # a request of this user is queued or running
        self.backlog: list[Request] = []
        self.requests: list[Request] = []
        self.req: Request | None = None
        # the phase being walked, read by the policy: its plan, instance and step durations
        self.plan, self.col, self.durs = self.pre, 0, self.pre.columns[0]
        self.record = record
        self.phases = Phases()  # record: every step of every phase
        self.phase_starts: list[float] = []
        self.walk = self._walk()
        next(self.walk)  # suspended until its first request

    def start(self, req: Request, t: float) -> None:
        """Begin ``req`` at ``t`` (the walker is between requests)."""
        self.req = req
        req.variants = draw_variants(self.eng.trace, self.rng, self.eng.new_tokens - 1)
        self.walk.send(t)

    def resume(self, i: int, start: float, end: float) -> None:
        """The policy ran this user's cloud step ``i`` (the one it waits for) from ``start`` to ``end``."""
        self.walk.send((start, end))

    def _walk(self) -> Generator[None, Any, None]:
        """The user's life as one coroutine: it waits (yields) for a request, walks the request's
        phases, and waits again wherever the policy does not run a cloud step at once.

        Within a phase, steps run in (ready time, index) order from a heap; a step that becomes
        ready while the heap is empty and nothing else does is run next without going through it
        (a chain of steps, as most traces are, never touches the heap)."""
        heappop, heappush = heapq.heappop, heapq.heappush
        eng, paths, record = self.eng, self.paths, self.record
        pol, new_tokens = eng.policy, eng.new_tokens
        submit = pol.submit
        dev_free, dev_busy = 0.0, self.dev_busy
        rec: Callable[[tuple], None] | None = None  # record: extends the phase's flat record (Phases)
        while True:
            t = yield  # a request starts (start)
            req, plan, col, k = self.req, self.pre, 0, 0
            while True:  # the request's phases: the prefill (k = 0), then decode step k = 1..new_tokens-1
                self.plan, self.col, self.durs = plan, col, plan.columns[col]
                lanes, nbytes, deps_of, chain, streamed = (
                    plan.lanes, plan.nbytes, plan.dependents, plan.chain, plan.streamed,
                )  # fmt: skip
                durs = self.durs
                # deps left and ready time per step, made when a step first needs them (a chain never does)
                pending: list[int] | None = None
                ready: list[float] = []
                heap = [(t, i) for i in plan.roots]
                heapq.heapify(heap)
                end_all = t  # end of the phase's non-streamed work: when the next phase may start
                token = -1.0  # end of its streamed token transfer (none yet)
                ordinal = 0
                if record:
                    rec = self.phases.add(lanes, plan.labels).extend
                    self.phase_starts.append(t)
                nxt, rn = -1, 0.0
                while True:
                    if nxt >= 0:
                        r, i, nxt = rn, nxt, -1
                    elif heap:
                        r, i = heappop(heap)
                    else:
                        break
                    lane = lanes[i]
                    if lane == CLOUD:
                        end = submit(self, i, r, ordinal)  # a policy never reads the walk's locals
                        ordinal += 1
                        if end is None:  # wait for the policy (resume)
                            s, end = yield
                        else:
                            s = pol.last_start
                        if rec is not None:
                            rec((i, s, end))
                    elif lane == DEVICE:
                        s = r if r > dev_free else dev_free
                        d = durs[i]
                        end = dev_free = s + d
                        dev_busy += d
                        if rec is not None:
                            rec((i, s, end))
                    else:
                        path = paths[lane]
                        end = path.send(r, nbytes[i])
                        if rec is not None:
                            w, s = path.last_wires, path.last_start
                            rec((i, s, end, path.last_wire_start, path.last_wire_end) if w is None
                                else (i, s, end, w, None))
                        if streamed[i]:  # the token on its way to the user: nothing waits for it
                            if end > token:
                                token = end
                            continue
                    if end > end_all:
                        end_all = end
                    j = chain[i]
                    if j >= 0 and not heap:  # i's only dependent waits for i alone: ready now, next
                        nxt, rn = j, (end if end > t else t)  # its ready time, as the loop below sets it
                        continue
                    if pending is None:
                        pending, ready = list(plan.ndeps), [t] * plan.n
                    for j in deps_of[i]:
                        if end > ready[j]:
                            ready[j] = end
                        pending[j] -= 1
                        if not pending[j]:
                            if nxt < 0 and not heap:
                                nxt, rn = j, ready[j]
                            else:
                                if nxt >= 0:
                                    heappush(heap, (rn, nxt))
                                    nxt = -1
                                heappush(heap, (ready[j], j))
                # phase over: its token is known on the device when its streamed transfer (if any) ends
                if plan.kind == "decode":
                    self.decode_bytes[UP] += plan.up_bytes
                    self.decode_bytes[DOWN] += plan.down_bytes
                token = token if token >= 0.0 else end_all
                req.token_times.append(token)
                k += 1
                if k >= new_tokens:
                    break
                plan, col, t = self.dec[req.variants[k - 1]], k - 1, end_all  # build_plans: instance k - 1
            self.dev_busy = dev_busy
            eng.finished(self, token)


# ---------------------------------------------------------------------- policies
class Policy:
    """The shared cloud's scheduling policy (the hook: module docstring). Holds the cloud's clock
    and accounting; subclasses decide what runs when."""

    name = ""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.free = 0.0  # when the cloud's current launch ends
        self.last_start = 0.0  # when it began
        self.busy_s = 0.0
        self.stall_s = 0.0
        self.launches = 0
        self.launched_steps = 0
        self.iterations = 0
        self.pending: list[tuple] = []  # (ready, seq, user, step) submitted, not yet launched
        self.seq = 0
        self.prices: dict[tuple, float] = {}  # (weight key, summed user terms) -> a batch's seconds

    def submit(self, user: Walker, i: int, r: float, ordinal: int) -> float | None:
        self.seq += 1
        heapq.heappush(self.pending, (r, self.seq, user, i))
        return None

    def next_launch(self) -> float:
        raise NotImplementedError

    def launch(self, start: float) -> None:
        raise NotImplementedError

    def _account(self, start: float, d: float, steps: int) -> float:
        """Account a launch of ``steps`` steps taking ``d`` seconds from ``start``; return its end."""
        end = start + d
        self.last_start, self.free = start, end
        self.busy_s += d
        self.launches += 1
        self.launched_steps += steps
        return end

    def _run(self, start: float, items: list[tuple[Walker, int]]) -> float:
        """Price and account one launch of ``items`` (user, step) sharing weights; return its end.

        A batch's price is the cost model's over the summed user terms, memoised by weight key and
        summed terms (a pure function of the two: launches of users at the same contexts repeat)."""
        u, i = items[0]
        if len(items) == 1:  # the single-user step time, as planned
            return self._account(start, u.durs[i], 1)
        plan = u.plan
        terms = sum_terms([w.plan.uterms[j][w.col] for w, j in items])
        key = (plan.keys[i], terms)
        d = self.prices.get(key)
        if d is None:
            d = self.prices[key] = float(self.engine.cloud_cost[plan.kind].price(plan.launch[i], *terms))
        return self._account(start, d, len(items))

    def _launch_one(self, start: float, u: Walker, i: int) -> None:
        """A launch of one step: the user's planned step time."""
        u.resume(i, start, self._account(start, u.durs[i], 1))

    def _launch(self, start: float, items: list[tuple[Walker, int]]) -> float:
        end = self._run(start, items)
        for u, i in items:
            u.resume(i, start, end)
        return end

    def _launch_groups(self, start: float, items: list[tuple[Walker, int]]) -> None:
        """Launch ``items`` back to back, one launch per weight key (first-seen order)."""
        groups: dict[int, list[tuple]] = {}
        for u, i in items:
            groups.setdefault(u.plan.keys[i], []).append((u, i))
        t = start
        for g in groups.values():
            t = self._launch(t, g)


class Exclusive(Policy):
    """No batching: one step per launch, the earliest ready first; a lone user's steps run at once."""

    name = "exclusive"

    def submit(self, user: Walker, i: int, r: float, ordinal: int) -> float | None:
        if not self.engine.solo:
            return super().submit(user, i, r, ordinal)
        return self._account(r if r > self.free else self.free, user.durs[i], 1)

    def next_launch(self) -> float:
        if not self.pending:
            return math.inf
        r = self.pending[0][0]
        return r if r > self.free else self.free

    def launch(self, start: float) -> None:
        _, _, u, i = heapq.heappop(self.pending)
        self._launch_one(start, u, i)


class Interleave(Policy):
    """Layer-level batching: the oldest ready step and every ready step sharing its weights."""

    name = "interleave"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.pool: dict[int, list[tuple]] = {}  # key -> [(user, step)], all ready
        self.key_heap: list[tuple] = []  # (oldest ready, seq, key), one entry per non-empty pool key

    def next_launch(self) -> float:
        if self.key_heap:
            return self.free
        if self.pending:
            r = self.pending[0][0]
            return r if r > self.free else self.free
        return math.inf

    def launch(self, start: float) -> None:
        pend, pool, kh = self.pending, self.pool, self.key_heap
        n = len(pend)
        if not kh and (n < 2 or pend[1][0] > start) and (n < 3 or pend[2][0] > start):
            _, _, u, i = heapq.heappop(pend)  # the only step ready: a launch of one, no pooling
            self._launch_one(start, u, i)
            return
        while pend and pend[0][0] <= start:
            r, sq, u, i = heapq.heappop(pend)
            k = u.plan.keys[i]
            lst = pool.get(k)
            if lst:
                lst.append((u, i))
            else:
                pool[k] = [(u, i)]
                heapq.heappush(kh, (r, sq, k))
        _, _, k = heapq.heappop(kh)
        self._launch(start, pool.pop(k))


class StepBatching(Policy):
    """Iteration-level batching with the batch held together (module docstring)."""

    name = "step"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.iter_items: list[tuple] = []  # later cloud steps of the iteration's members

    def submit(self, user: Walker, i: int, r: float, ordinal: int) -> float | None:
        if ordinal > 0:
            self.iter_items.append((r, user, i))
            return None
        return super().submit(user, i, r, ordinal)

    def next_launch(self) -> float:
        # when every admitted user's next forward step is ready (each of them has one pending:
        # walkers never wait for anything but the cloud)
        if not self.pending:
            return math.inf
        r = max(x[0] for x in self.pending)
        return r if r > self.free else self.free

    def launch(self, start: float) -> None:
        pend = self.pending
        members = []
        while pend and pend[0][0] <= start:
            _, _, u, i = heapq.heappop(pend)
            members.append((u, i))
        self.iterations += 1
        self.iter_items = []
        self._launch_groups(start, members)
        while self.iter_items:
            items, self.iter_items = self.iter_items, []
            s = max(self.free, max(r for r, _, _ in items))
            self.stall_s += s - self.free
            self._launch_groups(s, [(u, i) for _, u, i in items])


POLICIES: dict[str, type[Policy]] = {p.name: p for p in (Interleave, StepBatching, Exclusive)}


# ---------------------------------------------------------------------- the engine
class Engine:
    """Users, the shared cloud's policy, request slots and the event heap (module docstring)."""

    def __init__(
        self, trace: ExecutionTrace, cloud: Profile, new_tokens: int, max_batch: int, policy: str
    ) -> None:
        if policy not in POLICIES:
            raise SplitbenchError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.trace, self.cloud, self.new_tokens, self.max_batch = trace, cloud, new_tokens, max_batch
        self.cloud_cost = {k: cost_model(trace, cloud, "cloud", k) for k in ("prefill", "decode")}
        self.policy = POLICIES[policy](self)
        self.key_of: dict[tuple, int] = {}  # weight key -> index (batching)
        self.users: list[Walker] = []
        self.solo = False
        self.events: list[tuple] = []
        self.seq = 0
        self.slots = max_batch
        self.queue: list[tuple] = []  # (arrival, seq, user, request) waiting for a slot
        self.on_finish: Callable[[Walker, float], None] | None = None  # closed loop: next request
        self._plans: dict[int, tuple[Profile, tuple[Plan, dict[str, Plan]]]] = {}

    def plans_for(self, device: Profile) -> tuple[Plan, dict[str, Plan]]:
        """The plans of users with ``device`` (built once per device profile object: hashing a
        Profile serialises it, too slow to do for each of a thousand users)."""
        got = self._plans.get(id(device))
        if got is None:
            batching = self.policy.name != "exclusive"
            key_of = self.key_of if batching else None
            plans = build_plans(self.trace, device, self.cloud, self.new_tokens, key_of)
            got = self._plans[id(device)] = (device, plans)  # the profile is kept: its id stays its own
        return got[1]

    def add_user(
        self, link: LinkSpec, device: Profile, seed: int, record: bool = False, name: str = ""
    ) -> Walker:
        u = Walker(len(self.users), link, seed, self.plans_for(device), self, record, name)
        self.users.append(u)
        return u

    # ---------------------------------------------------------------- walker interface
    def finished(self, user: Walker, t: float) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, _RELEASE, user, None))

    def push_arrival(self, t: float, user: Walker, req: Request) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, _ARRIVE, user, req))

    # ---------------------------------------------------------------- events
    def _event(self) -> None:
        t, _, kind, user, req = heapq.heappop(self.events)
        if kind == _ARRIVE:
            user.requests.append(req)
            if user.busy:
                user.backlog.append(req)
            else:
                user.busy = True
                self._enqueue(req, user)
        else:
            self.slots += 1
            user.busy = False
            if user.backlog:
                user.busy = True
                self._enqueue(user.backlog.pop(0), user)
            if self.on_finish is not None:
                self.on_finish(user, t)
        while self.slots and self.queue:
            _, _, u, rq = heapq.heappop(self.queue)
            self.slots -= 1
            rq.admit = t
            u.start(rq, t)

    def _enqueue(self, req: Request, user: Walker) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (req.arrival, self.seq, user, req))

    def _loop(self) -> Generator[float, None, None]:
        """The event loop; yields each decision's time before acting on it."""
        self.solo = len(self.users) == 1
        pol, events, inf = self.policy, self.events, math.inf
        while True:
            s = pol.next_launch()
            if events and events[0][0] <= s:
                yield events[0][0]
                self._event()
                continue
            if s == inf:
                return
            yield s
            pol.launch(s)

    def run(self) -> None:
        # The walk allocates a few objects per step and frees them by reference counting; the
        # cyclic collector would rescan every live record and heap entry again and again (it
        # doubled the single-user replay's time), so it is paused for the run.
        paused = gc.isenabled()
        gc.disable()
        try:
            for _ in self._loop():
                pass
        finally:
            if paused:
                gc.enable()

    def process(self, env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        """The same loop as a simpy process: ``env``'s clock follows the decisions, then the end."""
        for t in self._loop():
            if t > env.now:
                yield env.timeout(t - env.now)
        end = max((r.token_times[-1] for u in self.users for r in u.requests), default=env.now)
        if end > env.now:
            yield env.timeout(end - env.now)

