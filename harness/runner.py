"""Run a suite: resolve, resume, build traces once, simulate, persist, assemble, report.

Layout of a results directory (the contract reports/ reads):
``results.csv``, ``scenarios.yaml``, ``timelines/<id>.json`` and ``timelines/<id>.trace.json`` (the
same decode steps as Chrome trace JSON, for Perfetto), ``sweeps.csv`` (suites with sweeps),
``meta.json`` (the only non-deterministic file), ``report.md`` and friends (reports/), plus the
harness's own ``scenarios/<id>.json`` and ``sweeps/<id>.json`` (one finished scenario each — the
unit of resumability) and ``traces/<key>.json`` (the trace cache).

Why two kinds of task: a trace depends on the model, the method and the request shape, not on the
network or the hardware, so a suite of 100 scenarios typically needs a handful of traces. Each
distinct trace is built once (cached on disk, so a resumed run does not rebuild it), and every
pending scenario is simulated against its trace. Both go through the same executor, on one stream:
the traces that calibrate the profiles' measured speeds (harness.calibrate) first, and a scenario's
simulation as soon as its traces are built, while other traces are still being built.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from splitbench import SplitbenchError
from splitbench.models.trace import ExecutionTrace

from . import __version__
from .executors import Executor, ProcessExecutor, make_executor, warm_up
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
from .tasks import Runtime, SimJob, TraceJob, energy_models, run_task, trace_key

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
        self.jobs: dict[str, TraceJob] = {}  # to build
        self.building: set[str] = set()  # submitted, or held until the trace they borrow from is built
        #: key -> (role, whole key) of models.build.whole_decode_role; whole key -> key of its lender
        self.roles: dict[str, tuple[str | None, str]] = {}
        self.lenders: dict[str, str] = {}

    def need(
        self, model: Any, method: dict[str, Any], prompt_tokens: int, act_dtype: str, runtime: Runtime = None
    ) -> str:
        key = trace_key(model, method, prompt_tokens, act_dtype, runtime)
        if key not in self.json and key not in self.jobs and key not in self.building:
            self._role(key, model, method, prompt_tokens, runtime)
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

    def _role(
        self, key: str, model: Any, method: dict[str, Any], prompt_tokens: int, runtime: Runtime
    ) -> None:
        from splitbench.models.build import whole_decode_role

        role, whole = whole_decode_role(model, method, prompt_tokens, **(runtime or {}))
        self.roles[key] = (role, whole)
        if role == "lends":
            self.lenders.setdefault(whole, key)

    def lender(self, key: str) -> str | None:
        """The key of the trace whose whole-model totals trace ``key`` borrows, if this run has one."""
        role, whole = self.roles.get(key, (None, ""))
        return self.lenders.get(whole) if role == "borrows" else None

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
    totals, calibration = _calibration_traces(traces, [*scenarios, *points])
    # A scenario without a stored record is pending whatever its calibrated profiles turn out to be.
    fresh = [sc for sc in runnable if not _record_path(out, sc).is_file()]
    keys = {sc.scenario_id: _need_traces(traces, sc) for sc in fresh}

    # Connect to the executor before writing or building anything: an unreachable scheduler is bad input.
    ex = make_executor(executor, jobs, scheduler, dask_processes) if fresh else None
    bar = _progress_bar(progress, len(traces.jobs) + len(fresh))
    run = _Pipeline(out, suite, traces, totals, calibration, keys, summary, bar)
    preload: threading.Thread | None = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        if render_report:
            preload = _preload_reports(warm=isinstance(ex, ProcessExecutor))
        # without an executor (every scenario has a record), only calibration traces are built here
        run.drain((ex or Executor()).stream(run_task), scenarios, points, hold=ex is None)
        if run.waiting:  # stale records of a resumed run, found once the profiles were calibrated
            ex = make_executor(executor, jobs, scheduler, dask_processes)
            run.drain(ex.stream(run_task), scenarios, points)
    finally:
        bar.close()
        if ex is not None:
            ex.close()
    rows, multi = run.rows, run.multi
    run.assemble()
    if multi:
        summary.n_run += run_multiuser(out, multi)
    summary.n_infeasible = sum(1 for r in rows.values() if not r.get("feasible"))
    summary.wall_s = time.perf_counter() - t0
    _write_meta(out, suite, summary, started, jobs, executor, scheduler, argv)
    if render_report:
        if preload is not None:
            preload.join()  # the report forks a helper only where no other thread runs
        summary.report = _render(out, summary)
    return summary


def _calibration_traces(
    traces: _Traces, items: list[Resolved]
) -> tuple[Callable[[Any, str], dict[str, Any] | None], set[str]]:
    """Registers the calibration trace of every profile with a measured speed (harness.calibrate) with
    ``traces``; returns the ``totals`` function calibrate_scenarios reads them through once built, and
    their keys."""
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

    return totals, set(keys.values())


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


def _preload_reports(warm: bool) -> threading.Thread:
    """Import the report's modules (matplotlib, pandas) in a background thread, while a local pool's
    fork server imports torch or the workers build traces: the cores are otherwise idle then, and
    rendering would wait for them at the end. ``warm`` (a local pool, whose fork server leaves this
    process's core idle for seconds): also draw reports.plots.warm_up's throwaway figure."""

    def load() -> None:
        with contextlib.suppress(ImportError):
            import splitbench.reports.build  # noqa: F401

            if warm:
                from splitbench.reports.plots import warm_up

                with contextlib.suppress(Exception):  # only a head start: the report shows any error
                    warm_up()

    thread = threading.Thread(target=load, name="splitbench-preload-reports", daemon=True)
    thread.start()
    return thread


class _Pipeline:
    """The trace builds and simulations of a run on one executor stream: the calibration traces are
    submitted first, and a scenario's simulation as soon as its traces are built and the profiles
    calibrated, while the other traces are still being built, so no core waits for the last trace."""

    def __init__(
        self,
        out: Path,
        suite: Suite,
        traces: _Traces,
        totals: Callable[[Any, str], dict[str, Any] | None],
        calibration: set[str],
        keys: dict[str, tuple[str, str | None]],
        summary: RunSummary,
        bar: Any,
    ) -> None:
        self.out, self.suite, self.traces, self.totals, self.keys = out, suite, traces, totals, keys
        self.summary, self.bar = summary, bar
        self.calibration = calibration  # keys of the calibration traces
        self.calibrated = False
        self.hold = False
        self.waiting: dict[str, Resolved] = {}  # pending scenarios not yet submitted
        self.rows: dict[str, dict[str, Any]] = {}
        self.sweep_rows: dict[str, dict[str, Any]] = {}
        self.multi: list[Resolved] = []
        self.last = time.monotonic()
        self.stream: Any = None
        #: trace jobs waiting for the trace they borrow whole-model totals from, by its key
        self.held: dict[str, list[TraceJob]] = {}

    def assemble(self) -> None:
        atomic_write_text(self.out / "results.csv", results_csv(list(self.rows.values())))
        if self.suite.sweeps:
            atomic_write_text(self.out / "sweeps.csv", sweeps_csv(list(self.sweep_rows.values())))

    def drain(
        self, stream: Any, scenarios: list[Resolved], points: list[Resolved], hold: bool = False
    ) -> None:
        """Submit what can run, then handle results (submitting what they unblock) until none is left;
        ``hold``: submit nothing found after calibrating (it waits for the next drain)."""
        self.stream, self.hold = stream, hold
        self._submit_traces()
        if not self.calibrated and self.calibration <= set(self.traces.parsed):
            self._calibrate(scenarios, points)
        self._submit_ready()
        for tag, result in stream:
            if tag[0] == "trace":
                key, text = result
                self.traces.add(key, text)
                self.summary.n_traces_built += 1
                for job in self.held.pop(key, []):
                    self.stream.submit(replace(job, lent=(text,)), ("trace", job.key))
                if not self.calibrated and self.calibration <= set(self.traces.parsed):
                    self._calibrate(scenarios, points)
            else:
                self._finished(tag[1], result)
            self.bar.update(1)
            self._submit_ready()

    def _submit_traces(self) -> None:
        """Submit the traces to build. One that borrows the whole-model totals of another trace of
        this run (models.build.whole_decode_role) goes with that trace, built, and waits for it if
        need be: the worker that takes it would otherwise build that trace again to get them."""
        for key, job in self.traces.jobs.items():
            lender = self.traces.lender(key)
            if lender is not None and lender not in self.traces.parsed:
                self.held.setdefault(lender, []).append(job)
            else:
                lent = (self.traces.json[lender],) if lender is not None else ()
                self.stream.submit(replace(job, lent=lent), ("trace", key))
        self.traces.building.update(self.traces.jobs)
        self.traces.jobs.clear()

    def _calibrate(self, scenarios: list[Resolved], points: list[Resolved]) -> None:
        """Apply the measured speeds; find the pending scenarios (a stored record of a scenario whose
        calibrated profiles differ is stale); write scenarios.yaml."""
        self.calibrated = True
        scenarios[:] = calibrate_scenarios(scenarios, self.totals)
        points[:] = calibrate_scenarios(points, self.totals)
        single, self.multi = split_multiuser(scenarios)
        for sc in [*single, *points]:
            row = None if sc.scenario_id in self.keys else load_finished(self.out, sc)
            if row is None:
                self.waiting[sc.scenario_id] = sc
                if sc.scenario_id not in self.keys:
                    self.keys[sc.scenario_id] = _need_traces(self.traces, sc)
            else:
                (self.sweep_rows if sc.sweep else self.rows)[sc.scenario_id] = row
                self.summary.n_resumed += 1
        write_scenarios_yaml(self.out, self.suite, scenarios, points)
        self.bar.total = self.summary.n_traces_built + len(self.traces.building) + len(self.waiting)
        self.bar.set_description("traces+scenarios")

    def _submit_ready(self) -> None:
        if not self.calibrated or self.hold:
            return
        self._submit_traces()
        ready = [sid for sid in self.waiting
                 if all(k is None or k in self.traces.parsed for k in self.keys[sid])]
        for sid in ready:
            sc = self.waiting.pop(sid)
            k = self.keys[sid][0]
            job = SimJob(
                scenario_id=sid,
                trace_key=k,
                trace_json=self.traces.json[k],
                link=sc.link,
                device=sc.device,
                cloud=sc.cloud,
                new_tokens=sc.new_tokens,
                seed=sc.seed,
                want_timeline=sc.sweep is None,
                **dict(zip(("radio", "soc"), energy_models(sc.link, sc.device), strict=True)),
            )
            self.stream.submit(job, ("scenario", sc))

    def _finished(self, sc: Resolved, outcome: dict[str, Any]) -> None:
        out = self.out
        k, rk = self.keys[sc.scenario_id]
        if sc.sweep is None:
            ref = self.traces.parsed[rk] if rk else None
            row = scenario_row(sc, outcome, trace_columns(self.traces.parsed[k], ref))
            if outcome.get("timeline"):
                atomic_write_json(out / "timelines" / f"{sc.scenario_id}.json", outcome["timeline"])
            if outcome.get("chrome_trace"):
                atomic_write_json(out / "timelines" / f"{sc.scenario_id}.trace.json", outcome["chrome_trace"])
            self.rows[sc.scenario_id] = row
        else:
            row = sweep_row(sc, outcome)
            self.sweep_rows[sc.scenario_id] = row
        # The record is written last: its presence means the scenario is complete.
        atomic_write_json(_record_path(out, sc), to_plain({"scenario": sc.resolved_dict(), "row": row}))
        self.summary.n_run += 1
        if time.monotonic() - self.last >= ASSEMBLE_EVERY_S:
            self.assemble()
            self.last = time.monotonic()


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
