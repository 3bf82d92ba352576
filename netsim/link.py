"""LinkSpec: the network between device and cloud, one spec for both directions.

"up" is device -> cloud, "down" is cloud -> device. Rates are the bottleneck capacity of each
direction (or a Mahimahi trace that replaces it); ``rtt_ms`` is the base round-trip propagation
delay (one way = rtt/2), without queueing or serialization.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from splitbench import SplitbenchError

from .capacity import Capacity, ConstantCapacity, load_trace


@dataclass(frozen=True)
class LinkSpec:
    up_mbps: float
    down_mbps: float
    rtt_ms: float
    jitter_ms: float = 0.0  # mean of an exponential extra one-way delay per packet
    loss: float = 0.0  # per-packet random loss probability, each direction
    loss_burst: float = 1.0  # mean loss-burst length in packets (Gilbert-Elliott); 1 = independent
    trace_up: str | None = None  # Mahimahi file or synth:<kind>[:seed]; replaces up_mbps
    trace_down: str | None = None
    transport: str = "tcp"  # "tcp" | "ideal"
    mss_bytes: int = 1448
    header_bytes: int = 52  # IPv4 20 + TCP 20 + timestamps option 12
    rwnd_bytes: int = 4 * 1024 * 1024
    init_cwnd_pkts: int = 10
    idle_restart: bool = True  # RFC 5681 §4.1: cwnd back to the initial window after an idle RTO
    queue_pkts: int = 100  # drop-tail bottleneck buffer
    min_rto_ms: float = 200.0  # Linux default (ns-3's default is 1000)
    delack_ms: float = 200.0  # delayed-ACK timer (ns-3 default; Linux uses 40)
    reorder: bool = False  # allow jitter to reorder packets (otherwise arrivals are kept in order)
    # Linux congestion control of live runs' sockets (TCP_CONGESTION); the simulator's model is its own
    congestion_control: str = "cubic"
    source: str = "user"

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000.0

    def capacity(self, direction: str) -> Capacity:
        tr = self.trace_up if direction == "up" else self.trace_down
        if tr:
            return load_trace(tr)
        return ConstantCapacity(self.up_mbps if direction == "up" else self.down_mbps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> LinkSpec:
        def bad(field: str, why: str) -> SplitbenchError:
            return SplitbenchError(f"network.{field}: {why}")

        for f in ("up_mbps", "down_mbps"):
            v = getattr(self, f)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise bad(f, f"must be a positive number of Mbps, got {v!r}")
        for f in ("rtt_ms", "jitter_ms", "min_rto_ms", "delack_ms"):
            v = getattr(self, f)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise bad(f, f"must be a non-negative number of ms, got {v!r}")
        if not isinstance(self.loss, int | float) or not 0 <= self.loss < 1:
            raise bad("loss", f"must be in [0, 1), got {self.loss!r}")
        if not isinstance(self.loss_burst, int | float) or self.loss_burst < 1:
            raise bad("loss_burst", f"mean burst length must be >= 1 packet, got {self.loss_burst!r}")
        if self.transport not in ("tcp", "ideal"):
            raise bad("transport", f"must be 'tcp' or 'ideal', got {self.transport!r}")
        for f, lo in (
            ("mss_bytes", 1),
            ("header_bytes", 0),
            ("rwnd_bytes", 1),
            ("init_cwnd_pkts", 1),
            ("queue_pkts", 1),
        ):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise bad(f, f"must be an integer >= {lo}, got {v!r}")
        cc = self.congestion_control
        if not isinstance(cc, str) or not cc.isidentifier() or len(cc) > 15:
            raise bad("congestion_control", f"must be a Linux congestion control name, got {cc!r}")
        if self.rwnd_bytes < self.mss_bytes:
            raise bad("rwnd_bytes", f"must be at least one MSS ({self.mss_bytes}), got {self.rwnd_bytes}")
        for f in ("trace_up", "trace_down"):
            v = getattr(self, f)
            if v is not None:
                if not isinstance(v, str) or not v:
                    raise bad(f, f"must be a file path or synth:<kind>, got {v!r}")
                load_trace(v)  # raises SplitbenchError naming the file and the problem
        return self


_ST = "[I] estimate"
# Bottleneck buffers. Cellular base stations keep deep per-user buffers (the "bufferbloat" of 3G/4G:
# RTTs inflated to seconds under load, Jiang et al., "Tackling Bufferbloat in 3G/4G Networks",
# ACM IMC 2012 [M]); Wi-Fi and LAN hosts queue in the Linux default txqueuelen of 1000 packets [S].
# 1000 packets (~1.5 MB) is the estimate for every preset: a 100-packet drop-tail buffer (ns-3's
# default, used by the ns-3 reference cases) drops the 34-message burst of one SPA decode step on
# 4g and turns it into a retransmission timeout, which real cellular links do not do.
_QUEUE = 1000
_QUEUE_SRC = (
    f"bottleneck buffer 1000 packets {_ST} (deep cellular buffers: Jiang et al. IMC 2012 [M]; "
    "Linux txqueuelen default 1000 [S])"
)
NETWORK_PRESETS: dict[str, LinkSpec] = {
    "4g": LinkSpec(
        8,
        30,
        60,
        jitter_ms=5,
        loss=0.001,
        queue_pkts=_QUEUE,
        source=(
            "Ookla US mobile 2020 (29 down / 5.7 up) [M]; crowd LTE uplink p50 13.8 Mbps, RTT p50 57 ms [M] "
            f"(NUWiNS IFIP Networking 2024 uplink study); jitter 5 ms, loss 0.1% {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "4g-poor": LinkSpec(
        1,
        5,
        80,
        jitter_ms=10,
        loss=0.005,
        loss_burst=2.0,
        queue_pkts=_QUEUE,
        source=(
            "Mahimahi ATT-LTE-driving traces (5.2 down / 0.8 up mean) [M]; RTT 80 ms, jitter 10 ms, "
            f"loss 0.5% in bursts of 2 {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "5g": LinkSpec(
        20,
        200,
        50,
        jitter_ms=4,
        loss=0.001,
        queue_pkts=_QUEUE,
        source=(
            "Ookla global 5G 2023 median down 203 [M]; 5G uplink p50 23.9, RTT p50 53 ms [M] (NUWiNS); "
            f"jitter 4 ms, loss 0.1% {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "5g-mmwave": LinkSpec(
        60,
        1600,
        30,
        jitter_ms=3,
        loss=0.001,
        queue_pkts=_QUEUE,
        source=(
            f"Ookla US mmWave ~1.6 Gbps down [M]; uplink 60 Mbps and RTT 30 ms {_ST}; "
            f"jitter 3 ms, loss 0.1% {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "wifi5": LinkSpec(
        40,
        100,
        15,
        jitter_ms=2,
        loss=0.0005,
        queue_pkts=_QUEUE,
        source=(
            f"Ookla global fixed 94/48 [M] less a Wi-Fi penalty {_ST}; jitter 2 ms, loss 0.05% {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "wifi6": LinkSpec(
        200,
        500,
        10,
        jitter_ms=1,
        loss=0.0005,
        queue_pkts=_QUEUE,
        source=(
            f"Ookla Wi-Fi 6E/7 medians [M]; uplink 200 and RTT 10 ms {_ST}; jitter 1 ms, loss 0.05% {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "edge-lan": LinkSpec(
        1000,
        1000,
        1,
        queue_pkts=_QUEUE,
        source=(
            f"device on the same gigabit LAN as an edge server: 1000/1000 Mbps, 1 ms RTT {_ST}; "
            f"{_QUEUE_SRC}"
        ),
    ),
    "paper-5g": LinkSpec(
        60,
        100,
        0,
        transport="ideal",
        source=(
            "PrivateLoRA's assumption (arXiv 2311.14030): standard 5G 60 Mbps up / 100 Mbps down, "
            "bandwidth-only, no propagation delay [S]"
        ),
    ),
}

_FIELDS = {f.name for f in fields(LinkSpec)}


def resolve_network(spec: str | dict[str, Any] | LinkSpec) -> LinkSpec:
    """A preset name, ``{"base": name, **overrides}``, a full field mapping, or a LinkSpec."""
    if isinstance(spec, LinkSpec):
        return spec.validate()
    if isinstance(spec, str):
        if spec not in NETWORK_PRESETS:
            raise SplitbenchError(f"network: unknown preset {spec!r} (known: {', '.join(NETWORK_PRESETS)})")
        return NETWORK_PRESETS[spec]
    if not isinstance(spec, dict):
        raise SplitbenchError(f"network: expected a preset name or a mapping, got {type(spec).__name__}")
    d = dict(spec)
    unknown = sorted(set(d) - _FIELDS - {"base"})
    if unknown:
        raise SplitbenchError(f"network: unknown key {unknown[0]!r}")
    base_name = d.pop("base", None)
    if base_name is not None:
        base = resolve_network(base_name)
        overrides = d
        if "source" not in overrides and overrides:
            overrides["source"] = f"{base.source}; overridden: " + ", ".join(
                f"{k}={v}" for k, v in sorted(overrides.items())
            )
        try:
            out = replace(base, **overrides)
        except TypeError as e:
            raise SplitbenchError(f"network: {e}") from None
    else:
        missing = [k for k in ("up_mbps", "down_mbps", "rtt_ms") if k not in d]
        if missing:
            raise SplitbenchError(f"network.{missing[0]}: required (or give base: <preset>)")
        out = LinkSpec(**d)
    return out.validate()
