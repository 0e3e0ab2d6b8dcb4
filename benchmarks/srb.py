"""SRB speed: ``analysis.srb.estimate`` (wilson / exact / log) and ``srb.change`` for every unit at once.

Two inputs: the real county table (``county_census``, every unit × both censuses, age-0 counts — ≈5,900
rows, NA rows kept) and ``srb.bench_data()`` (synthetic, seeded: 2,900 units × 2 censuses). The SRB
issue asks for "all ≈2,900 counties × 2 censuses in well under a second". Each case is run ``repeats``
times after one warm-up call; the median and the fastest are reported, with the machine load.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from datetime import UTC, datetime
from typing import Any

METHODS = ("wilson", "exact", "log")


def _time(fn, repeats: int) -> dict[str, float]:
    from analysis.srb import MissingCountsWarning

    times = []
    with warnings.catch_warnings():  # the real table's few units without age-0 counts stay NA (and warn)
        warnings.simplefilter("ignore", MissingCountsWarning)
        fn()  # warm-up: first-call imports and caches are not what is measured
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4)}


def cases() -> list[tuple[str, str, int, Any]]:
    """(input, operation, rows, callable) for every measured case."""
    from analysis import srb
    from analysis.data import load

    real = load("county_census", level="county")
    synth = srb.bench_data()
    inputs = [
        ("county_census (real, age-0, county level)", real, "age0_males", "age0_females"),
        ("srb.bench_data() (synthetic, seeded)", synth, "males", "females"),
    ]
    out = []
    for label, frame, m, f in inputs:
        for method in METHODS:
            out.append((label, f"estimate(method={method!r}, by=census×unit)", len(frame),
                        lambda frame=frame, m=m, f=f, method=method: srb.estimate(
                            frame, males=m, females=f, by=["census", "region_code"], method=method)))  # fmt: skip
        out.append((label, "change(2010 → 2020, every unit)", len(frame),
                    lambda frame=frame, m=m, f=f: srb.change(frame, unit="region_code", period="census",
                                                             males=m, females=f)))  # fmt: skip
    return out


def run(*, repeats: int = 7) -> dict[str, Any]:
    """Measure every case; returns the entry stored under ``"srb"`` in ``outputs/bench/results.json``."""
    load_before = round(os.getloadavg()[0], 2)
    rows = []
    for label, op, n, fn in cases():
        print(f"srb: {op} on {label} ...", flush=True)
        rows.append({"input": label, "operation": op, "rows": n, **_time(fn, repeats)})
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": repeats,
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "cases": rows,
    }


def markdown(entry: dict[str, Any]) -> list[str]:
    lines = ["# SRB benchmark", "",
             f"`analysis.srb` on all units at once; median (fastest) of {entry['repeats']} calls after a warm-up; "
             f"load {entry['load_before']} → {entry['load_after']} on {entry['cores']} cores; measured {entry['when']}.",
             "", "| input | operation | rows | median s | fastest s |", "|---|---|---:|---:|---:|"]  # fmt: skip
    for r in entry["cases"]:
        lines.append(f"| {r['input']} | `{r['operation']}` | {r['rows']:,} | {r['median_s']:.4f} | {r['min_s']:.4f} |")
    return lines + [""]
