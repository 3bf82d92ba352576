"""Preset tables for `splitbench list networks|profiles`: key numbers plus the source."""

from __future__ import annotations

from typing import Any

from .link import NETWORK_PRESETS
from .profiles import PROFILE_PRESETS


def network_table() -> list[dict[str, Any]]:
    return [
        {
            "name": k,
            "up_mbps": v.up_mbps,
            "down_mbps": v.down_mbps,
            "rate_flows": v.rate_flows,
            "rtt_ms": v.rtt_ms,
            "jitter_ms": v.jitter_ms,
            "loss": v.loss,
            "transport": v.transport,
            "cc": v.cc,
            "source": v.source,
        }
        for k, v in NETWORK_PRESETS.items()
    ]


def profile_table() -> list[dict[str, Any]]:
    """Presets only; ``host`` is listed without calibrating (its numbers come from this machine)."""
    rows = []
    for k in PROFILE_PRESETS:
        if k in PROFILE_PRESETS.lazy:
            continue
        p = PROFILE_PRESETS[k]
        src = p.source if isinstance(p.source, str) else "; ".join(f"{f}: {s}" for f, s in p.source.items())
        rows.append(
            {
                "name": k,
                "mem_bw_gbps": p.mem_bw_gbps,
                "fp16_tflops": p.tflops.get("fp16"),
                "mem_gb": p.mem_gb,
                "mem_eff": p.mem_eff,
                "runtime": p.runtime,
                "measured_decode_tok_s": dict(p.measured_decode_tok_s),
                "source": src,
            }
        )
    rows.append(
        {
            "name": "host",
            "mem_bw_gbps": None,
            "fp16_tflops": None,
            "mem_gb": None,
            "mem_eff": 1.0,
            "runtime": "torch-cpu",
            "measured_decode_tok_s": {},
            "source": "calibrated on this machine on first use (GEMM + copy), cached",
        }
    )
    return rows
