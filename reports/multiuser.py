"""The multi-user section: throughput and p90 TPOT against N, and what PrivateLoRA's round
trips cost a shared cloud. Reads only ``multiuser.csv``; absent file -> no section."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from splitbench.reports.document import Block, FigureBlock, Heading, Para, ReportContext, TableBlock
from splitbench.reports.metrics import fmt_number, paradigm_color
from splitbench.reports.plots import RC, save_figure

GROUP = ["model", "method", "method_label", "network", "policy", "max_batch", "cloud", "shared_cell"]
NUMERIC = ["users", "max_batch", "aggregate_tok_s", "tpot_p90_s", "tpot_p50_s", "ttft_p90_s",
           "cloud_utilisation", "mean_batch", "queue_delay_mean_s", "cloud_stall_s"]


def _complete(df: pd.DataFrame) -> pd.DataFrame:
    """The grouping columns a multiuser.csv written before shared cells and per-cloud series lacks."""
    if "cloud" in df and "shared_cell" in df:
        return df
    df = df.copy()
    if "cloud" not in df:
        df["cloud"] = ""
    if "shared_cell" not in df:
        df["shared_cell"] = False
    return df


def read_multiuser(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"scenario_id": str, "network": str, "policy": str})
    if "shared_cell" not in df:  # written before users could share a cell
        df["shared_cell"] = False
    df["shared_cell"] = df["shared_cell"].astype(str).str.lower() == "true"
    for c in NUMERIC:
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _label(key: tuple, show_cloud: bool = False) -> str:
    model, _method, label, network, policy, max_batch, cloud, shared = key
    return (f"{label}, {policy}, {network}" + (", one shared cell" if shared else "")
            + (f", {cloud}" if show_cloud else ""))


def multiuser_figure(df: pd.DataFrame) -> Figure:
    """Aggregate tok/s and p90 TPOT against N, one line per paradigm × policy × network.

    Policy `step` is dashed; a network mix gets square markers so it stays apart from the single
    network of the same paradigm and policy; the legend sits below both panels so no curve hides."""
    from matplotlib.ticker import FuncFormatter

    df = _complete(df)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(10, 5.2), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        show_cloud = df["cloud"].nunique() > 1
        for key, g in df.groupby(GROUP, sort=True):
            g = g.sort_values("users")
            style = "--" if key[4] == "step" else ":" if key[7] else "-"
            marker = "s" if ":" in str(key[3]) else "^" if show_cloud and "vllm" in str(key[6]) else "o"
            kw = {"color": paradigm_color(key[1]), "linestyle": style, "marker": marker, "markersize": 4}
            ax1.plot(g["users"], g["aggregate_tok_s"], label=_label(key, show_cloud), **kw)
            ax2.plot(g["users"], g["tpot_p90_s"], **kw)
        for ax, y, title in (
            (ax1, "aggregate decode throughput (tok/s)", "Throughput of all users together"),
            (ax2, "p90 time per output token (s)", "Latency one user sees"),
        ):
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.set_yscale("log")
            ax.set_xlabel("users sharing the cloud, N")
            ax.set_ylabel(y)
            ax.set_title(title, fontsize=10)
            ax.grid(True, alpha=0.3)
        fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
        fig.suptitle("Many users, one cloud (dashed: batch held together per step; solid: interleaved)")
    return fig


def _utilisation_paragraph(df: pd.DataFrame) -> str | None:
    """Step vs interleave for PrivateLoRA at the largest N both policies ran (same link and batch)."""
    df = _complete(df)
    pl = df[(df["method"] == "privatelora") & ~df["shared_cell"]]
    keys = ["model", "method_label", "network", "max_batch", "users", "cloud"]
    step = pl[pl["policy"] == "step"].set_index(keys)
    inter = pl[pl["policy"] == "interleave"].set_index(keys)
    both = step.index.intersection(inter.index)
    if len(both) == 0:
        return None
    texts = []
    # one sentence per network, at its largest common N
    best: dict[tuple, tuple] = {}
    for k in both:
        g = (*k[:4], k[5])
        if g not in best or k[4] > best[g][4]:
            best[g] = k
    for g in sorted(best):
        k = best[g]
        s, i = step.loc[k], inter.loc[k]
        texts.append(
            f"With {k[4]} {k[1]} users of {k[0]} on {k[2]} (at most {k[3]} requests batched), "
            "the held-together "
            f"step keeps the cloud busy only {100 * s['cloud_utilisation']:.2g}% of the time — it idles "
            f"{fmt_number(s['cloud_stall_s'])} s in mid-step stalls while the batch waits for its slowest "
            f"member's per-layer round trip — at {fmt_number(s['aggregate_tok_s'])} tok/s and "
            f"{fmt_number(s['tpot_p90_s'])} s p90 TPOT. Layer-level interleaving runs other users' ready "
            f"layers in those gaps: {100 * i['cloud_utilisation']:.2g}% busy, "
            f"{fmt_number(i['aggregate_tok_s'])} tok/s ({i['aggregate_tok_s'] / s['aggregate_tok_s']:.2g}x) "
            f"and {fmt_number(i['tpot_p90_s'])} s p90 TPOT — but at a mean batch of "
            f"{fmt_number(i['mean_batch'])} instead of {fmt_number(s['mean_batch'])}, because users drift "
            "apart in their layers, so the weights are re-read for almost every user's layer."
        )
    return " ".join(texts)


def _saturation_paragraph(df: pd.DataFrame) -> str:
    parts = []
    df = _complete(df)
    show_cloud = df["cloud"].nunique() > 1
    for key, g in df.groupby(GROUP, sort=True):
        g = g.sort_values("users")
        top = g["aggregate_tok_s"].max()
        sat = g[g["aggregate_tok_s"] >= 0.95 * top]["users"].min()
        parts.append(f"{_label(key, show_cloud)}: {fmt_number(top)} tok/s, reached by N = {fmt_number(sat)} "
                     f"(cloud {100 * g['cloud_utilisation'].max():.2g}% busy at most)")
    return "; ".join(parts) + "."


def section_multiuser(ctx: ReportContext) -> list[Block]:
    df = read_multiuser(ctx.data.path / "multiuser.csv")
    if df is None or df.empty:
        return []
    df = df[df["aggregate_tok_s"].notna()]
    png, _ = save_figure(multiuser_figure(df), ctx.data.path / "plots", "multiuser")
    out: list[Block] = [
        Heading(2, "Many users, one cloud"),
        Para(
            "N users, each with its own device and link, share one cloud node that batches their steps "
            "(continuous batching, weights read once per batched launch; `multiuser.csv`). Requests beyond "
            "`max_batch` queue. Policy `step` holds a batch's forward step together; `interleave` launches, "
            "whenever the cloud is free, whichever users' layers are ready. Throughput levels off where "
            "N reaches `max_batch` (all slots busy) or the cloud's batched roofline, whichever comes first."
        ),
        FigureBlock(png, png.relative_to(ctx.data.path).as_posix(), "Throughput and p90 TPOT against N",
                    "Aggregate tokens/s (left) and p90 time per output token (right); dashed: policy step."),
        Para("Where each levels off — " + _saturation_paragraph(df)),
    ]
    util = _utilisation_paragraph(df)
    if util:
        out += [Heading(3, "What PrivateLoRA's round trips cost the cloud"), Para(util)]
    cols = ["method_label", "policy", "network", "shared_cell", "cloud", "users", "aggregate_tok_s",
            "tpot_p50_s", "tpot_p90_s", "ttft_p90_s", "cloud_utilisation", "mean_batch", "queue_delay_mean_s"]
    rows = [[str(r[c]) if isinstance(r[c], str | bool) else fmt_number(r[c]) for c in cols]
            for _, r in df.sort_values(["method_label", "policy", "network", "users"]).iterrows()]
    out.append(TableBlock(cols, rows, "`multiuser.csv`"))
    return out
