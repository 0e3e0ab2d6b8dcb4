"""``python -m benchmarks`` (``make bench``): every benchmark by default, or the parts named in ``--parts``.

Parts (in this order):
- ``srb``: :mod:`benchmarks.srb` — vectorised SRB estimates and changes for all counties × 2 censuses;
- ``batch``: :mod:`benchmarks.batch` on the study notebook (default notebook 01), 24 counties, modes
  a/b/bc/b1/b0/c/c2;
- ``standin``: the same on the light stand-in notebook (the runner's own overhead);
- ``county``: the runner on a national sample of counties, extrapolated to the full county batch.

Results go to ``outputs/bench/results.json`` (``{"srb": ..., "batch": [...], "county_estimate": [...]}``;
parts not run keep their earlier numbers) and ``outputs/bench/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from analysis.config import NOTEBOOKS_DIR, ROOT
from benchmarks import batch
from benchmarks import srb as srb_bench

PARTS = ("srb", "batch", "standin", "county")


def _value(raw: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _read(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"batch": data} if isinstance(data, list) else data  # older files: a list of batch entries


def _upsert(entries: list[dict], new: dict, key) -> list[dict]:
    return [e for e in entries if key(e) != key(new)] + [new]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    default_nb = next(iter(sorted(NOTEBOOKS_DIR.glob("01_*.ipynb"))), batch.STANDIN)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)} (default: all)")
    parser.add_argument("--notebook", type=Path, default=default_nb, help=f"batch/county parts: default {default_nb.name}")
    parser.add_argument("--n", type=int, default=24, help="batch/standin parts: number of counties (default 24)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip", default="", help="batch/standin parts: modes to skip: a, b, bc, b1, b0, c, c2 (e.g. a,b0)")
    parser.add_argument("--county-n", type=int, default=80, help="county part: counties in the sample (default 80)")
    parser.add_argument("--repeats", type=int, default=7, help="srb part: timed calls per case (default 7)")
    parser.add_argument("--batch-repeats", type=int, default=3,
                        help="batch/standin parts: runs of the short modes c, c2, b, bc, b1; the median is kept (default 3)")  # fmt: skip
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter for batch/county parts (JSON values, e.g. -p figure_formats "
                             "'[\"png\"]'); given to every mode alike")  # fmt: skip
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    params = {name: _value(raw) for name, raw in args.parameter}
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    batch.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = batch.BENCH_DIR / "results.json"
    results = _read(path)

    def save() -> None:
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        lines: list[str] = []
        if "srb" in results:
            lines += srb_bench.markdown(results["srb"])
        if results.get("batch"):
            lines += batch.markdown(results["batch"])
        if results.get("county_estimate"):
            lines += batch.county_markdown(results["county_estimate"])
        (batch.BENCH_DIR / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    if "srb" in parts:
        results["srb"] = srb_bench.run(repeats=args.repeats)
        save()
    for part in ("batch", "standin"):
        if part not in parts:
            continue
        notebook = (batch.STANDIN if part == "standin" else args.notebook).resolve()
        extra = {} if part == "standin" else params
        key = str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook)
        before = next((r for r in results.get("batch", [])
                       if batch.entry_key(r) == (key, json.dumps(extra, sort_keys=True), args.n)), None)  # fmt: skip
        new = batch.run(notebook, args.n, args.jobs, skip, before, params=extra, repeats=args.batch_repeats)
        results["batch"] = _upsert(results.get("batch", []), new, batch.entry_key)
        save()
    if "county" in parts:
        est = batch.county_estimate(args.notebook.resolve(), args.county_n, args.jobs, params=params)
        results["county_estimate"] = _upsert(results.get("county_estimate", []), est, batch.entry_key)
        save()
    print((batch.BENCH_DIR / "results.md").read_text(encoding="utf-8"))
    return 0
