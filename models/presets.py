"""Presets as data: one YAML file per preset, grouped by kind, served by name.

A *presets folder* holds one subfolder per kind — ``models/``, ``networks/``, ``profiles/`` (device
and cloud), ``methods/`` — and in it one YAML file per preset, named after it (``networks/5g.yaml`` is
the network ``5g``). The built-in presets are such folders inside the rooms that own the kind
(``models/presets/``, ``netsim/presets/``); a user adds presets by listing more folders or files
(a suite's ``presets:``, ``--presets DIR``), without touching code.

A preset file is the same mapping a suite may write inline for that kind (fields with their unit in
their name: ``up_mbps``, ``rtt_ms``, ``mem_bw_gbps`` …) plus:

- ``source`` — where the numbers come from (``[S]`` spec, ``[M]`` measured, ``[I]`` estimate);
  required. Profiles give one source per field (a mapping) or one string for all.
- ``base`` — another preset of the kind (built-in or user) whose fields this file overrides; it
  must then give a source for each field it sets.
- ``order`` — position in ``splitbench list`` (ascending; ties by name; without it, after).
- ``replaces: true`` — a user preset may take a built-in preset's name only when it says so.

Each kind's table (:class:`PresetTable`) turns a file into the kind's dataclass with the kind's own
resolver, so a preset file is validated exactly like the same mapping written in a suite; an error
names the file and the field. User presets are active inside :func:`using` (a context variable:
the resolution of one suite sees its own presets and no other's).
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from splitbench import SplitbenchError

T = TypeVar("T")

#: Keys the loader handles itself; everything else is the kind's own field.
META_KEYS = ("order", "replaces")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class PresetFile:
    """One preset file, parsed: its kind (the folder name), name (the file name) and fields."""

    kind: str
    name: str
    label: str  # the file as error messages and listings name it
    fields: dict[str, Any]
    order: float = float("inf")
    replaces: bool = False


def _label(path: Path) -> str:
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else Path(rel).as_posix()


def read_preset_file(path: Path, kind: str, label: str | None = None) -> PresetFile:
    """Parse one preset file; a bad file is one line naming the file (and the field)."""
    label = label or _label(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a safe loader
    except OSError as e:
        raise SplitbenchError(f"{label}: cannot read: {e.__class__.__name__}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SplitbenchError(f"{label}: malformed YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(doc, dict) or not doc:
        raise SplitbenchError(f"{label}: a preset file is a mapping of fields")
    name = path.stem
    if not _NAME.match(name):
        raise SplitbenchError(f"{label}: {name!r} is not a preset name (letters, digits, . _ - @ +)")
    if "name" in doc and doc["name"] != name:
        raise SplitbenchError(f"{label}: name: {doc['name']!r} differs from the file name {name!r}")
    order = doc.pop("order", float("inf"))
    if isinstance(order, bool) or not isinstance(order, int | float):
        raise SplitbenchError(f"{label}: order: must be a number, got {order!r}")
    replaces = doc.pop("replaces", False)
    if not isinstance(replaces, bool):
        raise SplitbenchError(f"{label}: replaces: must be true or false, got {replaces!r}")
    doc.pop("name", None)
    src = doc.get("source")
    if not src or not isinstance(src, str | dict):
        raise SplitbenchError(f"{label}: source: required (where the numbers come from; [S]/[M]/[I])")
    return PresetFile(kind, name, label, doc, order, replaces)


#: Every kind's table, by folder name (a table registers itself when its room is imported).
TABLES: dict[str, PresetTable[Any]] = {}


class PresetTable(Mapping[str, T], Generic[T]):
    """The presets of one kind: the built-in files, the active user presets, and lazy entries.

    ``build(file, fields)`` turns a file's fields into the kind's object (the kind's resolver);
    ``base:`` names are looked up in this table, so a user preset may build on a built-in one or on
    another user preset. ``lazy`` entries (the measured ``host`` profile) are computed on lookup.
    """

    def __init__(
        self,
        kind: str,
        noun: str,
        folder: Path,
        build: Callable[[PresetFile], T],
        lazy: dict[str, Callable[[], T]] | None = None,
    ) -> None:
        self.kind, self.noun, self.folder, self.build = kind, noun, folder, build
        self.lazy = dict(lazy or {})
        self._files: dict[str, PresetFile] | None = None
        self._built: dict[str, T] = {}
        self._building: list[str] = []
        TABLES[kind] = self

    # ----- the built-in files
    def builtin_files(self) -> dict[str, PresetFile]:
        if self._files is None:
            files = [read_preset_file(p, self.kind) for p in sorted(self.folder.glob("*.yaml"))]
            self._files = {f.name: f for f in sorted(files, key=lambda f: (f.order, f.name))}
        return self._files

    def builtin_names(self) -> list[str]:
        return [*self.builtin_files(), *self.lazy]

    # ----- lookup
    def _user(self) -> dict[str, PresetFile]:
        active = _ACTIVE.get()
        return active.files.get(self.kind, {}) if active is not None else {}

    def file_of(self, name: str) -> PresetFile | None:
        """The file that defines ``name`` now (a user file first), or None (lazy / unknown)."""
        return self._user().get(name) or self.builtin_files().get(name)

    def __getitem__(self, name: str) -> T:
        user = self._user().get(name)
        # a user file that replaces a built-in preset and builds on it names it as its base
        if user is not None and not (user.replaces and user.label in self._building):
            return _ACTIVE.get().built(self, user)  # type: ignore[union-attr]
        pf = self.builtin_files().get(name)
        if pf is not None:
            if name not in self._built:
                self._built[name] = self._make(pf)
            return self._built[name]
        if name in self.lazy:
            return self.lazy[name]()
        raise KeyError(name)

    def _make(self, pf: PresetFile) -> T:
        if pf.label in self._building:
            chain = " -> ".join([*self._building[self._building.index(pf.label):], pf.label])
            raise SplitbenchError(f"{pf.label}: base: presets build on each other in a cycle ({chain})")
        self._building.append(pf.label)
        try:
            return self.build(pf)
        except SplitbenchError as e:
            msg = str(e)
            raise SplitbenchError(msg if msg.startswith(pf.label) else f"{pf.label}: {msg}") from None
        finally:
            self._building.pop()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self._user() or name in self.builtin_files() or name in self.lazy
        )

    def __iter__(self) -> Iterator[str]:
        builtin = self.builtin_files()
        user = [f for n, f in self._user().items() if n not in builtin and n not in self.lazy]
        extra = [f.name for f in sorted(user, key=lambda f: (f.order, f.name))]
        return iter([*builtin, *extra, *self.lazy])

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def unknown(self, name: Any) -> SplitbenchError:
        return SplitbenchError(f"{self.noun}: unknown preset {name!r} (known: {', '.join(self)})")


# ----------------------------------------------------------------------------------- user presets
@dataclass
class UserPresets:
    """Preset files given by the user, by kind and name; their objects are built on first use."""

    files: dict[str, dict[str, PresetFile]] = field(default_factory=dict)
    _built: dict[tuple[str, str], Any] = field(default_factory=dict)

    def built(self, table: PresetTable[Any], pf: PresetFile) -> Any:
        key = (table.kind, pf.name)
        if key not in self._built:
            self._built[key] = table._make(pf)
        return self._built[key]

    def labels(self) -> list[str]:
        return [f.label for by_name in self.files.values() for f in by_name.values()]

    def check(self) -> UserPresets:
        """Build every preset now, so a bad file stops the run before any work."""
        with using(self):
            for kind, by_name in self.files.items():
                for name in by_name:
                    TABLES[kind][name]
        return self


_ACTIVE: contextvars.ContextVar[UserPresets | None] = contextvars.ContextVar(
    "splitbench_presets", default=None
)


@contextmanager
def using(presets: UserPresets | None) -> Iterator[None]:
    """Make ``presets`` visible to every preset table (by name, like the built-in ones) inside."""
    token = _ACTIVE.set(presets)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> UserPresets | None:
    return _ACTIVE.get()


def _files_under(path: Path, label: str) -> list[tuple[str, Path]]:
    """(kind, file) pairs of a presets folder, a kind folder, or one file inside a kind folder."""
    kinds = sorted(TABLES)
    if path.is_file():
        kind = path.parent.name
        if kind not in TABLES:
            raise SplitbenchError(
                f"{label}: a preset file lives in a folder named after its kind ({', '.join(kinds)})"
            )
        return [(kind, path)]
    if not path.is_dir():
        raise SplitbenchError(f"{label}: no such file or folder")
    if path.name in TABLES:
        return [(path.name, p) for p in sorted(path.glob("*.yaml"))]
    out = [(k, p) for k in kinds for p in sorted((path / k).glob("*.yaml"))]
    stray = sorted(p for p in path.glob("*.yaml")) + sorted(
        p for p in path.glob("*/*.yaml") if p.parent.name not in TABLES
    )
    if stray:
        raise SplitbenchError(
            f"{_label(stray[0])}: a preset file lives in a folder named after its kind ({', '.join(kinds)})"
        )
    if not out:
        raise SplitbenchError(f"{label}: no preset files (expected folders {', '.join(kinds)} of YAML files)")
    return out


def load_user_presets(
    entries: list[str | Path], base_dir: Path | None = None, where: str = "presets"
) -> UserPresets:
    """Read the preset files and folders ``entries`` (relative to ``base_dir``) and check them all.

    A name given twice, or a built-in name without ``replaces: true``, is an error naming both.
    """
    out = UserPresets()
    for i, entry in enumerate(entries):
        if not isinstance(entry, str | Path) or not str(entry):
            raise SplitbenchError(f"{where}[{i}]: must be a file or folder path, got {entry!r}")
        p = Path(entry)
        path = p if p.is_absolute() or base_dir is None else base_dir / p
        for kind, f in _files_under(path, _label(path)):
            pf = read_preset_file(f, kind)
            table = TABLES[kind]
            seen = out.files.setdefault(kind, {})
            if pf.name in seen:
                raise SplitbenchError(
                    f"{pf.label}: {table.noun} {pf.name!r} is also defined in {seen[pf.name].label}"
                )
            if pf.name in table.builtin_names() and not pf.replaces:
                raise SplitbenchError(
                    f"{pf.label}: {pf.name!r} is a built-in {table.noun} preset "
                    "(say replaces: true to replace it)"
                )
            if pf.replaces and pf.name not in table.builtin_names():
                raise SplitbenchError(f"{pf.label}: replaces: there is no built-in {table.noun} {pf.name!r}")
            seen[pf.name] = pf
    return out.check()
