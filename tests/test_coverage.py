"""Tests of analysis.coverage against scipy (exact binomial test, chi-square), statsmodels (proportion
intervals, multipletests, GLM) and hand computations. Synthetic data are seeded (20261124)."""

from __future__ import annotations

import math
import unicodedata

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis import coverage
from analysis.exceptions import DataValidationError, ModelSpecificationError


@pytest.fixture
def records(rng):
    """Synthetic seeded records: 12 units, 2 periods, one service."""
    units = [f"U{i:02d}" for i in range(12)]
    rows = []
    for period in ("2018", "2019"):
        for i, u in enumerate(units):
            n = int(rng.integers(50, 2000))
            p = 0.80 + 0.012 * i
            rows.append({"unit": u, "period": period, "service": "e-filing", "eligible": n,
                         "served": int(rng.binomial(n, p)), "target": 0.85})
    return pd.DataFrame(rows)


def test_intervals_match_statsmodels():
    """Reference: statsmodels.stats.proportion.proportion_confint (wilson, beta = Clopper–Pearson)."""
    x = np.array([0, 1, 17, 50, 99, 100])
    n = np.array([100, 100, 40, 100, 100, 100])
    lo, hi = coverage.proportion_interval(x, n, alpha=0.05)
    ref_lo, ref_hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert np.allclose(lo, ref_lo) and np.allclose(hi, ref_hi)
    lo, hi = coverage.proportion_interval(x, n, alpha=0.1, method="exact")
    ref_lo, ref_hi = proportion_confint(x, n, alpha=0.1, method="beta")
    assert np.allclose(lo, np.nan_to_num(ref_lo)) and np.allclose(hi, np.nan_to_num(ref_hi, nan=1.0))
    with pytest.raises(ModelSpecificationError):
        coverage.proportion_interval(x, n, method="wald")


@pytest.mark.parametrize("method,sm_name", [("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")])
def test_adjust_pvalues_matches_multipletests(rng, method, sm_name):
    """Reference: statsmodels.stats.multitest.multipletests (includes ties and p = 1)."""
    p = np.concatenate([rng.uniform(0, 0.1, 15), rng.uniform(0, 1, 15), [0.01, 0.01, 1.0]])
    ours = coverage.adjust_pvalues(p, method=method)
    ref = multipletests(p, method=sm_name)[1]
    assert np.allclose(ours, ref)
    assert np.array_equal(coverage.adjust_pvalues(p, method="none"), p)
    with pytest.raises(ModelSpecificationError):
        coverage.adjust_pvalues(p, method="sidak")


def test_vs_target_against_scipy(records):
    """p-values: scipy.stats.binomtest(k, n, target, alternative='greater'); Holm via multipletests."""
    res = coverage.vs_target(records, by=["unit", "period"])
    t = res.table
    assert len(t) == len(records)
    ref = [stats.binomtest(int(k), int(n), 0.85, alternative="greater").pvalue
           for k, n in zip(records["served"], records["eligible"], strict=True)]
    assert np.allclose(t["p_value"], ref)
    assert np.allclose(t["p_adjusted"], multipletests(ref, method="holm")[1])
    assert np.allclose(t["gap_pp"], 100 * (records["served"] / records["eligible"] - 0.85))
    sig = t["p_adjusted"] < 0.05
    assert set(t.loc[sig, "verdict"]) <= {"above"}
    assert set(t.loc[~sig, "verdict"]) == {"not distinguishable"}
    assert "Holm" in res.method and "Wilson" in res.method
    less = coverage.vs_target(records, alternative="less", correction="bh")
    ref_less = [stats.binomtest(int(k), int(n), 0.85, alternative="less").pvalue
                for k, n in zip(records["served"], records["eligible"], strict=True)]
    assert np.allclose(less.table["p_value"], ref_less)
    assert set(less.table.loc[less.table["p_adjusted"] < 0.05, "verdict"]) <= {"below"}
    two = coverage.vs_target(records, alternative="two-sided", correction="none", interval="exact")
    assert two.table.loc[0, "p_value"] == pytest.approx(
        stats.binomtest(int(records.loc[0, "served"]), int(records.loc[0, "eligible"]), 0.85).pvalue)


def test_vs_target_design_effect_uses_kish_effective_sample_size():
    """Design effect 2 on 300 of 1,000 served: intervals and tests of 150 of 500 (Kish: n / deff) — statsmodels'
    Wilson interval and scipy's exact test on those counts; the reported counts and rate stay as published."""
    df = pd.DataFrame({"unit": ["a", "b"], "served": [300, 7], "eligible": [1000, 9], "target": [0.25, 0.5]})
    plain = coverage.vs_target(df, alternative="two-sided")
    res = coverage.vs_target(df, alternative="two-sided", design_effect=2)
    row = res.table.iloc[0]
    assert (row["served"], row["eligible"], row["eligible_effective"], row["rate"]) == (300, 1000, 500, 0.3)
    lo, hi = proportion_confint(150, 500, alpha=0.05, method="wilson")
    assert (row["lower"], row["upper"]) == pytest.approx((lo, hi))
    assert row["p_value"] == pytest.approx(stats.binomtest(150, 500, 0.25).pvalue)
    assert row["p_value"] > plain.table.loc[0, "p_value"] and row["upper"] - row["lower"] > (
        plain.table.loc[0, "upper"] - plain.table.loc[0, "lower"])
    # 7 of 9 with deff 2: effective n = round(4.5) = 4, served = round(7/9 · 4) = 3
    assert res.table.loc[1, "eligible_effective"] == 4
    assert res.table.loc[1, "p_value"] == pytest.approx(stats.binomtest(3, 4, 0.5).pvalue)
    assert "effective sample size n / 2" in res.method and "design effect 1" in plain.method
    assert (plain.table["eligible_effective"] == plain.table["eligible"]).all()
    for bad in (0, -1, float("nan"), "2"):
        with pytest.raises(ModelSpecificationError, match="design_effect"):
            coverage.vs_target(df, design_effect=bad)


def test_vs_target_by_sums_rows(records):
    res = coverage.vs_target(records, by="unit")
    assert len(res.table) == 12
    first = records[records["unit"] == "U00"]
    assert res.table.loc[0, "served"] == first["served"].sum()
    assert res.table.loc[0, "eligible"] == first["eligible"].sum()
    bad = records.copy()
    bad.loc[0, "target"] = 0.9
    with pytest.raises(DataValidationError, match="different targets"):
        coverage.vs_target(bad, by="unit")


def test_unit_exactly_at_target_and_extremes():
    """A unit exactly at target: gap 0, P(X ≥ 85 | n=100, 0.85) = 0.5683 (scipy), not distinguishable.
    0 % and 100 % rates: interval touches 0 / 1; P(X ≥ 100 | 0.85) = 0.85**100 (hand)."""
    df = pd.DataFrame({"unit": ["at", "zero", "full"], "served": [85, 0, 100], "eligible": [100, 100, 100],
                       "target": [0.85, 0.85, 0.85]})
    t = coverage.vs_target(df, correction="none").table
    assert t.loc[0, "gap_pp"] == pytest.approx(0.0, abs=1e-12)
    assert t.loc[0, "p_value"] == pytest.approx(stats.binom.sf(84, 100, 0.85))
    assert t.loc[0, "verdict"] == "not distinguishable"
    assert t.loc[1, "lower"] == 0.0 and t.loc[1, "p_value"] == 1.0
    assert t.loc[2, "upper"] == 1.0
    assert t.loc[2, "p_value"] == pytest.approx(0.85**100)
    assert t.loc[2, "verdict"] == "above"
    t_less = coverage.vs_target(df, alternative="less", correction="none").table
    assert t_less.loc[1, "p_value"] == pytest.approx(0.15**100)
    assert t_less.loc[1, "verdict"] == "below"


def test_bad_input_errors(records):
    bad = records.copy()
    bad.loc[3, "eligible"] = 0
    bad.loc[3, "served"] = 0
    with pytest.raises(DataValidationError, match=r"row 5: column 'eligible': eligible is 0"):
        coverage.vs_target(bad)
    bad = records.copy()
    bad.loc[1, "served"] = bad.loc[1, "eligible"] + 1
    with pytest.raises(DataValidationError, match="more people served than eligible"):
        coverage.vs_target(bad)
    bad = records.copy()
    bad["target"] = 85.0
    with pytest.raises(DataValidationError, match="percentage"):
        coverage.vs_target(bad)
    bad = records.copy()
    bad["served"] = bad["served"].astype(float)
    bad.loc[2, "served"] = np.nan
    with pytest.raises(DataValidationError, match="row 4"):
        coverage.vs_target(bad)
    with pytest.raises(ModelSpecificationError):
        coverage.vs_target(records, alternative="bigger")


def test_funnel_positions(records):
    res = coverage.funnel(records[records["period"] == "2018"], target=0.85)
    ref = coverage._funnel.classify(
        records.loc[records["period"] == "2018", "served"], records.loc[records["period"] == "2018", "eligible"],
        0.85)
    assert res.table["position_95"].tolist() == ref["position_95"].tolist()
    assert res.table["unit"].tolist() == [f"U{i:02d}" for i in range(12)]
    fig, ax = plt.subplots()
    assert res.plot(ax=ax, lang="en") is ax


def test_compare_two_units_by_hand():
    """Two units, one period: the GLM odds ratio equals (a/b)/(c/d); the LR statistic equals the G-test
    statistic of scipy.stats.chi2_contingency(lambda_='log-likelihood'); Pearson chi-square as scipy."""
    df = pd.DataFrame({"unit": ["A", "B"], "period": ["2018", "2018"], "served": [80, 60], "eligible": [100, 100]})
    res = coverage.compare(df)
    table = np.array([[80, 20], [60, 40]])
    or_b = (60 / 40) / (80 / 20)
    row = res.table[res.table["term"] == "unit=B"].iloc[0]
    assert row["odds_ratio"] == pytest.approx(or_b)
    g = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")[0]
    lr = res.tests[res.tests["scope"] == "unit"].iloc[0]
    assert lr["statistic"] == pytest.approx(g, rel=1e-6)
    pear = res.tests[res.tests["test"].str.startswith("Pearson")].iloc[0]
    assert pear["statistic"] == pytest.approx(stats.chi2_contingency(table, correction=False)[0])


def test_compare_units_and_periods(records):
    res = coverage.compare(records, scale="quasi")
    binom = coverage.compare(records)
    # quasi-binomial SE = binomial SE × sqrt(Pearson chi-square / residual df)
    assert res.table["se"].to_numpy() == pytest.approx(binom.table["se"].to_numpy() * np.sqrt(binom.dispersion))
    assert {"unit", "period"} <= set(res.tests["scope"])
    assert res.dispersion > 0
    assert "quasi" in res.method
    fig, ax = plt.subplots()
    assert res.plot(ax=ax) is ax
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Odds ratio, 95% CI"]
    fig, ax = plt.subplots()
    coverage.compare(records, alpha=0.1).plot(ax=ax, lang="zh")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["比值比（OR）（90%置信区间）"]
    assert ax.get_xlabel() == "比值比（OR）"
    plt.close("all")
    with pytest.raises(ModelSpecificationError):
        coverage.compare(records.iloc[:1])


def test_check_reported_consistency_and_min_n():
    """Haikou-like statement 96.61 % vs a target of 95 % 'by 1.61 points': consistent. The minimum n is
    checked by brute force with scipy.stats.binomtest (served rounded either way, floor and ceiling of rate·n)."""
    res = coverage.check_reported("96.61", target="95", margin_pp="1.61")
    row = res.table.iloc[0]
    assert bool(row["consistent"]) is True
    n = int(row["min_eligible"])
    assert n == _brute_min_n(0.9661, 0.95, "greater")
    assert all(stats.binomtest(x, n, 0.95, alternative="greater").pvalue < 0.05
               for x in (math.floor(0.9661 * n), math.ceil(0.9661 * n)))
    # a tiny sample cannot make a 13.92 % rate significant against 85 % by rounding it to 0 of 2 (two-sided):
    # 1 of 2 (50 %) and 1 of 3 are not significant, 0 and 1 of 4 both are (hand computation with scipy)
    tiny = coverage.check_reported(13.92, target=85, alternative="two-sided").table.iloc[0]
    assert stats.binomtest(1, 3, 0.85).pvalue >= 0.05 and stats.binomtest(1, 4, 0.85).pvalue < 0.05
    assert tiny["min_eligible"] == 4
    assert "No denominator was reported" in row["statement"]

    bad = coverage.check_reported(96.61, target=95, margin_pp=2.5).table.iloc[0]
    assert bool(bad["consistent"]) is False and bad["statement"].startswith("INCONSISTENT")

    implied = coverage.check_reported(96.61, margin_pp=1.61, eligible=2000).table.iloc[0]
    assert implied["target_pct"] == pytest.approx(95.0)
    k = round(0.9661 * 2000)
    assert implied["p_value"] == pytest.approx(stats.binomtest(k, 2000, 0.95, alternative="greater").pvalue)


def test_check_reported_statements_in_chinese():
    """The same checks, each sentence in Chinese with the same numbers (19: 0.85**19 < 0.05 ≤ 0.85**18)."""
    t = coverage.check_reported([100, 60, "96.61", 96.5], target=[85, 85, "95", None], margin_pp=[None, None, "2.5", None],
                                lang="zh").table  # fmt: skip
    assert t.loc[0, "statement"] == "未报告分母，无法判断显著性。应服务人数达到 19 及以上时，该差距即在 α = 0.05 水平上显著。"
    assert t.loc[1, "statement"] == "该比率未超过目标（85%）。"
    assert t.loc[2, "statement"].startswith("不一致：96.61% − 95% = 1.61 个百分点，但报告为 2.5 个百分点。")
    assert t.loc[3, "statement"] == "报告的比率 96.5% 没有目标或差距：无可检验。"
    assert coverage.check_reported(100, target=85, eligible=30, lang="zh").table.loc[0, "statement"].startswith(
        "符合条件 30 人时，差距显著（精确单侧 p = ")
    with pytest.raises(ModelSpecificationError, match="lang"):
        coverage.check_reported(90, target=85, lang="fr")


def test_check_reported_vectorised_and_edge_cases():
    res = coverage.check_reported([100, 85, 60], target=[85, 85, 85])
    t = res.table
    # 100 % vs 85 %: 0.85**n < 0.05 first at n = 19 (0.85**18 = 0.0536, 0.85**19 = 0.0456)
    assert t.loc[0, "min_eligible"] == 19
    assert np.isnan(t.loc[1, "min_eligible"]) and np.isnan(t.loc[2, "min_eligible"])
    assert "does not exceed" in t.loc[2, "statement"]
    only_rate = coverage.check_reported(96.5).table.iloc[0]
    assert "without a target" in only_rate["statement"]
    with pytest.raises(DataValidationError, match="percentage"):
        coverage.check_reported(120, target=85)
    with pytest.raises(DataValidationError, match="eligible"):
        coverage.check_reported(90, target=85, eligible=0)
    with pytest.raises(DataValidationError) as err:  # a list: its third statement is row 4 (header = row 1)
        coverage.check_reported([90, 91, "9x"], target=85)
    assert err.value.rows == [4] and err.value.column == "rate"
    table = pd.DataFrame({"rate": ["90", "91", "120"]}, index=pd.Index([2, 3, 7], name="row"))  # as read_user_table
    with pytest.raises(DataValidationError) as err:
        coverage.check_reported(table["rate"], target=85)
    assert err.value.rows == [7]


def _brute_min_n(rate, target, alternative, alpha=0.05, hi=2000):
    """Smallest n from which on (up to hi) scipy.stats.binomtest finds both floor(rate·n) and ceil(rate·n) of n
    significantly different from target in the direction of rate − target."""
    last = 0
    for n in range(1, hi + 1):
        for x in {math.floor(rate * n), math.ceil(rate * n)}:
            p = stats.binomtest(x, n, target, alternative=alternative).pvalue
            if not (p < alpha and ((x > target * n) if rate > target else (x < target * n))):
                last = n
    return last + 1


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_check_reported_min_n_uses_the_alternative(alternative):
    """The minimum n follows the test of vs_target (its alternative), checked by brute force with scipy;
    with the old one-sided-only search the two-sided minimum for 100 % vs 85 % was 19, not 23."""
    rates, target = [100, 90, 60, 40], 85
    t = coverage.check_reported(rates, target=target, alternative=alternative).table
    for rate, got in zip(rates, t["min_eligible"], strict=True):
        tested = (rate > target and alternative != "less") or (rate < target and alternative != "greater")
        if tested:
            assert got == _brute_min_n(rate / 100, target / 100, alternative), (rate, alternative)
        else:
            assert np.isnan(got)
    if alternative == "two-sided":
        assert t.loc[0, "min_eligible"] == 23 and t.loc[2, "statement"].startswith("The rate falls short")
    with_n = coverage.check_reported(60, target=85, eligible=20, alternative=alternative).table.iloc[0]
    assert with_n["p_value"] == pytest.approx(stats.binomtest(12, 20, 0.85, alternative=alternative).pvalue)
    with pytest.raises(ModelSpecificationError, match="alternative"):
        coverage.check_reported(90, target=85, alternative="both")


def test_describe_reported():
    chk = coverage.check_reported([100, 90, 85, 60], target=85, alternative="two-sided")
    text = coverage.describe_reported(chk, correction="holm")
    lo, hi = int(chk.table["min_eligible"].min()), int(chk.table["min_eligible"].max())
    assert text.startswith("Compared with a target of 85%, 2 are above it and 1 below it.")
    assert (f"By the exact binomial test (two-sided, α = 0.05), 3 of these gaps would be significant with a sample of "
            f"at least N eligible people, N from {lo:,} to {hi:,} depending on the rate (1 equals the target).") in text
    assert "Holm adjustment across rates" in text
    zh = coverage.describe_reported(chk, correction="holm", lang="zh")
    assert f"按精确二项检验（双侧，α = 0.05），其中 3 个差距在符合条件的人数达到 N 时即会显著（N 为 {lo:,} 至 {hi:,}，视比率而定）" in zh
    assert "Holm 多重检验校正" in zh
    assert "Holm" not in coverage.describe_reported(chk, correction="none")
    one = coverage.check_reported([100, 60], target=85, alternative="greater")
    assert "1 lies below the target, which the one-sided test does not look at" in coverage.describe_reported(one)
    assert "(greater, α = 0.05)" in coverage.describe_reported(one)



def test_rates_printed_as_a_bound_at_the_target_are_at_least_the_target():
    """"≥85%" against a target of 85% is at least the target, not equal to it (nor "does not exceed it")."""
    chk = coverage.check_reported([85, 85, 90], target=85, bound=[">=", "=", "="])
    s = chk.table["statement"]
    assert s[0] == "The rate is reported only as at least the target (≥85%): by how much it exceeds it cannot be told."
    assert s[1] == "The rate does not exceed the target (85%)."
    assert "(1 is reported only as at least the target; 1 equals the target)." in coverage.describe_reported(chk)
    zh = coverage.check_reported(85, target=85, bound=">=", lang="zh").table["statement"][0]
    assert zh == "该比率只报告为不低于目标（≥85%）：无法判断超出多少。"
    with pytest.raises(ModelSpecificationError, match="bound must be"):
        coverage.check_reported([85, 90], target=85, bound=["<="])


def test_unique_citations_and_published_scope():
    doi = "doi:10.1186/s12889-022-12870-1"
    cited = [f"BMC Public Health 2022. {doi}", f"A long title. BMC Public Health 2022. {doi}",
             "海口年鉴 (2019 edition), stored page", "海口年鉴 (see above)", "海口年鉴 (see above)", "Other (see above)"]
    assert coverage.unique_citations(cited) == sorted([f"A long title. BMC Public Health 2022. {doi}",
                                                       "海口年鉴 (2019 edition), stored page", "Other"])
    listed = coverage.unique_citations(coverage.published_rates()["citation"])
    dois = [c[c.index("doi:"):] for c in listed if "doi:" in c]
    assert len(dois) == len(set(dois)) and not any("see above" in c for c in listed)
    # in Chinese the provenance notes are Chinese; English article titles stay as published, with the same sources
    zh = coverage.unique_citations(coverage.published_rates()["citation"], lang="zh")
    assert len(zh) == len(listed)
    notes = ("as reported by", "stored page", "machine-translated", "as abstracted", "journal not identified")
    assert not any(n in c for c in zh for n in notes) and any(n in c for c in listed for n in notes)
    assert "青海省流动人口发展研究（省卫生计生委），新闻报道的机器翻译稿" in zh
    assert sorted(c for c in zh if "doi:" in c) == sorted(c for c in listed if "doi:" in c)
    assert coverage.published_scope("nation").startswith("all bundled rates")
    assert coverage.published_scope("province") == "its own and national figures"
    assert coverage.published_scope("prefecture", lang="zh") == "本市、所在省及全国的数字"
    with pytest.raises(ModelSpecificationError):
        coverage.published_scope("township")


def test_rate_labels_in_chinese_use_fullwidth_brackets():
    labels = coverage.rate_labels(coverage.published_rates(), lang="zh")
    assert labels.str.contains("东部10省（市）").any()
    assert not labels.str.contains(r"[\u4e00-\u9fff] ?\(|\)[\u4e00-\u9fff]").any()


def test_validate_records(records):
    out = coverage.validate_records(records)
    assert len(out) == len(records)
    assert list(coverage.RECORD_COLUMNS) == ["unit", "period", "service", "eligible", "served", "target"]
    with pytest.raises(DataValidationError, match="missing column"):
        coverage.validate_records(records.drop(columns="service"))
    dup = pd.concat([records, records.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataValidationError, match="duplicated"):
        coverage.validate_records(dup)


def test_result_plot_and_summary(records):
    res = coverage.vs_target(records[records["period"] == "2018"], by="unit")
    fig, ax = plt.subplots()
    assert res.plot(ax=ax) is ax
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert "Target 85%" in legend  # one target: its value
    assert legend <= {"Target 85%", "Significantly above target", "Significantly below target",
                      "Not distinguishable from target"}
    assert ax.get_xlabel() == "Rate (%) with Wilson 95% CI"
    fig, ax = plt.subplots()
    res.plot(ax=ax, lang="zh")
    assert "目标值 85%" in {t.get_text() for t in ax.get_legend().get_texts()}
    fig, ax = plt.subplots()
    coverage.vs_target(records, by=["unit", "period"], interval="exact", alpha=0.1).plot(ax=ax, lang="zh")
    assert ax.get_xlabel() == "覆盖率（%）及精确 90%置信区间"
    assert "p_adjusted" in res.summary()
    assert "<table" in res._repr_html_()


def test_published_rates_real():
    """The published aggregates (data/raw/migrant-service-coverage): n reconstructed only where printed;
    the 2015 CMDS national health-record row 59,934/205,990 (尹勤 & 徐千里 2018) is kept as printed."""
    allrows = coverage.published_rates()
    assert len(allrows) == 36
    row = allrows[(allrows["numerator"] == 59934)].iloc[0]
    assert row["served"] == 59934 and row["eligible"] == 205990 and not row["served_reconstructed"]
    rec = allrows[allrows["denominator"] == 112782].iloc[0]
    assert rec["served_reconstructed"] and rec["served"] == round(0.351 * 112782)
    assert allrows["complement"].sum() == 2
    haikou = coverage.published_rates("460100")
    assert set(haikou["geo_level"]) == {"city", "province", "national"}
    assert (haikou["geo_level"] == "city").sum() == 6


def test_published_rate_labels_in_either_language():
    """Chinese labels carry no English left from the reference periods' notes; English labels use the English
    columns; long labels wrap on the plot's axis, not in the table."""
    rates = coverage.published_rates()
    zh = coverage.rate_labels(rates, lang="zh")
    words = zh.str.replace(r" · n = [\d,]+$", "", regex=True)
    assert not words.str.contains("[A-Za-z]").any(), zh[words.str.contains("[A-Za-z]")].tolist()
    # the printed denominator ends a label where there is one, and tells apart the two 2015 national rates
    # worded alike in Chinese (尹勤 & 徐千里 2018, n = 205,990; Qian et al. 2018, n = 112,782), with their qualifiers
    assert "全国 2015 · 健康档案建立比例（15 岁及以上） · n = 205,990" in set(zh)
    assert "全国 2015 · 健康档案建立比例（在流入地社区） · n = 112,782" in set(zh)
    assert zh[rates["eligible"].isna()].str.contains(" n = ").sum() == 0
    tested_zh = zh[rates["eligible"].notna() & ~rates["complement"]]
    assert tested_zh.is_unique, tested_zh[tested_zh.duplicated()].tolist()
    assert coverage.period_zh("2018 (as of 2018-09-30)") == "2018（截至2018-09-30）"
    assert coverage.period_zh("2014-2017 pooled") == "2014-2017 合并"
    assert coverage.period_zh("2016-05/2017-05") == "2016-05/2017-05"
    en = coverage.rate_labels(rates, lang="en")
    assert en[0] == f"{rates['geo_en'][0]} {rates['reference_period'][0]} · {rates['indicator_en'][0]}"  # no n
    assert not en.str.contains("\n").any()
    tested = rates[rates["eligible"].notna() & ~rates["complement"]].assign(label=en, target=0.85)
    res = coverage.vs_target(tested[["label", "served", "eligible", "target"]])
    fig, ax = plt.subplots()
    res.plot(ax=ax, label="label", lang="en")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert all(max(len(line) for line in t.split("\n")) <= 40 for t in ticks)
    assert any("\n" in t for t in ticks)
    assert ax.get_xlabel() == "Rate (%) with Wilson 95% CI"
    # Chinese labels wrap by width: a character counts two columns
    fig, ax = plt.subplots()
    coverage.vs_target(tested[["served", "eligible", "target"]].assign(label=tested_zh)).plot(ax=ax, label="label")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert "全国 2014-2017 合并 · 健康档案建档率 ·\nn = 539,926" in ticks
    width = lambda line: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)  # noqa: E731
    assert all(max(map(width, t.split("\n"))) <= 40 for t in ticks)
    plt.close(fig)


def test_adjust_within_service_and_describe(records):
    """Holm within each service equals multipletests applied to each service's p-values separately."""
    two = pd.concat([records, records.assign(service="health record")], ignore_index=True)
    res = coverage.vs_target(two, adjust_within="service")
    for _, g in res.table.groupby("service"):
        assert np.allclose(g["p_adjusted"], multipletests(g["p_value"], method="holm")[1])
    assert "within each service" in res.method
    text = coverage.describe_vs_target(res, name="unit")
    counts = res.table["verdict"].value_counts()
    assert f"**{counts.get('above', 0)} above**" in text
    zh = coverage.describe_vs_target(res, name="unit", lang="zh")
    assert f"与目标比较的 {len(res.table)} 个比率" in zh and "Holm 多重检验校正" in zh
    assert f"**{counts.get('above', 0)} 个高于目标**" in zh and f"**{counts.get('below', 0)} 个低于目标**" in zh
    short = records.copy()
    short.loc[short["unit"] == "U00", "served"] = short["eligible"] // 2  # one unit far below its 85 % target
    res = coverage.vs_target(short, by="unit", alternative="two-sided")
    row = res.table.set_index("unit").loc["U00"]
    assert row["verdict"] == "below"
    # the interval printed is the table's (lower, upper), rounded; its level comes from the result's alpha
    ci = f"{100 * row['lower']:.1f}–{100 * row['upper']:.1f}"
    assert f"U00 ({100 * row['rate']:.1f}%, 95% CI {ci}; target 85.0%)" in coverage.describe_vs_target(res, name="unit")
    assert (f"未达目标：U00（{100 * row['rate']:.1f}%，95% 置信区间 {ci}；目标 85.0%）"
            in coverage.describe_vs_target(res, name="unit", lang="zh"))
    res90 = coverage.vs_target(short, by="unit", alternative="two-sided", alpha=0.1)
    row90 = res90.table.set_index("unit").loc["U00"]
    assert row90["upper"] - row90["lower"] < row["upper"] - row["lower"]
    assert (f"U00 ({100 * row90['rate']:.1f}%, 90% CI {100 * row90['lower']:.1f}–{100 * row90['upper']:.1f}; "
            "target 85.0%)") in coverage.describe_vs_target(res90, name="unit")
    # by several keys, units are named by all of them (a unit measured in two periods is named twice, apart)
    res = coverage.vs_target(short, by=["unit", "period"], alternative="two-sided")
    periods = sorted(short.loc[short["unit"] == "U00", "period"].unique())
    assert len(periods) >= 2
    text = coverage.describe_vs_target(res)
    assert all(f"U00 · {period} (" in text for period in periods), text
    fig, ax = plt.subplots()
    res.plot(ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == res.unit_names()
    assert res.unit_names("unit")[:2] == res.table["unit"].astype(str).tolist()[:2]


def _write_records_csv(path, rng, *, encoding="gbk"):
    """Synthetic seeded coverage records with Chinese headers (written here; not real data)."""
    rows = []
    for period in (2018, 2019):
        for i in range(8):
            n = int(rng.integers(80, 1500))
            rows.append({"单位": f"街道{i + 1}", "年份": period, "服务项目": "婚育证明核验", "应服务人数": n,
                         "已服务人数": int(rng.binomial(n, 0.82 + 0.02 * i)), "责任指标": 0.85})
    pd.DataFrame(rows).to_csv(path, index=False, encoding=encoding)
    return path


def test_read_records_chinese_headers_gbk(tmp_path, rng):
    path = _write_records_csv(tmp_path / "records.csv", rng)
    df = coverage.read_records(path)
    assert len(df) == 16 and df.attrs["rows_read"] == 16
    assert list(coverage.RECORD_COLUMNS) == [c for c in df.columns if c in coverage.RECORD_COLUMNS]
    res = coverage.vs_target(df, by=["service", "unit", "period"])
    assert len(res.table) == 16
    bad = pd.read_csv(path, encoding="gbk")
    bad.loc[4, "应服务人数"] = 0
    bad.loc[4, "已服务人数"] = 0
    bad.to_csv(tmp_path / "bad.csv", index=False, encoding="gbk")
    with pytest.raises(DataValidationError, match="row 6"):
        coverage.read_records(tmp_path / "bad.csv")


def test_describe_sources_counts_rates_by_place():
    rates = pd.DataFrame({"region_code": ["440000", None, None, "440300"],
                          "geo_level": ["province", "national", "national", "city"],
                          "geo_en": ["Guangdong", "China", "China", "Shenzhen"], "geo_zh": ["广东省", "全国", "全国", "深圳市"]})
    assert coverage.describe_sources(rates[:3], "Shenzhen", own="440300") == \
        "1 for Guangdong and 2 national; none for Shenzhen itself"
    assert coverage.describe_sources(rates, "Shenzhen", own="440300") == "1 for Guangdong, 1 for Shenzhen and 2 national"
    assert coverage.describe_sources(rates[1:3], "新疆", own="650000", lang="zh") == "全国 2 个；没有新疆本地的数字"


def test_rate_labels_tell_apart_rates_that_share_their_chinese_wording():
    """Two national 2015 rates are both 健康档案建立比例 in their papers; the zh labels carry the qualifier of the
    English wording, so they differ without the n."""
    pub = coverage.published_rates("000000")
    base = coverage.rate_labels(pub, lang="zh").str.replace(r" · n = [\d,]+", "", regex=True)
    assert not base.duplicated().any()
    assert {"全国 2015 · 健康档案建立比例（15 岁及以上）", "全国 2015 · 健康档案建立比例（在流入地社区）"} <= set(base)
    assert "东部 2015 · 健康档案建立比例" in set(base)  # a wording no other rate shares is left as it is
