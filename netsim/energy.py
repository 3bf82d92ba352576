"""Energy one request costs the device: SoC (computing or awake and waiting) plus radio (radio.py).

The SoC draws ``prefill_w`` while it computes the prefill, ``decode_w`` while it computes a decode
step and ``wait_w`` while it is awake waiting for the network — from the start of the request
(before the radio promotion and the handshake, when the request uses the network) to its last
token. After the last token it sleeps; the radio may still be in its tail, which is charged to the
request (``radio_tail_j``). Screen power is excluded. The powers are fields of the device profile
(``netsim/presets/profiles/<name>.yaml``, with their sources).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .radio import RadioEnergy, RadioSpec, bursts, merge, run_radio, timeline_radio
from .timeline import Timeline

#: The energy columns of a result row, in order.
ENERGY_COLUMNS = [
    "device_energy_j",
    "energy_per_token_j",
    "soc_energy_j",
    "radio_energy_j",
    "radio_tail_j",
    "radio_promotion_s",
]


@dataclass(frozen=True)
class SocPower:
    name: str
    prefill_w: float
    decode_w: float
    wait_w: float
    source: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prefill_w": self.prefill_w,
            "decode_w": self.decode_w,
            "wait_w": self.wait_w,
            "source": dict(self.source),
        }


def soc_for_device(profile: Any) -> SocPower | None:
    """The SoC power of a device profile (its ``prefill_w``, ``decode_w``, ``wait_w``), or None."""
    ws = [getattr(profile, f, None) for f in ("prefill_w", "decode_w", "wait_w")]
    if any(w is None for w in ws):
        return None
    src = profile.source if isinstance(profile.source, dict) else {}
    return SocPower(str(profile.name), float(ws[0]), float(ws[1]), float(ws[2]),
                    {k: str(src[k]) for k in ("prefill_w", "decode_w", "wait_w") if k in src})


def device_busy_by_phase(timeline: Timeline) -> tuple[float, float]:
    """(prefill, decode) seconds the device spent computing, from the timeline's records."""
    ph = timeline.phases
    return (ph.busy(0, "device") if len(ph) else 0.0), sum(ph.busy(k, "device") for k in range(1, len(ph)))


def request_energy(
    timeline: Timeline, radio: RadioSpec | None, soc: SocPower | None
) -> dict[str, Any]:
    """The energy columns for one replayed request; a part without a model is None (and so is the
    total it would enter)."""
    n = timeline.new_tokens
    uses_network = bool(bursts(timeline))
    re: RadioEnergy | None = None
    promotion_s: float | None = None
    if radio is not None:
        re = timeline_radio(radio, timeline)
        promotion_s = re.promotions * radio.promotion_s
    elif not uses_network:  # no transfers: the radio stays idle whatever it is
        re, promotion_s = RadioEnergy(), 0.0
    soc_j: float | None = None
    if soc is not None:
        pre, dec = device_busy_by_phase(timeline)
        start = 0.0
        if uses_network:
            start = -(timeline.handshake_s + (radio.promotion_s if radio is not None else 0.0))
        span = timeline.token_times[-1] - start
        soc_j = soc.prefill_w * pre + soc.decode_w * dec + soc.wait_w * max(0.0, span - pre - dec)
    radio_j = re.total_j if re is not None else None
    total = soc_j + radio_j if (soc_j is not None and radio_j is not None) else None
    return {
        "device_energy_j": total,
        "energy_per_token_j": total / n if (total is not None and n) else None,
        "soc_energy_j": soc_j,
        "radio_energy_j": radio_j,
        "radio_tail_j": re.tail_j if re is not None else None,
        "radio_promotion_s": promotion_s,
    }


def multiuser_energy(
    result: Any,
    up_bytes_per_request: float,
    down_bytes_per_request: float,
    radios: dict[str, RadioSpec | None],
    soc: SocPower | None,
) -> dict[str, Any]:
    """Per-user means of the energy columns for a multi-user run (netsim.multiuser.MultiUserResult).

    The multi-user engine records each request's arrival and token times, each user's handshake and
    device compute, not its individual transfers; so each request counts as one connected interval
    from its arrival to its last token (plus the user's handshake before its first request), carrying
    the trace's expected payload per request, and the device's compute is charged at ``decode_w``.
    ``radios`` maps a user class (``result.user_classes[u]``) to its radio."""
    sends = up_bytes_per_request + down_bytes_per_request > 0
    per_user: list[dict[str, float | None]] = []
    for u, cls in enumerate(result.user_classes):
        reqs = [r for r in result.requests if r.user == u]
        if not reqs:
            continue
        radio = radios.get(cls)
        tokens = sum(len(r.token_times) for r in reqs)
        spans = [(r.arrival, r.token_times[-1]) for r in reqs]
        radio_j = tail_j = None
        promo_s = 0.0
        if not sends:
            radio_j = tail_j = 0.0
        elif radio is not None:
            first = min(a for a, _ in spans)
            busy = [*spans, (first - result.handshake_s[u], first)]
            re = run_radio(radio, busy, up_bytes_per_request * len(reqs), down_bytes_per_request * len(reqs))
            radio_j, tail_j, promo_s = re.total_j, re.tail_j, re.promotions * radio.promotion_s
        soc_j = None
        if soc is not None:
            awake = sum(e - s for s, e in merge(spans))
            if sends:
                awake += result.handshake_s[u] + promo_s
            dev = result.device_busy_s[u]
            soc_j = soc.decode_w * dev + soc.wait_w * max(0.0, awake - dev)
        total = soc_j + radio_j if (soc_j is not None and radio_j is not None) else None
        per_user.append({
            "device_energy_j": total,
            "energy_per_token_j": total / tokens if total is not None else None,
            "soc_energy_j": soc_j,
            "radio_energy_j": radio_j,
            "radio_tail_j": tail_j,
        })

    def mean(k: str) -> float | None:
        xs = [d[k] for d in per_user]
        return sum(xs) / len(xs) if xs and all(x is not None for x in xs) else None  # type: ignore[misc]

    return {k: mean(k) for k in ENERGY_COLUMNS[:5]}
