"""The headline: what a person decides from, in plain sentences, one per paradigm and network.

Numbers come from results.csv (the same values as the tables) and, for break-even points, from the
sweeps; sentences are generated, never hand-written, so they cannot drift from the data.
"""

from __future__ import annotations

import math

import pandas as pd

from splitbench.reports.breakeven import BreakEven
from splitbench.reports.load import iter_groups
from splitbench.reports.metrics import REFERENCE_PARADIGMS, display_name, fmt_number
from splitbench.reports.tables import group_title, varying_keys


def _val(row: pd.Series, col: str) -> float | None:
    v = row.get(col)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _reference(rows: pd.DataFrame, method: str) -> float | None:
    r = rows[(rows["method"] == method) & rows["feasible"]]
    return _val(r.iloc[0], "decode_tok_s") if not r.empty else None


def break_even_phrase(row: pd.Series, items: list[BreakEven]) -> str:
    """'it needs RTT below 40 ms and uplink above 10 Mbit/s to beat device-only' or ''.

    Uses the sweeps around this row's network when there are any, else any sweep of the same model,
    paradigm and hardware, naming its base network (a sweep varies one parameter from its base).
    """
    mine = [b for b in items if b.model == row["model"] and b.method_label == row["method_label"]
            and b.device in ("", row["device"]) and b.cloud in ("", row["cloud"])]
    if not mine:
        return ""
    same_net = [b for b in mine if b.network == row["network"]]
    chosen = same_net or [b for b in mine if b.network == mine[0].network]
    order = {"rtt_ms": 0, "up_mbps": 1}
    chosen = sorted(chosen, key=lambda b: (order.get(b.vary, 2), b.vary, b.sweep))
    clauses = [(b, *b.clause()) for b in chosen]
    needs = [w for _, k, w in clauses if k == "needs"]
    parts = [f"needs {' and '.join(needs)} to beat device-only"] if needs else []
    for kind, text in (("everywhere", "beats device-only everywhere in the sweep"),
                       ("never", "never beats device-only in the sweep")):
        spans = [b.span for b, k, _ in clauses if k == kind]
        if spans:
            parts.append(f"{text}{'s' if len(spans) > 1 else ''} ({', '.join(spans)})")
    parts += [w for _, k, w in clauses if k == "crosses"]
    if not parts:
        return ""
    where = "" if same_net else f"in the sweeps around {chosen[0].network}, "
    return where + "it " + "; it ".join(parts)


def paradigm_sentence(row: pd.Series, rows: pd.DataFrame, items: list[BreakEven]) -> str:
    """One sentence for one split paradigm on one network, in the issue's wording."""
    name = display_name(row["method"], row["method_label"])
    where = f"On {row['network']} with {row['model']}, {name}"
    if not row["feasible"]:
        return f"{where} is infeasible: {row['infeasible_reason'] or 'reason not recorded'}."
    tok = _val(row, "decode_tok_s")
    if tok is None:
        return f"{where} has no decode throughput recorded."
    dev, cloud = _reference(rows, "device-only"), _reference(rows, "cloud-only")
    speedup = _val(row, "speedup_vs_device_only")
    if speedup is None and dev:
        speedup = tok / dev
    share = _val(row, "share_of_cloud_only_pct")
    if share is None and cloud:
        share = 100 * tok / cloud
    rel = []
    if speedup is not None:
        rel.append(f"{fmt_number(speedup)}× device-only")
    if share is not None:
        rel.append(f"{fmt_number(share)}% of cloud-only")
    s = f"{where} decodes {fmt_number(tok)} tok/s" + (": " + " and ".join(rel) if rel else "")
    cr = _val(row, "comm_reduction_pct")
    if cr is not None and row["method"] != "lora-split":
        s += (f", sending {fmt_number(abs(cr))}% {'fewer' if cr >= 0 else 'more'} bytes than LoRA on "
              "the device")
    be = break_even_phrase(row, items)
    if be:
        s += f"; {be}"
    return s + "."


def reference_sentence(rows: pd.DataFrame, key: dict[str, object]) -> str:
    """Baselines of a group and the fastest option, so each split sentence has its context."""
    dev, cloud = _reference(rows, "device-only"), _reference(rows, "cloud-only")
    bits = []
    if dev is not None:
        bits.append(f"device-only decodes {fmt_number(dev)} tok/s")
    if cloud is not None:
        bits.append(f"cloud-only {fmt_number(cloud)} tok/s")
    ok = rows[rows["feasible"] & rows["decode_tok_s"].notna()]
    s = f"On {key['network']} with {key['model']}: " + (", ".join(bits) if bits else "no baseline rows")
    if not ok.empty:
        best = ok.loc[ok["decode_tok_s"].idxmax()]
        split = ok[~ok["method"].isin(REFERENCE_PARADIGMS)]
        s += f". Fastest: {display_name(best['method'], best['method_label'])}"
        if not split.empty and best["method"] in REFERENCE_PARADIGMS:
            b2 = split.loc[split["decode_tok_s"].idxmax()]
            s += (f"; fastest split paradigm: {display_name(b2['method'], b2['method_label'])} "
                  f"({fmt_number(float(b2['decode_tok_s']))} tok/s)")
    return s + "."


def headline(results: pd.DataFrame, items: list[BreakEven]) -> list[tuple[str, list[str]]]:
    """[(group heading, sentences)] for every comparison group."""
    out = []
    varying = varying_keys(results)
    for key, rows in iter_groups(results):
        sentences = [reference_sentence(rows, key)]
        for _, row in rows.iterrows():
            if row["method"] not in REFERENCE_PARADIGMS:
                sentences.append(paradigm_sentence(row, rows, items))
        out.append((group_title(key, varying), sentences))
    return out
