"""Timelines as Chrome trace JSON: well-formed, and the same times as the timeline they export."""

from __future__ import annotations

import json

import pytest

from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, simulate
from tests.chrome_trace import check_chrome_trace
from tests.netsim_helpers import privatelora_like

DEV, CLOUD = PROFILE_PRESETS["snapdragon-8gen3"], PROFILE_PRESETS["a100-80g"]


def test_chrome_trace_is_well_formed_and_matches_the_timeline() -> None:
    tl = simulate(privatelora_like(n_layers=4), NETWORK_PRESETS["4g"], DEV, CLOUD, new_tokens=6, seed=2)
    doc = json.loads(json.dumps(tl.chrome_trace(name="pl-4g")))  # plain JSON, nothing lost on the way
    by = check_chrome_trace(doc)
    assert by["M"][0]["args"]["name"] == "pl-4g"
    recs = [r for p in tl.phases for r in p]
    compute = [r for r in recs if r[0] in ("device", "cloud")]
    transfers = [r for r in recs if r[0] in ("up", "down")]
    slices = [e for e in by["X"] if e["cat"] in ("device", "cloud")]
    assert len(slices) == len(compute)
    for lane in ("device", "cloud"):
        busy = sum(e["dur"] for e in slices if e["cat"] == lane) / 1e6
        assert busy == pytest.approx(tl.metrics()[f"{lane}_busy_s"], rel=1e-6)
    messages = [e for e in by["b"] if e["cat"] in ("up", "down")]
    assert len(messages) == len(transfers) == tl.messages
    wire = sum(e["dur"] for e in by["X"] if e["cat"].endswith("wire")) / 1e6
    assert wire == pytest.approx(sum(b - a for r in transfers for a, b in r[4]), rel=1e-6)
    tokens = sorted(e["ts"] for e in by["i"])
    assert tokens == pytest.approx([t * 1e6 for t in tl.token_times], abs=1e-3)
    # a window of phases: decode steps 2..3 only
    part = check_chrome_trace(tl.chrome_trace(range(2, 4)))
    assert [e["name"] for e in part["i"]] == ["token 3", "token 4"]
    assert len([e for e in part["X"] if e["cat"] in ("device", "cloud")]) == sum(
        1 for k in (2, 3) for r in tl.phases[k] if r[0] in ("device", "cloud")
    )
