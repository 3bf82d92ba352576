"""The pytest plugin: installed via the pytest11 entry point, its fixture runs one scenario."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from splitbench import SplitbenchError

USER_TEST = """
import pytest
from splitbench import SplitbenchError

def test_privatelora_beats_nothing(splitbench_scenario):
    m = splitbench_scenario(model="tiny", method={"name": "privatelora", "rank": 8}, network="5g",
                            device="snapdragon-8gen3", cloud="a100-80g", prompt_tokens=8, new_tokens=4)
    assert m["feasible"] and m["decode_tok_s"] > 0
    assert m["data_leaving_device"] == "activations"

def test_a_threshold_that_fails(splitbench_scenario):
    m = splitbench_scenario(model="tiny", method="cloud-only", network="4g",
                            device="snapdragon-8gen3", cloud="a100-80g", prompt_tokens=8, new_tokens=4)
    assert m["decode_tok_s"] > 1e9

def test_bad_input_raises(splitbench_scenario):
    with pytest.raises(SplitbenchError, match="new_tokens"):
        splitbench_scenario(model="tiny", method="cloud-only", network="5g", device="m2", cloud="a100-80g",
                            new_tokens=0)
"""


def test_plugin_is_registered_and_usable_from_a_users_test_suite(tmp_path: Path) -> None:
    """Run from a user's repository that has packages of its own named like our rooms: ``python -m
    pytest`` puts that repository first on sys.path, so only one import root keeps ours reachable."""
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    for room in ("models", "reports", "harness", "netsim"):
        (tmp_path / room).mkdir()
        (tmp_path / room / "__init__.py").write_text(f"USERS_OWN = {room!r}\n")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = r.stdout[-3000:]
    assert "1 failed, 2 passed" in tail, tail
    assert "test_a_threshold_that_fails" in tail
    assert "ImportError" not in tail


def test_fixture_returns_the_results_row(splitbench_scenario) -> None:
    kw = dict(
        model="tiny", network="5g", device="snapdragon-8gen3", cloud="a100-80g", prompt_tokens=8, new_tokens=4
    )
    plora = splitbench_scenario(method={"name": "privatelora", "rank": 8}, **kw)
    cloud = splitbench_scenario(method="cloud-only", **kw)
    assert plora["method_label"] == "privatelora r=8"
    assert plora["comm_reduction_pct"] > 0 and cloud["comm_reduction_pct"] is None
    assert plora["decode_tok_s"] == pytest.approx(1 / plora["tpot_s"])
    assert plora["scenario_id"] != cloud["scenario_id"]
    # Same inputs, same numbers (the in-process trace cache does not change results).
    assert splitbench_scenario(method={"name": "privatelora", "rank": 8}, **kw) == plora
    with pytest.raises(SplitbenchError, match="unknown preset"):
        splitbench_scenario(method="cloud-only", **{**kw, "network": "6g"})
