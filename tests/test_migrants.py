"""Tests of analysis.migrants: hand computations on a small synthetic census table (seeded, built here),
and the real county census totals against the published NBS figures (7th census bulletin no. 7 /
NBS 2021-05-11: 492.76 million people living away from their hukou township, 124.84 million of them from
another province; the raw table sums to 492,762,506 and 124,837,153, see data/raw/census-county-city-leiii/
PROVENANCE.md)."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis import migrants, plots
from analysis.exceptions import AnalysisError, ModelSpecificationError


def _synthetic_census(rng) -> pd.DataFrame:
    """Synthetic county_census-shaped table: 2 provinces (one municipality-like with one prefecture unit),
    3 prefectures, 12 counties, 2010 and 2020; province/prefecture rows are sums of their counties."""
    layout = {"110000": {"110100": [f"1101{i:02d}" for i in range(1, 5)]},
              "440000": {"440100": [f"4401{i:02d}" for i in range(1, 5)],
                         "440300": [f"4403{i:02d}" for i in range(1, 5)]}}
    rows = []
    for census in (2010, 2020):
        for prov, prefs in layout.items():
            for pref, counties in prefs.items():
                for c in counties:
                    pop = int(rng.integers(100_000, 1_000_000))
                    share = rng.uniform(0.05, 0.5)
                    m = rng.multinomial(int(pop * share), [0.5, 0.3, 0.2])
                    b0 = int(pop * 0.01)
                    boys = int(rng.binomial(b0, 0.51 + 0.05 * share))
                    rows.append({"census": census, "region_code": c, "name_zh": f"县{c}", "level": "county",
                                 "province_code": prov, "prefecture_code": pref, "population": pop,
                                 "age0_males": boys, "age0_females": b0 - boys,
                                 "migrants_same_county": m[0], "migrants_other_county": m[1],
                                 "migrants_other_province": m[2]})
    df = pd.DataFrame(rows)
    num = ["population", "age0_males", "age0_females", *migrants.ORIGINS.values()]
    pref = df.groupby(["census", "province_code", "prefecture_code"], as_index=False)[num].sum()
    pref = pref.assign(region_code=pref["prefecture_code"], name_zh="市" + pref["prefecture_code"],
                       level="prefecture")
    prov = df.groupby(["census", "province_code"], as_index=False)[num].sum()
    prov = prov.assign(region_code=prov["province_code"], name_zh="省" + prov["province_code"], level="province",
                       prefecture_code=pd.NA)
    out = pd.concat([prov, pref, df], ignore_index=True)
    for c in num:
        out[c] = out[c].astype("Int64")
    return out


@pytest.fixture
def census(rng):
    return _synthetic_census(rng)


def test_burden_shares_by_hand(census):
    b = migrants.burden(census, census=2020)
    row = b[b["region_code"] == "440103"].iloc[0]
    src = census[(census["census"] == 2020) & (census["region_code"] == "440103")].iloc[0]
    total = src["migrants_same_county"] + src["migrants_other_county"] + src["migrants_other_province"]
    assert row["migrants"] == total
    assert row["share"] == pytest.approx(total / src["population"])
    assert row["share_other_province"] == pytest.approx(src["migrants_other_province"] / src["population"])
    assert row["other_province_of_migrants"] == pytest.approx(src["migrants_other_province"] / total)
    nation = b[b["level"] == "nation"].iloc[0]
    provs = census[(census["census"] == 2020) & (census["level"] == "province")]
    assert nation["population"] == provs["population"].sum()
    assert nation["region_code"] == "000000"
    assert len(migrants.burden(census)) == len(census) + 2  # nothing dropped; one nation row per census


def test_change_and_rank(census):
    ch = migrants.change(census)
    row = ch[ch["region_code"] == "110102"].iloc[0]
    b = migrants.burden(census)
    s10 = b[(b["region_code"] == "110102") & (b["census"] == 2010)]["share"].iloc[0]
    s20 = b[(b["region_code"] == "110102") & (b["census"] == 2020)]["share"].iloc[0]
    assert row["change_pp"] == pytest.approx(100 * (s20 - s10))
    ranked = migrants.rank(ch[ch["level"] == "county"], by="share_2020")
    assert ranked["rank"].tolist() == list(range(1, 13))
    assert ranked["share_2020"].is_monotonic_decreasing
    with pytest.raises(AnalysisError):
        migrants.rank(ch, by="nope")


def test_change_keeps_unmatched_codes(census):
    """A county coded differently in 2010 (boundary change) keeps NA for 2020, and vice versa."""
    c = census.copy()
    c.loc[(c["census"] == 2010) & (c["region_code"] == "440304"), "region_code"] = "440399"
    ch = migrants.change(c, level="county")
    assert len(ch) == 13
    assert np.isnan(ch.loc[ch["region_code"] == "440399", "share_2020"]).all()
    assert np.isnan(ch.loc[ch["region_code"] == "440304", "share_2010"]).all()


def test_rankings(census):
    r = migrants.rankings(census)
    assert len(r) == 2 + 3 + 12  # every province, prefecture and county kept
    counties = r[r["level"] == "county"].sort_values("rank_national")
    assert counties["rank_national"].tolist() == list(range(1, 13))
    assert counties["share_2020"].is_monotonic_decreasing
    gd = counties[counties["province_code"] == "440000"].sort_values("rank_in_province")
    assert gd["rank_in_province"].tolist() == list(range(1, 9))
    with pytest.raises(AnalysisError):
        migrants.rankings(census, census=2000)


def test_subunits(census):
    assert set(migrants.subunits("000000", census)["region_code"]) == {"110000", "440000"}
    assert set(migrants.subunits("440000", census)["region_code"]) == {"440100", "440300"}
    # municipality-like province with a single prefecture unit: counties instead
    assert len(migrants.subunits("110000", census)) == 4
    assert len(migrants.subunits("440300", census)) == 4
    assert migrants.subunits("440301", census).empty



def test_prefecture_city_without_counties_has_no_subunits():
    """东莞 (441900) in the real census table: 2010 has one 市辖区 row without a code for the whole city, 2020 none;
    that row is the city itself, not a sub-unit (it made notebook 03 fail on an empty 2020 ranking)."""
    assert migrants.subunits("441900").empty and migrants.subunits("620200").empty
    assert len(migrants.subunits("440300")) >= 9  # a prefecture with districts keeps them


def test_profile(census):
    plots.set_theme("zh")  # legends are measured to place them: with the Chinese font
    res = migrants.profile("440103", census)
    assert res.table["role"].tolist() == ["region", "region", "parent", "parent", "nation", "nation"]
    assert res.table["region_code"].tolist()[2] == "440100"
    r = res.table[res.table["role"] == "region"]
    assert r["change_pp_since_2010"].iloc[1] == pytest.approx(100 * (r["share"].iloc[1] - r["share"].iloc[0]))
    assert np.isnan(r["change_pp_since_2010"].iloc[0])
    nation = migrants.profile("000000", census)
    assert nation.table["role"].unique().tolist() == ["region"]
    fig, ax = plt.subplots()
    assert res.plot(ax=ax, lang="en") is ax
    # English names where the registry has them (the province, the nation); Chinese below province level
    assert [t.get_text() for t in ax.get_xticklabels()][::2] == ["荔湾区\n2010", "广州市\n2010", "China\n2010"]
    fig, ax = plt.subplots()
    migrants.profile("440100", census).plot(ax=ax, lang="zh")
    assert [t.get_text() for t in ax.get_xticklabels()][::2] == ["广州市\n2010", "广东省\n2010", "全国\n2010"]
    fig, ax = plt.subplots()
    migrants.profile("440100", census).plot(ax=ax, lang="en")
    assert [t.get_text() for t in ax.get_xticklabels()][2] == "Guangdong\n2010"
    plt.close("all")
    with pytest.raises(AnalysisError):
        migrants.profile("999999", census)
    text = migrants.describe_profile(res)
    now = res.table[(res.table["role"] == "region") & (res.table["census"] == 2020)].iloc[0]
    assert f"{100 * now['share']:.1f}%" in text and "2010" in text
    assert "its parent region (广州市)" in text and "the nation (China)" in text  # English names where known
    zh = migrants.describe_profile(res, lang="zh")
    then = res.table[(res.table["role"] == "region") & (res.table["census"] == 2010)].iloc[0]
    parent = res.table[(res.table["role"] == "parent") & (res.table["census"] == 2020)].iloc[0]
    assert f"**{100 * now['share']:.1f}%**" in zh and f"{now['population'] / 1e4:.1f} 万常住人口" in zh
    # the nation's totals in 亿 (14.10 亿), not "140,977.9 万"
    nat = migrants.profile("000000")  # the embedded census tables
    n20 = nat.table[(nat.table["census"] == 2020)].iloc[0]
    assert n20["population"] > 1e8 and f"{n20['population'] / 1e8:.2f} 亿常住人口" in migrants.describe_profile(nat, lang="zh")
    nation = res.table[(res.table["role"] == "nation") & (res.table["census"] == 2020)].iloc[0]
    assert f"2010 年该比例为 {100 * then['share']:.1f}%" in zh
    # parent region and nation in one comparison sentence, in both languages
    assert (f"对比：2020 年上级地区（{parent['name_zh']}）为 {100 * parent['share']:.1f}%，全国为 "
            f"{100 * nation['share']:.1f}%。") in zh and zh.count("对比") == 1
    assert (f"For comparison, the 2020 share was {100 * parent['share']:.1f}% in its parent region (广州市) and "
            f"{100 * nation['share']:.1f}% in the nation (China).") in text and text.count("For comparison") == 1
    assert "In 2010" not in zh and migrants.CAVEATS_ZH[migrants.CAVEAT_DEFINITIONS].endswith("仅供参考。")


def test_plot_ranking(census):
    sub = migrants.subunits("440000", census)
    fig, ax = plt.subplots()
    assert migrants.plot_ranking(sub, top_n=1, ax=ax) is ax
    assert len(ax.patches) == 1
    assert ax.get_title(loc="left") == f"比重最高的 1 个单位（共 {sub['share_2020'].notna().sum()} 个）"  # 1 of n shown
    fig, ax = plt.subplots()
    nation_sub = migrants.subunits("000000", census)
    migrants.plot_ranking(nation_sub, ax=ax, lang="en")
    shown = [t.get_text() for t in ax.get_yticklabels()][::-1]
    assert "Guangdong" in shown and "广东省" not in shown and len(shown) == nation_sub["share_2020"].notna().sum()
    assert ax.get_title(loc="left") == ""  # all shown: no "highest k of n"
    plt.close("all")


def test_sex_ratio_relation_matches_statsmodels(census):
    """Reference: statsmodels GLM binomial fitted directly on the synthetic counties, with the Pearson
    dispersion computed by hand (quasi-binomial standard errors = binomial SE × sqrt(phi))."""
    plots.set_theme("zh")  # legends are measured to place them: with the Chinese font
    c = census.copy()
    c.loc[c["region_code"] == "440101", "age0_males"] = pd.NA
    res = migrants.sex_ratio_relation(c, census=2020)
    assert res.params["excluded"] == ["440101"]
    d = migrants.burden(c, census=2020, level="county").dropna(subset=["age0_males"])
    endog = np.column_stack([d["age0_males"].astype(float), d["age0_females"].astype(float)])
    model = sm.GLM(endog, sm.add_constant(10 * d["share"].to_numpy()), family=sm.families.Binomial())
    fit1 = model.fit()
    # Pearson dispersion by hand: sum (y − n·p)² / (n·p·(1 − p)) / (units − 2)
    n = endog.sum(axis=1)
    p = fit1.fittedvalues
    phi = np.sum((endog[:, 0] - n * p) ** 2 / (n * p * (1 - p))) / (len(n) - 2)
    assert res.dispersion == pytest.approx(phi)
    ref = model.fit(scale=phi)
    assert res.table["estimate"].to_numpy() == pytest.approx(ref.params)
    assert res.table["se"].to_numpy() == pytest.approx(ref.bse)
    assert res.table.loc[1, "ratio"] == pytest.approx(np.exp(ref.params[1]))
    assert "Ecological" in res.method and "proxy" in res.caveat
    fig, ax = plt.subplots()
    assert res.plot(ax=ax) is ax
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "各单位（面积∝0岁人口）", "拟二项 GLM 拟合", "95%置信区间", "参照值 106"]
    fig, ax = plt.subplots()
    migrants.sex_ratio_relation(c, census=2020, alpha=0.1).plot(ax=ax, lang="en", reference=106)
    assert [t.get_text() for t in ax.get_legend().get_texts()][2:] == ["90% CI", "Reference 106"]
    # units outside the y-range (the extreme 1 %) are counted on the figure, never silently dropped
    lo, hi = ax.get_ylim()
    sr = res.data["sex_ratio"]
    out = sr[(sr < lo) | (sr > hi)]
    notes = [t.get_text() for t in ax.texts if "outside the y-range" in t.get_text()]
    if len(out):
        assert notes == [f"{len(out)} {'unit' if len(out) == 1 else 'units'} outside the y-range not shown ({out.min():.1f}–{out.max():.1f})"]
    else:
        assert notes == []
    # the run's own units outlined and named in the legend; the others drawn as before
    fig, ax = plt.subplots()
    mine = res.data["region_code"].iloc[:3].tolist()
    res.plot(ax=ax, lang="en", highlight=pd.Series(mine + ["999999"]), highlight_label="Shenzhen (3 units)")
    ring = [c for c in ax.collections if c.get_label() == "Shenzhen (3 units)"]
    assert len(ring) == 1 and len(ring[0].get_offsets()) == 3
    assert np.allclose(ring[0].get_offsets()[:, 0], 100 * res.data["x_share"].iloc[:3])
    assert "Shenzhen (3 units)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")
    with pytest.raises(ModelSpecificationError):
        migrants.sex_ratio_relation(c, origin="abroad")


def _with_slope(res, ratio, lower, upper):
    table = res.table.copy()
    table.loc[1, ["ratio", "lower", "upper"]] = [ratio, lower, upper]
    return dataclasses.replace(res, table=table)


def test_describe_sex_ratio_relation_by_direction(census):
    """The slope is phrased by its direction ("0.26% lower"), never as a signed "-0.26% different", with the
    interval on the same footing, the units left out and the caveat (the age-0 ratio is a proxy for the SRB)."""
    c = census.copy()
    c.loc[c["region_code"] == "440101", "age0_males"] = pd.NA
    c.loc[c["region_code"] == "440102", "migrants_other_county"] = pd.NA  # no migrant share (长汀县 2020 in the data)
    res = migrants.sex_ratio_relation(c, census=2020)
    lower = _with_slope(res, 0.9974, 0.9964, 0.9984)
    text = migrants.describe_sex_ratio_relation(lower)
    assert "is associated with a 0.26% lower age-0 sex ratio (95% CI 0.16% to 0.36% lower, p = " in text
    assert "different" not in text and "-0." not in text
    assert ("2 units without age-0 counts or a migrant share were left out: 县440101 (440101; no age-0 count), "
            "县440102 (440102; no migrant share).") in text
    assert "**Caveat:**" in text and "proxy for the sex ratio at birth" in text
    zh = migrants.describe_sex_ratio_relation(lower, lang="zh")
    assert "人户分离人口比重每高 10 个百分点，0 岁人口性别比低 0.26%（95% 置信区间为低 0.16% 至 0.36%，p = " in zh
    assert "出生性别比的代理指标" in zh and "相差" not in zh
    assert "2 个缺少 0 岁人口数或人户分离比重的单位未纳入：县440101（440101；缺 0 岁人口数）、县440102（440102；缺人户分离比重）。" in zh
    higher = migrants.describe_sex_ratio_relation(_with_slope(res, 1.0039, 1.0018, 1.0059))
    assert "a 0.39% higher age-0 sex ratio (95% CI 0.18% to 0.59% higher" in higher
    both = _with_slope(res, 1.0005, 0.999, 1.002)  # the interval spans no difference
    assert "a 0.05% higher age-0 sex ratio (95% CI 0.10% lower to 0.20% higher" in migrants.describe_sex_ratio_relation(both)
    assert "高 0.05%（95% 置信区间为低 0.10% 至高 0.20%" in migrants.describe_sex_ratio_relation(both, lang="zh")
    assert "; the interval includes 0%, so no clear association." in migrants.describe_sex_ratio_relation(both)
    assert "；区间包含零，未显示明确的关联。" in migrants.describe_sex_ratio_relation(both, lang="zh")
    assert "no clear association" not in text and "未显示明确的关联" not in zh
    real = res.table.loc[1]
    direction = "lower" if real["ratio"] < 1 else "higher"
    assert f"a {abs(100 * (real['ratio'] - 1)):.2f}% {direction} age-0 sex ratio" in migrants.describe_sex_ratio_relation(res)


# ------------------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def real():
    from analysis.data import load

    return load("county_census")


def test_real_2020_totals_match_nbs(real):
    """NBS 2020: 492.76 M away from hukou township; 124.84 M from another province (published, rounded)."""
    nation = migrants.burden(real, census=2020, level="nation").iloc[0]
    assert nation["migrants"] == 492_762_506
    assert round(nation["migrants"] / 1e6, 2) == 492.76
    assert nation["other_province"] == 124_837_153
    assert round(nation["other_province"] / 1e6, 2) == 124.84


def test_real_lowest_units_cover_the_nation_once(real):
    """County rows plus prefecture cities without counties add up to the national population exactly; migrant
    counts too where every county row has them (rows lacking migrant counts are kept as NA: 2010 in Hainan,
    Tibet and Qinghai; 2020 长汀县 and two Hainan island rows)."""
    for census in (2010, 2020):
        low = migrants.burden(real, census=census, level="lowest")
        nation = migrants.burden(real, census=census, level="nation").iloc[0]
        assert low["population"].sum() == nation["population"]
        prov = migrants.burden(real, census=census, level="province").set_index("region_code")["migrants"]
        complete = low.groupby("province_code")["migrants"].agg(lambda v: v.notna().all())
        sums = low.groupby("province_code")["migrants"].sum()
        assert (sums[complete] == prov[complete.index[complete]]).all()
        incomplete = {2010: {"460000", "540000", "630000"}, 2020: {"350000", "460000"}}[census]
        assert set(complete.index[~complete]) == incomplete
    assert "441900" in set(migrants.burden(real, census=2020, level="lowest")["region_code"])  # 东莞


def test_real_2010_other_province(real):
    """2010 from another province: 85,876,337 (raw table sum; PROVENANCE: ≈ official 85.87 M)."""
    nation = migrants.burden(real, census=2010, level="nation").iloc[0]
    assert nation["other_province"] == 85_876_337


def test_real_relation_runs(real):
    res = migrants.sex_ratio_relation(real, census=2020)
    assert res.params["n_units"] > 2500
    assert res.dispersion > 1  # counties vary far more than binomial sampling allows
