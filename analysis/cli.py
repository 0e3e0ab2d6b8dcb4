"""Command line: ``python -m analysis <command> ...``.

Every command is a small module with ``add_arguments(parser)`` and ``run(args) -> int``; this file only
registers them (a registry, not an if-chain). An :class:`~analysis.exceptions.AnalysisError` is printed as
one line without a traceback and the exit status is 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from analysis.exceptions import AnalysisError

#: command -> (module with add_arguments/run, help text)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("analysis.data.cli", "build, list and validate data tables"),
    "batch": ("analysis.batch.cli", "run notebooks for many districts"),
    "extract": ("analysis.extract.cli", "extract indicators from report texts"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (every command's when None). ``python -m analysis
    batch`` must not wait for the other commands' imports (pandas): its kernel server starts first."""
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if command not in (None, name):
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != module_name:
                raise
            p.set_defaults(_module=None, _missing=module_name)
            continue
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if args._module is None:
        print(f"error: command '{args.command}' is not available ({args._missing} missing)", file=sys.stderr)
        return 2
    try:
        return int(args._module.run(args) or 0)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
