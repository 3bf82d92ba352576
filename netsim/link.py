"""LinkSpec: the network between device and cloud, one spec for both directions.

"up" is device -> cloud, "down" is cloud -> device. Rates are the bottleneck capacity of each
direction (or a Mahimahi trace that replaces it): a preset's rates are TCP speed-test medians, which
a TCP flow on the preset reaches. ``rtt_ms`` is the median round-trip time of a small message
without queueing or serialisation (one way = rtt/2); ``jitter_ms`` moves the one-way delay around
that median in time-correlated steps (netsim/delay.py), never on top of it. ``loss`` is the loss a
TCP flow sees: on cellular links the radio's block errors are repaired by HARQ and RLC before TCP
sees them, so the residual is tiny (3GPP's packet-error target for the TCP default bearer, QCI /
5QI 9, is 1e-6) and radio trouble shows up as delay instead. Loss stays an explicit parameter for
sweeps. ``cc`` picks the congestion control (netsim/cc/): CUBIC with HyStart, as Linux, by default.
``nodelay`` (default true) is TCP_NODELAY on both sockets, an assumption: the split's messages go out
at once, and the live runs set the same option from this field. ``nodelay: false`` models Nagle's
algorithm as Linux runs it (``tcp_nagle_check``, Minshall's variant of RFC 896): a message's sub-MSS
last segment waits while the previous sub-MSS segment is unacknowledged, so with the receiver's
delayed ACK two small writes before a read stall for the delayed-ACK timer. ``quickack`` (default
true) is the Linux receiver's quick-ACK rule; the ns-3 replays turn it off (ns-3 has none).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError
from splitbench.models.presets import PresetFile, PresetTable

from .capacity import Capacity, ConstantCapacity, load_trace


@dataclass(frozen=True)
class LinkSpec:
    up_mbps: float
    down_mbps: float
    rtt_ms: float
    jitter_ms: float = 0.0  # delay variation: mean absolute deviation of the one-way delay from its median
    loss: float = 0.0  # TCP-visible random loss per packet, each direction (after link-layer repair)
    loss_burst: float = 1.0  # mean loss-burst length in packets (Gilbert-Elliott); 1 = independent
    trace_up: str | None = None  # Mahimahi file or synth:<kind>[:seed]; replaces up_mbps
    trace_down: str | None = None
    transport: str = "tcp"  # "tcp" | "ideal"
    mss_bytes: int = 1448
    header_bytes: int = 52  # IPv4 20 + TCP 20 + timestamps option 12
    rwnd_bytes: int = 4 * 1024 * 1024
    init_cwnd_pkts: int = 10
    idle_restart: bool = True  # RFC 5681 §4.1: cwnd back to the initial window after an idle RTO
    # drop-tail bottleneck buffer: ns-3's default (the ns-3 reference cases). The presets use 1000: a
    # 100-packet buffer drops the burst of one SPA decode step on 4g, which real cellular links,
    # with their deep per-user buffers, do not.
    queue_pkts: int = 100
    min_rto_ms: float = 200.0  # Linux default (ns-3's default is 1000)
    delack_ms: float = 40.0  # delayed-ACK timer: Linux TCP_DELACK_MIN (ns-3's default is 200)
    reorder: bool = False  # allow jitter to reorder packets (otherwise arrivals are kept in order)
    cc: str = "cubic"  # congestion control: "cubic" (Linux default, with HyStart) | "newreno"
    hystart: bool = True  # CUBIC's HyStart slow-start exit (Linux tcp_cubic hystart=1)
    nodelay: bool = True  # TCP_NODELAY (Nagle off) on both ends: an assumption; false models Nagle
    # receiver quick-ACK (Linux tcp_event_data_recv): every segment ACKed at once for up to
    # min(16, rwnd/(2 MSS)) segments at the first data and after the receiver was idle for an RTO
    quickack: bool = True
    # parallel TCP connections the preset's rates were measured with: a speed test opens several
    # (Ookla's multi-connection test), so its median is an aggregate that one connection need not
    # reach within a short transfer; 1: one connection. Read by bulk_rate (netsim/netcheck.py)
    rate_flows: int = 1
    # the shortest time one delay-variation value holds (netsim/delay.py): [I] cellular delay moves
    # with scheduling load and queueing, correlated over hundreds of milliseconds (Jiang et al.
    # IMC 2012 [M]); a burst keeps its value however long it lasts
    jitter_interval_ms: float = 100.0
    radio: str | None = None  # the device's radio power model (netsim/presets/radios); None: none
    source: str = "user"

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000.0

    @property
    def linux_cc(self) -> str:
        """What live runs set per socket: the Linux congestion control that ``cc`` models, with
        ``+nagle`` appended when ``nodelay`` is off (TCP_NODELAY not set). ``socket_options`` in
        models/live.py and probe.py's ``--cc`` read it back."""
        cc = {"newreno": "reno"}.get(self.cc, "cubic")
        return cc if self.nodelay else cc + "+nagle"

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
        if not isinstance(self.jitter_interval_ms, int | float) or not self.jitter_interval_ms > 0:
            raise bad("jitter_interval_ms", f"must be > 0 ms, got {self.jitter_interval_ms!r}")
        from .cc import CONGESTION_CONTROLS

        if self.cc not in CONGESTION_CONTROLS:
            raise bad("cc", f"must be one of {', '.join(sorted(CONGESTION_CONTROLS))}, got {self.cc!r}")
        for f in ("hystart", "nodelay", "quickack", "idle_restart", "reorder"):
            v = getattr(self, f)
            if not isinstance(v, bool):
                raise bad(f, f"must be true or false, got {v!r}")
        if self.transport not in ("tcp", "ideal"):
            raise bad("transport", f"must be 'tcp' or 'ideal', got {self.transport!r}")
        for f, lo in (
            ("mss_bytes", 1),
            ("header_bytes", 0),
            ("rwnd_bytes", 1),
            ("init_cwnd_pkts", 1),
            ("queue_pkts", 1),
            ("rate_flows", 1),
        ):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise bad(f, f"must be an integer >= {lo}, got {v!r}")
        if self.rwnd_bytes < self.mss_bytes:
            raise bad("rwnd_bytes", f"must be at least one MSS ({self.mss_bytes}), got {self.rwnd_bytes}")
        if self.radio is not None:
            from .radio import RADIO_PRESETS

            if not isinstance(self.radio, str) or self.radio not in RADIO_PRESETS:
                raise bad("radio", f"unknown radio {self.radio!r} (known: {', '.join(RADIO_PRESETS)})")
        for f in ("trace_up", "trace_down"):
            v = getattr(self, f)
            if v is not None:
                if not isinstance(v, str) or not v:
                    raise bad(f, f"must be a file path or synth:<kind>, got {v!r}")
                load_trace(v)  # raises SplitbenchError naming the file and the problem
        return self


def _build(pf: PresetFile) -> LinkSpec:
    spec = dict(pf.fields)
    if "base" in spec and spec["base"] in NETWORK_PRESETS:
        base = NETWORK_PRESETS[spec["base"]]
        spec["source"] = f"{spec['source']}; other fields as {spec['base']}: {base.source}"
    return resolve_network(spec)


#: The network presets: ``netsim/presets/networks/<name>.yaml`` plus the active user presets.
NETWORK_PRESETS: PresetTable[LinkSpec] = PresetTable(
    "networks", "network", Path(__file__).parent / "presets" / "networks", _build
)

_FIELDS = {f.name for f in fields(LinkSpec)}


def resolve_network(spec: str | dict[str, Any] | LinkSpec) -> LinkSpec:
    """A preset name, ``{"base": name, **overrides}``, a full field mapping, or a LinkSpec."""
    if isinstance(spec, LinkSpec):
        return spec.validate()
    if isinstance(spec, str):
        if spec not in NETWORK_PRESETS:
            raise NETWORK_PRESETS.unknown(spec)
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
