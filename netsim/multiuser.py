"""Many users, one cloud: queueing, continuous batching and layer-level interleaving.

PrivateLoRA and SPA only pay off if the cloud's backbone is shared between users; this module
replays N users' requests against one batching cloud node.

Model
-----
The replay is the engine's (engine.py): one walker per user — its own device (steps one at a time)
and its own link (two TCP senders whose state persists across the user's requests) — and the shared
cloud under a scheduling policy: ``interleave`` (layer-level batching, default), ``step``
(iteration-level, the batch held together) or ``exclusive`` (no batching, first ready first served).
With ``shared_cell`` the users of one network (one mix class) share its uplink and its downlink
bottleneck (cell.py), each keeping its own TCP connection. A launch batches steps that share weights
and is priced by the cost model over the summed user terms (cost.py): weights once, FLOPs and
activation/KV bytes per user; a launch of one step costs exactly the single-user step time, so with
one user every time equals netsim.simulate's. Continuous batching: at most ``max_batch`` requests
hold a cloud slot (their KV cache) at a time; a request takes a slot when it starts (FIFO by
arrival) and frees it when its last token is known on the device. Queueing delay = slot time -
arrival time; TTFT counts from arrival. - Arrivals: ``closed`` — each user issues
``requests_per_user`` requests one after another, the first at t = 0, the next an exponentially
distributed think time (mean ``think_time_s``; 0 = none) after the previous one ends. ``{"poisson":
rate}`` — an open stream of users x requests_per_user requests with exponential gaps (mean 1/rate),
the k-th going to user k mod N; a user serves its own requests in order (one connection), and the
time a request waits for its user's previous one counts as queueing delay. The run ends when every
request has finished. - Randomness: user i draws from seed + i * 1_000_003 (its links' loss/jitter
and SPA's gate, as in netsim.simulate — so user 0 with ``seed`` reproduces the single-user run);
think times and arrival gaps from their own seeded generators; the user mix is assigned by largest
remainder and shuffled with the seed.

Token times are arrivals on the device; where the trace streams the token (cloud-only, SPA) the
next step does not wait for its downlink (engine.py), and a request's slot is freed when its last
token has arrived.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace

from .batching import apportion
from .cell import share
from .engine import DOWN, POLICIES, UP, Engine, Request, Walker
from .link import LinkSpec
from .profiles import Profile

USER_SEED_STRIDE = 1_000_003


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
    shared_cell: bool = False,
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

    eng = Engine(trace, cloud, new_tokens, max_batch, policy)
    assigned = assign_classes(classes, users, seed)
    cells: dict = {}  # shared_cell: (network, direction) -> cell.Cell
    for i, cls in enumerate(assigned):
        u = eng.add_user(cls.link, cls.device, seed + i * USER_SEED_STRIDE, name=cls.name)
        if shared_cell:  # the users of one network share its two bottlenecks (cell.py)
            for lane, direction in ((UP, "up"), (DOWN, "down")):
                u.paths[lane] = share(u.paths[lane], cells, (cls.name, direction))

    think_rng = random.Random(f"{seed}:think")

    def think() -> float:
        return think_rng.expovariate(1.0 / think_time_s) if think_time_s > 0 else 0.0

    if arr.kind == "closed":
        left = {u.idx: requests_per_user for u in eng.users}

        def next_request(user: Walker, t: float) -> None:
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
    pol = eng.policy
    return MultiUserResult(
        requests=reqs,
        user_classes=[u.name for u in eng.users],
        handshake_s=[u.handshake_s for u in eng.users],
        device_busy_s=[u.dev_busy for u in eng.users],
        cloud_busy_s=pol.busy_s,
        cloud_stall_s=pol.stall_s,
        launches=pol.launches,
        launched_steps=pol.launched_steps,
        iterations=pol.iterations,
        policy=policy,
        max_batch=max_batch,
        arrival=arr.label(),
    )
