"""Timeline: what a replay produced — every step's start and end, every token's time — and the
metrics derived from it. Times are seconds from the first request byte (after the handshake).

Token times are arrival times on the device. A phase *starts* when the previous one's non-streamed
work is done, which for paradigms that stream tokens (cloud-only, SPA) is before the previous token
has reached the device: a streamed token's down transfer overlaps the next step's cloud compute."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

LANES = ("device", "cloud", "up", "down")

# one record per executed step: (lane, label, start, end, wire); lanes: device, cloud, up, down.
# For a transfer, start is when the sender begins to send it, end when its last byte has arrived,
# and wire the [s, e] intervals in which its bytes were being serialised on the bottleneck (the
# link's busy time; gaps between them are ACK/window waits, the time after the last one is
# propagation and jitter). Empty for a compute step and for an empty message.
Record = tuple[str, str, float, float, list[list[float]]]
_NO_WIRE: list[list[float]] = []  # a compute step's wire (shared: never mutate a record's wire)


class Phases(Sequence[list[Record]]):
    """Every executed step of every phase ([prefill, decode 1, ...]), as lists of Records.

    Stored as the walker writes them: per phase, its plan's lane indices and labels (shared by
    every phase of that plan) and one flat list, per step in execution order ``i, start, end`` for
    a compute step (``i``: its index in the plan) and ``i, start, end, w0, w1`` for a transfer,
    ``w0, w1`` its one wire interval, or ``intervals, None``. A phase becomes Records when read.
    Why: a 1,000-token PrivateLoRA replay executes 132,000 steps; a tuple and a wire list kept per
    step cost the replay about a sixth of its time, and most readers want a phase or two, or sums."""

    def __init__(self) -> None:
        self._phases: list[tuple[list[int], list[str], list[Any]]] = []

    def add(self, lanes: list[int], labels: list[str]) -> list[Any]:
        """Begin a phase whose steps have these lane indices and labels; returns its flat list."""
        flat: list[Any] = []
        self._phases.append((lanes, labels, flat))
        return flat

    def __len__(self) -> int:
        return len(self._phases)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        _, labels, _ = self._phases[k]
        return [(LANES[lane], labels[i], s, e, _NO_WIRE if wire is None else wire)
                for i, lane, s, e, wire in self._steps(k)]

    def __iter__(self) -> Iterator[list[Record]]:
        return (self[k] for k in range(len(self)))

    def _steps(self, k: int) -> Iterator[tuple[int, int, float, float, list[list[float]] | None]]:
        """(step index, lane index, start, end, wire intervals; None for a compute step) of phase
        ``k``'s steps, read from its flat list."""
        lanes, _, flat = self._phases[k]
        n, j = len(flat), 0
        while j < n:
            i = flat[j]
            lane = lanes[i]
            if lane < 2:  # device, cloud
                yield i, lane, flat[j + 1], flat[j + 2], None
                j += 3
            else:
                w0, w1 = flat[j + 3], flat[j + 4]
                yield i, lane, flat[j + 1], flat[j + 2], w0 if w1 is None else [[w0, w1]]
                j += 5

    def busy(self, k: int, lane: str) -> float:
        """Seconds phase ``k``'s steps on ``lane`` (device, cloud) spent computing."""
        want = LANES.index(lane)
        return sum(e - s for _, ln, s, e, _ in self._steps(k) if ln == want)

    def transfer_spans(self) -> list[tuple[float, float]]:
        """[start, end] of every transfer that put bytes on the wire (not empty messages), in order."""
        return [(s, e) for k in range(len(self)) for _, ln, s, e, wire in self._steps(k) if ln >= 2 and wire]


@dataclass
class Timeline:
    prompt_tokens: int
    handshake_s: float
    phases: Phases = field(default_factory=Phases)  # [prefill, decode 1, decode 2, ...]
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

    def chrome_trace(self, phases: range | None = None, name: str = "splitbench") -> dict[str, Any]:
        """Phases ``phases`` (0 = prefill, k = decode step k; default all) as Chrome trace JSON.

        The Trace Event Format of chrome://tracing and Perfetto: one process ``name``, one track
        per lane. Compute steps are complete ("X") slices on the device and cloud tracks; a
        transfer's time on the wire is "X" slices on its direction's track (the bottleneck is FIFO,
        so they never overlap) and its whole span, from hand-over to arrival, an async slice
        ("b"/"e", one id per message) beside it, since messages in flight overlap; each token's
        arrival on the device is an instant ("i") on the tokens track and each phase, from its start
        to its token, an async slice on the phases track (a phase may start before the previous
        token has arrived). Times are microseconds from the first request byte."""
        rng = range(len(self.phases)) if phases is None else phases
        tids = {"phases": 1, "device": 2, "cloud": 3, "up": 4, "down": 5, "tokens": 6}
        ev: list[dict[str, Any]] = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": name}}]
        for lane, tid in tids.items():
            ev.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": lane}})
            ev.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                       "args": {"sort_index": tid}})

        def us(t: float) -> float:
            return round(t * 1e6, 3)

        def dur(a: float, b: float) -> float:  # so that ts + dur is us(b): abutting slices stay apart
            return round(us(b) - us(a), 3)

        msg = 0
        for k in rng:
            phase = "prefill" if k == 0 else f"decode {k}"
            start, token = self.phase_starts[k], self.token_times[k]
            span = {"name": phase, "cat": "phase", "pid": 1, "tid": tids["phases"], "id": f"phase {k}"}
            ev.append({**span, "ph": "b", "ts": us(start), "args": {"token": k + 1}})
            ev.append({**span, "ph": "e", "ts": us(token)})
            ev.append({"name": f"token {k + 1}", "cat": "token", "ph": "i", "s": "t", "pid": 1,
                       "tid": tids["tokens"], "ts": us(token)})
            for lane, label, s, e, wire in self.phases[k]:
                args = {"phase": phase}
                if lane in ("device", "cloud"):
                    ev.append({"name": label, "cat": lane, "ph": "X", "pid": 1, "tid": tids[lane],
                               "ts": us(s), "dur": dur(s, e), "args": args})
                    continue
                msg += 1
                span = {"name": label, "cat": lane, "pid": 1, "tid": tids[lane], "id": msg}
                ev.append({**span, "ph": "b", "ts": us(s), "args": args})
                ev.append({**span, "ph": "e", "ts": us(e)})
                for a, b in wire:
                    ev.append({"name": label, "cat": f"{lane} wire", "ph": "X", "pid": 1, "tid": tids[lane],
                               "ts": us(a), "dur": dur(a, b), "args": args})
        return {"traceEvents": ev, "displayTimeUnit": "ms"}
