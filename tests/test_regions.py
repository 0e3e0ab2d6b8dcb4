"""Region registry: built from the 2010/2020 county census tables in data/raw/census-county-city-leiii.

Reference values (codes, names) are GB/T 2260 codes as printed in those census tables; English province
names come from data/raw/policy-dates, data/raw/migrant-service-coverage and the Miao-Liao NBS export.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.config import NATION_CODE, RAW_DIR
from analysis.data import regions
from analysis.data.regions import AmbiguousRegionError, Region, build_regions, lookup
from analysis.exceptions import AnalysisError, RegionNotFoundError


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return build_regions(RAW_DIR)


# ------------------------------------------------------------------------------------------ the table


def test_columns_and_dtypes(table):
    assert list(table.columns) == regions.COLUMNS
    assert table["code"].str.fullmatch(r"\d{6}").all()
    assert set(table["level"]) == {"nation", "province", "prefecture", "county"}
    assert table["in_2010"].dtype == bool and table["in_2020"].dtype == bool


def test_codes_unique_and_sorted(table):
    assert table["code"].is_unique
    assert table["code"].is_monotonic_increasing


def test_exactly_31_provinces_all_with_english_names(table):
    prov = table[table["level"] == "province"]
    assert len(prov) == 31
    assert prov["name_en"].notna().all()
    assert prov["name_en"].is_unique
    # typos of the Miao-Liao workbook are fixed; the other sources win where they exist
    names = dict(zip(prov["code"], prov["name_en"], strict=True))
    assert names["150000"] == "Inner Mongolia"
    assert names["500000"] == "Chongqing"
    assert names["540000"] == "Tibet (Xizang)"
    assert names["610000"] == "Shaanxi" and names["140000"] == "Shanxi"
    assert table.loc[table["level"].isin(["prefecture", "county"]), "name_en"].isna().all()


def test_nation_row(table):
    nation = table[table["level"] == "nation"]
    assert nation["code"].tolist() == [NATION_CODE]
    assert nation["name_zh"].item() == "全国" and nation["name_en"].item() == "China"
    assert nation["parent_code"].isna().all()


def test_every_parent_exists_and_levels_nest(table):
    by_code = table.set_index("code")
    kids = table[table["level"] != "nation"]
    assert kids["parent_code"].isin(table["code"]).all()
    parent_level = by_code.loc[kids["parent_code"], "level"].to_numpy()
    order = {"nation": 0, "province": 1, "prefecture": 2, "county": 3}
    assert all(order[p] < order[c] for p, c in zip(parent_level, kids["level"], strict=True))
    assert kids["province_code"].isin(table.loc[table["level"] == "province", "code"]).all()


def test_census_membership_counts(table):
    """Coded rows of the raw tables: 3,312 in 2020 and 3,221 in 2010 (plus the nation)."""
    assert table["in_2020"].sum() == 3312 + 1
    assert table["in_2010"].sum() == 3221 + 1
    assert (table["in_2010"] | table["in_2020"]).all()


def test_short_names_of_provinces(table):
    short = dict(zip(table["name_zh"], table["short_zh"], strict=True))
    assert short["广东省"] == "广东"
    assert short["内蒙古自治区"] == "内蒙古"
    assert short["新疆维吾尔自治区"] == "新疆"
    assert short["广西壮族自治区"] == "广西"
    assert short["宁夏回族自治区"] == "宁夏"
    assert short["北京市"] == "北京"


def test_2010_typo_fu_for_shi_is_fixed(table):
    """The 2010 table writes 巿 (U+5DFF) for 市 in some names, e.g. 泊头巿 (130981)."""
    assert not table["name_zh"].str.contains("巿").any()
    assert table.set_index("code").at["130981", "name_zh_2010"] == "泊头市"


def test_2020_names_take_precedence(table):
    t = table.set_index("code")
    assert t.at["420600", "name_zh"] == "襄阳市"
    assert t.at["420600", "name_zh_2010"] == "襄樊市"


def test_code_outside_gbt2260_gets_its_province_from_the_names(table):
    """170971 五台山风景名胜区 is listed under 山西省 忻州市 (140900) in the 2020 table."""
    row = table.set_index("code").loc["170971"]
    assert row["province_code"] == "140000" and row["parent_code"] == "140900"


# ------------------------------------------------------------------------------------------- lookups


@pytest.mark.parametrize("query", [44, "44", "4400", "440000", "广东", "广东省", "Guangdong", "guangdong",
                                   " GUANGDONG ", "Guangdong Province", "４４"])
def test_lookup_guangdong(query):
    reg = lookup(query)
    assert isinstance(reg, Region)
    assert (reg.code, reg.name_zh, reg.level, reg.name_en) == ("440000", "广东省", "province", "Guangdong")
    assert reg.parent_code == NATION_CODE and reg.province_code == "440000"


@pytest.mark.parametrize(("query", "code"), [
    ("内蒙古", "150000"), ("内蒙古自治区", "150000"), ("Inner Mongolia", "150000"), ("inner-mongolia", "150000"),
    ("北京", "110000"), ("北京市", "110000"), (11, "110000"), ("新疆", "650000"), ("Tibet", "540000"),
    ("Xizang", "540000"), ("全国", NATION_CODE), ("China", NATION_CODE), ("nation", NATION_CODE),
    ("000000", NATION_CODE), (0, NATION_CODE),
    (4401, "440100"), ("4401", "440100"), (440000.0, "440000"), ("广州", "440100"), ("广州市", "440100"),
    (440106, "440106"), ("天河区", "440106"),
    ("吉林", "220000"), ("吉林市", "220200"),          # a province beats a city of the same short name
    ("邯郸", "130400"),                                # 邯郸县 was abolished before 2020
    ("襄樊市", "420600"),                              # 2010 name
    ("泊头巿", "130981"),                              # the 2010 typo in a query
])
def test_lookup_variants(query, code):
    assert lookup(query).code == code


def test_lookup_accepts_a_region():
    reg = lookup("广东")
    assert lookup(reg) is reg


def test_ambiguous_county_lists_candidates_with_codes():
    with pytest.raises(AmbiguousRegionError) as info:
        lookup("朝阳区")
    msg = str(info.value)
    assert "110105" in msg and "220104" in msg and "北京市" in msg and "吉林省" in msg
    assert isinstance(info.value, RegionNotFoundError)
    assert info.value.candidates == ["110105", "220104"]


def test_within_disambiguates():
    assert lookup("朝阳区", within="北京").code == "110105"
    assert lookup("朝阳区", within="长春市").code == "220104"
    with pytest.raises(RegionNotFoundError, match="within"):
        lookup("朝阳区", within="广东")


@pytest.mark.parametrize(("query", "suggested"), [("Guangdon", "440000"), ("深训", "440300"),
                                                  ("Shanxii", "140000"), ("广卅", "440100")])
def test_unknown_name_suggests_close_matches(query, suggested):
    with pytest.raises(RegionNotFoundError, match="did you mean") as info:
        lookup(query)
    assert suggested in str(info.value)
    assert not isinstance(info.value, AmbiguousRegionError)


@pytest.mark.parametrize("query", ["990000", 99, "12345", "", 1.5, None, True])
def test_unknown_or_malformed_code(query):
    with pytest.raises(RegionNotFoundError):
        lookup(query)


def test_region_name_helper():
    assert lookup(44).name("en") == "Guangdong"
    assert lookup(44).name("zh") == "广东省"
    assert lookup(440106).name("en") == "天河区"  # no English below province: Chinese
    with pytest.raises(AnalysisError):
        lookup(44).name("fr")


# -------------------------------------------------------------------------------- children / parent


def test_children_and_parent():
    prefs = regions.children("广东")
    assert len(prefs) == 21 and (prefs["level"] == "prefecture").all()
    assert "440100" in set(prefs["code"])
    assert len(regions.children(NATION_CODE)) == 31
    counties = regions.children(44, "county", census=2020)
    assert (counties["province_code"] == "440000").all() and counties["in_2020"].all()
    assert set(regions.children("440100")["code"]) >= {"440106"}
    assert regions.parent("440106").code == "440100"
    assert regions.parent(44).code == NATION_CODE
    assert regions.parent(NATION_CODE) is None
    with pytest.raises(AnalysisError, match="level"):
        regions.children(44, "district")


def test_provinces():
    p = regions.provinces()
    assert len(p) == 31 and p["code"].is_monotonic_increasing


def test_lookup_matches_the_table(table):
    """Every province and prefecture coded in 2020 resolves by its own name or code to itself."""
    for code in table.loc[table["level"] == "province", "code"]:
        row = table.set_index("code").loc[code]
        assert lookup(code).code == code
        assert lookup(row["name_zh"]).code == code
        assert lookup(row["short_zh"]).code == code
        assert lookup(row["name_en"]).code == code


# -------------------------------------------------------------------------------------------- slugs


def test_safe_slug():
    assert regions.safe_slug("440106") == "440106"
    assert regions.safe_slug(lookup(44)) == "440000"
    assert lookup(44).slug == "440000"
    for bad in ["../etc", "44 00", "广东", "a/b", "", "44\x00"]:
        with pytest.raises(AnalysisError):
            regions.safe_slug(bad)


def test_lookup_registry_equals_the_build(table):
    """Lookups use data/processed/regions.parquet when it is fresh: it must hold what build_regions makes."""
    used = regions._registry().table.reset_index(drop=True)
    pd.testing.assert_frame_equal(used[regions.COLUMNS], table, check_dtype=False)


def test_fresh_parquet_is_used_stale_one_is_not(tmp_path, monkeypatch):
    """A regions.parquet newer than its sources is read; an older one is ignored (built in memory)."""
    import os

    path = tmp_path / "regions.parquet"
    build_regions(RAW_DIR).head(3).to_parquet(path)  # 3 rows: tells which table was used
    monkeypatch.setattr(regions, "PROCESSED_DIR", tmp_path)
    try:
        regions._registry.cache_clear()
        assert len(regions._registry().table) == 3
        os.utime(path, (0, 0))
        regions._registry.cache_clear()
        assert len(regions._registry().table) > 3000
    finally:
        regions._registry.cache_clear()


def test_every_name_resolves_to_itself_or_is_reported_ambiguous(table):
    """No unit's own Chinese name is 'not found'; a non-unique name lists the unit among its candidates."""
    for code, name in zip(table["code"], table["name_zh"], strict=True):
        try:
            found = lookup(name).code
        except AmbiguousRegionError as err:
            assert code in err.candidates or not table.set_index("code").at[code, "in_2020"], (code, name)
            continue
        if found != code:  # the name is shared; the one picked is current (2020) or a province
            t = table.set_index("code")
            assert regions.normalize_name(name) in regions.names_of(found), (code, name, found)
            assert t.at[found, "in_2020"] or t.at[found, "level"] == "province", (code, name, found)


def test_display_names_english_where_known():
    """English for the nation and provinces, Chinese below (no English names there), the fallback for a code the
    registry does not hold; a wrong language or a fallback of another length is an error."""
    assert regions.display_names(["000000", "440000", "440300"], "en") == ["China", "Guangdong", "深圳市"]
    assert regions.display_names(["440000", "440300"]) == ["广东省", "深圳市"]
    # short Chinese names for crowded labels; English names are already short
    assert regions.display_names(["650000", "150000", "440300"], short=True) == ["新疆", "内蒙古", "深圳"]
    assert regions.display_names(["650000"], "en", short=True) == ["Xinjiang"]
    assert regions.display_names(["990000", "440000"], "en", fallback=["自定义", "x"]) == ["自定义", "Guangdong"]
    assert regions.display_names(["990000"], "en") == ["990000"]
    with pytest.raises(AnalysisError, match="lang"):
        regions.display_names(["440000"], "fr")
    with pytest.raises(AnalysisError, match="2 codes but 1 fallback"):
        regions.display_names(["440000", "440300"], fallback=["a"])


def test_lowest_units_cover_the_country_once():
    """Counties plus prefecture cities without counties (东莞, 中山, 儋州, 嘉峪关 in 2020): their age-0 counts and
    population add up to the provinces' own rows in each census."""
    from analysis import data

    c = data.load("county_census")
    low = c[regions.lowest_units(c)]
    cols = ["age0_males", "age0_females", "population"]
    by_census = low.groupby("census")[cols].sum()
    assert by_census.equals(c[c["level"] == "province"].groupby("census")[cols].sum())
    cities = set(low.loc[(low["census"] == 2020) & (low["level"] == "prefecture"), "name_zh"])
    assert {"东莞市", "中山市"} <= cities and "广州市" not in cities
    with pytest.raises(AnalysisError, match="prefecture_code"):
        regions.lowest_units(c.drop(columns="prefecture_code"))


def test_county_level_units_add_the_prefecture_cities_without_counties():
    units = regions.county_level_units("440000")
    assert {"441900", "442000"} <= set(units["code"]) and "440300" not in set(units["code"])
    assert units["code"].is_monotonic_increasing
    assert len(units) == len(regions.children("440000", "county")) + 2
