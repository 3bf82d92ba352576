"""The link emulator: the forwarder's per-packet arithmetic (no root needed) and, where root is
available, real TCP through it, its lower bounds, its errors, and its cleanup after a crash."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbench.netsim.capacity import TraceCapacity
from splitbench.netsim.link import LinkSpec
from splitbench.netsim.live.emulator import link_config, net_admin_missing

ROOT = Path(__file__).resolve().parent.parent
NO_ROOT = net_admin_missing()
needs_root = pytest.mark.skipif(NO_ROOT is not None, reason=f"live: {NO_ROOT}")


def _forwarder():
    path = ROOT / "netsim" / "live" / "forwarder.py"
    spec = importlib.util.spec_from_file_location("_sb_forwarder_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _direction(link: LinkSpec, direction: str = "up", seed: int = 0):
    fw = _forwarder()
    return fw.Direction(
        link_config(link), direction, fw._capacity_module(), fw._capacity_module("delay"), random.Random(seed)
    )


def test_constant_rate_departures_follow_byte_space():
    d = _direction(LinkSpec(12, 12, 20, queue_pkts=1000))  # 1.5 MB/s: a 1500-byte packet per ms
    for _ in range(3):
        d.offer(b"x" * 1500, 0.0)
    arrivals = sorted(a for a, _, _ in d.flight)
    assert arrivals == pytest.approx([0.001 + 0.010, 0.002 + 0.010, 0.003 + 0.010])
    d.offer(b"x" * 1500, 1.0)  # idle link: capacity offered meanwhile is wasted, not banked
    assert max(a for a, _, _ in d.flight) == pytest.approx(1.001 + 0.010)


def test_trace_gives_one_mtu_per_line(tmp_path):
    f = tmp_path / "t.mahi"
    f.write_text("5\n10\n10\n20\n")
    d = _direction(LinkSpec(1, 1, 0, trace_up=str(f), queue_pkts=1000))
    for _ in range(5):
        d.offer(b"x" * 1500, 0.0)
    cap = TraceCapacity([5, 10, 10, 20])
    want = [cap.time_of(1500 * k) for k in range(1, 6)]
    got = sorted(a for a, _, _ in d.flight)
    assert got == pytest.approx(want)
    assert got == pytest.approx([0.005, 0.01, 0.01, 0.02, 0.025])  # the trace repeats after 20 ms


def test_drop_tail_queue_limits_waiting_packets():
    d = _direction(LinkSpec(1, 1, 0, queue_pkts=4))
    for _ in range(10):
        d.offer(b"x" * 1000, 0.0)
    assert d.n["queue_drops"] == 6 and len(d.flight) == 4


def test_gilbert_elliott_loss_rate_and_bursts():
    d = _direction(LinkSpec(10_000, 10_000, 0, loss=0.05, loss_burst=3.0, queue_pkts=10**6), seed=3)
    n = 60_000
    for i in range(n):
        d.offer(b"x" * 100, i * 1e-3)
    rate = d.n["loss_drops"] / n
    assert 0.04 < rate < 0.06
    iid = _direction(LinkSpec(10_000, 10_000, 0, loss=0.05, queue_pkts=10**6), seed=3)
    for i in range(n):
        iid.offer(b"x" * 100, i * 1e-3)
    assert 0.04 < iid.n["loss_drops"] / n < 0.06


def test_jitter_keeps_order_and_varies_around_the_median():
    """The forwarder applies the simulator's delay process: arrivals stay in order, a burst keeps
    one delay, and sparse packets see delays whose median is the preset's one-way delay."""
    d = _direction(LinkSpec(10_000, 10_000, 40, jitter_ms=5, queue_pkts=10**6), seed=1)
    for i in range(2000):
        d.offer(b"x" * 100, i * 1e-4)
    got = [a for a, _, _ in sorted(d.flight, key=lambda x: x[1])]
    assert got == sorted(got)
    assert all(a >= i * 1e-4 + 0.002 for i, a in enumerate(got))  # never below a tenth of the delay
    sparse = _direction(LinkSpec(10_000, 10_000, 40, jitter_ms=5, queue_pkts=10**6), seed=1)
    for i in range(2000):  # 1 s apart: each packet draws its own delay
        sparse.offer(b"x" * 100, float(i))
    extra = sorted(a - (i + 0.020) for i, (a, _, _) in enumerate(sorted(sparse.flight, key=lambda x: x[1])))
    assert abs(extra[len(extra) // 2]) < 0.0005  # median one-way delay = rtt/2
    assert 0.0045 < sum(abs(x) for x in extra) / len(extra) < 0.0055  # mean absolute deviation = jitter_ms


@needs_root
def test_rounds_are_bounded_by_delay_and_serialisation():
    from splitbench.netsim.live.netcheck import live_netcheck

    link = LinkSpec(10, 20, 40, queue_pkts=1000)
    r = live_netcheck(1448, 1448, 0, 3, link)
    ser = 1500 * 8 / 10e6 + 1500 * 8 / 20e6
    floor = 0.040 + ser
    assert all(x >= floor * 0.999 for x in r["per_round_s"])
    assert min(r["per_round_s"]) < floor * 1.5
    assert r["handshake_s"] >= 0.040 * 0.999
    assert r["up_wire_bytes"] == r["down_wire_bytes"] == 3 * 1500
    assert r["congestion_control"] == "cubic"
    big = live_netcheck(200_000, 0, 0, 1, link)  # the uplink rate bounds a bulk upload from below
    assert big["completion_s"] >= 200_000 * 1500 / 1448 * 8 / 10e6


_SILENT_SERVER = """
import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], 7100)); s.listen(1); print("up", flush=True)
c, _ = s.accept(); time.sleep(600)
"""


@needs_root
def test_a_dead_forwarder_ends_a_blocked_run_with_its_reason():
    from splitbench.netsim.live.emulator import Emulator

    with Emulator(LinkSpec(10, 10, 10)) as emu:
        srv = emu.popen("cloud", [sys.executable, "-c", _SILENT_SERVER, emu.addr["cloud"]],
                        stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "up"
        sock = emu.socket("device")
        sock.connect((emu.addr["cloud"], 7100))
        sock.sendall(b"request")
        os.kill(emu.forwarder.pid, signal.SIGKILL)
        t = time.monotonic()
        assert sock.recv(1) == b""  # shut down by the watchdog, not by the (silent) server
        assert time.monotonic() - t < 5.0
        assert emu.failure.startswith("live: the link emulator's forwarder exited")
        sock.close()


_CONTROLLER = """
import json, subprocess, sys, time, os
from splitbench.netsim.link import LinkSpec
from splitbench.netsim.live.emulator import Emulator
emu = Emulator(LinkSpec(10, 10, 10)).__enter__()
p = emu.popen("cloud", [sys.executable, "-c", "import time; time.sleep(600)"])
ns = sorted({os.stat(emu.netns(s)).st_ino for s in ("device", "cloud")})
print(json.dumps({"pids": emu.pids(), "ns": ns, "tun": list(emu.tun.values())}), flush=True)
try:
    time.sleep(600)
finally:
    emu.close()
"""


def _net_namespaces() -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out.add(os.stat(d / "ns" / "net").st_ino)
            except OSError:
                pass
    return out


def _gone(info: dict, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in info["pids"] if Path(f"/proc/{p}").exists()
                 and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]]
        if not alive and not set(info["ns"]) & _net_namespaces():
            links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
            return not any(t in links for t in info["tun"])
        time.sleep(0.1)
    return False


@needs_root
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_nothing_remains_after_a_killed_or_interrupted_run(sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ctl = subprocess.Popen([sys.executable, "-c", _CONTROLLER], stdout=subprocess.PIPE, env=env)
    try:
        info = json.loads(ctl.stdout.readline())
        # two namespace holders, the forwarder, a program, and one awake-keeper per core
        assert len(info["pids"]) == 4 + len(os.sched_getaffinity(0)) and len(info["ns"]) == 2
        assert set(info["ns"]) <= _net_namespaces()
    finally:
        ctl.send_signal(sig)
        ctl.wait(30)
    assert _gone(info)


def test_keep_awake_spins_at_idle_priority_and_stops():
    from splitbench.netsim.live.emulator import keep_awake

    with keep_awake() as pids:
        assert len(pids) == len(os.sched_getaffinity(0))
        for pid in pids:
            assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        assert sorted(c for pid in pids for c in os.sched_getaffinity(pid)) == sorted(os.sched_getaffinity(0))
    time.sleep(0.2)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()
                and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]]


def _drop_net_admin() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(24, 12, 0, 0, 0)  # PR_CAPBSET_DROP, CAP_NET_ADMIN


@pytest.mark.parametrize("command", [
    ["netcheck", "--live", "--network", "5g", "--up-bytes", "1", "--down-bytes", "1", "--compute-ms", "0",
     "--rounds", "1"],
    ["validate", "--only", "live"],
])
def test_without_net_admin_one_line_and_exit_2(command):
    if NO_ROOT is not None:
        pytest.skip("needs CAP_NET_ADMIN to drop it from a child")
    r = subprocess.run(
        [sys.executable, "-m", "splitbench.harness.cli", *command],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=_drop_net_admin, cwd="/",
    )
    assert r.returncode == 2
    want = "splitbench: error: live: the link emulator needs CAP_NET_ADMIN (run as root)"
    assert r.stderr.strip().splitlines() == [want]
