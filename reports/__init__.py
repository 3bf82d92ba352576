"""splitbench reports: turn a results directory into tables, figures and a report a person decides from.

Public API: :func:`render`. reports/ reads the files in the results directory (the layout in the
contract); it never imports harness/, and from models/ only the paradigms' declarations (names,
labels, colours, order), the projection list and the wire codecs' sizes.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["render"]


def render(results_dir: Path) -> Path:
    """Write report.md, report.html, tables/*.csv and plots/*.png|svg into results_dir.

    Returns the path of report.md. Raises SplitbenchError (one line, naming the file) when
    results.csv is missing or malformed. Deterministic: the same directory renders byte-identically.
    """
    import gc

    from splitbench.reports.build import render as _render  # heavy imports (matplotlib) only when rendering

    # Drawing allocates many short-lived objects, so the collector runs often; with everything alive
    # now (the loaded modules: torch, matplotlib, pandas) frozen, its full collections do not walk them.
    gc.freeze()
    try:
        return _render(Path(results_dir))
    finally:
        gc.unfreeze()
