"""Radio state machine and device energy: closed forms, Huang 2012's single packet, promotions."""

from __future__ import annotations

import pytest

from splitbench import SplitbenchError
from splitbench.harness import run_scenario
from splitbench.netsim import NETWORK_PRESETS, PROFILE_PRESETS, simulate
from splitbench.netsim.energy import ENERGY_COLUMNS, request_energy, soc_for_device
from splitbench.netsim.radio import (
    bursts,
    merge,
    radio_for_network,
    radio_presets,
    resolve_radio,
    run_radio,
    timeline_radio,
)

from .netsim_helpers import privatelora_like


def test_huang_single_packet_from_idle_within_2pct():
    # Huang et al. MobiSys 2012, Table 3 (LTE): promotion 260.1 ms at 1210.7 mW, then the tail,
    # 11.576 s at 1060.0 mW; a single packet's own transfer is negligible next to these.
    huang_j = 0.2601 * 1.2107 + 11.576 * 1.0600
    r = run_radio(resolve_radio("lte-2012"), [(0.0, 0.001)], up_bytes=1500)
    assert r.promotions == 1
    assert abs(r.total_j - huang_j) / huang_j < 0.02
    assert r.tail_j == pytest.approx(0.1 * 1.28804 + 11.476 * 1.060)


def _request(gap_after: float, n: int = 2) -> list[tuple[float, float]]:
    """n one-second requests separated by ``gap_after`` seconds of silence."""
    return [(k * (1.0 + gap_after), k * (1.0 + gap_after) + 1.0) for k in range(n)]


@pytest.mark.parametrize("radio", ["lte", "lte-2012", "nr-lowband", "nr-mmwave"])
def test_two_requests_5s_apart_pay_one_promotion_30s_apart_two(radio):
    spec = resolve_radio(radio)
    near, far = run_radio(spec, _request(5.0)), run_radio(spec, _request(30.0))
    assert near.promotions == 1 and far.promotions == 2
    # 5 s apart: the gap is paid as 5 s of tail; 30 s apart: one whole tail plus a second promotion
    assert near.gap_j == pytest.approx(spec.tail_energy(5.0))
    assert far.gap_j == pytest.approx(spec.tail_energy())
    assert far.promotion_j == pytest.approx(2 * spec.promotion_s * spec.promotion_w)


def test_wifi_tail_is_short_so_5s_apart_pays_two():
    assert run_radio(resolve_radio("wifi-psm"), _request(5.0)).promotions == 2


def test_transfer_energy_is_linear_in_time_and_bits():
    spec = resolve_radio("lte-2012")
    r = run_radio(spec, [(0.0, 2.0)], up_bytes=1_000_000, down_bytes=3_000_000)
    assert r.transfer_j == pytest.approx(
        2.0 * spec.active_base_w + 8.0 * spec.alpha_up_w_per_mbps + 24.0 * spec.alpha_down_w_per_mbps
    )
    assert run_radio(spec, []).total_j == 0.0


def test_tail_energy_partial_and_merge():
    spec = resolve_radio("lte")
    assert spec.tail_energy(0.0) == 0.0
    assert spec.tail_energy(0.05) == pytest.approx(0.05 * spec.tail[0][2])
    assert spec.tail_energy(1e9) == pytest.approx(spec.tail_energy())
    xs = [spec.tail_energy(t) for t in (0.5, 1, 2, 5, 9, 10, 20)]
    assert xs == sorted(xs)
    assert merge([(3, 4), (0, 1), (0.5, 2), (4, 5)]) == [(0.0, 2.0), (3.0, 5.0)]


def test_every_network_preset_has_a_radio_and_presets_carry_sources():
    assert all(NETWORK_PRESETS[n].radio for n in NETWORK_PRESETS)
    for name, spec in radio_presets().items():
        for f in ("promotion_s", "promotion_w", "active_base_w", "alpha_up_w_per_mbps",
                  "alpha_down_w_per_mbps", "tail"):
            assert spec.source.get(f), (name, f)
    assert radio_for_network({"base": "4g", "rtt_ms": 10}).name == "lte"
    assert radio_for_network({"up_mbps": 1, "down_mbps": 1, "rtt_ms": 1}) is None
    custom = {"up_mbps": 1, "down_mbps": 1, "rtt_ms": 1, "radio": "nr-mmwave"}
    assert radio_for_network(custom).name == "nr-mmwave"
    with pytest.raises(SplitbenchError, match="network.radio"):
        radio_for_network({"base": "4g", "radio": "carrier-pigeon"})
    with pytest.raises(SplitbenchError):
        resolve_radio("nope")


def _timeline(network: str, new_tokens: int = 6):
    trace = privatelora_like(n_layers=4, d=256, r=8, prompt=16, layer_weight_bytes=2e6)
    return simulate(trace, NETWORK_PRESETS[network], PROFILE_PRESETS["snapdragon-8gen3"],
                    PROFILE_PRESETS["a100-80g"], new_tokens, seed=0)


def test_privatelora_on_4g_stays_connected_for_the_whole_generation():
    tl = _timeline("4g")
    spec = resolve_radio("lte")
    r = timeline_radio(spec, tl)
    assert r.promotions == 1
    # every gap between its transfers is inside the tail, so the radio never idles: it pays at
    # least the lowest connected power from the handshake to the last token
    b = merge(bursts(tl))
    assert b[0][0] == pytest.approx(-tl.handshake_s)
    low = min(w for _, _, w in spec.tail)
    assert r.active_j - r.promotion_j >= low * (tl.token_times[-1] + tl.handshake_s) * 0.999


def test_request_energy_columns_and_soc_closed_form():
    tl = _timeline("wifi6")
    radio, soc = resolve_radio("wifi-psm"), soc_for_device(PROFILE_PRESETS["snapdragon-8gen3"])
    e = request_energy(tl, radio, soc)
    assert list(e) == ENERGY_COLUMNS
    busy = tl.busy["device"]
    span = tl.token_times[-1] + tl.handshake_s + radio.promotion_s
    lo, hi = min(soc.prefill_w, soc.decode_w), max(soc.prefill_w, soc.decode_w)
    wait = soc.wait_w * (span - busy)
    assert lo * busy + wait <= e["soc_energy_j"] <= hi * busy + wait + 1e-12
    assert e["device_energy_j"] == pytest.approx(e["soc_energy_j"] + e["radio_energy_j"])
    assert e["energy_per_token_j"] == pytest.approx(e["device_energy_j"] / tl.new_tokens)
    assert e["radio_promotion_s"] == pytest.approx(radio.promotion_s)
    assert request_energy(tl, None, None)["device_energy_j"] is None
    assert soc_for_device(PROFILE_PRESETS["a100-80g"]) is None


@pytest.mark.parametrize(
    "method", [{"name": "device-only", "weight_bits": 4}, "cloud-only", {"name": "privatelora", "rank": 8},
               {"name": "spa", "gate_rate": 1.0}, "lora-split", "layer-split"]
)
def test_energy_columns_for_every_paradigm(method):
    m = run_scenario(model="tiny", method=method, network="4g", device="snapdragon-8gen3",
                     cloud="a100-80g", prompt_tokens=8, new_tokens=4)
    for c in ENERGY_COLUMNS:
        assert m[c] is not None and m[c] >= 0, c
    if m["method"] == "device-only":
        assert m["radio_energy_j"] == 0 and m["radio_tail_j"] == 0 and m["radio_promotion_s"] == 0
    else:
        assert m["radio_tail_j"] == pytest.approx(resolve_radio("lte").tail_energy())
        assert m["radio_promotion_s"] == pytest.approx(0.26)


def test_netcheck_reports_radio_energy_of_the_exchange():
    from splitbench.netsim import netcheck

    huang_j = 0.2601 * 1.2107 + 11.576 * 1.0600
    r = netcheck(100, 0, 0.0, 1, NETWORK_PRESETS["4g"], radio=resolve_radio("lte-2012"))
    assert r["radio"] == "lte-2012" and r["radio_promotions"] == 1
    assert abs(r["radio_energy_j"] - huang_j) / huang_j < 0.02
    assert "radio_energy_j" not in netcheck(100, 0, 0.0, 1, NETWORK_PRESETS["4g"])
    # a 20 s wait for each reply outlasts LTE's 10 s tail: request 1, reply 1 (round 2's request
    # follows it at once, still connected), reply 2 — three promotions; 2 s waits need one
    far = netcheck(100, 100, 20_000.0, 2, NETWORK_PRESETS["4g"], radio=resolve_radio("lte"))
    near = netcheck(100, 100, 2_000.0, 2, NETWORK_PRESETS["4g"], radio=resolve_radio("lte"))
    assert far["radio_promotions"] == 3 and near["radio_promotions"] == 1


def test_validate_energy_cases_pass():
    from splitbench.harness.validate import HUANG_SINGLE_PACKET_J, energy_cases

    cases = energy_cases()
    assert cases[0].reference == pytest.approx(HUANG_SINGLE_PACKET_J)
    assert abs(cases[0].error_pct) < 2.0
    assert all(c.passed for c in cases)


def test_report_energy_table_closed_forms():
    import pandas as pd

    from splitbench.reports.energy import BATTERY_J, energy_figures, energy_tables

    rows = []
    for method, soc, radio, tail in (("device-only", 64.0, 0.0, 0.0), ("privatelora", 20.0, 100.0, 10.0)):
        rows.append({"scenario_id": method, "model": "m", "network": "4g", "device": "d", "cloud": "c",
                     "prompt_tokens": 8, "new_tokens": 64, "feasible": True, "method": method,
                     "method_label": method, "soc_energy_j": soc, "radio_energy_j": radio,
                     "radio_tail_j": tail, "device_energy_j": soc + radio,
                     "energy_per_token_j": (soc + radio) / 64})

    class Data:
        results = pd.DataFrame(rows)

    figs = energy_figures(Data)
    assert [f.kind for f in figs] == ["energy"]
    (table,) = energy_tables(Data).values()
    d = table.data.set_index("paradigm")
    assert d.loc["privatelora", "radio_tail_j_per_token"] == pytest.approx(10 / 64)
    assert d.loc["privatelora", "radio_active_j_per_token"] == pytest.approx(90 / 64)
    assert d.loc["privatelora", "dominant"] == "radio active" and d.loc["device-only", "dominant"] == "SoC"
    assert d.loc["device-only", "battery_pct_per_1000_tokens"] == pytest.approx(100 * 1000 * 1.0 / BATTERY_J)


def test_run_report_shows_energy_figure(tmp_path):
    from splitbench.harness import load_suite, run_suite

    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: e\ndefaults: {prompt_tokens: 8, new_tokens: 4}\nmatrix:\n  model: [tiny]\n"
        "  method: [cloud-only, {name: device-only, weight_bits: 4}]\n  network: [4g, wifi6]\n"
        "  device: [snapdragon-8gen3]\n  cloud: [a100-80g]\n",
        encoding="utf-8",
    )
    run_suite(load_suite(str(suite)), tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Energy per token: tiny on snapdragon-8gen3" in report
    assert list((tmp_path / "out" / "plots").glob("energy__*.png"))
    header = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert set(ENERGY_COLUMNS) <= set(header)


def test_multiuser_csv_has_per_user_energy_means(tmp_path):
    import csv

    from splitbench.harness import load_suite, run_suite

    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: mu\ndefaults: {prompt_tokens: 8, new_tokens: 4}\nscenarios:\n"
        "  - {model: tiny, method: {name: privatelora, rank: 8}, network: 4g, device: snapdragon-8gen3,"
        " cloud: a100-80g}\n"
        "  - {model: tiny, method: {name: privatelora, rank: 8}, network: 4g, device: snapdragon-8gen3,"
        " cloud: a100-80g, users: 1}\n"
        "  - {model: tiny, method: {name: privatelora, rank: 8}, network: 4g, device: snapdragon-8gen3,"
        " cloud: a100-80g, users: 3, requests_per_user: 2, think_time_s: 30}\n",
        encoding="utf-8",
    )
    run_suite(load_suite(str(suite)), tmp_path / "out", render_report=False)
    single = next(csv.DictReader(open(tmp_path / "out" / "results.csv", encoding="utf-8")))
    mu = {r["users"]: r for r in csv.DictReader(open(tmp_path / "out" / "multiuser.csv", encoding="utf-8"))}
    lte = resolve_radio("lte")
    # one user alone: the same request, so about the same energy as the single-user row
    assert float(mu["1"]["energy_per_token_j"]) == pytest.approx(float(single["energy_per_token_j"]), rel=0.1)
    assert float(mu["1"]["radio_tail_j"]) == pytest.approx(lte.tail_energy())
    # two requests per user ~30 s apart: each user's radio idles between them and pays two tails
    assert float(mu["3"]["radio_tail_j"]) == pytest.approx(lte.tail_energy())
    assert float(mu["3"]["radio_energy_j"]) > 2 * lte.tail_energy()


def test_user_radio_preset_and_network_naming_it(tmp_path):
    import csv

    from splitbench.harness import load_suite, run_suite

    (tmp_path / "mine" / "radios").mkdir(parents=True)
    (tmp_path / "mine" / "networks").mkdir()
    (tmp_path / "mine" / "radios" / "slow-lte.yaml").write_text(
        "base: lte\ntail: [[drx, 30.0, 1.0]]\nsource: {tail: 'a 30 s tail at 1 W [I]'}\n", encoding="utf-8")
    (tmp_path / "mine" / "networks" / "lte-slow.yaml").write_text(
        "base: 4g\nradio: slow-lte\nsource: 4g with a long-tailed radio [I]\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text(
        "name: r\npresets: [mine]\ndefaults: {prompt_tokens: 8, new_tokens: 4}\nscenarios:\n"
        "  - {model: tiny, method: cloud-only, network: lte-slow, device: snapdragon-8gen3,"
        " cloud: a100-80g}\n",
        encoding="utf-8")
    run_suite(load_suite(str(tmp_path / "s.yaml")), tmp_path / "out", render_report=False)
    row = next(csv.DictReader(open(tmp_path / "out" / "results.csv", encoding="utf-8")))
    assert float(row["radio_tail_j"]) == pytest.approx(30.0)
    assert "a 30 s tail at 1 W" in (tmp_path / "out" / "scenarios.yaml").read_text(encoding="utf-8")
