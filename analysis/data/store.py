"""``load(name, **filters)`` and ``catalog()``: the embedded, processed datasets.

>>> from analysis.data import load, catalog
>>> catalog()[["name", "coverage", "unit"]]
>>> load("census_births", census=2020, residence="total", wide=True)      # columns males, females
>>> load("province_series", indicator="cbr", region_code=["110000", "440000"])

``load`` reads only the one Parquet file it needs, once per process (later calls return copies), and
builds ``data/processed/`` first if that file is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.config import PROCESSED_DIR
from analysis.data.tables import TABLES
from analysis.exceptions import AnalysisError

__all__ = ["catalog", "load", "clear_cache"]

_CACHE: dict[tuple[str, int], pd.DataFrame] = {}
_LOCK = threading.Lock()


def _processed_dir() -> Path:
    return Path(PROCESSED_DIR)


def clear_cache() -> None:
    """Forget the tables read in this process (the next ``load`` reads the files again)."""
    with _LOCK:
        _CACHE.clear()


def _read(name: str) -> pd.DataFrame:
    path = _processed_dir() / TABLES[name].filename
    if not path.is_file():
        from analysis.data.build import build_all

        build_all(out_dir=_processed_dir(), verbose=False)
        if not path.is_file():
            raise AnalysisError(f"dataset '{name}' was not built ({path} missing after `data build`)")
    key = (str(path), path.stat().st_mtime_ns)
    with _LOCK:
        df = _CACHE.get(key)
        if df is None:
            df = pd.read_parquet(path, engine="pyarrow")
            for old in [k for k in _CACHE if k[0] == key[0]]:  # a rebuilt file replaces its old copy
                del _CACHE[old]
            _CACHE[key] = df
    return df


def _as_list(value: Any) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _coerce(values: list, column: pd.Series, name: str, col: str) -> list:
    """Cast filter values to the column's type (``census="2020"`` -> 2020, ``region_code=440000`` -> "440000")."""
    try:
        if pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
            return [str(v) for v in values]
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return [pd.Timestamp(v) for v in values]
        if pd.api.types.is_bool_dtype(column.dtype):
            return [bool(v) for v in values]
        if pd.api.types.is_integer_dtype(column.dtype):
            out = []
            for v in values:
                f = float(v)
                if f != int(f):
                    raise ValueError(v)
                out.append(int(f))
            return out
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise AnalysisError(f"load('{name}'): filter {col}={values!r} does not fit column '{col}' "
                            f"of type {column.dtype}") from None


def load(name: str, *, wide: bool = False, **filters: Any) -> pd.DataFrame:
    """One processed dataset as a DataFrame (a copy: change it freely).

    ``filters`` are ``column=value`` or ``column=[values]`` (rows whose column is one of the values).
    ``wide=True`` spreads ``census_births`` to one row per key with columns ``males`` and ``females``.
    See :func:`catalog` for the datasets and ``data/README.md`` for definitions and sources.
    """
    if name not in TABLES:
        raise AnalysisError(f"unknown dataset {name!r}; valid names: {', '.join(TABLES)}")
    spec = TABLES[name]
    if wide and spec.pivot is None:
        with_pivot = [n for n, s in TABLES.items() if s.pivot is not None]
        raise AnalysisError(f"load('{name}', wide=True): this dataset has no wide form "
                            f"(only {', '.join(with_pivot)})")
    df = _read(name)
    unknown = [c for c in filters if c not in df.columns]
    if unknown:
        raise AnalysisError(f"load('{name}'): unknown filter column(s) {', '.join(unknown)}; "
                            f"valid columns: {', '.join(df.columns)}")
    mask = None
    for col, value in filters.items():
        values = _coerce(_as_list(value), df[col], name, col)
        hit = df[col].isin(values)
        mask = hit if mask is None else mask & hit
    out = df[mask] if mask is not None else df
    out = out.reset_index(drop=True) if mask is not None else out.copy(deep=False)
    if wide:
        index, spread, value, rename = spec.pivot
        out = _pivot(out, list(index), spread, value, rename)
    return out


def _pivot(df: pd.DataFrame, index: list[str], spread: str, value: str, rename: dict[str, str]) -> pd.DataFrame:
    flag = "empty_in_source"
    wide = df.pivot(index=index, columns=spread, values=value).rename(columns=rename)
    wide = wide.reindex(columns=list(rename.values()))
    wide.columns.name = None
    if flag in df.columns:  # a key is flagged when either sex's cell was empty in the source
        wide[flag] = df.groupby(index, sort=False)[flag].any().reindex(wide.index)
    wide = wide.reset_index()
    order = [c for c in index if c not in ("unit", "source")]
    return wide[[*order, *rename.values(), *([flag] if flag in wide.columns else []), "unit", "source"]]


def catalog() -> pd.DataFrame:
    """The embedded datasets: name, description, coverage, unit, source, license and columns."""
    rows = [{"name": s.name, "description": s.description, "coverage": s.coverage, "unit": s.unit,
             "source": s.source, "license": s.license, "columns": ", ".join(s.schema.columns)}
            for s in TABLES.values()]
    return pd.DataFrame(rows)
