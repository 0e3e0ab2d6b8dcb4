"""Build ``data/processed/`` from ``data/raw/`` (deterministic; ``python -m analysis data build``).

Every table of the data contract (see ``analysis.data.tables.TABLES`` and ``data/README.md``) is read from
the unchanged raw files, reshaped to a tidy long table, validated with its pandera schema and written to
Parquet atomically (temporary name, then rename). Rows read and kept are counted per table; every row that
is left out on purpose is counted and explained (``note`` column of the report, and ``data/README.md``).
Known defects of the raw files are handled here, each at the place marked ``# DEFECT:``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from analysis.config import NATION_CODE, PROCESSED_DIR, RAW_DIR
from analysis.data.tables import TABLES
from analysis.exceptions import DataValidationError

STAMP_NAME = ".build-stamp"

# Raw files, relative to the raw folder (see each folder's PROVENANCE.md).
F_NBS_BIRTHS = "nbs-births-deaths-vicalloy/china_births_deaths_1950_2023_10k.csv"
F_NAT_RATES = "nbs-exports-birthtrends/national_cbr_cdr_ngr_1973_2022.csv"
F_NAT_CBR_ORIG = "nbs-exports-misc/national_cbr_2004_2023_miaoliao.xlsx"
F_PROV_CBR = "nbs-exports-birthtrends/province_cbr_2001_2021.csv"
F_PROV_CBR_2022 = "nbs-exports-misc/province_cbr_2004_2022_no2020_miaoliao.xlsx"
F_PROV_CBR_2024 = "nbs-exports-misc/province_cbr_cdr_ngr_2024_liushenwuzhu.csv"
F_PROV_POP = "nbs-exports-birthtrends/province_resident_population_2000_2021.csv"
F_PROV_POP_2024 = "nbs-exports-misc/province_resident_population_2015_2024_1lmq.csv"
F_SAMPLE = {
    "all": "nbs-exports-birthtrends/national_sample_births_by_mother_age_2003_2015.csv",
    "1": "nbs-exports-birthtrends/national_sample_first_births_by_mother_age_2003_2015.csv",
    "2": "nbs-exports-birthtrends/national_sample_second_births_by_mother_age_2003_2015.csv",
    "3+": "nbs-exports-birthtrends/national_sample_third_plus_births_by_mother_age_2003_2015.csv",
}
F_WPP = {
    "births": "unwpp2024/wpp2024_births.tsv",
    "cbr": "unwpp2024/wpp2024_cbr.tsv",
    "srb": "unwpp2024/wpp2024_sexRatio.tsv",
    "tfr": "unwpp2024/wpp2024_tfr.tsv",
}
F_WPP_LOCATIONS = "unwpp2024/wpp2024_UNlocations.tsv"
F_CENSUS_BIRTHS = "census-2010-2020-yuanfan/sheet2_births_by_sex_order_province_urbanrural.csv"
F_COUNTY = {2010: "census-county-city-leiii/census_county_2010_v1.csv",
            2020: "census-county-city-leiii/census_county_2020_v1.csv"}
F_OWID_ORDER = "owid-datasets/srb_by_birth_order_china_korea_jiang2017.csv"
F_POLICY = "policy-dates/selective_two_child_dates.csv"
F_MIGRANT = "migrant-service-coverage/published_migrant_service_rates.csv"
F_MONTHLY = "undata-births-by-month/undata_live_births_by_month_east_asia.csv"

UNITS = {
    "births": "persons",
    "cbr": "per 1000 population",
    "cdr": "per 1000 population",
    "srb": "males per 100 females",
    "tfr": "children per woman",
    "population": "persons",
}
WPP_SOURCE = "UN WPP 2024"
WPP_CHINA = 156
#: Chinese names of the usual comparison countries (M49 code -> name); other countries get NA.
COUNTRY_ZH = {
    156: "中国", 344: "中国香港", 446: "中国澳门", 158: "中国台湾", 356: "印度", 410: "韩国", 408: "朝鲜",
    392: "日本", 704: "越南", 586: "巴基斯坦", 50: "孟加拉国", 524: "尼泊尔", 51: "亚美尼亚", 31: "阿塞拜疆",
    268: "格鲁吉亚", 8: "阿尔巴尼亚", 702: "新加坡", 496: "蒙古", 458: "马来西亚", 608: "菲律宾",
    764: "泰国", 360: "印度尼西亚", 840: "美国", 250: "法国", 276: "德国", 826: "英国", 643: "俄罗斯",
}


# ----------------------------------------------------------------------------------------------- helpers
@dataclass
class _Tally:
    """Rows read from the raw files and rows that went into the table, with the reasons for the rest."""

    rows_read: int = 0
    rows_kept: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, read: int, kept: int, note: str | None = None) -> None:
        self.rows_read += read
        self.rows_kept += kept
        if note:
            self.notes.append(note)


def _path(raw_dir: Path, rel: str) -> Path:
    path = Path(raw_dir) / rel
    if not path.is_file():
        raise DataValidationError("raw file is missing", path=str(path),
                                  expected="the unchanged file from data/raw/ (see its PROVENANCE.md)")
    return path


def _fail(path: Path, message: str, *, rows: list[int] | None = None, column: str | None = None,
          expected: str | None = None) -> DataValidationError:
    return DataValidationError(message, path=str(path), rows=rows, column=column, expected=expected)


def _year_columns(df: pd.DataFrame) -> dict[str, int]:
    """Map NBS column labels such as ``"2016年"`` to the year."""
    out = {}
    for col in df.columns:
        m = re.fullmatch(r"\s*(\d{4})\s*年?\s*", str(col))
        if m:
            out[col] = int(m.group(1))
    return out


def _nbs_wide(path: Path, *, label: str) -> pd.DataFrame:
    """An NBS 国家数据 export (rows = indicator/province, columns = "YYYY年") as float, year columns as int."""
    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    if label not in df.columns:
        raise _fail(path, "first column not found", column=label, expected=f"a '{label}' column")
    years = _year_columns(df)
    values = df[list(years)].apply(pd.to_numeric, errors="coerce")
    bad = df[list(years)].notna() & values.isna()
    if bad.any(axis=None):
        rows = [int(i) + 2 for i in np.flatnonzero(bad.any(axis=1))]
        raise _fail(path, "non-numeric value", rows=rows, expected="numbers")
    values.columns = list(years.values())
    values.index = df[label].str.strip()
    return values


class ProvinceCodes:
    """Province name -> 6-digit code, derived from the province rows of the 2020 county census file.

    Accepts the full name (``"内蒙古自治区"``) or the short form used by NBS exports (``"内蒙古"``, a
    unique prefix of exactly one full name) and ``"全国"`` for the nation.
    """

    def __init__(self, raw_dir: Path) -> None:
        path = _path(raw_dir, F_COUNTY[2020])
        df = pd.read_csv(path, dtype=str, usecols=["区划代码", "省", "区县"])
        prov = df[df["区划代码"].str.fullmatch(r"\d{2}0000", na=False)]
        self.full = dict(zip(prov["省"].str.strip(), prov["区划代码"], strict=True))
        self.by_code = {code: name for name, code in self.full.items()}
        if len(self.full) != 31:
            raise _fail(path, f"found {len(self.full)} province rows", column="区划代码",
                        expected="31 codes ending in 0000")

    def code(self, name: str, *, path: Path | None = None, row: int | None = None) -> str:
        name = str(name).strip()
        if name == "全国":
            return NATION_CODE
        if name in self.full:
            return self.full[name]
        hits = [code for full, code in self.full.items() if full.startswith(name)]
        if len(hits) != 1:
            raise DataValidationError(f"unknown province name {name!r}", path=str(path) if path else None,
                                      rows=[row] if row else None,
                                      expected="a province name of the 2020 census (short or full)")
        return hits[0]

    def name(self, code: str) -> str:
        """Full Chinese name of a province code."""
        return self.by_code[code]


def _validate(name: str, df: pd.DataFrame) -> pd.DataFrame:
    try:
        return TABLES[name].schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(10).to_string(index=False)
        raise DataValidationError(f"processed table '{name}' fails its schema:\n{cases}") from None


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then rename (safe for parallel builds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ national_series
def build_national_series(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    parts = []
    # NBS births (万人 -> persons): the originally published counts (consistent with the unrevised CBR).
    path = _path(raw_dir, F_NBS_BIRTHS)
    df = pd.read_csv(path, encoding="utf-8-sig")
    if list(df.columns) != ["年份", "出生", "死亡"]:
        raise _fail(path, f"unexpected columns {list(df.columns)}", expected="年份, 出生, 死亡")
    parts.append(pd.DataFrame({"year": df["年份"].astype(int), "indicator": "births", "source": "NBS",
                               "vintage": "original", "value": df["出生"].astype(float) * 10_000}))
    tally.add(len(df), len(df), f"{F_NBS_BIRTHS}: deaths column (死亡) not used")

    # DEFECT (two CBR vintages): the current NBS database export carries the post-2020-census *revised*
    # CBR for 2011-2019; the Miao-Liao export has the *original* figures (2004-2023). Both are kept,
    # labelled by `vintage`; years where the vintages agree appear in both.
    path = _path(raw_dir, F_NAT_RATES)
    wide = _nbs_wide(path, label="指标")
    picks = {"人口出生率(‰)": ("cbr", "revised"), "人口死亡率(‰)": ("cdr", "")}
    missing = set(picks) - set(wide.index)
    if missing:
        raise _fail(path, f"indicator rows {sorted(missing)} not found", column="指标")
    for label, (indicator, vintage) in picks.items():
        s = wide.loc[label].dropna()
        parts.append(pd.DataFrame({"year": s.index.astype(int), "indicator": indicator, "source": "NBS",
                                   "vintage": vintage, "value": s.to_numpy(float)}))
    tally.add(len(wide), len(picks), f"{F_NAT_RATES}: natural growth rate row not used")

    path = _path(raw_dir, F_NAT_CBR_ORIG)
    df = pd.read_excel(path, sheet_name="Sheet1")
    if list(df.columns) != ["Year", "Birth rate"]:
        raise _fail(path, f"unexpected columns {list(df.columns)}", expected="Year, Birth rate")
    parts.append(pd.DataFrame({"year": df["Year"].astype(int), "indicator": "cbr", "source": "NBS",
                               "vintage": "original", "value": df["Birth rate"].astype(float)}))
    tally.add(len(df), len(df))

    wpp = _wpp_long(raw_dir, tally=None)
    china = wpp[wpp["country_code"] == WPP_CHINA]
    parts.append(china.assign(source=WPP_SOURCE, vintage="")[["year", "indicator", "source", "vintage",
                                                              "value"]])
    tally.add(len(F_WPP), len(F_WPP), "UN WPP 2024: China (M49 156) row of the 4 files; other locations "
              "are in `countries`")

    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "region_code", NATION_CODE)
    out["unit"] = out["indicator"].map(UNITS)
    out["year"] = out["year"].astype("int64")
    return out.sort_values(["indicator", "source", "vintage", "year"], ignore_index=True)


# ------------------------------------------------------------------------------------------ countries
def _wpp_long(raw_dir: Path, tally: _Tally | None) -> pd.DataFrame:
    """All WPP 2024 countries/areas (location_type 4), estimates 1950-2023, long, in contract units."""
    loc_path = _path(raw_dir, F_WPP_LOCATIONS)
    locs = pd.read_csv(loc_path, sep="\t", usecols=["name", "country_code", "location_type"])
    countries = set(locs.loc[locs["location_type"] == 4, "country_code"].astype(int))
    parts = []
    for indicator, rel in F_WPP.items():
        path = _path(raw_dir, rel)
        df = pd.read_csv(path, sep="\t")
        years = {c: int(c) for c in df.columns if re.fullmatch(r"\d{4}", str(c))}
        # WPP: keep the 1950-2023 estimates; sexRatio also holds the 2024-2100 medium-variant projection
        # and tfr a `last.observed` column — neither goes into this table.
        est = [c for c, y in years.items() if y <= 2023]
        # WPP: the world/region/income-group aggregate rows are left out (countries and areas only).
        is_country = df["country_code"].astype(int).isin(countries)
        sub = df.loc[is_country, ["country_code", "country", *est]]
        long = sub.melt(id_vars=["country_code", "country"], var_name="year", value_name="value")
        n_na = int(long["value"].isna().sum())
        long = long.dropna(subset=["value"])
        long["year"] = long["year"].astype(int)
        long["indicator"] = indicator
        if indicator == "births":
            long["value"] = (long["value"] * 1000).round(3)  # thousands -> persons
        elif indicator == "srb":
            long["value"] = (long["value"] * 100).round(4)  # ratio -> males per 100 females
        parts.append(long)
        if tally is not None:
            note = (f"{rel}: {int((~is_country).sum())} aggregate rows (world, regions, income groups) "
                    f"left out; years > 2023 / last.observed not used")
            if n_na:
                note += f"; {n_na} empty cells"
            tally.add(len(df), int(is_country.sum()), note)
    out = pd.concat(parts, ignore_index=True)
    out["country_code"] = out["country_code"].astype("int64")
    return out


def build_countries(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    df = _wpp_long(raw_dir, tally)
    df["country_zh"] = df["country_code"].map(COUNTRY_ZH).astype("str")
    df["unit"] = df["indicator"].map(UNITS)
    df["source"] = WPP_SOURCE
    cols = ["country_code", "country", "country_zh", "year", "indicator", "value", "unit", "source"]
    return df[cols].sort_values(["country_code", "indicator", "year"], ignore_index=True)


# -------------------------------------------------------------------------------------- census_births
_RESIDENCE = {"不分城乡": ("total", "6-1"), "城市": ("city", "6-1a"), "镇": ("town", "6-1b"),
              "乡村": ("rural", "6-1c")}
_ORDERS = {"出生人数": "all", "第一孩": "1", "第二孩": "2", "第三孩": "3", "第四孩": "4", "第五孩及以上": "5+"}
_PERIODS = {"2019.11.1-2020.10.31": (2020, "2019-11-01/2020-10-31"),
            "2009.11.1-2010.10.31": (2010, "2009-11-01/2010-10-31")}


def build_census_births(raw_dir: Path, tally: _Tally, codes: ProvinceCodes) -> pd.DataFrame:
    path = _path(raw_dir, F_CENSUS_BIRTHS)
    df = pd.read_csv(path, dtype=str)
    bad = ~df["year"].isin(list(_PERIODS))
    if bad.any():
        raise _fail(path, "unknown census period", rows=[int(i) + 2 for i in np.flatnonzero(bad)],
                    column="year", expected=" or ".join(_PERIODS))
    bad = ~df["type"].isin(list(_RESIDENCE))
    if bad.any():
        raise _fail(path, "unknown residence type", rows=[int(i) + 2 for i in np.flatnonzero(bad)],
                    column="type", expected=" / ".join(_RESIDENCE))
    rows = []
    for i, rec in df.iterrows():
        census, period = _PERIODS[rec["year"]]
        residence, table = _RESIDENCE[rec["type"]]
        code = codes.code(rec["area"], path=path, row=int(i) + 2)
        region_zh = "全国" if code == NATION_CODE else codes.name(code)  # full name, as in the other tables
        for prefix, order in _ORDERS.items():
            # DEFECT (long form vs headline SRB): only the counts are read; the rounded ratio column
            # "…-性别比(女=100)" is ignored (SRB is always computed from counts downstream).
            total_col = f"{prefix}-合计" if order == "all" else f"{prefix}-小计"
            cells = {}
            for sex, zh in (("male", "男"), ("female", "女"), ("both", None)):
                col = f"{prefix}-{zh}" if zh else total_col
                raw = rec[col]
                # DEFECT (empty cells): 4th/5th+ order cells of small provinces are empty in the source,
                # which means zero in the census tables; stored as 0 and flagged `empty_in_source`.
                value = 0.0 if pd.isna(raw) or str(raw).strip() == "" else pd.to_numeric(raw, errors="coerce")
                if pd.isna(value) or value < 0 or value != int(value):
                    raise _fail(path, f"births must be a non-negative whole number, got {raw!r}",
                                rows=[int(i) + 2], column=col)
                cells[sex] = (int(value), pd.isna(raw))
            if cells["male"][0] + cells["female"][0] != cells["both"][0]:
                raise _fail(path, "males + females != total", rows=[int(i) + 2], column=total_col,
                            expected=f"{cells['male'][0]} + {cells['female'][0]}")
            for sex in ("male", "female"):
                rows.append((census, period, code, region_zh, residence, order, sex, cells[sex][0],
                             cells[sex][1], f"NBS {census} census long form, table {table} (~10% sample)"))
    out = pd.DataFrame(rows, columns=["census", "reference_period", "region_code", "region_zh", "residence",
                                      "birth_order", "sex", "births", "empty_in_source", "source"])
    out.insert(out.columns.get_loc("source"), "unit", "persons")
    _check_census_sums(out, path)
    tally.add(len(df), len(df))
    return out


def _check_census_sums(df: pd.DataFrame, path: Path) -> None:
    """Birth orders add up to the total, and the 31 provinces add up to the national row."""
    key = ["census", "region_code", "residence", "sex"]
    by_order = df[df["birth_order"] != "all"].groupby(key)["births"].sum()
    total = df[df["birth_order"] == "all"].set_index(key)["births"]
    diff = (by_order - total.reindex(by_order.index)).abs()
    if (diff > 0).any():
        raise _fail(path, f"birth orders do not add up to the total for {list(diff[diff > 0].index[:5])}")
    key = ["census", "residence", "birth_order", "sex"]
    prov = df[df["region_code"] != NATION_CODE].groupby(key)["births"].sum()
    nation = df[df["region_code"] == NATION_CODE].set_index(key)["births"].reindex(prov.index)
    if (prov != nation).any():
        raise _fail(path, f"provinces do not add up to 全国 for {list(prov[prov != nation].index[:5])}")


# ------------------------------------------------------------------------------------ province_series
def _miaoliao_province_cbr(raw_dir: Path, birthtrends: pd.DataFrame) -> pd.DataFrame:
    """The Miao-Liao provincial CBR (adds 2022), rows matched to provinces by their values.

    DEFECT (English names): the export's province names were translated by the repository author, with
    typos ("Mongolia" for Inner Mongolia, "Chongqin" for Chongqing). They are not used: each row is
    matched to the one province of the BirthTrends export whose 2004-2021 values are identical.
    """
    path = _path(raw_dir, F_PROV_CBR_2022)
    raw = pd.read_excel(path, header=None)
    header = raw.index[raw[0].astype(str).str.strip() == "province"]
    if len(header) != 1:
        raise _fail(path, "header row 'province' not found", expected="NBS export with a 'province' row")
    h = int(header[0])
    df = raw.iloc[h + 1:].copy()
    df.columns = ["province", *[int(float(y)) for y in raw.iloc[h, 1:]]]
    df = df.dropna(subset=["province"]).set_index("province").astype(float)
    overlap = [y for y in df.columns if y in birthtrends.columns]
    index = {}
    for en, values in df[overlap].iterrows():
        same = (birthtrends[overlap].sub(values, axis=1).abs().max(axis=1) < 1e-9)
        if same.sum() != 1:
            raise _fail(path, f"row {en!r} matches {int(same.sum())} provinces of {F_PROV_CBR}",
                        expected="exactly one province with identical 2004-2021 values")
        index[en] = same.idxmax()
    if len(set(index.values())) != len(df):
        raise _fail(path, "two rows match the same province")
    df.index = [index[en] for en in df.index]
    return df


def build_province_series(raw_dir: Path, tally: _Tally, codes: ProvinceCodes) -> pd.DataFrame:
    recs = []

    def add(frame: pd.DataFrame, years: list[int], indicator: str, source: str, scale: float = 1.0) -> None:
        for name, row in frame.iterrows():
            code = codes.code(name)
            for y in years:
                recs.append((code, y, indicator, row[y] * scale, source, ""))

    # CBR 2001-2021 (no 2020) from the BirthTrends export of NBS 分省年度数据.
    path = _path(raw_dir, F_PROV_CBR)
    cbr = _nbs_wide(path, label="地区")
    add(cbr, [y for y in cbr.columns if 2001 <= y <= 2021], "cbr",
        "NBS 分省年度数据 (via lemon1022/BirthTrends)")
    tally.add(len(cbr), len(cbr))
    # CBR 2022 from the Miao-Liao export (2004-2021 identical to BirthTrends; tested).
    ml = _miaoliao_province_cbr(raw_dir, cbr)
    add(ml, [2022], "cbr", "NBS 分省年度数据 (via Miao-Liao/Master-thesis-code)")
    tally.add(len(ml), len(ml), f"{F_PROV_CBR_2022}: only 2022 used (earlier years are in BirthTrends)")

    # DEFECT (separators): the 2024 file has a tab before every comma (`北京市\t,6.09\t,`) and a
    # trailing comma; split on optional whitespace + comma and drop the empty last column.
    path = _path(raw_dir, F_PROV_CBR_2024)
    df = pd.read_csv(path, sep=r"\s*,", engine="python", encoding="utf-8-sig", skiprows=2, dtype=str)
    df = df[df["地区"].notna() & ~df["地区"].str.startswith("数据来源")]
    col = next((c for c in df.columns if c.startswith("人口出生率")), None)
    if col is None or len(df) != 31:
        raise _fail(path, f"expected 31 province rows and a 人口出生率 column, got {len(df)} rows",
                    column=col)
    df = df.set_index(df["地区"].str.strip())[[col]].astype(float).rename(columns={col: 2024})
    add(df, [2024], "cbr", "NBS 分省年度数据 (via Liushenwuzhu-Alpaca/province-economy)")
    tally.add(len(df), len(df), f"{F_PROV_CBR_2024}: death and natural growth rates not used")

    # Population (万人 -> persons): 2000-2021 BirthTrends, 2022-2024 from the 1lmq export.
    path = _path(raw_dir, F_PROV_POP)
    pop = _nbs_wide(path, label="地区")
    add(pop, list(range(2000, 2022)), "population", "NBS 分省年度数据 (via lemon1022/BirthTrends)", 10_000)
    tally.add(len(pop), len(pop))
    pop24 = read_population_2015_2024(raw_dir)
    add(pop24, [2022, 2023, 2024], "population", "NBS 分省年度数据 (via 1lmq/FYP_QMM2_Chinese_Railways)",
        10_000)
    tally.add(len(pop24), len(pop24), f"{F_PROV_POP_2024}: 2015-2021 not used (identical to BirthTrends; "
              "tested)")

    # Provincial CBR is not published for 2020 (census year) and 2023 was not found in any public
    # export: explicit NaN rows, never filled.
    gaps = {2020: "not published: NBS gives no provincial CBR for the census year 2020",
            2023: "not embedded: no public machine-readable export of the 2023 provincial CBR was found"}
    for y, note in gaps.items():
        recs.extend((code, y, "cbr", np.nan, "NBS 分省年度数据", note) for code in sorted(codes.full.values()))
    out = pd.DataFrame(recs, columns=["region_code", "year", "indicator", "value", "source", "note"])
    out["region_zh"] = out["region_code"].map(codes.name)
    out["unit"] = out["indicator"].map(UNITS)
    out["year"] = out["year"].astype("int64")
    out["value"] = out["value"].astype(float)
    out = out[["region_code", "region_zh", "year", "indicator", "value", "unit", "source", "note"]]
    return out.sort_values(["indicator", "region_code", "year"], ignore_index=True)


def read_population_2015_2024(raw_dir: Path, *, utf8_copy: bool = False) -> pd.DataFrame:
    """Year-end resident population (万人) 2015-2024 by province from the 1lmq NBS export.

    DEFECT (encoding): the original bytes are GB18030 (as NBS exports them); ``utf8_copy=True`` reads
    the ``iconv`` UTF-8 copy instead (same values; tested).
    """
    rel = F_PROV_POP_2024.replace(".csv", ".utf8.csv") if utf8_copy else F_PROV_POP_2024
    path = _path(raw_dir, rel)
    encoding = "utf-8" if utf8_copy else "gb18030"
    df = pd.read_csv(path, encoding=encoding, skiprows=3, dtype=str)
    # NBS header lines (数据库/指标/时间) are skipped above; the footer lines (注：…, 数据来源：…) are not data.
    df = df[~df["地区"].str.startswith(("注：", "数据来源"))]
    years = _year_columns(df)
    out = df[list(years)].apply(pd.to_numeric, errors="raise")
    out.columns = list(years.values())
    out.index = df["地区"].str.strip()
    if len(out) != 31:
        raise _fail(path, f"{len(out)} province rows", expected="31")
    return out


# -------------------------------------------------------------------------------------- county_census
_AGG_NAMES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
_COUNTY_COLS = {
    2010: {"name": "地区", "population": "合计", "age0_males": "0岁（男）", "age0_females": "0岁（女）",
           "migrants_same_county": "迁入人口（人）-本县（市）/\n本市市区",
           "migrants_other_county": "迁入人口（人）-本省其他县\n（市）、市区",
           "migrants_other_province": "迁入人口（人）-外省", "birth_rate": "出生率（‰）"},
    2020: {"name": "区县", "population": "人口数_合计", "age0_males": "男_0岁", "age0_females": "女_0岁",
           "migrants_same_county": "户口登记地在外乡镇街道人口_本县",
           "migrants_other_county": "户口登记地在外乡镇街道人口_本省其他县",
           "migrants_other_province": "户口登记地在外乡镇街道人口_省外", "birth_rate": None},
}
_COUNTY_SOURCE = {2010: "NBS 2010 census county tabulation (分县资料), via leiii/census (Lei Dong et al., MIT)",
                  2020: "NBS 2020 census yearbook (七普年鉴), via leiii/census (Lei Dong et al., MIT)"}
_COUNT_COLS = ["population", "age0_males", "age0_females", "migrants_same_county", "migrants_other_county",
               "migrants_other_province"]


def _county_hierarchy(codes: list[str | None], names: list[str], path: Path,
                      rows: list[int]) -> tuple[list, list, list, list, list[str]]:
    """Level, region code, province code and prefecture code of each row, from codes and file order.

    Rows without a code are either prefecture-level aggregates ("市辖区", "县", "省直辖县级行政区划" …
    followed by their coded counties; the code is derived from the counties' common 4-digit prefix, e.g.
    429000 for Hubei's 省直辖县级行政区划) or county-level units without a GB/T 2260 code (development
    zones, 管理区, 行委, the South China Sea islands, "市辖区" of cities without districts): they keep
    an NA code and get the prefecture of the nearest prefecture row above them.
    """
    n = len(codes)
    # DEFECT (non-GB/T code): a few units carry a code outside their province's range (2020: 五台山风景名胜区
    # in Shanxi has 170971); such a code is not a GB/T 2260 code and is set to NA.
    codes = list(codes)
    invalid = []
    cur = None
    for i, code in enumerate(codes):
        if code is not None and code.endswith("0000"):
            cur = code
        elif code is not None and cur is not None and code[:2] != cur[:2]:
            invalid.append(f"{names[i]} {code} (row {rows[i]})")
            codes[i] = None
    level: list[str] = []
    region: list[str | None] = []
    for i in range(n):
        code = codes[i]
        if code is not None:
            level.append("province" if code.endswith("0000") else "prefecture" if code.endswith("00")
                         else "county")
            region.append(code)
            continue
        children = []
        if names[i] in _AGG_NAMES:
            j = i + 1
            while j < n and codes[j] is not None and not codes[j].endswith("00"):
                children.append(codes[j])
                j += 1
        if children:
            prefixes = {c[:4] for c in children}
            if len(prefixes) != 1:
                raise _fail(path, f"aggregate row {names[i]!r} covers counties of several prefectures "
                            f"{sorted(prefixes)}", rows=[rows[i]], column="区划代码")
            level.append("prefecture")
            region.append(prefixes.pop() + "00")
        else:
            level.append("county")
            region.append(None)
    province: list[str] = []
    prefecture: list[str | None] = []
    cur_prov: str | None = None
    cur_pref: str | None = None
    for i in range(n):
        code, lvl = region[i], level[i]
        if lvl == "province":
            cur_prov, cur_pref = code, None
        if cur_prov is None:
            raise _fail(path, "row before the first province row", rows=[rows[i]])
        if code is not None and code[:2] != cur_prov[:2]:
            raise _fail(path, f"code {code} is not in province {cur_prov}", rows=[rows[i]], column="区划代码")
        if lvl == "prefecture":
            cur_pref = code
        province.append(cur_prov)
        if lvl == "province":
            prefecture.append(None)
        elif lvl == "prefecture":
            prefecture.append(code)
        elif code is not None:
            prefecture.append(code[:4] + "00")
        else:
            prefecture.append(cur_pref)
    return level, region, province, prefecture, invalid


def build_county_census(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    parts = []
    for census in (2010, 2020):
        path = _path(raw_dir, F_COUNTY[census])
        cols = _COUNTY_COLS[census]
        df = pd.read_csv(path, dtype=str)
        missing = [c for c in [*cols.values(), "区划代码"] if c is not None and c not in df.columns]
        if missing:
            raise _fail(path, f"columns {missing} not found")
        df["_row"] = np.arange(len(df)) + 2  # spreadsheet row numbers
        n_read = len(df)
        notes = []
        # 2010: blank separator rows between provinces, and a forum advert in the last row.
        blank = df.drop(columns="_row").isna().all(axis=1)
        junk = df[cols["name"]].fillna("").str.contains("bbs|论坛", regex=True) & df["区划代码"].isna()
        if blank.any() or junk.any():
            notes.append(f"{int(blank.sum())} blank separator rows and {int(junk.sum())} footer advert row "
                         "(首发论坛…) left out")
        df = df[~blank & ~junk].reset_index(drop=True)
        values = pd.DataFrame({k: pd.to_numeric(df[v], errors="coerce") for k, v in cols.items()
                               if v is not None and k != "name"})
        for k, v in cols.items():
            if v is None or k == "name":
                continue
            bad = df[v].notna() & values[k].isna()
            if bad.any():
                raise _fail(path, "non-numeric value", rows=df.loc[bad, "_row"].tolist(), column=v)
        code = df["区划代码"].str.strip()
        bad = code.notna() & ~code.str.fullmatch(r"\d{6}", na=False)
        if bad.any():
            raise _fail(path, "malformed region code", rows=df.loc[bad, "_row"].tolist(), column="区划代码",
                        expected="6 digits")
        names = df[cols["name"]].str.strip()
        if census == 2020:
            # The 2020 file starts with a national row (全国): checked against the sum of the 31 province
            # rows, then left out (the table holds provinces, prefectures and counties of both censuses).
            nat = (names == "全国") & code.isna()
            prov = code.str.fullmatch(r"\d{2}0000", na=False)
            for k in _COUNT_COLS:
                if values.loc[nat, k].sum() != values.loc[prov, k].sum():
                    raise _fail(path, "national row differs from the sum of the provinces", column=cols[k])
            notes.append(f"{int(nat.sum())} national row (全国) left out after checking it equals the "
                         "sum of the provinces")
            df, values, code, names = (x[~nat].reset_index(drop=True) for x in (df, values, code, names))
        # DEFECT (boundary changes): codes and names are those of each census; units whose boundaries
        # changed between 2010 and 2020 have different codes — no harmonisation here.
        level, region, province, prefecture, invalid = _county_hierarchy(
            [None if pd.isna(c) else c for c in code], names.tolist(), path, df["_row"].tolist())
        if invalid:
            notes.append(f"code set to NA (outside its province's range): {', '.join(invalid)}")
        out = pd.DataFrame({"census": census, "region_code": region, "name_zh": names.to_numpy(),
                            "level": level, "province_code": province, "prefecture_code": prefecture})
        for k in _COUNT_COLS:
            # DEFECT (missing age-0 cells): empty cells stay NA (not 0).
            out[k] = values[k].round().astype("Int64")
        out["birth_rate"] = values["birth_rate"].to_numpy(float) if census == 2010 else np.nan
        out["source"] = _COUNTY_SOURCE[census]
        dup = out["region_code"].notna() & out["region_code"].duplicated(keep=False)
        if dup.any():
            raise _fail(path, f"duplicated region codes {sorted(set(out.loc[dup, 'region_code']))}",
                        column="区划代码")
        parts.append(out)
        tally.add(n_read, len(out), f"{F_COUNTY[census]}: " + "; ".join(notes) if notes else None)
    out = pd.concat(parts, ignore_index=True)
    for c in ("region_code", "prefecture_code"):
        out[c] = out[c].astype("str")
    return out


# ------------------------------------------------------------------------------------- srb_by_order
def build_srb_by_order(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    path = _path(raw_dir, F_OWID_ORDER)
    df = pd.read_csv(path)
    cols = {"all": "Total sex ratio at birth (SRB)", "1": "First child SRB", "2": "Second child SRB",
            "3": "Third child SRB", "4+": "Fourth child & higher SRB"}
    rename = {}
    for order, prefix in cols.items():
        hit = [c for c in df.columns if c.startswith(prefix)]
        if len(hit) != 1:
            raise _fail(path, f"column starting {prefix!r} not found")
        rename[hit[0]] = order
    long = df.rename(columns=rename).melt(id_vars=["Entity", "Year"], value_vars=list(cols),
                                          var_name="birth_order", value_name="srb")
    n_na = int(long["srb"].isna().sum())
    # China has no 4th+ order SRB in this dataset: those empty cells are not rows of the tidy table. Its "Third
    # child" column holds third and higher births (the 2010 value, 158.41, is the census long form's orders 3, 4 and
    # 5+ together, 47,754 boys / 30,145 girls; order 3 alone is 161.56): for China it is order "3+".
    long = long.dropna(subset=["srb"])
    china_3 = (long["Entity"] == "China") & (long["birth_order"] == "3")
    long.loc[china_3, "birth_order"] = "3+"
    source = {"China": "Jiang et al. (2017), J. Biosoc. Sci. 49(6):826-841, via Our World in Data",
              "South Korea": "National Statistical Office of Korea (KOSIS), via Our World in Data"}
    out = pd.DataFrame({"country": long["Entity"], "year": long["Year"].astype("int64"),
                        "birth_order": long["birth_order"], "srb": long["srb"].astype(float),
                        "unit": UNITS["srb"], "source": long["Entity"].map(source)})
    tally.add(len(df), len(df), f"{n_na} empty cells (China 4th+ order) are not rows")
    return out.sort_values(["country", "year", "birth_order"], ignore_index=True)


# ------------------------------------------------------------------------------ sample_births_by_order
def build_sample_births(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    parts = []
    for order, rel in F_SAMPLE.items():
        path = _path(raw_dir, rel)
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
        if order == "1":
            # DEFECT (contaminated column): the "2016年" column of the first-birth file holds the repo
            # author's computed age shares of the 2015 first births (e.g. 0.0496 = 4614/93098), not 2016
            # data; it is dropped (the other post-2015 columns of that file are empty).
            df = df.drop(columns="2016年")
        wide = df.set_index("指标")
        years = _year_columns(wide)
        total = wide.iloc[0][list(years)]
        if "出生" not in wide.index[0] or "岁" in wide.index[0]:
            raise _fail(path, f"first row is {wide.index[0]!r}", rows=[2], expected="the all-ages total row")
        total.index = list(years.values())
        total = pd.to_numeric(total).dropna()
        parts.append(pd.DataFrame({"year": total.index.astype("int64"), "birth_order": order,
                                   "births": total.to_numpy().astype("int64")}))
        tally.add(len(df), 1, f"{rel}: {len(df) - 1} rows by mother's age not used (totals only)")
    out = pd.concat(parts, ignore_index=True)
    # 2005 and 2015 are 1% population sample surveys (~15x larger samples); other years the 1‰ survey.
    out["survey"] = np.where(out["year"].isin([2005, 2015]), "1% population sample survey",
                             "1‰ population change survey")
    out["unit"] = "persons (sample count)"
    out["source"] = "NBS population sample surveys, 国家数据 (via lemon1022/BirthTrends)"
    out = out[["year", "survey", "birth_order", "births", "unit", "source"]]
    order = {"all": 0, "1": 1, "2": 2, "3+": 3}
    return out.sort_values(["year", "birth_order"], key=lambda s: s.map(order) if s.name == "birth_order"
                           else s, ignore_index=True)


# --------------------------------------------------------------------------------------- policy_dates
def build_policy_dates(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    path = _path(raw_dir, F_POLICY)
    df = pd.read_csv(path, dtype=str)
    date_type = df["note"].str.extract(r"^\s*date_type=(\w+)")[0]
    if date_type.isna().any():
        raise _fail(path, "note does not start with date_type=…",
                    rows=[int(i) + 2 for i in np.flatnonzero(date_type.isna())], column="note")
    gb = df["gb_code"].str.strip()
    if not gb.str.fullmatch(r"\d{2}").all():
        raise _fail(path, "province code is not 2 digits", column="gb_code")
    dates = pd.to_datetime(df["effective_date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        raise _fail(path, "not a date", rows=[int(i) + 2 for i in np.flatnonzero(dates.isna())],
                    column="effective_date", expected="YYYY-MM-DD")
    out = pd.DataFrame({"region_code": gb + "0000", "province_zh": df["province_zh"],
                        "province_en": df["province_en"], "policy": df["policy"],
                        "effective_date": dates.astype("datetime64[us]"), "date_type": date_type,
                        "source": df["source_url_or_citation"], "note": df["note"]})
    tally.add(len(df), len(df))
    return out.sort_values(["policy", "effective_date", "region_code"], ignore_index=True)


# ------------------------------------------------------------------------------- migrant_service_rates
def build_migrant_service_rates(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    path = _path(raw_dir, F_MIGRANT)
    df = pd.read_csv(path, dtype=str)
    parsed = df["value_pct"].str.strip().str.extract(r"^(>=|>)?\s*([0-9.]+)$")
    if parsed[1].isna().any():
        raise _fail(path, "not a percentage", rows=[int(i) + 2 for i in np.flatnonzero(parsed[1].isna())],
                    column="value_pct", expected="a number, optionally after >= or >")
    gb = df["gb_code"].str.strip()
    # 2-digit province codes become 6-digit (11 -> 110000); city codes are already 6 digits.
    code = gb.where(gb.str.len() != 2, gb + "0000")

    def count(col: str) -> pd.Series:
        v = pd.to_numeric(df[col], errors="coerce")
        if (df[col].notna() & v.isna()).any():
            raise _fail(path, "not a whole number", column=col)
        return v.astype("Int64")

    out = pd.DataFrame({
        "region_code": code.astype("str"), "geo_level": df["geo_level"], "geo_zh": df["geo_zh"],
        "geo_en": df["geo_en"], "reference_period": df["reference_period"], "source_type": df["source_type"],
        "indicator_en": df["indicator_en"], "indicator_zh": df["indicator_zh"],
        "value_pct": parsed[1].astype(float), "bound": parsed[0].fillna("="),
        "numerator": count("numerator"), "denominator": count("denominator"),
        "target_or_benchmark": df["target_or_benchmark"], "citation": df["citation"],
        "source_url": df["source_url"], "note": df["note"],
    })
    tally.add(len(df), len(df))
    return out


# ------------------------------------------------------------------------------------- monthly_births
_MONTHS = {m: i for i, m in enumerate(["January", "February", "March", "April", "May", "June", "July",
                                       "August", "September", "October", "November", "December"], 1)}


def build_monthly_births(raw_dir: Path, tally: _Tally) -> pd.DataFrame:
    path = _path(raw_dir, F_MONTHLY)
    df = pd.read_csv(path)
    n = len(df)
    is_month = df["Month"].isin(list(_MONTHS))
    n_total = int((df["Month"] == "Total").sum())
    n_unknown = int((df["Month"] == "Unknown").sum())
    other = n - int(is_month.sum()) - n_total - n_unknown
    if other:
        raise _fail(path, f"{other} rows with an unknown month label", column="Month",
                    expected="January…December, Total or Unknown")
    df = df[is_month].copy()
    df["record_type"] = np.where(df["Record Type"].str.contains("occurrence"), "occurrence", "registration")
    # DEFECT (duplicated month rows): some (area, year, month) keys appear twice (tabulated by year of
    # occurrence and by year of registration, or two source years). Keep one row per key: occurrence
    # before registration, then the latest source year.
    df = df.sort_values(["Country or Area", "Year", "Month", "record_type", "Source Year"],
                        ascending=[True, True, True, True, False])
    dup = df.duplicated(["Country or Area", "Year", "Month"], keep="first")
    n_dup = int(dup.sum())
    df = df[~dup]
    area = df["Country or Area"].str.replace(r"^China, ", "", regex=True)
    month = df["Month"].map(_MONTHS).astype("int64")
    year = df["Year"].astype("int64")
    out = pd.DataFrame({
        "area": area, "year": year, "month": month,
        "date": pd.to_datetime({"year": year, "month": month, "day": 1}).astype("datetime64[us]"),
        "births": df["Value"].astype("int64"), "record_type": df["record_type"],
        "reliability": df["Reliability"], "source_year": df["Source Year"].astype("int64"),
        "unit": "persons",
        "source": "UNdata, UN Statistics Division, Demographic Statistics Database, live births by month",
    })
    tally.add(n, len(out), f"{n_total} annual-total rows and {n_unknown} 'Unknown' month rows are not monthly "
              f"births; {n_dup} duplicated month rows (same area, year, month) left out, keeping occurrence "
              "over registration and then the latest source year")
    return out.sort_values(["area", "year", "month"], ignore_index=True)


# -------------------------------------------------------------------------------------------- regions
def build_regions_table(raw_dir: Path, tally: _Tally) -> pd.DataFrame | None:
    """The region registry, built by the REGISTRY engineer's ``analysis.data.regions.build_regions``."""
    try:
        from analysis.data.regions import build_regions
    except ImportError:
        return None
    df = build_regions(raw_dir)
    tally.add(len(df), len(df), "built by analysis.data.regions.build_regions")
    return df.reset_index(drop=True)


# ------------------------------------------------------------------------------------------- build_all
def _builders(codes: ProvinceCodes) -> dict[str, Callable[[Path, _Tally], pd.DataFrame | None]]:
    return {
        "national_series": build_national_series,
        "countries": build_countries,
        "census_births": lambda raw, t: build_census_births(raw, t, codes),
        "province_series": lambda raw, t: build_province_series(raw, t, codes),
        "county_census": build_county_census,
        "srb_by_order": build_srb_by_order,
        "sample_births_by_order": build_sample_births,
        "policy_dates": build_policy_dates,
        "migrant_service_rates": build_migrant_service_rates,
        "monthly_births": build_monthly_births,
        "regions": build_regions_table,
    }


def build_all(raw_dir: Path | str = RAW_DIR, out_dir: Path | str = PROCESSED_DIR, *,
              verbose: bool = True) -> pd.DataFrame:
    """Build every processed table from the raw files; return the report.

    The report has one row per table: ``name``, ``rows_read`` (data rows in the raw files used),
    ``rows_kept`` (raw rows that went into the table), ``rows_out`` (rows of the tidy table),
    ``path`` and ``note`` (why rows or columns were left out). Finally writes ``.build-stamp``.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    codes = ProvinceCodes(raw_dir)
    report = []
    for name, builder in _builders(codes).items():
        tally = _Tally()
        df = builder(raw_dir, tally)
        if df is None:
            if verbose:
                print(f"{name}: skipped (analysis.data.regions.build_regions is not available yet)")
            continue
        df = _validate(name, df.reset_index(drop=True))
        path = out_dir / TABLES[name].filename
        _write_parquet(df, path)
        report.append({"name": name, "rows_read": tally.rows_read, "rows_kept": tally.rows_kept,
                       "rows_out": len(df), "path": str(path), "note": "; ".join(tally.notes)})
        if verbose:
            print(f"{name:24s} read {tally.rows_read:6d}  kept {tally.rows_kept:6d}  -> {len(df):6d} rows  "
                  f"{path.name}")
            for note in tally.notes:
                print(f"{'':26s}{note}")
    rep = pd.DataFrame(report, columns=["name", "rows_read", "rows_kept", "rows_out", "path", "note"])
    stamp = rep.drop(columns="path").to_csv(sep="\t", index=False)
    _write_text(stamp, out_dir / STAMP_NAME)
    return rep
