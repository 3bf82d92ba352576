"""The command line's happy paths: --help everywhere, --version, list, run, report, netcheck, verify."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest

from splitbench.harness.cli import COMMANDS, main

SUITE = """
name: cli-tiny
defaults: {prompt_tokens: 8, new_tokens: 4}
matrix:
  model: [tiny]
  method: [device-only, cloud-only, {name: privatelora, rank: 8}, {name: spa, gate: always}]
  network: [5g]
  device: [snapdragon-8gen3]
  cloud: [a100-80g]
sweeps:
  - {name: up, methods: [cloud-only, {name: privatelora, rank: 8}], model: tiny, network: 5g,
     device: snapdragon-8gen3, cloud: a100-80g, vary: up_mbps, values: [5, 50]}
"""


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_on_every_subcommand(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command, "--help"] if command else ["--help"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: splitbench")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from splitbench.harness import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"splitbench {__version__}"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("models", ["llama2-7b", "tiny", "source"]),
        ("methods", ["privatelora", "rank=128"]),
        ("networks", ["4g", "paper-5g", "Ookla"]),
        ("profiles", ["a100-80g", "snapdragon-8gen3", "host"]),
        ("suites", ["quick"]),
    ],
)
def test_list_sections(section: str, expected: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", section]) == 0
    out = capsys.readouterr().out
    for e in expected:
        assert e in out


def test_list_all_has_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for s in ("models", "methods", "networks", "profiles", "suites"):
        assert f"== {s} ==" in out


def test_run_then_report_then_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(SUITE))
    out = tmp_path / "out"
    assert main(["run", str(p), "--out", str(out), "--set", "new_tokens=3"]) == 0
    stdout = capsys.readouterr().out
    assert "cli-tiny: 4 scenarios, 4 sweep points — 8 run, 0 resumed" in stdout
    assert f"report: {out / 'report.md'}" in stdout
    assert (out / "report.md").is_file()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["new_tokens"] for r in rows} == {"3"}
    sweeps = list(csv.DictReader(open(out / "sweeps.csv")))
    assert {r["vary"] for r in sweeps} == {"up_mbps"} and len(sweeps) == 4
    # Quiet rerun resumes and prints only where the report is.
    assert main(["run", str(p), "--out", str(out), "--set", "new_tokens=3", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out / 'report.md'}"
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").is_file()
    capsys.readouterr()
    assert main(["compare", str(out / "results.csv"), str(out / "results.csv")]) == 0


def test_default_out_dir_is_under_splitbench_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(SUITE).split("sweeps:")[0])
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(p), "--no-report", "--set", "matrix.method=[cloud-only]"]) == 0
    assert (tmp_path / "splitbench-out" / "cli-tiny" / "results.csv").is_file()


def test_netcheck_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "netcheck",
        "--up-mbps",
        "10",
        "--down-mbps",
        "40",
        "--rtt-ms",
        "50",
        "--transport",
        "ideal",
        "--up-bytes",
        "1250",
        "--down-bytes",
        "5000",
        "--compute-ms",
        "2",
        "--rounds",
        "4",
    ]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # Hand formula for an ideal link: per round = up/rate + down/rate + RTT + compute.
    per_round = 1250 * 8 / 10e6 + 5000 * 8 / 40e6 + 0.050 + 0.002
    assert result["completion_s"] == pytest.approx(4 * per_round, rel=0.02)
    assert main(args) == 0
    out = capsys.readouterr().out
    for key in ("completion_s", "handshake_s", "per_round_s", "up_wire_bytes", "down_wire_bytes"):
        assert key in out


def test_verify_tiny_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["method", "max"]
    for m in ("privatelora", "lora-split", "spa", "layer-split"):
        assert m in out
    assert " NO" not in out


def _python(code: str) -> str:
    """The standard output of ``code`` run by a fresh interpreter on this checkout."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(root)}).stdout


def test_cli_process_freezes_its_heap_at_exit() -> None:
    """By the time the interpreter ends, the heap a command left is frozen (no final walk of it), and
    the hook is registered once however often main runs in the process."""
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"  # runs last
        "from splitbench.harness.cli import main\n"
        "main(['--version']); main(['--version'])\n"
        "print('frozen before exit:', gc.get_freeze_count() > 0)\n"
        "print('exit hooks:', atexit._ncallbacks())\n"
    )
    out = _python(code)
    assert "frozen before exit: False" in out
    assert "exit hooks: 2" in out  # the test's own and the CLI's
    assert "frozen at exit: True" in out


def test_command_line_reads_its_version_only_when_asked() -> None:
    """Parsing a command imports no importlib.metadata (a tenth of a second before ``run`` can start
    its pool's fork server); ``--version`` still prints the installed version."""
    code = (
        "import sys\n"
        "from splitbench.harness.cli import build_parser\n"
        "build_parser().parse_args(['run', 'quick'])\n"
        "print('metadata imported:', 'importlib.metadata' in sys.modules)\n"
    )
    out = _python(code)
    assert "metadata imported: False" in out
