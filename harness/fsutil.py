"""Atomic file writes.

Why: a run can be interrupted at any moment (Ctrl-C, a killed CI job, a lost Dask worker). Every
file the harness writes goes to a temporary file in the same directory and is then renamed over
the target with ``os.replace``, which is atomic on POSIX and Windows. A reader therefore sees
either the old file or the new one, never half of one, and a resumed run can trust every
``scenarios/<id>.json`` it finds.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that the file is either absent/old or complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def dumps_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, fixed indentation, trailing newline — byte-stable across runs."""
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, dumps_json(obj))
