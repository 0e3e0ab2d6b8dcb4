"""Batch speed: (a) a plain ``papermill`` CLI loop, (b) ``analysis.batch`` (warm forked kernels, a
process per core), (bc) the same through ``python -m analysis batch`` in a fresh process, (b1) with one worker,
(b0) with plain cold kernels, (c) the notebook's code in one process (the limit), (c2) that in one process per
core side by side, on the same counties.

Run through ``python -m benchmarks`` (see :mod:`benchmarks.cli`), which writes
``outputs/bench/results.json`` (entries keyed by notebook and extra parameters) and ``outputs/bench/results.md``.
Extra notebook parameters (``-p figure_formats '["png"]'``) are given to every mode alike; (c) and (c2) run with
the environment the runner gives its kernels (:func:`analysis.batch.forkserver.kernel_env`). The machine load (1-minute load average before and after each mode,
cores) is recorded with every number: on a shared machine they are noisy.

Derived figures (goals from the batch issue):
- speedup = a / b (goal ≥ 8);
- b / (c / cores) (goal ≤ 1.5);
- b / c2, where (c2) runs ``jobs`` in-process loops side by side: the cores' real parallel limit on this
  machine, and c2 / (c / cores), what running side by side costs the analysis itself;
- per-notebook overhead of b = (b × jobs − c) / n: worker seconds per notebook beyond the analysis itself,
  start-up of the pool included (goal ≤ 0.3 s); also the median of the per-run ``duration_s`` minus the
  mean in-process seconds per region (the steady state, without start-up). With 2 jobs on a machine that others use,
  b's workers share the cores with them, so (b1) — the runner with one worker — gives the cleaner
  overhead: (b1 − c) / n.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from analysis.config import KERNEL_NAME, OUTPUT_DIR, ROOT

STANDIN = Path(__file__).parent / "notebooks" / "standin_srb.ipynb"
BENCH_DIR = OUTPUT_DIR / "bench"


def counties(n: int, *, province: str = "440000") -> list[str]:
    """The first ``n`` counties (by code) of a province that have age-0 counts in both censuses."""
    from analysis.data import load, regions

    cands = list(regions.children(province, level="county")["code"])
    cc = load("county_census", region_code=cands)
    have = cc.dropna(subset=["age0_males", "age0_females"]).groupby("region_code")["census"].nunique()
    return [c for c in cands if have.get(c, 0) == 2][:n]


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _timed(fn) -> dict:
    before = _load()
    t = time.perf_counter()
    extra = fn() or {}
    return {"seconds": round(time.perf_counter() - t, 2), "load_before": before, "load_after": _load(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"), **extra}  # fmt: skip


def _fresh(folder: Path) -> Path:
    """A new, not yet existing subfolder ``folder/<n>``: every repetition starts from an empty output folder."""
    n = sum(1 for _ in folder.glob("*")) if folder.is_dir() else 0
    return folder / str(n)


def mode_papermill_cli(notebook: Path, codes: list[str], out: Path, *, params: dict | None = None) -> dict:
    """(a) one ``papermill`` process (and one cold kernel) per region, one after the other."""
    exe = Path(sys.executable).with_name("papermill")
    extra = ["-y", json.dumps(params)] if params else []  # JSON is YAML: lists keep their type
    failed = 0
    for code in codes:
        (out / code).mkdir(parents=True, exist_ok=True)
        cmd = [str(exe), str(notebook), str(out / code / f"{notebook.stem}.ipynb"), "-k", KERNEL_NAME,
               "-p", "region", code, "-p", "output_dir", str(out / code / notebook.stem), *extra,
               "--no-progress-bar", "--cwd", str(out / code)]  # fmt: skip
        failed += subprocess.run(cmd, capture_output=True, cwd=ROOT).returncode != 0
    return {"failed": failed}


def mode_runner(
    notebook: Path, codes: list[str], out: Path, *, jobs: int, warm: bool, params: dict | None = None
) -> dict:
    """(b) ``analysis.batch.run_batch`` with ``jobs`` worker processes."""
    from analysis.batch import run_batch

    res = run_batch(notebooks=[str(notebook)], regions=codes, jobs=jobs, out=out, progress=False, warm=warm,
                    parameters=params or None)  # fmt: skip
    durations = res.table["seconds"].astype(float)
    return {"failed": int(res.counts["failed"]), "mean_run_s": round(float(durations.mean()), 3),
            "median_run_s": round(float(durations.median()), 3)}  # fmt: skip


def mode_cli(notebook: Path, codes: list[str], out: Path, *, jobs: int, params: dict | None = None) -> dict:
    """(bc) ``python -m analysis batch`` in a fresh process, as a user runs it: Python's start-up and the
    command's own imports are in the time, as they are in (a)."""
    cmd = [sys.executable, "-m", "analysis", "batch", "--notebooks", str(notebook), "--regions", ",".join(codes),
           "--jobs", str(jobs), "--out", str(out), "--no-progress"]  # fmt: skip
    for name, value in (params or {}).items():
        cmd += ["-p", name, value if isinstance(value, str) else json.dumps(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"python -m analysis batch exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    runs = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["runs"]
    durations = sorted(float(r["duration_s"]) for r in runs)
    return {"failed": sum(r["status"] != "ok" for r in runs), "mean_run_s": round(sum(durations) / len(durations), 3),
            "median_run_s": round(durations[len(durations) // 2], 3)}  # fmt: skip


def _inprocess_env() -> dict[str, str]:
    """The in-process loops run with the runner's kernel environment (one BLAS thread, unless the user chose):
    the limit is measured under the same settings, not handicapped by them or helped by their absence."""
    from analysis.batch.forkserver import kernel_env

    return kernel_env(os.environ)


def _inprocess_cmd(notebook: Path, codes: list[str], out: Path, params: dict | None) -> list[str]:
    return [sys.executable, "-m", "benchmarks.inprocess", "--params", json.dumps(params or {}), str(notebook),
            str(out), *codes]  # fmt: skip


def _inprocess_result(returncode: int, stdout: str, stderr: str) -> dict:
    if returncode != 0:
        raise RuntimeError(f"in-process run failed:\n{stderr[-2000:]}")
    res = json.loads(stdout.strip().splitlines()[-1])
    per = list(res["per_region_s"].values())
    return {"analysis_s": round(sum(per), 2), "imports_s": round(res["imports_s"], 2),
            "mean_region_s": round(sum(per) / len(per), 3), "failed": len(res["errors"]),
            "errors": res["errors"]}  # fmt: skip


def mode_inprocess(notebook: Path, codes: list[str], out: Path, *, params: dict | None = None) -> dict:
    """(c) every region's code in one process (imports done once, not timed)."""
    proc = subprocess.run(_inprocess_cmd(notebook, codes, out, params), capture_output=True, text=True, cwd=ROOT,
                          env=_inprocess_env())  # fmt: skip
    return _inprocess_result(proc.returncode, proc.stdout, proc.stderr)


def mode_inprocess_parallel(
    notebook: Path, codes: list[str], out: Path, *, jobs: int, params: dict | None = None
) -> dict:
    """(c2) ``jobs`` in-process loops side by side, each over every ``jobs``-th region: what the cores give
    running the analysis at the same time (shared memory bandwidth and caches, the machine's other work),
    still without any isolation or start-up. Seconds = the slowest loop's analysis time."""
    procs = [subprocess.Popen(_inprocess_cmd(notebook, codes[i::jobs], out / str(i), params), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_inprocess_env())
             for i in range(jobs)]  # fmt: skip
    outputs = [p.communicate() for p in procs]
    loops = [_inprocess_result(p.returncode, *out) for p, out in zip(procs, outputs, strict=True)]
    return {"analysis_s": max(m["analysis_s"] for m in loops), "loops_s": [m["analysis_s"] for m in loops],
            "mean_region_s": round(sum(m["analysis_s"] for m in loops) / len(codes), 3),
            "failed": sum(m["failed"] for m in loops)}  # fmt: skip


def run(
    notebook: Path,
    n: int,
    jobs: int,
    skip: set[str],
    previous: dict | None = None,
    *,
    params: dict | None = None,
    repeats: int = 3,
) -> dict:
    """Measure the modes not in ``skip``; skipped modes keep their numbers from ``previous`` (same
    notebook, parameters, counties and jobs), each with its own time and load. The short modes (c, b,
    b1) run ``repeats`` times, taking turns, and keep the median; a and b0 run once."""
    params = dict(params or {})
    codes = counties(n)
    work = BENCH_DIR / "work" / notebook.stem
    shutil.rmtree(work, ignore_errors=True)
    same = (previous and previous["regions"] == codes and previous["jobs"] == jobs
            and previous.get("params", {}) == params)  # fmt: skip
    modes: dict[str, dict] = {k: {"when": previous["when"], **v} for k, v in previous["modes"].items()} if same else {}
    # the short modes take turns (c, b, b1, c, b, b1, ...) so that a slow spell of a shared machine
    # hits all of them rather than one
    short = {
        "c_inprocess": ("c", f"(c) in-process, {len(codes)} counties", "analysis_s",
                        lambda: mode_inprocess(notebook, codes, _fresh(work / "c"), params=params)),
        "c2_inprocess_parallel": ("c2", f"(c2) {jobs} in-process loops side by side", "analysis_s",
                                  lambda: mode_inprocess_parallel(notebook, codes, _fresh(work / "c2"), jobs=jobs,
                                                                  params=params)),
        "b_runner": ("b", f"(b) analysis.batch, warm kernels, jobs={jobs}", "seconds",
                     lambda: mode_runner(notebook, codes, _fresh(work / "b"), jobs=jobs, warm=True, params=params)),
        "bc_cli": ("bc", f"(bc) python -m analysis batch, jobs={jobs}", "seconds",
                   lambda: mode_cli(notebook, codes, _fresh(work / "bc"), jobs=jobs, params=params)),
        "b1_runner_1job": ("b1", "(b1) analysis.batch, warm kernels, jobs=1", "seconds",
                           lambda: mode_runner(notebook, codes, _fresh(work / "b1"), jobs=1, warm=True, params=params)),
    }  # fmt: skip
    short = {k: v for k, v in short.items() if v[0] not in skip and not (v[0] in ("b1", "c2") and jobs == 1)}
    runs: dict[str, list[dict]] = {k: [] for k in short}
    for i in range(max(1, repeats)):
        for name, (_, what, _, fn) in short.items():
            print(f"{what}, run {i + 1} of {repeats} ...", flush=True)
            runs[name].append(_timed(fn))
    for name, (_, _, key, _) in short.items():
        ordered = sorted(runs[name], key=lambda m: m[key])
        modes[name] = {**ordered[len(ordered) // 2], "repeats_s": [m[key] for m in runs[name]]}
    for name in ("c_inprocess", "c2_inprocess_parallel"):
        if name in short:
            modes[name]["seconds"] = modes[name]["analysis_s"]  # the limit: analysis only
    if "b0" not in skip:
        print(f"(b0) analysis.batch, cold kernels, jobs={jobs} ...", flush=True)
        modes["b0_runner_cold"] = _timed(lambda: mode_runner(notebook, codes, work / "b0", jobs=jobs, warm=False, params=params))
    if "a" not in skip:
        print("(a) papermill CLI loop ...", flush=True)
        modes["a_papermill_cli"] = _timed(lambda: mode_papermill_cli(notebook, codes, work / "a", params=params))
    fresh = set(short) | {k for k, part in (("b0_runner_cold", "b0"), ("a_papermill_cli", "a")) if part not in skip}
    derived: dict[str, float] = {}
    a, b, c = (modes.get(k, {}).get("seconds") for k in ("a_papermill_cli", "b_runner", "c_inprocess"))
    if a and b:
        derived["speedup_a_over_b"] = round(a / b, 2)
    if b and c:
        derived["b_over_c_per_core"] = round(b / (c / jobs), 2)
        derived["overhead_per_notebook_s"] = round((b * jobs - c) / len(codes), 3)
        derived["overhead_per_run_median_s"] = round(
            modes["b_runner"]["median_run_s"] - modes["c_inprocess"]["mean_region_s"], 3
        )
    bc = modes.get("bc_cli", {}).get("seconds")
    if bc and c:
        derived["bc_over_c_per_core"] = round(bc / (c / jobs), 2)
    if a and bc:
        derived["speedup_a_over_bc"] = round(a / bc, 2)
    c2 = modes.get("c2_inprocess_parallel", {}).get("seconds")
    if b and c2:
        derived["b_over_c2"] = round(b / c2, 2)
    if c and c2:
        derived["c2_over_c_per_core"] = round(c2 / (c / jobs), 2)
    b1 = modes.get("b1_runner_1job", {}).get("seconds")
    if b1 and c:
        derived["overhead_per_notebook_1job_s"] = round((b1 - c) / len(codes), 3)
        derived["overhead_per_run_1job_median_s"] = round(
            modes["b1_runner_1job"]["median_run_s"] - modes["c_inprocess"]["mean_region_s"], 3
        )
    a_, b_, bc_, b1_, c_, c2_ = ("a_papermill_cli", "b_runner", "bc_cli", "b1_runner_1job", "c_inprocess",
                                 "c2_inprocess_parallel")  # fmt: skip
    uses = {"speedup_a_over_b": (a_, b_), "speedup_a_over_bc": (a_, bc_), "b_over_c_per_core": (b_, c_),
            "overhead_per_notebook_s": (b_, c_), "overhead_per_run_median_s": (b_, c_), "bc_over_c_per_core": (bc_, c_),
            "b_over_c2": (b_, c2_), "c2_over_c_per_core": (c2_, c_), "overhead_per_notebook_1job_s": (b1_, c_),
            "overhead_per_run_1job_median_s": (b1_, c_)}  # fmt: skip
    # a figure from modes measured in different runs of this benchmark (a skipped mode keeps its old number)
    mixed = {name: list(uses[name]) for name in derived if len({m in fresh for m in uses[name]}) > 1}
    return {
        "notebook": str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook),
        "stand_in": notebook == STANDIN,
        "params": params,
        "n_regions": len(codes),
        "regions": codes,
        "jobs": jobs,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "modes": modes,
        "derived": derived,
        "derived_mixed": mixed,
    }


def entry_key(entry: dict) -> tuple[str, str, int | None]:
    """Results are kept per notebook, extra parameters and number of counties (``None`` for county estimates)."""
    return entry["notebook"], json.dumps(entry.get("params", {}), sort_keys=True), entry.get("n_regions")


def markdown(results: list[dict]) -> list[str]:
    lines = ["# Batch benchmark", "",
             "Seconds of wall time for the same counties: the median of the runs shown for c, b and b1 (run in turns), a "
             "single run for a and b0; load = 1-min load average before → after that run (the machine has the "
             "cores shown; other work on it inflates every number).", ""]  # fmt: skip
    for r in results:
        kind = "stand-in notebook" if r["stand_in"] else "study notebook"
        extra = "".join(f", `-p {k} '{json.dumps(v)}'`" for k, v in r.get("params", {}).items())
        lines += [f"## `{r['notebook']}` ({kind}{extra}), {r['n_regions']} counties, jobs={r['jobs']}", "",
                  "| mode | seconds | s / notebook | every run, s | load | failed | measured |",
                  "|---|---:|---:|---|---|---:|---|"]  # fmt: skip
        for name, m in sorted(r["modes"].items()):
            runs = " · ".join(f"{x:.1f}" for x in m.get("repeats_s", [m["seconds"]]))
            lines.append(f"| {name} | {m['seconds']:.1f} | {m['seconds'] / r['n_regions']:.2f} | {runs} | "
                         f"{m['load_before']} → {m['load_after']} | {m.get('failed', 0)} | {m.get('when', r['when'])} |")  # fmt: skip
        lines.append("")
        for k, v in r["derived"].items():
            mixed = r.get("derived_mixed", {}).get(k)
            lines.append(f"- {k}: {v}" + (f" (combines {' and '.join(mixed)}, measured in different runs)" if mixed else ""))
        lines.append("")
    return lines


def county_estimate(notebook: Path, n: int, jobs: int, *, params: dict | None = None) -> dict:
    """Run the runner on ``n`` counties spread evenly over the national county list (every k-th code),
    then extrapolate linearly to every county-level unit ``--level county --all`` would run.

    An extrapolation, not a measurement of the full batch: it assumes the sample's mean time per notebook
    (start-up of the pool included once, so slightly pessimistic) holds for all units.
    """
    from analysis.batch.params import select_regions

    units = [r.code for r in select_regions(level="county", all_regions=True)]
    step = len(units) / n
    sample = [units[int(i * step)] for i in range(n)]
    work = BENCH_DIR / "work" / f"county-estimate-{notebook.stem}"
    shutil.rmtree(work, ignore_errors=True)
    m = _timed(lambda: mode_runner(notebook, sample, work, jobs=jobs, warm=True, params=params))
    per = m["seconds"] / n
    return {
        "notebook": str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook),
        "params": dict(params or {}),
        "n_sample": n,
        "jobs": jobs,
        "n_units": len(units),
        "sample_first_last": [sample[0], sample[-1]],
        "cores": os.cpu_count(),
        **m,
        "s_per_notebook": round(per, 3),
        "extrapolated_full_county_batch_min": round(per * len(units) / 60, 1),
    }


def county_markdown(entries: list[dict]) -> list[str]:
    lines = ["# Full county batch (extrapolated)", "",
             "The runner on a sample of counties spread over the whole country (every k-th code of "
             "`--level county --all`), extrapolated linearly to all units: an estimate, not a full run.", "",
             "| notebook | parameters | sample | jobs | seconds | s / notebook | failed | load | units | estimate, min | measured |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|"]  # fmt: skip
    for e in entries:
        extra = " ".join(f"`-p {k} '{json.dumps(v)}'`" for k, v in e["params"].items()) or "defaults"
        lines.append(f"| `{e['notebook']}` | {extra} | {e['n_sample']} | {e['jobs']} | {e['seconds']:.1f} | "
                     f"{e['s_per_notebook']:.2f} | {e['failed']} | {e['load_before']} → {e['load_after']} | "
                     f"{e['n_units']:,} | {e['extrapolated_full_county_batch_min']:.1f} | {e['when']} |")  # fmt: skip
    return lines + [""]
