"""The paradigm registry: every split-model class with a ``name`` in the modules of this package.

A paradigm is one class (see :class:`~splitbench.models.paradigms.base.SplitModel` for what it
declares); adding one is adding a module here, with its tests. Nothing outside the class names a
paradigm: suites, ``splitbench list methods``, ``verify``, labels, and the reports' colours and
order all come from the registry. A paradigm defined elsewhere joins with :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

from splitbench import SplitbenchError

if TYPE_CHECKING:
    from splitbench.models.paradigms.base import SplitModel

_REGISTERED: dict[str, type[SplitModel]] = {}


def _named_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        if sub.__dict__.get("name"):
            out.append(sub)
        out += _named_subclasses(sub)
    return out


@cache
def _discovered() -> dict[str, type[SplitModel]]:
    from splitbench.models.paradigms.base import SplitModel

    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")
    out: dict[str, type[SplitModel]] = {}
    for c in _named_subclasses(SplitModel):
        if not c.__module__.startswith(__name__ + "."):
            continue
        if c.name in out and out[c.name] is not c:
            where = f"{out[c.name].__module__}, {c.__module__}"
            raise SplitbenchError(f"paradigm {c.name!r}: defined twice ({where})")
        out[c.name] = c
    return out


def paradigms() -> dict[str, type[SplitModel]]:
    """Name -> paradigm class, in display order (``order``, then name)."""
    found = {**_discovered(), **_REGISTERED}
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def register(cls: type[SplitModel]) -> type[SplitModel]:
    """Add a paradigm defined outside this package (usable as a class decorator)."""
    if not cls.name:
        raise SplitbenchError(f"paradigm {cls.__name__}: has no name")
    known = paradigms()
    if cls.name in known and known[cls.name] is not cls:
        raise SplitbenchError(f"paradigm {cls.name!r}: already defined by {known[cls.name].__module__}")
    _REGISTERED[cls.name] = cls
    return cls


def get(name: Any) -> type[SplitModel]:
    """The paradigm called ``name``, or a SplitbenchError listing the known ones."""
    known = paradigms()
    if name not in known:
        raise SplitbenchError(f"method.name: unknown method {name!r} (known: {', '.join(known)})")
    return known[name]


def __getattr__(name: str) -> Any:
    if name == "PARADIGMS":
        return paradigms()
    if name == "SplitModel":
        from splitbench.models.paradigms.base import SplitModel

        return SplitModel
    raise AttributeError(name)


__all__ = ["PARADIGMS", "SplitModel", "get", "paradigms", "register"]
