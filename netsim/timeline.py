"""Timeline: what a replay produced — every step's start and end, every token's time — and the
metrics derived from it. Times are seconds from the first request byte (after the handshake).

Token times are arrival times on the device. A phase *starts* when the previous one's non-streamed
work is done, which for paradigms that stream tokens (cloud-only, SPA) is before the previous token
has reached the device: a streamed token's down transfer overlaps the next step's cloud compute."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# one record per executed step: (lane, label, start, end, wire); lanes: device, cloud, up, down.
# For a transfer, start is when the sender begins to send it, end when its last byte has arrived,
# and wire the [s, e] intervals in which its bytes were being serialised on the bottleneck (the
# link's busy time; gaps between them are ACK/window waits, the time after the last one is
# propagation and jitter). Empty for a compute step and for an empty message.
Record = tuple[str, str, float, float, list[list[float]]]


@dataclass
class Timeline:
    prompt_tokens: int
    handshake_s: float
    phases: list[list[Record]] = field(default_factory=list)  # [prefill, decode 1, decode 2, ...]
    phase_starts: list[float] = field(default_factory=list)  # when each phase may start
    token_times: list[float] = field(default_factory=list)  # token k reaches the device at token_times[k-1]
    bytes: dict[str, int] = field(default_factory=dict)  # up/down payload and wire, decode payload
    messages: int = 0
    busy: dict[str, float] = field(default_factory=dict)  # device / cloud compute seconds

    @property
    def new_tokens(self) -> int:
        return len(self.token_times)

    def token_latencies(self) -> list[float]:
        """Latency of each output token: TTFT first, then the gap between consecutive tokens."""
        t = self.token_times
        return [t[0], *(b - a for a, b in zip(t, t[1:], strict=False))] if t else []

    def decode_step_events(self, index: int = 0) -> list[dict[str, Any]]:
        """Steps of decode step ``index`` (0 = the step producing token 2), times relative to its start
        (when the previous step's non-streamed work ended), including its own streamed token down.

        Transfers (lanes up, down) also carry ``wire_end``, when their last byte left the sender's
        bottleneck (start <= wire_end <= end), and ``wire``, the [s, e] intervals in which their
        bytes were on the wire (ending at wire_end; empty for an empty message), so a reader can
        tell link time from time in flight or waiting for ACKs: a latency-bound split spends most
        of a transfer's span outside them."""
        n = len(self.phases) - 1
        if not 0 <= index < n:
            raise IndexError(f"decode step {index} out of range (0..{n - 1})")
        t0 = self.phase_starts[index + 1]
        out: list[dict[str, Any]] = []
        for lane, label, s, e, w in self.phases[index + 1]:
            ev: dict[str, Any] = {"lane": lane, "label": label, "start": s - t0, "end": e - t0}
            if lane in ("up", "down"):
                ev["wire_end"] = (w[-1][1] if w else s) - t0
                ev["wire"] = [[a - t0, b - t0] for a, b in w]
            out.append(ev)
        return out

    def metrics(self) -> dict[str, Any]:
        """The contract's metric keys. Per-token decode figures are None when only one token was made."""
        t = self.token_times
        ttft = t[0]
        n_dec = len(t) - 1
        tpot = (t[-1] - t[0]) / n_dec if n_dec > 0 else None
        b = self.bytes
        return {
            "ttft_s": ttft,
            "tpot_s": tpot,
            "prefill_tok_s": self.prompt_tokens / ttft if ttft > 0 else None,
            "decode_tok_s": 1.0 / tpot if tpot else None,
            "e2e_s": t[-1],
            "handshake_s": self.handshake_s,
            "up_bytes": b.get("up", 0),
            "down_bytes": b.get("down", 0),
            "up_wire_bytes": b.get("up_wire", 0),
            "down_wire_bytes": b.get("down_wire", 0),
            "up_bytes_per_token": b.get("up_decode", 0) / n_dec if n_dec > 0 else None,
            "down_bytes_per_token": b.get("down_decode", 0) / n_dec if n_dec > 0 else None,
            "messages": self.messages,
            "device_busy_s": self.busy.get("device", 0.0),
            "cloud_busy_s": self.busy.get("cloud", 0.0),
        }
