"""Presets as data: the built-in files, and a user's own presets used by name like built-in ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from splitbench import SplitbenchError
from splitbench.harness.cli import main
from splitbench.harness.runner import run_suite
from splitbench.harness.suite import load_presets, load_suite
from splitbench.models import MODEL_PRESETS
from splitbench.models.presets import TABLES, using
from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, resolve_network, resolve_profile

REPO = Path(__file__).resolve().parents[1]

LAB_NET = """\
up_mbps: 12
down_mbps: 90
rtt_ms: 7
jitter_ms: 0.5
source: our lab's Wi-Fi, iperf3 medians over 20 runs [M]
"""
PHONE = """\
runtime: llama.cpp
mem_bw_gbps: 51.2
tflops: {fp16: 2.0}
mem_eff: 0.6
compute_eff: 0.4
kernel_overhead_us: 20
mem_gb: 8
usable_mem_frac: 0.5
source:
  mem_bw_gbps: vendor sheet [S]
  tflops: vendor sheet [S]
  mem_eff: our measurement [M]
  compute_eff: guess [I]
  kernel_overhead_us: guess [I]
  mem_gb: vendor sheet [S]
"""
SUITE = """\
name: mine-study
presets: [mine]
defaults: {prompt_tokens: 8, new_tokens: 3}
matrix:
  model: [tiny]
  method: [cloud-only, device-only]
  network: [lab-wifi]
  device: [my-phone]
  cloud: [a100-80g]
"""


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_builtin_files_load_with_a_source_for_every_preset() -> None:
    for kind, table in TABLES.items():
        files = table.builtin_files()
        assert files or kind == "methods", kind  # every paradigm is a method already: no method files
        for name, pf in files.items():
            assert pf.label.endswith(f"presets/{kind}/{name}.yaml")
            obj = table[name]
            src = obj.source
            assert src and all(s.strip() for s in (src.values() if isinstance(src, dict) else [src]))
    # listing order is each file's `order`, not the file name
    assert list(NETWORK_PRESETS)[:3] == ["4g", "4g-poor", "5g"]
    assert list(PROFILE_PRESETS)[-1] == "host"
    assert list(MODEL_PRESETS)[0] == "llama2-7b"


def test_profile_sources_name_their_fields() -> None:
    for name in PROFILE_PRESETS:
        if name == "host":
            continue
        p = PROFILE_PRESETS[name]
        for f in ("mem_bw_gbps", "tflops", "mem_gb"):
            assert any(tag in p.source[f] for tag in ("[S]", "[M]", "[I]")), (name, f)


def test_suite_presets_are_used_by_name_and_their_sources_reach_scenarios_yaml(tmp_path: Path) -> None:
    write(tmp_path, "mine/networks/lab-wifi.yaml", LAB_NET)
    write(tmp_path, "mine/profiles/my-phone.yaml", PHONE)
    suite = load_suite(write(tmp_path, "study.yaml", SUITE))
    s = run_suite(suite, tmp_path / "out", render_report=False)
    assert s.n_run == 2 and s.n_infeasible == 0
    doc = yaml.safe_load((tmp_path / "out" / "scenarios.yaml").read_text())
    for sc in doc["scenarios"]:
        assert sc["network"] == "lab-wifi" and sc["device"] == "my-phone"
        assert sc["resolved"]["network"]["rtt_ms"] == 7
        assert sc["resolved"]["network"]["source"] == "our lab's Wi-Fi, iperf3 medians over 20 runs [M]"
        assert sc["resolved"]["device"]["source"]["mem_eff"] == "our measurement [M]"
        assert sc["resolved"]["device"]["mem_bw_gbps"] == 51.2
    # the suite's presets are its own: outside it, the names are unknown again
    assert "lab-wifi" not in NETWORK_PRESETS
    with pytest.raises(SplitbenchError, match="unknown preset 'my-phone'"):
        resolve_profile("my-phone")


def test_base_and_overrides_and_replaces(tmp_path: Path) -> None:
    write(tmp_path, "p/networks/5g-near.yaml", "base: 5g\nrtt_ms: 10\nsource: edge site 10 ms [M]\n")
    write(tmp_path, "p/networks/5g-near-lossy.yaml", "base: 5g-near\nloss: 0.01\nsource: drive test [M]\n")
    write(tmp_path, "p/profiles/a100-80g.yaml",
          "replaces: true\nbase: a100-80g\nmem_eff: 0.5\nsource:\n  mem_eff: vLLM on our A100 [M]\n")
    user = load_presets([tmp_path / "p"], tmp_path)
    with using(user):
        near = resolve_network("5g-near")
        assert (near.rtt_ms, near.up_mbps) == (10, NETWORK_PRESETS["5g"].up_mbps)
        assert near.source.startswith("edge site 10 ms [M]; other fields as 5g: Ookla")
        lossy = NETWORK_PRESETS["5g-near-lossy"]
        assert (lossy.loss, lossy.rtt_ms) == (0.01, 10)
        a100 = resolve_profile("a100-80g")
        assert a100.mem_eff == 0.5 and a100.source["mem_eff"] == "vLLM on our A100 [M]"
        assert a100.source["mem_bw_gbps"].endswith("[S]")  # the base's sources for the other fields
        assert list(PROFILE_PRESETS).count("a100-80g") == 1
        assert list(NETWORK_PRESETS)[-2:] == ["5g-near", "5g-near-lossy"]
    assert resolve_profile("a100-80g").mem_eff == 0.35


@pytest.mark.parametrize(
    ("rel", "text", "needles"),
    [
        ("networks/5g.yaml", "up_mbps: 1\ndown_mbps: 1\nrtt_ms: 1\nsource: x [M]\n",
         ["networks/5g.yaml", "built-in network", "replaces: true"]),
        ("networks/lab.yaml", "up_mbps: -1\ndown_mbps: 1\nrtt_ms: 1\nsource: x [M]\n",
         ["networks/lab.yaml", "up_mbps", "positive"]),
        ("networks/lab.yaml", "up_mbps: 1\ndown_mbps: 1\nrtt_ms: 1\n", ["networks/lab.yaml", "source"]),
        ("networks/lab.yaml", "up_mbps: 1\ndown_mbps: 1\nrtt: 1\nsource: x [M]\n",
         ["networks/lab.yaml", "unknown key 'rtt'"]),
        ("networks/lab.yaml", "up_mbps: [1\n", ["networks/lab.yaml", "malformed YAML at line"]),
        ("profiles/ph.yaml", "base: m2\nmem_gb: 8\nsource:\n  mem_eff: x [M]\n",
         ["profiles/ph.yaml", "source.mem_gb", "required"]),
        ("networks/loop.yaml", "base: ok\nrtt_ms: 3\nsource: x [I]\n", ["loop.yaml", "cycle"]),
        ("gadgets/x.yaml", "a: 1\nsource: x\n", ["gadgets", "folder named after its kind"]),
        ("models/tiny2.yaml", "base: tiny\nhidden_size: 65\nsource: x [I]\n",
         ["models/tiny2.yaml", "hidden_size"]),
    ],
)
def test_bad_preset_files_are_one_line_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rel: str, text: str, needles: list[str]
) -> None:
    write(tmp_path, f"mine/{rel}", text)
    write(tmp_path, "mine/networks/ok.yaml", LAB_NET if "loop" not in rel else "base: loop\nsource: y [I]\n")
    suite = write(tmp_path, "study.yaml", SUITE.replace("lab-wifi", "ok").replace("my-phone", "m2"))
    code = main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


def test_command_line_presets_in_list_and_clash_between_user_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine/networks/lab-wifi.yaml", LAB_NET)
    write(tmp_path, "mine/profiles/my-phone.yaml", PHONE)
    assert main(["list", "networks", "--presets", "mine"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("lab-wifi"))
    assert "iperf3 medians over 20 runs [M]" in line and " 7 " in line
    assert main(["list", "profiles", "--presets", "mine/profiles"]) == 0
    assert "my-phone" in capsys.readouterr().out
    write(tmp_path, "more/networks/lab-wifi.yaml", LAB_NET)
    code = main(["list", "--presets", "mine", "--presets", "more"])
    err = capsys.readouterr().err
    assert code == 2 and "more/networks/lab-wifi.yaml" in err and "also defined in mine/networks" in err


def test_models_from_files(tmp_path: Path) -> None:
    write(tmp_path, "m/models/tiny-deep.yaml", "base: tiny\nnum_hidden_layers: 8\nsource: deeper tiny [I]\n")
    with using(load_presets([tmp_path / "m"], tmp_path)):
        p = MODEL_PRESETS["tiny-deep"]
        assert p.n_layers == 8 and p.hidden_size == MODEL_PRESETS["tiny"].hidden_size
        assert p.source.startswith("deeper tiny [I]; other fields as tiny")



def test_run_scenario_takes_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from splitbench.harness.single import run_scenario

    monkeypatch.chdir(tmp_path)
    write(tmp_path, "mine/networks/lab-wifi.yaml", LAB_NET)
    fields = dict(model="tiny", method="cloud-only", network="lab-wifi", device="m2", cloud="a100-80g",
                  prompt_tokens=8, new_tokens=3)
    row = run_scenario(presets=["mine"], **fields)
    assert row["network"] == "lab-wifi" and row["feasible"]
    with pytest.raises(SplitbenchError, match="unknown preset 'lab-wifi'"):
        run_scenario(**fields)


def test_method_presets_name_a_paradigm_with_parameters(tmp_path: Path) -> None:
    from splitbench.harness.resolve import resolve_suite
    from splitbench.models.methods import resolve_method

    write(tmp_path, "mine/methods/lora-s.yaml", """\
        paradigm: lora-split
        targets: [q, k, v]
        layers: lora-s
        head_on_device: true
        label: LoRA^S
        source: the PrivateLoRA paper's LoRA^S baseline (arXiv 2311.14030) [S]
        """)
    text = SUITE.replace("[cloud-only, device-only]", "[lora-s, {name: lora-s, rank: 8}]")
    text = text.replace("lab-wifi", "5g").replace("my-phone", "m2")
    suite = load_suite(write(tmp_path, "study.yaml", text))
    scenarios, _ = resolve_suite(suite)
    assert {sc.labels["method_label"] for sc in scenarios} == {"LoRA^S", "LoRA^S rank=8"}
    methods = sorted((sc.method["rank"], sc.labels["method"], sc.method["layers"]) for sc in scenarios)
    assert methods == [(8, "lora-split", "lora-s"), (16, "lora-split", "lora-s")]
    with using(suite.presets):
        assert resolve_method("lora-s")["head_on_device"] is True
        from splitbench.harness.listing import list_methods

        assert "lora-s" in list_methods() and "arXiv 2311.14030" in list_methods()
    write(tmp_path, "bad/methods/spa.yaml", "paradigm: spa\nsource: x [I]\n")
    with pytest.raises(SplitbenchError, match="bad/methods/spa.yaml.*paradigm's name"):
        load_presets([tmp_path / "bad"], tmp_path)
    write(tmp_path, "bad2/methods/x.yaml", "rank: 3\nsource: x [I]\n")
    with pytest.raises(SplitbenchError, match="bad2/methods/x.yaml: paradigm: required"):
        load_presets([tmp_path / "bad2"], tmp_path)
