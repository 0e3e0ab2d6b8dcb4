"""Tests for analysis.did: TWFE event study with continuous intensity, cluster SEs, wild bootstrap."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.did import (
    birth_order_share,
    event_study,
    first_birth_share,
    policy_years,
    province_panel,
    wild_cluster_bootstrap,
)
from analysis.exceptions import AnalysisWarning, DataValidationError, ModelSpecificationError
from analysis.plots import set_theme


def _panel(rng, *, n_units=31, years=range(2001, 2020), effect=2.0, policy=2015, pre_trend=0.0):
    """Synthetic province panel (seeded): cbr = unit FE + year FE + effect·I·post + noise (cluster shocks)."""
    units = [f"{11 + i:02d}0000" for i in range(n_units)]
    inten = dict(zip(units, rng.uniform(0.4, 0.8, n_units), strict=True))
    a = dict(zip(units, rng.normal(12, 2, n_units), strict=True))
    rows = []
    for u in units:
        shock = rng.normal(0, 0.3)
        for y in years:
            i = inten[u]
            mu = a[u] - 0.1 * (y - 2001) + effect * i * (y >= policy) + pre_trend * i * (y - policy) * (y < policy)
            rows.append({"region_code": u, "year": y, "cbr": mu + shock * (y >= policy) + rng.normal(0, 0.2),
                         "population": 1e7, "intensity": i})
    return pd.DataFrame(rows)


def test_pooled_did_recovers_effect_and_matches_statsmodels_cluster_se(rng):
    df = _panel(rng)
    r = event_study(df, intensity="intensity", policy_year=2015)
    p = r.pooled.iloc[0]
    assert p["lower"] < 2.0 < p["upper"]
    # Independent reference: statsmodels OLS with dummies and its CR1 cluster covariance.
    d = df.assign(post=lambda f: (f["year"] >= 2015) * (f["intensity"] - f.groupby("region_code")["intensity"].first().mean()))
    x = pd.concat([d[["post"]], pd.get_dummies(d["region_code"], dtype=float),
                   pd.get_dummies(d["year"], dtype=float, drop_first=True)], axis=1)
    ref = sm.OLS(d["cbr"], x).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(d["region_code"])[0]})
    assert p["estimate"] == pytest.approx(ref.params["post"], rel=1e-9)
    assert p["se"] == pytest.approx(ref.bse["post"], rel=1e-9)
    assert p["n_clusters"] == 31


def test_event_study_flat_pretrends_and_post_effects(rng):
    df = _panel(rng)
    r = event_study(df, intensity="intensity", policy_year=2015, window=(-6, 3))
    t = r.table.set_index("event_time")
    assert t.loc[-1, "estimate"] == 0.0
    for k in range(0, 4):
        assert t.loc[k, "lower"] < 2.0 < t.loc[k, "upper"]
    assert r.pretrend.loc[0, "p_value"] > 0.01
    assert r.pretrend.loc[0, "df1"] == 5 and r.pretrend.loc[0, "df2"] == 30
    # A strong differential pre-trend is detected by the joint test.
    bad = event_study(_panel(rng, pre_trend=0.8), intensity="intensity", policy_year=2015)
    assert bad.pretrend.loc[0, "p_value"] < 0.001


def test_wild_bootstrap_closed_form_equals_brute_force_refits(rng):
    """Known case: 6 clusters, all 2^6 Rademacher sign vectors, each replicate refitted with statsmodels.

    The restricted (null imposed) bootstrap t statistics of the fast closed form must equal the brute-force
    ones, so the enumerated p-value is exact.
    """
    df = _panel(rng, n_units=6, years=range(2008, 2018), effect=0.5)
    d = df.assign(post=(df["year"] >= 2015) * df["intensity"])
    x = pd.concat([d[["post"]], pd.get_dummies(d["region_code"], dtype=float),
                   pd.get_dummies(d["year"], dtype=float, drop_first=True)], axis=1).to_numpy(float)
    y = d["cbr"].to_numpy()
    groups = pd.factorize(d["region_code"])[0]
    w = np.array(list(itertools.product([-1.0, 1.0], repeat=6))).T
    fast = wild_cluster_bootstrap(x, y, groups, 0, weight_matrix=w)
    restricted = sm.OLS(y, x[:, 1:]).fit()
    t_star = []
    for b in range(w.shape[1]):
        y_b = restricted.fittedvalues + restricted.resid * w[groups, b]
        fb = sm.OLS(y_b, x).fit(cov_type="cluster", cov_kwds={"groups": groups})
        t_star.append(fb.params[0] / fb.bse[0])
    full = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups})
    t_obs = full.params[0] / full.bse[0]
    brute_p = np.mean(np.abs(t_star) >= abs(t_obs) - 1e-12)
    assert fast["t"] == pytest.approx(t_obs, rel=1e-9)
    assert fast["p_value"] == pytest.approx(brute_p)
    assert fast["replications"] == 64
    # Enumeration is what the default does with Rademacher weights when 2^G <= reps.
    enum = wild_cluster_bootstrap(x, y, groups, 0, reps=999)
    assert enum["p_value"] == pytest.approx(brute_p) and enum["replications"] == 64


def test_bootstrap_with_31_clusters_close_to_analytic_and_seeded(rng):
    df = _panel(rng, effect=0.0)
    a = event_study(df, intensity="intensity", policy_year=2015, bootstrap=1999, seed=7)
    b = event_study(df, intensity="intensity", policy_year=2015, bootstrap=1999, seed=7)
    pa = a.pooled.iloc[0]
    assert pa["boot_p_value"] == b.pooled.iloc[0]["boot_p_value"]
    assert abs(pa["boot_p_value"] - pa["p_value"]) < 0.1
    assert pa["boot_lower"] < pa["estimate"] < pa["boot_upper"]
    webb = event_study(df, intensity="intensity", policy_year=2015, bootstrap=999, bootstrap_weights="webb")
    assert "Webb weights" in webb.method and "Webb 权重" in webb.method_zh
    with pytest.raises(ModelSpecificationError, match="weights"):
        event_study(df, intensity="intensity", policy_year=2015, bootstrap=99, bootstrap_weights="mammen")


def test_unit_specific_policy_years_placebo_and_leave_one_out(rng):
    df = _panel(rng)
    years = {u: (2015 if i % 2 else 2016) for i, u in enumerate(sorted(df["region_code"].unique()))}
    r = event_study(df, intensity="intensity", policy_year=years)
    assert r.timing["first_affected_year"].nunique() == 2
    pl = r.placebo([2008, 2010])
    assert list(pl["placebo_year"]) == [2008, 2010]
    assert (pl["lower"] < 0).all() and (pl["upper"] > 0).all()
    loo = r.leave_one_out()
    assert len(loo) == 31 and loo["dropped"].nunique() == 31
    assert loo["estimate"].between(r.pooled.loc[0, "lower"], r.pooled.loc[0, "upper"]).all()
    ch = r.unit_changes()
    assert len(ch) == 31 and np.corrcoef(ch["intensity"], ch["change"])[0, 1] > 0
    with pytest.raises(ModelSpecificationError, match="placebo year"):
        r.placebo([2018])


def test_plot_unit_changes_line_and_band_by_hand(rng):
    """The line is the least-squares line of the unit changes (scipy linregress), the band the 95 % CI of the
    mean, ŷ ± t(0.975, n − 2) · s · √(1/n + (x0 − x̄)²/Sxx) (hand formula), at both ends of the x range."""
    import matplotlib.pyplot as plt
    from scipy import stats

    r = event_study(_panel(rng), intensity="intensity", policy_year=2015)
    ch = r.unit_changes()
    x, y = 10 * ch["intensity"].to_numpy(), ch["change"].to_numpy()
    fig, ax = plt.subplots()
    r.plot_unit_changes(ax=ax, lang="en", x_scale=10, highlight=ch["region_code"][0], highlight_label="first")
    lr = stats.linregress(x, y)
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("OLS fit"))
    gx, gy = line.get_data()
    np.testing.assert_allclose(gy, lr.intercept + lr.slope * gx, rtol=1e-10)
    assert line.get_label() == f"OLS fit (slope {lr.slope:+.2f}, p = {lr.pvalue:.2g})"
    # the slope in the event study's unit: per 10 points of the x axis, named
    fig2, ax2 = plt.subplots()
    r.plot_unit_changes(ax=ax2, lang="en", x_scale=10, per=10, per_text="‰ per 10 pp")
    assert [ln.get_label() for ln in ax2.get_lines() if ln.get_label().startswith("OLS fit")] == [
        f"OLS fit (slope {10 * lr.slope:+.2f}‰ per 10 pp, p = {lr.pvalue:.2g})"]
    plt.close(fig2)
    n = len(x)
    s = np.sqrt(np.sum((y - lr.intercept - lr.slope * x) ** 2) / (n - 2))
    half = stats.t.ppf(0.975, n - 2) * s * np.sqrt(1 / n + (gx - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    verts = ax.collections[0].get_paths()[0].vertices  # fill_between: lower edge left → right, upper back
    for x0 in (gx[0], gx[-1]):
        at = verts[np.isclose(verts[:, 0], x0)][:, 1]
        k = np.flatnonzero(np.isclose(gx, x0))[0]
        np.testing.assert_allclose([at.min(), at.max()], [gy[k] - half[k], gy[k] + half[k]], rtol=1e-9)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["95% CI", line.get_label(), "first"]
    plt.close(fig)


def test_missing_outcome_rows_reported_not_silent(rng):
    df = _panel(rng)
    df.loc[df["year"] == 2010, "cbr"] = np.nan
    with pytest.warns(AnalysisWarning, match="31 row"):
        r = event_study(df, intensity="intensity", policy_year=2015)
    assert r.params["excluded_rows"] == 31


def test_bad_inputs(rng):
    df = _panel(rng)
    with pytest.raises(DataValidationError, match="missing column"):
        event_study(df, outcome="tfr", intensity="intensity", policy_year=2015)
    with pytest.raises(DataValidationError, match="no intensity"):
        event_study(df, intensity={"110000": 0.5}, policy_year=2015)
    with pytest.raises(ModelSpecificationError, match="before and after"):
        event_study(df, intensity="intensity", policy_year=2030)
    with pytest.raises(ModelSpecificationError, match="collinear"):
        event_study(df.assign(intensity=0.5), intensity="intensity", policy_year=2015)


def test_plot_and_summary(rng):
    r = event_study(_panel(rng), intensity="intensity", policy_year=2015, alpha=0.1)
    ax = r.plot()
    assert ax.get_xlabel().startswith("Years relative")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "First affected birth year begins", "Reference period (fixed at 0)", "Estimate, 90% CI"]
    # the reference period is drawn hollow at 0 and without an interval; the others with theirs
    ref = r.params["reference"]
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [ref] and list(hollow[0].get_ydata()) == [0]
    bars = ax.containers[0]
    assert ref not in list(bars.lines[0].get_xdata()) and len(bars.lines[0].get_xdata()) == len(r.table) - 1
    assert "Pooled DiD" in r.summary()
    # the binned endpoints pool every earlier or later year, and their ticks say so
    lo, hi = r.params["window"]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == f"≤−{-lo}" and labels[-1] == f"≥{hi}" and labels[1] == f"−{-lo - 1}"


def test_birth_order_share_wilson_by_hand_and_published_2015_share():
    """Wilson interval by hand, (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n); the embedded 2015 survey:
    39.8 % of sampled births were second births (data/raw/nbs-exports-birthtrends/PROVENANCE.md). The plot breaks its
    line at the missing 2010 and labels the policy line."""
    set_theme("zh")  # labels are measured to place them: with a font that has Chinese glyphs
    import matplotlib.pyplot as plt
    from scipy import stats

    from analysis.data import load

    toy = pd.DataFrame({"year": [2001, 2001, 2003, 2003], "birth_order": ["2", "all"] * 2, "births": [30, 100, 45, 90]})
    res = birth_order_share(toy, alpha=0.1)
    z, n, p = stats.norm.ppf(0.95), 100, 0.3
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    centre = p + z**2 / (2 * n)
    row = res.table.iloc[0]
    assert row["share"] == 0.3
    assert row["lower"] == pytest.approx((centre - half) / (1 + z**2 / n))
    assert row["upper"] == pytest.approx((centre + half) / (1 + z**2 / n))
    assert res.params["missing_years"] == [2002]
    real = birth_order_share(load("sample_births_by_order")).table.set_index("year")
    assert round(100 * real.loc[2015, "share"], 1) == 39.8
    fig, ax = plt.subplots()
    birth_order_share(load("sample_births_by_order")).plot(ax=ax, lang="zh", policies={2014: "单独两孩 2014"})
    ys = ax.get_lines()[0].get_ydata()
    assert np.isnan(ys[list(ax.get_lines()[0].get_xdata()).index(2010)])
    assert "单独两孩 2014" in [t.get_text() for t in ax.texts]
    assert ax.get_ylabel() == "二孩占出生比例（%）"
    # the 1% surveys (larger samples, another design) are marked apart from the 1‰ surveys of the other years
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "估计值（95%置信区间）", "1% 人口抽样调查（2005、2015）", "其余年份：1‰ 人口变动抽样调查"]
    squares = [ln for ln in ax.get_lines() if ln.get_marker() == "s"]
    assert len(squares) == 1 and list(squares[0].get_xdata()) == [2005, 2015]
    assert list(real.loc[[2005, 2014, 2015], "survey"]) == [
        "1% population sample survey", "1‰ population change survey", "1% population sample survey"]
    plt.close(fig)
    fig, ax = plt.subplots()
    assert birth_order_share(toy).plot(ax=ax, lang="en").get_ylabel() == "Second births, % of births"
    plt.close(fig)
    with pytest.raises(ModelSpecificationError, match="order"):
        birth_order_share(toy, order="4")


def test_inputs_helpers():
    series = pd.DataFrame({
        "region_code": ["110000"] * 4, "region_zh": ["北京市"] * 4, "year": [2019, 2019, 2020, 2020],
        "indicator": ["cbr", "population", "cbr", "population"], "value": [8.1, 2.15e7, np.nan, 2.19e7]})
    wide = province_panel(series)
    assert list(wide["year"]) == [2019, 2020] and np.isnan(wide.loc[1, "cbr"])
    # the CBR's denominator: the mean of the two year-end populations (by hand), none for the first year
    assert np.isnan(wide.loc[0, "mean_population"]) and wide.loc[1, "mean_population"] == (2.15e7 + 2.19e7) / 2
    cb = pd.DataFrame({"census": 2010, "region_code": ["110000"] * 4 + ["120000"] * 4, "residence": "total",
                       "birth_order": ["all", "1", "all", "1"] * 2, "sex": ["male", "male", "female", "female"] * 2,
                       "births": [60, 45, 40, 35, 100, 50, 100, 50]})
    share = first_birth_share(cb)
    assert share["110000"] == pytest.approx(80 / 100) and share["120000"] == pytest.approx(0.5)
    pdates = pd.DataFrame({"region_code": ["11", "46"], "policy": "selective_two_child_2014",
                           "effective_date": pd.to_datetime(["2014-02-21", "2014-06-01"]),
                           "date_type": ["effective", "effective"]})
    t = policy_years(pdates, ["110000", "460000", "650000"]).set_index("region_code")
    assert t.loc["110000", "first_affected_year"] == 2015  # 2014-12-21: second half of 2014 -> 2015
    assert t.loc["460000", "first_affected_year"] == 2015  # 2015-04-01
    # Xinjiang has no row but had not acted by 2014-11-06 (PROVENANCE): that lower bound, not the default
    assert t.loc["650000", "date_source"] == "lower bound"
    assert t.loc["650000", "first_affected_year"] == 2016  # 2015-09-06: second half of 2015 -> 2016
    t = policy_years(pdates, ["650000", "620000"], not_before={}).set_index("region_code")
    assert (t["date_source"] == "default").all() and (t["first_affected_year"] == 2015).all()  # 2015-04-25
