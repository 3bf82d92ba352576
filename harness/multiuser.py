"""Multi-user scenarios: N users sharing one batching cloud, written to ``multiuser.csv``.

A scenario that sets ``users`` is a multi-user scenario. It runs netsim.simulate_multiuser instead
of netsim.simulate and becomes one row of ``multiuser.csv`` (one row per scenario, i.e. per N: put
``users: [1, 4, 16, 64]`` in the matrix to sweep N), not of ``results.csv``. Its extra fields:

- ``users`` — number of users (each with its own device and link);
- ``mix`` — ``{network: share}``, e.g. ``{4g: 0.4, 5g: 0.4, wifi6: 0.2}``: users get these links by
  largest-remainder apportionment (seeded shuffle); without it every user is on ``network``;
- ``arrival`` — ``closed`` (default) or ``{poisson: requests_per_s}``;
- ``think_time_s`` — closed loop: mean of the exponential think time between a user's requests;
- ``requests_per_user`` — requests each user makes (default 1);
- ``max_batch`` — requests the cloud serves at once (continuous batching; default 32);
- ``policy`` — ``interleave`` (layer-level, default), ``step`` (the batch's step held together) or
  ``exclusive`` (no batching: one step per launch, first ready first served);
- ``shared_cell`` — true: the users of one network share one uplink and one downlink bottleneck (one
  cell); false (default): each user has a link of its own.

Multi-user scenarios run in-process one after another (each takes a second or a few), after the
single-user ones, reusing the run's trace cache; a finished one is kept in
``multiuser/<scenario_id>.json`` so a resumed run skips it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

from .fsutil import atomic_write_json, atomic_write_text
from .resolve import Resolved, to_plain
from .results import to_csv, variant_weights

#: Scenario fields that make a scenario multi-user, with their defaults (``users`` has none).
MULTIUSER_DEFAULTS: dict[str, Any] = {
    "mix": None,
    "arrival": "closed",
    "think_time_s": 0.0,
    "requests_per_user": 1,
    "max_batch": 32,
    "policy": "interleave",
    "shared_cell": False,
}
MULTIUSER_KEYS = ("users", *MULTIUSER_DEFAULTS)

MULTIUSER_COLUMNS = [
    "scenario_id",
    "model",
    "method",
    "method_label",
    "network",
    "device",
    "cloud",
    "prompt_tokens",
    "new_tokens",
    "users",
    "max_batch",
    "policy",
    "shared_cell",
    "arrival",
    "think_time_s",
    "requests_per_user",
    "seed",
    "feasible",
    "infeasible_reason",
    "requests",
    "tokens",
    "span_s",
    "aggregate_tok_s",
    "ttft_p50_s",
    "ttft_p90_s",
    "ttft_p99_s",
    "tpot_p50_s",
    "tpot_p90_s",
    "tpot_p99_s",
    "cloud_utilisation",
    "cloud_busy_s",
    "cloud_stall_s",
    "mean_batch",
    "queue_delay_mean_s",
    "queue_delay_p90_s",
    "device_energy_j",
    "energy_per_token_j",
    "soc_energy_j",
    "radio_energy_j",
    "radio_tail_j",
]


def is_multiuser(sc: Resolved) -> bool:
    return sc.spec.get("users") is not None


def split_multiuser(scenarios: list[Resolved]) -> tuple[list[Resolved], list[Resolved]]:
    """(single-user scenarios, multi-user scenarios), each in the given order; the multi-user ones
    are checked here (mixes resolved, arrivals parsed) so bad input stops a run before any work."""
    multi = [s for s in scenarios if is_multiuser(s)]
    check_multiuser(multi)
    return [s for s in scenarios if not is_multiuser(s)], multi


def _params(sc: Resolved) -> dict[str, Any]:
    return {k: sc.spec.get(k, MULTIUSER_DEFAULTS.get(k)) for k in MULTIUSER_KEYS}


def mix_label(mix: dict[str, Any] | None, network_label: str) -> str:
    """``4g:0.4+5g:0.4+wifi6:0.2`` for a mix, else the network's own label."""
    if not mix:
        return network_label
    return "+".join(f"{k}:{v:g}" for k, v in mix.items())


def user_classes(sc: Resolved) -> list[Any]:
    """The scenario's user classes: one per mix entry (network presets or specs), or its network."""
    from splitbench.netsim import UserClass, resolve_network

    mix = _params(sc)["mix"]
    if not mix:
        return [UserClass(mix_label(None, sc.labels["network"]), sc.link, sc.device)]
    out = []
    for name, share in mix.items():
        try:
            link = resolve_network(name)
        except SplitbenchError as e:
            raise SplitbenchError(f"{sc.scenario_id}: mix.{name}: {e}") from None
        out.append(UserClass(str(name), link, sc.device, float(share)))
    return out


def check_multiuser(scenarios: list[Resolved]) -> None:
    """Resolve every mix and parse every arrival up front, so bad input stops the run before work."""
    from splitbench.netsim import Arrival

    for sc in scenarios:
        user_classes(sc)
        try:
            Arrival.parse(_params(sc)["arrival"])
        except SplitbenchError as e:
            raise SplitbenchError(f"{sc.scenario_id}: {e}") from None


def _record(sc: Resolved, classes: list[Any]) -> dict[str, Any]:
    """Everything the row depends on (the resolved scenario plus the mix's links), for resume."""
    return json.loads(
        json.dumps(to_plain({**sc.resolved_dict(), "mix_links": [c.link for c in classes]}), sort_keys=True)
    )


def run_one(sc: Resolved, trace: Any, classes: list[Any]) -> dict[str, Any]:
    """Simulate one multi-user scenario; return its multiuser.csv row."""
    from splitbench.netsim import feasible, simulate_multiuser

    p = _params(sc)
    row: dict[str, Any] = {
        "scenario_id": sc.scenario_id,
        **{k: sc.labels[k] for k in ("model", "method", "method_label", "device", "cloud")},
        "network": mix_label(p["mix"], sc.labels["network"]),
        "prompt_tokens": sc.prompt_tokens,
        "new_tokens": sc.new_tokens,
        "users": p["users"],
        "max_batch": p["max_batch"],
        "policy": p["policy"],
        "shared_cell": bool(p["shared_cell"]),
        "think_time_s": float(p["think_time_s"]),
        "requests_per_user": p["requests_per_user"],
        "seed": sc.seed,
    }
    # the cloud holds the KV caches of every request it serves at once: up to max_batch, at most one
    # per user (a user's requests run one after another)
    ok, reason = feasible(trace, sc.device, sc.cloud, sc.new_tokens, min(p["users"], p["max_batch"]))
    row["feasible"], row["infeasible_reason"] = ok, reason or None
    res = simulate_multiuser(
        trace,
        classes,
        sc.cloud,
        p["users"],
        sc.new_tokens,
        max_batch=p["max_batch"],
        policy=p["policy"],
        arrival=p["arrival"],
        think_time_s=float(p["think_time_s"]),
        requests_per_user=p["requests_per_user"],
        seed=sc.seed,
        shared_cell=bool(p["shared_cell"]),
    )
    m = res.metrics()
    m.update(_energy_means(sc, trace, res))
    row["arrival"] = m["arrival"]
    for c in MULTIUSER_COLUMNS:
        if c in m and c not in row:
            row[c] = m[c]
    return row


def _energy_means(sc: Resolved, trace: Any, res: Any) -> dict[str, Any]:
    """Per-user means of the energy columns (netsim.energy.multiuser_energy)."""
    from splitbench.netsim.energy import multiuser_energy, soc_for_device
    from splitbench.netsim.radio import radio_for_network


    steps = sc.new_tokens - 1
    w = variant_weights(trace)
    up = trace.prefill.up_bytes() + steps * sum(p * trace.decode[v].up_bytes() for v, p in w.items())
    down = trace.prefill.down_bytes() + steps * sum(p * trace.decode[v].down_bytes() for v, p in w.items())
    radios = {c.name: radio_for_network(c.link) for c in user_classes(sc)}
    return multiuser_energy(res, up, down, radios, soc_for_device(sc.device))


def multiuser_csv(rows: list[dict[str, Any]]) -> str:
    def key(r: dict[str, Any]) -> tuple:
        return (
            r["model"],
            r["method_label"],
            r["policy"],
            r["network"],
            r["max_batch"],
            r["users"],
            r["scenario_id"],
        )

    return to_csv(sorted(rows, key=key), MULTIUSER_COLUMNS)


def run_multiuser(out: Path, scenarios: list[Resolved]) -> int:
    """Run (or resume) the multi-user scenarios and write ``multiuser.csv``; return how many ran."""
    from .runner import _Traces
    from .tasks import build_trace_task

    traces = _Traces(out)
    rows, todo = [], []
    for sc in scenarios:
        classes = user_classes(sc)
        rec = _record(sc, classes)
        try:
            stored = json.loads((out / "multiuser" / f"{sc.scenario_id}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            stored = None
        if isinstance(stored, dict) and stored.get("scenario") == rec and "row" in stored:
            rows.append(stored["row"])
        else:
            key = traces.need(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype, sc.trace_runtime())
            todo.append((sc, classes, rec, key))
    for job in list(traces.jobs.values()):
        traces.add(*build_trace_task(job))
    for sc, classes, rec, key in todo:
        row = run_one(sc, traces.parsed[key], classes)
        atomic_write_json(
            out / "multiuser" / f"{sc.scenario_id}.json", to_plain({"scenario": rec, "row": row})
        )
        rows.append(row)
    atomic_write_text(out / "multiuser.csv", multiuser_csv(rows))
    return len(todo)
