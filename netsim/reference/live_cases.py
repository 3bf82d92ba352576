"""Live reference figures: netcheck exchanges over real Linux TCP through the link emulator.

Why this exists: the simulator's TCP model must answer to real TCP. This script runs a fixed case
list through the emulator (netsim/live) and the simulator and writes ``live_results.json`` beside
it: per case the live figure (median of ``REPEATS`` runs), the simulated one, and their gap; for
request/response rounds also the emulator's own error against the closed form RTT + serialisation
of both messages; and the forwarder's rate ceiling. Nothing in splitbench imports the results at run
time except ``splitbench list networks`` (the ceiling, when this machine has not measured its own).

Rerun (root, a quiet machine; about three minutes on 2 cores)::

    PYTHONPATH=. python -m splitbench.netsim.reference.live_cases [--out PATH] [--repeats N]

Timings are wall-clock measurements: they vary from run to run with machine load.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from splitbench.netsim.link import NETWORK_PRESETS
from splitbench.netsim.live.netcheck import live_netcheck, measure_max_rate
from splitbench.netsim.netcheck import netcheck

REPEATS = 3
#: Three links without random loss or jitter: the presets' rates, delays and buffers. wifi5 rather
#: than wifi6, whose 500 Mbit/s downlink is above the forwarder's ceiling on 2 cores.
LINKS = {name: replace(NETWORK_PRESETS[name], loss=0.0, jitter_ms=0.0) for name in ("4g", "5g", "wifi5")}
#: (name, up_bytes, down_bytes, compute_ms, rounds)
CASES: list[tuple[str, int, int, float, int]] = [
    ("request/response 1448 B", 1448, 1448, 0.0, 10),
    ("slow-start upload 256 KiB", 262_144, 100, 0.0, 1),
    ("tokens 100 B, 20 ms compute", 100, 100, 20.0, 20),
    ("download 5 MB", 100, 5_000_000, 0.0, 1),
]
#: One more, with the preset's jitter: Linux CUBIC's HyStart reacts to delay variation. Where slow
#: start ends depends on the delays drawn (in the simulator, seed 0 leaves HyStart at cwnd 562 and
#: 0.58 s, seed 1 at cwnd 154 and 0.95 s), so one run of each is a lottery: this case compares the
#: median of ``JITTER_REPEATS`` live runs (emulator seeds 0, 1, ...) with the median simulated
#: completion over ``SIM_SEEDS`` seeds, and records both spreads.
JITTER_CASES = [("5g", "download 5 MB, jitter 4 ms", 100, 5_000_000, 0.0, 1)]
JITTER_REPEATS, SIM_SEEDS = 7, 32


def _closed_form_round(link, up: int, down: int) -> float:
    """RTT plus serialisation of each message's packets (payload + headers) at its direction's rate."""
    def ser(n: int, mbps: float) -> float:
        pkts = max(1, -(-n // link.mss_bytes))
        return (n + pkts * link.header_bytes) * 8 / (mbps * 1e6)

    return link.rtt_ms / 1000.0 + ser(up, link.up_mbps) + ser(max(1, down), link.down_mbps)


def run_case(link, up: int, down: int, compute_ms: float, rounds: int, repeats: int,
             sim_seeds: int = 1) -> dict[str, Any]:
    """Live: ``repeats`` runs, emulator seeds 0, 1, ...; simulated: the median over ``sim_seeds``
    seeds (one is enough without jitter or loss: the model is then deterministic)."""
    live = [live_netcheck(up, down, compute_ms, rounds, link, seed=i) for i in range(repeats)]
    sims = [netcheck(up, down, compute_ms, rounds, link, seed=i) for i in range(sim_seeds)]
    completion = statistics.median(r["completion_s"] for r in live)
    sim_completion = statistics.median(r["completion_s"] for r in sims)
    out = {
        "live_completion_s": completion,
        "live_runs_s": [r["completion_s"] for r in live],
        "sim_completion_s": sim_completion,
        "sim_vs_live_pct": 100.0 * (sim_completion / completion - 1.0),
        "live_handshake_s": statistics.median(r["handshake_s"] for r in live),
        "sim_handshake_s": statistics.median(r["handshake_s"] for r in sims),
    }
    if sim_seeds > 1:
        out["sim_runs_s"] = [r["completion_s"] for r in sims]
    if up <= link.mss_bytes and down <= link.mss_bytes and compute_ms == 0:
        cf = _closed_form_round(link, up, down)
        per = statistics.median(x for r in live for x in r["per_round_s"])
        out.update(closed_form_round_s=cf, live_round_s=per, emulator_error_pct=100.0 * (per / cf - 1.0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "live_results.json"))
    ap.add_argument("--repeats", type=int, default=REPEATS)
    a = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    cases = []
    for lname, link in LINKS.items():
        for cname, up, down, c, k in CASES:
            r = run_case(link, up, down, c, k, a.repeats)
            cases.append({"link": lname, "case": cname, "up_bytes": up, "down_bytes": down, "compute_ms": c,
                          "rounds": k, **r})
            print(f"{lname:6} {cname:30} live {r['live_completion_s']:.4f}  sim {r['sim_completion_s']:.4f}  "
                  f"{r['sim_vs_live_pct']:+.1f}%", flush=True)
    for lname, cname, up, down, c, k in JITTER_CASES:
        link = replace(LINKS[lname], jitter_ms=NETWORK_PRESETS[lname].jitter_ms)
        r = run_case(link, up, down, c, k, max(a.repeats, JITTER_REPEATS), SIM_SEEDS)
        cases.append({"link": f"{lname} jitter", "case": cname, "up_bytes": up, "down_bytes": down,
                      "compute_ms": c, "rounds": k, **r})
        print(f"{lname:6} {cname:30} live {r['live_completion_s']:.4f}  sim {r['sim_completion_s']:.4f}  "
              f"{r['sim_vs_live_pct']:+.1f}%", flush=True)
    ceiling = measure_max_rate()
    doc = {
        "what": "netcheck over real Linux TCP (CUBIC) through splitbench's link emulator vs the simulator",
        "regenerate": "PYTHONPATH=. python -m splitbench.netsim.reference.live_cases (root)",
        "started": started,
        "machine": f"{platform.machine()}, {ceiling['cpus']} CPUs, Linux {platform.release()}",
        "repeats": a.repeats,
        "links": {k: {"up_mbps": v.up_mbps, "down_mbps": v.down_mbps, "rtt_ms": v.rtt_ms,
                      "queue_pkts": v.queue_pkts} for k, v in LINKS.items()},
        "cases": cases,
        "forwarder": {"max_rate_mbps": ceiling["max_rate_mbps"], "points": ceiling["points"],
                      "measured_at": ceiling["measured_at"],
                      "machine": f"{platform.machine()}, {ceiling['cpus']} CPUs"},
    }
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
