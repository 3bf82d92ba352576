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

import contextlib
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
from .executors import Executor, make_executor, warm_up
from .fsutil import atomic_write_json, atomic_write_text, dumps_json
from .multiuser import run_multiuser, split_multiuser
from .resolve import (
    Resolved,
    calibrate_scenarios,
    calibration_key,
    calibration_needs,
    resolve_suite,
    to_plain,
)
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
    # libyaml's emitter where PyYAML has it: the same text as PyYAML's own, several times faster
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    atomic_write_text(
        out / "scenarios.yaml", yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=110)
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
    warm_up(executor, jobs)  # a local pool's workers load torch while the suite resolves
    scenarios, points = resolve_suite(suite, calibrate=False)
    if not scenarios and not points:
        raise SplitbenchError(f"{suite.source}: the suite expands to no scenarios")
    summary = RunSummary(out_dir=out, n_scenarios=len(scenarios), n_sweep_points=len(points))
    single, _ = split_multiuser(scenarios)  # scenarios with `users` go to multiuser.csv
    runnable = [*single, *points]

    traces = _Traces(out)
    totals = _calibration_traces(traces, [*scenarios, *points])
    # A scenario without a stored record is pending whatever its calibrated profiles turn out to be.
    fresh = [sc for sc in runnable if not _record_path(out, sc).is_file()]
    keys = {sc.scenario_id: _need_traces(traces, sc) for sc in fresh}

    # Connect to the executor before writing or building anything: an unreachable scheduler is bad input.
    ex = make_executor(executor, jobs, scheduler, dask_processes) if fresh else None
    bar = _progress_bar(progress, len(traces.jobs) + len(fresh))
    try:
        out.mkdir(parents=True, exist_ok=True)
        if render_report:
            _preload_reports()
        _build_traces(ex or Executor(), traces, summary, bar)
        scenarios, points = calibrate_scenarios(scenarios, totals), calibrate_scenarios(points, totals)
        written = scenarios
        scenarios, multi = split_multiuser(scenarios)

        rows: dict[str, dict[str, Any]] = {}
        sweep_rows: dict[str, dict[str, Any]] = {}
        pending: list[Resolved] = []
        for sc in [*scenarios, *points]:
            row = None if sc.scenario_id in keys else load_finished(out, sc)
            if row is None:
                pending.append(sc)
                if sc.scenario_id not in keys:
                    keys[sc.scenario_id] = _need_traces(traces, sc)
            else:
                (sweep_rows if sc.sweep else rows)[sc.scenario_id] = row
                summary.n_resumed += 1
        write_scenarios_yaml(out, suite, written, points)

        def assemble() -> None:
            atomic_write_text(out / "results.csv", results_csv(list(rows.values())))
            if suite.sweeps:
                atomic_write_text(out / "sweeps.csv", sweeps_csv(list(sweep_rows.values())))

        if pending:
            if ex is None:
                ex = make_executor(executor, jobs, scheduler, dask_processes)
            bar.total = summary.n_traces_built + len(traces.jobs) + len(pending)
            _build_traces(ex, traces, summary, bar)
            _simulate(out, pending, keys, traces, rows, sweep_rows, summary, assemble, ex, bar)
    finally:
        bar.close()
        if ex is not None:
            ex.close()
    assemble()
    if multi:
        summary.n_run += run_multiuser(out, multi)
    summary.n_infeasible = sum(1 for r in rows.values() if not r.get("feasible"))
    summary.wall_s = time.perf_counter() - t0
    _write_meta(out, suite, summary, started, jobs, executor, scheduler, argv)
    if render_report:
        summary.report = _render(out, summary)
    return summary


def _calibration_traces(
    traces: _Traces, items: list[Resolved]
) -> Callable[[Any, str], dict[str, Any] | None]:
    """Registers the calibration trace of every profile with a measured speed (harness.calibrate) with
    ``traces``; returns the ``totals`` function calibrate_scenarios reads them through once built."""
    from splitbench.models import resolve_model

    from .calibrate import calibration_figure, calibration_trace

    keys: dict[str, str] = {}
    for profile, name in calibration_needs(items):
        fig = calibration_figure(profile, name)
        if fig is not None:
            model, method, prompt_tokens, act_dtype, runtime = calibration_trace(profile, fig[0])
            keys[calibration_key(profile, name)] = traces.need(
                resolve_model(model), method, prompt_tokens, act_dtype, runtime
            )

    def totals(profile: Any, name: str) -> dict[str, Any] | None:
        key = keys.get(calibration_key(profile, name))
        return traces.parsed[key].meta["whole_decode"] if key else None

    return totals


def _need_traces(traces: _Traces, sc: Resolved) -> tuple[str, str | None]:
    """Keys of the scenario's trace and, for a matrix scenario, of its comm_reduction reference."""
    dts = sc.trace_runtime()
    k = traces.need(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype, dts)
    ref = _reference_method(sc) if sc.sweep is None else None
    rk = traces.need(sc.model, ref, sc.prompt_tokens, sc.act_dtype, dts) if ref is not None else None
    return k, rk


def _progress_bar(progress: bool, total: int) -> Any:
    from tqdm import tqdm

    class Bar(tqdm):
        # no monitor thread: it would outlive the run, and the report forks only a single-threaded process
        monitor_interval = 0

    return Bar(total=total, disable=not progress, file=sys.stderr, unit="task", desc="traces",
               dynamic_ncols=True, leave=False)


def _preload_reports() -> None:
    """Import the report's modules (matplotlib, pandas) in a background thread, while the workers
    build traces: the cores are otherwise idle then, and rendering would wait for them at the end."""
    import threading

    def load() -> None:
        with contextlib.suppress(ImportError):
            import splitbench.reports.build  # noqa: F401

    threading.Thread(target=load, name="splitbench-preload-reports", daemon=True).start()


def _build_traces(ex: Executor, traces: _Traces, summary: RunSummary, bar: Any) -> None:
    """Build every trace ``traces`` still needs (each distinct one once), as they finish."""
    jobs = list(traces.jobs.values())
    traces.jobs.clear()
    bar.set_description("traces")
    for _, (key, text) in ex.map_unordered(build_trace_task, jobs):
        traces.add(key, text)
        summary.n_traces_built += 1
        bar.update(1)


def _simulate(
    out: Path,
    pending: list[Resolved],
    keys: dict[str, tuple[str, str | None]],
    traces: _Traces,
    rows: dict[str, dict[str, Any]],
    sweep_rows: dict[str, dict[str, Any]],
    summary: RunSummary,
    assemble: Callable[[], None],
    ex: Executor,
    bar: Any,
) -> None:
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
                atomic_write_json(out / "timelines" / f"{sc.scenario_id}.trace.json", outcome["chrome_trace"])
            rows[sc.scenario_id] = row
        else:
            row = sweep_row(sc, outcome)
            sweep_rows[sc.scenario_id] = row
        # The record is written last: its presence means the scenario is complete.
        atomic_write_json(_record_path(out, sc), to_plain({"scenario": sc.resolved_dict(), "row": row}))
        summary.n_run += 1
        bar.update(1)
        if time.monotonic() - last >= ASSEMBLE_EVERY_S:
            assemble()
            last = time.monotonic()


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
