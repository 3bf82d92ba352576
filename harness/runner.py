"""Run a suite: resolve, resume, build traces once, simulate, persist, assemble, report.

Layout of a results directory (the contract reports/ reads):
``results.csv``, ``scenarios.yaml``, ``timelines/<id>.json`` and ``timelines/<id>.trace.json`` (the
same decode steps as Chrome trace JSON, for Perfetto), ``sweeps.csv`` (suites with sweeps),
``meta.json`` (the only non-deterministic file), ``report.md`` and friends (reports/), plus the
harness's own ``scenarios/<id>.json`` and ``sweeps/<id>.json`` (one finished scenario each — the
unit of resumability) and ``traces/<key>.json`` (the trace cache).

Why two stages: a trace depends on the model, the method and the request shape, not on the network
or the hardware, so a suite of 100 scenarios typically needs a handful of traces. Stage 1 builds
each distinct trace once (cached on disk, so a resumed run does not rebuild it); stage 2 simulates
every pending scenario against its trace. Both stages go through the same executor.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace

from . import __version__
from .executors import Executor, make_executor
from .fsutil import atomic_write_json, atomic_write_text, dumps_json
from .multiuser import run_multiuser, split_multiuser
from .resolve import Resolved, resolve_suite, to_plain
from .results import results_csv, scenario_row, sweep_row, sweeps_csv, trace_columns
from .suite import Suite
from .tasks import Runtime, SimJob, TraceJob, build_trace_task, energy_models, simulate_task, trace_key

#: results.csv is re-assembled at most this often while a run is in progress (and always at the end).
ASSEMBLE_EVERY_S = 1.0


@dataclass
class RunSummary:
    out_dir: Path
    n_scenarios: int = 0
    n_sweep_points: int = 0
    n_run: int = 0
    n_resumed: int = 0
    n_infeasible: int = 0
    n_traces_built: int = 0
    wall_s: float = 0.0
    report: Path | None = None
    notes: list[str] = field(default_factory=list)


def default_out_dir(suite: Suite) -> Path:
    return Path("splitbench-out") / suite.name


def _record_path(out: Path, sc: Resolved) -> Path:
    return out / ("sweeps" if sc.sweep else "scenarios") / f"{sc.scenario_id}.json"


def _plain_json(obj: Any) -> Any:
    """The value as it reads back from JSON (tuples become lists …), for equality with a stored one."""
    return json.loads(json.dumps(to_plain(obj), sort_keys=True))


def load_finished(out: Path, sc: Resolved) -> dict[str, Any] | None:
    """The stored row of a finished scenario, if its resolved scenario matches exactly."""
    p = _record_path(out, sc)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("scenario") != _plain_json(sc.resolved_dict()):
        return None
    return data.get("row")


def write_scenarios_yaml(out: Path, suite: Suite, scenarios: list[Resolved], points: list[Resolved]) -> None:
    doc: dict[str, Any] = {
        "suite": suite.name,
        "seed": suite.seed,
        "scenarios": [to_plain(s.resolved_dict()) for s in scenarios],
    }
    if points:
        doc["sweep_points"] = [to_plain(s.resolved_dict()) for s in points]
    atomic_write_text(
        out / "scenarios.yaml", yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
    )


class _Traces:
    """Distinct traces needed by the pending scenarios, loaded from the disk cache or built."""

    def __init__(self, out: Path) -> None:
        self.dir = out / "traces"
        self.json: dict[str, str] = {}
        self.parsed: dict[str, ExecutionTrace] = {}
        self.jobs: dict[str, TraceJob] = {}

    def need(
        self, model: Any, method: dict[str, Any], prompt_tokens: int, act_dtype: str, runtime: Runtime = None
    ) -> str:
        key = trace_key(model, method, prompt_tokens, act_dtype, runtime)
        if key not in self.json and key not in self.jobs:
            cached = self.dir / f"{key}.json"
            if cached.is_file():
                try:
                    text = cached.read_text(encoding="utf-8")
                    self.parsed[key] = ExecutionTrace.from_json(text)
                    self.json[key] = text
                    return key
                except (ValueError, TypeError, KeyError):
                    pass  # a stale or foreign file: rebuild it
            self.jobs[key] = TraceJob(key, model, method, prompt_tokens, act_dtype, runtime)
        return key

    def add(self, key: str, text: str) -> None:
        atomic_write_text(self.dir / f"{key}.json", text)
        self.json[key] = text
        self.parsed[key] = ExecutionTrace.from_json(text)


def _reference_method(sc: Resolved) -> dict[str, Any] | None:
    from splitbench.models import comparable_lora_split

    return comparable_lora_split(sc.method)


def run_suite(
    suite: Suite,
    out_dir: Path | None = None,
    *,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    progress: bool = False,
    render_report: bool = True,
    argv: list[str] | None = None,
    dask_processes: bool = True,
) -> RunSummary:
    """Run (or resume) every scenario and sweep point of ``suite`` into ``out_dir``."""
    from splitbench.models.presets import using

    with using(suite.presets):  # multi-user mixes name networks too
        return _run_suite(suite, out_dir, jobs, executor, scheduler, progress, render_report, argv,
                          dask_processes)


def _run_suite(
    suite: Suite,
    out_dir: Path | None,
    jobs: int,
    executor: str,
    scheduler: str | None,
    progress: bool,
    render_report: bool,
    argv: list[str] | None,
    dask_processes: bool,
) -> RunSummary:
    t0 = time.perf_counter()
    started = time.time()
    out = Path(out_dir) if out_dir is not None else default_out_dir(suite)
    scenarios, points = resolve_suite(suite)
    if not scenarios and not points:
        raise SplitbenchError(f"{suite.source}: the suite expands to no scenarios")
    summary = RunSummary(out_dir=out, n_scenarios=len(scenarios), n_sweep_points=len(points))
    written = scenarios
    scenarios, multi = split_multiuser(scenarios)  # scenarios with `users` go to multiuser.csv

    rows: dict[str, dict[str, Any]] = {}
    sweep_rows: dict[str, dict[str, Any]] = {}
    pending: list[Resolved] = []
    for sc in [*scenarios, *points]:
        row = load_finished(out, sc)
        if row is None:
            pending.append(sc)
        else:
            (sweep_rows if sc.sweep else rows)[sc.scenario_id] = row
            summary.n_resumed += 1

    # Connect to the executor before writing anything: an unreachable scheduler is bad input.
    ex = make_executor(executor, jobs, scheduler, dask_processes) if pending else None
    out.mkdir(parents=True, exist_ok=True)
    write_scenarios_yaml(out, suite, written, points)

    def assemble() -> None:
        atomic_write_text(out / "results.csv", results_csv(list(rows.values())))
        if suite.sweeps:
            atomic_write_text(out / "sweeps.csv", sweeps_csv(list(sweep_rows.values())))

    if ex is not None:
        _run_pending(out, pending, rows, sweep_rows, summary, assemble, ex, progress)
    assemble()
    if multi:
        summary.n_run += run_multiuser(out, multi)
    summary.n_infeasible = sum(1 for r in rows.values() if not r.get("feasible"))
    summary.wall_s = time.perf_counter() - t0
    _write_meta(out, suite, summary, started, jobs, executor, scheduler, argv)
    if render_report:
        summary.report = _render(out, summary)
    return summary


def _run_pending(
    out: Path,
    pending: list[Resolved],
    rows: dict[str, dict[str, Any]],
    sweep_rows: dict[str, dict[str, Any]],
    summary: RunSummary,
    assemble: Callable[[], None],
    ex: Executor,
    progress: bool,
) -> None:
    from tqdm import tqdm

    traces = _Traces(out)
    keys: dict[str, tuple[str, str | None]] = {}
    for sc in pending:
        dts = sc.trace_runtime()
        k = traces.need(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype, dts)
        ref = _reference_method(sc) if sc.sweep is None else None
        rk = traces.need(sc.model, ref, sc.prompt_tokens, sc.act_dtype, dts) if ref is not None else None
        keys[sc.scenario_id] = (k, rk)

    bar = tqdm(
        total=len(traces.jobs) + len(pending),
        disable=not progress,
        file=sys.stderr,
        unit="task",
        desc="traces",
        dynamic_ncols=True,
        leave=False,
    )
    try:
        with ex:
            trace_jobs = list(traces.jobs.values())
            for _, (key, text) in ex.map_unordered(build_trace_task, trace_jobs):
                traces.add(key, text)
                summary.n_traces_built += 1
                bar.update(1)
            bar.set_description("scenarios")
            sim_jobs = [
                SimJob(
                    scenario_id=sc.scenario_id,
                    trace_key=keys[sc.scenario_id][0],
                    trace_json=traces.json[keys[sc.scenario_id][0]],
                    link=sc.link,
                    device=sc.device,
                    cloud=sc.cloud,
                    new_tokens=sc.new_tokens,
                    seed=sc.seed,
                    want_timeline=sc.sweep is None,
                    **dict(zip(("radio", "soc"), energy_models(sc.link, sc.device), strict=True)),
                )
                for sc in pending
            ]
            last = time.monotonic()
            for i, outcome in ex.map_unordered(simulate_task, sim_jobs):
                sc = pending[i]
                k, rk = keys[sc.scenario_id]
                if sc.sweep is None:
                    ref = traces.parsed[rk] if rk else None
                    row = scenario_row(sc, outcome, trace_columns(traces.parsed[k], ref))
                    if outcome.get("timeline"):
                        atomic_write_json(out / "timelines" / f"{sc.scenario_id}.json", outcome["timeline"])
                    if outcome.get("chrome_trace"):
                        atomic_write_json(
                            out / "timelines" / f"{sc.scenario_id}.trace.json", outcome["chrome_trace"]
                        )
                    rows[sc.scenario_id] = row
                else:
                    row = sweep_row(sc, outcome)
                    sweep_rows[sc.scenario_id] = row
                # The record is written last: its presence means the scenario is complete.
                atomic_write_json(
                    _record_path(out, sc), to_plain({"scenario": sc.resolved_dict(), "row": row})
                )
                summary.n_run += 1
                bar.update(1)
                if time.monotonic() - last >= ASSEMBLE_EVERY_S:
                    assemble()
                    last = time.monotonic()
    finally:
        bar.close()


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"splitbench": __version__, "python": platform.python_version()}
    for dist in ("torch", "transformers", "simpy", "dask"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _write_meta(
    out: Path,
    suite: Suite,
    s: RunSummary,
    started: float,
    jobs: int,
    executor: str,
    scheduler: str | None,
    argv: list[str] | None,
) -> None:
    meta = {
        "suite": suite.name,
        "suite_source": suite.source,
        "argv": argv,
        "started_unix": round(started, 3),
        "wall_s": round(s.wall_s, 3),
        "executor": executor,
        "jobs": jobs,
        "scheduler": scheduler,
        "scenarios": s.n_scenarios,
        "sweep_points": s.n_sweep_points,
        "run": s.n_run,
        "resumed": s.n_resumed,
        "infeasible": s.n_infeasible,
        "traces_built": s.n_traces_built,
        "versions": _versions(),
        "platform": platform.platform(),
    }
    atomic_write_text(out / "meta.json", dumps_json(meta))


def _render(out: Path, summary: RunSummary) -> Path | None:
    try:
        from splitbench.reports import render
    except ImportError as e:
        summary.notes.append(f"report not rendered: reports.render is unavailable ({e})")
        return None
    return Path(render(out))
