"""The render pipeline: load → tables → break-evens → figures → document, all files written here."""

from __future__ import annotations

from pathlib import Path

from splitbench.reports.breakeven import break_evens
from splitbench.reports.document import (
    SECTIONS,
    ReportContext,
    build_blocks,
    latency_tables,
    section_headline,
    to_html,
    to_markdown,
)
from splitbench.reports.energy import energy_figures, energy_tables
from splitbench.reports.live import section_live
from splitbench.reports.load import load
from splitbench.reports.multiuser import section_multiuser
from splitbench.reports.paper import paper_tables, section_paper, waterfall_figure
from splitbench.reports.plots import build_figures, save_figure, save_figures
from splitbench.reports.tables import break_even_table, build_tables, write_tables


def render(results_dir: Path) -> Path:
    """See :func:`reports.render`."""
    data = load(results_dir)
    tables = build_tables(data.results)
    items = break_evens(data.sweeps)
    be_table = break_even_table(items)
    figures = build_figures(data, items)
    figures += energy_figures(data)
    plots_dir = results_dir / "plots"
    paths = dict(zip((f.stem for f in figures), save_figures([(f.fig, f.stem) for f in figures], plots_dir),
                     strict=True))
    ctx = ReportContext(data=data, tables=tables, break_even_table=be_table, break_evens=items,
                        figures=figures, figure_paths=paths)
    ctx.extra_tables = latency_tables(ctx)
    ctx.extra_tables.update(energy_tables(data))
    ctx.extra_tables.update(paper_tables(ctx))  # the PrivateLoRA claims (reports/paper.py)
    wf = ctx.extra_tables.get("paper_waterfall")
    if wf is not None:
        ctx.figure_paths["paper_waterfall"] = save_figure(waterfall_figure(wf.data), plots_dir,
                                                          "paper_waterfall")[0]
    write_tables(tables + ([be_table] if be_table else []) + list(ctx.extra_tables.values()),
                 results_dir / "tables")
    # the paper's claims go right after the headline (section_paper is empty for other suites)
    sections = list(SECTIONS)
    at = sections.index(section_headline) + 1 if section_headline in sections else 1
    sections.insert(at, section_paper)
    sections.insert(at, section_live)  # a live run's measured and simulated values (reports/live.py)
    # multi-user results, after the figures; empty when there is no multiuser.csv
    names = [s.__name__ for s in sections]
    sections.insert(names.index("section_plots") + 1 if "section_plots" in names else len(sections),
                    section_multiuser)
    blocks = build_blocks(ctx, sections)
    md = results_dir / "report.md"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    (results_dir / "report.html").write_text(to_html(blocks), encoding="utf-8")
    return md
