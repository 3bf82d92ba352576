"""Links: presets, spec resolution, capacity traces (Mahimahi files and synthetic generators)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbench import SplitbenchError
from splitbench.netsim import NETWORK_PRESETS, LinkSpec, load_trace, netcheck, resolve_network
from splitbench.netsim.capacity import TraceCapacity, markov_trace, onoff_trace, write_mahimahi

TRACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "traces"


def test_presets_complete_and_sourced() -> None:
    assert set(NETWORK_PRESETS) == {
        "4g",
        "4g-poor",
        "5g",
        "5g-mmwave",
        "wifi5",
        "wifi6",
        "edge-lan",
        "paper-5g",
    }
    for name, spec in NETWORK_PRESETS.items():
        assert spec.source and len(spec.source) > 20, name
        spec.validate()
        if spec.jitter_ms or spec.loss:
            assert "[I]" in spec.source, f"{name}: jitter/loss defaults are estimates and must say so"
    p = NETWORK_PRESETS["paper-5g"]
    assert (p.up_mbps, p.down_mbps, p.rtt_ms, p.transport) == (60, 100, 0, "ideal")
    assert NETWORK_PRESETS["4g"].up_mbps < NETWORK_PRESETS["4g"].down_mbps  # uplink is the bottleneck


def test_resolve_network_forms() -> None:
    assert resolve_network("5g") is NETWORK_PRESETS["5g"]
    s = resolve_network({"base": "5g", "rtt_ms": 20})
    assert s.rtt_ms == 20 and s.up_mbps == 20 and "overridden" in s.source
    s = resolve_network({"up_mbps": 10, "down_mbps": 40, "rtt_ms": 50, "transport": "ideal"})
    assert s.transport == "ideal" and s.source == "user"


@pytest.mark.parametrize(
    "spec, field",
    [
        ("6g", "unknown preset"),
        ({"base": "5g", "bogus": 1}, "bogus"),
        ({"base": "5g", "up_mbps": 0}, "up_mbps"),
        ({"base": "5g", "down_mbps": -3}, "down_mbps"),
        ({"base": "5g", "rtt_ms": -1}, "rtt_ms"),
        ({"base": "5g", "loss": 1.0}, "loss"),
        ({"base": "5g", "transport": "quic"}, "transport"),
        ({"base": "5g", "trace_up": "/nonexistent/trace.up"}, "file not found"),
        ({"up_mbps": 10, "down_mbps": 10}, "rtt_ms"),
    ],
)
def test_bad_network_is_one_clear_line(spec: object, field: str) -> None:
    with pytest.raises(SplitbenchError) as e:
        resolve_network(spec)  # type: ignore[arg-type]
    assert field in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "text, problem",
    [("", "empty"), ("1\nx\n", "line 2"), ("5\n3\n", "line 2"), ("-1\n", "negative"), ("0\n0\n", "> 0 ms")],
)
def test_malformed_trace_files(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "bad.trace"
    f.write_text(text)
    with pytest.raises(SplitbenchError) as e:
        resolve_network({"base": "5g", "trace_up": str(f)})
    msg = str(e.value)
    assert str(f) in msg and problem in msg and "\n" not in msg


def test_single_line_trace_is_12_mbps(tmp_path: Path) -> None:
    f = write_mahimahi(tmp_path / "one.trace", [1])
    assert load_trace(str(f)).mean_mbps() == pytest.approx(12.0)
    for transport in ("ideal", "tcp"):
        # a deep buffer keeps drop-tail losses (whose exact pattern depends on ms quantisation) out
        traced = LinkSpec(1, 1, 20, trace_up=str(f), trace_down=str(f), transport=transport, queue_pkts=1000)
        const = LinkSpec(12, 12, 20, transport=transport, queue_pkts=1000)
        for n in (1500, 150_000, 3_000_000):
            a = netcheck(n, n, 1.0, 3, traced)["completion_s"]
            b = netcheck(n, n, 1.0, 3, const)["completion_s"]
            # opportunities are whole milliseconds: allow one ms per message of quantisation
            assert a == pytest.approx(b, rel=0.01, abs=0.001 * 2 * 3), (transport, n)


def test_onoff_trace_stalls_during_outage(tmp_path: Path) -> None:
    # 12 Mbps for the first second of every 2 s period, nothing in the second
    f = write_mahimahi(tmp_path / "onoff.trace", [*range(1, 1001), 2000])
    link = LinkSpec(1, 12, 0, trace_up=str(f), transport="ideal")
    n = 2_250_000  # 1.5 s of capacity at 12 Mbps
    t = netcheck(n, 0, 0, 1, link)["completion_s"]
    # 1000 opportunities by 1 s, one at 2.000 s, then 499 more at 2.001 .. 2.499 s
    assert t == pytest.approx(2.499)
    assert t > netcheck(n, 0, 0, 1, LinkSpec(12, 12, 0, transport="ideal"))["completion_s"] + 0.99


def test_synthetic_generators_fit_their_targets() -> None:
    ts = markov_trace(5.17, 0.8, 1.0, 300, seed=3)
    mean = TraceCapacity(ts).mean_mbps()
    assert mean == pytest.approx(5.17, rel=0.3)
    assert markov_trace(5.17, 0.8, 1.0, 30, seed=3) == markov_trace(5.17, 0.8, 1.0, 30, seed=3)
    oo = TraceCapacity(onoff_trace(12.0, 4.0, 1.0, 120, seed=1))
    assert 0.1 < oo.outage_fraction(0.05) < 0.35
    assert oo.mean_mbps() == pytest.approx(12.0 * (1 - oo.outage_fraction(0.05)), rel=0.05)
    for kind in ("lte-up", "lte-down", "5g-up", "5g-down", "onoff"):
        link = resolve_network({"base": "4g", "trace_up": f"synth:{kind}:1", "loss": 0.0, "jitter_ms": 0})
        r = netcheck(50_000, 1000, 1, 3, link)
        assert 0 < r["completion_s"] < 120


def _real_traces() -> list[Path]:
    d = TRACES / "mahimahi"
    return sorted(p for p in d.glob("*") if p.suffix in (".up", ".down")) if d.is_dir() else []


@pytest.mark.skipif(not _real_traces(), reason="../shared/traces/mahimahi not present")
def test_real_mahimahi_traces_load_and_run() -> None:
    readme_means = {
        "ATT-LTE-driving": (5.17, 0.83),
        "ATT-LTE-driving-2016": (4.56, 1.91),
        "TMobile-LTE-short": (16.70, 13.32),
    }
    for p in _real_traces():
        cap = load_trace(str(p))
        down, up = readme_means[p.stem]
        assert cap.mean_mbps() == pytest.approx(down if p.suffix == ".down" else up, rel=0.1), p.name
    for stem in readme_means:
        link = LinkSpec(
            1,
            1,
            40,
            trace_up=str(TRACES / "mahimahi" / f"{stem}.up"),
            trace_down=str(TRACES / "mahimahi" / f"{stem}.down"),
        )
        r = netcheck(200_000, 20_000, 5, 4, link)
        assert r["completion_s"] > 4 * 0.04 and r["up_wire_bytes"] > 4 * 200_000


@pytest.mark.parametrize(
    "extra, field",
    [
        (["--trace-up", "BAD"], "BAD"),
        (["--up-mbps", "0"], "up_mbps"),
        (["--loss", "1.2"], "loss"),
        (["--rtt-ms", "-5"], "rtt_ms"),
    ],
)
def test_netcheck_cli_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], field: str
) -> None:
    cli = pytest.importorskip("splitbench.harness.cli", reason="the CLI is wired by harness/")
    bad = tmp_path / "bad.trace"
    bad.write_text("12\nnot-a-number\n")
    extra = [str(bad) if a == "BAD" else a for a in extra]
    good = [
        "netcheck",
        "--up-mbps",
        "10",
        "--down-mbps",
        "40",
        "--rtt-ms",
        "50",
        "--up-bytes",
        "1500",
        "--down-bytes",
        "1500",
        "--compute-ms",
        "2",
        "--rounds",
        "3",
    ]
    args = list(good)
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and (
        field in err or field.replace("_", "-") in err or str(bad) in err
    ), err
    assert cli.main([*good, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["completion_s"] > 0 and len(out["per_round_s"]) == 3
