"""The multi-user figure: one series per paradigm x policy x network, labelled axes with units."""

from __future__ import annotations

import pandas as pd

from splitbench.reports.multiuser import multiuser_figure


def _rows() -> pd.DataFrame:
    rows = []
    for method, label, policy, network in (
        ("cloud-only", "cloud-only", "interleave", "5g"),
        ("privatelora", "privatelora r=128", "step", "5g"),
        ("privatelora", "privatelora r=128", "interleave", "4g:0.5+5g:0.5"),
    ):
        for n in (1, 2, 4):
            rows.append({"model": "llama2-7b", "method": method, "method_label": label, "network": network,
                         "policy": policy, "max_batch": 4, "users": n, "aggregate_tok_s": 10.0 * n,
                         "tpot_p90_s": 0.1 * n})
    return pd.DataFrame(rows)


def test_multiuser_figure_series_and_labels() -> None:
    df = _rows()
    fig = multiuser_figure(df)
    ax1, ax2 = fig.axes
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "cloud-only, interleave, 5g",
        "privatelora r=128, interleave, 4g:0.5+5g:0.5",
        "privatelora r=128, step, 5g",
    ]
    assert "tok/s" in ax1.get_ylabel() and "(s)" in ax2.get_ylabel() and "N" in ax1.get_xlabel()
    # every plotted point is a row of the csv
    for line in ax1.get_lines():
        xs, ys = line.get_data()
        assert [y / 10.0 for y in ys] == list(xs)
    styles = {line.get_label(): line.get_linestyle() for line in ax1.get_lines()}
    assert styles["privatelora r=128, step, 5g"] == "--" and styles["cloud-only, interleave, 5g"] == "-"
