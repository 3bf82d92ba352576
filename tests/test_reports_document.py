"""The report builds from a results directory alone, is self-contained, deterministic, rejects bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from splitbench import SplitbenchError, reports
from splitbench.reports.metrics import ALL_DEFINITIONS
from tests import reports_sample
from tests.reports_sample import write_sample

rendered = reports_sample.rendered_sample  # session fixture: render once


def test_html_is_self_contained(rendered: Path) -> None:
    page = (rendered / "report.html").read_text(encoding="utf-8")
    n_png = len(list((rendered / "plots").glob("*.png")))
    assert page.count('src="data:image/png;base64,') == n_png
    assert re.findall(r'src="(?!data:)', page) == []
    assert "href=" not in page and "<script" not in page and "<link" not in page and "url(" not in page


def test_report_sections_definitions_and_sources(rendered: Path) -> None:
    md = (rendered / "report.md").read_text(encoding="utf-8")
    for heading in ("## Scenarios", "## Headline", "## Tables", "## Figures", "## Metric definitions",
                    "## Presets and sources"):
        assert heading in md
    for m in ALL_DEFINITIONS.values():
        assert f"| `{m.column}` |" in md and m.definition in md
    doc = yaml.safe_load((rendered / "scenarios.yaml").read_text(encoding="utf-8"))
    sources = set()
    for s in doc["scenarios"]:
        for kind in ("model", "network", "cloud"):
            sources.add(s[kind]["source"])
        sources.update(s["device"]["source"].values())
    for src in sources:
        assert md.count(src) >= 1
    # each preset listed once
    assert md.count("| network | 5g |") == 1 and md.count("| device | phone |") == 1
    for png in (rendered / "plots").glob("*.png"):
        assert f"](plots/{png.name})" in md


def test_render_is_deterministic(rendered: Path, tmp_path: Path) -> None:
    copy = tmp_path / "again"
    shutil.copytree(rendered, copy)
    reports.render(copy)
    files = sorted(p.relative_to(rendered) for p in rendered.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file())
    for rel in files:
        a, b = (rendered / rel).read_bytes(), (copy / rel).read_bytes()
        if rel.suffix in (".md", ".html"):  # the title names the directory
            a, b = a.replace(b"suite", b"X"), b.replace(b"again", b"X")
        assert a == b, rel


def test_builds_from_results_csv_alone(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "bare", sweeps=False, timelines=False, scenarios=False)
    md = reports.render(root).read_text(encoding="utf-8")
    assert "preset sources unknown" in md and "needs RTT" not in md
    assert sorted(p.name for p in (root / "plots").glob("*.png")) == ["payload__llama2-7b.png",
                                                                      "throughput__llama2-7b.png"]


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.unlink(), "results.csv not found"),
    (lambda p: p.write_text("", encoding="utf-8"), "cannot parse results.csv"),
    (lambda p: p.write_text(p.read_text().replace("decode_tok_s", "decode_rate", 1)), "missing column"),
    (lambda p: p.write_text(p.read_text().replace(",8.1,", ",fast,", 1)), "not a number"),
    (lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), "has no rows"),
])
def test_bad_results_csv_raises_splitbench_error(tmp_path: Path, mutate, message: str) -> None:
    root = write_sample(tmp_path / "bad", sweeps=False, timelines=False, scenarios=False)
    mutate(root / "results.csv")
    with pytest.raises(SplitbenchError, match=message) as exc:
        reports.render(root)
    assert "results.csv" in str(exc.value) and "\n" not in str(exc.value)
