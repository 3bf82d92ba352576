"""Run one scenario in this process and return its metrics — for scripts and the pytest plugin.

Same validation, resolution, trace building and simulation as ``splitbench run``, with an
in-memory trace cache so a test module that asserts on many scenarios of one model builds each
trace once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from splitbench.models.trace import ExecutionTrace

from .resolve import Resolved, resolve_suite
from .results import scenario_row, trace_columns
from .schema import validate_suite
from .suite import Suite, expand_scenarios, load_presets
from .tasks import Runtime, SimJob, TraceJob, build_trace_task, energy_models, simulate_task, trace_key

_CACHE: dict[str, tuple[str, ExecutionTrace]] = {}


def _trace(
    model: Any, method: dict[str, Any], prompt_tokens: int, act_dtype: str, runtime: Runtime = None
) -> tuple[str, str, ExecutionTrace]:
    key = trace_key(model, method, prompt_tokens, act_dtype, runtime)
    if key not in _CACHE:
        _, text = build_trace_task(TraceJob(key, model, method, prompt_tokens, act_dtype, runtime))
        _CACHE[key] = (text, ExecutionTrace.from_json(text))
    text, trace = _CACHE[key]
    return key, text, trace


def resolve_one(
    fields: dict[str, Any], source: str = "scenario", presets: list[str | Path] | None = None
) -> Resolved:
    """Validate and resolve one scenario given as keyword fields (same rules as a suite entry);
    ``presets``: the user's preset files or folders (relative to the working directory)."""
    doc = {"name": "single", "scenarios": [fields]}
    validate_suite(doc, source)
    suite = Suite(name="single", seed=int(fields.get("seed", 0)), source=source, base_dir=Path.cwd(), doc=doc)
    if presets:
        suite.presets = load_presets(presets, Path.cwd())
    suite.scenarios = expand_scenarios(doc, suite)
    scenarios, _ = resolve_suite(suite)
    return scenarios[0]


def run_scenario(presets: list[str | Path] | None = None, **fields: Any) -> dict[str, Any]:
    """Simulate one scenario; returns its results.csv row as a dict of Python values.

    Example: ``run_scenario(model="tiny", method="privatelora", network="5g",
    device="snapdragon-8gen3", cloud="a100-80g", new_tokens=16)["decode_tok_s"]``; with
    ``presets=["mine"]`` the presets in ``mine/`` are known by name too.
    Infeasible scenarios return ``feasible=False`` and ``infeasible_reason``; metrics are None.
    """
    from splitbench.models import comparable_lora_split

    sc = resolve_one(fields, presets=presets)
    dts = sc.trace_runtime()
    key, text, trace = _trace(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype, dts)
    ref_method = comparable_lora_split(sc.method)
    ref = _trace(sc.model, ref_method, sc.prompt_tokens, sc.act_dtype, dts)[2] if ref_method else None
    radio, soc = energy_models(sc.link, sc.device)
    outcome = simulate_task(
        SimJob(
            sc.scenario_id,
            key,
            text,
            sc.link,
            sc.device,
            sc.cloud,
            sc.new_tokens,
            sc.seed,
            want_timeline=False,
            radio=radio,
            soc=soc,
        )
    )
    return scenario_row(sc, outcome, trace_columns(trace, ref))
