"""The netcheck exchange over a real TCP connection: a server (cloud side) and a client (device side).

Run as a script in each namespace (it imports nothing from splitbench, so it starts at once). Both
sides set the congestion control and TCP_NODELAY named by ``--cc`` on their socket (per socket:
sysctls cannot be set inside these namespaces). Per round the client sends ``up`` bytes; the
server, once it has them all, waits ``compute_ms`` and replies ``down`` bytes; the next round starts
when the client has the whole reply. An empty reply is one byte here: the client has to learn that
its request arrived (the simulator's empty reply "arrives" with the request). The client prints one
JSON line: ``handshake_s`` (connect()), ``completion_s`` (first request byte to last reply byte)
and ``per_round_s``. ``--bulk-s`` instead streams for that long from server to client and reports
the received goodput (max-rate probe).
Timing rounds run at real-time priority (below the forwarder's) where permitted, so that load from
other programs on the machine does not show up as network time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)
CHUNK = 1 << 16


def _tune(s: socket.socket, cc: str) -> None:
    """``cc``: LinkSpec.linux_cc, the congestion control with ``+nagle`` when TCP_NODELAY stays off
    (as models/live.py socket_options reads it; this script imports nothing from splitbench)."""
    cc, _, flag = cc.partition("+")
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(flag != "nagle"))
    s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc.encode())


def _recv_exact(s: socket.socket, n: int, buf: bytearray) -> None:
    view = memoryview(buf)
    got = 0
    while got < n:
        k = s.recv_into(view[: min(CHUNK, n - got)])
        if k == 0:
            raise ConnectionError("peer closed")
        got += k


def server(a: argparse.Namespace) -> None:
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _tune(ls, a.cc)
    ls.bind((a.host, a.port))
    ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept()
    _tune(c, a.cc)
    buf = bytearray(CHUNK)
    if a.bulk_s:
        data = bytes(CHUNK)
        end = time.monotonic() + a.bulk_s
        try:
            while time.monotonic() < end:
                c.sendall(data)
        except OSError:
            pass
        c.close()
        return
    reply = bytes(max(1, a.down))
    for _ in range(a.rounds):
        _recv_exact(c, a.up, buf)
        if a.compute_ms:
            time.sleep(a.compute_ms / 1000.0)
        c.sendall(reply)
    c.recv(1)  # wait for the client to close


def client(a: argparse.Namespace) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _tune(s, a.cc)
    for _ in range(200):  # the server may still be starting
        t0 = time.perf_counter()
        try:
            s.connect((a.host, a.port))
            break
        except (ConnectionRefusedError, OSError):
            s.close()
            time.sleep(0.05)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            _tune(s, a.cc)
    else:
        raise SystemExit("probe: cannot connect")
    handshake = time.perf_counter() - t0
    buf = bytearray(CHUNK)
    if a.bulk_s:
        got, start, first = 0, time.perf_counter(), None
        while True:
            k = s.recv_into(buf)
            if k == 0:
                break
            if first is None and got >= 1 << 20:  # skip slow start: time the rest
                first, base = time.perf_counter(), got
            got += k
        end = time.perf_counter()
        rate = (got - base) * 8 / (end - first) / 1e6 if first else got * 8 / (end - start) / 1e6
        print(json.dumps({"goodput_mbps": rate, "bytes": got}), flush=True)
        return
    request = bytes(a.up)
    per_round = []
    t_first = time.perf_counter()
    for _ in range(a.rounds):
        t = time.perf_counter()
        if request:
            s.sendall(request)
        _recv_exact(s, max(1, a.down), buf)
        per_round.append(time.perf_counter() - t)
    completion = time.perf_counter() - t_first
    info = s.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).rstrip(b"\0").decode()
    s.close()
    print(json.dumps({"completion_s": completion, "handshake_s": handshake, "per_round_s": per_round,
                      "congestion_control": info}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="probe")
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=5201)
    p.add_argument("--up", type=int, default=0)
    p.add_argument("--down", type=int, default=0)
    p.add_argument("--compute-ms", type=float, default=0.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--cc", default="cubic")
    p.add_argument("--bulk-s", type=float, default=0.0)
    a = p.parse_args()
    if not a.bulk_s:  # timing rounds: wake on time on a busy machine (they sleep in recv otherwise)
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
        except (OSError, AttributeError):
            pass
    (server if a.role == "server" else client)(a)


if __name__ == "__main__":
    sys.exit(main())
