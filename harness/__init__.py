"""splitbench harness: suites, the runner, results files and the ``splitbench`` command line.

Public API for scripts and notebooks::

    from splitbench.harness import load_suite, run_suite, run_scenario
    summary = run_suite(load_suite("quick"), "out/quick")
    metrics = run_scenario(model="llama2-7b", method="privatelora", network="5g",
                           device="snapdragon-8gen3", cloud="a100-80g", new_tokens=64)
"""

from __future__ import annotations

__all__ = ["__version__", "load_suite", "run_suite", "run_scenario"]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("splitbench")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.1.0"


def __getattr__(name: str):  # lazy: `import harness` (and `splitbench --help`) stays cheap
    if name == "__version__":  # importlib.metadata alone costs `splitbench run` a tenth of a second
        version = globals()["__version__"] = _version()
        return version
    if name == "load_suite":
        from .suite import load_suite

        return load_suite
    if name == "run_suite":
        from .runner import run_suite

        return run_suite
    if name == "run_scenario":
        from .single import run_scenario

        return run_scenario
    raise AttributeError(name)
