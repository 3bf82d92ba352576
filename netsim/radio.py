"""The device's radio: an RRC / power-save state machine run over a request's transfers.

States (Huang et al., MobiSys 2012; 3GPP RRC): **idle** (paging only; its power is paid whether or
not a request runs, so it is not charged to the request), **promotion** (idle -> connected: a
delay and its energy), **connected and transferring** (power ``β + α_u·up Mbit/s + α_d·down
Mbit/s``, so a burst costs ``β·seconds + α_u·Mbit up + α_d·Mbit down``), then, after the last byte,
the **tail** (continuous reception for the inactivity timer, then connected-mode DRX) until the
radio drops back to idle. A new transfer inside the tail resumes at once; one after it pays
promotion again. Wi-Fi power save is the same machine with a short tail (the PSM timeout).

The machine runs as a post-pass over the transfer intervals of a replay (:func:`bursts` reads them
from a :class:`~splitbench.netsim.timeline.Timeline`): it does not change any timing. Assumptions:

- the radio is idle before the request (the phone has not used the network in the last tail
  period), so the request's first exchange — the TCP handshake — is preceded by a promotion. That
  delay (``promotion_s``) adds to what the user waits, before the handshake, outside TTFT (as the
  handshake itself is);
- a gap inside a request longer than the whole tail would demote the radio; the promotion that
  follows is counted (energy, and its delay in ``promotion_s``) but the replay's timeline is not
  shifted by it — that would need a hook in the replay engine;
- the radio is connected from the moment a transfer starts until its last byte has arrived
  (propagation and ACK waits included), and connected-mode DRX wake-up latency is not modelled.

Presets are ``netsim/presets/radios/<name>.yaml`` (each number with its source; a suite's
``presets:`` may add more); a network names its radio (``radio:`` in its preset or mapping).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError
from splitbench.models.presets import PresetFile, PresetTable

from .timeline import Timeline


@dataclass(frozen=True)
class RadioSpec:
    """One radio's power model; watts, seconds, watts per Mbit/s."""

    name: str
    kind: str  # "cellular" | "wifi"
    promotion_s: float
    promotion_w: float
    active_base_w: float  # β: connected and transferring, before the throughput terms
    alpha_up_w_per_mbps: float
    alpha_down_w_per_mbps: float
    tail: tuple[tuple[str, float, float], ...]  # (state, seconds, watts) after the last byte, in order
    source: dict[str, str] = field(default_factory=dict)

    @property
    def tail_s(self) -> float:
        return sum(s for _, s, _ in self.tail)

    def tail_energy(self, seconds: float | None = None) -> float:
        """Energy of the first ``seconds`` of the tail (the whole tail when None)."""
        left = self.tail_s if seconds is None else max(0.0, seconds)
        e = 0.0
        for _, s, w in self.tail:
            d = min(s, left)
            e += d * w
            left -= d
            if left <= 0:
                break
        return e

    @property
    def promotion_j(self) -> float:
        return self.promotion_s * self.promotion_w

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "promotion_s": self.promotion_s,
            "promotion_w": self.promotion_w,
            "active_base_w": self.active_base_w,
            "alpha_up_w_per_mbps": self.alpha_up_w_per_mbps,
            "alpha_down_w_per_mbps": self.alpha_down_w_per_mbps,
            "tail": [list(t) for t in self.tail],
            "source": dict(self.source),
        }


def _spec(name: str, d: dict[str, Any], where: str) -> RadioSpec:
    unknown = sorted(set(d) - set(_FIELDS) - {"base"})
    if unknown:
        raise SplitbenchError(f"{where}: unknown key {unknown[0]!r}")
    try:
        tail = tuple((str(s), float(t), float(w)) for s, t, w in d["tail"])
        spec = RadioSpec(
            name=name,
            kind=str(d["kind"]),
            promotion_s=float(d["promotion_s"]),
            promotion_w=float(d["promotion_w"]),
            active_base_w=float(d["active_base_w"]),
            alpha_up_w_per_mbps=float(d["alpha_up_w_per_mbps"]),
            alpha_down_w_per_mbps=float(d["alpha_down_w_per_mbps"]),
            tail=tail,
            source={str(k): str(v) for k, v in (d.get("source") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise SplitbenchError(f"{where}: invalid radio ({e})") from None
    numbers = [spec.promotion_s, spec.promotion_w, spec.active_base_w, spec.alpha_up_w_per_mbps,
               spec.alpha_down_w_per_mbps, *(x for _, s, w in tail for x in (s, w))]
    if any(x < 0 for x in numbers) or not tail:
        raise SplitbenchError(f"{where}: powers and durations must be >= 0 and the tail non-empty")
    return spec


_FIELDS = ("kind", "promotion_s", "promotion_w", "active_base_w", "alpha_up_w_per_mbps",
           "alpha_down_w_per_mbps", "tail", "source")


def _build(pf: PresetFile) -> RadioSpec:
    d = dict(pf.fields)
    if "base" in d:
        base = resolve_radio(str(d.pop("base"))).to_dict()
        given = d.get("source")
        src = {**base["source"], **given} if isinstance(given, dict) else base["source"]
        d = {**{k: base[k] for k in _FIELDS}, **d, "source": src}
    if not isinstance(d.get("source"), dict):
        raise SplitbenchError(f"{pf.label}: source: one source per field (a mapping)")
    return _spec(pf.name, d, pf.label)


#: The radio presets: ``netsim/presets/radios/<name>.yaml`` plus the active user presets.
RADIO_PRESETS: PresetTable[RadioSpec] = PresetTable(
    "radios", "radio", Path(__file__).parent / "presets" / "radios", _build
)


def radio_presets() -> dict[str, RadioSpec]:
    return {n: RADIO_PRESETS[n] for n in RADIO_PRESETS}


def resolve_radio(name: str) -> RadioSpec:
    if not isinstance(name, str) or name not in RADIO_PRESETS:
        raise RADIO_PRESETS.unknown(name)
    return RADIO_PRESETS[name]


def radio_for_network(spec: Any) -> RadioSpec | None:
    """The radio of a network — a LinkSpec, or a network as a suite writes it (preset name or
    mapping) — named by its ``radio`` field; None when it names none."""
    from .link import LinkSpec, resolve_network

    link = spec if isinstance(spec, LinkSpec) else resolve_network(spec)
    return resolve_radio(link.radio) if link.radio else None


@dataclass
class RadioEnergy:
    """What the radio cost one request (joules, seconds)."""

    promotions: int = 0
    promotion_j: float = 0.0
    transfer_j: float = 0.0  # connected and transferring: β·time + α terms
    gap_j: float = 0.0  # connected between transfers (inactivity timer / DRX inside the request)
    tail_j: float = 0.0  # after the request's last byte until idle
    connected_s: float = 0.0  # time in transfers

    @property
    def active_j(self) -> float:
        """Everything but the final tail: promotions, transfers, connected gaps."""
        return self.promotion_j + self.transfer_j + self.gap_j

    @property
    def total_j(self) -> float:
        return self.active_j + self.tail_j


def merge(intervals: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """Union of [start, end] intervals, sorted."""
    out: list[tuple[float, float]] = []
    for s, e in sorted((float(a), float(b)) for a, b in intervals):
        if e < s:
            s, e = e, s
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def run_radio(
    radio: RadioSpec, intervals: Iterable[Sequence[float]], up_bytes: float = 0.0, down_bytes: float = 0.0
) -> RadioEnergy:
    """Walk the state machine over the transfer ``intervals`` (seconds) carrying ``up_bytes`` and
    ``down_bytes`` on the wire; the radio is idle before the first one. No intervals: nothing."""
    busy = merge(intervals)
    r = RadioEnergy()
    if not busy:
        return r
    full_tail = radio.tail_s
    prev_end: float | None = None
    for s, e in busy:
        if prev_end is None or s - prev_end >= full_tail:
            if prev_end is not None:
                r.gap_j += radio.tail_energy()
            r.promotions += 1
            r.promotion_j += radio.promotion_j
        else:
            r.gap_j += radio.tail_energy(s - prev_end)
        r.connected_s += e - s
        prev_end = e
    r.transfer_j = (
        radio.active_base_w * r.connected_s
        + radio.alpha_up_w_per_mbps * up_bytes * 8e-6
        + radio.alpha_down_w_per_mbps * down_bytes * 8e-6
    )
    r.tail_j = radio.tail_energy()
    return r


def bursts(timeline: Timeline) -> list[tuple[float, float]]:
    """The intervals in which the device's radio carries this request: every non-empty transfer's
    [start, end] (first byte sent to last byte arrived) and, when there is any, the TCP handshake
    before t = 0."""
    out = timeline.phases.transfer_spans()
    if out and timeline.handshake_s > 0:
        out.append((-timeline.handshake_s, 0.0))
    return out


def timeline_radio(radio: RadioSpec, timeline: Timeline) -> RadioEnergy:
    """The radio's energy for one replayed request."""
    b = timeline.bytes
    return run_radio(radio, bursts(timeline), b.get("up_wire", 0), b.get("down_wire", 0))
