"""Tests of analysis.srb against independent references.

References: scipy.stats.binomtest (exact p-value and Clopper–Pearson interval), statsmodels
proportion_confint (Wilson and beta), statsmodels Table2x2 (Woolf odds-ratio interval),
scipy.stats.chi2_contingency, statsmodels GLM (quasi-binomial trend), statsmodels OLS (joinpoint segment
slopes), hand computations written out in the docstrings, and the 2020 census long-form national SRB
112.28 (NBS, China Population Census Yearbook 2020, table 6-1; see data/raw/census-2010-2020-yuanfan).
Synthetic data are made by seeded code in this file (seed printed in the test name / fixture).
"""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from analysis import plots, srb
from analysis.exceptions import DataValidationError, ModelSpecificationError
from analysis.results import Result

SEED = 20261124


@pytest.fixture
def counts(rng) -> pd.DataFrame:
    """Synthetic (seeded) births for 40 units: 30–5,000 births, SRB around 112."""
    n = rng.integers(30, 5000, 40)
    males = rng.binomial(n, 112 / 212)
    return pd.DataFrame({"unit": [f"u{i:02d}" for i in range(40)], "males": males, "females": n - males})


# ---------------------------------------------------------------- estimate


def test_issue_example_1000_births_srb_115():
    """Issue 3: at 1,000 births an SRB of 115 has a 95 % interval of about 101.6–130.3.

    535 boys and 465 girls (SRB 115.05). Wilson and log intervals both give 101.6–130.3 to one decimal;
    the exact (Clopper–Pearson) interval is wider, 101.4–130.6.
    """
    df = pd.DataFrame({"males": [535], "females": [465]})
    for method in ("wilson", "log"):
        row = srb.estimate(df, method=method).table.iloc[0]
        assert round(row["lower"], 1) == 101.6
        assert round(row["upper"], 1) == 130.3
    row = srb.estimate(df, method="exact").table.iloc[0]
    assert round(row["lower"], 1) == 101.4
    assert round(row["upper"], 1) == 130.6


@pytest.mark.parametrize("method,sm_method", [("wilson", "wilson"), ("exact", "beta")])
def test_intervals_match_statsmodels(counts, method, sm_method):
    """Wilson and Clopper–Pearson limits equal statsmodels proportion_confint on the male share, transformed."""
    res = srb.estimate(counts, by="unit", method=method, alpha=0.1).table
    n = counts["males"] + counts["females"]
    lo, hi = proportion_confint(counts["males"], n, alpha=0.1, method=sm_method)
    np.testing.assert_allclose(res["lower"], 100 * lo / (1 - lo), rtol=1e-9)
    np.testing.assert_allclose(res["upper"], 100 * hi / (1 - hi), rtol=1e-9)
    np.testing.assert_allclose(res["srb"], 100 * counts["males"] / counts["females"], rtol=1e-12)


def test_exact_p_value_and_interval_match_scipy_binomtest(rng):
    """Vectorised exact test = scipy.stats.binomtest (two-sided) for many k, n, incl. both tails and k = 0."""
    n = np.concatenate([rng.integers(1, 3000, 300), [1, 2, 10, 10, 205]])
    k = np.concatenate([rng.binomial(n[:300], 0.53), [0, 2, 0, 10, 105]])
    df = pd.DataFrame({"males": k, "females": n - k})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = srb.estimate(df.assign(i=range(len(df))), by="i", method="exact", reference=105).table
    p0 = 105 / 205
    expected = [stats.binomtest(int(a), int(b), p0).pvalue for a, b in zip(k, n, strict=True)]
    np.testing.assert_allclose(res["p_value"], expected, rtol=1e-9, atol=1e-15)
    ci = [
        stats.binomtest(int(a), int(b)).proportion_ci(0.95, method="exact") for a, b in zip(k, n, strict=True)
    ]
    lo = np.array([c.low for c in ci])
    np.testing.assert_allclose(res["lower"], 100 * lo / (1 - lo), rtol=1e-8)


def test_log_interval_by_hand():
    """Log method by hand: M = 600, F = 500: ln(1.2) ± 1.959964·sqrt(1/600 + 1/500); Wald z vs 105."""
    row = srb.estimate(pd.DataFrame({"males": [600], "females": [500]}), method="log").table.iloc[0]
    se = math.sqrt(1 / 600 + 1 / 500)
    assert row["lower"] == pytest.approx(100 * math.exp(math.log(1.2) - 1.959963985 * se), rel=1e-9)
    assert row["upper"] == pytest.approx(100 * math.exp(math.log(1.2) + 1.959963985 * se), rel=1e-9)
    z = (math.log(1.2) - math.log(1.05)) / se
    assert row["p_value"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)


def test_wilson_p_value_is_score_test():
    """Score test by hand: z = (p̂ − p0)/sqrt(p0(1 − p0)/n) with p0 = 105/205."""
    row = srb.estimate(pd.DataFrame({"males": [560], "females": [480]}), reference=105).table.iloc[0]
    p0, n = 105 / 205, 1040
    z = (560 / n - p0) / math.sqrt(p0 * (1 - p0) / n)
    assert row["p_value"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)


def test_by_groups_sum_counts_and_keep_order():
    df = pd.DataFrame({"g": ["b", "a", "b"], "males": [10, 20, 30], "females": [5, 25, 35]})
    t = srb.estimate(df, by="g").table
    assert list(t["g"]) == ["b", "a"]
    assert list(t["males"]) == [40, 20] and list(t["females"]) == [40, 25]
    pooled = srb.estimate(df).table
    assert len(pooled) == 1 and pooled.loc[0, "births"] == 125


def test_missing_counts_kept_as_na_with_warning():
    df = pd.DataFrame({"u": ["a", "b"], "males": [10, None], "females": [12, 3]})
    with pytest.warns(srb.MissingCountsWarning, match="1 of 2"):
        t = srb.estimate(df, by="u").table
    assert len(t) == 2 and math.isnan(t.loc[1, "srb"]) and not math.isnan(t.loc[0, "srb"])


@pytest.mark.parametrize(
    "frame,column",
    [
        (pd.DataFrame({"males": [10, -1], "females": [3, 4]}), "males"),
        (pd.DataFrame({"males": [10, 2], "females": [3, 4.5]}), "females"),
        (pd.DataFrame({"males": ["10", "x"], "females": [3, 4]}), "males"),
    ],
)
def test_bad_counts_raise_naming_row_and_column(frame, column):
    with pytest.raises(DataValidationError, match="row 3") as err:
        srb.estimate(frame)
    assert err.value.column == column


def test_bad_arguments_raise():
    df = pd.DataFrame({"males": [10], "females": [9]})
    with pytest.raises(DataValidationError, match="boys"):
        srb.estimate(df, males="boys")
    with pytest.raises(ModelSpecificationError, match="per 1"):
        srb.estimate(df, reference=1.05)
    with pytest.raises(ModelSpecificationError, match="method"):
        srb.estimate(df, method="bayes")


def test_result_is_frozen_result_and_plots(counts):
    res = srb.estimate(counts.head(5), by="unit")
    assert isinstance(res, Result)
    with pytest.raises(AttributeError):
        res.method = "x"
    assert "Wilson" in res.summary()
    ax = res.plot(label="unit")
    assert len(ax.get_yticklabels()) == 5


# ---------------------------------------------------------------- compare / change / heterogeneity


def test_compare_matches_statsmodels_table2x2():
    """Ratio of SRBs = odds ratio; Woolf interval and p equal statsmodels Table2x2 (log OR, Wald)."""
    a, b = (1200, 1000), (1100, 1040)
    res = srb.compare(a, b).table.iloc[0]
    tab = Table2x2(np.array([[a[0], a[1]], [b[0], b[1]]]))
    lo, hi = tab.oddsratio_confint()
    assert res["ratio"] == pytest.approx(tab.oddsratio, rel=1e-12)
    assert res["ratio"] == pytest.approx((1200 / 1000) / (1100 / 1040), rel=1e-12)
    assert (res["lower"], res["upper"]) == pytest.approx((lo, hi), rel=1e-9)
    assert res["p_value"] == pytest.approx(tab.oddsratio_pvalue(), rel=1e-9)


def test_change_every_unit_at_once(counts, rng):
    later = counts.assign(males=counts["males"] + rng.integers(0, 50, len(counts)))
    data = pd.concat([counts.assign(census=2010), later.assign(census=2020)], ignore_index=True)
    data = pd.concat(
        [data, pd.DataFrame({"unit": ["only2010"], "males": [5], "females": [6], "census": [2010]})]
    )
    res = srb.change(data, unit="unit")
    t = res.table
    assert len(t) == 41 and {"srb_2010", "srb_2020", "ratio", "lower", "upper", "p_value"} <= set(t.columns)
    row = t.set_index("unit").loc["u07"]
    single = srb.compare(
        (later.loc[7, "males"], later.loc[7, "females"]), (counts.loc[7, "males"], counts.loc[7, "females"])
    ).table.iloc[0]
    assert row["ratio"] == pytest.approx(single["ratio"]) and row["p_value"] == pytest.approx(
        single["p_value"]
    )
    assert math.isnan(t.set_index("unit").loc["only2010", "ratio"])
    assert res.params["first"] == 2010 and res.params["last"] == 2020


def test_heterogeneity_matches_chi2_contingency(counts):
    res = srb.heterogeneity(counts).table.iloc[0]
    chi2, p, dof, _ = stats.chi2_contingency(counts[["males", "females"]].to_numpy(), correction=False)
    assert res["chi2"] == pytest.approx(chi2, rel=1e-10)
    assert res["df"] == dof == 39
    assert res["p_value"] == pytest.approx(p, rel=1e-8)
    assert res["pooled_srb"] == pytest.approx(100 * counts["males"].sum() / counts["females"].sum())


# ---------------------------------------------------------------- trend


def test_quasibinomial_trend_matches_statsmodels_glm(rng):
    """Slope, SE and dispersion equal a statsmodels quasi-binomial GLM (proportions, var_weights = births,
    scale = Pearson chi²/df, as R's quasibinomial); APC = 100(e^β − 1)."""
    years = np.arange(2000, 2020)
    n = rng.integers(20_000, 40_000, len(years))
    p = 1 / (1 + np.exp(-(np.log(1.18) - 0.006 * (years - 2000) + rng.normal(0, 0.01, len(years)))))
    m = rng.binomial(n, p)
    df = pd.DataFrame({"year": years, "males": m, "females": n - m})
    res = srb.trend(df)
    # independent route: proportions with var_weights = n (statsmodels' scale="X2" is right in this form)
    glm = sm.GLM(m / n, sm.add_constant(years - 2000.0), family=sm.families.Binomial(), var_weights=n)
    fit = glm.fit(scale="X2")
    row = res.table.iloc[0]
    assert row["slope_logit"] == pytest.approx(fit.params[1], rel=1e-6)
    assert row["se"] == pytest.approx(fit.bse[1], rel=1e-6)
    assert row["dispersion"] == pytest.approx(fit.scale, rel=1e-6)
    assert row["dispersion"] > 1.5  # the seeded extra-binomial noise (sd 0.01 on the logit) is detected
    assert row["apc"] == pytest.approx(100 * np.expm1(fit.params[1]), rel=1e-6)
    assert row["lower"] < row["apc"] < row["upper"]
    assert row["lower"] < 100 * np.expm1(-0.006) < row["upper"]
    assert res.plot().get_ylabel().startswith("Sex ratio")


def test_joinpoint_recovers_known_break():
    """Synthetic (seed 20261124) ln-linear series, 1980–2023: APC +1.0 %/yr to 2004, then −0.8 %/yr, noise sd 0.004.

    The permutation test must choose one joinpoint, at 2004 ± 1, and each segment's CI must cover its true APC.
    Segment slopes equal a statsmodels OLS fit of the same hinge design (independent computation of SEs).
    """
    rng = np.random.default_rng(SEED)
    years = np.arange(1980, 2024)
    log_srb = (
        np.log(106)
        + np.log(1.01) * (years - 1980)
        + (np.log(0.992) - np.log(1.01)) * np.clip(years - 2004, 0, None)
    )
    values = np.exp(log_srb + rng.normal(0, 0.004, len(years)))
    res = srb.trend(
        pd.DataFrame({"year": years, "srb": values}),
        srb="srb",
        method="joinpoint",
        max_joinpoints=2,
        n_permutations=99,
    )
    assert len(res.params["joinpoints"]) == 1
    assert abs(res.params["joinpoints"][0] - 2004) <= 1
    seg = res.table.set_index("segment")
    assert seg.loc["1", "lower"] < 1.0 < seg.loc["1", "upper"]
    assert seg.loc["2", "lower"] < -0.8 < seg.loc["2", "upper"]
    tau = res.params["joinpoints"][0]
    x = np.column_stack([np.ones_like(years), years - 1980, np.clip(years - tau, 0, None)]).astype(float)
    ols = sm.OLS(np.log(values), x).fit()
    assert seg.loc["1", "slope_log"] == pytest.approx(ols.params[1], rel=1e-8)
    assert seg.loc["2", "se"] == pytest.approx(math.sqrt(ols.cov_params()[1:, 1:].sum()), rel=1e-8)
    assert res.tests["rejected"].iloc[0]
    fig, ax = plt.subplots()
    res.plot(ax=ax, lang="zh", label="拟合")
    ax.legend()
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted(["拟合", "拟合值（95%置信区间）", "连接点"])  # the band says it is the fit's
    plt.close(fig)


def test_joinpoint_keeps_straight_line_without_break():
    rng = np.random.default_rng(SEED + 1)
    years = np.arange(1990, 2020)
    values = np.exp(np.log(110) + 0.002 * (years - 1990) + rng.normal(0, 0.005, len(years)))
    res = srb.trend(
        pd.DataFrame({"year": years, "srb": values}), srb="srb", method="joinpoint", max_joinpoints=1
    )
    assert res.params["joinpoints"] == []


def test_trend_bad_input():
    df = pd.DataFrame({"year": [2000, 2000, 2001], "srb": [1.1, 1.12, 1.13]})
    with pytest.raises(DataValidationError, match="per 1"):
        srb.trend(df.assign(year=[2000, 2001, 2002]), srb="srb", method="joinpoint")
    with pytest.raises(DataValidationError, match="repeat"):
        srb.trend(df.assign(srb=[110, 111, 112]), srb="srb", method="joinpoint")
    with pytest.raises(ModelSpecificationError):
        srb.trend(df, method="loess")


# ---------------------------------------------------------------- missing female births


def test_missing_female_births_worked_example():
    """Chao et al. (PNAS 2019) definition, by hand: 1,120 boys and 1,000 girls, reference 1.06.

    Expected girls = 1120 / 1.06 = 1056.60; missing = 56.60 (5.36 % of expected). Interval: n = 2120 and
    Wilson limits (p_lo, p_hi) of 1120/2120 give n·p·(1 + 1/1.06) − n.
    """
    res = srb.missing_female_births(1120, 1000)
    row = res.table.iloc[0]
    assert row["expected_females"] == pytest.approx(1120 / 1.06)
    assert row["missing"] == pytest.approx(1120 / 1.06 - 1000)
    assert row["missing"] == pytest.approx(56.6038, abs=1e-4)
    lo, hi = proportion_confint(1120, 2120, method="wilson")
    assert row["lower"] == pytest.approx(2120 * lo * (1 + 1 / 1.06) - 2120, rel=1e-9)
    assert row["upper"] == pytest.approx(2120 * hi * (1 + 1 / 1.06) - 2120, rel=1e-9)
    assert row["missing_percent_of_expected"] == pytest.approx(100 * 56.6038 / 1056.6038, rel=1e-5)
    # at the reference SRB nothing is missing
    assert srb.missing_female_births(1060, 1000).table.loc[0, "missing"] == pytest.approx(0, abs=1e-9)


def test_missing_female_births_units_are_explicit():
    with pytest.raises(ModelSpecificationError, match="per 100"):
        srb.missing_female_births(1120, 1000, reference=106)
    res = srb.missing_female_births(pd.Series([10, 20], index=["a", "b"]), [9, 18])
    assert list(res.table["label"]) == ["a", "b"]


def test_results_show_a_titled_summary_not_a_field_dump():
    """A result displayed in a notebook shows its title in both languages and its summary; the dataclass
    dump ("MissingFemaleBirths(table=…") and bare class names were what a Chinese run showed before."""
    import importlib
    import pkgutil

    from IPython.lib.pretty import pretty

    import analysis

    for mod in pkgutil.walk_packages(analysis.__path__, "analysis."):
        if mod.name.split(".")[-1] not in {"__main__", "forkserver"}:
            importlib.import_module(mod.name)
    todo, classes = list(Result.__subclasses__()), []
    while todo:
        cls = todo.pop()
        classes.extend([cls] if cls.__module__.startswith("analysis.") else [])  # not the tests' own demo results
        todo.extend(cls.__subclasses__())
    assert len(classes) >= 15
    for cls in classes:
        assert "__repr__" not in vars(cls), f"{cls.__name__}: @dataclass(..., repr=False) missing"
        assert "TITLE" in vars(cls) and cls.TITLE[0] != cls.__name__, cls.__name__
    res = srb.missing_female_births(1120, 1000)
    assert res.title == "Missing female births / 女婴缺失数"
    assert pretty(res) == repr(res) == str(res) == res.summary()
    assert res.summary().startswith("Missing female births / 女婴缺失数\nMethod: Chao et al. (2019)")
    assert res._repr_html_().startswith("<p><b>Missing female births / 女婴缺失数</b> — Chao")
    # counts are shown whole, with separators, not as "3.937e+05"
    big = srb.missing_female_births(393_737, 346_000)._repr_html_()
    assert "<td>393,737</td>" in big and "<td>346,000</td>" in big and "e+0" not in big
    assert f"<td>{393_737 / 1.06 - 346_000:,.0f}</td>" in big and "<td>1.06</td>" in big


# ---------------------------------------------------------------- funnel and shrink


def test_funnel_limits_are_funnel_module_limits_on_srb_scale(counts):
    from analysis import funnel as fm

    res = srb.funnel(counts, label="unit", target=106)
    n = (counts["males"] + counts["females"]).to_numpy()
    lim = fm.limits(n, 106 / 206)
    np.testing.assert_allclose(res.table["upper_99.8"], 100 * lim["upper_99.8"] / (1 - lim["upper_99.8"]))
    np.testing.assert_allclose(res.table["lower_95"], 100 * lim["lower_95"] / (1 - lim["lower_95"]))
    above = res.table["srb"] > res.table["upper_95"]
    assert ((res.table["position_95"] == "above") == above).all()
    assert above.sum() >= 3  # SRB 112 against a target of 106
    pooled = srb.funnel(counts)
    assert pooled.params["target_srb"] == pytest.approx(100 * counts["males"].sum() / counts["females"].sum())
    ax = res.plot()
    assert ax.get_xscale() == "log"


def test_plots_name_their_reference_lines(counts):
    """Every horizontal or vertical reference line has a legend entry with its value: the funnel's target
    (pooled SRB or the given reference), the shrinkage prior mean, the reference of an estimate."""
    pooled = srb.funnel(counts)
    given = srb.funnel(counts, target=106)
    shrunk = srb.shrink(counts, by="unit")
    est = srb.estimate(counts.head(3), by="unit", reference=105)
    entries = {}
    for name, res, lang in [("pooled", pooled, "zh"), ("given", given, "en"), ("shrunk", shrunk, "zh"),
                            ("estimate", est, "en")]:  # fmt: skip
        fig, ax = plt.subplots()
        res.plot(ax=ax, lang=lang)
        entries[name] = [t.get_text() for t in ax.get_legend().get_texts()]
        plt.close(fig)
    target = 100 * counts["males"].sum() / counts["females"].sum()
    assert entries["pooled"][-1] == f"合计 {target:.1f}"
    assert entries["given"][-1] == "Reference 106.0"
    fig, ax = plt.subplots()
    pooled.plot(ax=ax, lang="en", target_name="All provinces")  # whose pooled SRB it is, named by the caller
    assert ax.get_legend().get_texts()[-1].get_text() == f"All provinces {target:.1f}"
    plt.close(fig)
    assert f"先验均值 {shrunk.params['prior_mean_srb']:.1f}" in entries["shrunk"]
    assert sorted(entries["estimate"]) == ["Estimate, 95% CI", "Reference 105"]


def test_plotted_intervals_state_their_level(counts):
    """Error bars say in the legend what they are and at which level: a confidence interval for estimates and
    ratios, a credible (posterior) interval for the empirical-Bayes SRBs."""
    entries = {}
    for name, res, lang in [("estimate", srb.estimate(counts.head(3), by="unit", alpha=0.1), "zh"),
                            ("compare", srb.compare(counts.head(2), counts.iloc[2:4]), "en"),
                            ("shrunk", srb.shrink(counts, by="unit", alpha=0.2), "zh")]:  # fmt: skip
        fig, ax = plt.subplots()
        res.plot(ax=ax, lang=lang)
        entries[name] = [t.get_text() for t in ax.get_legend().get_texts()]
        plt.close(fig)
    assert "估计值（90%置信区间）" in entries["estimate"]
    assert entries["compare"] == ["Estimate, 95% CI"]
    assert "经验贝叶斯估计（80%可信区间）" in entries["shrunk"]


def test_plot_dodged_draws_each_estimate_with_its_interval():
    """One errorbar series per census, dodged around each birth order, at the table's estimates and bounds; the
    rows of the other margin are left out by ``where``; two rows per point is an error naming the columns."""
    plots.set_theme("zh")  # legends are measured to place them: with the Chinese font
    df = pd.DataFrame({
        "census": [2010] * 4 + [2020] * 4,
        "residence": ["total", "total", "city", "city"] * 2,
        "birth_order": ["1", "2"] * 4,
        "males": [530, 640, 300, 350, 520, 560, 280, 300],
        "females": [470, 460, 280, 250, 480, 500, 270, 290],
    })  # fmt: skip
    est = srb.estimate(df, by=["census", "residence", "birth_order"], reference=106)
    fig, ax = plt.subplots()
    est.plot_dodged("birth_order", "census", where={"residence": "total"}, order=["2", "1"],
                    tick_labels={"1": "first"}, ax=ax, lang="zh")  # fmt: skip
    t = est.table.set_index(["census", "residence", "birth_order"])
    for container, census, offset in zip(ax.containers, (2010, 2020), (-0.125, 0.125), strict=True):
        line, _, (bars,) = container.lines
        np.testing.assert_allclose(line.get_xdata(), [0 + offset, 1 + offset])
        np.testing.assert_allclose(line.get_ydata(), [t.loc[(census, "total", o), "srb"] for o in ("2", "1")])
        ends = np.array([seg[:, 1] for seg in bars.get_segments()])
        np.testing.assert_allclose(ends, [[t.loc[(census, "total", o), "lower"], t.loc[(census, "total", o), "upper"]]
                                          for o in ("2", "1")])  # fmt: skip
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["2", "first"]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "2010（95%置信区间）", "2020（95%置信区间）", "参照值 106"]
    plt.close(fig)
    with pytest.raises(ModelSpecificationError, match="8 rows share their birth_order × census .first: birth_order=1, "
                       "census=2010"):  # fmt: skip
        est.plot_dodged("birth_order", "census")
    with pytest.raises(ModelSpecificationError, match="'region'"):
        est.plot_dodged("birth_order", "census", where={"region": "x"})
    plt.close("all")


def test_shrink_posterior_by_hand_with_given_prior():
    """Beta(530, 470) prior, 30 boys / 20 girls → posterior Beta(560, 490): mean 560/1050, SRB = 100·560/490."""
    df = pd.DataFrame({"u": ["a", "b"], "males": [30, 5000], "females": [20, 4500]})
    res = srb.shrink(df, by="u", prior=(530, 470))
    row = res.table.iloc[0]
    assert row["srb_shrunk"] == pytest.approx(100 * 560 / 490)
    assert row["lower"] == pytest.approx(srb.srb_from_share(stats.beta.ppf(0.025, 560, 490)))
    assert row["weight_own_data"] == pytest.approx(50 / 1050)
    # the raw ratio keeps its own (Wilson) interval beside the shrunk one: statsmodels on the male share 30/50
    lo, hi = proportion_confint(30, 50, alpha=0.05, method="wilson")
    assert row["srb"] == pytest.approx(150) and row["srb_lower"] == pytest.approx(100 * lo / (1 - lo))
    assert row["srb_upper"] == pytest.approx(100 * hi / (1 - hi))


def test_shrink_fitted_prior_recovers_spread_and_pulls_small_units():
    """Synthetic (seeded) beta-binomial data, true mean share 0.53 and prior size a + b = 2000."""
    rng = np.random.default_rng(SEED)
    p = rng.beta(0.53 * 2000, 0.47 * 2000, 3000)
    n = rng.integers(100, 3000, 3000)
    m = rng.binomial(n, p)
    res = srb.shrink(pd.DataFrame({"males": m, "females": n - m}))
    a, b = res.params["prior_a"], res.params["prior_b"]
    assert a / (a + b) == pytest.approx(0.53, abs=0.002)
    assert 1200 < a + b < 3500
    t = res.table
    assert (
        (t["srb_shrunk"] - res.params["prior_mean_srb"])
        .abs()
        .le((t["srb"] - res.params["prior_mean_srb"]).abs())
        .all()
    )
    assert res.plot(top=10) is not None


def test_shrink_plot_by_raw_ranks_the_raw_ratios_with_their_wilson_intervals():
    """With between-unit variance ≈ 0 (synthetic, seeded: every unit drawn from one share; a prior of size 10⁶) the
    shrunk estimates all sit at the prior mean, so a panel sorted by them ranks nothing; ``by="raw"`` sorts by the
    raw ratio and draws each one's Wilson interval (statsmodels), the shrunk values as open circles."""
    rng = np.random.default_rng(SEED)
    n = rng.integers(200, 2000, 40)
    m = rng.binomial(n, 0.515)
    df = pd.DataFrame({"u": [f"u{i}" for i in range(40)], "males": m, "females": n - m})
    res = srb.shrink(df, by="u", prior=(515_000, 485_000))
    assert res.table["weight_own_data"].max() < 0.01  # the case the option is for
    fig, ax = plt.subplots()
    res.plot(ax=ax, label="u", top=10, by="raw")
    expected = res.table.sort_values("srb", ascending=False).head(10)
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True), reverse=True)
    assert [name for _, name in ticks] == expected["u"].tolist()  # the top row is the highest raw ratio
    bars = sorted(ax.containers[0].lines[2][0].get_segments(), key=lambda seg: -seg[0][1])
    for seg, (_, row) in zip(bars, expected.iterrows(), strict=True):
        lo, hi = proportion_confint(row["males"], row["males"] + row["females"], alpha=0.05, method="wilson")
        assert seg[0][0] == pytest.approx(100 * lo / (1 - lo)) and seg[1][0] == pytest.approx(100 * hi / (1 - hi))
    assert "Raw, 95% CI" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ModelSpecificationError, match="by must be"):
        res.plot(by="rank")
    plt.close(fig)


def test_plot_dodged_draws_implausible_rows_hollow_and_says_so():
    """Xinjiang's 2020 order-4 counts (57 boys, 121 girls; data/README known defects): the interval lies below 100,
    so the point is drawn hollow and the legend says it is not interpreted; the plausible points stay filled."""
    df = pd.DataFrame({"census": [2010, 2010, 2020, 2020], "order": ["1", "4", "1", "4"],
                       "males": [7648, 294, 5382, 57], "females": [7200, 271, 4959, 121]})
    est = srb.estimate(df, by=["census", "order"])
    assert est.implausible()[["census", "order"]].values.tolist() == [[2020, "4"]]
    fig, ax = plt.subplots()
    est.plot_dodged("order", "census", ax=ax)
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white" and len(line.get_xdata())]
    assert len(hollow) == 1 and hollow[0].get_ydata()[0] == pytest.approx(100 * 57 / 121)
    filled_2020 = ax.containers[1].lines[0].get_ydata()
    assert filled_2020[0] == pytest.approx(100 * 5382 / 4959) and np.isnan(filled_2020[1])
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "Implausible: interval below 100, not interpreted"
    fig, ax = plt.subplots()
    srb.estimate(df.iloc[:3], by=["census", "order"]).plot_dodged("order", "census", ax=ax)
    assert not any("Implausible" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close("all")


def test_bench_data_shape():
    d = srb.bench_data(n_units=10)
    assert len(d) == 20 and set(d["census"]) == {2010, 2020}


def test_national_2020_long_form_srb_from_counts():
    """2020 census long form (NBS yearbook table 6-1): 1,212,321 births, SRB 112.28 computed from counts."""
    from analysis import data

    births = data.load("census_births", census=2020, wide=True)
    nat = births[
        (births["region_code"] == "000000")
        & (births["residence"] == "total")
        & (births["birth_order"] == "all")
    ]
    res = srb.estimate(nat, males="males", females="females").table.iloc[0]
    assert res["births"] == 1_212_321
    assert round(res["srb"], 2) == 112.28
    assert res["lower"] < 112.28 < res["upper"]


def test_national_2010_long_form_and_order_from_counts():
    """2010 census long form (NBS Tabulation 2010, table 6-1): SRB 121.21; by order 113.73 / 130.29 / 161.56,
    the same values Jiang et al. (2017) report (data/raw/owid-datasets)."""
    from analysis import data

    births = data.load("census_births", census=2010, wide=True, residence="total", region_code="000000")
    t = srb.estimate(births, by="birth_order").table.set_index("birth_order")
    assert [round(t.loc[o, "srb"], 2) for o in ("all", "1", "2", "3")] == [121.21, 113.73, 130.29, 161.56]


def test_all_counties_both_censuses_keep_missing_rows():
    """Real county table: every row in, every row out; units without age-0 counts stay as NA (with a warning)."""
    from analysis import data

    county = data.load("county_census", level="county")
    county["row"] = range(len(county))  # 58 units have no code (e.g. 市辖区 rows), so key on the row
    with pytest.warns(srb.MissingCountsWarning):
        t = srb.estimate(county, males="age0_males", females="age0_females", by="row").table
    assert len(t) == len(county) > 5800
    n_missing = int(county[["age0_males", "age0_females"]].isna().any(axis=1).sum())
    assert t["srb"].isna().sum() == n_missing > 0
    assert (t["lower"] < t["upper"]).sum() == len(t) - n_missing


def test_joinpoint_refuses_too_few_permutations_to_reach_its_level():
    """With B permutations the smallest p-value is 1/(B+1); 0.05/3 needs B ≥ 59 (hand computation)."""
    years = np.arange(1990, 2020)
    d = pd.DataFrame({"year": years, "srb": 105 + 0.3 * (years - 1990)})
    with pytest.raises(ModelSpecificationError, match="at least 59"):
        srb.trend(d, year="year", srb="srb", method="joinpoint", max_joinpoints=3, n_permutations=49)
    r = srb.trend(d, year="year", srb="srb", method="joinpoint", max_joinpoints=3, n_permutations=59)
    assert r.params["n_permutations"] == 59


def test_implausibly_low_srb_is_flagged():
    """57 boys / 121 girls (as printed for one 2020 birth order in the source, data/README) has a Wilson interval
    for the male share whose upper end, by hand (scipy's binomtest), is below 0.5: flagged. 5,200 / 4,800 is not.
    Hand-made counts, not real data."""
    e = srb.estimate(pd.DataFrame({"u": ["a", "b"], "males": [57, 5200], "females": [121, 4800]}), by="u")
    flagged = e.implausible()
    assert flagged["u"].tolist() == ["a"]
    hi = stats.binomtest(57, 178).proportion_ci(method="wilson").high
    assert flagged["upper"].iloc[0] == pytest.approx(100 * hi / (1 - hi), rel=1e-9) and hi < 0.5
    assert e.implausible(below=40)["u"].tolist() == []
    # a small cell is not evidence of a defect: 0 boys / 5 girls (Wilson upper end < 100) is expected by chance
    small = srb.estimate(pd.DataFrame({"u": ["c"], "males": [0], "females": [5]}), by="u")
    assert small.table["upper"].iloc[0] < 100 and small.implausible().empty
    assert small.implausible(min_births=5)["u"].tolist() == ["c"]
