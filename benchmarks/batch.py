"""Batch speed: (a) a plain ``papermill`` CLI loop, (b) ``analysis.batch`` (warm forked kernels, a
process per core), (b1) the same with one worker, (b0) with plain cold kernels, (c) the notebook's code
in one process (the limit), on the same counties.

``python -m benchmarks [--notebook PATH] [--n 24] [--jobs N] [--skip a,b0]`` writes
``outputs/bench/results.json`` (appending to earlier entries, keyed by notebook) and
``outputs/bench/results.md``. The machine load (1-minute load average before and after each mode,
cores) is recorded with every number: on a shared machine they are noisy.

Derived figures (goals from the batch issue):
- speedup = a / b (goal ≥ 8);
- b / (c / cores) (goal ≤ 1.5);
- per-notebook overhead of b = (b × jobs − c) / n: worker seconds per notebook beyond the analysis itself,
  start-up of the pool included (goal ≤ 0.3 s); also the median of the per-run ``duration_s`` minus the
  mean in-process seconds per region (the steady state, without start-up). With 2 jobs on a machine that others use,
  b's workers share the cores with them, so (b1) — the runner with one worker — gives the cleaner
  overhead: (b1 − c) / n.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR, OUTPUT_DIR, ROOT

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


def mode_papermill_cli(notebook: Path, codes: list[str], out: Path) -> dict:
    """(a) one ``papermill`` process (and one cold kernel) per region, one after the other."""
    exe = Path(sys.executable).with_name("papermill")
    failed = 0
    for code in codes:
        (out / code).mkdir(parents=True, exist_ok=True)
        cmd = [str(exe), str(notebook), str(out / code / f"{notebook.stem}.ipynb"), "-k", KERNEL_NAME,
               "-p", "region", code, "-p", "output_dir", str(out / code / notebook.stem), "--no-progress-bar",
               "--cwd", str(out / code)]  # fmt: skip
        failed += subprocess.run(cmd, capture_output=True, cwd=ROOT).returncode != 0
    return {"failed": failed}


def mode_runner(notebook: Path, codes: list[str], out: Path, *, jobs: int, warm: bool) -> dict:
    """(b) ``analysis.batch.run_batch`` with ``jobs`` worker processes."""
    from analysis.batch import run_batch

    res = run_batch(notebooks=[str(notebook)], regions=codes, jobs=jobs, out=out, progress=False, warm=warm)
    durations = res.table["seconds"].astype(float)
    return {"failed": int(res.counts["failed"]), "mean_run_s": round(float(durations.mean()), 3),
            "median_run_s": round(float(durations.median()), 3)}  # fmt: skip


def mode_inprocess(notebook: Path, codes: list[str], out: Path) -> dict:
    """(c) every region's code in one process (imports done once, not timed)."""
    cmd = [sys.executable, "-m", "benchmarks.inprocess", str(notebook), str(out), *codes]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"in-process run failed:\n{proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    per = list(res["per_region_s"].values())
    return {"analysis_s": round(sum(per), 2), "imports_s": round(res["imports_s"], 2),
            "mean_region_s": round(sum(per) / len(per), 3), "failed": len(res["errors"]),
            "errors": res["errors"]}  # fmt: skip


def run(notebook: Path, n: int, jobs: int, skip: set[str], previous: dict | None = None) -> dict:
    """Measure the modes not in ``skip``; skipped modes keep their numbers from ``previous`` (same
    notebook, counties and jobs), each with its own time and load."""
    codes = counties(n)
    work = BENCH_DIR / "work" / notebook.stem
    shutil.rmtree(work, ignore_errors=True)
    same = previous and previous["regions"] == codes and previous["jobs"] == jobs
    modes: dict[str, dict] = {k: {"when": previous["when"], **v} for k, v in previous["modes"].items()} if same else {}
    if "c" not in skip:
        print(f"(c) in-process, {len(codes)} counties ...", flush=True)
        modes["c_inprocess"] = _timed(lambda: mode_inprocess(notebook, codes, work / "c"))
        modes["c_inprocess"]["seconds"] = modes["c_inprocess"]["analysis_s"]  # the limit: analysis only
    if "b" not in skip:
        print(f"(b) analysis.batch, warm kernels, jobs={jobs} ...", flush=True)
        modes["b_runner"] = _timed(lambda: mode_runner(notebook, codes, work / "b", jobs=jobs, warm=True))
    if "b1" not in skip and jobs != 1:
        print("(b1) analysis.batch, warm kernels, jobs=1 ...", flush=True)
        modes["b1_runner_1job"] = _timed(lambda: mode_runner(notebook, codes, work / "b1", jobs=1, warm=True))
    if "b0" not in skip:
        print(f"(b0) analysis.batch, cold kernels, jobs={jobs} ...", flush=True)
        modes["b0_runner_cold"] = _timed(lambda: mode_runner(notebook, codes, work / "b0", jobs=jobs, warm=False))
    if "a" not in skip:
        print("(a) papermill CLI loop ...", flush=True)
        modes["a_papermill_cli"] = _timed(lambda: mode_papermill_cli(notebook, codes, work / "a"))
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
    b1 = modes.get("b1_runner_1job", {}).get("seconds")
    if b1 and c:
        derived["overhead_per_notebook_1job_s"] = round((b1 - c) / len(codes), 3)
        derived["overhead_per_run_1job_median_s"] = round(
            modes["b1_runner_1job"]["median_run_s"] - modes["c_inprocess"]["mean_region_s"], 3
        )
    return {
        "notebook": str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook),
        "stand_in": notebook == STANDIN,
        "n_regions": len(codes),
        "regions": codes,
        "jobs": jobs,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "modes": modes,
        "derived": derived,
    }


def write_markdown(results: list[dict], path: Path) -> None:
    lines = ["# Batch benchmark", "",
             "Seconds of wall time for the same counties; load = 1-min load average before → after "
             "(the machine has the cores shown; other work on it inflates every number).", ""]  # fmt: skip
    for r in results:
        kind = "stand-in notebook" if r["stand_in"] else "study notebook"
        lines += [f"## `{r['notebook']}` ({kind}), {r['n_regions']} counties, jobs={r['jobs']}", "",
                  "| mode | seconds | s / notebook | load | failed | measured |",
                  "|---|---:|---:|---|---:|---|"]  # fmt: skip
        for name, m in sorted(r["modes"].items()):
            lines.append(f"| {name} | {m['seconds']:.1f} | {m['seconds'] / r['n_regions']:.2f} | "
                         f"{m['load_before']} → {m['load_after']} | {m.get('failed', 0)} | {m.get('when', r['when'])} |")  # fmt: skip
        lines.append("")
        for k, v in r["derived"].items():
            lines.append(f"- {k}: {v}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    default_nb = next(iter(sorted(NOTEBOOKS_DIR.glob("01_*.ipynb"))), STANDIN)
    parser.add_argument("--notebook", type=Path, default=default_nb, help=f"default: {default_nb.name}")
    parser.add_argument("--standin", action="store_true", help="use the light stand-in notebook (overhead)")
    parser.add_argument("--n", type=int, default=24, help="number of counties (default 24)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip", default="", help="modes to skip: a, b, b1, b0, c (e.g. a,b0)")
    args = parser.parse_args(argv)
    notebook = (STANDIN if args.standin else args.notebook).resolve()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / "results.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    key = str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook)
    before = next((r for r in previous if r["notebook"] == key), None)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    result = run(notebook, args.n, args.jobs, skip, before)
    results = [r for r in previous if r["notebook"] != result["notebook"]] + [result]
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(results, BENCH_DIR / "results.md")
    print((BENCH_DIR / "results.md").read_text(encoding="utf-8"))
    return 0
