"""The link emulator's forwarder: the process that carries every packet between the two namespaces.

Runs as a script (``python forwarder.py``) in the root network namespace, started and stopped by
:class:`splitbench.netsim.live.emulator.Emulator`; it imports nothing heavier than the capacity
module so that it starts in well under a second. Configuration arrives as one JSON line on stdin;
afterwards each ``stats`` line on stdin is answered by one JSON line of counters on stdout, a
``reset`` line answers the same and then starts afresh (empty queues, counters at zero, the trace
clock waiting for the next packet: one emulator can serve several sessions), and EOF on stdin ends
it (final counters, exit 0).

What a packet goes through, per direction (Mahimahi's link shell semantics, on the link
specification the simulator uses — netsim/link.py, netsim/capacity.py):

1. read from the sender's TUN device (one IP packet, no link-layer header);
2. drop-tail queue: dropped if ``queue_pkts`` packets are already waiting for the bottleneck;
3. bottleneck: the packet's bytes take the next unused bytes of capacity at or after its arrival
   (capacity offered while the queue was empty is wasted). Constant rate, or a Mahimahi trace —
   one 1500-byte delivery opportunity per line, the same byte-space arithmetic as the simulator
   (``Capacity.position_at`` / ``time_of``); its departure is when its last byte was offered;
4. random loss after the bottleneck (Gilbert-Elliott bursts, stationary rate ``loss``, mean burst
   ``loss_burst``, the simulator's parameterisation);
5. propagation: departure + the one-way delay of netsim/delay.py (the median ``rtt_ms/2``, varied
   in time-correlated steps by ``jitter_ms``: the simulator's delay process); kept in order unless
   ``reorder``;
6. written to the receiver's TUN device at that time.

Trace time starts at the first packet the forwarder sees (the connection's SYN), the nearest
equivalent of the simulator's time 0.

The counters include how late packets were written compared with their scheduled time: the
forwarder's own error, which is what limits the rates it can emulate faithfully.
"""

from __future__ import annotations

import ctypes
import fcntl
import heapq
import importlib.util
import json
import math
import os
import random
import select
import struct
import sys
import time
from collections import deque
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
PR_SET_TIMERSLACK = 29
RT_PRIORITY = 10
READ_BATCH = 64  # packets read from one device before the loop delivers again
#: The forwarder sleeps until this long before a packet is due and polls from then on: a process
#: woken from a timed sleep on this project's VMs runs 0.05-0.3 ms late, more the longer it slept.
SPIN_S = 0.0005


def _capacity_module(name: str = "capacity"):
    """netsim/<name>.py, loaded by path: importing the netsim package would import torch."""
    path = Path(__file__).resolve().parent.parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_sb_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def _payload(pkt: bytes) -> int:
    """TCP payload bytes of an IPv4 packet (0 for pure ACKs, SYNs and anything else)."""
    if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        return 0
    ihl = (pkt[0] & 15) * 4
    return len(pkt) - ihl - (pkt[ihl + 12] >> 4) * 4


class Direction:
    """One direction of the link: queue, bottleneck, loss, delay, and the packets in flight."""

    def __init__(self, cfg: dict, direction: str, cap_mod, delay_mod, rng: random.Random):
        trace = cfg[f"trace_{direction}"]
        self.cap = cap_mod.load_trace(trace) if trace else None
        self.bps = None if trace else cfg[f"{direction}_mbps"] * 1e6 / 8.0
        self.one_way = cfg["rtt_ms"] / 2000.0
        self.jitter = cfg["jitter_ms"] / 1000.0
        self.qmax = int(cfg["queue_pkts"])
        self.reorder = bool(cfg["reorder"])
        p, b = float(cfg["loss"]), float(cfg["loss_burst"])
        self.p_bg = 1.0 / b
        self.p_gb = p / (b * (1 - p)) if p > 0 else 0.0
        self.bad = False
        self.rng = rng
        mbps = self.cap.mean_mbps() if self.cap else cfg[f"{direction}_mbps"]
        self.delay = delay_mod.DelayProcess(
            self.one_way,
            self.jitter,
            float(cfg.get("jitter_interval_ms", 100.0)) / 1000.0,
            (int(cfg["mss_bytes"]) + int(cfg["header_bytes"])) * 8 / (mbps * 1e6),
            random.Random(rng.getrandbits(64) if self.jitter else 0),
        )
        self.used = 0.0  # capacity bytes consumed (byte-space position)
        self.queue: deque[float] = deque()  # departure times of packets waiting for / on the bottleneck
        self.flight: list[tuple[float, int, bytes]] = []  # (delivery time, tiebreak, packet)
        self.last_arr = 0.0
        self.tie = 0
        self.n = {"packets": 0, "bytes": 0, "data_packets": 0, "data_bytes": 0, "delivered": 0,
                  "delivered_bytes": 0, "queue_drops": 0, "loss_drops": 0, "late_max_us": 0.0,
                  "late_sum_us": 0.0}

    def offer(self, pkt: bytes, t: float) -> None:
        """A packet read at ``t`` (seconds since trace start)."""
        n = self.n
        n["packets"] += 1
        n["bytes"] += len(pkt)
        if _payload(pkt) > 0:
            n["data_packets"] += 1
            n["data_bytes"] += len(pkt)
        q = self.queue
        while q and q[0] <= t:
            q.popleft()
        if len(q) >= self.qmax:
            n["queue_drops"] += 1
            return
        if self.bps:
            start = max(self.used, t * self.bps)
            self.used = start + len(pkt)
            dep = self.used / self.bps
        else:
            start = max(self.used, self.cap.position_at(t))
            self.used = start + len(pkt)
            dep = self.cap.time_of(self.used)
        q.append(dep)
        if self.p_gb:
            x = self.rng.random()
            if self.bad:
                if x < self.p_bg:
                    self.bad = False
            elif x < self.p_gb:
                self.bad = True
            if self.bad:
                n["loss_drops"] += 1
                return
        arr = dep + (self.delay.at(dep) if self.jitter else self.one_way)
        if not self.reorder:
            arr = max(arr, self.last_arr)
        self.last_arr = max(self.last_arr, arr)
        self.tie += 1
        heapq.heappush(self.flight, (arr, self.tie, pkt))

    def deliver(self, fd: int, t: float) -> None:
        fl, n = self.flight, self.n
        while fl and fl[0][0] <= t:
            due, _, pkt = heapq.heappop(fl)
            try:
                os.write(fd, pkt)
            except OSError:
                pass  # the receiving device is gone (shutting down)
            late = (t - due) * 1e6
            n["delivered"] += 1
            n["delivered_bytes"] += len(pkt)
            n["late_sum_us"] += late
            if late > n["late_max_us"]:
                n["late_max_us"] = late

    def next_due(self) -> float:
        return self.flight[0][0] if self.flight else math.inf


def main() -> int:
    ctl = sys.stdin.fileno()
    buf = b""
    while b"\n" not in buf:
        chunk = os.read(ctl, 65536)
        if not chunk:
            return 1
        buf += chunk
    line, buf = buf.split(b"\n", 1)
    cfg = json.loads(line)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    try:  # wake on time even on a busy machine: real-time priority (it sleeps in select otherwise)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except (OSError, AttributeError):
        pass
    cap_mod, delay_mod = _capacity_module(), _capacity_module("delay")
    link = cfg["link"]
    seed = int(cfg.get("seed", 0))
    dirs = {d: Direction(link, d, cap_mod, delay_mod, random.Random(f"{seed}:{d}")) for d in ("up", "down")}
    dev_fd, cloud_fd = open_tun(cfg["device_tun"]), open_tun(cfg["cloud_tun"])
    print("ready", flush=True)
    route = {dev_fd: ("up", cloud_fd), cloud_fd: ("down", dev_fd)}
    up, down = dirs["up"], dirs["down"]
    t0: float | None = None
    mono = time.monotonic
    started = mono()

    def stats() -> dict:
        return {"up": up.n, "down": down.n, "uptime_s": mono() - started}

    while True:
        now = mono()
        if t0 is not None:
            t = now - t0
            up.deliver(cloud_fd, t)
            down.deliver(dev_fd, t)
            due = min(up.next_due(), down.next_due())
            timeout = None if due == math.inf else due - (mono() - t0)
            if timeout is not None:  # sleep until shortly before, then poll: waking is late on a VM
                timeout = timeout - SPIN_S if timeout > SPIN_S else 0.0
        else:
            timeout = None
        ready, _, _ = select.select([dev_fd, cloud_fd, ctl], [], [], timeout)
        for fd in ready:
            if fd == ctl:
                chunk = os.read(ctl, 4096)
                if not chunk:
                    print(json.dumps(stats()), flush=True)
                    return 0
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip() == b"stats":
                        print(json.dumps(stats()), flush=True)
                    elif line.strip() == b"reset":  # a new session: fresh link state, trace from 0
                        print(json.dumps(stats()), flush=True)
                        dirs = {d: Direction(link, d, cap_mod, delay_mod, random.Random(f"{seed}:{d}"))
                                for d in ("up", "down")}
                        up, down = dirs["up"], dirs["down"]
                        t0 = None
                continue
            name, _ = route[fd]
            d = dirs[name]
            for _ in range(READ_BATCH):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                now = mono()
                if t0 is None:
                    t0 = now
                d.offer(pkt, now - t0)


if __name__ == "__main__":
    sys.exit(main())
