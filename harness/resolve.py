"""Resolve scenario specs against the presets of models/ and netsim/, and name them.

Why here and not in the runner: resolution is where bad input is found (an unknown preset, a zero
bandwidth, a missing trace file), so it runs once, up front, in the parent process, and every error
is reported with the file and the path of the offending value before any work starts.

Identity: a scenario's ``scenario_id`` is a readable slug plus a hash of the scenario *as written*
(preset names and overrides, with the method's parameters filled in from its preset). It is stable
across versions of the preset tables, so ``splitbench compare`` can match rows of an old run with a
new one; ``resume`` additionally checks the fully resolved scenario, so a changed preset is re-run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

from .suite import ScenarioSpec, Suite, SweepSpec

PRESET_FIELDS = ("model", "method", "network", "device", "cloud")


def to_plain(obj: Any) -> Any:
    """Convert dataclasses, tuples, Paths and config objects into YAML/JSON-safe plain data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [to_plain(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, set | frozenset) else items
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    if hasattr(obj, "to_dict"):
        return to_plain(obj.to_dict())
    return str(obj)


def canonical_hash(obj: Any, n: int = 10) -> str:
    text = json.dumps(to_plain(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _fmt_value(v: Any) -> str:
    from splitbench.models.paradigms.params import format_value

    return format_value(v)


def spec_label(spec: Any) -> str:
    """A short human name for a preset-valued field: ``5g``, ``5g[rtt_ms=10]``, ``my-phone``."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        if "base" in spec:
            over = {k: v for k, v in spec.items() if k not in ("base", "name", "source")}
            inner = ",".join(f"{k}={_fmt_value(v)}" for k, v in sorted(over.items()))
            name = spec.get("name") or spec["base"]
            return f"{name}[{inner}]" if inner and "name" not in spec else str(name)
        if "name" in spec:
            return str(spec["name"])
        return f"custom-{canonical_hash(spec, 6)}"
    return str(spec)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


# ----------------------------------------------------------------------------------------------
# Resolvers (imported lazily: suite parsing and validation need neither netsim nor transformers)


def resolvers() -> dict[str, Callable[[Any], Any]]:
    from splitbench.models import resolve_method, resolve_model
    from splitbench.netsim import resolve_network, resolve_profile

    return {
        "model": resolve_model,
        "method": lambda spec: resolve_method(_without_label(spec)),
        "network": resolve_network,
        "device": resolve_profile,
        "cloud": resolve_profile,
    }


def _without_label(spec: Any) -> Any:
    """A method's ``label`` names it in tables and plots (``LoRA^S``); it is no model parameter."""
    if isinstance(spec, dict) and "label" in spec:
        if not isinstance(spec["label"], str) or not spec["label"].strip():
            raise SplitbenchError(f"method.label: must be a non-empty string, got {spec['label']!r}")
        return {k: v for k, v in spec.items() if k != "label"}
    return spec


def _absolutize_traces(spec: Any, base_dir: Path) -> Any:
    """Trace files named in a suite are relative to the suite file's directory."""
    if not isinstance(spec, dict):
        return spec
    out = dict(spec)
    for k in ("trace_up", "trace_down"):
        v = out.get(k)
        if isinstance(v, str) and v and not v.startswith("synth:") and not os.path.isabs(v):
            out[k] = str((base_dir / v).resolve())
    return out


def resolve_field(field: str, spec: Any, where: str, base_dir: Path) -> Any:
    """Resolve one preset-valued field; errors become ``<where>: <resolver's message>``."""
    if field == "network":
        spec = _absolutize_traces(spec, base_dir)
    try:
        return resolvers()[field](spec)
    except SplitbenchError as e:
        raise SplitbenchError(f"{where}: {e}") from None
    except (TypeError, KeyError) as e:  # a resolver given a value of the wrong shape
        raise SplitbenchError(f"{where}: invalid {field} specification ({e})") from None


@dataclass(frozen=True)
class SweepPoint:
    sweep: str
    vary: str
    value: float
    network: str  # label of the sweep's base network (the row's ``network`` column in sweeps.csv)


@dataclass(frozen=True)
class Resolved:
    """A scenario ready to run: presets resolved, names and identity fixed."""

    scenario_id: str
    spec: dict[str, Any]  # as written, completed with defaults (method params filled in)
    labels: dict[str, str]  # model, method, method_label, network, device, cloud
    model: Any  # models.ModelPreset
    method: dict[str, Any]
    link: Any  # netsim.LinkSpec
    device: Any  # netsim.Profile
    cloud: Any  # netsim.Profile
    prompt_tokens: int
    new_tokens: int
    act_dtype: str
    seed: int
    sweep: SweepPoint | None = None

    def _energy_models(self) -> dict[str, Any]:
        """The device's power models: the network's radio and the device's SoC (None: no model)."""
        from .tasks import energy_models

        radio, soc = energy_models(self.link, self.device)
        return {"radio": radio.to_dict() if radio else None, "soc_power": soc.to_dict() if soc else None}

    def trace_runtime(self) -> dict[str, dict[str, str]]:
        """Per side, the compute dtype, KV dtype and KV-cache kind of the device and cloud profiles
        (their runtime's defaults unless set): what the trace is recorded with. act_dtype is only the
        wire's."""
        return {
            f: {"device": getattr(self.device, f), "cloud": getattr(self.cloud, f)}
            for f in ("compute_dtype", "kv_dtype", "kv_cache")
        }

    def resolved_dict(self) -> dict[str, Any]:
        """Everything the scenario's result depends on, as plain data (scenarios.yaml, resume)."""
        d: dict[str, Any] = {
            "scenario_id": self.scenario_id,
            **self.labels,
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "act_dtype": self.act_dtype,
            "seed": self.seed,
            "spec": to_plain(self.spec),
            "resolved": {
                "model": to_plain(self.model),
                "method": to_plain(self.method),
                "network": to_plain(self.link),
                "device": to_plain(self.device),
                "cloud": to_plain(self.cloud),
                **self._energy_models(),
            },
        }
        if self.sweep is not None:
            d["sweep"] = to_plain(self.sweep)
        return d


class ScenarioResolver:
    """Resolves scenario specs, memoising presets (a 1,000-scenario matrix has few distinct ones)."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self._memo: dict[tuple[str, str], Any] = {}

    def field(self, field: str, spec: Any, where: str) -> Any:
        key = (field, json.dumps(to_plain(spec), sort_keys=True))
        if key not in self._memo:
            self._memo[key] = resolve_field(field, spec, f"{self.suite.source}: {where}", self.suite.base_dir)
        return self._memo[key]

    def check_document(self) -> None:
        """Resolve every preset value where it is written, so errors carry its exact path."""
        doc = self.suite.doc
        for f in PRESET_FIELDS:
            if f in doc.get("defaults", {}):
                self.field(f, doc["defaults"][f], f"defaults.{f}")
            m = (doc.get("matrix") or {}).get(f)
            if m is not None:
                for i, v in enumerate(m if isinstance(m, list) else [m]):
                    self.field(f, v, f"matrix.{f}[{i}]" if isinstance(m, list) else f"matrix.{f}")
            for i, entry in enumerate(doc.get("scenarios") or []):
                if f in entry:
                    self.field(f, entry[f], f"scenarios[{i}].{f}")
            for i, entry in enumerate(doc.get("sweeps") or []):
                if f == "method":
                    for j, m in enumerate(entry["methods"]):
                        self.field("method", m, f"sweeps[{i}].methods[{j}]")
                elif f in entry:
                    self.field(f, entry[f], f"sweeps[{i}].{f}")

    def resolve(self, spec: ScenarioSpec, sweep: SweepPoint | None = None) -> Resolved:
        f = spec.fields
        objs = {k: self.field(k, f[k], f"{spec.origin}.{k}") for k in PRESET_FIELDS}
        method = dict(objs["method"])
        from splitbench.models.methods import method_label, preset_label

        labels = {
            "model": spec_label(f["model"]),
            "method": str(method.get("name")),
            "method_label": (
                f["method"]["label"]
                if isinstance(f["method"], dict) and "label" in f["method"]
                else preset_label(f["method"]) or method_label(method)
            ),
            "network": spec_label(f["network"]),
            "device": spec_label(f["device"]),
            "cloud": spec_label(f["cloud"]),
        }
        identity = {
            **{k: f[k] for k in ("model", "network", "device", "cloud")},
            "method": method,
            **{k: v for k, v in f.items() if k not in PRESET_FIELDS},
        }
        if sweep is not None:
            identity["sweep"] = to_plain(sweep)
        slug = "-".join(_slug(labels[k]) for k in ("model", "method_label", "network", "device", "cloud"))[
            :90
        ].strip("-")
        sid = f"{slug}-p{f['prompt_tokens']}n{f['new_tokens']}-{canonical_hash(identity)}"
        if sweep is not None:
            sid = f"{_slug(sweep.sweep)}-{_fmt_value(sweep.value)}-{sid}"
        return Resolved(
            scenario_id=sid,
            spec={**f, "method": method},
            labels=labels,
            model=objs["model"],
            method=method,
            link=objs["network"],
            device=objs["device"],
            cloud=objs["cloud"],
            prompt_tokens=int(f["prompt_tokens"]),
            new_tokens=int(f["new_tokens"]),
            act_dtype=str(f["act_dtype"]),
            seed=int(f["seed"]),
            sweep=sweep,
        )


def sweep_specs(sw: SweepSpec) -> list[tuple[ScenarioSpec, SweepPoint]]:
    """Expand one sweep into (scenario spec, point) pairs: every method at every value."""
    out = []
    net = sw.base["network"]
    for j, m in enumerate(sw.methods):
        for k, value in enumerate(sw.values):
            if isinstance(net, str):
                network: Any = {"base": net, sw.vary: value}
            else:
                network = {**net, sw.vary: value}
            fields = {**sw.base, "method": m, "network": network}
            origin = f"{sw.origin} (method {j}, value {k})"
            out.append(
                (ScenarioSpec(fields, origin), SweepPoint(sw.name, sw.vary, float(value), spec_label(net)))
            )
    return out


def resolve_suite(suite: Suite, calibrate: bool = True) -> tuple[list[Resolved], list[Resolved]]:
    """All scenarios and sweep points of a suite, resolved (with the suite's own presets), de-duplicated
    and sorted by id; ``calibrate=False`` leaves the profiles' measured speeds unapplied (the caller
    applies them with :func:`calibrate_scenarios`)."""
    from splitbench.models.presets import using

    def dedupe(items: list[Resolved]) -> list[Resolved]:
        return sorted({x.scenario_id: x for x in items}.values(), key=lambda x: x.scenario_id)

    with using(suite.presets):
        r = ScenarioResolver(suite)
        r.check_document()
        scenarios = dedupe([r.resolve(s) for s in suite.scenarios])
        points = dedupe([r.resolve(s, p) for sw in suite.sweeps for s, p in sweep_specs(sw)])
        if calibrate:
            scenarios, points = calibrate_scenarios(scenarios), calibrate_scenarios(points)
    return scenarios, points


def calibration_needs(items: list[Resolved]) -> list[tuple[Any, str]]:
    """The distinct (profile, model name) pairs of the scenarios' device and cloud profiles."""
    seen: dict[str, tuple[Any, str]] = {}
    for sc in items:
        for profile in (sc.device, sc.cloud):
            seen.setdefault(calibration_key(profile, sc.model), (profile, _model_name(sc.model)))
    return list(seen.values())


def _model_name(model: Any) -> str:
    return getattr(model, "name", str(model))


def calibration_key(profile: Any, model: Any) -> str:
    """Identity of a (profile, model or model name) pair: one calibration each."""
    return json.dumps([to_plain(profile), _model_name(model)], sort_keys=True)


def calibrate_scenarios(
    items: list[Resolved], totals: Callable[[Any, str], dict[str, Any] | None] | None = None
) -> list[Resolved]:
    """The scenarios with their device and cloud profiles calibrated by their measured speed for the
    scenario's model (harness.calibrate), once per distinct profile and model. ``totals(profile,
    model name)``: the whole-model decode totals of the profile's calibration trace where the caller
    has built it (None: built here)."""
    from .calibrate import calibrated

    memo: dict[str, Any] = {}

    def cal(profile: Any, model: Any) -> Any:
        key = calibration_key(profile, model)
        if key not in memo:
            name = _model_name(model)
            memo[key] = calibrated(profile, name, totals(profile, name) if totals else None)
        return memo[key]

    return [dataclasses.replace(sc, device=cal(sc.device, sc.model), cloud=cal(sc.cloud, sc.model))
            for sc in items]
