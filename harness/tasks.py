"""The two kinds of work a run is made of, as top-level functions any executor can ship.

Why plain functions over plain data: the same code runs in-process (``--jobs 1``), in a spawned
process pool (``--jobs N``) and on Dask workers; traces travel as their canonical JSON so every
executor replays exactly the same numbers and results are byte-identical whichever ran them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from splitbench.models.trace import ExecutionTrace

from .resolve import to_plain

# Parsed traces kept per process: the scenarios of one trace usually land on the same worker many times.
_PARSED: dict[str, ExecutionTrace] = {}
_PARSED_MAX = 64

#: Timelines keep times to this many significant digits (they are plotted, not compared).
TIME_DIGITS = 9


#: Per side, what a trace takes from the runtime of the hardware that runs it: ``compute_dtype``,
#: ``kv_dtype``, ``kv_cache`` (each {device, cloud}); None: models/ defaults (fp16, static cache).
Runtime = dict[str, dict[str, str]] | None


def trace_key(
    model: Any, method: dict[str, Any], prompt_tokens: int, act_dtype: str, runtime: Runtime = None
) -> str:
    """Everything a trace depends on — not the network nor the hardware (beyond each side's runtime
    dtypes and KV cache), so those share a trace."""
    from splitbench.models import trace_cache_key

    return str(trace_cache_key(model, method, prompt_tokens, act_dtype, **(runtime or {})))


@dataclass(frozen=True)
class TraceJob:
    key: str
    model: Any
    method: dict[str, Any]
    prompt_tokens: int
    act_dtype: str
    runtime: Runtime = None
    #: JSON of built cloud-only traces of the model whose whole-model decode totals this trace borrows
    #: (models.build.whole_decode_role): the worker need not build that trace again to get them
    lent: tuple[str, ...] = ()


def build_trace_task(job: TraceJob) -> tuple[str, str]:
    """Build one shape-mode trace (the real split model on the meta device); return its JSON."""
    import warnings

    from splitbench.models import build_trace
    from splitbench.models.build import lend_whole_decode

    for text in job.lent:
        lend_whole_decode(job.model, ExecutionTrace.from_json(text))
    with warnings.catch_warnings():  # transformers' deprecation notices are not the user's business
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        trace = build_trace(
            job.model, job.method, job.prompt_tokens, job.act_dtype, mode="shape", **(job.runtime or {})
        )
    return job.key, trace.to_json()


def parse_trace(key: str, text: str) -> ExecutionTrace:
    trace = _PARSED.get(key)
    if trace is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        trace = _PARSED[key] = ExecutionTrace.from_json(text)
    return trace


@dataclass(frozen=True)
class SimJob:
    scenario_id: str
    trace_key: str
    trace_json: str
    link: Any
    device: Any
    cloud: Any
    new_tokens: int
    seed: int
    want_timeline: bool
    radio: Any = None  # netsim.radio.RadioSpec of the network, or None (no radio model)
    soc: Any = None  # netsim.energy.SocPower of the device, or None


def energy_models(link: Any, device: Any) -> tuple[Any, Any]:
    """The radio a scenario's network names and the SoC power of its device profile; either is
    None when the network names no radio or the profile gives no powers."""
    from splitbench.netsim.energy import soc_for_device
    from splitbench.netsim.radio import radio_for_network

    return radio_for_network(link), soc_for_device(device)


def _round(x: float) -> float:
    return float(f"{x:.{TIME_DIGITS}g}")


def timeline_record(scenario_id: str, timeline: Any, new_tokens: int) -> dict[str, Any]:
    """One representative decode step (the middle one) with times relative to its start."""
    record: dict[str, Any] = {"scenario_id": scenario_id, "decode_step": [], "decode_step_index": None}
    if new_tokens >= 2:
        index = (new_tokens - 1) // 2
        # netsim gives times relative to the step's start (the previous token known).
        events = list(timeline.decode_step_events(index))
        record["decode_step_index"] = index
        record["decode_step"] = [
            {"lane": e["lane"], "label": e["label"], "start": _round(e["start"]), "end": _round(e["end"]),
             **({"wire_end": _round(e["wire_end"])} if "wire_end" in e else {}),
             **({"wire": [[_round(a), _round(b)] for a, b in e["wire"]]} if "wire" in e else {})}
            for e in events
        ]
    record["token_latencies_s"] = [_round(x) for x in timeline.token_latencies()]
    return record


def chrome_trace_record(scenario_id: str, timeline: Any, new_tokens: int) -> dict[str, Any]:
    """Chrome trace JSON (Perfetto, chrome://tracing) of the representative decode step of
    timeline_record and the two after it (as many as there are), in the run's absolute time."""
    first = (new_tokens - 1) // 2 + 1 if new_tokens >= 2 else 0  # phase index: decode step k is phase k
    return timeline.chrome_trace(range(first, min(first + 3, new_tokens)), name=scenario_id)


def simulate_task(job: SimJob) -> dict[str, Any]:
    """Feasibility check, then the discrete-event simulation of one scenario."""
    from splitbench.netsim import feasible, simulate
    from splitbench.netsim.energy import request_energy

    trace = parse_trace(job.trace_key, job.trace_json)
    ok, reason = feasible(trace, job.device, job.cloud, job.new_tokens)
    if not ok:
        return {"scenario_id": job.scenario_id, "feasible": False, "reason": str(reason)}
    timeline = simulate(trace, job.link, job.device, job.cloud, job.new_tokens, seed=job.seed)
    out: dict[str, Any] = {
        "scenario_id": job.scenario_id,
        "feasible": True,
        "metrics": {
            k: to_plain(v)
            for k, v in {**timeline.metrics(), **request_energy(timeline, job.radio, job.soc)}.items()
        },
    }
    if job.want_timeline:
        out["timeline"] = timeline_record(job.scenario_id, timeline, job.new_tokens)
        out["chrome_trace"] = chrome_trace_record(job.scenario_id, timeline, job.new_tokens)
    return out


def run_task(job: TraceJob | SimJob) -> Any:
    """Either kind of task, so that one executor stream carries both (builds and simulations)."""
    return build_trace_task(job) if isinstance(job, TraceJob) else simulate_task(job)
