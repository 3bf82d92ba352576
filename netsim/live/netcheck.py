"""``netcheck --live`` and the forwarder's rate ceiling: real TCP through the link emulator.

:func:`live_netcheck` runs the exchange of :func:`splitbench.netsim.netcheck.netcheck` (same
arguments, same result fields) between two real processes over the emulated link: probe.py as the
server in the cloud namespace and as the client in the device namespace. Wire bytes are the
forwarder's count of the IP packets that carried TCP payload (headers included; SYNs and pure ACKs
not, as in the simulator).

:func:`measure_max_rate` finds the highest link rate the forwarder emulates with less than 5% error:
bulk TCP through a link of rate R (short delay, deep queue) must reach at least 95% of R's goodput
(R · MSS / packet size). The result is cached beside the ``host`` calibration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

from ..link import LinkSpec
from ..netcheck import check_exchange
from .emulator import Emulator, wait_all

PROBE = str(Path(__file__).resolve().parent / "probe.py")
PORT = 5201


def _probe(role: str, host: str, link: LinkSpec, **kw: Any) -> list[str]:
    argv = [sys.executable, PROBE, role, "--host", host, "--port", str(PORT), "--cc", link.linux_cc]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


def _run_pair(emu: Emulator, link: LinkSpec, timeout_s: float, **kw: Any) -> dict[str, Any]:
    host = emu.addr["cloud"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    srv = emu.popen("cloud", _probe("server", host, link, **kw), **pipes)
    line = srv.stdout.readline().decode()
    if line.strip() != "listening":
        err = srv.stderr.read().decode().strip().splitlines()
        raise SplitbenchError(f"live netcheck: server did not start: {(err or [line])[-1][:200]}")
    cli = emu.popen("device", _probe("client", host, link, **kw), **pipes)
    try:
        out, err = cli.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SplitbenchError(f"live netcheck: no result within {timeout_s:.0f} s") from None
    if cli.returncode != 0:
        last = (err.decode().strip().splitlines() or ["?"])[-1]
        raise SplitbenchError(f"live netcheck: client failed: {last[:200]}")
    wait_all([srv], 10.0)
    return json.loads(out)


def live_netcheck(
    up_bytes: int, down_bytes: int, compute_ms: float, rounds: int, link: LinkSpec, seed: int = 0,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """The netcheck rounds over real TCP through the emulator; netcheck's fields plus ``mode``."""
    check_exchange(up_bytes, down_bytes, compute_ms, rounds)
    link = link.validate()
    if link.transport != "tcp":
        raise SplitbenchError("netcheck --live: transport must be tcp (a live run uses the kernel's TCP)")
    with Emulator(link, seed) as emu:
        r = _run_pair(emu, link, timeout_s, up=up_bytes, down=down_bytes, compute_ms=compute_ms,
                      rounds=rounds)
        st = emu.stats()
    return {
        "completion_s": r["completion_s"],
        "handshake_s": r["handshake_s"],
        "per_round_s": r["per_round_s"],
        "up_bytes": up_bytes * rounds,
        "down_bytes": down_bytes * rounds,
        "up_wire_bytes": st["up"]["data_bytes"],
        "down_wire_bytes": st["down"]["data_bytes"],
        "up_drops": st["up"]["queue_drops"] + st["up"]["loss_drops"],
        "down_drops": st["down"]["queue_drops"] + st["down"]["loss_drops"],
        "forwarder_late_max_ms": max(st["up"]["late_max_us"], st["down"]["late_max_us"]) / 1000.0,
        "congestion_control": r["congestion_control"],
        "transport": "tcp",
        "mode": "live",
    }


# ------------------------------------------------------------------------------ forwarder ceiling
MAX_RATE_STEPS_MBPS = (50, 100, 200, 300, 400, 600, 800, 1200)
MAX_RATE_ERROR = 0.05


def _cache_path() -> Path:
    base = os.environ.get("SPLITBENCH_CACHE") or os.path.join(Path.home(), ".cache", "splitbench")
    return Path(base) / "emulator.json"


def bulk_goodput(mbps: float, seconds: float = 3.0, rtt_ms: float = 2.0) -> dict[str, Any]:
    """Goodput of one bulk TCP flow (cloud → device) through an emulated link of ``mbps``."""
    link = LinkSpec(mbps, mbps, rtt_ms, queue_pkts=1000, source="emulator rate probe")
    with Emulator(link) as emu:
        r = _run_pair(emu, link, seconds + 30.0, bulk_s=seconds)
        st = emu.stats()
    ideal = mbps * link.mss_bytes / (link.mss_bytes + link.header_bytes)
    return {"mbps": mbps, "goodput_mbps": r["goodput_mbps"], "ideal_mbps": ideal,
            "error": 1.0 - r["goodput_mbps"] / ideal,
            "late_mean_us": st["down"]["late_sum_us"] / max(1, st["down"]["delivered"])}


def measure_max_rate(steps: tuple[float, ...] = MAX_RATE_STEPS_MBPS, seconds: float = 3.0) -> dict[str, Any]:
    """The highest step rate at which bulk TCP gets within 5% of the link's goodput; cached."""
    points = []
    best = 0.0
    for r in steps:
        p = bulk_goodput(r, seconds)
        points.append(p)
        if abs(p["error"]) < MAX_RATE_ERROR:
            best = r
        else:
            break
    out = {"max_rate_mbps": best, "points": points, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
           "error_limit": MAX_RATE_ERROR, "cpus": os.cpu_count()}
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1))
    except OSError:
        pass
    return out


def cached_max_rate() -> dict[str, Any] | None:
    """The last measured ceiling on this machine, if any (listing never measures)."""
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return None




REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "live_results.json"


def emulator_ceiling() -> tuple[float, str] | None:
    """(Mbit/s, where it was measured): this machine's cached measurement, else the repository's."""
    cached = cached_max_rate()
    if cached:
        return float(cached["max_rate_mbps"]), f"measured here {cached['measured_at']}"
    try:
        ref = json.loads(REFERENCE.read_text())["forwarder"]
        return float(ref["max_rate_mbps"]), f"measured {ref['measured_at']} on {ref['machine']}"
    except (OSError, ValueError, KeyError):
        return None
