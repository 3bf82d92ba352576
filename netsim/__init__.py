"""netsim: turns an ExecutionTrace into time — links, transport, compute profiles, simpy replay."""

from .batching import apportion
from .capacity import SYNTHETIC, ConstantCapacity, TraceCapacity, load_trace, markov_trace, onoff_trace
from .cost import MeasuredCost, RooflineCost, cost_model, measured_scale
from .engine import POLICIES, Engine
from .host import host_profile
from .link import NETWORK_PRESETS, LinkSpec, resolve_network
from .multiuser import Arrival, MultiUserResult, UserClass, simulate_multiuser
from .netcheck import bulk_rate, netcheck
from .profiles import PROFILE_PRESETS, Profile, profile_names, resolve_profile
from .radio import RADIO_PRESETS, RadioSpec, resolve_radio
from .replay import feasible, simulate
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
    "bulk_rate",
    "netcheck",
    "PROFILE_PRESETS",
    "Profile",
    "host_profile",
    "profile_names",
    "resolve_profile",
    "Engine",
    "POLICIES",
    "RooflineCost",
    "MeasuredCost",
    "cost_model",
    "feasible",
    "measured_scale",
    "simulate",
    "Timeline",
    "RADIO_PRESETS",
    "RadioSpec",
    "resolve_radio",
    "apportion",
    "Arrival",
    "MultiUserResult",
    "UserClass",
    "simulate_multiuser",
    "network_table",
    "profile_table",
]
