"""A shared cell: the users of one network send through one uplink and one downlink bottleneck.

Each user keeps its own TCP connection (tcp.py: window, ACK clock, RTT estimate, loss draws); what
they share is the bottleneck's FIFO position — the capacity bytes already taken — so one user's
packets delay the next user's, and N users together never get more than the link's capacity.

Approximations (stated so a reader can judge them): packets are placed on the shared bottleneck in
the order the simulation offers them, which follows simulated time only up to one walk of a user's
steps (netsim.multiuser runs each user's device and link steps up to its next cloud step at once);
an earlier-timed message offered later queues behind later-timed ones (conservative). The drop-tail
buffer is counted per flow, not per cell.
"""

from __future__ import annotations

from typing import Any

from .tcp import Path


class Cell:
    """One direction's shared bottleneck: the capacity position every path on it advances."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0.0


class SharedPath:
    """A user's path (tcp.Path) whose bottleneck position is its cell's: each send starts from the
    cell's position and leaves it where the send put it. Everything else is the user's own path."""

    __slots__ = ("path", "cell")

    def __init__(self, path: Path, cell: Cell) -> None:
        self.path, self.cell = path, cell

    def send(self, t0: float, nbytes: int) -> float:
        p, c = self.path, self.cell
        p.used = c.used
        end = p.send(t0, nbytes)
        c.used = p.used
        return end

    def __getattr__(self, name: str) -> Any:
        return getattr(self.path, name)


def share(path: Path, cells: dict[Any, Cell], key: Any) -> SharedPath:
    """``path`` on the cell ``key`` (created on first use)."""
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = Cell()
    return SharedPath(path, cell)
