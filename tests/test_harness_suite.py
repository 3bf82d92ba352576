"""Suite files: schema validation (unknown keys are errors), expansion, defaults and --set overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from splitbench import SplitbenchError
from splitbench.harness.schema import SUITE_SCHEMA, validate_suite
from splitbench.harness.suite import apply_overrides, builtin_suites, load_suite, parse_set

ISSUE_EXAMPLE = """
name: my-study
seed: 0
defaults: {prompt_tokens: 128, new_tokens: 128, act_dtype: fp16}
matrix:                      # Cartesian product of every list
  model: [llama2-7b, llama2-13b]
  method: [device-only, cloud-only, {name: privatelora, rank: 128}, {name: spa, gate_rate: 1.0}]
  network: [4g, 5g, wifi6, {base: 5g, rtt_ms: 10}]
  device: [snapdragon-8gen3]
  cloud: [a100-80g]
scenarios:                   # optional explicit list, appended to the matrix
  - {model: llama2-7b, method: cloud-only, network: wifi6, device: m2, cloud: h100-sxm}
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_issue_example_expands_to_the_cartesian_product_plus_explicit(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, ISSUE_EXAMPLE))
    assert suite.name == "my-study"
    assert len(suite.scenarios) == 2 * 4 * 4 * 1 * 1 + 1
    first, last = suite.scenarios[0].fields, suite.scenarios[-1].fields
    assert first == {
        "model": "llama2-7b",
        "method": "device-only",
        "network": "4g",
        "device": "snapdragon-8gen3",
        "cloud": "a100-80g",
        "prompt_tokens": 128,
        "new_tokens": 128,
        "act_dtype": "fp16",
        "seed": 0,
    }
    assert last["device"] == "m2" and last["cloud"] == "h100-sxm" and last["new_tokens"] == 128
    # The matrix varies the first key slowest, like itertools.product.
    assert [s.fields["network"] for s in suite.scenarios[:5]] == [
        "4g",
        "5g",
        "wifi6",
        {"base": "5g", "rtt_ms": 10},
        "4g",
    ]


def test_builtin_quick_suite_is_package_data_and_valid() -> None:
    assert "quick" in builtin_suites()
    suite = load_suite("quick")
    methods = {
        s.fields["method"] if isinstance(s.fields["method"], str) else s.fields["method"]["name"]
        for s in suite.scenarios
    }
    assert {"device-only", "cloud-only", "privatelora", "spa"} <= methods
    assert suite.sweeps and suite.sweeps[0].vary in ("rtt_ms", "up_mbps")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nmatrx: {model: [tiny]}\n", ": matrx: unknown key (allowed: defaults, description, matrix"),
        ("name: x\nmatrix: {model: [tiny], netwrk: [5g]}\n", "matrix.netwrk: unknown key"),
        ("name: x\nscenarios: [{model: tiny, new_token: 3}]\n", "scenarios[0].new_token: unknown key"),
        (
            "name: x\ndefaults: {new_tokens: 0}\nmatrix: {model: [tiny]}\n",
            "defaults.new_tokens: must be >= 1, got 0",
        ),
        ("name: x\nmatrix: {new_tokens: [8, 0]}\n", "matrix.new_tokens[1]: must be >= 1, got 0"),
        ("name: x\nscenarios: [{new_tokens: -3}]\n", "scenarios[0].new_tokens: must be >= 1, got -3"),
        ("name: x\nmatrix: {act_dtype: [fp8]}\n", "matrix.act_dtype[0]: must be one of"),
        ("name: x\nmatrix: {model: []}\n", "matrix.model: must not be empty"),
        ("name: x\nmatrix: {network: [5]}\n", "matrix.network[0]: must be a preset name or a mapping"),
        ("name: x\nseed: -1\nmatrix: {model: [tiny]}\n", "seed: must be >= 0"),
        ("name: x\n", "at least one of 'matrix', 'scenarios' or 'sweeps'"),
        ("- a\n- b\n", "a suite must be a YAML mapping"),
        (
            "name: x\nsweeps: [{name: s, methods: [spa], vary: mss_bytes, values: [0.1]}]\n",
            "sweeps[0].vary: must be one of",
        ),
        (
            "name: x\nsweeps: [{name: s, methods: [spa], vary: rtt_ms}]\n",
            "sweeps[0]: missing required key 'values'",
        ),
        ("name: 'my study'\nmatrix: {model: [tiny]}\n", "name: may contain only"),
    ],
)
def test_schema_errors_name_the_path(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SplitbenchError) as e:
        load_suite(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    assert expected in msg


def test_missing_required_field_after_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nmatrix: {model: [tiny], method: [spa], network: [5g], device: [m2]}\n")
    with pytest.raises(SplitbenchError, match=r"missing field 'cloud'"):
        load_suite(path)


def test_malformed_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nmatrix: {model: [tiny\n")
    with pytest.raises(SplitbenchError, match=r"suite.yaml: malformed YAML at line \d+, column \d+"):
        load_suite(path)


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(SplitbenchError, match="no such file"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(SplitbenchError, match="not a built-in suite"):
        load_suite("no-such-suite")


def test_set_forces_scenario_fields_everywhere(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    suite = load_suite(path, parse_set(["new_tokens=7", "matrix.model=[llama2-7b]", "seed=3"]))
    assert len(suite.scenarios) == 4 * 4 + 1
    assert {s.fields["new_tokens"] for s in suite.scenarios} == {7}
    assert {s.fields["seed"] for s in suite.scenarios} == {3}


def test_set_rejects_bad_syntax_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(SplitbenchError, match="expected KEY=VALUE"):
        parse_set(["new_tokens"])
    with pytest.raises(SplitbenchError, match="defaults.new_tokens: must be >= 1, got 0"):
        load_suite(write(tmp_path, ISSUE_EXAMPLE), parse_set(["new_tokens=0"]))
    with pytest.raises(SplitbenchError, match="seed is not a mapping"):
        apply_overrides({"seed": 1}, [("seed.x", 2)])


def test_set_does_not_modify_the_original_document() -> None:
    doc = {"name": "x", "matrix": {"new_tokens": [1, 2], "model": ["tiny"]}}
    out = apply_overrides(doc, [("new_tokens", 5)])
    assert doc["matrix"]["new_tokens"] == [1, 2]
    assert out["defaults"]["new_tokens"] == 5 and "new_tokens" not in out["matrix"]


def test_schema_is_a_valid_json_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(SUITE_SCHEMA)
    validate_suite({"name": "ok", "scenarios": [{"model": "tiny"}]}, "inline")
