"""Each figure renders with the expected series, labelled axes with units, and fixed paradigm colours."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from splitbench.reports.breakeven import break_evens
from splitbench.reports.load import load
from splitbench.reports.metrics import paradigm_color
from splitbench.reports.plots import LANES, FigureItem, build_figures
from tests import reports_sample
from tests.reports_sample import NEW, RTT_BREAK_EVEN_MS, UP_BREAK_EVEN_MBPS

SPLIT = ["privatelora r=128", "spa", "lora-split", "layer-split k=8"]

rendered = reports_sample.rendered_sample  # session fixture: render once


@pytest.fixture(scope="module")
def figures(rendered: Path) -> tuple[Path, list[FigureItem]]:
    data = load(rendered)
    return rendered, build_figures(data, break_evens(data.sweeps))


def _one(figs: list[FigureItem], kind: str, contains: str = "") -> FigureItem:
    found = [f for f in figs if f.kind == kind and contains in f.stem]
    assert len(found) == 1, [f.stem for f in figs]
    return found[0]


def _labels(ax) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def test_every_figure_written_as_png_and_svg(figures) -> None:
    root, figs = figures
    kinds = sorted(f.kind for f in figs)
    assert kinds == sorted(["throughput", "crossover", "crossover", "payload", "timeline", "timeline",
                            "latency_cdf"])
    for f in figs:
        for ext in ("png", "svg"):
            p = root / "plots" / f"{f.stem}.{ext}"
            assert p.is_file() and p.stat().st_size > 1000, p


def test_throughput_bars(figures) -> None:
    _, figs = figures
    (ax,) = _one(figs, "throughput").fig.axes
    assert _labels(ax) == ["device-only", "cloud-only"] + SPLIT
    assert ax.get_ylabel() == "decode throughput (tok/s)" and ax.get_xlabel() == "network"
    # the reference values are written under each network name
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4g\ndevice-only 8.1\ncloud-only 14",
                                                            "5g\ndevice-only 8.1\ncloud-only 25"]
    bars = {c.get_label(): c for c in ax.containers}
    # colours are the fixed paradigm colours; the infeasible layer-split on 4g has no bar height
    assert to_hex(bars["spa"].patches[0].get_facecolor()) == paradigm_color("spa")
    assert [p.get_height() for p in bars["layer-split k=8"].patches] == [0.0, 12.0]
    assert [p.get_height() for p in bars["privatelora r=128"].patches] == [9.7, 24.3]
    assert any(t.get_text() == "infeasible" for t in ax.texts)


def test_crossover_curves_mark_break_even(figures) -> None:
    _, figs = figures
    for contains, xlabel, expected in (("rtt", "round-trip time (ms)", RTT_BREAK_EVEN_MS),
                                       ("up_mbps", "uplink bandwidth (Mbit/s)", UP_BREAK_EVEN_MBPS)):
        (ax,) = _one(figs, "crossover", contains).fig.axes
        assert ax.get_xlabel() == xlabel and ax.get_ylabel() == "decode throughput (tok/s)"
        labels = _labels(ax)
        assert labels[:5] == ["device-only", "cloud-only"] + [s for s in SPLIT if s != "spa"]
        assert labels[5] == "break-even vs device-only"
        marks = [ln for ln in ax.lines if ln.get_marker() == "X"]
        assert len(marks) == 1  # only privatelora crosses; the others' verdicts are written on the plot
        note = " ".join(" ".join(t.get_text().split()) for t in ax.texts)
        assert "lora-split: never beats device-only" in note and "layer-split k=8: beats device-only" in note
        assert marks[0].get_xdata()[0] == pytest.approx(expected)
        assert marks[0].get_ydata()[0] == pytest.approx(8.1)


def test_payload_log_scale(figures) -> None:
    _, figs = figures
    (ax,) = _one(figs, "payload").fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "payload per generated token (bytes, log scale)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["up (device → cloud)",
                                                                   "down (cloud → device)"]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["device-only", "cloud-only"] + SPLIT
    heights = sorted(p.get_height() for c in ax.containers for p in c.patches)
    assert 786432 in heights and 24584 in heights and 8 in heights
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "97.5% less" in texts and "nothing\nsent" in texts


def test_timeline_lanes(figures) -> None:
    _, figs = figures
    item = _one(figs, "timeline", "5g")
    axes = item.fig.axes
    assert [ax.get_title(loc="left").split(":")[0] for ax in axes] == ["device-only", "cloud-only"] + SPLIT
    for ax in axes:
        lanes = [c.get_label() for c in ax.collections if not c.get_label().startswith("_")]
        assert lanes == [lane[1] for lane in LANES]
    assert axes[-1].get_xlabel().startswith("time within one decode step (ms")
    # the privatelora step of the sample has a 0.1·step propagation gap: shown as waiting
    pl = axes[2]
    assert pl.collections[-1].get_label().startswith("waiting")
    waiting = pl.collections[-1].get_paths()
    assert len(waiting) == 1


def test_latency_cdf_only_for_jittery_link(figures) -> None:
    _, figs = figures
    item = _one(figs, "latency_cdf")
    assert "4g" in item.stem
    (ax,) = item.fig.axes
    assert ax.get_xlabel() == "per-token latency (ms)" and ax.get_ylabel() == "fraction of tokens (CDF)"
    assert _labels(ax) == ["device-only", "cloud-only", "privatelora r=128", "spa", "lora-split"]
    for line in ax.lines:
        assert line.get_ydata()[-1] == pytest.approx(1.0)
        assert len(line.get_xdata()) == NEW - 1  # the first latency (TTFT) is not a decode-token latency


def test_lane_busy_time_counts_overlaps_once() -> None:
    from splitbench.reports.plots import _union_length

    assert _union_length([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == pytest.approx(4.0)
    assert _union_length([(0.0, 4.0), (1.0, 2.0)]) == pytest.approx(4.0)
    assert _union_length([]) == 0.0


def test_waiting_lane_is_step_minus_union_of_busy_time() -> None:
    """Waiting = the step's length minus the union of compute and on-the-wire intervals; a
    transfer's flight after its last byte left, and its ACK waits between wire intervals, are idle."""
    from splitbench.reports.plots import lane_spans, lane_totals

    events = [
        {"lane": "device", "label": "embed", "start": 0.0, "end": 0.002},
        # on the wire 2..3 ms and 23..24 ms (window wait between), arrives at 49 ms
        {"lane": "up", "label": "x up", "start": 0.002, "end": 0.049, "wire_end": 0.024,
         "wire": [[0.002, 0.003], [0.023, 0.024]]},
        {"lane": "cloud", "label": "layers", "start": 0.049, "end": 0.069},
        # old-style (wire_end only): on the wire 69..70 ms, arrives at 95 ms; the device works 80..85
        {"lane": "down", "label": "h down", "start": 0.069, "end": 0.095, "wire_end": 0.070},
        {"lane": "device", "label": "overlap", "start": 0.080, "end": 0.085},
        {"lane": "device", "label": "lm head", "start": 0.095, "end": 0.100},
    ]
    busy = [(0.0, 0.002), (0.002, 0.003), (0.023, 0.024), (0.049, 0.069), (0.069, 0.070),
            (0.080, 0.085), (0.095, 0.100)]
    union = sum(e - s for s, e in busy)  # disjoint by construction (touching ends add nothing)
    totals = lane_totals(events)
    assert totals["waiting"] == pytest.approx(0.100 - union)
    assert totals["up"] == pytest.approx(0.002) and totals["down"] == pytest.approx(0.001)
    assert totals["device"] == pytest.approx(0.012)
    gaps = [x for span in lane_spans(events)["waiting"] for x in span]
    assert gaps == pytest.approx([0.003, 0.023, 0.024, 0.049, 0.070, 0.080, 0.085, 0.095])
    # a timeline written before wire_end existed: the whole transfer counts as on the wire
    old = [{k: v for k, v in e.items() if k not in ("wire", "wire_end")} for e in events]
    assert lane_totals(old)["waiting"] == pytest.approx(0.0)
    assert lane_totals(old)["up"] == pytest.approx(0.047)


def test_figures_are_built_on_first_use(rendered: Path) -> None:
    """build_figures draws nothing: each figure is made when its ``fig`` is first read, once."""
    data = load(rendered)
    figs = build_figures(data, break_evens(data.sweeps))
    assert figs and all("fig" not in vars(f) for f in figs)
    tl = _one(figs, "timeline", "5g")
    assert tl.panels == len(tl.fig.axes) > 1  # the hint that orders the saves is the real panel count
    assert tl.fig is tl.fig
    assert [f.stem for f in figs if "fig" in vars(f)] == [tl.stem]


_FORK_VS_SERIAL = """
import os, sys
from pathlib import Path
from splitbench.reports import plots
from splitbench.reports.breakeven import break_evens
from splitbench.reports.load import load

data, out = load(Path(sys.argv[1])), Path(sys.argv[2])
for name in ("forked", "serial"):
    folder, calls = out / name, []
    figs = plots.build_figures(data, break_evens(data.sweeps))
    if name == "forked":
        assert plots._can_fork(), "nothing would be forked"
    else:
        plots._can_fork = lambda: False
    paths = plots.save_figures(figs, folder, meanwhile=lambda: calls.append(
        (os.getpid(), len(list(folder.glob("*.svg"))))))
    assert paths == [folder / f"{f.stem}.png" for f in figs]
    print(name, calls == [(os.getpid(), 0)] if name == "serial" else [p for p, _ in calls] == [os.getpid()])
"""


def test_forked_save_writes_the_serial_files_and_runs_meanwhile_here(rendered: Path, tmp_path: Path) -> None:
    """Saving with a forked helper gives byte for byte the files of saving everything in one process,
    and ``meanwhile`` runs once, in the calling process (first, when nothing is forked). In a process
    of its own: the test process may run other threads, which rule out forking."""
    import os
    import subprocess
    import sys

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2 or not hasattr(os, "fork"):
        pytest.skip("one core, or no fork: nothing is forked")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _FORK_VS_SERIAL, str(rendered), str(tmp_path)], cwd=root,
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)}).stdout
    assert out.split() == ["forked", "True", "serial", "True"]
    names = sorted(p.name for p in (tmp_path / "serial").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "forked").iterdir()) and len(names) == 14
    for name in names:
        assert (tmp_path / "forked" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


_SAVE_ONE = """
import sys
from pathlib import Path
from splitbench.reports import plots
from splitbench.reports.breakeven import break_evens
from splitbench.reports.load import load

data = load(Path(sys.argv[1]))
if sys.argv[3] == "warm":
    plots.warm_up()
(fig,) = [f for f in plots.build_figures(data, break_evens(data.sweeps)) if f.kind == "payload"]
plots.save_figure(fig.fig, Path(sys.argv[2]), fig.stem)
"""


def test_warm_up_changes_no_byte_of_a_figure(rendered: Path, tmp_path: Path) -> None:
    """A figure saved by a process that drew warm_up's throwaway figure first is byte for byte the one
    a fresh process saves (the payload figure: log axis, mathtext tick labels, bold text)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for how in ("cold", "warm"):
        subprocess.run([sys.executable, "-c", _SAVE_ONE, str(rendered), str(tmp_path / how), how],
                       cwd=root, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(root)})
    names = sorted(p.name for p in (tmp_path / "cold").iterdir())
    assert len(names) == 2 and names == sorted(p.name for p in (tmp_path / "warm").iterdir())
    for name in names:
        assert (tmp_path / "warm" / name).read_bytes() == (tmp_path / "cold" / name).read_bytes(), name
