"""Imported once by the process pool's fork server, so workers start with torch and transformers loaded.

Why: importing transformers' model code costs seconds; a pool of spawned workers would pay it once
per worker. A fork server (a clean single-threaded process, unlike the parent, which may run tqdm
or Dask threads) imports this module once and forks every worker from it.
"""

from __future__ import annotations

import contextlib
import importlib

import splitbench.harness.tasks  # noqa: F401
import splitbench.models  # noqa: F401
import splitbench.netsim  # noqa: F401

for _mod in (
    "transformers.models.llama.modeling_llama",
    "transformers.models.mistral.modeling_mistral",
    "transformers.models.qwen2.modeling_qwen2",
):
    with contextlib.suppress(ImportError):
        importlib.import_module(_mod)
