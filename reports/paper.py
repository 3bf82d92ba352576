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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from splitbench.models.codec import CODECS
from splitbench.models.paradigms.params import PROJECTIONS
from splitbench.reports.document import Block, Bullets, Heading, Para, ReportContext, TableBlock
from splitbench.reports.load import resolved_part
from splitbench.reports.metrics import fmt_number
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


def _with_variants(ctx: ReportContext) -> pd.DataFrame:
    res = ctx.data.results.copy()
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
    """One row per (claim, model, network) that the results can speak to."""
    res = _with_variants(ctx)
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
                    f"{float(dev['decode_tok_s']):.2f} tok/s ({dev['method_label']})")
            cloud = _pick(res, "cloud-only", model, network)
            if model == "llama-30b" and cloud is not None:
                a100 = a100_decode_tok_s(ctx, cloud)
                if a100:
                    v = 100 * float(pl["decode_tok_s"]) / a100
                    add("a100", v, v > A100_SHARE_MIN_PCT,
                        f"PrivateLoRA {float(pl['decode_tok_s']):.2f} tok/s vs the {cloud['cloud']}'s own "
                        f"{a100:.2f} tok/s (cloud-only over {network}: {float(cloud['decode_tok_s']):.2f})")
    df = pd.DataFrame(out, columns=[*CLAIM_COLUMNS, "_key"])
    order = {c.key: i for i, c in enumerate(CLAIMS)}
    if not df.empty:
        df = df.assign(_o=df["_key"].map(order), _m=df["model"].map(PAPER_MODELS.index))
        df = df.sort_values(["_o", "_m", "network"], kind="stable").drop(columns=["_o", "_m"])
    return df.reset_index(drop=True)


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
            worse_large = vary != "up_mbps"
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
    for name, heading, text in _PAPER_TABLES:
        t = tables.get(name)
        if t is not None:
            blocks += [Heading(3, heading), Para(text),
                       TableBlock(t.display_headers, t.display_rows, f"`tables/{name}.csv`")]
    return blocks
