"""netsim: turns an ExecutionTrace into time — links, transport, compute profiles, simpy replay."""

from .batching import apportion, batched_step_time
from .capacity import SYNTHETIC, ConstantCapacity, TraceCapacity, load_trace, markov_trace, onoff_trace
from .host import host_profile
from .link import NETWORK_PRESETS, LinkSpec, resolve_network
from .multiuser import Arrival, MultiUserResult, UserClass, simulate_multiuser
from .netcheck import netcheck
from .profiles import PROFILE_PRESETS, Profile, profile_names, resolve_profile
from .replay import ComputeNode, Session, feasible, measured_scale, simulate
from .tables import network_table, profile_table
from .timeline import Timeline

__all__ = [
    "SYNTHETIC",
    "ConstantCapacity",
    "TraceCapacity",
    "load_trace",
    "markov_trace",
    "onoff_trace",
    "NETWORK_PRESETS",
    "LinkSpec",
    "resolve_network",
    "netcheck",
    "PROFILE_PRESETS",
    "Profile",
    "host_profile",
    "profile_names",
    "resolve_profile",
    "ComputeNode",
    "Session",
    "feasible",
    "measured_scale",
    "simulate",
    "Timeline",
    "apportion",
    "batched_step_time",
    "Arrival",
    "MultiUserResult",
    "UserClass",
    "simulate_multiuser",
    "network_table",
    "profile_table",
]
