"""A small hand-made results directory for the reports tests (test input data, not results).

Why hand-made: reports/ must build from a results directory alone, and its tests must know the
answers. The sweeps are linear in the swept value, so the break-even points are known exactly:
PrivateLoRA crosses device-only (8.1 tok/s) at RTT 40 ms and at 10 Mbit/s uplink; layer-split beats
it everywhere in the sweep and lora-split never does. The 4g link is jittery (scenarios.yaml), so a
latency CDF is expected for 4g and not for 5g.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

MODEL = "llama2-7b"
DEVICE_TOK_S = 8.1
RTT_BREAK_EVEN_MS = 40.0  # 16.2 - 0.2025 * rtt = 8.1
UP_BREAK_EVEN_MBPS = 10.0  # 0.81 * up = 8.1

# (method, method_label, data leaving, {network: decode tok/s or None if infeasible}, up B, down B,
#  round trips, comm reduction %)
PARADIGMS = [
    ("device-only", "device-only", "nothing", {"5g": DEVICE_TOK_S, "4g": DEVICE_TOK_S}, 0, 0, 0, None),
    ("cloud-only", "cloud-only", "tokens", {"5g": 25.0, "4g": 14.0}, 12, 12, 1, None),
    ("privatelora", "privatelora r=128", "activations", {"5g": 24.3, "4g": 9.7}, 24584, 24584, 32, 97.52),
    ("spa", "spa", "tokens", {"5g": 4.1, "4g": 2.2}, 8212, 278544, 1, 71.07),
    ("lora-split", "lora-split", "activations", {"5g": 0.9, "4g": 0.45}, 786432, 262144, 32, 0.0),
    ("layer-split", "layer-split k=8", "activations", {"5g": 12.0, "4g": None}, 8200, 8, 1, None),
]
NETWORKS = {
    "5g": {"name": "5g", "up_mbps": 20.0, "down_mbps": 200.0, "rtt_ms": 50.0, "jitter_ms": 0.0, "loss": 0.0,
           "transport": "tcp", "source": "Ookla global 5G 2023 median down 203 [M]"},
    "4g": {"name": "4g", "up_mbps": 8.0, "down_mbps": 30.0, "rtt_ms": 60.0, "jitter_ms": 5.0, "loss": 0.0,
           "transport": "tcp", "source": "Ookla US mobile 2020 [M]"},
}
DEVICE = {"name": "phone", "mem_bw_gbps": 51.2, "mem_gb": 8,
          "source": {"mem_bw_gbps": "vendor LPDDR5 spec [S]", "mem_gb": "[I] estimate phone RAM"}}
CLOUD = {"name": "a100-80gb", "mem_bw_gbps": 1935, "source": "NVIDIA A100 datasheet [S]"}
MODEL_SPEC = {"name": MODEL, "config": {"hidden_size": 4096, "num_hidden_layers": 32},
              "source": "Llama 2 paper, Touvron et al. 2023"}
PROMPT, NEW = 128, 64
COLUMNS = [
    "scenario_id", "model", "method", "method_label", "network", "device", "cloud", "prompt_tokens",
    "new_tokens", "ttft_s", "tpot_s", "prefill_tok_s", "decode_tok_s", "e2e_s", "up_bytes", "down_bytes",
    "up_bytes_per_token", "down_bytes_per_token", "round_trips_per_token", "comm_reduction_pct",
    "data_leaving_device", "prompt_recoverable_by_cloud", "output_recoverable_by_cloud",
    "private_weights_leave_device", "up_wire_bytes", "down_wire_bytes", "handshake_s", "feasible",
    "infeasible_reason", "speedup_vs_device_only", "share_of_cloud_only_pct", "seed",
]


def _events(i: int, tok_s: float, method: str) -> list[dict]:
    """A plausible decode step: device → up → cloud → down, with a propagation gap (waiting)."""
    step = 1.0 / tok_s
    if method == "device-only":
        return [{"lane": "device", "label": "decoder", "start": 0.0, "end": step}]
    q = step / 5
    return [
        {"lane": "device", "label": "embed", "start": 0.0, "end": q * 0.5},
        {"lane": "up", "label": "x up", "start": q * 0.5, "end": q * 1.5},
        {"lane": "cloud", "label": "decoder", "start": q * 2.0, "end": q * 3.5},
        {"lane": "down", "label": "h down", "start": q * 3.5, "end": q * 4.5},
        {"lane": "device", "label": "lm head", "start": q * 4.5, "end": step},
    ]


def write_sample(root: Path, *, sweeps: bool = True, timelines: bool = True, scenarios: bool = True) -> Path:
    """Write the sample results directory under root and return it."""
    root.mkdir(parents=True, exist_ok=True)
    rows, specs = [], []
    rng = np.random.default_rng(0)
    for net in ("4g", "5g"):
        for i, (method, label, leaving, tok, up, down, rt, cr) in enumerate(PARADIGMS):
            sid = f"{MODEL}__{net}__{i}-{method}"
            t = tok[net]
            feasible = t is not None
            ttft = 0.35 + 0.05 * i if feasible else None
            row = {
                "scenario_id": sid, "model": MODEL, "method": method, "method_label": label, "network": net,
                "device": "phone", "cloud": "a100-80gb", "prompt_tokens": PROMPT, "new_tokens": NEW,
                "ttft_s": ttft, "tpot_s": 1 / t if feasible else None,
                "prefill_tok_s": PROMPT / ttft if feasible else None, "decode_tok_s": t,
                "e2e_s": ttft + (NEW - 1) / t if feasible else None,
                "up_bytes": up * NEW + 4096, "down_bytes": down * NEW, "up_bytes_per_token": up,
                "down_bytes_per_token": down, "round_trips_per_token": rt, "comm_reduction_pct": cr,
                "data_leaving_device": leaving,
                "prompt_recoverable_by_cloud": "no" if method == "device-only" else "exact",
                "output_recoverable_by_cloud": "no" if method == "device-only" else "exact",
                "private_weights_leave_device": "yes" if method == "cloud-only" else "no",
                "up_wire_bytes": int(up * NEW * 1.04) + 4096,
                "down_wire_bytes": int(down * NEW * 1.04), "handshake_s": 0.0 if method == "device-only" else
                NETWORKS[net]["rtt_ms"] / 1000, "feasible": feasible,
                "infeasible_reason": "" if feasible else "device memory 9.1 GB > 8 GB",
                "speedup_vs_device_only": t / DEVICE_TOK_S if feasible else None,
                "share_of_cloud_only_pct": 100 * t / PARADIGMS[1][3][net] if feasible else None,
                "seed": 0,
            }
            rows.append(row)
            spec = {"scenario_id": sid, "model": MODEL_SPEC, "method": {"name": method, "label": label},
                    "network": NETWORKS[net], "device": DEVICE, "cloud": CLOUD,
                    "prompt_tokens": PROMPT, "new_tokens": NEW, "seed": 0}
            specs.append(spec)
            if timelines and feasible:
                base = 1 / t
                jitter = rng.exponential(0.01, NEW - 1) if net == "4g" and method != "device-only" else 0.0
                # netsim's Timeline.token_latencies: TTFT first, then the gaps between tokens
                lat = [ttft] + (base + jitter + np.linspace(0, base * 0.01, NEW - 1)).tolist()
                tl = {"scenario_id": sid, "decode_step": _events(i, t, method), "token_latencies_s": lat}
                (root / "timelines").mkdir(exist_ok=True)
                (root / "timelines" / f"{sid}.json").write_text(json.dumps(tl), encoding="utf-8")
    rows.sort(key=lambda r: r["scenario_id"])
    with (root / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    if scenarios:
        (root / "scenarios.yaml").write_text(yaml.safe_dump({"scenarios": specs}, sort_keys=True),
                                             encoding="utf-8")
    if sweeps:
        write_sweeps(root / "sweeps.csv")
    return root


SWEEP_CURVES = {  # method_label -> (method, f(value)) per axis
    "rtt_ms": {
        "device-only": ("device-only", lambda v: DEVICE_TOK_S),
        "cloud-only": ("cloud-only", lambda v: 25.0 - 0.1 * v),
        "privatelora r=128": ("privatelora", lambda v: 16.2 - 0.2025 * v),
        "lora-split": ("lora-split", lambda v: 0.9),
        "layer-split k=8": ("layer-split", lambda v: 12.0 - 0.01 * v),
    },
    "up_mbps": {
        "device-only": ("device-only", lambda v: DEVICE_TOK_S),
        "cloud-only": ("cloud-only", lambda v: 25.0),
        "privatelora r=128": ("privatelora", lambda v: 0.81 * v),
        "lora-split": ("lora-split", lambda v: 0.05 * v),
        "layer-split k=8": ("layer-split", lambda v: 12.0),
    },
}
SWEEP_VALUES = {"rtt_ms": [0.0, 20.0, 50.0, 80.0], "up_mbps": [1.0, 5.0, 20.0, 50.0]}


def write_sweeps(path: Path) -> None:
    cols = ["sweep", "vary", "value", "model", "method", "method_label", "network", "device", "cloud",
            "decode_tok_s", "ttft_s", "tpot_s"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for vary, curves in SWEEP_CURVES.items():
            for label, (method, fn) in curves.items():
                for v in SWEEP_VALUES[vary]:
                    tok = fn(v)
                    w.writerow([f"5g-{vary}", vary, v, MODEL, method, label, "5g", "phone", "a100-80gb",
                                tok, 0.4, 1 / tok])


@pytest.fixture(scope="session")
def rendered_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample directory, rendered once per test session and shared by every reports test module.

    Rendering costs seconds; the tests only read it. Each module registers this fixture under its own
    name, so the single render is kept by path in the session's base temporary directory.
    """
    from splitbench import reports

    root = tmp_path_factory.getbasetemp() / "reports-sample" / "suite"
    if not (root / "report.md").is_file():
        write_sample(root)
        assert reports.render(root) == root / "report.md"
    return root
