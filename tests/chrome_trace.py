"""A structural check of Chrome trace JSON (the Trace Event Format that Perfetto and
chrome://tracing read), independent of the code that writes it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

PHASES = {"M", "X", "b", "e", "i"}


def check_chrome_trace(doc: Any) -> dict[str, list[dict[str, Any]]]:
    """Assert ``doc`` is a well-formed trace; return its events by phase type."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in doc["traceEvents"]:
        assert isinstance(e["name"], str) and e["ph"] in PHASES and isinstance(e["pid"], int), e
        by[e["ph"]].append(e)
        if e["ph"] != "M":
            assert isinstance(e["tid"], int) and isinstance(e["ts"], int | float) and e["ts"] >= 0, e
        if e["ph"] == "X":
            assert isinstance(e["dur"], int | float) and e["dur"] >= 0, e
        if e["ph"] == "i":
            assert e["s"] in ("t", "p", "g"), e
    named = {e["tid"] for e in by["M"] if e["name"] == "thread_name"}
    assert {e["tid"] for ph in ("X", "b", "i") for e in by[ph]} <= named  # every track has a name
    # complete slices on one track nest or are disjoint (else the viewers mis-stack them)
    tracks: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for e in by["X"]:
        tracks[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    for slices in tracks.values():
        slices.sort(key=lambda x: (x[0], -x[1]))
        stack: list[float] = []
        for a, b in slices:
            while stack and a >= stack[-1] - 1e-6:
                stack.pop()
            assert not stack or b <= stack[-1] + 1e-6, (a, b, stack[-1])
            stack.append(b)
    # async slices: each begin has one end with the same category and id, no earlier than it
    begins = {(e["cat"], e["id"]): e for e in by["b"]}
    ends = {(e["cat"], e["id"]): e for e in by["e"]}
    assert len(begins) == len(by["b"]) and begins.keys() == ends.keys()
    assert all(ends[k]["ts"] >= b["ts"] for k, b in begins.items())
    return by
