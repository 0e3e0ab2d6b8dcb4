"""Users' tables: encodings, Excel, schemas, and one clear error per bad file.

Fixture files (tests/fixtures/user_tables/) are small hand-written tables; the GBK/GB18030 and .xlsx
variants are written by the tests into tmp_path. Expected numbers are hand computations on those files.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from openpyxl import Workbook

from analysis.config import ROOT
from analysis.data import read_user_table, schemas
from analysis.exceptions import AnalysisError, DataValidationError

FIXTURES = ROOT / "tests" / "fixtures" / "user_tables"
BIRTHS_ZH = FIXTURES / "births_zh.csv"


def write(tmp_path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def write_xlsx(tmp_path, rows: list[list], name: str = "table.xlsx", start_row: int = 1) -> str:
    wb = Workbook()
    ws = wb.active
    ws.title = "出生"
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            ws.cell(row=start_row + i, column=j + 1, value=value)
    path = tmp_path / name
    wb.save(path)
    return str(path)


def error_of(path, as_: str = "births", **kwargs) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        read_user_table(path, as_=as_, **kwargs)
    return info.value


# ----------------------------------------------------------------------------------------- good files


def test_chinese_headers_names_and_thousands_separator():
    df = read_user_table(BIRTHS_ZH, as_="births")
    assert df["region_code"].tolist() == ["440000", "110000", "150000", "440106"]
    assert df["region_zh"].tolist() == ["广东省", "北京市", "内蒙古自治区", "天河区"]
    assert df["males"].tolist() == [1234, 300, 150, 20]          # "1,234" read as 1234
    assert str(df["males"].dtype) == "Int64" and str(df["period"].dtype) == "Int64"
    assert df.index.tolist() == [2, 3, 5, 6]                       # spreadsheet rows (row 4 is blank)
    assert df.attrs["columns"] == {"地区": "region", "年份": "period", "男": "males", "女": "females",
                                   "合计": "total"}


def test_blank_rows_are_counted_not_hidden():
    df = read_user_table(BIRTHS_ZH, as_="births")
    assert (df.attrs["rows_read"], df.attrs["rows_kept"], df.attrs["blank_rows"]) == (5, 4, [4])
    err = error_of(BIRTHS_ZH, drop_blank_rows=False)
    assert err.rows == [4] and "blank row" in str(err)


def test_utf8_bom_and_codes_of_2_4_6_digits():
    df = read_user_table(FIXTURES / "births_en_bom.csv", as_="births")
    assert df.attrs["encoding"] == "utf-8"
    assert list(df.columns[:3]) == ["region", "region_code", "region_zh"]  # BOM not glued to the header
    assert df["region_code"].tolist() == ["440000", "440000", "440100", "440106"]
    assert df["birth_order"].tolist() == ["1", "2", "1", "1"]            # part of the key: no duplicates
    assert (df.attrs["rows_read"], df.attrs["rows_kept"]) == (4, 4)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_and_gb18030(tmp_path, encoding):
    text = BIRTHS_ZH.read_text(encoding="utf-8")
    path = write(tmp_path, f"births_{encoding}.csv", text, encoding)
    df = read_user_table(path, as_="births")
    assert df.attrs["encoding"] == "gb18030"
    assert df["region_zh"].tolist()[:4] == ["广东省", "北京市", "内蒙古自治区", "天河区"]


def test_gb18030_only_character_survives(tmp_path):
    """䶮 (U+4DAE) is in GB18030 but not in GBK; it must come back intact in an extra column."""
    text = "region,period,males,females,note\n广东,2020,1,1,䶮\n"
    path = write(tmp_path, "gb18030.csv", text, "gb18030")
    df = read_user_table(path, as_="births")
    assert df["note"].tolist() == ["䶮"]
    assert df.attrs["extra_columns"] == ["note"]


def test_tab_separated_utf16_from_excel_unicode_text(tmp_path):
    path = write(tmp_path, "unicode.txt", "地区\t年份\t男\t女\n广东\t2020\t3\t2\n", "utf-16")
    df = read_user_table(path, as_="births")
    assert df.attrs["delimiter"] == "\t" and df["males"].tolist() == [3]


def test_xlsx_with_title_row_and_real_sheet_rows(tmp_path):
    rows = [["2020年出生人数"], [], ["区划代码", "年份", "男", "女"], [440000, 2020, 512, 498],
            [110000.0, 2020, 300, 280]]
    path = write_xlsx(tmp_path, rows)
    df = read_user_table(path, as_="births")
    assert df["region_code"].tolist() == ["440000", "110000"]           # 110000.0 from Excel is a code
    assert df.index.tolist() == [4, 5]
    assert df.attrs["header_row"] == 3 and df.attrs["rows_above_header"] == [(1, "2020年出生人数")]
    assert df.attrs["sheet"] == "出生"


def test_xlsx_errors_name_the_real_sheet_row(tmp_path):
    rows = [["地区", "年份", "男", "女"], ["广东", 2020, 5, 4], ["北京", 2020, -2, 4]]
    path = write_xlsx(tmp_path, rows, start_row=3)
    err = error_of(path)
    assert err.rows == [5]                       # the sheet's row 5, as Excel shows it
    assert "column '男' (males)" in str(err) and "table.xlsx" in str(err) and "negative" in str(err)


def test_region_code_and_name_columns_are_cross_checked(tmp_path):
    ok = write(tmp_path, "ok.csv", "区划代码,地区,年份,男,女\n440000,广东,2020,1,1\n220104,朝阳区,2020,1,1\n")
    df = read_user_table(ok, as_="births")
    assert df["region_code"].tolist() == ["440000", "220104"]          # ambiguous name, but the code decides
    assert df["地区"].tolist() == ["广东", "朝阳区"]
    bad = write(tmp_path, "bad.csv", "区划代码,地区,年份,男,女\n440000,广东,2020,1,1\n110000,上海,2020,1,1\n")
    err = error_of(bad)
    assert err.rows == [3] and "'地区'" in str(err) and "上海" in str(err) and "110000" in str(err)


def test_srb_province_series_and_coverage_good(tmp_path):
    srb = read_user_table(write(tmp_path, "srb.csv", "地区,时期,出生性别比（女=100）\n广东,2019.11.1-2020.10.31,"
                                "112.5\n"), as_="srb")
    assert srb["srb"].tolist() == [112.5] and srb["period"].tolist() == ["2019.11.1-2020.10.31"]
    ps = read_user_table(FIXTURES / "province_series.csv", as_="province_series")
    assert ps["region_code"].tolist() == ["440000", "440000", "450000"]
    assert ps["cbr"].tolist() == [9.35, 8.30, 8.51] and ps["year"].tolist() == [2021, 2022, 2022]
    cov = read_user_table(write(tmp_path, "cov.csv", "unit,period,service,eligible,served,target\n"
                                "天河区,2020,档案,1000,850,85%\n越秀区,2020,档案,800,700,0.8\n"),
                          as_="coverage_records")
    assert cov["target"].tolist() == [0.85, 0.8]


def test_period_of_years_written_as_floats(tmp_path):
    df = read_user_table(write(tmp_path, "f.csv", "region,period,srb\n广东,2020.0,110\n广东,2021.0,109\n"),
                         as_="srb")
    assert str(df["period"].dtype) == "Int64" and df["period"].tolist() == [2020, 2021]


def test_units_in_headers_are_converted_or_refused(tmp_path):
    ok = write(tmp_path, "u.csv", "地区,年份,人口出生率（‰）,年末常住人口（万人）\n广东,2022,8.30,12656.8\n")
    df = read_user_table(ok, as_="province_series")
    assert df["population"].tolist() == [126_568_000.0]            # 万人 → persons
    assert df.attrs["unit_factors"] == {"年末常住人口（万人）": 10_000}
    cov = write(tmp_path, "t.csv", "unit,period,service,eligible,served,target (%)\nA,2020,x,10,5,85\nB,2020,x,10,5,90%\n")
    assert read_user_table(cov, as_="coverage_records")["target"].tolist() == [0.85, 0.9]
    bad = write(tmp_path, "b.csv", "地区,年份,人口出生率(%),出生人数(万人)\n广东,2022,0.83,1\n")
    err = error_of(bad, as_="province_series")
    assert "column '人口出生率(%)' (cbr): unit '%' in the header does not fit" in str(err) and err.rows == [1]


# ------------------------------------------------------------------------------------------ bad files


def test_bad_births_one_error_with_every_problem():
    err = error_of(FIXTURES / "births_bad.csv")
    msg = str(err)
    assert msg.startswith(str(FIXTURES / "births_bad.csv"))
    assert "6 problems" in msg
    assert "row 3: column 'males': not a number: 'abc'" in msg
    assert "row 4: column 'males': negative value: -3" in msg
    assert "row 5: column 'females': negative value: -1" in msg
    assert "rows 2, 6: duplicated key" in msg and "(440000, 2020)" in msg
    assert "row 7: column 'region': unknown region: '990000' (row 7; no such code" in msg
    assert "row 8: column 'total': males + females ≠ total (row 8: 50 + 50 = 100 ≠ 101)" in msg
    assert err.rows == [2, 3, 4, 5, 6, 7, 8]
    assert "Traceback" not in msg


def test_missing_column_lists_what_is_there(tmp_path):
    path = write(tmp_path, "missing.csv", "地区,年份,男\n广东,2020,5\n")
    err = error_of(path)
    msg = str(err)
    assert "missing.csv" in msg and "row 1" in msg
    assert "missing column 'females'" in msg and "女" in msg           # the accepted Chinese alias
    assert "the file has: '地区', '年份', '男'" in msg


def test_all_failing_rows_of_a_check_are_listed(tmp_path):
    lines = ["region,period,males,females"] + [f"{c},2020,{-i},1" for i, c in enumerate(
        ["广东", "北京", "上海", "浙江", "江苏"], start=1)]
    err = error_of(write(tmp_path, "neg.csv", "\n".join(lines) + "\n"))
    assert err.rows == [2, 3, 4, 5, 6] and err.column == "males"
    assert "rows 2, 3, 4, 5, 6: column 'males': negative value: -1, -2, -3, -4, -5" in str(err)


def test_non_numeric_and_fractional_counts(tmp_path):
    path = write(tmp_path, "nn.csv", "region,period,males,females\n广东,2020,-,4\n北京,2020,3.5,4\n上海,2020,十,4\n")
    msg = str(error_of(path))
    assert "rows 2, 4: column 'males': not a number: '-', '十'" in msg
    assert "row 3: column 'males': not a whole number: 3.5" in msg


def test_empty_cell_in_required_column(tmp_path):
    err = error_of(write(tmp_path, "na.csv", "region,period,males,females\n广东,2020,,4\n北京,2020,NA,4\n"))
    assert err.rows == [2, 3] and "empty cell" in str(err) and "'males'" in str(err)


def test_empty_key_cells(tmp_path):
    err = error_of(write(tmp_path, "k.csv", "region,period,males,females\n,2020,1,1\n广东,,1,1\n广东,2021,1,1\n"))
    assert "row 2: column 'region': empty cell" in str(err) and "row 3: column 'period': empty cell" in str(err)
    cov = write(tmp_path, "c.csv", "unit,period,service,eligible,served,target\nA,2020,,10,5,0.5\n")
    err = error_of(cov, as_="coverage_records")
    assert err.rows == [2] and "column 'service': empty cell" in str(err)


def test_extra_columns_named_like_other_schemas_are_kept(tmp_path):
    cov = write(tmp_path, "c.csv", "unit,period,service,eligible,served,target,region_code\nA,2020,x,10,5,0.5,44\n")
    df = read_user_table(cov, as_="coverage_records")
    assert df["region_code"].tolist() == ["44"] and df.attrs["extra_columns"] == ["region_code"]


def test_unknown_region_name_suggests(tmp_path):
    err = error_of(write(tmp_path, "r.csv", "地区,年份,男,女\n广卅,2020,1,1\n朝阳区,2020,1,1\n"))
    msg = str(err)
    assert "row 2: column '地区' (region): unknown region: '广卅' (row 2; did you mean" in msg
    assert "440100 广州市" in msg
    assert "row 3: column '地区' (region): ambiguous region name: '朝阳区' (row 3) could be 110105" in msg
    assert "220104" in msg


def test_many_unknown_regions_are_one_problem(tmp_path):
    lines = ["region,period,males,females"] + [f"99{i:04d},2020,1,1" for i in range(8)] + ["99000,2021,1,1"]
    err = error_of(write(tmp_path, "codes.csv", "\n".join(lines) + "\n"))
    msg = str(err)
    assert "problems" not in msg and "unknown regions: '990000' (row 2; no such code" in msg
    assert "… and 4 more values" in msg and err.rows == list(range(2, 11))


def test_srb_per_one_instead_of_per_100():
    err = error_of(FIXTURES / "srb_per_one.csv", as_="srb")
    msg = str(err)
    assert err.rows == [2, 3] and err.column == "srb"
    assert "srb_per_one.csv" in msg and "ratio per 1" in msg and "multiply by 100" in msg and "1.12, 1.05" in msg


def test_coverage_target_in_percent_instead_of_share():
    err = error_of(FIXTURES / "coverage_percent.csv", as_="coverage_records")
    msg = str(err)
    assert err.rows == [2, 3] and "'target'" in msg and "percentages; divide by 100" in msg


def test_coverage_served_above_eligible(tmp_path):
    path = write(tmp_path, "c.csv", "unit,period,service,eligible,served,target\nA,2020,x,100,120,0.9\n"
                 "B,2020,x,100,90,0.9\n")
    err = error_of(path, as_="coverage_records")
    assert err.rows == [2] and "served > eligible (row 2: 120 > 100)" in str(err)


def test_cbr_per_person_instead_of_per_1000(tmp_path):
    err = error_of(write(tmp_path, "p.csv", "region,year,cbr\n广东,2022,0.0083\n广东,2023,8.1\n"),
                   as_="province_series")
    assert err.rows == [2] and "multiply by 1000" in str(err)


def test_unreadable_encoding_names_offset_and_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"region,period,males,females\n\xff\xff,2020,1,1\n")
    err = error_of(str(path))
    msg = str(err)
    assert "latin.csv" in msg and "unreadable text encoding" in msg
    assert "offset 28" in msg and "line 2" in msg and err.rows == [2]


@pytest.mark.parametrize(("content", "expected"), [
    ("", "empty file"), ("\n\n,,\n", "empty file"), ("region,period,males,females\n", "no data rows"),
    ("region,period,males,females\n\n,,,\n", "no data rows"),
])
def test_empty_files(tmp_path, content, expected):
    err = error_of(write(tmp_path, "empty.csv", content))
    assert expected in str(err) and "empty.csv" in str(err)


def test_empty_xlsx(tmp_path):
    err = error_of(write_xlsx(tmp_path, []))
    assert "empty file" in str(err)


def test_more_cells_than_header(tmp_path):
    err = error_of(write(tmp_path, "rag.csv", "region,period,males,females\n广东,2020,1,1\n北京,2020,1,000,1\n"))
    assert err.rows == [3] and "more cells than header columns" in str(err)


def test_same_column_twice(tmp_path):
    err = error_of(write(tmp_path, "dup.csv", "男,males,region,period,females\n1,1,广东,2020,1\n"))
    assert "'男' and 'males' both mean 'males'" in str(err)


def test_same_extra_column_twice(tmp_path):
    err = error_of(write(tmp_path, "dup2.csv", "region,period,males,females,note,note\n广东,2020,1,1,a,b\n"))
    assert "'note'" in str(err) and "twice" in str(err)


def test_excel_dates_and_times_as_text(tmp_path):
    import datetime as dt

    rows = [["地区", "时期", "男", "女", "记录时间"], ["广东", dt.datetime(2020, 11, 1), 1, 1, dt.time(9, 30)]]
    df = read_user_table(write_xlsx(tmp_path, rows), as_="births")
    assert df["period"].tolist() == ["2020-11-01"] and df["记录时间"].tolist() == ["09:30:00"]


def test_unknown_schema_and_file_types(tmp_path):
    with pytest.raises(AnalysisError, match="births, coverage_records, province_series, srb"):
        read_user_table(BIRTHS_ZH, as_="birth")
    assert "file not found" in str(error_of(tmp_path / "nope.csv"))
    assert ".xls files are not read" in str(error_of(write(tmp_path, "old.xls", "x")))
    assert "not a readable .xlsx workbook" in str(error_of(write(tmp_path, "fake.xlsx", "a,b\n1,2\n")))
    assert "unknown file type" in str(error_of(write(tmp_path, "t.json", "{}")))


def test_unknown_sheet_lists_sheets(tmp_path):
    path = write_xlsx(tmp_path, [["地区", "年份", "男", "女"], ["广东", 2020, 1, 1]])
    assert "the workbook has sheets: 出生" in str(error_of(path, sheet="Sheet9"))
    assert len(read_user_table(path, as_="births", sheet="出生")) == 1


# -------------------------------------------------------------------------------------------- schemas


def test_schema_registry():
    names = set(schemas.available()["name"])
    assert {"births", "srb", "coverage_records", "province_series"} <= names
    births = schemas.fields("births").set_index("column")
    assert "男" in births.at["males", "aliases"] and bool(births.at["total", "required"]) is False


def test_register_refuses_clashing_aliases():
    bad = schemas.UserSchema(name="clash", description="", key=(), fields=(
        schemas.Field(name="a", kind="count", aliases=("x",)), schemas.Field(name="b", kind="count", aliases=("X",))))
    with pytest.raises(AnalysisError, match="both"):
        schemas.register(bad)
    assert "clash" not in set(schemas.available()["name"])


# ------------------------------------------------------------------------------------------------ CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "data", "validate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_valid_file_prints_counts():
    res = run_cli(str(BIRTHS_ZH), "--as", "births")
    assert res.returncode == 0, res.stderr
    assert "5 rows read, 4 kept" in res.stdout and "blank row(s) dropped: 4" in res.stdout


def test_cli_bad_file_exit_2_without_traceback():
    res = run_cli(str(FIXTURES / "births_bad.csv"), "--as", "births")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "births_bad.csv" in res.stderr and "row 3: column 'males'" in res.stderr


def test_frame_roundtrip(tmp_path):
    """Our own output written back (UTF-8-BOM, as Exporter writes) reads as the same numbers."""
    df = read_user_table(BIRTHS_ZH, as_="births")
    path = tmp_path / "out.csv"
    df.to_csv(path, encoding="utf-8-sig", index=False)
    again = read_user_table(path, as_="births")
    pd.testing.assert_series_equal(again["males"].reset_index(drop=True), df["males"].reset_index(drop=True))
    assert again["region_code"].tolist() == df["region_code"].tolist()


# ------------------------------------------------------- every bad case × (UTF-8-BOM CSV, GBK CSV, xlsx)

H = ["地区", "年份", "男", "女", "合计"]
BAD_CASES = {
    # name: (schema, rows below the header, failing spreadsheet rows, column(s) as the message names them, phrase)
    "non_numeric": ("births", [["广东", 2020, "十二", 5, 17], ["北京", 2020, 3, 4, 7]], [2], "column '男' (males)",
                    "not a number"),
    "negative": ("births", [["广东", 2020, 1, 1, 2], ["北京", 2020, 3, -4, -1], ["上海", 2020, 3, -2, 1]],
                 [3, 4], "column '女' (females)", "negative value"),
    "total": ("births", [["广东", 2020, 1, 1, 3], ["北京", 2020, 3, 4, 7], ["上海", 2020, 5, 5, 9]], [2, 4],
              "column '合计' (total)", "males + females ≠ total"),
    "duplicate": ("births", [["广东", 2020, 1, 1, 2], ["广东省", 2020, 3, 4, 7], ["北京", 2020, 5, 5, 10]],
                  [2, 3], "key '地区' (region) × '年份' (period)", "duplicated key"),
    "unknown_code": ("births", [[440000, 2020, 1, 1, 2], [990100, 2020, 3, 4, 7]], [3], "column '地区' (region)",
                     "unknown region: '990100'"),
    "unknown_name": ("births", [["广东", 2020, 1, 1, 2], ["火星", 2020, 3, 4, 7]], [3], "column '地区' (region)",
                     "unknown region: '火星'"),
    "srb_per_1": ("srb", [["广东", 2020, 1.13], ["北京", 2020, 110.2]], [2], "column '出生性别比' (srb)", "ratio per 1"),
    "missing_column": ("births", [["广东", 2020, 1, 1, 2]], [1], None, "missing column 'females'"),
}


def _write_case(tmp_path, fmt: str, header: list[str], rows: list[list]) -> str:
    if fmt == "xlsx":
        return write_xlsx(tmp_path, [header, *rows], name="case.xlsx")
    text = "\n".join(",".join(str(v) for v in row) for row in [header, *rows]) + "\n"
    return write(tmp_path, f"case_{fmt}.csv", text, "utf-8-sig" if fmt == "utf8bom" else "gbk")


@pytest.mark.parametrize("fmt", ["utf8bom", "gbk", "xlsx"])
@pytest.mark.parametrize("case", list(BAD_CASES))
def test_every_bad_case_names_file_rows_column(tmp_path, case, fmt):
    schema, rows, bad_rows, column, phrase = BAD_CASES[case]
    header = {"srb": ["地区", "年份", "出生性别比"], "births": H}[schema]
    if case == "missing_column":
        header = ["地区", "年份", "男", "female_births", "合计"]
    path = _write_case(tmp_path, fmt, header, rows)
    err = error_of(path, as_=schema)
    msg = str(err)
    assert msg.startswith(path) and phrase in msg
    assert err.rows == bad_rows
    rows_text = f"row {bad_rows[0]}:" if len(bad_rows) == 1 else f"rows {', '.join(map(str, bad_rows))}:"
    assert rows_text in msg
    if column:
        assert column in msg
