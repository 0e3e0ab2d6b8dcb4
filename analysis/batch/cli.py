"""``python -m analysis batch``: run study notebooks for many regions.

Examples::

    python -m analysis batch --notebooks 01,03 --level county --within 44 --jobs 2 --out outputs/gd-2026
    python -m analysis batch --notebooks 01 --regions 440100,440300 -p lang en --out outputs/gz-sz
    python -m analysis batch --default --out outputs/default          # what `make run` does
    python -m analysis batch --notebooks 01 --all --resume --out outputs/counties
    python -m analysis batch --notebooks 01 --level province --executor dask --scheduler tcp://host:8786

Exit status: 0 all runs ok, 1 any run failed, 2 bad arguments (nothing was run).
"""

from __future__ import annotations

import argparse
import signal
import sys

from analysis.batch.executors import EXECUTORS
from analysis.exceptions import AnalysisError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.splitlines()[0]
    parser.epilog = "\n".join(__doc__.splitlines()[2:])
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--notebooks", help="comma-separated keys (01,03), stems or paths; default: every study notebook")
    where = parser.add_argument_group("regions (one of)")
    where.add_argument("--regions", help="comma-separated GB/T 2260 codes or names, e.g. 440100,440300")
    where.add_argument("--level", choices=["province", "prefecture", "county"], help="every region of this level")
    where.add_argument("--within", help="with --level: only inside this region (code or name), e.g. 44")
    where.add_argument("--all", dest="all_regions", action="store_true", help="with --level: nationwide (default level: county)")
    where.add_argument("--default", action="store_true", help="the nation plus all provinces through every study notebook (make run)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="notebook parameter (repeatable); NN:NAME targets one notebook")  # fmt: skip
    parser.add_argument("--out", help="output folder of this run (default outputs/batch-<time>)")
    parser.add_argument("--jobs", "-j", type=int, help="worker processes (default: number of cores)")
    parser.add_argument("--resume", action="store_true", help="rerun only missing, failed or stale runs")
    parser.add_argument("--executor", choices=sorted(EXECUTORS), default="local", help="local process pool or Dask")
    parser.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--timeout", type=float, help="seconds allowed per cell (default: no limit)")
    parser.add_argument("--cold-kernels", action="store_true", help="start a plain kernel per run (no fork server)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from analysis.batch.runner import run_batch

    chosen = [bool(args.regions), bool(args.level or args.all_regions), bool(args.default)]
    if sum(chosen) != 1:
        raise AnalysisError("choose the regions with exactly one of --regions, --level/--all or --default")
    if args.within and not args.level:
        raise AnalysisError("--within needs --level (province, prefecture or county)")
    params: dict[str, str] = {}
    for name, value in args.parameter:
        if name in params:
            raise AnalysisError(f"parameter {name!r} given twice")
        params[name] = value
    # SIGTERM (``kill``, a job scheduler's time limit) stops the batch as Ctrl-C does
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = run_batch(
            notebooks=args.notebooks,
            regions=args.regions,
            level=args.level or ("county" if args.all_regions else None),
            within=args.within,
            all_regions=args.all_regions,
            default=args.default,
            parameters=params,
            out=args.out,
            jobs=args.jobs,
            resume=args.resume,
            executor=args.executor,
            scheduler=args.scheduler,
            timeout=args.timeout,
            warm=not args.cold_kernels,
            progress=not args.no_progress,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(result.summary(), file=sys.stdout)
    return result.exit_code
