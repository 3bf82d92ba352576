"""Replay one user's request: the single-user case of the engine (engine.py).

``simulate`` replays a trace for one request on a device, a link and a cloud of its own: one
walker on an exclusive cloud, every step recorded for the timeline. It is the N = 1 case of
netsim.simulate_multiuser (a test checks the two agree bit for bit), so both share one walker, one
plan type and one cost model. ``feasible`` checks memory before a replay is worth running.
"""

from __future__ import annotations

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace

from .engine import DOWN, UP, Engine, Request
from .link import LinkSpec
from .profiles import Profile
from .timeline import Timeline


def simulate(
    trace: ExecutionTrace, link: LinkSpec, device: Profile, cloud: Profile, new_tokens: int, seed: int = 0
) -> Timeline:
    """Replay ``trace`` for one request generating ``new_tokens`` tokens; see the module docstring."""
    if not isinstance(new_tokens, int) or isinstance(new_tokens, bool) or new_tokens < 1:
        raise SplitbenchError(f"new_tokens: must be an integer >= 1, got {new_tokens!r}")
    link = link.validate()
    eng = Engine(trace, cloud, new_tokens, max_batch=1, policy="exclusive")
    u = eng.add_user(link, device, seed, record=True)
    eng.push_arrival(0.0, u, Request(0, 0.0))
    eng.run()
    up, down = u.paths[UP], u.paths[DOWN]
    tl = Timeline(trace.prompt_tokens, u.handshake_s)
    tl.phases, tl.phase_starts = u.phases, u.phase_starts
    tl.token_times = u.requests[0].token_times
    tl.bytes = {
        "up": up.payload_bytes,
        "down": down.payload_bytes,
        "up_wire": up.wire_bytes,
        "down_wire": down.wire_bytes,
        "up_decode": u.decode_bytes[UP],
        "down_decode": u.decode_bytes[DOWN],
    }
    tl.messages = up.messages + down.messages
    tl.busy = {"device": u.dev_busy, "cloud": eng.policy.busy_s}
    return tl


def feasible(
    trace: ExecutionTrace, device: Profile, cloud: Profile, new_tokens: int, cloud_requests: int = 1
) -> tuple[bool, str]:
    """Do weights + KV cache at prompt + new_tokens context fit in each side's usable memory?

    ``cloud_requests``: requests whose KV caches the cloud holds at once (a batching cloud serving
    several users); each device holds its own one."""
    ctx = trace.prompt_tokens + new_tokens
    for side, prof, base, n in (
        ("device", device, trace.device_memory_bytes, 1),
        ("cloud", cloud, trace.cloud_memory_bytes, cloud_requests),
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
        need = base + kv * ctx * n
        have = prof.usable_bytes()
        if need > have:
            reqs = f" x {n} requests" if n > 1 else ""
            return False, (
                f"{side} {prof.name}: needs {need / 1e9:.2f} GB (weights+buffers "
                f"{base / 1e9:.2f} + KV {kv * ctx * n / 1e9:.2f} at {ctx} tokens{reqs}) > usable "
                f"{have / 1e9:.2f} GB ({prof.usable_mem_frac:.0%} of {prof.mem_gb:g} GB)"
            )
    return True, ""
