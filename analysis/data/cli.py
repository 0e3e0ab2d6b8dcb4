"""``python -m analysis data build | catalog | validate PATH --as NAME``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = sub.add_parser("build", help="build data/processed/ from data/raw/")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    sub.add_parser("catalog", help="list the embedded datasets with sources and licenses")
    p = sub.add_parser("validate", help="check a user's table (CSV/XLSX) against a schema")
    p.add_argument("path", help="CSV (UTF-8, UTF-8-BOM, GBK/GB18030) or .xlsx file")
    p.add_argument("--as", dest="as_", required=True, metavar="NAME",
                   help="schema: births, srb, coverage_records, province_series")
    p.add_argument("--sheet", default=None, help="worksheet of an .xlsx file (default: the first)")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "build":
        from analysis.data.build import build_all

        build_all(verbose=not args.quiet)
        return 0
    if args.data_command == "catalog":
        from analysis.data.store import catalog

        print(catalog().to_string(index=False))
        return 0
    from analysis.data.userdata import read_user_table

    df = read_user_table(args.path, as_=args.as_, sheet=args.sheet)
    a = df.attrs
    print(f"{args.path}: valid as '{args.as_}': {a['rows_read']} rows read, {a['rows_kept']} kept")
    if a["rows_above_header"]:
        print(f"  header on row {a['header_row']}; rows above it are not data: "
              + "; ".join(f"row {r}: {text[:40]!r}" for r, text in a["rows_above_header"]))
    if a["blank_rows"]:
        print(f"  {len(a['blank_rows'])} blank row(s) dropped: {', '.join(map(str, a['blank_rows']))}")
    print("  columns: " + ", ".join(f"{h} → {name}" if h != name else name for h, name in a["columns"].items()))
    for header, factor in a["unit_factors"].items():
        print(f"  {header}: values multiplied by {factor:g} to the schema's unit")
    if a["extra_columns"]:
        print("  other columns kept as they are: " + ", ".join(a["extra_columns"]))
    if "encoding" in a:
        print(f"  encoding {a['encoding']}, separator {a['delimiter']!r}")
    else:
        print(f"  sheet {a['sheet']!r}")
    return 0
