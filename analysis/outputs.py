"""Write a notebook's figures, tables and parameters into one output folder, atomically.

``Exporter(output_dir, notebook=..., params=...)`` creates the folder and writes ``parameters.json``
(the parameters, notebook name, package/Python/library versions and the UTC time), so that every
output folder says how it was made. ``.figure(fig, name)`` writes PNG + PDF (or the ``formats``
chosen from PNG, PDF, SVG, e.g. only PNG for a quick batch) through :func:`analysis.plots.save_figure`; ``.table(df_or_result, name)`` writes CSV in UTF-8 with BOM (Excel
shows Chinese correctly). Every file is written to a temporary name in the same folder and then
renamed (``os.replace``), so an interrupted run never leaves a half-written file under the final name.

Output names are checked: only ``A-Z a-z 0-9 _ . -`` are allowed (no path separators, no leading dot),
so a region name typed by a user can never reach a file path unsanitised — use the region *code*.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.exceptions import DataValidationError
from analysis.results import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_FIGURE_FORMATS", "FIGURE_FORMATS", "Exporter", "atomic_path", "validate_name"]

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
#: Figure formats :meth:`Exporter.figure` can write.
FIGURE_FORMATS = ("png", "pdf", "svg")
#: Written unless chosen otherwise: PNG for documents and slides, PDF (vector, fonts embedded) for
#: journals. SVG keeps text as text and so depends on the reader's fonts: ask for it to edit a figure.
DEFAULT_FIGURE_FORMATS = ("png", "pdf")
#: Libraries whose versions are recorded in ``parameters.json``.
RECORDED_LIBRARIES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "seaborn", "papermill")


def validate_name(name: str, *, what: str = "output name") -> str:
    """Return ``name`` if it is a safe file name (``[A-Za-z0-9_.-]``, no leading dot), else raise.

    Raises :class:`~analysis.exceptions.DataValidationError` naming the offending characters.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.startswith("."):
        bad = sorted({c for c in str(name) if not _NAME_RE.fullmatch(c)})
        detail = f" (bad characters: {''.join(bad)!r})" if bad else ""
        raise DataValidationError(
            f"unsafe {what} {name!r}{detail}",
            expected="a non-empty name of letters A-Z a-z, digits, '_', '.' or '-', not starting with "
            "'.'; use the region code (e.g. '440100'), not its Chinese name",
        )
    return name


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the folder of ``path``; on success rename it to ``path``.

    On error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: the writer creates the file, so it gets the usual (umask) permissions, not 0600.
    tmp_path = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`RECORDED_LIBRARIES` (read once per process: ≈ 30 ms of metadata files)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str | None], ...]:
    versions: list[tuple[str, str | None]] = []
    for name in RECORDED_LIBRARIES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, None))
    return tuple(versions)


class Exporter:
    """Collects a notebook's outputs in ``output_dir`` and records how they were made.

    Parameters
    ----------
    output_dir : folder to write into (created with parents).
    notebook : name of the notebook (or script) producing the outputs.
    params : the run's parameters (JSON-able values), written to ``parameters.json``.
    formats : figure formats written by :meth:`figure`, a non-empty subset of ``("png", "pdf", "svg")``;
        default PNG + PDF (``["png"]`` makes large batches faster).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        notebook: str,
        params: Mapping[str, Any],
        formats: Sequence[str] = DEFAULT_FIGURE_FORMATS,
    ) -> None:
        from analysis import __version__

        if isinstance(formats, str):
            formats = [formats]
        unknown = [f for f in formats if f not in FIGURE_FORMATS]
        if unknown or not formats:
            raise DataValidationError(
                f"unknown figure formats {unknown!r}" if unknown else "no figure format chosen",
                expected=f"a non-empty list drawn from {list(FIGURE_FORMATS)}, e.g. ['png']",
            )
        self.output_dir = Path(output_dir)
        self.notebook = notebook
        self.params = dict(params)
        self.formats = tuple(dict.fromkeys(formats))
        self.written: list[Path] = []
        record = {
            "notebook": notebook,
            "params": self.params,
            "figure_formats": list(self.formats),
            "package": {"name": "cnfp-analysis", "version": __version__},
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "libraries": _library_versions(),
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            text = json.dumps(record, ensure_ascii=False, indent=2, default=_json_default)
        except (TypeError, ValueError) as err:
            raise DataValidationError(
                f"parameters of {notebook!r} cannot be written to parameters.json: {err}",
                expected="JSON-able values (str, int, float, bool, list, dict, None)",
            ) from err
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._write_text(self.output_dir / "parameters.json", text + "\n")

    def __repr__(self) -> str:
        return f"Exporter({str(self.output_dir)!r}, notebook={self.notebook!r}, {len(self.written)} files written)"

    def _record(self, path: Path) -> None:
        if path not in self.written:
            self.written.append(path)

    def _write_text(self, path: Path, text: str, *, encoding: str = "utf-8") -> Path:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding=encoding, newline="")
        self._record(path)
        return path

    def figure(self, fig: Figure, name: str, *, show: bool | None = None, **kwargs: Any) -> list[Path]:
        """Save ``fig`` as ``name`` + each of the exporter's formats (see :func:`analysis.plots.save_figure`).

        ``show`` — display the figure from the PNG just rendered and close it (see ``save_figure``);
        default: when figures are shown inline (a Jupyter kernel) and PNG is among the formats.
        """
        import matplotlib as mpl

        from analysis.plots import FIGURE_SUFFIXES, save_figure

        stem = name
        for suffix in FIGURE_SUFFIXES:
            if name.lower().endswith(suffix):
                stem = name[: -len(suffix)]
                break
        validate_name(stem, what="figure name")
        kwargs.setdefault("formats", self.formats)
        if show is None:
            show = "png" in kwargs["formats"] and "inline" in str(mpl.get_backend(auto_select=False))
        paths = save_figure(fig, self.output_dir / stem, show=show, **kwargs)
        for path in paths:
            self._record(path)
        return paths

    def table(self, obj: pd.DataFrame | Result, name: str) -> Path:
        """Write a DataFrame (or a Result's ``.table``) as ``name``.csv, UTF-8 with BOM.

        The index is written only when it carries information: when it is named or holds labels. An unnamed
        integer index (0..n-1, or the row numbers left by a filter or a sort) is not written.
        """
        if isinstance(obj, Result):
            df = obj.table
        elif isinstance(obj, pd.DataFrame):
            df = obj
        else:
            raise DataValidationError(
                f"cannot write {type(obj).__name__} as table {name!r}",
                expected="a pandas DataFrame or an analysis Result",
            )
        stem = name[:-4] if name.lower().endswith(".csv") else name
        validate_name(stem, what="table name")
        row_numbers = df.index.nlevels == 1 and df.index.name is None and pd.api.types.is_integer_dtype(df.index)
        text = df.to_csv(index=not row_numbers, lineterminator="\n")
        return self._write_text(self.output_dir / f"{stem}.csv", text, encoding="utf-8-sig")
