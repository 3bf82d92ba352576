"""Imported once by the process pool's fork server, so workers start with torch and transformers loaded.

Why: importing transformers' model code costs seconds; a pool of spawned workers would pay it once
per worker. A fork server (a clean single-threaded process, unlike the parent, which may run tqdm
or Dask threads) imports this module once and forks every worker from it.

The cyclic garbage collector is off while the modules load (the imports allocate hundreds of
thousands of long-lived objects, and the collections it would run meanwhile find nothing to free:
about a sixth of the import time), and what they allocated is then frozen (``gc.freeze``): the
workers' collections never walk the imported modules' objects, and leave their pages shared with
the fork server.
"""

from __future__ import annotations

import contextlib
import gc
import importlib

gc.disable()
try:
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
finally:
    gc.freeze()
    gc.enable()
