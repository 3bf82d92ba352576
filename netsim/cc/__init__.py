"""Congestion-control strategies, one per file, found by name (``LinkSpec.cc``).

Adding one: a subclass of :class:`CongestionControl` implementing the hooks documented in
netsim/tcp.py, in its own file here, and a line in :data:`CONGESTION_CONTROLS`.
"""

from __future__ import annotations

from .base import CongestionControl
from .cubic import Cubic, Ns3Cubic
from .newreno import NewReno

CONGESTION_CONTROLS: dict[str, type[CongestionControl]] = {
    "cubic": Cubic,
    "cubic-ns3": Ns3Cubic,
    "newreno": NewReno,
}

__all__ = ["CONGESTION_CONTROLS", "CongestionControl", "Cubic", "NewReno", "Ns3Cubic"]
