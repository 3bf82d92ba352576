"""pytest plugin (entry point ``pytest11``): assert on simulated split-inference performance.

Installed with splitbench, so any project's test suite can write::

    def test_privatelora_is_fast_enough_on_5g(splitbench_scenario):
        m = splitbench_scenario(model="llama2-7b", method="privatelora", network="5g",
                                device="snapdragon-8gen3", cloud="a100-80g", new_tokens=64)
        assert m["decode_tok_s"] > 5

The fixture returns :func:`splitbench.harness.single.run_scenario`: it validates the fields exactly like a
suite entry (bad input raises :class:`splitbench.SplitbenchError`), builds shape-mode traces once
per process and returns the scenario's results.csv row as a dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def splitbench_scenario() -> Callable[..., dict[str, Any]]:
    """A callable ``run(model=, method=, network=, device=, cloud=, **fields) -> dict`` of metrics."""
    from splitbench.harness.single import run_scenario

    return run_scenario
