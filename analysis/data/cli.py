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
    p.add_argument("--as", dest="as_", required=True, help="schema name (see `data catalog`)")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "build":
        from analysis.data.build import build_all

        build_all(verbose=not args.quiet)
        return 0
    if args.data_command == "catalog":
        from analysis.data.catalog import catalog

        print(catalog().to_string(index=False))
        return 0
    from analysis.data.userdata import read_user_table

    df = read_user_table(args.path, as_=args.as_)
    print(f"{args.path}: valid as '{args.as_}': {df.attrs.get('rows_read', len(df))} rows read, "
          f"{df.attrs.get('rows_kept', len(df))} kept")
    return 0
