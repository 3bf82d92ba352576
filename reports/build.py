"""The render pipeline: load → tables → break-evens → figures → document, all files written here."""

from __future__ import annotations

from pathlib import Path

from splitbench.reports.breakeven import break_evens
from splitbench.reports.document import (
    SECTIONS,
    Block,
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
from splitbench.reports.plots import build_figures, figure_files, save_figure, save_figures
from splitbench.reports.tables import Table, break_even_table, build_tables, write_tables


def render(results_dir: Path) -> Path:
    """See :func:`reports.render`."""
    data = load(results_dir)
    tables = build_tables(data.results)
    items = break_evens(data.sweeps)
    be_table = break_even_table(items)
    figures = build_figures(data, items)
    figures += energy_figures(data)
    plots_dir = results_dir / "plots"
    paths = {f.stem: figure_files(plots_dir, f.stem)[0] for f in figures}
    ctx = ReportContext(data=data, tables=tables, break_even_table=be_table, break_evens=items,
                        figures=figures, figure_paths=paths)
    blocks: list[Block] = []

    def document() -> None:  # needs none of the figures' files: runs while they are being saved
        blocks.extend(_document(ctx, tables, be_table, results_dir, plots_dir))
        (results_dir / "report.md").write_text(to_markdown(blocks), encoding="utf-8")

    save_figures(figures, plots_dir, meanwhile=document)
    (results_dir / "report.html").write_text(to_html(blocks), encoding="utf-8")  # embeds the PNGs
    return results_dir / "report.md"


def _document(
    ctx: ReportContext, tables: list[Table], be_table: Table | None, results_dir: Path, plots_dir: Path
) -> list[Block]:
    """The report's tables (written under tables/) and its blocks."""
    ctx.extra_tables = latency_tables(ctx)
    ctx.extra_tables.update(energy_tables(ctx.data))
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
    return build_blocks(ctx, sections)
