"""Precision and recall of ``analysis.extract`` on the hand-labelled sample reports.

Usage: ``.venv/bin/python scripts/measure_extract.py [--reports ../shared/reports] [--all-keys]``

The labelled samples live outside the project (``../shared/reports``: ``samples/*.txt`` and
``samples_gold.csv``, others' writing that must not be copied in); this script reads them only when the folder
exists and exits with status 2 otherwise. A statement counts as found when its key and value match;
distinct (key, value) pairs per report; by default only the headline keys of the shared vocabulary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis.config import ROOT
from analysis.extract import extract_report

DEFAULT_REPORTS = ROOT.parent / "shared" / "reports"


def _pairs(frame: pd.DataFrame, keys: set[str] | None) -> set[tuple[str, float]]:
    if keys is not None:
        frame = frame[frame["indicator_key"].isin(keys)]
    return {(str(k), round(float(v), 6)) for k, v in zip(frame["indicator_key"], frame["value"], strict=True)}


def measure(reports: Path, *, all_keys: bool = False) -> pd.DataFrame:
    """One row per sample file and a total: gold, found, true positives, precision, recall, misses."""
    gold = pd.read_csv(reports / "samples_gold.csv", dtype={"indicator_key": str})
    vocab = pd.read_csv(reports / "vocabulary.csv")
    keys = None if all_keys else set(vocab.loc[vocab["headline"].astype(str) == "True", "indicator_key"])
    rows = []
    for name, part in gold.groupby("sample_file", sort=True):
        got = extract_report(reports / "samples" / name)
        g, p = _pairs(part, keys), _pairs(got, keys)
        tp = g & p
        rows.append({"report": name, "gold": len(g), "found": len(p), "true_pos": len(tp),
                     "false_pos": sorted(p - g), "missed": sorted(g - p)})
    table = pd.DataFrame(rows)
    total = {"report": "TOTAL", "gold": table["gold"].sum(), "found": table["found"].sum(),
             "true_pos": table["true_pos"].sum(), "false_pos": sum(table["false_pos"], []),
             "missed": sum(table["missed"], [])}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["precision"] = (table["true_pos"] / table["found"].where(table["found"] > 0)).round(4)
    table["recall"] = (table["true_pos"] / table["gold"].where(table["gold"] > 0)).round(4)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, help="folder with samples/ and samples_gold.csv")
    parser.add_argument("--all-keys", action="store_true", help="score every gold key, not only the headline ones")
    args = parser.parse_args(argv)
    if not (args.reports / "samples_gold.csv").exists():
        print(f"no labelled samples at {args.reports} (samples_gold.csv); nothing to measure", file=sys.stderr)
        return 2
    table = measure(args.reports, all_keys=args.all_keys)
    with pd.option_context("display.width", 200, "display.max_colwidth", 200):
        print(table[["report", "gold", "found", "true_pos", "precision", "recall"]].to_string(index=False))
        for row in table[table["report"] != "TOTAL"].itertuples():
            for label, items in (("false positive", row.false_pos), ("missed", row.missed)):
                for key, value in items:
                    print(f"{row.report}: {label}: {key} = {value:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
