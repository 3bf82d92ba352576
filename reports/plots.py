"""Figures. Each ``*_figure`` function returns a matplotlib Figure (so tests can inspect series and
labels); :func:`save_figure` writes it as PNG and SVG with fixed metadata so reruns are
byte-identical.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``, Agg canvas), never
pyplot: no display, no global figure registry, nothing to close, safe in worker processes.
Colours come from :func:`reports.metrics.paradigm_color` only, so a paradigm looks the same in
every figure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

from splitbench.reports.breakeven import BreakEven, curve, iter_sweep_groups
from splitbench.reports.load import GROUP_KEYS, ResultsDir, iter_groups, resolved_part
from splitbench.reports.metrics import (
    METRICS,
    REFERENCE_PARADIGMS,
    SWEEP_AXES,
    fmt_number,
    paradigm_color,
    paradigm_rank,
)
from splitbench.reports.tables import group_slug, group_title, slug, varying_keys

RC: dict[str, Any] = {
    "svg.hashsalt": "splitbench",  # stable element ids in SVG
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
PNG_DPI = 130
#: zlib level 1: the same pixels as the default level 6 in half the encoding time, files about 5% larger.
PNG_ENCODING = {"compress_level": 1}

# Activity colours for the decode-step timeline (lanes are activities, not paradigms).
LANES: list[tuple[str, str, str]] = [  # (lane key in timelines json, label, colour)
    ("device", "device compute", "#8da0cb"),
    ("up", "uplink", "#fc8d62"),
    ("cloud", "cloud compute", "#66c2a5"),
    ("down", "downlink", "#e78ac3"),
    ("waiting", "waiting (propagation, ACK/window waits, idle)", "#bdbdbd"),
]
TRANSFER_LANES = ("up", "down")
IN_FLIGHT_ALPHA = 0.22  # a transfer's whole span, first byte out to last byte in: drawn faintly


@dataclass
class FigureItem:
    """A figure of the report plus what the report needs to say about it.

    The figure itself is built on first use of :attr:`fig`: building one costs as much as a tenth of
    saving it, and :func:`save_figures` hands each figure to one of two processes, so each builds only
    the figures it saves."""

    stem: str  # file stem in plots/
    kind: str  # throughput | crossover | payload | timeline | latency_cdf
    title: str
    caption: str
    make: Callable[[], Figure] = field(repr=False)
    panels: int = 1  # axes the figure will have (the ones with many are saved first)

    @cached_property
    def fig(self) -> Figure:
        return self.make()


_EXTRA_STYLES = ["-.", (0, (5, 1.5)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1))]


def series_linestyles(series: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """A line style per (method, label): device-only dashed, cloud-only dotted, others solid — and
    when one paradigm has several series (LoRA^S and LoRA^P are both lora-split, so share a colour),
    the second and later get their own styles, so no two curves look alike."""
    base = {"device-only": "--", "cloud-only": ":"}
    out: dict[tuple[str, str], Any] = {}
    seen: dict[str, int] = {}
    for method, label in series:
        if (method, label) in out:
            continue
        k = seen.get(method, 0)
        seen[method] = k + 1
        extra = _EXTRA_STYLES[(k - 1) % len(_EXTRA_STYLES)]
        out[(method, label)] = base.get(method, "-") if k == 0 else extra
    return out


def _new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        return Figure(figsize=(width, height), layout="constrained")


def figure_files(folder: Path, stem: str) -> tuple[Path, Path]:
    """The PNG and SVG :func:`save_figure` writes for ``stem``."""
    return folder / f"{stem}.png", folder / f"{stem}.svg"


def save_figure(fig: Figure, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.png`` and ``stem.svg``; metadata without dates or versions -> identical reruns.

    The layout engine runs once for both files, at the PNG's resolution, so the PNG is laid out
    exactly as savefig would lay it out (each savefig would otherwise run the engine again, with a
    draw of its own, before drawing)."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = figure_files(folder, stem)
    with matplotlib.rc_context(RC):
        engine = fig.get_layout_engine()
        if engine is not None:
            dpi, fig.dpi = fig.dpi, PNG_DPI
            try:
                engine.execute(fig)
            finally:
                fig.dpi = dpi
            with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
                fig.set_layout_engine(None)  # no engine at all: savefig then draws once, not twice
        try:
            fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None}, pil_kwargs=PNG_ENCODING)
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            if engine is not None:
                fig.set_layout_engine(engine)
    return png, svg


def save_figures(
    figures: list[FigureItem], folder: Path, meanwhile: Callable[[], None] | None = None
) -> list[Path]:
    """:func:`save_figure` for each item (building its figure); returns the PNG paths in order.
    ``meanwhile``, if given, is called in this process while the figures are being saved (work that
    needs none of the files), and before this process saves any.

    Building and rendering figures is single-threaded and CPU-bound, so where this process can fork
    (and runs no other thread that a fork could catch holding a lock) and has a second core, a forked
    copy of it saves figures from the start, and this process joins it after ``meanwhile``: both take
    the next unsaved figure, those with most panels first, until none is left. Every file is written
    by exactly one of them, from the same figure, so the files are the same either way."""
    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(figures)), key=lambda i: -figures[i].panels)  # timelines: many panels
    paths = [figure_files(folder, f.stem)[0] for f in figures]
    if len(figures) < 2 or not _can_fork():
        if meanwhile is not None:
            meanwhile()
        for i in order:
            save_figure(figures[i].fig, folder, figures[i].stem)
        return paths
    import multiprocessing

    taken = multiprocessing.get_context("fork").Value("i", 0)

    def work() -> None:
        while True:
            with taken.get_lock():
                k = taken.value
                taken.value += 1
            if k >= len(order):
                return
            save_figure(figures[order[k]].fig, folder, figures[order[k]].stem)

    pid = os.fork()
    if pid == 0:  # the copy: save its share and leave without running the parent's exit handlers
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    try:
        if meanwhile is not None:
            meanwhile()
        work()
    finally:
        _, status = os.waitpid(pid, 0)
    if status != 0:  # the copy failed part-way: save everything here
        for i in order:
            save_figure(figures[i].fig, folder, figures[i].stem)
    return paths


def warm_up() -> None:
    """Draw a throwaway figure with the report's styles (bold and plain text, a legend, a log axis,
    whose tick labels are mathtext) to PNG and SVG in memory and discard it.

    Why: the first figure a process draws also loads the fonts, builds the mathtext parser and fills
    the glyph caches (a few tenths of a second). Done here, in a process that forks the report's
    savers later, they start with all of that loaded; the run calls it while its other core is still
    importing torch for the trace builders."""
    import io

    fig = _new_figure(2.0, 2.0)
    with matplotlib.rc_context(RC):
        ax = fig.add_subplot()
        ax.set_yscale("log")
        ax.plot([1, 2], [1, 1000], label="a")
        ax.set_title("a", fontweight="bold")
        ax.set_xlabel("a")
        ax.legend()
        for fmt in ("png", "svg"):
            fig.savefig(io.BytesIO(), format=fmt, dpi=PNG_DPI)


def _can_fork() -> bool:
    import threading

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return hasattr(os, "fork") and cores > 1 and threading.active_count() == 1


def _plain_ticks(axis: Any, ticks: np.ndarray | None) -> None:
    """Log axes with readable numbers (5, 20, 100) instead of 10^1 powers."""
    if ticks is not None:
        axis.set_ticks(ticks, [fmt_number(t) for t in ticks])
        axis.set_minor_locator(NullLocator())
    else:
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_number(v)))
        axis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------- throughput bars
def throughput_figure(rows: pd.DataFrame, title: str) -> Figure:
    """Grouped bars of decode tok/s per network for split paradigms; device-only and cloud-only
    drawn as reference lines across each network's group; infeasible bars hatched and labelled."""
    networks = sorted(rows["network"].unique())
    split = rows[~rows["method"].isin(REFERENCE_PARADIGMS)]
    labels = sorted(split[["method", "method_label"]].drop_duplicates().itertuples(index=False),
                    key=lambda t: (paradigm_rank(t[0]), t[1]))
    n = max(len(labels), 1)
    width = 0.8 / n
    fig = _new_figure(max(5.5, 1.1 * len(networks) * max(n, 2) * 0.55 + 2), 4.0)
    with matplotlib.rc_context(RC):
        ax = fig.add_subplot()
        ymax = float(np.nanmax(rows["decode_tok_s"].to_numpy(dtype=float), initial=0.0)) or 1.0
        seen_variants: dict[str, int] = {}
        for j, (method, label) in enumerate(labels):
            variant = seen_variants.get(method, 0)
            seen_variants[method] = variant + 1
            xs, hs, infeasible = [], [], []
            for i, net in enumerate(networks):
                r = split[(split["network"] == net) & (split["method_label"] == label)]
                x = i - 0.4 + width * (j + 0.5)
                xs.append(x)
                ok = not r.empty and bool(r["feasible"].iloc[0]) and not np.isnan(r["decode_tok_s"].iloc[0])
                hs.append(float(r["decode_tok_s"].iloc[0]) if ok else 0.0)
                infeasible.append(not r.empty and not ok)
            bars = ax.bar(xs, hs, width * 0.92, label=label, color=paradigm_color(method),
                          hatch=["", "//", "..", "xx"][variant % 4], edgecolor="white", linewidth=0.5)
            texts = ax.bar_label(bars, labels=["" if bad or h == 0 else fmt_number(h)
                                               for h, bad in zip(hs, infeasible, strict=True)],
                                 fontsize=7, padding=1, zorder=5)
            for t in texts:  # stay readable where a reference line crosses the label
                t.set_bbox({"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 0.3})
            for x, bad in zip(xs, infeasible, strict=True):
                if bad:
                    ax.text(x, ymax * 0.02, "infeasible", rotation=90, ha="center", va="bottom",
                            fontsize=7, color=paradigm_color(method))
        # reference values go in the tick labels: text on the lines would collide with bar labels
        ticks = list(networks)
        for ref, style in (("device-only", "--"), ("cloud-only", ":")):
            first = True
            for i, net in enumerate(networks):
                r = rows[(rows["network"] == net) & (rows["method"] == ref) & rows["feasible"]]
                if r.empty or np.isnan(r["decode_tok_s"].iloc[0]):
                    continue
                y = float(r["decode_tok_s"].iloc[0])
                ax.hlines(y, i - 0.45, i + 0.45, colors=paradigm_color(ref), linestyles=style,
                          linewidth=1.8, label=ref if first else "_nolegend_", zorder=3)
                ticks[i] += f"\n{ref} {fmt_number(y)}"
                first = False
        ax.set_xticks(range(len(networks)), ticks)
        ax.set_xlim(-0.6, len(networks) - 0.4)
        ax.set_ylim(0, ymax * 1.15)
        ax.set_xlabel("network")
        ax.set_ylabel("decode throughput (tok/s)")
        ax.set_title(title)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------- crossover curves
def crossover_figure(rows: pd.DataFrame, key: dict[str, str], items: list[BreakEven]) -> Figure:
    """Decode tok/s versus the swept link parameter, one line per paradigm, break-evens marked."""
    vary = key["vary"]
    xlabel = SWEEP_AXES.get(vary, (vary, ""))[0]
    unit = SWEEP_AXES.get(vary, (vary, ""))[1]
    fig = _new_figure(6.8, 4.2)
    with matplotlib.rc_context(RC):
        ax = fig.add_subplot()
        labels = sorted(rows[["method", "method_label"]].drop_duplicates().itertuples(index=False),
                        key=lambda t: (paradigm_rank(t[0]), t[1]))
        styles = series_linestyles([(m, lb) for m, lb in labels])
        for method, label in labels:
            x, y = curve(rows[rows["method_label"] == label])
            ref = method in REFERENCE_PARADIGMS
            ax.plot(x, y, label=label, color=paradigm_color(method),
                    linestyle=styles[(method, label)],
                    marker=None if ref else "o", markersize=3.5, linewidth=1.8 if ref else 1.5)
        dev = rows[rows["method"] == "device-only"]
        dx, dy = curve(dev) if not dev.empty else (np.array([]), np.array([]))
        first = True
        for b in items:
            if b.value is None or len(dx) == 0:
                continue
            yb = float(np.interp(b.value, dx, dy))
            ax.plot([b.value], [yb], marker="X", markersize=10, color=paradigm_color(b.method),
                    markeredgecolor="black", linestyle="none",
                    label="break-even vs device-only" if first else "_nolegend_", zorder=5)
            ax.axvline(b.value, color=paradigm_color(b.method), linestyle=":", linewidth=1)
            ax.annotate(f"{fmt_number(b.value)} {unit}", (b.value, yb), textcoords="offset points",
                        xytext=(6, 8), fontsize=8, color=paradigm_color(b.method), fontweight="bold")
            first = False
        flat = [f"{b.method_label}:\n  {b.clause()[1]}" for b in items if b.value is None]
        if flat:  # paradigms with no crossing get their verdict beside the plot, under the legend
            ax.text(1.02, 0.0, "\n".join(flat).replace(" in the sweep (", "\n  in the sweep ("),
                    transform=ax.transAxes, ha="left", va="bottom", fontsize=7, color="#333333")
        xs = np.unique(rows["value"].to_numpy(dtype=float))
        if vary == "up_mbps" and xs.min() > 0 and xs.max() / xs.min() >= 20:
            ax.set_xscale("log")
            _plain_ticks(ax.xaxis, xs if len(xs) <= 12 else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("decode throughput (tok/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{key['model']}: decode throughput vs {xlabel.split(' (')[0]}\n"
                     f"other link parameters as {key['network']}; sweep '{key['sweep']}'", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------- payload bytes
def payload_figure(rows: pd.DataFrame, model: str) -> Figure:
    """Up and down payload bytes per generated token per paradigm on a log scale.

    Payload is a property of model × paradigm (not of the link), so the median over the model's rows
    is shown; zero-byte paradigms (device-only) cannot sit on a log axis and are annotated instead.
    """
    stats = (rows.groupby(["method", "method_label"], sort=False)
             [["up_bytes_per_token", "down_bytes_per_token", "comm_reduction_pct"]].median())
    order = sorted(stats.index, key=lambda t: (paradigm_rank(t[0]), t[1]))
    fig = _new_figure(max(5.5, 0.9 * len(order) + 2.5), 4.2)
    with matplotlib.rc_context(RC):
        ax = fig.add_subplot()
        ax.set_yscale("log")
        positive = stats[["up_bytes_per_token", "down_bytes_per_token"]].to_numpy(dtype=float)
        positive = positive[np.isfinite(positive) & (positive > 0)]
        floor = float(positive.min()) / 4 if positive.size else 1.0
        top = float(positive.max()) * 60 if positive.size else 10.0
        for i, (method, label) in enumerate(order):
            s = stats.loc[(method, label)]
            color = paradigm_color(method)
            for dx, col, hatch, alpha in ((-0.2, "up_bytes_per_token", "", 1.0),
                                          (0.2, "down_bytes_per_token", "///", 0.55)):
                v = float(s[col])
                if np.isfinite(v) and v > 0:
                    bars = ax.bar(i + dx, v, 0.38, color=color, alpha=alpha, hatch=hatch, edgecolor="white")
                    ax.bar_label(bars, labels=[fmt_number(v)], fontsize=7, padding=1)
            up, down = float(s["up_bytes_per_token"]), float(s["down_bytes_per_token"])
            if (up or 0) <= 0 and (down or 0) <= 0:
                ax.text(i, floor * 1.3, "nothing\nsent", ha="center", va="bottom", fontsize=8, color=color)
            cr = float(s["comm_reduction_pct"])
            if method == "lora-split":
                ax.text(i, top / 1.5, "reference", ha="center", va="top", fontsize=7,
                        color=color, fontweight="bold")
            elif np.isfinite(cr):
                word = "less" if cr >= 0 else "more"
                ax.text(i, top / 1.5, f"{fmt_number(abs(cr))}% {word}\nthan lora-split", ha="center",
                        va="top", fontsize=7, color=color, fontweight="bold")
        ax.set_ylim(floor, top)
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_xticks(range(len(order)), [label for _, label in order], rotation=20, ha="right")
        for tick, (method, _) in zip(ax.get_xticklabels(), order, strict=True):
            tick.set_color(paradigm_color(method))
        ax.set_xlabel("paradigm")
        ax.set_ylabel("payload per generated token (bytes, log scale)")
        ax.set_title(f"{model}: decode payload per token (communication reduction)")
        ax.grid(axis="x", visible=False)
        handles = [Patch(facecolor="#777777", label="up (device → cloud)"),
                   Patch(facecolor="#777777", alpha=0.55, hatch="///", edgecolor="white",
                         label="down (cloud → device)")]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------- decode-step timeline
def _busy_spans(event: dict[str, Any]) -> list[tuple[float, float]]:
    """The parts of a step during which it occupies its resource. A compute step: all of it. A
    transfer: the intervals in which its bytes were being serialised on the bottleneck (``wire``),
    else from its start to its last byte leaving (``wire_end``); the rest, until the last byte
    arrives, is ACK/window waits and propagation, which occupy nothing. Timelines written before
    netsim recorded these count the whole transfer as on the wire."""
    start, end = float(event["start"]), float(event["end"])
    if event.get("lane") in TRANSFER_LANES:
        if event.get("wire") is not None:
            return [(float(s), float(e)) for s, e in event["wire"] if float(e) > float(s)]
        if event.get("wire_end") is not None:
            return [(start, min(max(float(event["wire_end"]), start), end))]
    return [(start, end)]


def lane_spans(events: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Busy intervals of each lane of LANES for one decode step; "waiting" gets the gaps of [0, step
    end] in which no compute runs and no byte is on the wire."""
    out: dict[str, list[tuple[float, float]]] = {lane: [] for lane, _, _ in LANES}
    for e in events:
        if e["lane"] in out:
            out[e["lane"]].extend(_busy_spans(e))
    end = max((float(e["end"]) for e in events), default=0.0)
    out["waiting"] = _gaps([s for lane, spans in out.items() if lane != "waiting" for s in spans], end)
    return out


def lane_totals(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds each lane is busy in the step (overlapping messages in one lane counted once)."""
    return {lane: _union_length(spans) for lane, spans in lane_spans(events).items()}


def _gaps(spans: list[tuple[float, float]], end: float) -> list[tuple[float, float]]:
    """Intervals of [0, end] covered by none of ``spans``."""
    gaps, t = [], 0.0
    for s, e in sorted(spans):
        if s > t:
            gaps.append((t, s))
        t = max(t, e)
    if end > t:
        gaps.append((t, end))
    return gaps


def _union_length(spans: list[tuple[float, float]]) -> float:
    """Length of the union of intervals: how long a lane is busy, however many messages overlap."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(spans):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def timeline_panels(
    rows: pd.DataFrame, timelines: dict[str, dict[str, Any]]
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(method, label, decode-step events) of each row whose timeline has a decode step: the panels
    of :func:`timeline_figure`."""
    return [(r.method, r.method_label, timelines[r.scenario_id]["decode_step"])
            for r in rows.itertuples() if r.scenario_id in timelines
            and timelines[r.scenario_id].get("decode_step")]


def timeline_figure(rows: pd.DataFrame, timelines: dict[str, dict[str, Any]], title: str) -> Figure | None:
    """One panel per paradigm: a representative decode step split into activity lanes, with the
    total time of each lane (and its share of the step) in its label.

    Uplink and downlink bars are the time bytes are on the wire; each message's whole span, from
    when it starts to go out to its last byte's arrival, is drawn faintly behind them, and the time in
    which nothing computes and nothing is on the wire is the "waiting" lane: a latency-bound split
    shows a long waiting lane next to short link bars, a bandwidth-bound one the opposite."""
    panels = timeline_panels(rows, timelines)
    if not panels:
        return None
    fig = _new_figure(7.5, 0.5 + 1.35 * len(panels))
    with matplotlib.rc_context(RC):
        # each panel its own time axis: a 40 ms step next to a 1 s step would otherwise be invisible
        axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        for ax, (method, label, events) in zip(axes, panels, strict=True):
            end = max(float(e["end"]) for e in events)
            busy = lane_spans(events)
            ticks = []
            for k, (lane, lane_label, color) in enumerate(LANES):
                spans = busy[lane]
                total = _union_length(spans)  # overlapping transfers in one lane count once
                y = len(LANES) - 1 - k
                if lane in TRANSFER_LANES:  # underscore label: not a lane of its own
                    whole = [(float(e["start"]), float(e["end"])) for e in events if e["lane"] == lane]
                    ax.broken_barh([(s * 1000, (e - s) * 1000) for s, e in whole], (y - 0.25, 0.5),
                                   facecolors=color, alpha=IN_FLIGHT_ALPHA, edgecolor="none",
                                   label=f"_{lane_label} in flight")
                ax.broken_barh([(s * 1000, (e - s) * 1000) for s, e in spans], (y - 0.4, 0.8),
                               facecolors=color, label=lane_label, edgecolor="none")
                pct = 100 * total / end if end > 0 else 0.0
                share = f" ({'<0.1' if 0 < pct < 0.1 else fmt_number(pct)}%)" if end > 0 else ""
                ticks.append((y, f"{lane_label.split(' (')[0]}  {fmt_number(total * 1000)} ms{share}"))
            ax.set_yticks([t[0] for t in ticks], [t[1] for t in ticks], fontsize=7)
            ax.set_title(f"{label}: one decode step = {fmt_number(end * 1000)} ms", loc="left",
                         color=paradigm_color(method), fontsize=9, fontweight="bold")
            ax.grid(axis="y", visible=False)
            ax.spines["left"].set_color(paradigm_color(method))
            ax.spines["left"].set_linewidth(3)
            ax.set_xlim(0, end * 1000 * 1.02)
        axes[-1].set_xlabel("time within one decode step (ms; each panel has its own scale)")
        fig.suptitle(f"Where the time goes: {title}", fontsize=10)
    return fig


# ---------------------------------------------------------------- per-token latency CDF
def is_variable_link(rows: pd.DataFrame, data: ResultsDir) -> bool:
    """True for trace-driven, jittery or lossy links (per scenarios.yaml); without scenarios.yaml,
    when token latencies spread by more than 5% between median and p99."""
    specs = [resolved_part(data.scenarios[s], "network") for s in rows["scenario_id"] if s in data.scenarios]
    specs = [s for s in specs if s is not None]
    if specs:
        return any(float(s.get("jitter_ms") or 0) > 0 or float(s.get("loss") or 0) > 0
                   or s.get("trace_up") or s.get("trace_down") for s in specs)
    for sid in rows["scenario_id"]:
        lat = decode_latencies(data.timelines.get(sid, {}))
        if lat.size > 2 and np.median(lat) > 0 and np.percentile(lat, 99) / np.median(lat) > 1.05:
            return True
    return False


def decode_latencies(timeline: dict[str, Any]) -> np.ndarray:
    """Per-token latencies after the first: token_latencies_s starts with the TTFT (netsim's
    Timeline.token_latencies), which the TTFT column already reports and which would swamp the CDF."""
    return np.asarray((timeline.get("token_latencies_s") or [])[1:], dtype=float)


def _cdf_curves(
    rows: pd.DataFrame, timelines: dict[str, dict[str, Any]]
) -> list[tuple[str, str, np.ndarray]]:
    """(method, label, sorted per-token latencies in ms) of each row with any: the curves of
    :func:`latency_cdf_figure`."""
    return [(r.method, r.method_label, np.sort(decode_latencies(timelines[r.scenario_id])) * 1000)
            for r in rows.itertuples() if decode_latencies(timelines.get(r.scenario_id, {})).size]


def latency_cdf_figure(rows: pd.DataFrame, timelines: dict[str, dict[str, Any]], title: str) -> Figure | None:
    """Empirical CDF of per-token latency, one step curve per paradigm."""
    curves = _cdf_curves(rows, timelines)
    if not curves:
        return None
    fig = _new_figure(6.8, 4.0)
    with matplotlib.rc_context(RC):
        ax = fig.add_subplot()
        styles = series_linestyles([(m, lb) for m, lb, _ in curves])
        for method, label, lat in curves:
            frac = np.arange(1, lat.size + 1) / lat.size
            ax.step(lat, frac, where="post", label=label, color=paradigm_color(method),
                    linestyle=styles[(method, label)], linewidth=1.6)
        all_lat = np.concatenate([c[2] for c in curves])
        if all_lat.min() > 0 and all_lat.max() / all_lat.min() >= 30:
            ax.set_xscale("log")
            _plain_ticks(ax.xaxis, None)
        ax.set_xlabel("per-token latency (ms)")
        ax.set_ylabel("fraction of tokens (CDF)")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"Per-token latency CDF: {title}")
        ax.legend(loc="lower right")
    return fig


def token_latency_stats(rows: pd.DataFrame, timelines: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """p50/p99 per paradigm from the timelines (for the table under the CDF)."""
    recs = []
    for r in rows.itertuples():
        lat = decode_latencies(timelines.get(r.scenario_id, {}))
        if lat.size:
            recs.append({"scenario_id": r.scenario_id, "method_label": r.method_label,
                         "token_latency_p50_ms": float(np.percentile(lat, 50)) * 1000,
                         "token_latency_p99_ms": float(np.percentile(lat, 99)) * 1000,
                         "tokens": int(lat.size)})
    return pd.DataFrame(recs)


# ---------------------------------------------------------------- all figures of a results dir
def build_figures(data: ResultsDir, items: list[BreakEven]) -> list[FigureItem]:
    """Every figure the report shows, in report order (each built when its ``fig`` is first used)."""
    res = data.results
    varying = varying_keys(res)
    out: list[FigureItem] = []
    hw_keys = [k for k in GROUP_KEYS if k != "network"]
    for key, rows in res.groupby(hw_keys, sort=True, dropna=False):
        k = dict(zip(hw_keys, key, strict=True))
        extras = [str(k[x]) for x in hw_keys[1:] if x in varying]
        name = k["model"] + (f" ({', '.join(extras)})" if extras else "")
        out.append(FigureItem(
            slug("throughput", k["model"], *extras), "throughput", f"Decode throughput: {name}",
            "Decode tokens per second of each split paradigm on each network (bars); dashed and dotted "
            "lines: device-only and cloud-only on that network. Infeasible scenarios are labelled "
            "instead of drawn.", partial(throughput_figure, rows, f"{name}: {METRICS['decode_tok_s'].header} "
                                                                   "throughput by network")))
    if data.sweeps is not None and not data.sweeps.empty:
        for key, rows in iter_sweep_groups(data.sweeps):
            mine = [b for b in items if all(getattr(b, f) == key[f] for f in key)]
            out.append(FigureItem(
                slug("crossover", key["model"], key["sweep"],
                     *([] if key["vary"] in key["sweep"] else [key["vary"]])), "crossover",
                f"Crossover: {key['model']}, {SWEEP_AXES.get(key['vary'], (key['vary'],))[0]}",
                "Decode throughput as the link parameter is swept from the base network. ✕ marks where "
                "a split paradigm's curve crosses device-only's (linear interpolation between sweep "
                "points): " + ("; ".join(f"{b.method_label} {b.sentence()}" for b in mine) or "no split "
                               "paradigm with a device-only reference") + ".",
                partial(crossover_figure, rows, key, mine)))
    for model, rows in res.groupby("model", sort=True):
        out.append(FigureItem(
            slug("payload", model), "payload", f"Payload per token: {model}",
            "Decode-phase application payload per generated token, up (solid) and down (hatched), log "
            "scale; the label above each paradigm is its communication reduction versus lora-split. "
            "Median over the model's scenarios: payload does not depend on the link.",
            partial(payload_figure, rows, model)))
    for key, rows in iter_groups(res):
        title = group_title(key, varying)
        panels = len(timeline_panels(rows, data.timelines))
        if panels:
            out.append(FigureItem(
                group_slug(key, varying, "timeline"),
                "timeline", f"Where the time goes: {title}",
                "One representative decode step per paradigm: device compute, uplink, cloud compute, "
                "downlink, and waiting. Uplink and downlink bars are the time bytes are being "
                "serialised on the bottleneck link; the faint band behind them spans each message from "
                "its first byte leaving to its last byte arriving (the rest is ACK/window waits and "
                "propagation). Waiting is the time in which "
                "no compute runs and no byte is on the wire: a long waiting lane beside short link bars "
                "means the split is latency-bound, not bandwidth-bound. Lane labels give each lane's "
                "total time (overlaps within a lane counted once) and its share of the step.",
                partial(timeline_figure, rows, data.timelines, title), panels))
        if is_variable_link(rows, data) and _cdf_curves(rows, data.timelines):
            out.append(FigureItem(
                group_slug(key, varying, "latency_cdf"),
                "latency_cdf", f"Per-token latency: {title}",
                "Empirical CDF of the time between consecutive output tokens (tokens 2..n; the first "
                "token's latency is the TTFT in the table) on a jittery, lossy or trace-driven link.",
                partial(latency_cdf_figure, rows, data.timelines, title)))
    return out
