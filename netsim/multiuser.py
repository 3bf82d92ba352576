"""Many users, one cloud: queueing, continuous batching and layer-level interleaving.

PrivateLoRA and SPA only pay off if the cloud's backbone is shared between users; this module
replays N users' requests against one batching cloud node.

Model
-----
- Each user has its own device (a Profile; its compute steps run one at a time) and its own link:
  two TCP senders from tcp.py whose state (cwnd, RTT estimate, idle restart) persists across the
  user's requests. Each user walks its trace exactly as replay.Session does (steps in ready-time
  order, ties by step index) — so with one user every time equals netsim.simulate's.
- The cloud is shared. A cloud step that becomes ready is *submitted* to the scheduler; the cloud
  runs one launch at a time, and a launch batches the submitted steps that share weights (same
  phase kind, label and weight bytes: the same decoder layers), costed by the batched roofline of
  batching.py (weights read once, FLOPs and activation/KV bytes per user). A launch of one step
  costs exactly the single-user step time.
- Continuous batching: at most ``max_batch`` requests hold a cloud slot (their KV cache) at a
  time; a request takes a slot when it starts (FIFO by arrival) and frees it when its last token
  is known on the device. Queueing delay = slot time - arrival time; TTFT counts from arrival.
- Two cloud scheduling policies:
  - ``step``: iteration-level batching, the batch held together. An iteration starts when every
    admitted request has its next forward step (prefill or decode) ready, and runs that step for
    all of them: the j-th cloud step of each member is launched when all members have it ready.
    While a PrivateLoRA member waits on its per-layer round trip, the whole batch — and the
    cloud — waits: the cloud idles ("stall") and every member moves at the pace of the slowest
    link. A request admitted during an iteration joins the next one.
  - ``interleave``: layer-level. Whenever the cloud is free it launches, as one batch, every ready
    step that shares weights with the oldest ready step (FIFO, so nothing starves); users waiting
    on their link simply are not in it, and the cloud fills their round trips with other users'
    layers.
- Arrivals: ``closed`` — each user issues ``requests_per_user`` requests one after another, the
  first at t = 0, the next an exponentially distributed think time (mean ``think_time_s``; 0 = none)
  after the previous one ends. ``{"poisson": rate}`` — an open stream of users x
  requests_per_user requests with exponential gaps (mean 1/rate), the k-th going to user k mod N;
  a user serves its own requests in order (one connection), and the time a request waits for its
  user's previous one counts as queueing delay. The run ends when every request has finished.
- Randomness: user i draws from seed + i * 1_000_003 (its links' loss/jitter and SPA's gate, as
  in netsim.simulate — so user 0 with ``seed`` reproduces the single-user run); think times and
  arrival gaps from their own seeded generators; the user mix is assigned by largest remainder
  and shuffled with the seed.

A decode step of a user is ready when its previous step's non-streamed work is done, as in
netsim.simulate: where the trace streams the token (``Transfer.streamed``: cloud-only, SPA) the
next step does not wait for the token's downlink, and token times are arrivals on the device (a
request's slot is freed when its last token has arrived).

Why not simpy here: the scheduler decides a whole batched launch at once, so the simulation needs
one heap event per launch and one per request event, and users' walkers run between them with no
scheduler at all (their device and link are private). With ~1.7 M PrivateLoRA messages for 100
users x 256 tokens, a simpy process per user and a Request per step would cost several times
more. The event loop below is the same discrete-event scheme in a plain heap.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace, PhaseTrace

from .batching import apportion, batched_step_time
from .link import LinkSpec
from .profiles import Profile
from .replay import _Plan, draw_variants, measured_scale
from .tcp import make_path

DEVICE, CLOUD, UP, DOWN = 0, 1, 2, 3
_LANES = {"device": DEVICE, "cloud": CLOUD, "up": UP, "down": DOWN}
POLICIES = ("step", "interleave")
USER_SEED_STRIDE = 1_000_003
_ARRIVE, _RELEASE = 0, 1


@dataclass(frozen=True)
class UserClass:
    """A kind of user: a link and a device, and its share of the population."""

    name: str
    link: LinkSpec
    device: Profile
    share: float = 1.0


@dataclass(frozen=True)
class Arrival:
    """``closed`` (think-time loop per user) or ``poisson`` (open stream at ``rate_rps``)."""

    kind: str = "closed"
    rate_rps: float = 0.0

    @staticmethod
    def parse(spec: Any) -> Arrival:
        if isinstance(spec, Arrival):
            return spec
        if spec is None or spec == "closed":
            return Arrival("closed")
        if isinstance(spec, Mapping) and set(spec) == {"poisson"}:
            rate = spec["poisson"]
            if (
                isinstance(rate, bool)
                or not isinstance(rate, int | float)
                or not math.isfinite(rate)
                or rate <= 0
            ):
                raise SplitbenchError(
                    f"arrival.poisson: rate must be a positive number of requests/s, got {rate!r}"
                )
            return Arrival("poisson", float(rate))
        raise SplitbenchError(f"arrival: must be 'closed' or {{poisson: rate_rps}}, got {spec!r}")

    def label(self) -> str:
        return "closed" if self.kind == "closed" else f"poisson:{self.rate_rps:g}"


@dataclass
class Request:
    """One request's life: arrival, slot, and the time each output token became known."""

    user: int
    arrival: float
    admit: float = math.nan
    token_times: list[float] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)

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


class _MPlan:
    """A phase plan (replay._Plan) plus what batching needs: per cloud step its weight key and, per
    instance (context), its FLOPs and non-weight bytes."""

    __slots__ = (
        "lanes",
        "nbytes",
        "ndeps",
        "dependents",
        "roots",
        "columns",
        "streamed",
        "keys",
        "cflops",
        "cother",
        "celem",
        "cattn",
        "n",
    )

    def __init__(self, plan: _Plan, contexts: np.ndarray, kind: str, key_of: dict, scale: float) -> None:
        ph: PhaseTrace = plan.phase
        self.n = len(ph.steps)
        self.lanes = [_LANES[x] for x in plan.lanes]
        self.nbytes, self.ndeps, self.dependents, self.roots = (
            plan.nbytes,
            plan.ndeps,
            plan.dependents,
            plan.roots,
        )
        self.columns = plan.columns
        self.streamed = plan.streamed
        self.keys: list[int] = [-1] * self.n
        self.cflops: list[list[float] | None] = [None] * self.n
        self.cother: list[list[float] | None] = [None] * self.n
        self.celem: list[list[float] | None] = [None] * self.n
        self.cattn: list[list[float] | None] = [None] * self.n
        for i, s in enumerate(ph.steps):
            if s.kind != "compute" or s.side != "cloud":
                continue
            k = (kind, s.label, float(s.weight_bytes), int(s.kernels), s.dtype)
            if k not in key_of:
                key_of[k] = (len(key_of), float(s.weight_bytes), int(s.kernels), s.dtype, scale)
            self.keys[i] = key_of[k][0]
            self.cflops[i] = (s.flops + s.flops_per_ctx * contexts).tolist()
            slope = s.kv_bytes_per_ctx + s.activation_bytes_per_ctx
            self.cother[i] = (s.activation_bytes + s.kv_bytes + slope * contexts).tolist()
            self.celem[i] = np.broadcast_to(s.elementwise_bytes_at(contexts), contexts.shape).tolist()
            self.cattn[i] = np.broadcast_to(s.attention_flops_at(contexts), contexts.shape).tolist()


class _User:
    """One user's walker: replays its own steps, hands cloud steps to the scheduler and waits."""

    def __init__(self, idx: int, cls: UserClass, seed: int, plans: tuple, eng: _Engine) -> None:
        self.idx, self.cls, self.eng = idx, cls, eng
        self.pre, self.dec = plans
        self.paths = [None, None, make_path(cls.link, "up", seed), make_path(cls.link, "down", seed)]
        self.handshake_s = self.paths[UP].handshake_s()
        self.rng = random.Random(seed)
        self.dev_free = 0.0
        self.dev_busy = 0.0
        self.busy = False  # a request of this user is queued or running
        self.backlog: list[Request] = []
        self.requests: list[Request] = []
        self.req: Request | None = None

    # ---------------------------------------------------------------- request / phase control
    def start(self, req: Request, t: float) -> None:
        self.req = req
        req.variants = draw_variants(self.eng.trace, self.rng, self.eng.new_tokens - 1)
        self.phase_no = 0
        self._begin(self.pre, 0, t)
        self._walk()

    def _begin(self, plan: _MPlan, col: int, t0: float) -> None:
        self.plan, self.col, self.durs = plan, col, plan.columns[col]
        self.pending = list(plan.ndeps)
        self.ready = [t0] * plan.n
        self.heap = [(t0, i) for i in plan.roots]
        heapq.heapify(self.heap)
        self.end_all = t0  # end of the phase's non-streamed work: when the next phase may start
        self.token = -1.0  # end of its streamed token transfer (none yet)
        self.ordinal = 0

    def resume(self, i: int, end: float) -> None:
        """The scheduler finished this user's cloud step ``i`` at ``end``."""
        self._done(i, end)
        self._walk()

    def _done(self, i: int, end: float) -> None:
        if end > self.end_all:
            self.end_all = end
        ready, pending, heap = self.ready, self.pending, self.heap
        for j in self.plan.dependents[i]:
            if end > ready[j]:
                ready[j] = end
            pending[j] -= 1
            if not pending[j]:
                heapq.heappush(heap, (ready[j], j))

    def _walk(self) -> None:
        """Run every step not behind a cloud step; stop at the next cloud step or request end."""
        heappop, heappush = heapq.heappop, heapq.heappush
        while True:
            plan = self.plan
            heap, ready, pending = self.heap, self.ready, self.pending
            lanes, nbytes, deps_of, durs, paths, streamed = (
                plan.lanes,
                plan.nbytes,
                plan.dependents,
                self.durs,
                self.paths,
                plan.streamed,
            )
            end_all = self.end_all
            while heap:
                r, i = heappop(heap)
                lane = lanes[i]
                if lane == CLOUD:
                    self.end_all = end_all
                    self.eng.submit(self, i, r, self.ordinal)
                    self.ordinal += 1
                    return
                if lane == DEVICE:
                    s = r if r > self.dev_free else self.dev_free
                    d = durs[i]
                    end = s + d
                    self.dev_free = end
                    self.dev_busy += d
                else:
                    end = paths[lane].send(r, nbytes[i])
                    if streamed[i]:  # the token on its way to the user: nothing waits for it
                        if end > self.token:
                            self.token = end
                        continue
                if end > end_all:
                    end_all = end
                for j in deps_of[i]:
                    if end > ready[j]:
                        ready[j] = end
                    pending[j] -= 1
                    if not pending[j]:
                        heappush(heap, (ready[j], j))
            # phase over: its token is known on the device when its streamed transfer (if any) ends
            req = self.req
            token = self.token if self.token >= 0.0 else end_all
            req.token_times.append(token)
            self.phase_no += 1
            if self.phase_no >= self.eng.new_tokens:
                self.eng.finished(self, token)
                return
            k = self.phase_no - 1
            self._begin(self.dec[req.variants[k]], k, end_all)


class _Engine:
    """The shared cloud: slots, the ready-step pool, launches; and the event heap."""

    def __init__(
        self, trace: ExecutionTrace, cloud: Profile, new_tokens: int, max_batch: int, policy: str
    ) -> None:
        self.trace, self.cloud, self.new_tokens = trace, cloud, new_tokens
        self.max_batch, self.policy = max_batch, policy
        self.key_of: dict[tuple, tuple] = {}
        self.key_info: list[tuple] = []
        self.pending: list[tuple] = []  # (ready, seq, user, step) not yet in the pool
        self.pool: dict[int, list[tuple]] = {}  # key -> [(user, step)], all ready
        self.key_heap: list[tuple] = []  # (oldest ready, seq, key), one entry per non-empty pool key
        self.iter_items: list[tuple] = []  # step policy: later cloud steps of the iteration's members
        self.events: list[tuple] = []
        self.seq = 0
        self.slots = max_batch
        self.queue: list[tuple] = []  # (arrival, seq, user, request) waiting for a slot
        self.cloud_free = 0.0
        self.busy_s = 0.0
        self.stall_s = 0.0
        self.launches = 0
        self.launched_steps = 0
        self.iterations = 0
        self.users: list[_User] = []
        self.on_finish = None  # closed loop: schedules the user's next request

    # ---------------------------------------------------------------- walker interface
    def submit(self, user: _User, i: int, r: float, ordinal: int) -> None:
        if self.policy == "step" and ordinal > 0:
            self.iter_items.append((r, user, i))
        else:
            self.seq += 1
            heapq.heappush(self.pending, (r, self.seq, user, i))

    def finished(self, user: _User, t: float) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, _RELEASE, user, None))

    def push_arrival(self, t: float, user: _User, req: Request) -> None:
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

    def _enqueue(self, req: Request, user: _User) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (req.arrival, self.seq, user, req))

    # ---------------------------------------------------------------- launches
    def _cost(self, key: int, items: list[tuple]) -> float:
        if len(items) == 1:  # the single-user step time, bit for bit
            u, i = items[0]
            return u.durs[i]
        _, w, kernels, dtype, scale = self.key_info[key]
        f = m = e = a = 0.0
        for u, i in items:
            c = u.col
            f += u.plan.cflops[i][c]
            m += u.plan.cother[i][c]
            e += u.plan.celem[i][c]
            a += u.plan.cattn[i][c]
        return batched_step_time(self.cloud, f, w, m, kernels, dtype, scale, e, a)

    def _launch(self, start: float, key: int, items: list[tuple]) -> float:
        d = self._cost(key, items)
        end = start + d
        self.cloud_free = end
        self.busy_s += d
        self.launches += 1
        self.launched_steps += len(items)
        for u, i in items:
            u.resume(i, end)
        return end

    def _launch_groups(self, start: float, items: list[tuple]) -> None:
        """Launch ``items`` (user, step) back to back, one launch per weight key (first-seen order)."""
        groups: dict[int, list[tuple]] = {}
        for u, i in items:
            groups.setdefault(u.plan.keys[i], []).append((u, i))
        t = start
        for key, g in groups.items():
            t = self._launch(t, key, g)

    def _interleave(self, start: float) -> None:
        pend, pool, kh = self.pending, self.pool, self.key_heap
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
        self._launch(start, k, pool.pop(k))

    def _iteration(self, start: float) -> None:
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
            s = max(self.cloud_free, max(r for r, _, _ in items))
            self.stall_s += s - self.cloud_free
            self._launch_groups(s, [(u, i) for _, u, i in items])

    def run(self) -> None:
        inf = math.inf
        interleave = self.policy == "interleave"
        while True:
            if interleave and self.key_heap:
                s = self.cloud_free
            elif self.pending:
                # interleave: as soon as the earliest step is ready; step: when every admitted
                # user's next forward step is (each of them has one pending: walkers never wait
                # for anything but the cloud)
                r = self.pending[0][0] if interleave else max(x[0] for x in self.pending)
                s = r if r > self.cloud_free else self.cloud_free
            else:
                s = inf
            if self.events and self.events[0][0] <= s:
                self._event()
                continue
            if s == inf:
                return
            if interleave:
                self._interleave(s)
            else:
                self._iteration(s)


def _percentiles(values: list[float], name: str) -> dict[str, float | None]:
    if not values:
        return {f"{name}_p50_s": None, f"{name}_p90_s": None, f"{name}_p99_s": None}
    p = np.percentile(np.asarray(values, dtype=float), [50, 90, 99])
    return {f"{name}_p50_s": float(p[0]), f"{name}_p90_s": float(p[1]), f"{name}_p99_s": float(p[2])}


@dataclass
class MultiUserResult:
    """Every request of every user, plus the cloud's accounting; ``metrics()`` summarises."""

    requests: list[Request]
    user_classes: list[str]
    handshake_s: list[float]
    device_busy_s: list[float]
    cloud_busy_s: float
    cloud_stall_s: float
    launches: int
    launched_steps: int
    iterations: int
    policy: str
    max_batch: int
    arrival: str

    @property
    def span_s(self) -> float:
        """From the first arrival to the last token."""
        return max(r.token_times[-1] for r in self.requests) - min(r.arrival for r in self.requests)

    def metrics(self) -> dict[str, Any]:
        """Aggregate figures; TTFT/TPOT percentiles are over requests (TTFT counts from arrival)."""
        reqs = self.requests
        tokens = sum(len(r.token_times) for r in reqs)
        span = self.span_s
        q = [r.queue_delay for r in reqs]
        out: dict[str, Any] = {
            "users": len(self.user_classes),
            "requests": len(reqs),
            "tokens": tokens,
            "policy": self.policy,
            "max_batch": self.max_batch,
            "arrival": self.arrival,
            "span_s": span,
            "aggregate_tok_s": tokens / span if span > 0 else None,
        }
        out.update(_percentiles([r.ttft for r in reqs], "ttft"))
        out.update(_percentiles([t for r in reqs if (t := r.tpot) is not None], "tpot"))
        out.update(
            {
                "queue_delay_mean_s": float(np.mean(q)),
                "queue_delay_p90_s": float(np.percentile(q, 90)),
                "cloud_busy_s": self.cloud_busy_s,
                "cloud_utilisation": self.cloud_busy_s / span if span > 0 else None,
                "cloud_stall_s": self.cloud_stall_s,
                "mean_batch": self.launched_steps / self.launches if self.launches else None,
                "launches": self.launches,
            }
        )
        return out

    def per_user(self) -> list[dict[str, Any]]:
        """One row per user: its class and the means over its requests."""
        rows = []
        for u, name in enumerate(self.user_classes):
            rs = [r for r in self.requests if r.user == u]
            tp = [t for r in rs if (t := r.tpot) is not None]
            rows.append(
                {
                    "user": u,
                    "class": name,
                    "requests": len(rs),
                    "tokens": sum(len(r.token_times) for r in rs),
                    "ttft_mean_s": float(np.mean([r.ttft for r in rs])) if rs else None,
                    "tpot_mean_s": float(np.mean(tp)) if tp else None,
                    "queue_delay_mean_s": float(np.mean([r.queue_delay for r in rs])) if rs else None,
                    "device_busy_s": self.device_busy_s[u],
                    "handshake_s": self.handshake_s[u],
                }
            )
        return rows


def assign_classes(classes: Sequence[UserClass], users: int, seed: int) -> list[UserClass]:
    """Largest-remainder counts per class, in the given order, then a seeded shuffle."""
    counts = apportion([c.share for c in classes], users)
    out = [c for c, n in zip(classes, counts, strict=True) for _ in range(n)]
    random.Random(f"{seed}:mix").shuffle(out)
    return out


def _check_int(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise SplitbenchError(f"{name}: must be an integer >= {lo}, got {v!r}")
    return v


def simulate_multiuser(
    trace: ExecutionTrace,
    classes: Sequence[UserClass] | UserClass,
    cloud: Profile,
    users: int,
    new_tokens: int,
    *,
    max_batch: int = 32,
    policy: str = "interleave",
    arrival: Any = "closed",
    think_time_s: float = 0.0,
    requests_per_user: int = 1,
    seed: int = 0,
) -> MultiUserResult:
    """Replay ``users`` users of ``trace`` against one shared, batching ``cloud`` (module docstring)."""
    _check_int("users", users, 1)
    _check_int("new_tokens", new_tokens, 1)
    _check_int("max_batch", max_batch, 1)
    _check_int("requests_per_user", requests_per_user, 1)
    if policy not in POLICIES:
        raise SplitbenchError(f"policy: must be one of {', '.join(POLICIES)}, got {policy!r}")
    if (
        isinstance(think_time_s, bool)
        or not isinstance(think_time_s, int | float)
        or not math.isfinite(think_time_s)
        or think_time_s < 0
    ):
        raise SplitbenchError(f"think_time_s: must be a non-negative number of seconds, got {think_time_s!r}")
    arr = Arrival.parse(arrival)
    if isinstance(classes, UserClass):
        classes = [classes]
    if not classes:
        raise SplitbenchError("mix: needs at least one user class")
    for c in classes:
        c.link.validate()
        if not c.share > 0:
            raise SplitbenchError(f"mix.{c.name}: share must be positive, got {c.share!r}")

    eng = _Engine(trace, cloud, new_tokens, max_batch, policy)
    plans_by_device: dict[Profile, tuple] = {}

    def plans_for(device: Profile) -> tuple:
        if device not in plans_by_device:
            one = {"device": 1.0, "cloud": 1.0}
            pre = _Plan.build(trace.prefill, np.array([0.0]), device, cloud, one)
            c_scale = measured_scale(trace, cloud, "cloud")
            pre_m = _MPlan(pre, np.array([0.0]), "prefill", eng.key_of, 1.0)
            scale = {"device": measured_scale(trace, device, "device"), "cloud": c_scale}
            ctx = trace.prompt_tokens + np.arange(max(new_tokens - 1, 0), dtype=float)
            dec = {}
            if new_tokens > 1:
                for name, ph in trace.decode.items():
                    dec[name] = _MPlan(
                        _Plan.build(ph, ctx, device, cloud, scale), ctx, "decode", eng.key_of, c_scale
                    )
            plans_by_device[device] = (pre_m, dec)
        return plans_by_device[device]

    assigned = assign_classes(classes, users, seed)
    for i, cls in enumerate(assigned):
        eng.users.append(_User(i, cls, seed + i * USER_SEED_STRIDE, plans_for(cls.device), eng))
    eng.key_info = sorted(eng.key_of.values())

    think_rng = random.Random(f"{seed}:think")

    def think() -> float:
        return think_rng.expovariate(1.0 / think_time_s) if think_time_s > 0 else 0.0

    if arr.kind == "closed":
        left = {u.idx: requests_per_user for u in eng.users}

        def next_request(user: _User, t: float) -> None:
            if left[user.idx] > 0:
                left[user.idx] -= 1
                a = t + think()
                eng.push_arrival(a, user, Request(user.idx, a))

        for u in eng.users:
            left[u.idx] -= 1
            a = think()
            eng.push_arrival(a, u, Request(u.idx, a))
        eng.on_finish = next_request
    else:
        gaps = random.Random(f"{seed}:arrivals")
        t = 0.0
        for k in range(users * requests_per_user):
            t += gaps.expovariate(arr.rate_rps)
            u = eng.users[k % users]
            eng.push_arrival(t, u, Request(u.idx, t))

    eng.run()
    reqs = sorted((r for u in eng.users for r in u.requests), key=lambda r: (r.arrival, r.user))
    return MultiUserResult(
        requests=reqs,
        user_classes=[u.cls.name for u in eng.users],
        handshake_s=[u.handshake_s for u in eng.users],
        device_busy_s=[u.dev_busy for u in eng.users],
        cloud_busy_s=eng.busy_s,
        cloud_stall_s=eng.stall_s,
        launches=eng.launches,
        launched_steps=eng.launched_steps,
        iterations=eng.iterations,
        policy=policy,
        max_batch=max_batch,
        arrival=arr.label(),
    )
