"""Bad input anywhere: one line on stderr naming the field or file, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from splitbench.harness.cli import main

REPO = Path(__file__).resolve().parents[1]
BASE = """
name: bad
defaults: {prompt_tokens: 8, new_tokens: 4}
matrix:
  model: [tiny]
  method: [cloud-only]
  network: [NETWORK]
  device: [snapdragon-8gen3]
  cloud: [a100-80g]
"""


def suite(tmp_path: Path, network: str = "5g", text: str | None = None) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(text if text is not None else BASE.replace("NETWORK", network)))
    return p


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def assert_one_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("splitbench: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize(
    ("network", "needles"),
    [
        ("nope-net", ["matrix.network[0]", "unknown preset 'nope-net'"]),
        ("{base: 5g, up_mbps: 0}", ["matrix.network[0]", "up_mbps", "positive"]),
        ("{base: 5g, down_mbps: -5}", ["matrix.network[0]", "down_mbps"]),
        ("{base: 5g, upp_mbps: 5}", ["matrix.network[0]", "unknown key 'upp_mbps'"]),
        ("{base: 5g, trace_up: missing.up}", ["matrix.network[0]", "missing.up"]),
        ("{base: 5g, trace_up: bad.up}", ["matrix.network[0]", "bad.up"]),
    ],
)
def test_bad_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], network: str, needles: list[str]
) -> None:
    (tmp_path / "bad.up").write_text("12\nnot-a-number\n")
    code, err = run_cli(capsys, "run", str(suite(tmp_path, network)), "--out", str(tmp_path / "o"), "--quiet")
    assert code == 2
    assert_one_line(err, "suite.yaml", *needles)
    assert not (tmp_path / "o").exists()  # nothing written for bad input


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("model: [tiny]", "model: [gpt-17]", ["matrix.model[0]", "gpt-17"]),
        ("method: [cloud-only]", "method: [{name: privatelora, rnak: 8}]", ["matrix.method[0]", "rnak"]),
        ("device: [snapdragon-8gen3]", "device: [pixel-99]", ["matrix.device[0]", "pixel-99"]),
        ("cloud: [a100-80g]", "cloud: [{base: a100-80g, mem_eff: 0}]", ["matrix.cloud[0]", "mem_eff"]),
        ("new_tokens: 4", "new_tokens: 0", ["defaults.new_tokens", ">= 1"]),
        ("name: bad", "name: bad\nbogus: 1", ["bogus: unknown key"]),
        ("[tiny]", "[tiny", ["malformed YAML at line"]),
    ],
)
def test_bad_suite_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, needles: list[str]
) -> None:
    text = BASE.replace("NETWORK", "5g").replace(old, new)
    code, err = run_cli(capsys, "run", str(suite(tmp_path, text=text)), "--out", str(tmp_path / "o"))
    assert code == 2
    assert_one_line(err, "suite.yaml", *needles)


def test_bad_command_line_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = str(suite(tmp_path))
    code, err = run_cli(capsys, "run", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml: no such file" in err
    code, err = run_cli(capsys, "run", "no-such-builtin")
    assert code == 2 and "not a built-in suite" in err
    code, err = run_cli(capsys, "run", s, "--set", "new_tokens=0")
    assert code == 2
    assert_one_line(err, "new_tokens", ">= 1")
    code, err = run_cli(capsys, "run", s, "--set", "oops")
    assert code == 2
    assert_one_line(err, "--set oops", "KEY=VALUE")
    code, err = run_cli(capsys, "run", s, "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2
    assert_one_line(err, "--scheduler", "--executor dask")
    code, err = run_cli(capsys, "run", s, "--jobs", "0")
    assert code == 2 and "--jobs" in err  # argparse's own usage error
    code, err = run_cli(capsys, "report", str(tmp_path / "nowhere"))
    assert code == 2
    assert_one_line(err, "nowhere", "no such results directory")
    code, err = run_cli(capsys, "report", str(tmp_path))
    assert code == 2
    assert_one_line(err, "no results.csv")


def test_unreachable_scheduler_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    code, err = run_cli(
        capsys,
        "run",
        str(suite(tmp_path)),
        "--out",
        str(tmp_path / "o"),
        "--executor",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert time.monotonic() - t0 < 10
    assert code == 2
    assert_one_line(err, "--scheduler tcp://127.0.0.1:1", "cannot connect")
    assert not (tmp_path / "o").exists()


def test_netcheck_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--up-bytes", "100", "--down-bytes", "100", "--compute-ms", "1", "--rounds", "2"]
    code, err = run_cli(capsys, "netcheck", "--up-mbps", "0", "--down-mbps", "10", "--rtt-ms", "5", *common)
    assert code == 2
    assert_one_line(err, "--up-mbps", "positive")
    code, err = run_cli(capsys, "netcheck", "--down-mbps", "10", "--rtt-ms", "5", *common)
    assert code == 2
    assert_one_line(err, "--up-mbps: required")
    code, err = run_cli(capsys, "netcheck", "--network", "5g", "--trace-up", "/nonexistent.up", *common)
    assert code == 2
    assert_one_line(err, "/nonexistent.up")
    code, err = run_cli(capsys, "netcheck", "--network", "5g", *common[:-1], "0")
    assert code == 2
    assert_one_line(err, "--rounds", ">= 1")


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    """Through a real process: stderr is exactly one line and the exit status is 2."""
    p = suite(tmp_path, "{base: 5g, up_mbps: 0}")
    r = subprocess.run(
        [sys.executable, "-m", "splitbench.harness.cli", "run", str(p)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("splitbench: error: ")


def test_errors_inside_sweeps_name_their_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("NETWORK", "5g") + textwrap.dedent("""
    sweeps:
      - {name: s, model: tiny, methods: [cloud-only, {name: spa, widht: 3}], network: 5g,
         device: m2, cloud: a100-80g, vary: rtt_ms, values: [0, 10]}
    """)
    code, err = run_cli(capsys, "run", str(suite(tmp_path, text=text)), "--out", str(tmp_path / "o"))
    assert code == 2
    assert_one_line(err, "sweeps[0].methods[1]", "widht")
    code, err = run_cli(
        capsys,
        "run",
        str(
            suite(
                tmp_path,
                text=text.replace("widht: 3", "side_width: 3").replace("values: [0, 10]", "values: [0, -10]"),
            )
        ),
    )
    assert code == 2
    assert_one_line(err, "sweeps[0]", "rtt_ms")
