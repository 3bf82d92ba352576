"""End to end: a tiny suite through the real models/ traces and netsim/ simulation.

Covers the results directory layout, resume (finished scenarios are skipped, changed ones re-run,
a killed run loses nothing), determinism across executors, infeasible rows and sweeps.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from splitbench.harness.runner import run_suite
from splitbench.harness.suite import load_suite
from tests.chrome_trace import check_chrome_trace

SUITE = """
name: tiny-study
seed: 3
defaults: {prompt_tokens: 16, new_tokens: 6}
matrix:
  model: [tiny]
  method: [device-only, cloud-only, {name: privatelora, rank: 8}, {name: spa, gate: rate, gate_rate: 0.5},
           {name: lora-split, rank: 4}, layer-split]
  network: [5g, {base: wifi6, rtt_ms: 4}]
  device: [snapdragon-8gen3]
  cloud: [a100-80g]
scenarios:
  - {model: tiny, method: device-only, network: 5g, device: {base: rpi5, mem_gb: 0.000001}, cloud: a100-80g}
sweeps:
  - {name: rtt, model: tiny, methods: [cloud-only, {name: privatelora, rank: 8}], network: 5g,
     device: snapdragon-8gen3, cloud: a100-80g, vary: rtt_ms, values: [0, 40]}
"""

N_SCENARIOS = 6 * 2 + 1
REPO = Path(__file__).resolve().parents[1]


def write_suite(tmp: Path, text: str = SUITE) -> Path:
    p = tmp / "suite.yaml"
    p.write_text(textwrap.dedent(text))
    return p


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    s = run_suite(load_suite(write_suite(tmp)), tmp / "out", render_report=False)
    assert s.n_run == N_SCENARIOS + 4 and s.n_resumed == 0
    return tmp / "out"


def read_csv(p: Path) -> list[dict[str, str]]:
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def test_layout_and_rows(run_dir: Path) -> None:
    for name in ("results.csv", "scenarios.yaml", "sweeps.csv", "meta.json"):
        assert (run_dir / name).is_file(), name
    rows = read_csv(run_dir / "results.csv")
    assert len(rows) == N_SCENARIOS
    assert [r["scenario_id"] for r in rows] == sorted(r["scenario_id"] for r in rows)
    by_method = {r["method"]: r for r in rows if r["network"] == "5g" and r["feasible"] == "true"}
    assert set(by_method) == {"device-only", "cloud-only", "privatelora", "spa", "lora-split", "layer-split"}
    assert by_method["device-only"]["data_leaving_device"] == "nothing"
    assert by_method["privatelora"]["data_leaving_device"] == "activations"
    assert by_method["cloud-only"]["data_leaving_device"] == "tokens"
    # comm_reduction applies to the adapter methods only.
    assert float(by_method["privatelora"]["comm_reduction_pct"]) > 0
    assert by_method["device-only"]["comm_reduction_pct"] == ""
    assert by_method["layer-split"]["comm_reduction_pct"] == ""
    # device-only sends nothing; privatelora exchanges once per layer (tiny: 4 layers) per token.
    assert float(by_method["device-only"]["up_bytes_per_token"]) == 0
    assert float(by_method["device-only"]["round_trips_per_token"]) == 0
    assert float(by_method["privatelora"]["round_trips_per_token"]) >= 4
    for r in by_method.values():
        assert float(r["speedup_vs_device_only"]) > 0 and float(r["share_of_cloud_only_pct"]) > 0
        assert float(r["decode_tok_s"]) == pytest.approx(1 / float(r["tpot_s"]), rel=1e-5)
        assert float(r["e2e_s"]) >= float(r["ttft_s"])
        assert float(r["up_wire_bytes"]) >= float(r["up_bytes"])
    assert float(by_method["device-only"]["speedup_vs_device_only"]) == 1.0
    assert "wifi6[rtt_ms=4]" in {r["network"] for r in rows}


def test_infeasible_scenario_is_a_row_not_a_crash(run_dir: Path) -> None:
    rows = [r for r in read_csv(run_dir / "results.csv") if r["feasible"] == "false"]
    assert len(rows) == 1
    (r,) = rows
    assert r["device"] == "rpi5[mem_gb=1e-06]"
    assert "device" in r["infeasible_reason"] and "GB" in r["infeasible_reason"]
    assert r["decode_tok_s"] == "" and r["speedup_vs_device_only"] == ""


def test_scenarios_yaml_is_fully_resolved(run_dir: Path) -> None:
    doc = yaml.safe_load((run_dir / "scenarios.yaml").read_text())
    assert doc["suite"] == "tiny-study" and len(doc["scenarios"]) == N_SCENARIOS
    sc = doc["scenarios"][0]
    assert set(sc["resolved"]) == {"model", "method", "network", "device", "cloud", "radio", "soc_power"}
    assert sc["resolved"]["radio"]["source"]["tail"] and sc["resolved"]["soc_power"]["source"]["decode_w"]
    assert sc["resolved"]["network"]["up_mbps"] > 0 and sc["resolved"]["network"]["source"]
    assert sc["resolved"]["device"]["source"] and "config" in sc["resolved"]["model"]
    assert sc["seed"] == 3


def test_timelines(run_dir: Path) -> None:
    rows = read_csv(run_dir / "results.csv")
    feasible = [r for r in rows if r["feasible"] == "true"]
    for r in feasible:
        t = json.loads((run_dir / "timelines" / f"{r['scenario_id']}.json").read_text())
        assert t["scenario_id"] == r["scenario_id"]
        assert len(t["token_latencies_s"]) == int(r["new_tokens"])
        assert t["token_latencies_s"][0] == pytest.approx(float(r["ttft_s"]), rel=1e-5)
        assert all({"lane", "label", "start", "end"} <= set(e) for e in t["decode_step"])
        assert all(e["lane"] in ("device", "cloud", "up", "down") for e in t["decode_step"])
        assert min(e["start"] for e in t["decode_step"]) >= 0
        chrome = json.loads((run_dir / "timelines" / f"{r['scenario_id']}.trace.json").read_text())
        by = check_chrome_trace(chrome)
        first = (int(r["new_tokens"]) - 1) // 2 + 1  # the decode step of timeline_record, and after it
        assert by["i"][0]["name"] == f"token {first + 1}"


def test_sweeps_csv(run_dir: Path) -> None:
    rows = read_csv(run_dir / "sweeps.csv")
    assert len(rows) == 2 * 2
    assert {r["vary"] for r in rows} == {"rtt_ms"} and {r["network"] for r in rows} == {"5g"}
    def by_rtt(method: str, col: str) -> list[float]:
        return [float(r[col]) for r in sorted(rows, key=lambda r: float(r["value"])) if r["method"] == method]

    # Cloud-only streams its tokens: the cloud computes the next token while the previous one travels,
    # so more RTT delays the first token but not the decode rate.
    ttft, tok_s = by_rtt("cloud-only", "ttft_s"), by_rtt("cloud-only", "decode_tok_s")
    # one more round trip of 40 ms; the 5g preset's delay varies around its median (4 ms per direction)
    assert ttft[1] - ttft[0] == pytest.approx(0.040, abs=0.016)
    assert tok_s[1] == pytest.approx(tok_s[0], rel=0.02)
    # PrivateLoRA waits on a round trip per layer: more RTT, slower decode
    plora = by_rtt("privatelora", "decode_tok_s")
    assert plora[0] > 2 * plora[1]


def test_rerun_resumes_everything_and_is_byte_identical(run_dir: Path, tmp_path: Path) -> None:
    before = (run_dir / "results.csv").read_bytes()
    suite_path = run_dir.parent / "suite.yaml"
    s = run_suite(load_suite(suite_path), run_dir, render_report=False)
    assert s.n_run == 0 and s.n_resumed == N_SCENARIOS + 4
    assert (run_dir / "results.csv").read_bytes() == before


def test_changed_scenario_and_lost_record_are_rerun(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    import shutil

    shutil.copytree(run_dir, out)
    before = (out / "results.csv").read_bytes()
    victim = sorted((out / "scenarios").glob("*.json"))[0]
    victim.unlink()
    (out / "results.csv").unlink()
    s = run_suite(load_suite(run_dir.parent / "suite.yaml"), out, render_report=False)
    assert s.n_run == 1 and (out / "results.csv").read_bytes() == before
    # A record whose resolved scenario differs (e.g. a preset changed since) is not trusted.
    rec = json.loads(victim.read_text())
    rec["scenario"]["resolved"]["network"]["up_mbps"] += 1
    victim.write_text(json.dumps(rec))
    s = run_suite(load_suite(run_dir.parent / "suite.yaml"), out, render_report=False)
    assert s.n_run == 1 and (out / "results.csv").read_bytes() == before


def test_same_results_with_process_pool_and_dask(run_dir: Path, tmp_path: Path) -> None:
    suite = load_suite(run_dir.parent / "suite.yaml")
    expected = (run_dir / "results.csv").read_bytes()
    expected_sweeps = (run_dir / "sweeps.csv").read_bytes()
    run_suite(suite, tmp_path / "jobs2", jobs=2, render_report=False)
    assert (tmp_path / "jobs2" / "results.csv").read_bytes() == expected
    assert (tmp_path / "jobs2" / "sweeps.csv").read_bytes() == expected_sweeps
    run_suite(suite, tmp_path / "dask", jobs=1, executor="dask", dask_processes=False, render_report=False)
    assert (tmp_path / "dask" / "results.csv").read_bytes() == expected
    assert (tmp_path / "dask" / "sweeps.csv").read_bytes() == expected_sweeps


def test_different_seed_changes_ids_not_format(run_dir: Path, tmp_path: Path) -> None:
    from splitbench.harness.suite import parse_set

    suite = load_suite(run_dir.parent / "suite.yaml", parse_set(["seed=4", "matrix.method=[cloud-only]"]))
    run_suite(suite, tmp_path / "o", render_report=False)
    ids = {r["scenario_id"] for r in read_csv(tmp_path / "o" / "results.csv")}
    assert not ids & {r["scenario_id"] for r in read_csv(run_dir / "results.csv")}


def _descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (from /proc's parent links)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        return "Z" not in (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
    except OSError:
        return False


def test_killed_run_loses_nothing_that_finished(tmp_path: Path) -> None:
    """SIGKILL a run mid-way: every scenario record on disk is complete JSON and is reused on rerun."""
    suite = write_suite(tmp_path, SUITE.replace("new_tokens: 6", "new_tokens: 40"))
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "splitbench.harness.cli",
        "run",
        str(suite),
        "--out",
        str(out),
        "--no-report",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "scenarios").glob("*.json"))) < 3:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    helpers = _descendants(proc.pid)  # the pool's fork server and workers
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and [p for p in helpers if _alive(p)]:
        time.sleep(0.1)
    assert not [p for p in helpers if _alive(p)], "the killed run left processes behind"
    finished = sorted((out / "scenarios").glob("*.json"))
    assert finished, "the run was killed before any scenario finished"
    for f in finished:
        json.loads(f.read_text())  # complete, never half-written
    # A kill during a write can leave a hidden temporary file, never a partial target file.
    assert all(p.name.startswith(".") for p in out.rglob("*.tmp"))
    s = run_suite(load_suite(suite), out, render_report=False)
    assert s.n_resumed >= len(finished)
    assert s.n_run + s.n_resumed == N_SCENARIOS + 4
    fresh = tmp_path / "fresh"
    run_suite(load_suite(suite), fresh, render_report=False)
    assert (out / "results.csv").read_bytes() == (fresh / "results.csv").read_bytes()


def test_method_label_names_a_method_without_changing_it(tmp_path: Path) -> None:
    text = """
    name: labels
    defaults: {prompt_tokens: 8, new_tokens: 2, model: tiny, network: 5g, device: m2, cloud: a100-80g}
    matrix:
      method: [{name: lora-split, label: "LoRA^S", rank: 4}, {name: lora-split, rank: 4}]
    """
    run_suite(load_suite(write_suite(tmp_path, text)), tmp_path / "out", render_report=False)
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert sorted(r["method_label"] for r in rows) == ["LoRA^S", "lora-split r=4"]
    a, b = rows
    # the label is display-only: the same method gives the same numbers
    assert {k: v for k, v in a.items() if k not in ("scenario_id", "method_label")} == {
        k: v for k, v in b.items() if k not in ("scenario_id", "method_label")
    }


def test_empty_method_label_is_bad_input(tmp_path: Path) -> None:
    from splitbench import SplitbenchError

    text = """
    name: labels
    defaults: {prompt_tokens: 8, new_tokens: 2, model: tiny, network: 5g, device: m2, cloud: a100-80g}
    matrix: {method: [{name: lora-split, label: "", rank: 4}]}
    """
    with pytest.raises(SplitbenchError, match="method.label"):
        run_suite(load_suite(write_suite(tmp_path, text)), tmp_path / "out", render_report=False)


def test_split_traces_wait_for_the_cloud_only_trace_and_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace that borrows its whole-model totals (every split) is submitted once the cloud-only
    trace of its model is built, with that trace: whichever process builds it never builds the
    cloud-only trace again. The split is listed first, so it would otherwise go first."""
    from splitbench.harness import executors
    from splitbench.harness.tasks import TraceJob
    from splitbench.models import build

    submitted: list[object] = []
    stream = executors.Executor.stream

    def recording(self, fn):
        s = stream(self, fn)
        submit = s.submit
        s.submit = lambda item, tag: (submitted.append(item), submit(item, tag))
        return s

    def no_rebuild(*args):
        raise AssertionError("the cloud-only trace was built again")

    monkeypatch.setattr(executors.Executor, "stream", recording)
    monkeypatch.setattr(build, "_build_cloud_only", no_rebuild)
    monkeypatch.setattr(build, "_CLOUD_ONLY", {})
    suite = write_suite(tmp_path, """
        name: lend
        defaults: {prompt_tokens: 8, new_tokens: 3}
        matrix:
          model: [tiny]
          method: [{name: privatelora, rank: 8}, device-only, cloud-only]
          network: [5g]
          device: [snapdragon-8gen3]
          cloud: [a100-80g]
    """)
    run_suite(load_suite(suite), tmp_path / "out", render_report=False)
    jobs = [j for j in submitted if isinstance(j, TraceJob)]
    names = [j.method["name"] for j in jobs]
    # lora-split: privatelora's reference; device-only: also the profile's calibration trace
    assert sorted(set(names)) == ["cloud-only", "device-only", "lora-split", "privatelora"]
    (cloud,) = [j for j in jobs if j.method["name"] == "cloud-only"]
    text = (tmp_path / "out" / "traces" / f"{cloud.key}.json").read_text(encoding="utf-8")
    for j in jobs:
        borrows = j.method["name"] in ("privatelora", "lora-split")
        assert j.lent == ((text,) if borrows else ())
        assert not borrows or jobs.index(j) > jobs.index(cloud)
