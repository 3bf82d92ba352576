"""``splitbench live`` and ``splitbench serve``: the suites' scenarios run for real on this machine.

Each scenario's split runs as two programs exchanging the real serialized tensors over one real TCP
connection (models/live.py): the cloud halves in a ``serve`` process, the device half in this
process. Without ``--cloud`` the connection goes through the link emulator (netsim/live) configured
from the scenario's network: one emulator and one server per distinct link, reset between
scenarios so each starts on a fresh link (and at the start of a capacity trace). With
``--cloud HOST:PORT`` the device halves connect to a ``splitbench serve`` running elsewhere, over
whatever network lies between (no emulator, no root needed).

Results: ``results.csv`` with the usual columns, plus ``mode`` (``live``), ``tokens_match_reference``
(the greedy tokens equal those of the unsplit reference model, computed here in one process),
and ``sim_host_ttft_s`` / ``sim_host_tpot_s``: the simulator's prediction of the same scenario with
this machine's calibrated ``host`` profile on both sides — what the live run is comparable with.
Live timings are wall-clock measurements, so unlike ``run`` the file is not reproducible byte for
byte. Sweeps and multi-user scenarios are not run live.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitbench import SplitbenchError

from .fsutil import atomic_write_text
from .resolve import Resolved, resolve_suite, to_plain
from .results import RESULT_COLUMNS, add_derived, scenario_row, to_csv, trace_columns
from .suite import Suite

LIVE_COLUMNS = [*RESULT_COLUMNS, "mode", "tokens_match_reference", "sim_host_ttft_s", "sim_host_tpot_s"]
CLOUD_PORT = 7000
#: Memory a numeric (fp32) live run needs, in copies of the model's weights: the two halves at their
#: peak while built (the paradigm's model plus its numeric reference copy, before the other side's
#: weights are dropped) and the reference model computed in this process.
LIVE_MEMORY_COPIES = 5
READY_TIMEOUT_S = 600.0


def _mem_available() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def infeasible_reason(sc: Resolved) -> str | None:
    """Why this scenario cannot run live here, or None."""
    if sc.link.transport != "tcp" and sc.method["name"] != "device-only":
        return f"live: transport {sc.link.transport} cannot run live (the kernel's TCP is the transport)"
    need = sc.model.key_numbers()["params"] * 4.0 * LIVE_MEMORY_COPIES
    avail = _mem_available()
    if need > 0.8 * avail:
        return (f"live: {sc.labels['model']} needs about {need / 1e9:.1f} GB (fp32 halves and reference) "
                f"and this machine has {avail / 1e9:.1f} GB available")
    return None


def _spec(sc: Resolved) -> dict[str, Any]:
    return {"model": to_plain(sc.spec["model"]), "method": to_plain(sc.method), "act_dtype": sc.act_dtype,
            "seed": sc.seed, "prompt_tokens": sc.prompt_tokens, "new_tokens": sc.new_tokens}


def live_metrics(out: dict[str, Any], prompt_tokens: int, new_tokens: int) -> dict[str, Any]:
    """results.csv metrics from the device half's token times and payload counters."""
    times = out["token_times_s"]
    ttft = times[0]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    tpot = sum(gaps) / len(gaps) if gaps else float("nan")
    dec = max(1, new_tokens - 1)
    return {
        "ttft_s": ttft,
        "tpot_s": tpot,
        "prefill_tok_s": prompt_tokens / ttft if ttft > 0 else None,
        "decode_tok_s": 1.0 / tpot if gaps and tpot > 0 else None,
        "e2e_s": times[-1],
        "handshake_s": out.get("handshake_s"),
        "up_bytes": out["up_bytes"],
        "down_bytes": out["down_bytes"],
        "up_wire_bytes": out.get("up_wire_bytes"),
        "down_wire_bytes": out.get("down_wire_bytes"),
        "up_bytes_per_token": (out["up_bytes"] - out["prefill_up_bytes"]) / dec if gaps else None,
        "down_bytes_per_token": (out["down_bytes"] - out["prefill_down_bytes"]) / dec if gaps else None,
        "messages": out["messages"],
        "device_busy_s": None,
        "cloud_busy_s": None,
    }


class _Server:
    """A ``serve`` process for the cloud halves, inside an emulator's cloud namespace."""

    def __init__(self, emu: Any, cc: str, cpu: int | None = None):
        argv = [sys.executable, "-m", "splitbench.models.live", "--listen",
                f"{emu.addr['cloud']}:{CLOUD_PORT}", "--cc", cc]
        if cpu is not None:
            argv += ["--cpu", str(cpu)]
        self.proc = emu.popen("cloud", argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            raise SplitbenchError(f"live: the cloud server did not start ({line.strip()[:120]!r})")

    def session_log(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        try:
            return json.loads(line)
        except ValueError:
            return {"error": line.strip()[:200] or "the cloud server exited"}


def run_device_half(sc: Resolved, connect: Callable[[Any, dict], dict] | None) -> dict[str, Any]:
    """Build the device half here and run one session (``connect`` None: device-only, no network)."""
    from splitbench.models.live import dedicated_cpu, half_cpus, prepare_half, run_half

    spec = _spec(sc)
    half = prepare_half(spec["model"], spec["method"], "device", sc.act_dtype, sc.seed, sc.prompt_tokens)
    if connect is None:
        with dedicated_cpu(half_cpus()["device"]):
            return run_half(half, "device", None, sc.prompt_tokens, sc.new_tokens)
    return connect(half, spec)


def _sim_host(sc: Resolved, trace: Any, host: Any = None) -> dict[str, Any]:
    """The simulator on this machine's ``host`` profile (or ``host``), both sides, with the weights the
    live halves hold (fp32, numeric mode) rather than the 16-bit weights traces assume for serving."""
    from splitbench.netsim import host_profile, simulate

    from .validate import fp32_weights

    host = host or host_profile()
    m = simulate(fp32_weights(trace), sc.link, host, host, sc.new_tokens, seed=sc.seed).metrics()
    return {"sim_host_ttft_s": m.get("ttft_s"), "sim_host_tpot_s": m.get("tpot_s")}


def run_scenarios(
    scenarios: list[Resolved], cloud: str | None = None, progress: Callable[[str], None] | None = None,
    simulate: bool = True, check_tokens: bool = True, host: Any = None,
) -> list[dict[str, Any]]:
    """Run each scenario live; return results.csv rows (with the live columns; the simulated ones on
    ``host``, by default the cached ``host`` profile)."""
    import torch

    from splitbench.models import comparable_lora_split
    from splitbench.models.live import connect_and_run, half_cpus, reference_tokens
    from splitbench.netsim.live.emulator import Emulator, require_net_admin

    from .single import _trace

    torch.set_num_threads(1)
    cpus = half_cpus()
    say = progress or (lambda s: None)
    rows: dict[str, dict[str, Any]] = {}
    runnable: list[Resolved] = []
    for sc in scenarios:
        why = infeasible_reason(sc)
        if why:
            row = scenario_row(sc, {"feasible": False, "reason": why}, {})
            rows[sc.scenario_id] = {**row, "mode": "live"}
        else:
            runnable.append(sc)

    def finish(sc: Resolved, out: dict[str, Any]) -> None:
        _, _, trace = _trace(sc.model, sc.method, sc.prompt_tokens, sc.act_dtype)
        ref_method = comparable_lora_split(sc.method)
        ref = _trace(sc.model, ref_method, sc.prompt_tokens, sc.act_dtype)[2] if ref_method else None
        row = scenario_row(sc, {"feasible": True, "metrics": live_metrics(out, sc.prompt_tokens,
                                                                          sc.new_tokens)},
                           trace_columns(trace, ref))
        row["mode"] = "live"
        if check_tokens:
            spec = _spec(sc)
            want = reference_tokens(spec["model"], spec["method"], sc.act_dtype, sc.seed, sc.prompt_tokens,
                                    sc.new_tokens, which=("reference",))["reference"]
            row["tokens_match_reference"] = out["tokens"] == want
        if simulate:
            row.update(_sim_host(sc, trace, host))
        rows[sc.scenario_id] = row
        say(f"live {sc.scenario_id}: ttft {row['ttft_s']:.4g} s, tpot {row['tpot_s'] or float('nan'):.4g} s, "
            f"tokens match reference: {row.get('tokens_match_reference', '-')}")

    local = [sc for sc in runnable if sc.method["name"] == "device-only"]
    remote = [sc for sc in runnable if sc.method["name"] != "device-only"]
    for sc in local:
        finish(sc, run_device_half(sc, None))
    if cloud is not None:
        addr, _, port = cloud.rpartition(":")
        if not addr or not port.isdigit():
            raise SplitbenchError(f"--cloud {cloud}: expected HOST:PORT")
        for sc in remote:
            cc = sc.link.linux_cc
            finish(sc, run_device_half(sc, lambda half, spec, cc=cc: connect_and_run(
                half, spec, addr, int(port), cc, cpu=cpus["device"])))
        return [rows[k] for k in sorted(rows)]
    if remote:
        require_net_admin()
    groups: dict[str, list[Resolved]] = {}
    for sc in remote:
        groups.setdefault(json.dumps([to_plain(sc.link), sc.seed], sort_keys=True), []).append(sc)
    for group in groups.values():
        link, cc = group[0].link, group[0].link.linux_cc
        with Emulator(link, group[0].seed) as emu:
            server = _Server(emu, cc, cpus["cloud"])
            for sc in group:
                emu.stats(reset=True)
                # on_ready: the link starts afresh again once the cloud half is ready, so that the
                # request's first packet is the link's time 0, as in the simulator (a capacity trace
                # is read from its start, not from wherever connecting and building the cloud half
                # left it), and the counters hold the request's bytes alone.
                def connect(half: Any, spec: dict, cc: str = cc, emu: Any = emu) -> dict[str, Any]:
                    return connect_and_run(
                        half, spec, emu.addr["cloud"], CLOUD_PORT, cc,
                        make_socket=lambda: emu.socket("device"), timeout_s=READY_TIMEOUT_S,
                        cpu=cpus["device"], on_ready=lambda: emu.stats(reset=True))

                try:
                    out = run_device_half(sc, connect)
                except (SplitbenchError, OSError) as e:  # the watchdog names a dead forwarder or server
                    raise SplitbenchError(f"{emu.failure or e} ({sc.scenario_id})") from None
                st = emu.stats()
                log = server.session_log()
                if "error" in log:
                    raise SplitbenchError(f"live: cloud half of {sc.scenario_id}: {log['error']}")
                out["up_wire_bytes"] = st["up"]["data_bytes"]
                out["down_wire_bytes"] = st["down"]["data_bytes"]
                finish(sc, out)
    return [rows[k] for k in sorted(rows)]


def live_csv(rows: list[dict[str, Any]]) -> str:
    return to_csv(sorted(add_derived(rows), key=lambda r: r["scenario_id"]), LIVE_COLUMNS)


def run_live(suite: Suite, out: Path, cloud: str | None = None,
             progress: Callable[[str], None] | None = None) -> Path:
    """``splitbench live``: run the suite's scenarios for real; write results.csv and scenarios.yaml."""
    from .runner import write_scenarios_yaml

    scenarios, _ = resolve_suite(suite)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows = run_scenarios(scenarios, cloud, progress)
    write_scenarios_yaml(out, suite, scenarios, [])
    atomic_write_text(out / "results.csv", live_csv(rows))
    meta = {"suite": suite.name, "mode": "live", "cloud": cloud or "emulated", "started": started,
            "duration_s": time.time() - started, "command": " ".join(sys.argv), "pid": os.getpid()}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    from splitbench.reports import render

    render(out)
    return out / "results.csv"


# ---------------------------------------------------------------------------- validate --only live
#: The validated model: the compute validation's d=512 Llama (4 layers), where a decode step's
#: compute (milliseconds) and the links' round trips (tens of milliseconds) both matter.
LIVE_MODEL: dict[str, Any] = {"base": "tiny", "hidden_size": 512, "intermediate_size": 1376,
                              "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
                              "vocab_size": 8192}
LIVE_METHODS: list[Any] = ["cloud-only", {"name": "privatelora", "rank": 16}, {"name": "spa"},
                           {"name": "layer-split", "device_layers": 2}]
MAHIMAHI_DIR = Path("/work/shared/traces/mahimahi")
LIVE_TRACE = "TMobile-LTE-short"
#: Links without random loss or jitter (one run per case: a random loss would make it a lottery).
LIVE_LINKS: dict[str, dict[str, Any]] = {
    "4g": {"base": "4g", "loss": 0, "jitter_ms": 0},
    "5g": {"base": "5g", "loss": 0, "jitter_ms": 0},
    "wifi5": {"base": "wifi5", "loss": 0, "jitter_ms": 0},
}
LIVE_PROMPT, LIVE_NEW_TOKENS = 128, 16


def live_links(trace_dir: Path = MAHIMAHI_DIR) -> dict[str, dict[str, Any]]:
    """The validated links: three presets and one Mahimahi trace pair (read where it lies)."""
    links = dict(LIVE_LINKS)
    up, down = trace_dir / f"{LIVE_TRACE}.up", trace_dir / f"{LIVE_TRACE}.down"
    if up.is_file() and down.is_file():
        links[f"mahimahi {LIVE_TRACE}"] = {"base": "4g", "loss": 0, "jitter_ms": 0, "rtt_ms": 40,
                                           "trace_up": str(up), "trace_down": str(down)}
    return links


#: Paired rounds per link: each calibrates the host, then runs every paradigm live; a case's phase
#: is judged on its median-error round (as the compute validation does), so one disturbed round
#: (another tenant, a page-cache flush) decides nothing.
LIVE_ROUNDS = 3
#: The live halves are timed over a whole generation (TTFT once, TPOT as the mean step), so their
#: prediction uses the host's sustained speed: each microbenchmark's median call, not its fastest
#: (netsim.host.calibrate_host), which the compute validation's best-of passes are compared with.
LIVE_SUSTAINED = True


def live_cases(target: float) -> list[Any]:
    """``validate --only live``: TTFT and TPOT measured live vs the simulator on the ``host`` profile
    calibrated right before each round (on the cloud half's core, at its priority), per paradigm
    and link."""
    import torch

    from splitbench.models.live import dedicated_cpu, half_cpus
    from splitbench.netsim.host import calibrate_host, host_from_measurement
    from splitbench.netsim.live.emulator import keep_awake, require_net_admin

    from .single import resolve_one
    from .validate import CALIBRATION_BUDGET_S, COMPUTE_THREADS, Case, median_round

    require_net_admin()
    torch.set_num_threads(COMPUTE_THREADS)
    out = []
    for lname, link in live_links().items():
        scs = [resolve_one({"model": LIVE_MODEL, "method": m, "network": link, "device": "snapdragon-8gen3",
                            "cloud": "a100-80g", "prompt_tokens": LIVE_PROMPT, "new_tokens": LIVE_NEW_TOKENS,
                            "act_dtype": "fp32"}) for m in LIVE_METHODS]
        rounds: dict[str, list[tuple[dict, tuple[float, float], tuple[float, float]]]] = {}
        for _ in range(LIVE_ROUNDS):
            # the cores kept awake as the emulator keeps them, so the message probe's wake-ups are
            # those of the live run (netsim/live/emulator.py keep_awake)
            with keep_awake(), dedicated_cpu(half_cpus()["cloud"]):
                meas = calibrate_host(CALIBRATION_BUDGET_S, sustained=LIVE_SUSTAINED)
            host = host_from_measurement(meas, "this validate round, sustained (median) timings")
            for r in run_scenarios(scs, check_tokens=False, host=host):
                if not r["feasible"]:
                    raise SplitbenchError(f"validate live: {r['scenario_id']}: {r['infeasible_reason']}")
                rounds.setdefault(r["scenario_id"], []).append(
                    (meas, (r["sim_host_ttft_s"], r["sim_host_tpot_s"]), (r["ttft_s"], r["tpot_s"])))
        for sc in scs:
            name = f"live: {sc.labels['method_label']} on {lname}"
            for i, phase in enumerate(("TTFT", "TPOT")):
                _, predicted, real = median_round(rounds[sc.scenario_id], i)
                errors = sorted(100 * (p[i] / m[i] - 1) for _, p, m in rounds[sc.scenario_id])
                src = (f"live run through the link emulator, {LIVE_PROMPT}+{LIVE_NEW_TOKENS} tokens, d=512, "
                       f"each half on a core of its own; the median-error round of {LIVE_ROUNDS}, errors of "
                       "all rounds: " + ", ".join(f"{e:+.0f}%" for e in errors) + " [M]")
                out.append(Case("live", name, phase, predicted[i] * 1e3, real[i] * 1e3, "ms", target, src))
    return out


def verify_live(model: str = "tiny", seed: int = 0, prompt_tokens: int = 7, new_tokens: int = 6) -> list[Any]:
    """``verify --live``: every verified paradigm as two programs on loopback (a ``serve`` process
    and the device halves here); passes when the greedy tokens equal the unsplit reference's. The
    logits stay on their side, so no |Δlogit| is reported."""
    import socket as _socket

    from splitbench.models import resolve_model
    from splitbench.models.verify import VERIFY_METHODS, VerifyRow, _label

    from .single import resolve_one

    layers = resolve_model(model).n_layers
    methods = [{**m, "device_layers": min(m["device_layers"], layers)} if m["name"] == "layer-split" else m
               for m in VERIFY_METHODS]
    scs = [resolve_one({"model": model, "method": m, "network": "5g", "device": "snapdragon-8gen3",
                        "cloud": "a100-80g", "prompt_tokens": prompt_tokens, "new_tokens": new_tokens,
                        "act_dtype": "fp32", "seed": seed}) for m in methods]
    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen([sys.executable, "-m", "splitbench.models.live", "--listen", f"127.0.0.1:{port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if not srv.stdout.readline().startswith("listening"):
            raise SplitbenchError("verify --live: the loopback server did not start")
        rows = {r["scenario_id"]: r for r in run_scenarios(scs, cloud=f"127.0.0.1:{port}", simulate=False)}
    finally:
        srv.kill()
        srv.wait()
    out = []
    for m, sc in zip(methods, scs, strict=True):
        ok = bool(rows[sc.scenario_id].get("tokens_match_reference"))
        out.append(VerifyRow(f"{_label(m)} live", float("nan"), ok, ok))
    return out


def serve(listen: str, cc: str = "cubic", sessions: int | None = None) -> None:
    """``splitbench serve``: cloud halves for ``live --cloud``, in this process."""
    import torch

    from splitbench.models.live import serve_forever

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise SplitbenchError(f"--listen {listen}: expected HOST:PORT")
    torch.set_num_threads(1)
    serve_forever(host, int(port), cc, sessions, log=lambda s: print(s, flush=True))


__all__ = ["LIVE_COLUMNS", "live_cases", "run_live", "run_scenarios", "serve", "verify_live"]
