"""Assemble report.md and a self-contained report.html from a list of section functions.

Why blocks instead of converting markdown to HTML: the project carries no markdown library, and a
handful of block types (heading, paragraph, bullets, table, figure) rendered twice is simpler and
exact. Each section is a function ``(ReportContext) -> list[Block]``; :data:`SECTIONS` lists them in
order, so later issues (multi-user results, paper comparison) add a section by appending a function.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from splitbench.reports.breakeven import BreakEven
from splitbench.reports.headline import headline
from splitbench.reports.load import ResultsDir, iter_groups, resolved_part
from splitbench.reports.metrics import ALL_DEFINITIONS, fmt_number, paradigm_declarations
from splitbench.reports.plots import FigureItem, token_latency_stats
from splitbench.reports.tables import Table, group_slug, varying_keys


# ---------------------------------------------------------------- blocks
@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str  # may contain `code` and **bold**


@dataclass
class Bullets:
    items: list[str]


@dataclass
class TableBlock:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class FigureBlock:
    png: Path  # absolute path of the written PNG
    rel: str  # path relative to the results directory
    title: str
    caption: str


Block = Heading | Para | Bullets | TableBlock | FigureBlock


@dataclass
class ReportContext:
    """Everything a section may draw on."""

    data: ResultsDir
    tables: list[Table]
    break_even_table: Table | None
    break_evens: list[BreakEven]
    figures: list[FigureItem]
    figure_paths: dict[str, Path] = field(default_factory=dict)  # stem -> png path
    extra_tables: dict[str, Table] = field(default_factory=dict)


# ---------------------------------------------------------------- sections
def _multiuser_only(ctx: ReportContext) -> bool:
    """Only multi-user scenarios ran: results.csv is empty and the single-user sections are left out."""
    return ctx.data.results.empty


def section_title(ctx: ReportContext) -> list[Block]:
    res = ctx.data.results
    mu = ctx.data.multiuser
    count = f"{len(res)} scenarios"
    if mu is not None and not mu.empty:
        count = f"{len(res)} single-user and {len(mu)} multi-user scenarios"
    return [Heading(1, f"splitbench report: {ctx.data.path.name}"),
            Para(f"{count}, built from the results directory alone (`results.csv`"
                 + (", `multiuser.csv`" if mu is not None else "")
                 + (", `scenarios.yaml`" if ctx.data.scenarios else "")
                 + (", `timelines/`" if ctx.data.timelines else "")
                 + (", `sweeps.csv`" if ctx.data.sweeps is not None else "") + "). Tables are also written "
                 "as CSV under `tables/`, figures as PNG and SVG under `plots/`.")]


def _link_summary(spec: dict[str, Any]) -> str:
    parts = []
    for k, unit in (("up_mbps", "Mbit/s up"), ("down_mbps", "Mbit/s down"), ("rtt_ms", "ms RTT"),
                    ("jitter_ms", "ms jitter")):
        if spec.get(k) not in (None, 0, 0.0):
            parts.append(f"{fmt_number(float(spec[k]))} {unit}")
    if spec.get("loss"):
        parts.append(f"{fmt_number(100 * float(spec['loss']))}% loss")
    for k in ("trace_up", "trace_down"):
        if spec.get(k):
            parts.append(f"{k.replace('_', ' ')} `{Path(str(spec[k])).name}`")
    if spec.get("transport"):
        parts.append(f"{spec['transport']} transport")
    return ", ".join(parts)


def section_scenarios(ctx: ReportContext) -> list[Block]:
    if _multiuser_only(ctx):
        return []
    res = ctx.data.results
    nets: dict[str, str] = {}
    for sid, net in zip(res["scenario_id"], res["network"], strict=True):
        link = resolved_part(ctx.data.scenarios.get(sid, {}), "network")
        if net not in nets and link is not None:
            nets[net] = _link_summary(link)

    def uniq(col: str) -> str:
        return ", ".join(str(v) for v in pd.unique(res[col]))

    items = [f"models: {uniq('model')}",
             f"paradigms: {uniq('method_label')}",
             "networks: " + "; ".join(f"{n}" + (f" ({nets[n]})" if nets.get(n) else "")
                                      for n in pd.unique(res["network"])),
             f"devices: {uniq('device')}; clouds: {uniq('cloud')}",
             "prompt tokens: " + ", ".join(fmt_number(v) for v in pd.unique(res["prompt_tokens"]))
             + "; new tokens: " + ", ".join(fmt_number(v) for v in pd.unique(res["new_tokens"]))]
    if res["seed"].notna().any():
        items.append("seeds: " + ", ".join(fmt_number(v) for v in pd.unique(res["seed"].dropna())))
    bad = res[~res["feasible"]]
    if not bad.empty:
        items.append(f"infeasible scenarios: {len(bad)} (shown in the tables with their reason)")
    if ctx.data.sweeps is not None:
        sw = ctx.data.sweeps
        items.append("sweeps: " + "; ".join(
            f"{name} ({', '.join(sorted(set(g['vary'])))} over {fmt_number(g['value'].min())}–"
            f"{fmt_number(g['value'].max())}, base {', '.join(sorted(set(g['network'])))})"
            for name, g in sw.groupby("sweep", sort=True)))
    return [Heading(2, "Scenarios"), Bullets(items)]


def section_headline(ctx: ReportContext) -> list[Block]:
    if _multiuser_only(ctx):
        return []
    out: list[Block] = [Heading(2, "Headline")]
    for title, sentences in headline(ctx.data.results, ctx.break_evens):
        out += [Heading(3, title), Bullets(sentences)]
    return out


def _table_block(t: Table, caption: str) -> TableBlock:
    return TableBlock(t.display_headers, t.display_rows, caption)


def section_tables(ctx: ReportContext) -> list[Block]:
    if _multiuser_only(ctx):
        return []
    out: list[Block] = [Heading(2, "Tables"),
                        Para("One table per model and network, one row per paradigm. Values are "
                             "results.csv values in the header's unit (seconds shown as ms where marked); "
                             "— means not applicable. Full-precision values with scenario ids are in the "
                             "CSV named under each table.")]
    for t in ctx.tables:
        out += [Heading(3, t.title), _table_block(t, f"`tables/{t.name}.csv`")]
    if ctx.break_even_table is not None:
        out += [Heading(3, ctx.break_even_table.title),
                Para("Where each split paradigm's decode throughput crosses device-only's in a sweep "
                     "(linear interpolation between sweep points)."),
                _table_block(ctx.break_even_table, f"`tables/{ctx.break_even_table.name}.csv`")]
    return out


def section_plots(ctx: ReportContext) -> list[Block]:
    if _multiuser_only(ctx):
        return []
    out: list[Block] = [Heading(2, "Figures")]
    root = ctx.data.path
    for f in ctx.figures:
        png = ctx.figure_paths[f.stem]
        out += [Heading(3, f.title), FigureBlock(png, png.relative_to(root).as_posix(), f.title, f.caption)]
        t = ctx.extra_tables.get(f.stem)
        if t is not None:
            out.append(_table_block(t, f"`tables/{t.name}.csv`"))
    return out


def section_definitions(ctx: ReportContext) -> list[Block]:
    rows = [[f"`{m.column}`", m.unit or "—", m.definition] for m in ALL_DEFINITIONS.values()]
    paradigms = [f"{c.label} (`{p}`): colour {c.color}" for p, c in paradigm_declarations().items()]
    return [Heading(2, "Metric definitions"),
            TableBlock(["metric", "unit in tables", "definition"], rows),
            Para("Paradigm colours, the same in every figure:"), Bullets(paradigms)]


def _collect_sources(obj: Any, path: str = "") -> list[tuple[str, str]]:
    """Every `source` string under obj, with the dotted path of what it documents."""
    out: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if k == "source":
                if isinstance(v, dict):
                    out += [(f"{path}.{fk}" if path else str(fk), str(fv)) for fk, fv in v.items()
                            if not isinstance(fv, dict | list)]
                    out += _collect_sources(v, path)
                elif v not in (None, ""):
                    out.append((path, str(v)))
            else:
                out += _collect_sources(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _collect_sources(v, f"{path}[{i}]")
    return out


PRESET_KINDS = ("model", "method", "network", "device", "cloud", "radio", "soc_power")


def presets_used(ctx: ReportContext) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """[(kind, name, [(field, source)])], each preset once, in a stable order.

    The name is the scenario's column value (results.csv: model, method, network, device, cloud);
    the sources are every ``source`` string inside that part's resolved spec in scenarios.yaml.
    """
    seen: dict[tuple[str, str, tuple], None] = {}
    rows = ctx.data.results.to_dict("records")
    mu = ctx.data.multiuser
    if mu is not None and "scenario_id" in mu.columns:
        rows += mu.to_dict("records")
    for row in rows:
        spec = ctx.data.scenarios.get(row["scenario_id"])
        if spec is None:
            continue
        for kind in PRESET_KINDS:
            part = resolved_part(spec, kind)
            if part is None and kind in ("radio", "soc_power"):
                continue  # no power model for this network or device
            name = str(row.get(kind) or (part or {}).get("name") or kind)
            srcs = tuple(_collect_sources(part)) if part is not None else ()
            seen.setdefault((kind, name, srcs), None)
    kinds = list(PRESET_KINDS)
    ordered = sorted(seen, key=lambda t: (kinds.index(t[0]), t[1], t[2]))
    return [(k, n, list(s)) for (k, n, s) in ordered]


def section_sources(ctx: ReportContext) -> list[Block]:
    out: list[Block] = [Heading(2, "Presets and sources")]
    presets = presets_used(ctx)
    if not presets:
        return out + [Para("No `scenarios.yaml` in the results directory: preset sources unknown.")]
    rows = []
    for kind, name, srcs in presets:
        text = "; ".join(f"{f}: {s}" if f else s for f, s in srcs) if srcs else "no source recorded"
        rows.append([kind, name, text])
    return out + [Para("Every preset used by a scenario, once, with the source of its numbers "
                       "(from `scenarios.yaml`; \"[I]\" marks an estimate)."),
                  TableBlock(["kind", "preset", "sources"], rows)]


Section = Callable[[ReportContext], list[Block]]
SECTIONS: list[Section] = [section_title, section_scenarios, section_headline, section_tables,
                           section_plots, section_definitions, section_sources]


def build_blocks(ctx: ReportContext, sections: list[Section] | None = None) -> list[Block]:
    blocks: list[Block] = []
    for s in sections or SECTIONS:
        blocks += s(ctx)
    return blocks


# ---------------------------------------------------------------- renderers
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}\n")
        elif isinstance(b, Para):
            out.append(b.text + "\n")
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {i}" for i in b.items) + "\n")
        elif isinstance(b, TableBlock):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
            out.append("\n".join(lines) + "\n" + (f"\n{b.caption}\n" if b.caption else ""))
        elif isinstance(b, FigureBlock):
            svg = b.rel[:-4] + ".svg"
            out.append(f"![{b.title}]({b.rel})\n\n{b.caption} (SVG: `{svg}`)\n")
    return "\n".join(out)


def _inline_html(text: str) -> str:
    t = html.escape(str(text), quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
figure{margin:1em 0}figcaption{font-size:.9em;color:#444}code{background:#f5f5f5;padding:0 .2em}"""


def to_html(blocks: list[Block]) -> str:
    """Self-contained HTML: inline CSS, PNGs embedded as base64 data URIs, no external references."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "splitbench report")
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, TableBlock):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>"
                           for r in b.rows)
            cap = f"<caption>{_inline_html(b.caption)}</caption>" if b.caption else ""
            out.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, FigureBlock):
            data = base64.b64encode(b.png.read_bytes()).decode("ascii")
            out.append(f"<figure><img alt=\"{html.escape(b.title)}\" src=\"data:image/png;base64,{data}\">"
                       f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def latency_tables(ctx: ReportContext) -> dict[str, Table]:
    """p50/p99 token latency under each CDF figure (values from timelines/)."""
    out: dict[str, Table] = {}
    varying = varying_keys(ctx.data.results)
    cdfs = {f.stem for f in ctx.figures if f.kind == "latency_cdf"}
    for key, rows in iter_groups(ctx.data.results):
        stem = group_slug(key, varying, "latency_cdf")
        if stem not in cdfs:
            continue
        stats = token_latency_stats(rows, ctx.data.timelines)
        headers = ["paradigm", ALL_DEFINITIONS["token_latency_p50_ms"].label(),
                   ALL_DEFINITIONS["token_latency_p99_ms"].label(), "tokens"]
        disp = [[r["method_label"], fmt_number(r["token_latency_p50_ms"]),
                 fmt_number(r["token_latency_p99_ms"]), str(r["tokens"])] for r in stats.to_dict("records")]
        out[stem] = Table(name=group_slug(key, varying, "token_latency"), title="token latency", key=key,
                          data=stats, display_headers=headers, display_rows=disp)
    return out
