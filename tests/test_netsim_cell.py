"""shared_cell: the users of one network share its uplink and downlink bottleneck."""

from __future__ import annotations

from splitbench.models import build_trace
from splitbench.netsim import resolve_network, resolve_profile
from splitbench.netsim.multiuser import UserClass, simulate_multiuser

CLOUD = resolve_profile("a100-80g")
DEV = resolve_profile("m2-ultra")


def _run(users: int, shared: bool, up_mbps: float = 0.1):
    tr = build_trace("tiny", {"name": "privatelora", "rank": 8}, 8)
    link = resolve_network({"base": "5g", "rtt_ms": 0, "jitter_ms": 0, "loss": 0, "up_mbps": up_mbps})
    res = simulate_multiuser(tr, UserClass("slow-up", link, DEV), CLOUD, users, 6, shared_cell=shared, seed=3)
    return tr, res.metrics()


def test_one_user_on_a_shared_cell_is_one_user() -> None:
    assert _run(1, True)[1] == _run(1, False)[1]


def test_users_of_one_cell_share_its_capacity() -> None:
    """Closed form: N users each sending B payload bytes per decode step through one uplink of C
    bytes/s cannot step faster than N·B/C; with a link each, one user's B/C (plus headers) bounds it."""
    n = 8
    tr, shared = _run(n, True)
    _, own = _run(n, False)
    b = tr.decode["default"].up_bytes()
    c = 0.1e6 / 8
    assert shared["tpot_p50_s"] >= 0.95 * n * b / c
    assert own["tpot_p50_s"] < 2.5 * b / c
    assert shared["aggregate_tok_s"] < own["aggregate_tok_s"] / 3
