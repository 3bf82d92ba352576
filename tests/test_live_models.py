"""Split models as two real programs: ``serve`` + ``live --cloud`` on loopback, and (root) a run
through the link emulator. The tokens must equal the unsplit reference model's and the payload the
trace's; the emulated run is bounded below by the link's round trips."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from splitbench.harness.live import run_scenarios
from splitbench.harness.single import _trace, resolve_one
from splitbench.netsim.host import host_from_measurement
from splitbench.netsim.live.emulator import net_admin_missing

ROOT = Path(__file__).resolve().parent.parent
NO_ROOT = net_admin_missing()
BASE = {"model": "tiny", "device": "snapdragon-8gen3", "cloud": "a100-80g", "prompt_tokens": 6,
        "new_tokens": 3, "act_dtype": "fp32"}


# a fixed host calibration (the simulated columns need one; its numbers do not matter here)
HOST = host_from_measurement({"fp32_tflops": 0.05, "attention_eff": 1.0, "mem_bw_gbps": 10.0,
                              "matvec_row_ns": 100.0, "kernel_overhead_us": 20.0,
                              "forward_overhead_us": 500.0, "message_overhead_us": 100.0}, "test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _trace_payload(sc) -> tuple[int, int]:
    """Payload of the whole request from the trace: prefill plus (new_tokens - 1) decode steps."""
    tr = _trace(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype)[2]
    (dec,) = tr.decode.values()
    n = sc.new_tokens - 1
    return tr.prefill.up_bytes() + n * dec.up_bytes(), tr.prefill.down_bytes() + n * dec.down_bytes()


@pytest.mark.slow
def test_serve_and_live_cloud_on_loopback_match_reference_and_trace():
    methods = ["cloud-only", {"name": "privatelora", "rank": 4}, {"name": "layer-split", "device_layers": 1}]
    scs = [resolve_one({**BASE, "method": m, "network": "5g"}) for m in methods]
    port = _free_port()
    srv = subprocess.Popen(
        [sys.executable, "-m", "splitbench.harness.cli", "serve", "--listen", f"127.0.0.1:{port}",
         "--sessions", str(len(scs))],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )
    try:
        assert srv.stdout.readline().startswith("listening")
        rows = run_scenarios(scs, cloud=f"127.0.0.1:{port}", host=HOST)
        logs = [srv.stdout.readline() for _ in scs]
    finally:
        srv.kill()
        srv.wait()
    by_id = {r["scenario_id"]: r for r in rows}
    for sc, log in zip(scs, logs, strict=True):
        r = by_id[sc.scenario_id]
        assert r["mode"] == "live" and r["feasible"] is True
        assert r["tokens_match_reference"] is True, sc.method
        assert (r["up_bytes"], r["down_bytes"]) == _trace_payload(sc)
        assert '"error"' not in log
        assert r["ttft_s"] > 0 and r["tpot_s"] > 0 and r["handshake_s"] > 0
        assert r["sim_host_ttft_s"] > 0 and r["sim_host_tpot_s"] > 0  # priced on the given profile


def test_too_large_is_an_infeasible_row():
    scs = [resolve_one({**BASE, "model": "llama2-70b", "method": "cloud-only", "network": "5g"})]
    rows = run_scenarios(scs, cloud="127.0.0.1:9", simulate=False)
    assert all(r["feasible"] is False for r in rows)
    assert "GB" in rows[0]["infeasible_reason"]


@pytest.mark.skipif(NO_ROOT is not None, reason=f"live: {NO_ROOT}")
def test_emulated_privatelora_pays_a_round_trip_per_layer():
    sc = resolve_one({**BASE, "method": {"name": "privatelora", "rank": 4},
                      "network": {"base": "5g", "rtt_ms": 20, "jitter_ms": 0, "loss": 0}})
    (row,) = run_scenarios([sc], simulate=False)
    assert row["tokens_match_reference"] is True
    tr = _trace(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype)[2]
    (dec,) = tr.decode.values()
    # every sequential exchange of a step crosses the 20 ms RTT at least once
    assert row["tpot_s"] >= dec.round_trips() * 0.020 * 0.999
    assert row["ttft_s"] >= tr.prefill.round_trips() * 0.020 * 0.999
    assert (row["up_bytes"], row["down_bytes"]) == _trace_payload(sc)
    assert row["up_wire_bytes"] > row["up_bytes"] and row["down_wire_bytes"] > row["down_bytes"]


@pytest.mark.slow
def test_spa_classifier_gate_live_follows_the_clouds_decisions():
    """The device half learns each step's gate from the cloud's first message: the tokens equal the
    reference's and the payload each way equals the one-process split's, whose gate opens on some
    steps and closes on others."""
    import torch

    from splitbench.models.build import make_split

    method = {"name": "spa", "gate": "classifier"}
    sc = resolve_one({**BASE, "method": method, "network": "5g", "new_tokens": 8})
    split = make_split(sc.model, sc.method, mode="numeric", act_dtype="fp32", seed=sc.seed)
    split.reset()
    ids = split.random_ids(sc.prompt_tokens)
    for _ in range(sc.new_tokens):
        ids = torch.argmax(split.forward(ids), dim=-1, keepdim=True)
    assert len(set(split.opened[1:])) == 2, "the test needs open and closed steps"
    want = tuple(sum(n for d, n, _ in split.channel.log if d == way) for way in ("up", "down"))
    port = _free_port()
    srv = subprocess.Popen(
        [sys.executable, "-m", "splitbench.models.live", "--listen", f"127.0.0.1:{port}", "--sessions", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )
    try:
        assert srv.stdout.readline().startswith("listening")
        (row,) = run_scenarios([sc], cloud=f"127.0.0.1:{port}", simulate=False)
    finally:
        srv.kill()
        srv.wait()
    assert row["tokens_match_reference"] is True
    assert (row["up_bytes"], row["down_bytes"]) == want
