"""The ``splitbench`` command line.

Every subcommand is a pair (``add_<name>`` builds its parser, ``cmd_<name>`` runs it) registered in
:data:`COMMANDS`, so adding one (e.g. ``validate``) is one function pair and one line. Bad input of
any kind — a malformed suite, an unknown preset, a missing file, an unreachable scheduler — is a
:class:`SplitbenchError` and becomes exactly one line on stderr and exit status 2. Imports of the
heavier parts (simpy, dask, matplotlib) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from splitbench import SplitbenchError

PROG = "splitbench"


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


# ------------------------------------------------------------------------------------------ run
def add_run(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="run a suite of scenarios and render its report",
        description="Run every scenario of a suite (a built-in name or a YAML file; default: quick), "
        "write results.csv, scenarios.yaml, timelines/ and the report. Rerunning the same command "
        "resumes: finished scenarios are skipped.",
    )
    p.add_argument(
        "suite",
        nargs="?",
        default="quick",
        metavar="SUITE",
        help="built-in suite name (see `splitbench list suites`) or path to a YAML file [quick]",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="results directory [splitbench-out/<suite>/]")
    p.add_argument(
        "--jobs", type=_positive_int, default=None, metavar="N", help="parallel workers [CPU cores]"
    )
    p.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="local processes, or a Dask cluster (LocalCluster unless --scheduler) [local]",
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler (with --executor dask)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="override a suite field: a scenario field (new_tokens=16) forces it on every "
        "scenario; a dotted path (matrix.network=[4g,5g], seed=1) edits the suite. Repeatable.",
    )
    p.add_argument(
        "--presets",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder (or file) of your own presets: models/, networks/, profiles/, methods/ of YAML files, "
        "one per preset, used by name like the built-in ones. Repeatable.",
    )
    p.add_argument("--no-report", action="store_true", help="skip rendering the report")
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar and no summary, only the report path"
    )
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from .executors import default_jobs, warm_up

    jobs = args.jobs or default_jobs()
    warm_up(args.executor, jobs)  # before the runner's imports: the pool's fork server loads torch meanwhile
    from .runner import run_suite
    from .suite import load_suite, parse_set

    suite = load_suite(args.suite, parse_set(args.overrides), args.presets)
    if args.scheduler and args.executor != "dask":
        raise SplitbenchError("--scheduler: only meaningful with --executor dask")
    progress = not args.quiet and sys.stderr.isatty()
    s = run_suite(
        suite,
        args.out,
        jobs=jobs,
        executor=args.executor,
        scheduler=args.scheduler,
        progress=progress,
        render_report=not args.no_report,
        argv=sys.argv[1:] if args.argv is None else args.argv,
    )
    if not args.quiet:
        extra = f", {s.n_sweep_points} sweep points" if s.n_sweep_points else ""
        print(
            f"{PROG}: {suite.name}: {s.n_scenarios} scenarios{extra} — {s.n_run} run, {s.n_resumed} resumed, "
            f"{s.n_infeasible} infeasible — {s.wall_s:.1f} s"
        )
        print(f"results: {s.out_dir / 'results.csv'}")
        for note in s.notes:
            print(f"note: {note}")
    if s.report is not None:
        print(f"report: {s.report}")
    return 0


# ----------------------------------------------------------------------------------------- list
def add_list(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from .listing import SECTIONS

    p = sub.add_parser(
        "list",
        help="list presets (models, methods, networks, profiles) and built-in suites",
        description="Print the presets with their key numbers and sources.",
    )
    p.add_argument("what", nargs="?", choices=SECTIONS, help="one section (default: all)")
    p.add_argument(
        "--presets",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder (or file) of your own presets: models/, networks/, profiles/, methods/ of YAML files, "
        "one per preset, used by name like the built-in ones. Repeatable.",
    )
    return p


def cmd_list(args: argparse.Namespace) -> int:
    from splitbench.models.presets import using

    from .listing import render
    from .suite import load_presets

    user = load_presets(args.presets, Path.cwd(), "--presets") if args.presets else None
    with using(user):
        print(render(args.what))
    return 0


# --------------------------------------------------------------------------------------- report
def add_report(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "report",
        help="render the report again from a results directory",
        description="Re-render report.md (and plots, tables) from the files of a results directory.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="a results directory written by `splitbench run`")
    return p


def cmd_report(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise SplitbenchError(f"{args.dir}: no such results directory")
    if not (args.dir / "results.csv").is_file():
        raise SplitbenchError(f"{args.dir}: no results.csv in this directory (run `splitbench run` first)")
    from splitbench.reports import render

    print(f"report: {render(args.dir)}")
    return 0


# -------------------------------------------------------------------------------------- compare
def add_compare(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compare",
        help="compare two results.csv files; exit 1 on a regression",
        description="Per scenario (matched by scenario_id), the relative change of every throughput "
        "(prefill_tok_s, decode_tok_s) and latency (ttft_s, tpot_s, e2e_s) metric. Exit status 1 when any "
        "metric is worse than the baseline by more than --max-regression percent.",
    )
    p.add_argument("baseline", type=Path, metavar="BASELINE.csv")
    p.add_argument("current", type=Path, metavar="CURRENT.csv")
    p.add_argument(
        "--max-regression",
        type=float,
        default=5.0,
        metavar="PCT",
        help="allowed worsening in percent of the baseline [5]",
    )
    return p


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_files, format_report

    if args.max_regression < 0:
        raise SplitbenchError(f"--max-regression: must be >= 0, got {args.max_regression}")
    cmp = compare_files(args.baseline, args.current)
    print(format_report(cmp, args.max_regression))
    return 1 if cmp.regressions(args.max_regression) else 0


# --------------------------------------------------------------------------------------- verify
def add_verify(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify",
        help="check numerically that every split model equals its unsplit model",
        description="Run each paradigm's split model and the unsplit reference on real CPU "
        "tensors; print the largest logit difference. Exit 1 when any method fails.",
    )
    p.add_argument("--model", default="tiny", help="model preset (small ones: tiny) [tiny]")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and inputs [0]")
    p.add_argument("--live", action="store_true",
                   help="also run each paradigm as two programs over loopback TCP (tokens must match)")
    return p


def cmd_verify(args: argparse.Namespace) -> int:
    import warnings

    from splitbench.models.verify import verify

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        rows = verify(model=args.model, seed=args.seed)
        if args.live:
            from .live import verify_live

            rows += verify_live(model=args.model, seed=args.seed)
    width = max([len("method"), *(len(str(r.method)) for r in rows)])
    print(f"{'method'.ljust(width)}  {'max |Δlogit|':>12}  {'tokens':>6}  pass")
    for r in rows:
        match = "same" if getattr(r, "tokens_match", True) else "differ"
        dlogit = f"{r.max_abs_dlogit:12.3g}" if r.max_abs_dlogit == r.max_abs_dlogit else f"{'-':>12}"
        print(
            f"{str(r.method).ljust(width)}  {dlogit}  {match:>6}  "
            f"{'yes' if r.passed else 'NO'}"
        )
    return 0 if all(r.passed for r in rows) else 1


# ------------------------------------------------------------------------------------- netcheck
NETCHECK_LINK_FLAGS = {
    "up_mbps": float,
    "down_mbps": float,
    "rtt_ms": float,
    "jitter_ms": float,
    "loss": float,
    "trace_up": str,
    "trace_down": str,
    "transport": str,
    "mss_bytes": int,
    "rwnd_bytes": int,
    "queue_pkts": int,
    "cc": str,
}


def add_netcheck(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "netcheck",
        help="time K request/response rounds over one simulated link",
        description="One TCP connection: the device sends --up-bytes; when all have arrived the cloud "
        "computes "
        "--compute-ms and replies --down-bytes; K rounds. Prints completion time (after the handshake), "
        "handshake time, time per round, wire bytes and, with a radio model, the radio's energy.",
    )
    p.add_argument("--network", metavar="PRESET", help="start from a network preset; flags below override it")
    for name, typ in NETCHECK_LINK_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        if name == "transport":
            p.add_argument(
                flag, choices=["tcp", "ideal"], help="tcp (slow start, windows) or ideal (rate + delay)"
            )
        else:
            p.add_argument(flag, type=typ, metavar=name.split("_")[-1].upper())
    p.add_argument("--up-bytes", type=int, metavar="N", help="request payload bytes per round (required)")
    p.add_argument("--down-bytes", type=int, metavar="M", help="reply payload bytes per round (required)")
    p.add_argument("--compute-ms", type=float, metavar="C", help="cloud compute per round, ms (required)")
    p.add_argument("--rounds", type=int, metavar="K", help="number of rounds (required)")
    p.add_argument("--live", action="store_true",
                   help="run the rounds over real TCP through the link emulator (needs root)")
    p.add_argument("--max-rate", action="store_true",
                   help="with --live: measure the highest rate the emulator reproduces within 5%% "
                   "and cache it")
    p.add_argument("--radio", metavar="RADIO",
                   help="radio power model for the exchange's energy (default: the --network preset's; "
                   "e.g. lte-2012, lte, nr-lowband, nr-mmwave, wifi-psm)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def cmd_netcheck(args: argparse.Namespace) -> int:
    from splitbench.netsim import netcheck, resolve_network

    if args.max_rate:
        from splitbench.netsim.live.netcheck import measure_max_rate

        if not args.live:
            raise SplitbenchError("--max-rate: needs --live")
        r = measure_max_rate()
        print(json.dumps(r, sort_keys=True) if args.json else f"max_rate_mbps    {r['max_rate_mbps']:g}")
        return 0
    for name in ("up_bytes", "down_bytes", "compute_ms", "rounds"):
        if getattr(args, name) is None:
            raise SplitbenchError(f"--{name.replace('_', '-')}: required")
    for name, v, lo in (
        ("--up-bytes", args.up_bytes, 0),
        ("--down-bytes", args.down_bytes, 0),
        ("--rounds", args.rounds, 1),
        ("--compute-ms", args.compute_ms, 0),
    ):
        if v < lo:
            raise SplitbenchError(f"{name}: must be >= {lo}, got {v}")
    spec: dict[str, object] = {
        k: getattr(args, k) for k in NETCHECK_LINK_FLAGS if getattr(args, k) is not None
    }
    if args.network:
        spec["base"] = args.network
    else:
        missing = [k for k in ("up_mbps", "down_mbps", "rtt_ms") if k not in spec]
        for k in ("trace_up", "trace_down"):  # a trace replaces the rate of its direction
            if k in spec:
                rate = "up_mbps" if k == "trace_up" else "down_mbps"
                if rate in missing:
                    missing.remove(rate)
                    spec[rate] = 1.0  # placeholder, unused when the trace is given
        if missing:
            raise SplitbenchError(f"--{missing[0].replace('_', '-')}: required (or give --network PRESET)")
    try:
        link = resolve_network(spec)
    except SplitbenchError as e:  # name the flag the user typed, not the LinkSpec field
        msg = str(e)
        for k in NETCHECK_LINK_FLAGS:
            msg = msg.replace(f"network.{k}:", f"--{k.replace('_', '-')}:")
        raise SplitbenchError(msg) from None
    from splitbench.netsim.radio import radio_for_network, resolve_radio

    if args.radio:
        try:
            radio = resolve_radio(args.radio)
        except SplitbenchError as e:
            raise SplitbenchError(f"--radio: {e}") from None
    else:
        radio = radio_for_network(link)
    if args.live:
        from splitbench.netsim.live.netcheck import live_netcheck

        result = live_netcheck(args.up_bytes, args.down_bytes, args.compute_ms, args.rounds, link)
    else:
        result = netcheck(args.up_bytes, args.down_bytes, args.compute_ms, args.rounds, link, radio=radio)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    for k, v in result.items():
        if isinstance(v, list) and v:
            nums = [float(x) for x in v]
            mean = sum(nums) / len(nums)
            text = f"mean {mean:.6g}  min {min(nums):.6g}  max {max(nums):.6g}  ({len(nums)} rounds)"
        else:
            text = f"{v:.6g}" if isinstance(v, float) else str(v)
        print(f"{k:<16} {text}")
    return 0


# ------------------------------------------------------------------------------------- validate
def add_validate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "validate",
        help="check the simulator against references; exit 1 when a case misses its target",
        description="compute: host-profile predictions vs real timed forward passes here (TTFT and "
        "TPOT); device: device-only roofline vs published measured tok/s; link: netcheck vs the "
        "recorded ns-3 cases; energy: the radio model vs Huang 2012's single packet and published "
        "J/token. Prints case, phase, predicted, reference, error and target.",
    )
    p.add_argument("--only", action="append", choices=["compute", "device", "link", "energy", "live"],
                   help="run only this kind (repeatable) [compute, device, link, energy; live needs root]")
    p.add_argument("--target", action="append", default=[], metavar="KIND=PCT",
                   help="override a kind's target |error| in percent, e.g. link=5 (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import KINDS, format_table, validate

    targets: dict[str, float] = {}
    for item in args.target:
        kind, sep, pct = item.partition("=")
        try:
            value = float(pct)
        except ValueError:
            value = -1.0
        if not sep or kind not in KINDS or value < 0:
            raise SplitbenchError(f"--target {item}: expected KIND=PCT with KIND one of {', '.join(KINDS)}")
        targets[kind] = value
    cases = validate(args.only, targets)
    ok = all(c.passed for c in cases)
    if args.json:
        print(json.dumps({"passed": ok, "cases": [c.to_dict() for c in cases]}, sort_keys=True))
    else:
        print(format_table(cases))
    return 0 if ok else 1


# ----------------------------------------------------------------------------------- live, serve
def add_live(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "live",
        help="run a suite's scenarios for real: two processes over real TCP (emulated link or --cloud)",
        description="Each scenario's device and cloud halves exchange the real tensors over real TCP, "
        "through the link emulator configured from the scenario's network (needs root), or with "
        "--cloud to a `splitbench serve` elsewhere. Writes results.csv (mode, tokens_match_reference, "
        "and the host-profile simulation beside it) and scenarios.yaml.",
    )
    p.add_argument("suite", metavar="SUITE", help="built-in suite name or path to a YAML file")
    p.add_argument("--out", type=Path, metavar="DIR", help="results directory [splitbench-out/<suite>-live/]")
    p.add_argument("--cloud", metavar="HOST:PORT", help="run the device halves against this server")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override a suite field, as for run (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="only the results path")
    return p


def cmd_live(args: argparse.Namespace) -> int:
    from .live import run_live
    from .suite import load_suite, parse_set

    suite = load_suite(args.suite, parse_set(args.overrides))
    out = args.out or Path("splitbench-out") / f"{suite.name}-live"
    path = run_live(suite, out, args.cloud, None if args.quiet else lambda s: print(s, flush=True))
    print(f"results: {path}")
    return 0


def add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve",
        help="serve cloud halves for `splitbench live --cloud`",
        description="Accepts one live session at a time; each builds (once) and runs the cloud half "
        "the device names. Ctrl-C stops it.",
    )
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to listen on")
    p.add_argument("--congestion-control", default="cubic", metavar="NAME",
                   help="TCP congestion control of the sessions' sockets [cubic]")
    p.add_argument("--sessions", type=_positive_int, metavar="N", help="exit after N sessions")
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    from .live import serve

    try:
        serve(args.listen, args.congestion_control, args.sessions)
    except KeyboardInterrupt:
        pass
    return 0


# ------------------------------------------------------------------------------------- dispatch
COMMANDS: dict[
    str,
    tuple[
        Callable[[argparse._SubParsersAction], argparse.ArgumentParser], Callable[[argparse.Namespace], int]
    ],
] = {
    "run": (add_run, cmd_run),
    "list": (add_list, cmd_list),
    "report": (add_report, cmd_report),
    "compare": (add_compare, cmd_compare),
    "verify": (add_verify, cmd_verify),
    "netcheck": (add_netcheck, cmd_netcheck),
    "validate": (add_validate, cmd_validate),
    "live": (add_live, cmd_live),
    "serve": (add_serve, cmd_serve),
}


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to import, and
    ``run`` starts its worker pool's fork server before anything slow)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from . import __version__

        print(f"{PROG} {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmark privacy-preserving LLM inference split between a device and the cloud, "
        "over simulated 4G/5G/Wi-Fi links.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add, run in COMMANDS.values():
        add(sub).set_defaults(handler=run)
    return parser


def error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _freeze_heap_at_exit() -> None:
    """At interpreter exit, take every live object out of the cyclic collector's reach (``gc.freeze``).

    Why: the interpreter's final collections walk the whole heap a run leaves (pandas, matplotlib,
    the results; most of a second after a ``run``) only to free memory the system takes back anyway.
    Registered once per process; atexit runs it only when the interpreter ends, so a caller that runs
    :func:`main` in-process keeps its collector as it was."""
    global _FREEZE_REGISTERED
    if not _FREEZE_REGISTERED:
        import atexit
        import gc

        atexit.register(gc.freeze)
        _FREEZE_REGISTERED = True


_FREEZE_REGISTERED = False


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed check/regression, 2 bad input)."""
    _freeze_heap_at_exit()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors (argparse prints them)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    args.argv = list(argv) if argv is not None else None
    try:
        return args.handler(args)
    except SplitbenchError as e:
        return error(str(e).splitlines()[0] if str(e) else "invalid input")
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; finished scenarios are kept — rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return error(f"{where}{e.strerror or e}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
