"""``python -m analysis extract PATH... [-o out.csv]``: indicator statements of report files as CSV.

A folder means every report in it (``.txt``, ``.md``, ``.html``, ``.htm``, searched recursively). Files that
cannot be read are reported on standard error, the others are still processed, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from analysis.exceptions import AnalysisError
from analysis.extract.extract import REPORT_SUFFIXES, empty_table, extract_report
from analysis.extract.vocabulary import load_vocabulary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="report files or folders of reports")
    parser.add_argument("-o", "--output", type=Path, help="CSV file to write (UTF-8 with BOM); default: standard output")
    parser.add_argument("--report-year", type=int, help="year of the reports: resolves 今年/去年/截至9月底 "
                        "(default: a 'date:'/'year:' header line, else relative periods stay empty)")
    parser.add_argument("--region", help="reporting area (code or name); default: a 'region:' header line, else "
                        "the place the text names most often")
    parser.add_argument("--vocabulary", type=Path, help="CSV of extra or changed indicator terms (same columns "
                        "as analysis/extract/vocabulary.csv)")


def _files(paths: list[str]) -> tuple[list[Path], list[str]]:
    files, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                problems.append(f"{path}: no report files ({', '.join(REPORT_SUFFIXES)}) in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def run(args: argparse.Namespace) -> int:
    vocabulary = load_vocabulary(extra=args.vocabulary) if args.vocabulary else load_vocabulary()
    files, problems = _files(args.paths)
    tables, failed = [], 0
    for path in tqdm(files, desc="reports", unit="file", disable=len(files) < 5, file=sys.stderr):
        try:
            tables.append(extract_report(path, vocabulary=vocabulary, report_year=args.report_year,
                                         region=args.region))
        except AnalysisError as exc:
            problems.append(str(exc))
            failed += 1
    for message in problems:
        print(f"error: {message}", file=sys.stderr)
    tables = [t for t in tables if len(t)]
    table = pd.concat(tables, ignore_index=True) if tables else empty_table()
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.output, index=False, encoding="utf-8-sig")
        print(f"{len(table)} statements from {len(files) - failed} of {len(files)} file(s) -> {args.output}",
              file=sys.stderr)
    else:
        try:
            table.to_csv(sys.stdout, index=False)
            sys.stdout.flush()
        except BrokenPipeError:  # output piped into `head`: not an error
            sys.stdout = open(os.devnull, "w")  # silence the flush at interpreter exit
    return 1 if problems else 0
