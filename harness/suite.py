"""Suites: load a YAML file or a built-in name, apply ``--set`` overrides, validate, expand.

A suite expands into :class:`ScenarioSpec` objects — still unresolved (preset names and override
mappings as the user wrote them). Resolving them against the presets of models/ and netsim/ is
:mod:`harness.resolve`'s job, so this module needs neither torch nor simpy and stays fast.

Expansion order is deterministic: the matrix is the Cartesian product of its lists in the order
the keys are written, then the explicit ``scenarios`` in order. Duplicates collapse later by
scenario id.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from splitbench import SplitbenchError

from .schema import BUILTIN_DEFAULTS, REQUIRED_SCENARIO_FIELDS, SCENARIO_FIELDS, format_path, validate_suite


@dataclass(frozen=True)
class ScenarioSpec:
    """One scenario as written: every field present, preset fields still names or mappings."""

    fields: dict[str, Any]
    origin: str  # where it came from, for error messages: "matrix[5]" or "scenarios[0]"


@dataclass(frozen=True)
class SweepSpec:
    """One sweep of the suite: several methods over a range of one link parameter."""

    name: str
    vary: str
    values: tuple[float, ...]
    methods: tuple[Any, ...]
    base: dict[str, Any]  # scenario fields other than method (network is the base network)
    origin: str


@dataclass
class Suite:
    name: str
    seed: int
    source: str  # file path or "built-in suite <name>", for messages
    base_dir: Path  # relative trace files resolve against this directory
    doc: dict[str, Any]
    scenarios: list[ScenarioSpec] = field(default_factory=list)
    sweeps: list[SweepSpec] = field(default_factory=list)
    presets: Any = None  # models.presets.UserPresets: the suite's ``presets:`` and ``--presets``


def load_presets(entries: list[str | Path], base_dir: Path, where: str = "presets") -> Any:
    """User preset files and folders (models.presets.load_user_presets), every kind's table loaded."""
    import splitbench.models.catalog  # noqa: F401 - registers the model presets
    import splitbench.models.methods  # noqa: F401 - registers the method presets
    import splitbench.netsim  # noqa: F401 - registers the network and profile presets
    from splitbench.models.presets import load_user_presets

    return load_user_presets(list(entries), base_dir, where)


def builtin_suites() -> dict[str, Path]:
    """Name → path of the YAML files shipped in ``harness/suites``."""
    root = resources.files("splitbench.harness") / "suites"
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml")}


def read_yaml(path: Path, label: str | None = None) -> Any:
    """Parse YAML, turning parse errors into one line naming the file, line and column."""
    label = label or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SplitbenchError(f"{label}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise SplitbenchError(f"{label}: cannot read: {e.__class__.__name__}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SplitbenchError(f"{label}: malformed YAML{where}: {problem}") from None


def parse_set(items: list[str] | None) -> list[tuple[str, Any]]:
    """``["new_tokens=16", "matrix.network=[4g, 5g]"]`` → [(key, value)] with YAML-typed values."""
    out = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SplitbenchError(f"--set {item}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise SplitbenchError(f"--set {key}: value {raw!r} is not valid YAML") from None
        out.append((key.strip(), value))
    return out


def apply_overrides(doc: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a suite document (a deep copy is returned).

    A bare scenario field (``new_tokens=16``) *forces* that value on every scenario and sweep: it
    goes into ``defaults`` and is removed from the matrix and from each explicit entry. Any other
    key is a dotted path into the document (``matrix.network=[4g]``, ``seed=3``).
    """
    doc = copy.deepcopy(doc)
    for key, value in overrides:
        if key in SCENARIO_FIELDS and key not in ("seed",):
            doc.setdefault("defaults", {})
            if not isinstance(doc["defaults"], dict):
                raise SplitbenchError(f"--set {key}: the suite's 'defaults' is not a mapping")
            doc["defaults"][key] = value
            if isinstance(doc.get("matrix"), dict):
                doc["matrix"].pop(key, None)
                if not doc["matrix"]:
                    del doc["matrix"]
            for section in ("scenarios", "sweeps"):
                for entry in doc.get(section) or []:
                    if isinstance(entry, dict):
                        entry.pop(key, None)
            continue
        parts = key.split(".")
        node: Any = doc
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p) if isinstance(node, dict) else None
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise SplitbenchError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return doc


def load_suite(
    ref: str | Path, overrides: list[tuple[str, Any]] | None = None, presets: list[str | Path] | None = None
) -> Suite:
    """Load a built-in suite by name or a YAML file by path, validate it and expand it.

    ``presets``: preset files or folders (relative to the working directory) beside the suite's
    own ``presets:`` (relative to the suite file).
    """
    builtins = builtin_suites()
    ref_s = str(ref)
    path = Path(ref_s)
    if ref_s in builtins and not path.exists():
        path, source = builtins[ref_s], f"built-in suite {ref_s}"
        default_name, base_dir = ref_s, Path.cwd()
    elif path.exists() or ref_s.endswith((".yaml", ".yml")) or "/" in ref_s:
        if not path.exists():
            raise SplitbenchError(f"{ref_s}: no such file")
        source, default_name, base_dir = ref_s, path.stem, path.resolve().parent
    else:
        raise SplitbenchError(
            f"{ref_s}: not a built-in suite ({', '.join(sorted(builtins))}) nor a YAML file"
        )
    doc = read_yaml(path, source)
    if isinstance(doc, dict):
        doc = apply_overrides(doc, overrides or [])
    validate_suite(doc, source)
    suite = Suite(
        name=doc.get("name", default_name), seed=doc.get("seed", 0), source=source, base_dir=base_dir, doc=doc
    )
    entries = doc.get("presets") or []
    entries = [entries] if isinstance(entries, str) else entries
    paths = [base_dir / e for e in entries] + [Path.cwd() / p for p in presets or []]
    if paths:
        suite.presets = load_presets(paths, base_dir, f"{source}: presets")
    suite.scenarios = expand_scenarios(doc, suite)
    suite.sweeps = expand_sweeps(doc, suite)
    return suite


def _complete(fields: dict[str, Any], suite: Suite, origin: str) -> dict[str, Any]:
    merged = {**BUILTIN_DEFAULTS, "seed": suite.seed, **suite.doc.get("defaults", {}), **fields}
    for k in REQUIRED_SCENARIO_FIELDS:
        if k not in merged:
            raise SplitbenchError(
                f"{suite.source}: {origin}: missing field '{k}' "
                "(set it in the scenario, the matrix or defaults)"
            )
    return merged


def expand_scenarios(doc: dict[str, Any], suite: Suite) -> list[ScenarioSpec]:
    """The matrix's Cartesian product, then the explicit scenarios, each completed with defaults."""
    out: list[ScenarioSpec] = []
    matrix = doc.get("matrix")
    if matrix:
        keys = list(matrix)
        lists = [v if isinstance(v, list) else [v] for v in matrix.values()]
        for i, combo in enumerate(itertools.product(*lists)):
            origin = f"matrix (combination {i})"
            out.append(ScenarioSpec(_complete(dict(zip(keys, combo, strict=True)), suite, origin), origin))
    for i, entry in enumerate(doc.get("scenarios") or []):
        origin = format_path(["scenarios", i])
        out.append(ScenarioSpec(_complete(entry, suite, origin), origin))
    return out


def expand_sweeps(doc: dict[str, Any], suite: Suite) -> list[SweepSpec]:
    out: list[SweepSpec] = []
    names: set[str] = set()
    for i, entry in enumerate(doc.get("sweeps") or []):
        origin = format_path(["sweeps", i])
        if entry["name"] in names:
            raise SplitbenchError(f"{suite.source}: {origin}.name: duplicate sweep name {entry['name']!r}")
        names.add(entry["name"])
        base = {k: v for k, v in entry.items() if k in SCENARIO_FIELDS}
        base = _complete({**base, "method": "device-only"}, suite, origin)
        del base["method"]
        out.append(
            SweepSpec(
                name=entry["name"],
                vary=entry["vary"],
                values=tuple(entry["values"]),
                methods=tuple(entry["methods"]),
                base=base,
                origin=origin,
            )
        )
    return out
