"""The link emulator: two network namespaces (device, cloud) joined by TUN devices and a forwarder.

Why this shape: the two sides of a split must talk through the kernel's real TCP stacks, so each
side gets its own network namespace with one TUN device; every IP packet one side sends is read
by the forwarder (forwarder.py) and written into the other side's TUN device after the link's
rate, queue, loss and delay have been applied — Mahimahi's link shell, in userspace, from the
same :class:`~splitbench.netsim.link.LinkSpec` the simulator replays. ``netem`` is not needed.

Lifetime and cleanup: the namespaces are anonymous, each held by one small holder process
(``unshare(CLONE_NEWNET)``); a namespace, and the TUN device inside it, disappear when the last
process in it exits. Every process the emulator starts (holders, forwarder, the programs run in
the namespaces) has PR_SET_PDEATHSIG=SIGKILL and its own session: when the controlling process
exits — normally, by Ctrl-C, or killed outright — they are killed by the kernel, and nothing
remains (tests/test_live_emulator.py kills a controller with SIGKILL and checks). The TUN
devices are named ``sb<run id>d`` / ``sb<run id>c`` with a random run id, and traffic only ever
goes between the two addresses inside these namespaces.

Keeping the cores awake: while the emulator runs, one process per core spins at SCHED_IDLE, the
lowest priority there is (:func:`keep_awake`). It runs only where nothing else would, so it takes no
time from the programs, but an idle core never halts: on this project's VMs a halted virtual core
wakes 0.3-1 ms after a packet arrives for it, which a request/response round through the emulator
pays at each end (measured without it: 1.03 ms over the configured RTT per round at 40 ms, 0.55 ms
with it; the wifi5 request/response round 8% over RTT plus serialisation, against a 5% target).

Needs CAP_NET_ADMIN (root): without it, :func:`require_net_admin` raises a one-line
SplitbenchError.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

from ..link import LinkSpec

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
CAP_NET_ADMIN = 12
DEVICE_ADDR, CLOUD_ADDR = "10.77.0.1", "10.77.0.2"
FORWARDER = Path(__file__).resolve().parent / "forwarder.py"
HOLDER = "import os\ntry:\n    os.read(0, 1)\nexcept KeyboardInterrupt:\n    pass\n"
SPINNER = "while True:\n    pass\n"
TUN_QUEUE = 10000  # txqueuelen of the TUN devices: the forwarder's queue is the bottleneck, not this
START_TIMEOUT_S = 60.0

_libc = ctypes.CDLL(None, use_errno=True)


def net_admin_missing() -> str | None:
    """Why the emulator cannot run here (one line), or None when it can."""
    if sys.platform != "linux":
        return "the link emulator needs Linux network namespaces"
    try:
        caps = next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapEff:"))
        if not int(caps.split()[1], 16) >> CAP_NET_ADMIN & 1:
            return "the link emulator needs CAP_NET_ADMIN (run as root)"
    except (OSError, StopIteration, ValueError):
        return "the link emulator needs CAP_NET_ADMIN (cannot read /proc/self/status)"
    if not os.path.exists("/dev/net/tun"):
        return "the link emulator needs /dev/net/tun (TUN devices)"
    if shutil.which("ip") is None:
        return "the link emulator needs the 'ip' command (iproute2)"
    return None


def require_net_admin() -> None:
    why = net_admin_missing()
    if why:
        raise SplitbenchError(f"live: {why}")


def _child_setup(netns: str | None = None, unshare: bool = False):
    """preexec_fn: die with the parent; enter (or create) a network namespace."""

    def setup() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if unshare and _libc.unshare(CLONE_NEWNET) != 0:
            os._exit(121)
        if netns is not None:
            fd = os.open(netns, os.O_RDONLY)
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                os._exit(122)
            os.close(fd)

    return setup


def link_config(link: LinkSpec) -> dict[str, Any]:
    """The fields of a LinkSpec the forwarder applies (traces as absolute paths)."""
    d = asdict(link)
    for k in ("trace_up", "trace_down"):
        if d[k] and not d[k].startswith("synth:"):
            d[k] = str(Path(d[k]).resolve())
    return d


def _spinner_setup(cpu: int):
    parent = _child_setup()

    def setup() -> None:
        parent()
        os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    return setup


@contextlib.contextmanager
def keep_awake():
    """One SCHED_IDLE spinning process per core this process may use, for the duration (module
    docstring); they die with this process (PR_SET_PDEATHSIG) if it is killed."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = []
    procs = [subprocess.Popen([sys.executable, "-c", SPINNER], stdin=subprocess.DEVNULL,
                              preexec_fn=_spinner_setup(c), start_new_session=True) for c in cpus]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            _stop(p)


class Emulator:
    """``with Emulator(link) as emu:`` — run programs on either side with :meth:`popen`.

    ``emu.addr["cloud"]`` is the address a device-side program connects to. :meth:`stats` returns
    the forwarder's counters per direction (packets, bytes, data bytes, drops, lateness).

    A watchdog thread polls the forwarder and the programs started with :meth:`popen`: when the
    forwarder exits, or a program fails (non-zero status), the sockets made with :meth:`socket` are
    shut down, so a run blocked on them ends at once (a dead forwarder would otherwise leave both
    ends waiting for packets that never come) and :attr:`failure` says which program exited.
    """

    def __init__(self, link: LinkSpec, seed: int = 0):
        self.link = link.validate()
        self.seed = seed
        self.run_id = secrets.token_hex(3)
        self.tun = {"device": f"sb{self.run_id}d", "cloud": f"sb{self.run_id}c"}
        self.addr = {"device": DEVICE_ADDR, "cloud": CLOUD_ADDR}
        self.holders: dict[str, subprocess.Popen] = {}
        self.forwarder: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []
        self.final_stats: dict[str, Any] | None = None
        self.sockets: list[socket.socket] = []
        self.failure: str | None = None
        self._closing = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._awake: contextlib.ExitStack | None = None
        self.awake_pids: list[int] = []

    # ----- lifetime -----
    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        require_net_admin()
        try:
            for side in ("device", "cloud"):
                self.holders[side] = subprocess.Popen(
                    [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                    preexec_fn=_child_setup(unshare=True), start_new_session=True,
                )
            self.forwarder = subprocess.Popen(
                [sys.executable, str(FORWARDER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                preexec_fn=_child_setup(), start_new_session=True,
            )
            cfg = {"link": link_config(self.link), "seed": self.seed,
                   "device_tun": self.tun["device"], "cloud_tun": self.tun["cloud"]}
            self.forwarder.stdin.write((json.dumps(cfg) + "\n").encode())
            self.forwarder.stdin.flush()
            line = self._read_line(START_TIMEOUT_S)
            if line.strip() != "ready":
                raise SplitbenchError(f"live: the emulator's forwarder did not start ({line.strip()[:80]!r})")
            for side, peer in (("device", "cloud"), ("cloud", "device")):
                tun = self.tun[side]
                self._ip(None, "link", "set", "dev", tun, "netns", str(self.holders[side].pid))
                self._ip(side, "link", "set", "lo", "up")
                self._ip(side, "addr", "add", self.addr[side], "peer", self.addr[peer], "dev", tun)
                self._ip(side, "link", "set", "dev", tun, "mtu", "1500", "txqueuelen", str(TUN_QUEUE), "up")
            self._awake = contextlib.ExitStack()
            self.awake_pids = self._awake.enter_context(keep_awake())
        except BaseException:
            self.close()
            raise
        self._watchdog = threading.Thread(target=self._watch, name="emulator-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self, interval_s: float = 0.1) -> None:
        while not self._closing.wait(interval_s):
            named = [("the link emulator's forwarder", self.forwarder)]
            named += [(f"program {' '.join(map(str, p.args))[:60]!r}", p) for p in list(self.procs)]
            dead = [(name, p.returncode) for name, p in named if p is not None and p.poll() is not None
                    and (p is self.forwarder or p.returncode != 0)]
            if dead:
                name, rc = dead[0]
                self.failure = f"live: {name} exited (status {rc}) during the run"
                for s in list(self.sockets):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                return

    def _read_line(self, timeout: float) -> str:
        out = self.forwarder.stdout
        r, _, _ = select.select([out], [], [], timeout)
        if not r:
            raise SplitbenchError(f"live: the emulator's forwarder did not answer within {timeout:.0f} s")
        return out.readline().decode()

    def netns(self, side: str) -> str:
        return f"/proc/{self.holders[side].pid}/ns/net"

    def _ip(self, side: str | None, *args: str) -> None:
        r = subprocess.run(
            ["ip", *args], capture_output=True, text=True,
            preexec_fn=_child_setup(self.netns(side) if side else None),
        )
        if r.returncode != 0:
            raise SplitbenchError(f"live: ip {' '.join(args)}: {r.stderr.strip()[:200]}")

    def popen(self, side: str, argv: list[str], **kw: Any) -> subprocess.Popen:
        """Start ``argv`` inside ``side``'s namespace; it is stopped when the emulator closes."""
        p = subprocess.Popen(argv, preexec_fn=_child_setup(self.netns(side)), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """The forwarder's counters; ``reset``: then start the link afresh (for the next session)."""
        if self.forwarder is None or self.forwarder.poll() is not None:
            return self.final_stats or {}
        self.forwarder.stdin.write(b"reset\n" if reset else b"stats\n")
        self.forwarder.stdin.flush()
        return json.loads(self._read_line(10.0))

    def socket(self, side: str) -> socket.socket:
        """A TCP socket that lives in ``side``'s namespace, for use by this (controlling) process.

        The calling thread enters the namespace only while the socket is created: a socket keeps
        the namespace it was created in."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(self.netns(side), os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise SplitbenchError(f"live: cannot enter the {side} namespace")
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.sockets.append(sock)
                return sock
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise SplitbenchError("live: cannot return to this process's network namespace")
        finally:
            os.close(own)
            os.close(target)

    def pids(self) -> list[int]:
        ps = [*self.holders.values(), *self.procs] + ([self.forwarder] if self.forwarder else [])
        return [p.pid for p in ps] + self.awake_pids

    def close(self) -> None:
        self._closing.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join()
        self._watchdog = None
        self.sockets = []
        for p in self.procs:
            _stop(p)
        self.procs = []
        if self._awake is not None:
            self._awake.close()
            self._awake = None
            self.awake_pids = []
        if self.forwarder is not None:
            try:
                if self.forwarder.poll() is None:
                    self.forwarder.stdin.close()
                    line = self._read_line(5.0)
                    self.final_stats = json.loads(line) if line.strip() else None
            except (OSError, ValueError, SplitbenchError):
                pass
            _stop(self.forwarder)
            self.forwarder = None
        for h in self.holders.values():
            try:
                h.stdin.close()
            except OSError:
                pass
            _stop(h)
        self.holders = {}


def _stop(p: subprocess.Popen, grace_s: float = 2.0) -> None:
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (p.stdin, p.stdout, p.stderr):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def wait_all(procs: list[subprocess.Popen], timeout: float) -> None:
    """Wait for programs, raising a one-line error naming the first that failed or hung."""
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise SplitbenchError(f"live: a program did not finish within {timeout:.0f} s") from None
