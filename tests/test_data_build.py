"""Tests of ``analysis.data.build``: the processed tables against published totals and the raw files.

The data are built once per session into a temporary folder. Reference numbers come from the cited
publications as recorded in each ``data/raw/*/PROVENANCE.md`` (NBS communiqués and census tables, UN WPP
2024, Jiang et al. 2017), or are recomputed here independently from the raw files.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.config import NATION_CODE, RAW_DIR
from analysis.data import build
from analysis.data.tables import TABLES
from analysis.exceptions import DataValidationError


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("processed")
    report = build.build_all(RAW_DIR, out, verbose=False)
    return out, report


@pytest.fixture(scope="session")
def tables(built):
    out, _ = built
    return {name: pd.read_parquet(out / spec.filename) for name, spec in TABLES.items()
            if (out / spec.filename).is_file()}


def _raw(rel: str, **kw) -> pd.DataFrame:
    return pd.read_csv(RAW_DIR / rel, **kw)


# ------------------------------------------------------------------------------------------- the build
def test_every_table_is_built_with_a_report(built):
    out, report = built
    assert set(report["name"]) == set(TABLES)  # regions included (analysis.data.regions exists)
    assert (report["rows_read"] >= report["rows_kept"]).all()
    assert (report["rows_out"] > 0).all()
    # every table that leaves raw rows out says why
    dropped = report[report["rows_read"] > report["rows_kept"]]
    assert (dropped["note"].str.len() > 0).all()
    stamp = (out / build.STAMP_NAME).read_text(encoding="utf-8")
    assert stamp.splitlines()[0].startswith("name\trows_read\trows_kept\trows_out")
    assert not list(out.glob("*.tmp"))  # atomic writes leave no temporary files


def test_rows_read_and_kept_counts(built):
    r = built[1].set_index("name")
    # UN monthly file: 4,507 rows = 3,963 monthly rows kept + 338 annual totals + 64 'Unknown' + 142 duplicates
    assert (r.loc["monthly_births", "rows_read"], r.loc["monthly_births", "rows_kept"]) == (4507, 3963)
    assert "142 duplicated month rows" in r.loc["monthly_births", "note"]
    # county files: 3,279 + 3,358 rows; 30 blank rows + 1 advert (2010) and the national row (2020) left out
    assert (r.loc["county_census", "rows_read"], r.loc["county_census", "rows_kept"]) == (6637, 6605)
    # census births: 256 raw rows (2 censuses x 4 residences x 32 areas) -> x 6 orders x 2 sexes
    assert tuple(r.loc["census_births", ["rows_read", "rows_kept", "rows_out"]]) == (256, 256, 3072)
    # WPP: 297 locations per file, of which 61 aggregates
    assert (r.loc["countries", "rows_read"], r.loc["countries", "rows_kept"]) == (4 * 297, 4 * 236)


def test_processed_files_validate_against_their_schemas(tables):
    for name, df in tables.items():
        TABLES[name].schema.validate(df)  # raises on failure


def test_schema_violation_is_a_clear_error(tables):
    bad = tables["census_births"].copy()
    bad.loc[0, "births"] = -1
    with pytest.raises(DataValidationError, match=r"(?s)census_births.*births"):
        build._validate("census_births", bad)


def test_parquet_bytes_are_deterministic(tables, tmp_path):
    df = tables["county_census"]
    build._write_parquet(df, tmp_path / "a.parquet")
    build._write_parquet(df, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_missing_raw_file_names_the_file(tmp_path):
    with pytest.raises(DataValidationError, match="census_county_2020_v1.csv.*missing"):
        build.build_all(tmp_path / "raw", tmp_path / "out", verbose=False)


def test_inconsistent_raw_counts_name_file_row_and_column(tmp_path):
    raw = tmp_path / "raw"
    for rel in (build.F_CENSUS_BIRTHS, build.F_COUNTY[2020]):
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RAW_DIR / rel, raw / rel)
    df = pd.read_csv(raw / build.F_CENSUS_BIRTHS, dtype=str)
    df.loc[3, "第一孩-男"] = str(int(df.loc[3, "第一孩-男"]) + 1)
    df.to_csv(raw / build.F_CENSUS_BIRTHS, index=False)
    with pytest.raises(DataValidationError, match=r"row 5:.*第一孩-小计.*males \+ females"):
        build.build_census_births(raw, build._Tally(), build.ProvinceCodes(raw))


# -------------------------------------------------------------------------------------- census_births
def test_2020_long_form_national_births_equal_the_sum_of_provinces(tables):
    """NBS 2020 census table 6-1: 1,212,321 births (PROVENANCE of census-2010-2020-yuanfan)."""
    b = tables["census_births"]
    b20 = b[b["census"] == 2020]
    nat = b20[(b20["region_code"] == NATION_CODE) & (b20["residence"] == "total") & (b20["birth_order"] == "all")]
    assert nat["births"].sum() == 1_212_321
    key = ["residence", "birth_order", "sex"]
    prov = b20[b20["region_code"] != NATION_CODE].groupby(key)["births"].sum()
    national = b20[b20["region_code"] == NATION_CODE].set_index(key)["births"]
    assert b20["region_code"].nunique() == 32
    pd.testing.assert_series_equal(prov.sort_index(), national.sort_index(), check_names=False)


@pytest.mark.parametrize(("census", "srb"), [(2020, 112.28), (2010, 121.21)])
def test_national_srb_from_counts(tables, census, srb):
    """Long-form SRB 112.28 (2020) and 121.21 (2010), NBS table 6-1 (and Jiang et al. 2017 for 2010)."""
    b = tables["census_births"]
    nat = b[(b["census"] == census) & (b["region_code"] == NATION_CODE) & (b["residence"] == "total")
            & (b["birth_order"] == "all")].set_index("sex")["births"]
    assert round(nat["male"] / nat["female"] * 100, 2) == srb


def test_srb_from_counts_matches_the_rounded_ratio_column():
    """Cross-check only: the raw ratio column (never read by the build) agrees within rounding."""
    raw = _raw(build.F_CENSUS_BIRTHS)
    for prefix in build._ORDERS:
        males, females = raw[f"{prefix}-男"].fillna(0), raw[f"{prefix}-女"].fillna(0)
        ratio = raw[f"{prefix}-性别比(女=100)"]
        ok = (females > 0) & ratio.notna()
        assert ok.sum() > 200
        assert ((males / females * 100 - ratio).abs()[ok] <= 0.005 + 1e-9).all()


def test_empty_cells_are_zero_and_flagged(tables):
    raw = _raw(build.F_CENSUS_BIRTHS)
    n_empty = sum(int(raw[f"{p}-{s}"].isna().sum()) for p in build._ORDERS for s in ("男", "女"))
    b = tables["census_births"]
    assert b["empty_in_source"].sum() == n_empty > 0
    assert (b.loc[b["empty_in_source"], "births"] == 0).all()
    assert set(b.loc[b["empty_in_source"], "birth_order"]) <= {"3", "4", "5+"}


def test_census_2010_by_order_srb_equals_jiang_2017(tables):
    """Independent sources agree: NBS 2010 table 6-1 counts vs Jiang et al. (2017) via OWID."""
    b = tables["census_births"]
    nat = b[(b["census"] == 2010) & (b["region_code"] == NATION_CODE) & (b["residence"] == "total")]
    counts = nat.pivot(index="birth_order", columns="sex", values="births")
    srb = (counts["male"] / counts["female"] * 100).round(2)
    jiang = tables["srb_by_order"]
    jiang = jiang[(jiang["country"] == "China") & (jiang["year"] == 2010)].set_index("birth_order")["srb"]
    for order in ("all", "1", "2"):
        assert srb[order] == pytest.approx(jiang[order], abs=0.005)
    # Jiang et al.'s "third child" is third and higher births: 158.41 is orders 3, 4, 5+ together, not order 3
    higher = counts.loc[["3", "4", "5+"]].sum()
    assert (higher["male"], higher["female"]) == (47_754, 30_145)
    assert jiang["3+"] == pytest.approx(100 * 47_754 / 30_145, abs=0.005) and "3" not in jiang.index
    assert srb["3"] == pytest.approx(161.56, abs=0.005)


def test_region_codes_come_from_the_county_file():
    codes = build.ProvinceCodes(RAW_DIR)
    assert codes.code("北京") == "110000"
    assert codes.code("内蒙古") == "150000" == codes.code("内蒙古自治区")
    assert codes.code("全国") == NATION_CODE
    with pytest.raises(DataValidationError, match="unknown province name"):
        codes.code("火星")


# ------------------------------------------------------------------------------------ national_series
def test_nbs_births_2016(tables):
    """NBS 2016 births 1,786 万 = 17.86 million (Statistical Communiqué; PROVENANCE of vicalloy)."""
    n = tables["national_series"]
    row = n[(n["indicator"] == "births") & (n["source"] == "NBS") & (n["year"] == 2016)]
    assert row["value"].tolist() == [17_860_000.0]
    assert row["vintage"].tolist() == ["original"]


def test_two_nbs_cbr_vintages(tables):
    """CBR 2016: 12.95 (original) vs 13.57 (revised after the 2020 census); 2020 8.52 in both (PROVENANCE)."""
    n = tables["national_series"]
    cbr = n[(n["indicator"] == "cbr") & (n["source"] == "NBS")].set_index(["vintage", "year"])["value"]
    assert cbr[("original", 2016)] == 12.95
    assert cbr[("revised", 2016)] == 13.57
    assert cbr[("original", 2020)] == cbr[("revised", 2020)] == 8.52


def test_wpp_china(tables):
    """WPP 2024 China: SRB 2020 1.112 (stored x100), births 2016 18,329 thousand (PROVENANCE of unwpp2024)."""
    n = tables["national_series"]
    wpp = n[n["source"] == "UN WPP 2024"].set_index(["indicator", "year"])["value"]
    assert wpp[("srb", 2020)] == pytest.approx(111.2)
    assert wpp[("births", 2016)] == pytest.approx(18_329_000, abs=1000)
    assert n["year"].between(1950, 2023).all()
    c = tables["countries"]
    assert {156, 356, 410, 704, 392} <= set(c["country_code"])
    assert 900 not in set(c["country_code"])  # the World aggregate is not a country
    india = c[(c["country_code"] == 356) & (c["indicator"] == "srb") & (c["year"] == 2023)]
    assert india["value"].item() == pytest.approx(107.3)


# ------------------------------------------------------------------------------------ province_series
def test_provincial_cbr_sources_agree_where_they_overlap():
    """Miao-Liao CBR 2004-2021 is identical to the BirthTrends export (read independently here)."""
    bt = _raw(build.F_PROV_CBR, encoding="utf-8-sig").set_index("地区")
    ml = pd.read_excel(RAW_DIR / build.F_PROV_CBR_2022, header=3).set_index("province")
    assert len(ml) == len(bt) == 31
    for year in range(2004, 2022):
        if year == 2020:
            continue
        # NBS exports list provinces in the same (code) order
        np.testing.assert_array_equal(ml[year].to_numpy(), bt[f"{year}年"].to_numpy())


def test_population_sources_agree_and_both_encodings_read_the_same():
    bt = _raw(build.F_PROV_POP, encoding="utf-8-sig").set_index("地区")
    pop = build.read_population_2015_2024(RAW_DIR)
    pd.testing.assert_frame_equal(pop, build.read_population_2015_2024(RAW_DIR, utf8_copy=True))
    for year in range(2015, 2022):
        np.testing.assert_array_equal(pop[year].to_numpy(), bt[f"{year}年"].to_numpy())


def test_province_series_coverage_and_gaps(tables):
    p = tables["province_series"]
    cbr = p[p["indicator"] == "cbr"]
    assert sorted(cbr["year"].unique()) == list(range(2001, 2025))
    assert cbr.groupby("year")["region_code"].nunique().eq(31).all()
    gaps = cbr[cbr["value"].isna()]
    assert sorted(gaps["year"].unique()) == [2020, 2023] and len(gaps) == 62
    assert (gaps["note"].str.len() > 0).all()
    v = cbr.set_index(["region_zh", "year"])["value"]
    # 2024 spot checks (PROVENANCE of nbs-exports-misc): Tibet 13.87, Heilongjiang 3.35, Guangdong 8.89
    assert (v[("西藏自治区", 2024)], v[("黑龙江省", 2024)], v[("广东省", 2024)]) == (13.87, 3.35, 8.89)
    # 2022 comes from the Miao-Liao export (Beijing 5.67 in that file)
    assert v[("北京市", 2022)] == 5.67
    pop = p[p["indicator"] == "population"]
    assert sorted(pop["year"].unique()) == list(range(2000, 2025))
    assert pop["value"].notna().all()
    assert pop.set_index(["region_code", "year"])["value"][("110000", 2024)] == 2183 * 10_000


# -------------------------------------------------------------------------------------- county_census
def test_2020_migrant_totals_match_nbs(tables):
    """NBS 2020: 492,762,506 living away from their hukou township; 124,837,153 from another province."""
    c = tables["county_census"]
    c20 = c[c["census"] == 2020]
    cols = ["migrants_same_county", "migrants_other_county", "migrants_other_province"]
    prov = c20[c20["level"] == "province"]
    assert prov[cols].sum().sum() == 492_762_506
    assert prov["migrants_other_province"].sum() == 124_837_153
    # lowest-level units: counties plus the prefecture cities without counties (东莞, 中山, 儋州, 嘉峪关)
    county = c20[c20["level"] == "county"]
    leaf = c20[(c20["level"] == "prefecture") & ~c20["region_code"].isin(county["prefecture_code"])]
    assert sorted(leaf["name_zh"]) == sorted(["东莞市", "中山市", "儋州市", "嘉峪关市"])
    low = pd.concat([county, leaf])
    assert low["migrants_other_province"].sum() == 124_837_153
    assert low["population"].sum() == prov["population"].sum() == 1_409_778_724
    # one empty cell (长汀县, other county) is NA, so that column is short at the lowest level
    assert low["migrants_other_county"].isna().sum() == 1
    assert low["migrants_other_county"].sum() < prov["migrants_other_county"].sum()


def test_2010_migrants_and_age0_ratios(tables):
    """2010 from other provinces 85.88 M (≈ official 85.87 M); age-0 ratios 117.96 (2010), 111.22 (2020)."""
    c = tables["county_census"]
    prov = c[c["level"] == "province"].groupby("census")[["migrants_other_province", "age0_males",
                                                           "age0_females"]].sum()
    assert round(prov.loc[2010, "migrants_other_province"] / 1e6, 2) == 85.88
    ratio = (prov["age0_males"] / prov["age0_females"] * 100).round(2)
    assert (ratio[2010], ratio[2020]) == (117.96, 111.22)


def test_county_hierarchy(tables):
    c = tables["county_census"]
    for census in (2010, 2020):
        d = c[c["census"] == census]
        assert (d["level"] == "province").sum() == 31
        coded = d["region_code"].dropna()
        assert coded.is_unique
        assert (d["province_code"].str[:2] == d["region_code"].fillna(d["province_code"]).str[:2]).all()
        # every prefecture-level row equals the sum of its county-level rows (hierarchy is right)
        pref = d[d["level"] == "prefecture"].set_index("region_code")["population"]
        sums = d[d["level"] == "county"].groupby("prefecture_code")["population"].sum()
        both = pref.index.intersection(sums.index)
        assert len(both) > 330
        pd.testing.assert_series_equal(pref[both], sums[both], check_names=False)
    # derived code of an aggregate without a code in the raw file
    hubei = c[(c["census"] == 2020) & (c["name_zh"] == "省直辖县级行政区划") & (c["province_code"] == "420000")]
    assert hubei["region_code"].tolist() == ["429000"]
    wutai = c[c["name_zh"] == "五台山风景名胜区"]  # raw code 170971 is outside Shanxi: set to NA
    assert wutai["region_code"].isna().all() and (wutai["prefecture_code"] == "140900").all()


def test_missing_age0_cells_stay_missing(tables):
    c = tables["county_census"]
    raw = _raw(build.F_COUNTY[2020], dtype=str)
    assert c.loc[c["census"] == 2020, "age0_males"].isna().sum() == raw["男_0岁"].isna().sum() == 3
    nansha = c[(c["census"] == 2020) & (c["name_zh"] == "南沙群岛")]
    assert nansha["age0_males"].isna().all()
    assert c.loc[c["census"] == 2020, "birth_rate"].isna().all()
    assert c.loc[(c["census"] == 2010) & (c["level"] == "province"), "birth_rate"].notna().all()


# ---------------------------------------------------------------------------------------- other tables
def test_sample_births_by_order(tables):
    s = tables["sample_births_by_order"]
    assert sorted(s["year"].unique()) == [y for y in range(2003, 2016) if y != 2010]  # contaminated 2016 dropped
    w = s.pivot(index="year", columns="birth_order", values="births")
    assert ((w["1"] + w["2"] + w["3+"] - w["all"]).abs() <= 9).all()  # PROVENANCE: ±9 persons
    assert round(w.loc[2015, "2"] / w.loc[2015, "all"] * 100, 1) == 39.8  # 2nd-order share 2015
    assert (s.loc[s["year"].isin([2005, 2015]), "survey"] == "1% population sample survey").all()


def test_contaminated_2016_column_is_not_data():
    """The raw "2016年" column of the first-birth file holds 2015 age shares (4614/93098), so it is dropped."""
    raw = _raw(build.F_SAMPLE["1"], encoding="utf-8-sig").set_index("指标")
    shares = raw["2016年"].dropna()
    assert (shares < 1).all() and len(shares) > 30
    assert shares.iloc[0] == pytest.approx(raw["2015年"].iloc[1] / raw["2015年"].iloc[0])


def test_wpp_china_is_the_same_in_both_tables(tables):
    n = tables["national_series"]
    wpp = n[n["source"] == "UN WPP 2024"].set_index(["indicator", "year"])["value"].sort_index()
    c = tables["countries"]
    china = c[c["country_code"] == 156].set_index(["indicator", "year"])["value"].sort_index()
    pd.testing.assert_series_equal(wpp, china, check_names=False)


def test_monthly_births_deduplicated(tables):
    m = tables["monthly_births"]
    assert not m.duplicated(["area", "year", "month"]).any()
    # Hong Kong monthly births add up to the annual totals (2010 88,584; 2013 57,084; PROVENANCE)
    hk = m[m["area"] == "Hong Kong SAR"].groupby("year")["births"].sum()
    assert (hk[2010], hk[2013], hk[2022]) == (88_584, 57_084, 32_501)
    # duplicated key: Korea April 1997, source years 2002 and 2019 -> the latest (2019) is kept
    kor = m[(m["area"] == "Republic of Korea") & (m["year"] == 1997) & (m["month"] == 4)]
    assert kor[["births", "source_year"]].values.tolist() == [[56_949, 2019]]
    assert (m["date"].dt.day == 1).all() and (m["date"].dt.month == m["month"]).all()


def test_policy_dates_and_migrant_rates(tables):
    p = tables["policy_dates"]
    selective = p[p["policy"] == "selective_two_child_2014"]
    assert selective["region_code"].nunique() == 18  # 31 - 18 = 13 provinces without a sourced date
    assert selective.set_index("region_code")["effective_date"]["330000"] == pd.Timestamp("2014-01-17")
    r = tables["migrant_service_rates"]
    assert len(r) == 36
    assert r["bound"].value_counts().to_dict() == {"=": 32, ">=": 3, ">": 1}
    cmds = r[r["denominator"] == 205_990]
    assert (cmds["numerator"] <= cmds["denominator"]).all()
    assert set(r["region_code"].dropna()) >= {"110000", "460100", "630000"}
