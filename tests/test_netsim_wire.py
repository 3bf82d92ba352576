"""Time on the wire versus time in flight: each transfer's bottleneck intervals (``wire``) and the
moment its last byte left (``wire_end``), which the "where the time goes" figure draws as link time."""

from __future__ import annotations

import random

import pytest

from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, LinkSpec, simulate
from splitbench.netsim.tcp import IdealPath, TcpPath
from tests.netsim_helpers import privatelora_like

DEV, CLOUD = PROFILE_PRESETS["snapdragon-8gen3"], PROFILE_PRESETS["a100-80g"]


def test_ideal_path_wire_is_serialisation_and_the_rest_is_one_way_delay() -> None:
    link = LinkSpec(up_mbps=8, down_mbps=8, rtt_ms=40, transport="ideal")
    path = IdealPath(link, "up", random.Random(0))
    nbytes = 10_000
    end = path.send(0.5, nbytes)
    assert path.last_start == 0.5
    # hand formula: bytes·8/rate on the wire, then rtt/2 of propagation
    assert path.last_wire_end - path.last_start == pytest.approx(nbytes * 8 / 8e6)
    assert end - path.last_wire_end == pytest.approx(0.020)
    assert path.last_wire == [[path.last_start, path.last_wire_end]]
    # a second message handed over while the first is still serialising waits for the link
    end2 = path.send(0.5, nbytes)
    assert path.last_start == pytest.approx(0.51) and end2 - path.last_wire_end == pytest.approx(0.020)


@pytest.mark.parametrize("nbytes", [1, 1448, 200_000])
def test_tcp_wire_intervals_add_up_to_the_bytes_serialised(nbytes: int) -> None:
    link = LinkSpec(up_mbps=20, down_mbps=200, rtt_ms=50)  # no loss, no jitter: no retransmissions
    path = TcpPath(link, "up", random.Random(0))
    end = path.send(0.0, nbytes)
    wire = path.last_wire
    assert path.last_start <= wire[0][0] and wire[-1][1] == path.last_wire_end <= end
    assert all(a < b for a, b in wire)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(wire[:-1], wire[1:], strict=True))  # merged, in order
    busy = sum(b - a for a, b in wire)
    assert busy == pytest.approx(path.wire_bytes * 8 / 20e6)
    assert end - path.last_wire_end == pytest.approx(0.025)  # the last byte's propagation
    if nbytes > 10 * 1448:  # more than the initial window: the sender waits a round trip for ACKs
        assert len(wire) > 1 and path.last_wire_end - path.last_start > busy + 0.04


def test_decode_step_events_expose_wire_end_within_each_transfer() -> None:
    tl = simulate(privatelora_like(n_layers=4), NETWORK_PRESETS["5g"], DEV, CLOUD, new_tokens=4, seed=1)
    ev = tl.decode_step_events(1)
    transfers = [e for e in ev if e["lane"] in ("up", "down")]
    assert transfers and all("wire_end" not in e for e in ev if e["lane"] in ("device", "cloud"))
    for e in transfers:
        assert e["start"] <= e["wire_end"] <= e["end"]
        assert e["wire"] and e["wire"][-1][1] == e["wire_end"] and e["wire"][0][0] >= e["start"]
    # tiny messages over a 50 ms RTT: far more time in flight than on the wire
    on_wire = sum(b - a for e in transfers for a, b in e["wire"])
    assert on_wire < 0.1 * sum(e["end"] - e["start"] for e in transfers)
