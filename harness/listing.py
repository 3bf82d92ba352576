"""``splitbench list``: the presets with their key numbers and sources.

The tables are generated from the preset tables of models/ and netsim/ (the preset files, with the
user's own presets when active), so they cannot go stale; the README points here instead of
repeating them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SECTIONS = ("models", "methods", "networks", "profiles", "suites")


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return "+".join(str(x) for x in v)
    return str(v)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns; the last column (the source) is not padded."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)) + "  " + cells[-1]

    return "\n".join([line(headers), *(line(r) for r in rows)])


def list_models() -> str:
    from splitbench.models import MODEL_PRESETS

    rows = []
    for name, p in MODEL_PRESETS.items():
        k = p.key_numbers()
        rows.append(
            [
                name,
                f"{k['params'] / 1e9:.2f}",
                _num(k["layers"]),
                _num(k["d"]),
                _num(k["heads"]),
                _num(k["kv_heads"]),
                _num(k["vocab"]),
                str(k["source"]),
            ]
        )
    return table(["model", "params(B)", "layers", "d", "heads", "kv_heads", "vocab", "source"], rows)


def list_methods() -> str:
    from splitbench.models.methods import METHOD_PRESETS
    from splitbench.models.paradigms import paradigms

    rows = []
    for name, cls in paradigms().items():
        ptxt = ", ".join(f"{k}={_num(v)}" for k, v in cls.defaults().items()) or "-"
        rows.append([name, ptxt, cls.description])
    for name in METHOD_PRESETS:
        mp = METHOD_PRESETS[name]
        ptxt = ", ".join(f"{k}={_num(v)}" for k, v in mp.method.items() if k != "name")
        text = "; ".join(t for t in (mp.description, f"{mp.method['name']} as {mp.label!r}", mp.source) if t)
        rows.append([name, ptxt, text])
    return table(["method", "default parameters", "description"], rows)


def list_networks() -> str:
    from splitbench.netsim import network_table

    rows = [
        [
            r["name"],
            _num(r["up_mbps"]),
            _num(r["down_mbps"]),
            _num(r["rate_flows"]),
            _num(r["rtt_ms"]),
            _num(r["jitter_ms"]),
            _num(r["loss"]),
            str(r["transport"]) if r["transport"] == "ideal" else f"tcp {r['cc']}",
            str(r["source"]),
        ]
        for r in network_table()
    ]
    # the promise of each preset: TCP reaches the rates with as many connections as its source used
    # (netsim.bulk_rate); RTT is the median round trip, which jitter varies around; loss is what TCP
    # sees after link-layer repair
    text = table(
        ["network", "up Mbps", "down Mbps", "flows", "median RTT ms", "jitter ms", "TCP loss", "transport",
         "source"],
        rows,
    )
    return text + _emulator_note(network_table())


def _emulator_note(networks: list[dict[str, Any]]) -> str:
    """Which presets are faster than the live emulator's forwarder can reproduce within 5%."""
    from splitbench.netsim.live.netcheck import emulator_ceiling

    ceiling = emulator_ceiling()
    if ceiling is None:
        return ""
    mbps, where = ceiling
    over = [f"{r['name']} ({_num(max(r['up_mbps'], r['down_mbps']))})" for r in networks
            if max(r["up_mbps"], r["down_mbps"]) > mbps]
    note = (f"\nlive emulator: reproduces up to {mbps:g} Mbps within 5% ({where}; "
            "splitbench netcheck --live --max-rate)")
    if over:
        note += f"; faster than that, live runs of these presets are not faithful: {', '.join(over)}"
    return note


def list_profiles() -> str:
    from splitbench.netsim import profile_table

    rows = []
    for r in profile_table():
        measured = ", ".join(f"{k} {v:g}" for k, v in (r.get("measured_decode_tok_s") or {}).items()) or "-"
        rows.append(
            [
                r["name"],
                _num(r["mem_bw_gbps"]),
                _num(r["fp16_tflops"]),
                _num(r["mem_gb"]),
                _num(r["mem_eff"]),
                str(r["runtime"]),
                measured,
                str(r["source"]),
            ]
        )
    return table(
        [
            "profile",
            "mem GB/s",
            "fp16 TFLOPS",
            "mem GB",
            "mem eff",
            "runtime",
            "measured decode tok/s",
            "source",
        ],
        rows,
    )


def list_suites() -> str:
    from .suite import builtin_suites, read_yaml

    rows = []
    for name, path in sorted(builtin_suites().items()):
        doc = read_yaml(path) or {}
        rows.append(
            [name, str(doc.get("description", "")).strip().splitlines()[0] if doc.get("description") else ""]
        )
    return table(["suite", "description"], rows)


LISTERS: dict[str, Callable[[], str]] = {
    "models": list_models,
    "methods": list_methods,
    "networks": list_networks,
    "profiles": list_profiles,
    "suites": list_suites,
}


def render(section: str | None) -> str:
    if section:
        return LISTERS[section]()
    return "\n\n".join(f"== {s} ==\n{LISTERS[s]()}" for s in SECTIONS)
