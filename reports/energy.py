"""Energy per token on the device: a stacked-bar figure (SoC / radio active / radio tail per
paradigm and network) and a table with the battery share per 1,000 tokens."""

from __future__ import annotations

from functools import partial

import matplotlib
import pandas as pd
from matplotlib.patches import Patch

from splitbench.reports.load import GROUP_KEYS, ResultsDir
from splitbench.reports.metrics import fmt_number, paradigm_color, paradigm_rank
from splitbench.reports.plots import RC, FigureItem, _new_figure
from splitbench.reports.tables import Table, slug

#: The phone battery the report states energy against: 15 Wh (a 3.85 V, ~3,900 mAh flagship cell).
BATTERY_WH = 15.0
BATTERY_J = BATTERY_WH * 3600.0

PARTS = [  # (label, hatch, alpha)
    ("SoC", "", 1.0),
    ("radio active", "///", 0.6),
    ("radio tail", "...", 0.3),
]


def battery_pct_per_1000_tokens(energy_per_token_j: float) -> float:
    return 100.0 * 1000.0 * energy_per_token_j / BATTERY_J


def _parts(r: pd.Series) -> tuple[float, float, float]:
    soc = float(r["soc_energy_j"]) if pd.notna(r["soc_energy_j"]) else 0.0
    radio = float(r["radio_energy_j"]) if pd.notna(r["radio_energy_j"]) else 0.0
    tail = float(r["radio_tail_j"]) if pd.notna(r["radio_tail_j"]) else 0.0
    n = float(r["new_tokens"])
    return soc / n, (radio - tail) / n, tail / n


def _energy_groups(res: pd.DataFrame):
    keys = [k for k in GROUP_KEYS if k != "network"]
    rows = res[res["feasible"] & res["energy_per_token_j"].notna()]
    for key, g in rows.groupby(keys, sort=True, dropna=False):
        yield dict(zip(keys, key, strict=True)), g


def energy_figure(rows: pd.DataFrame, title: str):
    nets = list(dict.fromkeys(rows["network"]))
    series = sorted(dict.fromkeys(zip(rows["method"], rows["method_label"], strict=True)),
                    key=lambda t: (paradigm_rank(t[0]), t[1]))
    width = 0.8 / max(1, len(series))
    fig = _new_figure(max(6.0, 1.1 * len(nets) * max(1, len(series)) * 0.45 + 3), 4.4)
    with matplotlib.rc_context(RC):
        ax = fig.add_subplot()
        for j, (method, label) in enumerate(series):
            color = paradigm_color(method)
            for i, net in enumerate(nets):
                sel = rows[(rows["network"] == net) & (rows["method_label"] == label)]
                if sel.empty:
                    continue
                x = i - 0.4 + width * (j + 0.5)
                bottom = 0.0
                for v, (_, hatch, alpha) in zip(_parts(sel.iloc[0]), PARTS, strict=True):
                    if v > 0:
                        ax.bar(x, v, width * 0.92, bottom=bottom, color=color, alpha=alpha, hatch=hatch,
                               edgecolor="white", linewidth=0.4)
                    bottom += v
                ax.text(x, bottom, fmt_number(bottom), ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(range(len(nets)), nets)
        ax.set_xlabel("network")
        ax.set_ylabel("device energy per generated token (J)")
        ax.set_title(title)
        ax.grid(axis="x", visible=False)
        top = ax.get_ylim()[1]
        ax.set_ylim(0, top * 1.12)
        handles = [Patch(facecolor=paradigm_color(m), label=lbl) for m, lbl in series]
        handles += [Patch(facecolor="#777777", alpha=a, hatch=h, edgecolor="white", label=p)
                    for p, h, a in PARTS]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _stem(key: dict[str, object]) -> str:
    return slug("energy", key["model"], key["device"], key["cloud"], int(key["prompt_tokens"]),
                int(key["new_tokens"]))


def _title(key: dict[str, object]) -> str:
    return f"{key['model']} on {key['device']}"


def energy_figures(data: ResultsDir) -> list[FigureItem]:
    res = data.results
    if "energy_per_token_j" not in res.columns:
        return []
    out = []
    for key, rows in _energy_groups(res):
        out.append(FigureItem(
            _stem(key),
            "energy", f"Energy per token: {_title(key)}",
            "Energy the device spends per generated token, stacked: SoC (computing, or awake waiting "
            "for the network), radio active (promotion from idle, transfers, connected gaps between "
            "them) and radio tail (the radio's connected/DRX tail after the request's last byte, "
            "until it drops to idle). Screen excluded. Radio models and SoC powers with their "
            "sources: the radio and soc_power entries of scenarios.yaml (presets in `netsim/presets/radios/` "
            "and the device profiles); the table gives the "
            f"share of a {fmt_number(BATTERY_WH)} Wh phone battery used per 1,000 tokens.",
            partial(energy_figure, rows, f"{_title(key)}: device energy per token")))
    return out


def energy_tables(data: ResultsDir) -> dict[str, Table]:
    """J/token, its parts and the battery share under each energy figure (keyed by figure stem)."""
    res = data.results
    if "energy_per_token_j" not in res.columns:
        return {}
    out: dict[str, Table] = {}
    for key, rows in _energy_groups(res):
        stem = _stem(key)
        rows = rows.assign(_rank=[paradigm_rank(m) for m in rows["method"]]).sort_values(
            ["network", "_rank", "method_label"])
        recs = []
        for _, r in rows.iterrows():
            soc, active, tail = _parts(r)
            ept = float(r["energy_per_token_j"])
            dominant = max(zip((soc, active, tail), (p[0] for p in PARTS), strict=True))[1]
            recs.append({"network": r["network"], "paradigm": r["method_label"], "energy_per_token_j": ept,
                         "soc_j_per_token": soc, "radio_active_j_per_token": active,
                         "radio_tail_j_per_token": tail, "dominant": dominant,
                         "battery_pct_per_1000_tokens": battery_pct_per_1000_tokens(ept),
                         "scenario_id": r["scenario_id"]})
        df = pd.DataFrame(recs)
        headers = ["network", "paradigm", "J/token", "SoC (J/token)", "radio active (J/token)",
                   "radio tail (J/token)", "dominant",
                   f"battery per 1,000 tokens (% of {fmt_number(BATTERY_WH)} Wh)"]
        cols = ["energy_per_token_j", "soc_j_per_token", "radio_active_j_per_token", "radio_tail_j_per_token"]
        disp = [[d["network"], d["paradigm"], *(fmt_number(d[c]) for c in cols), d["dominant"],
                 fmt_number(d["battery_pct_per_1000_tokens"])] for d in recs]
        out[stem] = Table(name=stem.replace("energy", "energy_table", 1), title="energy per token", key=key,
                          data=df, display_headers=headers, display_rows=disp)
    return out


__all__ = ["BATTERY_WH", "battery_pct_per_1000_tokens", "energy_figures", "energy_tables"]
