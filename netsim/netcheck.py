"""netcheck: the link model on its own — K request/response rounds on one connection.

The device sends ``up_bytes``; once all have arrived the cloud computes ``compute_ms`` and replies
``down_bytes``; once all have arrived the next round starts. ``completion_s`` runs from the first
request byte (after the handshake) to the last reply byte. Same semantics as the ns-3 reference
cases in netsim/reference/.
"""

from __future__ import annotations

from typing import Any

from splitbench import SplitbenchError

from .link import LinkSpec
from .radio import RadioSpec, run_radio
from .tcp import make_connection


def _check_int(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise SplitbenchError(f"netcheck.{name}: must be an integer >= {lo}, got {v!r}")
    return v


def check_exchange(up_bytes: int, down_bytes: int, compute_ms: float, rounds: int) -> None:
    """The netcheck exchange's parameters, simulated or live: one line naming the bad one."""
    _check_int("up_bytes", up_bytes, 0)
    _check_int("down_bytes", down_bytes, 0)
    _check_int("rounds", rounds, 1)
    if not isinstance(compute_ms, int | float) or isinstance(compute_ms, bool) or not compute_ms >= 0:
        raise SplitbenchError(f"netcheck.compute_ms: must be a number >= 0, got {compute_ms!r}")


def netcheck(
    up_bytes: int,
    down_bytes: int,
    compute_ms: float,
    rounds: int,
    link: LinkSpec,
    seed: int = 0,
    radio: RadioSpec | None = None,
) -> dict[str, Any]:
    """Simulate the rounds; return completion_s, handshake_s, per_round_s and wire bytes each way,
    and with a ``radio`` its energy for the exchange (netsim/radio.py: idle before the handshake,
    connected while a message is under way, then the tail)."""
    check_exchange(up_bytes, down_bytes, compute_ms, rounds)
    link = link.validate()
    up, down = make_connection(link, seed)
    t = 0.0
    per_round: list[float] = []
    busy: list[tuple[float, float]] = [(-up.handshake_s(), 0.0)]
    for _ in range(rounds):
        t_start = t
        arrived = up.send(t, up_bytes)
        busy.append((t, arrived))
        reply = arrived + compute_ms / 1000.0
        t = down.send(reply, down_bytes)
        busy.append((reply, t))
        per_round.append(t - t_start)
    energy: dict[str, Any] = {}
    if radio is not None:
        r = run_radio(radio, busy, up.wire_bytes, down.wire_bytes)
        energy = {"radio": radio.name, "radio_energy_j": r.total_j, "radio_tail_j": r.tail_j,
                  "radio_promotions": r.promotions}
    return {
        "completion_s": t,
        "handshake_s": up.handshake_s(),
        "per_round_s": per_round,
        "up_bytes": up.payload_bytes,
        "down_bytes": down.payload_bytes,
        "up_wire_bytes": up.wire_bytes,
        "down_wire_bytes": down.wire_bytes,
        "up_retx_bytes": getattr(up, "retx_bytes", 0),
        "down_retx_bytes": getattr(down, "retx_bytes", 0),
        "transport": link.transport,
        **energy,
    }


def bulk_rate(link: LinkSpec, direction: str, seconds: float = 2.0, flows: int | None = None,
              seed: int = 0) -> float:
    """Goodput (Mbit/s) of a bulk transfer of about ``seconds`` at the link's rate in ``direction``
    ("up" or "down"), carried by ``flows`` parallel TCP connections (default: ``link.rate_flows``,
    those the preset's source measured with), from the first byte to the last.

    The connections start together and are alike, so each is timed on its fair share: 1/flows of
    the rate and of the bottleneck buffer, the same delay (the link's delay process, same seed),
    carrying 1/flows of the bytes; all finish together. [I] an approximation: flows on one FIFO do
    not share it exactly fairly, and their losses are not synchronised."""
    from dataclasses import replace

    if direction not in ("up", "down"):
        raise SplitbenchError(f"bulk_rate: direction must be 'up' or 'down', got {direction!r}")
    n = link.rate_flows if flows is None else flows
    _check_int("flows", n, 1)
    if n > 1 and (link.trace_up or link.trace_down):
        raise SplitbenchError("bulk_rate: more than one flow needs constant rates (a trace is not split)")
    mbps = link.up_mbps if direction == "up" else link.down_mbps
    share = replace(link, up_mbps=link.up_mbps / n, down_mbps=link.down_mbps / n,
                    queue_pkts=max(1, link.queue_pkts // n))
    each = max(1, int(mbps * 1e6 / 8 * seconds) // n)
    up, down = (each, 100) if direction == "up" else (100, each)
    return each * n * 8 / netcheck(up, down, 0, 1, share, seed=seed)["completion_s"] / 1e6
