"""Every link preset delivers what its sources measured: TCP reaches the speed-test rates (with the
speed test's parallel connections), and the median small-message round trip is the preset's median
RTT."""

from __future__ import annotations

import random
import statistics

import pytest

from splitbench.netsim import NETWORK_PRESETS, LinkSpec, bulk_rate, netcheck
from splitbench.netsim.delay import DelayProcess

PRESETS = [k for k, v in NETWORK_PRESETS.items() if v.transport == "tcp"]


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("direction", ["up", "down"])
def test_bulk_tcp_reaches_60pct_of_the_preset_rate(name: str, direction: str) -> None:
    """Like with like: as many parallel connections as the preset's source measured with
    (``rate_flows``: a speed test's several)."""
    link = NETWORK_PRESETS[name]
    mbps = link.up_mbps if direction == "up" else link.down_mbps
    rate = bulk_rate(link, direction, 2.0, seed=3)
    assert rate >= 0.6 * mbps, f"{name} {direction}: {rate:.1f} of {mbps} Mbit/s"


def test_bulk_rate_one_flow_is_one_connection_and_flows_share_the_link() -> None:
    link = NETWORK_PRESETS["5g"]
    nbytes = int(200e6 / 8 * 2.0)
    one = netcheck(100, nbytes, 0, 1, link, seed=3)["completion_s"]
    assert bulk_rate(link, "down", 2.0, flows=1, seed=3) == pytest.approx(nbytes * 8 / one / 1e6, rel=1e-12)
    # more connections never beat the link: the goodput stays under MSS/(MSS + headers) of the rate
    for n in (2, 4, 8):
        assert bulk_rate(link, "down", 2.0, flows=n, seed=3) < 200 * 1448 / 1500


@pytest.mark.parametrize("name", PRESETS)
def test_median_small_round_is_the_preset_rtt(name: str) -> None:
    link = NETWORK_PRESETS[name]
    per = netcheck(64, 64, 0, 400, link, seed=5)["per_round_s"]
    # 116-byte packets: serialisation is far below 1% of any preset's RTT
    assert statistics.median(per) * 1e3 == pytest.approx(link.rtt_ms, rel=0.10)


def test_delay_process_has_the_median_and_mean_deviation_it_promises() -> None:
    d = DelayProcess(0.025, 0.004, 0.020, 0.0001, random.Random(1))
    xs = [d.at(0.021 * k) for k in range(20000)]
    assert statistics.median(xs) == pytest.approx(0.025, abs=0.0002)
    assert statistics.fmean(abs(x - 0.025) for x in xs) == pytest.approx(0.004, rel=0.05)
    assert min(xs) >= 0.0025  # never sooner than a tenth of the base delay


def test_delay_holds_through_a_burst_and_for_an_interval_and_is_deterministic() -> None:
    a = DelayProcess(0.025, 0.004, 0.020, 0.0001, random.Random(7))
    b = DelayProcess(0.025, 0.004, 0.020, 0.0001, random.Random(7))
    burst = [1.0 + 0.0001 * k for k in range(3000)]  # 0.3 s of back-to-back packets
    ts = [0.0, 0.001, 0.019, *burst, 2.0, 2.01, 2.5]
    va, vb = [a.at(t) for t in ts], [b.at(t) for t in ts]
    assert va == vb
    assert va[0] == va[1] == va[2]  # apart, but within the interval: held
    assert len(set(va[3 : 3 + len(burst)])) == 1 and va[3] != va[0]  # one value for the whole burst
    assert va[-3] != va[3] and va[-2] == va[-3] and va[-1] != va[-2]
    assert DelayProcess(0.025, 0.0, 0.020, 0.0001, random.Random(7)).at(3.0) == 0.025


def test_a_burst_does_not_wait_for_the_largest_of_its_packets_draws() -> None:
    """A 187-packet burst on the 5g preset arrives about one serialisation time after a lone packet's
    median, not after the maximum of 187 independent delays."""
    link = NETWORK_PRESETS["5g"]
    lone = statistics.median(netcheck(0, 1000, 0, 200, link, seed=2)["per_round_s"])
    burst_bytes = 187 * 1448
    burst = statistics.median(netcheck(0, burst_bytes, 0, 200, link, seed=2)["per_round_s"])
    quiet = LinkSpec(**{**link.to_dict(), "jitter_ms": 0.0, "loss": 0.0})
    burst_quiet = statistics.median(netcheck(0, burst_bytes, 0, 200, quiet, seed=2)["per_round_s"])
    assert lone == pytest.approx(link.rtt_ms / 2000, rel=0.15)
    assert burst == pytest.approx(burst_quiet, rel=0.10)
