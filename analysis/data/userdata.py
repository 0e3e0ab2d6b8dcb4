"""Read users' own tables (CSV or .xlsx) through a schema of :mod:`analysis.data.schemas`.

>>> df = read_user_table("my_births.csv", as_="births")
>>> df.attrs["rows_read"], df.attrs["rows_kept"]

- CSV encodings: UTF-8 (with or without BOM), then GBK/GB18030; UTF-16 when it starts with a BOM (Excel's
  "Unicode text"). Separator: comma, tab or semicolon (the most frequent in the header line).
- Excel: .xlsx/.xlsm via openpyxl (first sheet unless ``sheet=``); cached formula values are read.
- Row numbers in messages are those a spreadsheet shows: the header is row 1 (or the row it is on), the first
  data row row 2; for .xlsx the sheet's own row numbers.
- Every problem of the file is collected (all failing rows of every check) and raised as ONE
  :class:`~analysis.exceptions.DataValidationError` naming the file, rows, column and what was expected.
- Nothing is dropped silently: fully blank rows between data rows are dropped, listed in
  ``attrs["blank_rows"]`` and counted (``rows_read`` − ``rows_kept``); blank rows after the last data row
  are not rows of the table. ``drop_blank_rows=False`` makes them errors instead.
- Empty cells, ``NA``, ``N/A``, ``NaN``, ``null`` and ``None`` are missing values; other markers such as
  ``-`` or ``…`` are refused as non-numeric. Counts may carry thousands separators (``1,234``); a share may
  be written ``85%`` (read as 0.85).

The returned frame has the schema's columns (the ``region`` column resolved into ``region_code`` and
``region_zh``), then any other columns of the file unchanged; its index (``row``) holds the spreadsheet
row numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import regions, schemas
from analysis.exceptions import DataValidationError, RegionNotFoundError

__all__ = ["read_user_table"]

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
MISSING = {"", "na", "n/a", "nan", "null", "none", "<na>"}
#: Headers that mean the region column holds codes (a second, name column is then cross-checked).
CODE_HEADERS = {schemas.normalize_header(h) for h in
                ("region_code", "code", "gb_code", "adcode", "区划代码", "行政区划代码", "地区代码", "代码")}
SHOWN = 5  # offending values quoted per problem


@dataclass
class _Problem:
    column: str | None  # the header as in the file
    rows: list[int]
    message: str
    expected: str | None = None
    field: str | None = None  # the schema column it maps to

    def text(self) -> str:
        parts = []
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" (+{len(self.rows) - 10} more)" if len(self.rows) > 10 else ""
            parts.append(f"row{'s' if len(self.rows) > 1 else ''} {shown}{more}:")
        if self.column:
            alias = f" ({self.field})" if self.field and self.field != self.column else ""
            parts.append(f"column '{self.column}'{alias}:")
        parts.append(self.message)
        if self.expected:
            parts.append(f"(expected {self.expected})")
        return " ".join(parts)


def _fail(path: Path, problems: list[_Problem]) -> DataValidationError:
    """One error for all problems; ``rows`` = all their rows, ``column``/``expected`` = the first one's."""
    if len(problems) == 1:
        message = problems[0].text()
    else:
        message = f"{len(problems)} problems:\n" + "\n".join(f"  {p.text()}" for p in problems)
    exc = DataValidationError(message, path=str(path))
    exc.rows = sorted({r for p in problems for r in p.rows})
    exc.column = problems[0].field or problems[0].column
    exc.expected = problems[0].expected
    exc.problems = [p.text() for p in problems]
    return exc


# ------------------------------------------------------------------------------------------- reading


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as err8:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError as err18:
            line = data[: err8.start].count(b"\n") + 1
            line18 = data[: err18.start].count(b"\n") + 1
            raise DataValidationError(
                f"unreadable text encoding: not UTF-8 (byte 0x{data[err8.start]:02x} at offset {err8.start}, "
                f"line {line}) and not GBK/GB18030 (byte 0x{data[err18.start]:02x} at offset {err18.start}, "
                f"line {line18})", path=str(path), rows=[line],
                expected="a CSV saved as UTF-8 (Excel: 'CSV UTF-8'), GBK/GB18030, or an .xlsx file",
            ) from None


def _sniff_delimiter(text: str) -> str:
    first = next((ln for ln in text.splitlines() if ln.strip(" \t,;")), "")
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(path: Path) -> tuple[list[tuple[int, list[str]]], dict[str, Any]]:
    data = path.read_bytes()
    text, encoding = _decode(path, data)
    delimiter = _sniff_delimiter(text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as err:
        raise DataValidationError(f"not a readable CSV table: {err}", path=str(path)) from None
    rows = [(i, [c.strip() for c in rec]) for i, rec in enumerate(records, start=1)]
    return rows, {"encoding": encoding, "delimiter": delimiter}


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a user sees: 440000.0 → '440000', a date → '2020-11-01'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _read_excel(path: Path, sheet: str | int | None) -> tuple[list[tuple[int, list[str]]], dict[str, Any]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as err:
        raise DataValidationError(f"not a readable .xlsx workbook ({type(err).__name__}: {err})", path=str(path),
                                  expected="an Excel .xlsx file, or a CSV file with a .csv name") from None
    names = wb.sheetnames
    if sheet is None:
        ws = wb.worksheets[0]
    elif isinstance(sheet, int) and 0 <= sheet < len(names):
        ws = wb.worksheets[sheet]
    elif isinstance(sheet, str) and sheet in names:
        ws = wb[sheet]
    else:
        raise DataValidationError(f"no sheet {sheet!r}; the workbook has sheets: {', '.join(names)}",
                                  path=str(path))
    rows = []
    for cells in ws.iter_rows():
        if cells:
            rows.append((cells[0].row, [_cell_text(c.value) for c in cells]))
    return rows, {"sheet": ws.title}


def _read_rows(path: Path, sheet: str | int | None) -> tuple[list[tuple[int, list[str]]], dict[str, Any]]:
    if not path.is_file():
        raise DataValidationError("file not found", path=str(path))
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, sheet)
    if suffix == ".xls":
        raise DataValidationError("old Excel .xls files are not read", path=str(path),
                                  expected="the workbook saved as .xlsx, or as CSV UTF-8")
    if suffix in CSV_SUFFIXES or suffix == "":
        return _read_csv(path)
    raise DataValidationError(f"unknown file type {suffix!r}", path=str(path),
                              expected=f"one of {', '.join(CSV_SUFFIXES + EXCEL_SUFFIXES)}")


# ------------------------------------------------------------------------------------------- parsing


def _column_letter(i: int, excel: bool) -> str:
    if not excel:
        return f"#{i + 1}"
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def _map_headers(path: Path, schema: schemas.UserSchema, header: list[str], header_row: int, excel: bool,
                 data_width: list[bool]) -> tuple[dict[int, str], list[str], list[str], dict[str, float]]:
    """Column index → canonical field or original header; the headers of extra region-name columns (when
    the region column holds codes, further columns of names are cross-checked); the other extra headers;
    field → factor for headers carrying a unit other than the schema's (万人 → ×10 000)."""
    alias_to_field = {}
    for f in schema.fields:
        for alias in (f.name, *f.aliases):
            alias_to_field[schemas.normalize_header(alias)] = f.name
    mapping: dict[int, str] = {}
    by_field: dict[str, list[int]] = {}
    factors: dict[str, float] = {}
    problems = []
    for i, h in enumerate(header):
        if not h:
            if data_width[i]:
                problems.append(_Problem(f"{_column_letter(i, excel)}", [header_row],
                                         "this column has values but no header", "a column name"))
            continue
        name = alias_to_field.get(schemas.normalize_header(h))
        if name is None:
            mapping[i] = h
            continue
        by_field.setdefault(name, []).append(i)
        unit = schemas.split_header(h)[1]
        units = schemas.UNITS.get(schema.field(name).kind)
        if unit is not None and units is not None:
            if unit not in units:
                problems.append(_Problem(h, [header_row], f"unit '{unit}' in the header does not fit",
                                         f"{schemas.EXPECTED[schema.field(name).kind]}; units accepted in the "
                                         f"header: {', '.join(units)}", name))
            elif units[unit] != 1:
                factors[name] = units[unit]
    name_cols: list[str] = []
    for name, cols in by_field.items():
        if name == "region" and len(cols) > 1:
            codes = [i for i in cols if schemas.normalize_header(header[i]) in CODE_HEADERS]
            if len(codes) == 1:
                name_cols = [header[i] for i in cols if i != codes[0]]
                for i in cols:
                    mapping[i] = header[i]
                cols = codes
        if len(cols) > 1:
            shown = " and ".join(f"'{header[i]}'" for i in cols)
            problems.append(_Problem(None, [header_row], f"columns {shown} both mean '{name}'",
                                     "each column once"))
            continue
        mapping[cols[0]] = name
    missing = [f for f in schema.required if f not in by_field]
    if missing:
        wanted = "; ".join(f"'{m}' (or {', '.join(schema.field(m).aliases[:8])})" for m in missing)
        found = ", ".join(f"'{h}'" for h in header if h)
        problems.insert(0, _Problem(None, [header_row], f"missing column{'s' if len(missing) > 1 else ''} "
                                    f"{wanted}; the file has: {found}",
                                    f"the columns of '{schema.name}': {', '.join(schema.required)}"))
    if problems:
        raise _fail(path, problems)
    extra_names = [mapping[i] for i in mapping if mapping[i] not in by_field and mapping[i] not in name_cols]
    twice = sorted({n for n in extra_names if extra_names.count(n) > 1} | {n for n in name_cols
                                                                           if name_cols.count(n) > 1})
    if twice:
        raise _fail(path, [_Problem(None, [header_row], f"column(s) {', '.join(map(repr, twice))} appear twice",
                                    "distinct column names")])
    return mapping, name_cols, extra_names, factors


def _to_number(text: str, kind: str, factor: float = 1.0) -> float | None:
    """A cell as a float in the schema's unit (× ``factor`` from the header's unit; a share written ``85%``
    is 0.85 whatever the header says); None for a missing value; raises ValueError if not a number."""
    t = unicodedata.normalize("NFKC", text).strip()
    if t.lower() in MISSING:
        return None
    scale = factor
    if kind == "share" and t.endswith("%"):
        t, scale = t[:-1].strip(), 0.01
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    value = float(t)
    if not np.isfinite(value):
        raise ValueError(t)
    # round() keeps 12684.3 万人 = 126843000 persons whole despite binary floating point
    return value if scale == 1 else round(value * scale, 9)


def _fmt(value: Any) -> str:
    """A number as the user wrote it: 1234567 (not 1.23457e+06), 1.05, 0.0105."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return repr(float(value)) if isinstance(value, float | np.floating) else str(value)


def _quote(values: list[Any], *, raw: bool = False) -> str:
    shown = ", ".join(v if raw else repr(v) if isinstance(v, str) else _fmt(v) for v in values[:SHOWN])
    return shown + (f", … ({len(values)} values)" if len(values) > SHOWN else "")


class _Reader:
    def __init__(self, schema: schemas.UserSchema, frame: pd.DataFrame, headers: dict[str, str],
                 name_cols: list[str]) -> None:
        self.schema, self.raw, self.headers = schema, frame, headers
        self.name_cols = name_cols
        self.problems: list[_Problem] = []
        self.bad: dict[str, set[int]] = {}  # rows already reported per field
        self.out = pd.DataFrame(index=frame.index)

    def label(self, field: str) -> str:
        header = self.headers.get(field, field)
        return f"'{header}'" + (f" ({field})" if header != field else "")

    def add(self, field: str | None, rows: Any, message: str, expected: str | None = None) -> None:
        rows = sorted(int(r) for r in rows)
        header = self.headers.get(field, field) if field else None
        self.problems.append(_Problem(header, rows, message, expected, field))
        if field:
            self.bad.setdefault(field, set()).update(rows)

    # -- per kind
    def numbers(self, field: str, kind: str, factor: float = 1.0) -> None:
        values, bad = [], []
        for row, text in self.raw[field].items():
            try:
                values.append(_to_number(text, kind, factor))
            except ValueError:
                values.append(None)
                bad.append((row, text))
        if bad:
            self.add(field, [r for r, _ in bad], f"not a number: {_quote([t for _, t in bad])}",
                     schemas.EXPECTED[kind])
        self.out[field] = pd.array([np.nan if v is None else v for v in values], dtype="float64")

    def text(self, field: str) -> None:
        col = self.raw[field].map(lambda t: None if t.strip().lower() in MISSING else t.strip())
        self.out[field] = col.astype("str")

    def period(self, field: str) -> None:
        self.text(field)
        col = self.out[field]
        filled = col.dropna()
        if len(filled) and filled.str.fullmatch(r"\d{4}(\.0+)?").all():  # years ("2020.0" from a float column)
            self.out[field] = pd.to_numeric(col).astype("Int64")

    def region(self, field: str) -> None:
        self.text(field)
        resolved: dict[str, str | None] = {}
        unknown: dict[str, list[int]] = {}
        ambiguous: dict[str, tuple[list[int], list[str]]] = {}
        for row, value in self.out[field].items():
            if not isinstance(value, str):
                continue
            if value not in resolved:
                resolved[value] = None
                try:
                    resolved[value] = regions.lookup(value).code
                except regions.AmbiguousRegionError as err:
                    ambiguous[value] = ([], err.candidates)
                except RegionNotFoundError:
                    unknown[value] = []
            if value in unknown:
                unknown[value].append(row)
            elif value in ambiguous:
                ambiguous[value][0].append(row)
        codes = self.out[field].map(lambda v: resolved.get(v) if isinstance(v, str) else None)
        empty = self.out.index[self.out[field].isna()]
        if len(empty):
            self.add(field, empty, "empty cell", schemas.EXPECTED["region"])
        if unknown:
            self.add(field, [r for rows in unknown.values() for r in rows],
                     "unknown region" + ("s" if len(unknown) > 1 else "") + ": " + self.listing(unknown),
                     schemas.EXPECTED["region"])
        if ambiguous:
            listing = "; ".join(f"{v!r} (row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:5]))}) could "
                                f"be {', '.join(regions.describe(c) for c in cands)}"
                                for v, (rows, cands) in list(ambiguous.items())[:SHOWN])
            more = f"; … and {len(ambiguous) - SHOWN} more names" if len(ambiguous) > SHOWN else ""
            self.add(field, [r for rows, _ in ambiguous.values() for r in rows],
                     f"ambiguous region name{'s' if len(ambiguous) > 1 else ''}: {listing}{more}",
                     "the 6-digit code of the unit meant")
        for col in self.name_cols:
            self.check_region_names(codes, self.raw[col])
        self.out["region_code"] = codes.astype("str")
        self.out["region_zh"] = codes.map(lambda c: regions.lookup(c).name_zh if isinstance(c, str) else None
                                          ).astype("str")

    @staticmethod
    def listing(unknown: dict[str, list[int]]) -> str:
        """'广卅' (row 4; did you mean 440100 广州市, …?); '990000' (rows 7, 9; no such code) …"""
        parts = []
        for value, rows in list(unknown.items())[:SHOWN]:
            where = f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:5]))}"
            if re.fullmatch(r"\d+", unicodedata.normalize("NFKC", value)):
                hint = "no such code in the 2010/2020 census registry"
            else:
                close = regions.close_matches(value, n=3)
                hint = f"did you mean {', '.join(f'{r.code} {r.name_zh}' for r in close)}?" if close else "no close name"
            parts.append(f"{value!r} ({where}; {hint})")
        more = f"; … and {len(unknown) - SHOWN} more values" if len(unknown) > SHOWN else ""
        return "; ".join(parts) + more

    def check_region_names(self, codes: pd.Series, names: pd.Series) -> None:
        wrong = []
        for row, code in codes.items():
            name = names.get(row)
            if not isinstance(code, str) or not name or name.lower() in MISSING:
                continue
            if regions.normalize_name(name) not in regions.names_of(code):
                try:
                    ok = regions.lookup(name).code == code
                except RegionNotFoundError:
                    ok = False
                if not ok:
                    wrong.append((row, f"{name!r} ≠ {regions.describe(code)}"))
        if wrong:
            self.problems.append(_Problem(str(names.name), [r for r, _ in wrong],
                                          f"region name does not match the code: {_quote([w for _, w in wrong], raw=True)}",
                                          "the name of the region whose code is given"))

    # -- pandera
    def pandera_checks(self) -> None:
        frame = self.out
        try:
            schemas.to_pandera(self.schema, list(frame.columns)).validate(frame, lazy=True)
        except schemas.pandera_errors().SchemaErrors as errors:
            fc = errors.failure_cases
        else:
            return
        fc = fc[fc["index"].notna()]
        order = {name: i for i, name in enumerate(schemas.CHECK_MESSAGES)}
        groups = sorted(fc.groupby(["column", "check"], sort=False), key=lambda g: order.get(g[0][1], 99))
        for (column, check), group in groups:
            rows = sorted({int(r) for r in group["index"]})
            if check == "multiple_fields_uniqueness":
                continue  # reported once, below, with the key values
            field = str(column)
            rows = [r for r in rows if r not in self.bad.get(field, set())]
            if not rows:
                continue
            message, expected = schemas.check_message(str(check), self.schema.field(field).kind)
            values = frame.loc[rows, field].tolist()
            shown = f": {_quote(values)}" if check != "not_nullable" else ""
            self.add(field, rows, message + shown, expected)
        dup_rows = fc.loc[fc["check"] == "multiple_fields_uniqueness", "index"]
        if len(dup_rows):
            self.duplicates(sorted({int(r) for r in dup_rows}))

    def duplicates(self, rows: list[int]) -> None:
        key = schemas.key_columns(self.schema, list(self.out.columns))
        sub = self.out.loc[rows, key]
        sub = sub[sub.notna().all(axis=1)]
        groups = [list(g.index) for _, g in sub.groupby(key, sort=False, dropna=True) if len(g) > 1]
        if not groups:
            return
        shown = "; ".join("(" + ", ".join(str(v) for v in sub.loc[g[0]].tolist()) + ") in rows "
                          + ", ".join(str(r) for r in g) for g in groups[:SHOWN])
        label = " × ".join(self.label(k) if k != "region_code" else self.label("region") for k in key)
        self.problems.append(_Problem(None, sorted(r for g in groups for r in g),
                                      f"duplicated key {label}: {shown}", "one row per " + " × ".join(key)))

    def cross_checks(self) -> None:
        s = self.schema
        if s.total_of and s.total_of[0] in self.out:
            total, parts = s.total_of
            cols = [total, *parts]
            ok = self.out[cols].notna().all(axis=1)
            for c in cols:
                ok &= ~self.out.index.isin(list(self.bad.get(c, ())))
            sub = self.out.loc[ok, cols]
            summed = sub[list(parts)].sum(axis=1)
            wrong = sub.index[summed != sub[total]]
            if len(wrong):
                examples = "; ".join(
                    f"row {r}: {' + '.join(_fmt(sub.at[r, p]) for p in parts)} = {_fmt(summed[r])} ≠ {_fmt(sub.at[r, total])}"
                    for r in wrong[:SHOWN])
                self.add(total, wrong, f"{' + '.join(parts)} ≠ {total} ({examples})",
                         f"{total} = {' + '.join(parts)}")
        for small, large in s.at_most:
            if small in self.out and large in self.out:
                sub = self.out[[small, large]].dropna()
                wrong = sub.index[sub[small] > sub[large]]
                wrong = [r for r in wrong if r not in self.bad.get(small, set()) | self.bad.get(large, set())]
                if wrong:
                    ex = "; ".join(f"row {r}: {_fmt(sub.at[r, small])} > {_fmt(sub.at[r, large])}" for r in wrong[:SHOWN])
                    self.add(small, wrong, f"{small} > {large} ({ex})", f"{small} ≤ {large}")


def _find_header(schema: schemas.UserSchema, rows: list[tuple[int, list[str]]], nonblank: list[int]) -> int:
    """Position of the header: the first of the first 10 non-blank rows naming every required column
    (spreadsheets often carry a title or notes above the table); else the first non-blank row."""
    aliases = {schemas.normalize_header(a): f.name for f in schema.fields for a in (f.name, *f.aliases)}
    for i in nonblank[:10]:
        named = {aliases.get(schemas.normalize_header(c)) for c in rows[i][1] if c}
        if set(schema.required) <= named:
            return i
    return nonblank[0]


def read_user_table(path: str | Path, *, as_: str, sheet: str | int | None = None,
                    drop_blank_rows: bool = True) -> pd.DataFrame:
    """Read a user's CSV (UTF-8/UTF-8-BOM/GBK/GB18030) or .xlsx table as schema ``as_`` (see
    :func:`analysis.data.schemas.available`), or raise one DataValidationError listing every problem.

    The header is the first row (among the first 10 non-blank ones) naming every required column; rows
    above it (a title, notes) are not data and are listed in ``attrs["rows_above_header"]``.

    ``attrs``: path, schema, rows_read, rows_kept, header_row, rows_above_header, blank_rows (dropped row
    numbers), columns (header → schema column), extra_columns, verified_columns (region-name columns checked
    against the codes and left out because the output has them), and encoding/delimiter (CSV) or sheet (xlsx).
    """
    schema = schemas.get(as_)
    path = Path(path)
    rows, meta = _read_rows(path, sheet)
    excel = "sheet" in meta
    nonblank = [i for i, (_, cells) in enumerate(rows) if any(cells)]
    if not nonblank:
        raise DataValidationError("empty file: no header and no rows", path=str(path),
                                  expected=f"a header row with {', '.join(schema.required)} and data rows")
    at = _find_header(schema, rows, nonblank)
    header_row, header = rows[at]
    above = [(r, " ".join(c for c in cells if c)) for r, cells in rows[:at] if any(cells)]
    body = rows[at + 1 : nonblank[-1] + 1]  # blank rows after the last data row are not rows
    if not body:
        raise DataValidationError(f"no data rows below the header (row {header_row})", path=str(path),
                                  rows=[header_row], expected="at least one data row")
    width = len(header)
    while width and not header[width - 1] and not any(len(c) >= width and c[width - 1] for _, c in body):
        width -= 1
    header = header[:width]
    ragged = [(r, c) for r, c in body if any(c[width:])]
    if ragged:
        raise DataValidationError(
            f"more cells than header columns ({', '.join(f'row {r}: {sum(map(bool, c))} cells' for r, c in ragged[:SHOWN])})",
            path=str(path), rows=[r for r, _ in ragged],
            expected=f"at most {width} cells per row, as in the header (row {header_row}); "
                     f"quote values that contain the separator")
    data_width = [any(len(c) > i and c[i] for _, c in body) for i in range(width)]
    mapping, name_cols, extra, factors = _map_headers(path, schema, header, header_row, excel, data_width)

    index = pd.Index([r for r, _ in body], name="row")
    cols = {name: [c[i] if i < len(c) else "" for _, c in body] for i, name in mapping.items()}
    raw = pd.DataFrame(cols, index=index, dtype=object)
    blank = [r for r, c in body if not any(c)]
    if blank and not drop_blank_rows:
        raise DataValidationError("blank row", path=str(path), rows=blank,
                                  expected="no blank rows between data rows (or drop_blank_rows=True)")
    raw = raw.drop(index=blank)
    fields = {f.name for f in schema.fields}
    headers = {name: header[i] for i, name in mapping.items() if name in fields}
    reader = _Reader(schema, raw, headers, name_cols)
    present = [f for f in schema.fields if f.name in raw.columns]
    for f in present:
        if f.kind == "region":
            reader.region(f.name)
        elif f.kind == "period":
            reader.period(f.name)
        elif f.kind == "text":
            reader.text(f.name)
        else:
            reader.numbers(f.name, f.kind, factors.get(f.name, 1.0))
    reader.pandera_checks()
    reader.cross_checks()
    if reader.problems:
        raise _fail(path, reader.problems)

    out = reader.out
    for f in present:
        if f.kind in ("count", "positive_count", "year"):
            out[f.name] = out[f.name].astype("Int64")
    order = []
    for f in present:
        order += [f.name, "region_code", "region_zh"] if f.kind == "region" else [f.name]
    out = out[order]
    # Region-name columns checked against the codes are kept, unless their header is an output column name.
    verified = [c for c in name_cols if c in out.columns]
    for name in [*(c for c in name_cols if c not in out.columns), *extra]:
        out[name] = raw[name].astype("str")
    out.attrs.update({
        "path": str(path), "schema": schema.name, "rows_read": len(body), "rows_kept": len(out),
        "header_row": header_row, "rows_above_header": above, "blank_rows": blank, "columns": {h: name for name, h in headers.items()}, "extra_columns": extra, "verified_columns": verified,
        "unit_factors": {headers[f]: k for f, k in factors.items()}, **meta,
    })
    return out
