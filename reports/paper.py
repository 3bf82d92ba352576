"""The PrivateLoRA paper's claims beside splitbench's figures (suites ``paper`` and ``paper-realistic``).

Why a report section and not a harness step: every figure the paper claims is a ratio of results.csv
columns (comm_reduction_pct, speedup_vs_device_only, decode_tok_s) or of a timeline, so it is
computed from the results directory alone, like every other table. The section appears when the
results hold a PrivateLoRA row for one of the paper's models on its A100 80GB and iPhone 13 Pro
Max; it writes ``tables/paper_claims.csv`` (claim, model, network, paper value, splitbench value,
holds, note).

The claims (arXiv 2311.14030, abstract):
- "over 95% communication reduction" — against device-side LoRA on q, k, v shipping full-width
  activations (x down, three deltas up per layer): results.csv's comm_reduction_pct of the
  privatelora row, whose reference is exactly that lora-split;
- "throughput over 300% of device-only solutions for 7B models" under standard 5G;
- "over 80% of an A100 GPU for 33B models" — the A100's own decode speed, read from the cloud-only
  scenario's timeline (cloud lane of one decode step), so that a realistic link's per-token RTT is
  charged to PrivateLoRA but not to the A100 it is compared with.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from splitbench.models.codec import CODECS
from splitbench.models.paradigms.params import PROJECTIONS
from splitbench.reports.document import (
    Block,
    Bullets,
    FigureBlock,
    Heading,
    Para,
    ReportContext,
    TableBlock,
)
from splitbench.reports.load import resolved_part
from splitbench.reports.metrics import fmt_number, paradigm_color
from splitbench.reports.plots import RC
from splitbench.reports.tables import Table

#: The paper's setting, measured inputs and claims: references/privatelora.yaml.
REFERENCE = yaml.safe_load((Path(__file__).parent / "references" / "privatelora.yaml").read_text("utf-8"))
PAPER: str = REFERENCE["paper"]
PAPER_MODELS: tuple[str, ...] = tuple(REFERENCE["models"])
PAPER_CLOUD: str = REFERENCE["cloud"]  # preset names (suites may add a suffix)
PAPER_DEVICE: str = REFERENCE["device"]
PAPER_INPUT_TOK_S: dict[tuple[str, str], float] = {
    (r["method"], r["model"]): r["decode_tok_s"] for r in REFERENCE["measured_decode_tok_s"]
}
ALL_PROJ = set(PROJECTIONS)
CLAIM_COLUMNS = ["claim", "model", "network", "paper_value", "splitbench_value", "holds", "note"]
#: A PrivateLoRA row whose method label reads ``W<k> <effect>`` is step k of the waterfall: the
#: paper's accounting at W0, then one realistic effect added per step (suite ``paper``).
WATERFALL_LABEL = re.compile(r"^W(\d+)\s+(.+)$")
WATERFALL_COLUMNS = ["model", "step", "effect", "network", "device", "decode_tok_s", "delta_tok_s",
                     "claim", "claim_value", "holds", "scenario_id"]


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    paper_value: str
    above: float | None = None  # the claim holds when splitbench's value exceeds this


CLAIMS = [
    Claim(c["key"], c["text"], c["paper_value"], c.get("above_pct", c.get("above_ratio")))
    for c in REFERENCE["claims"]
]
_CLAIM = {c.key: c for c in CLAIMS}
COMM_MIN_PCT = _CLAIM["comm"].above
SPEEDUP_MIN = _CLAIM["speedup"].above
A100_SHARE_MIN_PCT = _CLAIM["a100"].above


def paper_variant(row: dict[str, Any], scenarios: dict[str, dict[str, Any]]) -> str:
    """privatelora / lora-s / lora-p / lora-qkv / lora-split / the method name, from the resolved method."""
    method = str(row["method"])
    if method != "lora-split":
        return method
    m = resolved_part(scenarios.get(str(row["scenario_id"]), {}), "method") or {}
    layers, targets = m.get("layers"), set(m.get("targets") or [])
    label = str(row.get("method_label", ""))
    if layers == "lora-s" or (not m and "lora-s" in label):
        return "lora-s"
    if targets == ALL_PROJ and layers in ("all", None):
        return "lora-p"
    if targets == {"q_proj", "k_proj", "v_proj"} and layers in ("all", None):
        return "lora-qkv"
    return "lora-split"


def waterfall_step(row: dict[str, Any]) -> tuple[int, str] | None:
    """(k, effect) of a waterfall row (a PrivateLoRA row labelled ``W<k> <effect>``), else None."""
    if str(row.get("method")) != "privatelora":
        return None
    m = WATERFALL_LABEL.match(str(row.get("method_label", "")))
    return (int(m.group(1)), m.group(2)) if m else None


def _with_variants(ctx: ReportContext) -> pd.DataFrame:
    """The results with each row's paper variant; waterfall rows are left out (they have a table of
    their own and would otherwise stand in for the paradigm on their network)."""
    res = ctx.data.results
    res = res[[waterfall_step(r) is None for r in res.to_dict("records")]].copy()
    res["variant"] = [paper_variant(r, ctx.data.scenarios) for r in res.to_dict("records")]
    return res


def applies(ctx: ReportContext) -> bool:
    """The paper's setting: PrivateLoRA on one of its models, served from its A100 to its phone."""
    res = ctx.data.results
    hw = res["cloud"].str.startswith(PAPER_CLOUD) & res["device"].str.startswith(PAPER_DEVICE)
    return bool(((res["method"] == "privatelora") & res["model"].isin(PAPER_MODELS) & hw).any())


def _pick(rows: pd.DataFrame, variant: str, model: str, network: str) -> dict[str, Any] | None:
    sel = rows[(rows["variant"] == variant) & (rows["model"] == model) & (rows["network"] == network)
               & rows["feasible"]]
    return None if sel.empty else sel.iloc[0].to_dict()


def _payload(r: dict[str, Any]) -> float:
    return float(r["up_bytes_per_token"]) + float(r["down_bytes_per_token"])


def _hidden(ctx: ReportContext, sid: str) -> int | None:
    model = resolved_part(ctx.data.scenarios.get(sid, {}), "model") or {}
    cfg = model.get("config", model)
    d = cfg.get("hidden_size") if isinstance(cfg, dict) else None
    return int(d) if d else None


def a100_decode_tok_s(ctx: ReportContext, row: dict[str, Any] | None) -> float | None:
    """The cloud's own decode speed: 1 / (cloud compute of one decode step of the cloud-only row)."""
    if row is None:
        return None
    tl = ctx.data.timelines.get(str(row["scenario_id"]))
    if tl:
        busy = sum(float(e["end"]) - float(e["start"]) for e in tl.get("decode_step", [])
                   if e.get("lane") == "cloud")
        if busy > 0:
            return 1.0 / busy
    return float(row["decode_tok_s"])  # no timeline: the network's share is not separable


def claims_frame(ctx: ReportContext) -> pd.DataFrame:
    """One row per (claim, model, network) that the results can speak to; the speed-up and A100
    claims name the waterfall step where they stop holding (when the run has a waterfall)."""
    res = _with_variants(ctx)
    stops = {m: waterfall_stop(g) for m, g in waterfall_frame(ctx).groupby("model", sort=False)}
    out: list[dict[str, Any]] = []
    pl_rows = res[(res["variant"] == "privatelora") & res["model"].isin(PAPER_MODELS)]
    for model in [m for m in PAPER_MODELS if m in set(pl_rows["model"])]:
        for network in sorted(set(pl_rows.loc[pl_rows["model"] == model, "network"])):
            pl = _pick(res, "privatelora", model, network)
            if pl is None:
                continue

            def add(key: str, value: float | None, holds: bool | None, note: str,
                    model: str = model, network: str = network) -> None:
                c = next(c for c in CLAIMS if c.key == key)
                out.append({"claim": c.text, "model": model, "network": network, "paper_value": c.paper_value,
                            "splitbench_value": value, "holds": holds, "note": note, "_key": key})

            red = pl.get("comm_reduction_pct")
            if red is not None and not math.isnan(float(red)):
                red = float(red)
                note = ("whole decode step: LoRA on q,k,v of every layer with the embedding and LM head on "
                        "the device (the comparable lora-split); includes the embedding up, the final hidden "
                        "state down and message framing")
                d = _hidden(ctx, str(pl["scenario_id"]))
                nb = CODECS.get(str(pl.get("act_dtype")), CODECS["fp16"]).value_bytes
                if d and red < 100:
                    mine = _payload(pl)
                    ref = mine / (1 - red / 100)
                    head = 2 * d * nb  # embedding up + final hidden state down, the same in both
                    layers_only = 100 * (1 - (mine - head) / (ref - head))
                    note += f"; adapter layers only (without that d-wide traffic): {layers_only:.1f}%"
                add("comm", red, red > COMM_MIN_PCT, note)
            for key, var in (("comm_loras", "lora-s"), ("comm_lorap", "lora-p")):
                base = _pick(res, var, model, network)
                if base is not None and _payload(base) > 0:
                    v = 100 * (1 - _payload(pl) / _payload(base))
                    name = {"lora-s": "LoRA^S", "lora-p": "LoRA^P"}[var]
                    add(key, v, None, f"decode payload per token: PrivateLoRA {_payload(pl):,.0f} B, "
                        f"{name} {_payload(base):,.0f} B"
                        + ("; negative = PrivateLoRA sends more" if v < 0 else ""))
            dev = _pick(res, "device-only", model, network)
            if model == "llama2-7b" and dev is not None and float(dev["decode_tok_s"]) > 0:
                v = 100 * float(pl["decode_tok_s"]) / float(dev["decode_tok_s"])
                add("speedup", v, v > 100 * SPEEDUP_MIN,
                    f"PrivateLoRA {float(pl['decode_tok_s']):.2f} tok/s vs device-only "
                    f"{float(dev['decode_tok_s']):.2f} tok/s ({dev['method_label']})"
                    + (f"; waterfall: {stops[model]}" if model in stops else ""))
            cloud = _pick(res, "cloud-only", model, network)
            if model == "llama-30b" and cloud is not None:
                a100 = a100_decode_tok_s(ctx, cloud)
                if a100:
                    v = 100 * float(pl["decode_tok_s"]) / a100
                    add("a100", v, v > A100_SHARE_MIN_PCT,
                        f"PrivateLoRA {float(pl['decode_tok_s']):.2f} tok/s vs the {cloud['cloud']}'s own "
                        f"{a100:.2f} tok/s (cloud-only over {network}: {float(cloud['decode_tok_s']):.2f})"
                        + (f"; waterfall: {stops[model]}" if model in stops else ""))
    df = pd.DataFrame(out, columns=[*CLAIM_COLUMNS, "_key"])
    order = {c.key: i for i, c in enumerate(CLAIMS)}
    if not df.empty:
        df = df.assign(_o=df["_key"].map(order), _m=df["model"].map(PAPER_MODELS.index))
        df = df.sort_values(["_o", "_m", "network"], kind="stable").drop(columns=["_o", "_m"])
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- waterfall: the paper taken apart
def waterfall_frame(ctx: ReportContext) -> pd.DataFrame:
    """One row per waterfall step and model, with the claim the model speaks to: 7B's speed-up over
    device-only (the device-only row of the same model: the calibrated phone, i.e. the paper's
    measured 8.1 tok/s) and 30B's share of the A100's own decode speed (the cloud-only row's
    timeline)."""
    res = ctx.data.results
    recs = res.to_dict("records")
    steps = [(r, waterfall_step(r)) for r in recs]
    base = _with_variants(ctx)
    out = []
    for model in PAPER_MODELS:
        rows = sorted(((r, st) for r, st in steps if st is not None and r["model"] == model),
                      key=lambda x: x[1][0])
        if not rows:
            continue
        ref, claim = None, ""
        if model == "llama2-7b":
            dev = base[(base["variant"] == "device-only") & (base["model"] == model) & base["feasible"]]
            if not dev.empty:
                ref, claim = float(dev["decode_tok_s"].max()), "speedup"
        elif model == "llama-30b":
            cl = base[(base["variant"] == "cloud-only") & (base["model"] == model) & base["feasible"]]
            if not cl.empty:
                ref, claim = a100_decode_tok_s(ctx, cl.iloc[0].to_dict()), "a100"
        prev = None
        for r, (k, effect) in rows:
            tok = float(r["decode_tok_s"]) if r["feasible"] else float("nan")
            value = holds = None
            if ref and not math.isnan(tok):
                value = tok / ref if claim == "speedup" else 100 * tok / ref
                holds = value > (SPEEDUP_MIN if claim == "speedup" else A100_SHARE_MIN_PCT)
            out.append({"model": model, "step": k, "effect": effect, "network": r["network"],
                        "device": r["device"], "decode_tok_s": tok,
                        "delta_tok_s": None if prev is None else tok - prev, "claim": claim,
                        "claim_value": value, "holds": holds, "scenario_id": r["scenario_id"]})
            prev = tok
    return pd.DataFrame(out, columns=WATERFALL_COLUMNS)


def waterfall_stop(g: pd.DataFrame) -> str:
    """Where a model's claim stops holding along its waterfall, in words."""
    g = g[g["holds"].notna()]
    if g.empty:
        return "no reference row to judge the claim"
    unit = "×" if g["claim"].iloc[0] == "speedup" else "%"

    def at(r: dict[str, Any]) -> str:
        return f"W{r['step']} {r['effect']}: {r['decode_tok_s']:.2f} tok/s, {r['claim_value']:.2f}{unit}"

    rs = g.to_dict("records")
    if not rs[0]["holds"]:
        return f"does not hold even under the paper's accounting ({at(rs[0])})"
    for prev, r in zip(rs, rs[1:], strict=False):
        if not r["holds"]:
            return f"holds up to W{prev['step']} and stops holding at {at(r)}"
    return f"holds through every step (last: {at(rs[-1])})"


def waterfall_figure(wf: pd.DataFrame) -> Figure:
    """tok/s after each step, one panel per model, the claim's threshold dashed."""
    # the models taken apart step by step (a model with only its W0 row is in the table alone)
    models = [m for m in dict.fromkeys(wf["model"]) if (wf["model"] == m).sum() > 1]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 2.9 * len(models)), layout="constrained")
        axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
        for ax, model in zip(axes, models, strict=True):
            g = wf[wf["model"] == model].sort_values("step")
            y = np.arange(len(g))[::-1]
            ax.barh(y, g["decode_tok_s"].to_numpy(float), color=paradigm_color("privatelora"), height=0.6)
            ax.set_yticks(y, [f"W{k} {e}" for k, e in zip(g["step"], g["effect"], strict=True)])
            for yi, v in zip(y, g["decode_tok_s"].to_numpy(float), strict=True):
                if not math.isnan(v):
                    ax.text(v, yi, f" {v:.1f}", va="center", fontsize=8)
            claim = g["claim"].iloc[0]
            vals = g.dropna(subset=["claim_value"])
            if claim and not vals.empty:
                r = vals.iloc[0]
                ref = r["decode_tok_s"] / r["claim_value"] * (1 if claim == "speedup" else 100)
                line = SPEEDUP_MIN * ref if claim == "speedup" else A100_SHARE_MIN_PCT / 100 * ref
                text = ("paper's claim: 3× device-only" if claim == "speedup"
                        else "paper's claim: 80% of the A100")
                ax.axvline(line, color="black", linestyle="--", linewidth=1, label=f"{text} ({line:.1f})")
                ax.legend(loc="lower right")
            ax.set_xlabel("decode tok/s")
            ax.set_title(f"{model}: PrivateLoRA, one effect at a time")
    return fig


def _holds_text(h: Any) -> str:
    if h is None or (isinstance(h, float) and math.isnan(h)):
        return "—"
    return "yes" if bool(h) else "no"


# ---------------------------------------------------------------- sweeps: where the 7B claim stops
def crossing(values: np.ndarray, ratio: np.ndarray, level: float, worse_is_larger: bool) -> str:
    """Where ``ratio`` (ordered by ``values``) falls below ``level`` moving towards a worse link."""
    order = np.argsort(values)
    x, y = values[order], ratio[order]
    if not worse_is_larger:
        x, y = x[::-1], y[::-1]
    if y[0] <= level:
        return f"never holds (ratio {y[0]:.2f}× already at the best swept value {fmt_number(x[0])})"
    for i in range(1, len(x)):
        if y[i] <= level:
            t = (y[i - 1] - level) / (y[i - 1] - y[i])
            return f"stops at ≈{fmt_number(x[i - 1] + t * (x[i] - x[i - 1]))}"
    return f"holds over the whole range (ratio {y[-1]:.2f}× at {fmt_number(x[-1])})"


def sweep_frame(ctx: ReportContext) -> pd.DataFrame:
    """Per sweep and split paradigm: where its speed-up over device-only drops below 3× and below 1×."""
    sw = ctx.data.sweeps
    cols = ["sweep", "vary", "network", "method_label", "below_3x", "below_1x"]
    if sw is None or sw.empty:
        return pd.DataFrame(columns=cols)
    sw = sw[sw["model"] == "llama2-7b"]
    out = []
    for (name, vary, net), g in sw.groupby(["sweep", "vary", "network"], sort=True):
        dev = g[g["method"] == "device-only"].set_index("value")["decode_tok_s"]
        if dev.empty:
            continue
        for label, gm in g[g["method"] != "device-only"].groupby("method_label", sort=True):
            gm = gm[gm["value"].isin(dev.index)]
            x = gm["value"].to_numpy(float)
            ratio = gm["decode_tok_s"].to_numpy(float) / dev.loc[gm["value"]].to_numpy(float)
            worse_large = vary not in ("up_mbps", "down_mbps")
            out.append({"sweep": name, "vary": vary, "network": net, "method_label": label,
                        "below_3x": crossing(x, ratio, SPEEDUP_MIN, worse_large),
                        "below_1x": crossing(x, ratio, 1.0, worse_large)})
    return pd.DataFrame(out, columns=cols)


# ---------------------------------------------------------------- throughput and winners
def throughput_frame(ctx: ReportContext) -> pd.DataFrame:
    res = _with_variants(ctx)
    res = res[res["model"].isin(PAPER_MODELS)]
    nets = sorted(set(res["network"]))
    rows = []
    for (model, label, method), g in res.groupby(["model", "method_label", "method"], sort=False):
        r: dict[str, Any] = {"model": model, "method_label": label,
                             "paper_input_tok_s": PAPER_INPUT_TOK_S.get((method, model))}
        for n in nets:
            sel = g[g["network"] == n]
            r[n] = (float(sel["decode_tok_s"].iloc[0]) if not sel.empty and bool(sel["feasible"].iloc[0])
                    else None)
        rows.append(r)
    df = pd.DataFrame(rows, columns=["model", "method_label", "paper_input_tok_s", *nets])
    return df.assign(_m=df["model"].map(PAPER_MODELS.index)).sort_values(
        ["_m", "method_label"], kind="stable").drop(columns="_m").reset_index(drop=True)


def winners_frame(ctx: ReportContext) -> pd.DataFrame:
    res = ctx.data.results
    res = res[res["model"].isin(PAPER_MODELS) & res["feasible"]]
    out = []
    for (model, net), g in res.groupby(["model", "network"], sort=False):
        best = g.loc[g["decode_tok_s"].idxmax()]
        # the prompt and output are recoverable by the cloud in every split paradigm (models.privacy):
        # what a split can keep private is the personalised weights
        private = g[g["private_weights_leave_device"] == "no"]
        bp = private.loc[private["decode_tok_s"].idxmax()] if not private.empty else None
        out.append({"model": model, "network": net, "fastest": best["method_label"],
                    "fastest_tok_s": float(best["decode_tok_s"]),
                    "fastest_keeping_weights_on_device": None if bp is None else bp["method_label"],
                    "its_tok_s": None if bp is None else float(bp["decode_tok_s"])})
    df = pd.DataFrame(out, columns=["model", "network", "fastest", "fastest_tok_s",
                                    "fastest_keeping_weights_on_device", "its_tok_s"])
    return df.assign(_m=df["model"].map(PAPER_MODELS.index)).sort_values(
        ["_m", "network"], kind="stable").drop(columns="_m").reset_index(drop=True)


# ---------------------------------------------------------------- tables and section
def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{float(v):.1f}%" if pct else fmt_number(float(v))


def paper_tables(ctx: ReportContext) -> dict[str, Table]:
    """tables/paper_claims.csv (and the throughput, winners and sweep tables) when the section applies."""
    if not applies(ctx):
        return {}
    out: dict[str, Table] = {}
    claims = claims_frame(ctx)
    data = claims[CLAIM_COLUMNS].copy()
    data["holds"] = [_holds_text(h) if h is not None else "n/a" for h in claims["holds"]]
    data["holds"] = data["holds"].replace("—", "n/a")
    rows = [[r["claim"], r["model"], r["network"], r["paper_value"], _fmt(r["splitbench_value"], True),
             _holds_text(r["holds"]), r["note"]] for r in claims.to_dict("records")]
    out["paper_claims"] = Table("paper_claims", f"{PAPER}: claims and splitbench's figures", {}, data,
                                ["claim", "model", "network", "paper", "splitbench", "holds", "note"], rows)
    tp = throughput_frame(ctx)
    nets = [c for c in tp.columns if c not in ("model", "method_label", "paper_input_tok_s")]
    out["paper_throughput"] = Table(
        "paper_throughput", "decode throughput (tok/s)", {}, tp,
        ["model", "paradigm", "paper's measured input", *nets],
        [[r["model"], r["method_label"], _fmt(r["paper_input_tok_s"]), *[_fmt(r[n]) for n in nets]]
         for r in tp.to_dict("records")])
    if len(nets) > 1 or ctx.data.sweeps is not None:
        w = winners_frame(ctx)
        out["paper_winners"] = Table(
            "paper_winners", "which paradigm wins where", {}, w,
            ["model", "network", "fastest", "tok/s", "fastest keeping the private weights on the device",
             "tok/s"],
            [[r["model"], r["network"], r["fastest"], _fmt(r["fastest_tok_s"]),
              r["fastest_keeping_weights_on_device"] or "—", _fmt(r["its_tok_s"])]
             for r in w.to_dict("records")])
    wf = waterfall_frame(ctx)
    if not wf.empty:
        models = list(dict.fromkeys(wf["model"]))
        steps = sorted(set(zip(wf["step"], wf["effect"], strict=True)))
        rows = []
        for k, effect in steps:
            cells = [f"W{k}", effect]
            for m in models:
                sel = wf[(wf["model"] == m) & (wf["step"] == k)]
                if sel.empty:
                    cells += ["—", "—", "—"]
                    continue
                r = sel.iloc[0]
                unit = "×" if r["claim"] == "speedup" else "%"
                cells += [_fmt(r["decode_tok_s"]), _fmt(r["delta_tok_s"]),
                          "—" if r["claim_value"] is None or pd.isna(r["claim_value"])
                          else f"{r['claim_value']:.2f}{unit} ({_holds_text(r['holds'])})"]
            rows.append(cells)
        heads = ["step", "effect added"]
        for m in models:
            what = {"llama2-7b": "× device-only (>3×)", "llama-30b": "% of A100 (>80%)"}.get(m, "claim")
            heads += [f"{m} tok/s", "Δ tok/s", what]
        out["paper_waterfall"] = Table("paper_waterfall", "the paper's estimate, one effect at a time", {},
                                       wf, heads, rows)
    sw = sweep_frame(ctx)
    if not sw.empty:
        out["paper_sweep_limits"] = Table(
            "paper_sweep_limits", "where the 7B speed-up claims stop holding", {}, sw,
            ["sweep", "varied", "base network", "paradigm", "≥3× device-only (the claim)", "≥1× device-only"],
            [[r["sweep"], r["vary"], r["network"], r["method_label"], r["below_3x"], r["below_1x"]]
             for r in sw.to_dict("records")])
    return out


def _by_network(claims: pd.DataFrame) -> TableBlock:
    nets = sorted(set(claims["network"]))
    keys = list(dict.fromkeys(zip(claims["claim"], claims["model"], claims["paper_value"], strict=True)))
    rows = []
    for claim, model, paper in keys:
        cells = [claim, model, paper]
        for n in nets:
            sel = claims[(claims["claim"] == claim) & (claims["model"] == model) & (claims["network"] == n)]
            if sel.empty:
                cells.append("—")
            else:
                r = sel.iloc[0]
                h = _holds_text(r["holds"])
                v = _fmt(r["splitbench_value"], True)
                cells.append(v if h == "—" else f"{h} ({v})")
        rows.append(cells)
    return TableBlock(["claim", "model", "paper", *nets], rows, "`tables/paper_claims.csv` (with notes)")


def _verdicts(claims: pd.DataFrame) -> list[str]:
    out = []
    for c in CLAIMS:
        sel = claims[(claims["_key"] == c.key) & claims["holds"].notna()]
        if sel.empty:
            continue
        yes = sorted({f"{r['model']} on {r['network']}" for r in sel.to_dict("records") if r["holds"]})
        no = sorted({f"{r['model']} on {r['network']}" for r in sel.to_dict("records") if not r["holds"]})
        text = f"**{c.text} ({c.paper_value})**: "
        if yes and not no:
            text += "holds everywhere it was tested (" + ", ".join(yes) + ")."
        elif no and not yes:
            text += "does not hold anywhere it was tested (" + ", ".join(no) + ")."
        else:
            text += "holds on " + ", ".join(yes) + "; not on " + ", ".join(no) + "."
        out.append(text)
    return out


def _waterfall_verdicts(wf: pd.DataFrame) -> list[str]:
    names = {"speedup": "7B throughput >300% of device-only", "a100": "33B throughput >80% of an A100"}
    return [f"**{names.get(g['claim'].iloc[0], m)}**, one effect at a time: {waterfall_stop(g)}."
            for m, g in wf.groupby("model", sort=False) if g["claim"].iloc[0]]



#: The paper section's secondary tables, in order: (table name, heading, what it shows).
_PAPER_TABLES: list[tuple[str, str, str]] = [
    ("paper_throughput", "Decode throughput of each paradigm and model",
     "splitbench's decode tok/s per network; the paper's measured inputs (A100 HF transformers, 4-bit "
     "7B on a phone) are shown where the paradigm is one of them — splitbench reproduces them by "
     "construction, which checks the override."),
    ("paper_winners", "Which paradigm wins where",
     "Fastest feasible paradigm per model and network, and the fastest that keeps raw text on the device "
     "(PrivateLoRA, lora-split with the head on the device, device-only) — SPA and cloud-only send "
     "tokens to the cloud."),
    ("paper_sweep_limits", "Where the 7B speed-up stops holding (sweeps)",
     "From `sweeps.csv`: each split paradigm's decode tok/s divided by device-only's at the same link, "
     "moving towards a worse link (larger RTT, smaller uplink); crossings by linear interpolation "
     "between sweep points."),
]

def section_paper(ctx: ReportContext) -> list[Block]:
    if not applies(ctx):
        return []
    tables = ctx.extra_tables if "paper_claims" in ctx.extra_tables else paper_tables(ctx)
    claims = claims_frame(ctx)
    blocks: list[Block] = [
        Heading(2, f"{PAPER}: claims versus splitbench"),
        Para("The paper's abstract claims >95% communication reduction and, under standard 5G, decode "
             "throughput above 300% of device-only for 7B and above 80% of an A100 for 33B. The table puts "
             "each claim beside splitbench's figure for the same model and network, computed from "
             "`results.csv` (and, for the A100's own speed, the cloud-only scenario's timeline). "
             "Communication reduction is per generated token, both directions; LoRA^S and LoRA^P are "
             "the paper's baselines (no claimed figure: shown for scale)."),
    ]
    if not claims.empty:
        blocks += [Bullets(_verdicts(claims)), _by_network(claims)]
        notes = [f"{r['claim']} — {r['model']} on {r['network']}: {r['note']}"
                 for r in claims.to_dict("records") if r["_key"] in ("comm", "speedup", "a100")]
        seen: set[str] = set()
        blocks.append(Bullets([n for n in notes if not (n in seen or seen.add(n))]))
    wt = tables.get("paper_waterfall")
    if wt is not None:
        blocks += [Heading(3, "The paper's estimate, then one realistic effect at a time"),
                   Para("W0 is the paper's own accounting: the phone exactly as the paper assumes (its "
                        "stated 42.7 GB/s, fully used, no per-op cost: `paper-iphone13`), the cloud at the "
                        "A100's measured decoder speed with the adapter matrices A and B fused into the "
                        "projections, only the per-layer transfers counted (no embedding upload, no "
                        "final hidden state download), `paper-5g` (bandwidth only). Each later step adds "
                        "one effect to the one before; the last is the realistic 5G preset with TCP. "
                        "A step's Δ is what that assumption was worth.")]
        blocks += [Bullets(_waterfall_verdicts(wt.data))]
        png = ctx.figure_paths.get("paper_waterfall")
        if png is not None:
            blocks.append(FigureBlock(png, png.relative_to(ctx.data.path).as_posix(),
                                      "PrivateLoRA: the paper's estimate taken apart",
                                      "Decode tok/s after each step (W0: the paper's accounting); dashed: "
                                      "the paper's claim."))
        blocks.append(TableBlock(wt.display_headers, wt.display_rows, "`tables/paper_waterfall.csv`"))
    for name, heading, text in _PAPER_TABLES:
        t = tables.get(name)
        if t is not None:
            blocks += [Heading(3, heading), Para(text),
                       TableBlock(t.display_headers, t.display_rows, f"`tables/{name}.csv`")]
    return blocks
