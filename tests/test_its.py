"""Tests for analysis.its: published-tutorial reproduction, simulated series, errors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.config import ROOT
from analysis.exceptions import DataValidationError, ModelSpecificationError
from analysis.its import its, plot_fits
from analysis.plots import set_theme

SICILY = ROOT / "tests" / "reference" / "sicily.csv"


@pytest.fixture
def sicily() -> pd.DataFrame:
    d = pd.read_csv(SICILY)
    d["date"] = pd.to_datetime({"year": d["year"], "month": d["month"], "day": 1})
    return d


def test_sicily_tutorial_model3_reproduced(sicily):
    """Lopez Bernal, Cummins & Gasparrini (2017), Int J Epidemiol 46(1):348–355, model 3.

    Data: ``tests/reference/sicily.csv`` = ``sicily.csv`` of github.com/gasparrini/2017_lopezbernal_IJE_codedata
    (commit c88b53fc3c787ef87f33e27901dc3f7a6c781926), the tutorial's public supplement (see
    tests/reference/README.md). Model: ``glm(aces ~ offset(log(stdpop)) + smokban + time +
    harmonic(month, 2, 12), family = quasipoisson)`` from the tutorial's ``Rcode.R``.

    Reference numbers: (1) the R ``summary(model3)`` harmonic coefficients and standard errors as
    printed by R (quoted in a public R script found through code search — coefficients 0.0370967,
    -0.0182122, 0.0381608, 0.0147634; SEs 0.0100241, 0.0096435, 0.0096848, 0.0097221; tsModel's
    ``harmonic`` orders its columns sin1, sin2, cos1, cos2). Quasi-Poisson SEs include the Pearson
    dispersion, so matching them checks the dispersion too. (2) An independent statsmodels GLM with
    the tutorial's own coding (time = 1..59, smokban column). The paper's printed rate ratio could not be
    found in a stored copy of the paper; our step-change rate ratio is 0.885 (95% CI 0.838–0.934, t on 52 df;
    0.839–0.933 with z, as the tutorial's ``ci.lin`` would give).
    """
    r = its(sicily, outcome="aces", date="date", interruptions={"smoking ban": "2005-01-01"},
            offset="stdpop", seasonality=2, slope_change=False)
    m = r.model
    r_coef = {"sin1": 0.0370967, "sin2": -0.0182122, "cos1": 0.0381608, "cos2": 0.0147634}
    r_se = {"sin1": 0.0100241, "sin2": 0.0096435, "cos1": 0.0096848, "cos2": 0.0097221}
    for k in r_coef:
        assert m.params[k] == pytest.approx(r_coef[k], abs=5e-7)
        assert m.bse[k] == pytest.approx(r_se[k], abs=5e-7)

    k = 2 * np.pi * sicily["month"] / 12
    x = np.column_stack([np.ones(59), sicily["smokban"], sicily["time"], np.sin(k), np.sin(2 * k),
                         np.cos(k), np.cos(2 * k)])
    ref = sm.GLM(sicily["aces"], x, family=sm.families.Poisson(),
                 offset=np.log(sicily["stdpop"])).fit(scale="X2", use_t=True)
    row = r.effects.iloc[0]
    assert row["estimate"] == pytest.approx(np.exp(ref.params.iloc[1]), rel=1e-9)
    lo, hi = np.exp(ref.conf_int().iloc[1])
    assert (row["lower"], row["upper"]) == pytest.approx((lo, hi), rel=1e-9)
    assert (round(row["estimate"], 3), round(row["lower"], 3), round(row["upper"], 3)) == (0.885, 0.838, 0.934)
    # quasi-Poisson estimates its dispersion: t on the residual df (59 months − 7 coefficients), by hand
    b, se = np.log(row["estimate"]), m.bse["smoking ban:level"]
    assert m.df_resid == 52
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(b / se), 52), rel=1e-9)
    assert row["lower"] == pytest.approx(np.exp(b - stats.t.ppf(0.975, 52) * se), rel=1e-12)
    assert "t tests and intervals on 52 residual df" in r.method
    assert r.params["dispersion"] == pytest.approx(ref.scale, rel=1e-12)


def test_sicily_poisson_model1_and_slope_change(sicily):
    """Tutorial model 1 (Poisson, no seasonality) and a level + slope model against direct statsmodels fits.

    Our slope term is (t − T0)·1[t ≥ T0] with T0 the first post-ban month (Wagner et al. 2002); the
    tutorial's model 4 centres at month 36 instead, which changes the meaning of its level term.
    """
    r1 = its(sicily, outcome="aces", date="date", interruptions={"ban": "2005-01-01"}, offset="stdpop",
             family="poisson", slope_change=False)
    x = sm.add_constant(sicily[["smokban", "time"]].astype(float))
    ref = sm.GLM(sicily["aces"], x, family=sm.families.Poisson(), offset=np.log(sicily["stdpop"])).fit()
    assert r1.effects.loc[0, "estimate"] == pytest.approx(np.exp(ref.params["smokban"]), rel=1e-9)

    r4 = its(sicily, outcome="aces", date="date", interruptions={"ban": "2005-01-01"}, offset="stdpop",
             seasonality=2)
    x4 = x.assign(slope=(sicily["time"] - 37).clip(lower=0))
    k = 2 * np.pi * sicily["month"] / 12
    x4 = x4.assign(s1=np.sin(k), c1=np.cos(k), s2=np.sin(2 * k), c2=np.cos(2 * k))
    ref4 = sm.GLM(sicily["aces"], x4, family=sm.families.Poisson(),
                  offset=np.log(sicily["stdpop"])).fit(scale="X2", use_t=True)
    eff = r4.effects.set_index("term")
    assert eff.loc["level", "estimate"] == pytest.approx(np.exp(ref4.params["smokban"]), rel=1e-8)
    assert eff.loc["slope", "estimate"] == pytest.approx(np.exp(ref4.params["slope"]), rel=1e-8)
    assert eff.loc["slope", "p_value"] == pytest.approx(ref4.pvalues["slope"], rel=1e-6)


def test_hac_standard_errors_match_statsmodels(sicily):
    """Newey–West SEs equal statsmodels' own HAC covariance for the same GLM, and differ from model SEs."""
    r = its(sicily, outcome="aces", date="date", interruptions={"ban": "2005-01-01"}, offset="stdpop",
            seasonality=2, slope_change=False, hac_maxlags=3)
    plain = its(sicily, outcome="aces", date="date", interruptions={"ban": "2005-01-01"}, offset="stdpop",
                seasonality=2, slope_change=False)
    ref = sm.GLM(r.model.model.endog, r.design, family=sm.families.Poisson(), offset=r.offset).fit(
        scale="X2", cov_type="HAC", cov_kwds={"maxlags": 3})
    assert r.model.bse["ban:level"] == pytest.approx(ref.bse["ban:level"], rel=1e-9)
    assert r.model.bse["ban:level"] != pytest.approx(plain.model.bse["ban:level"], rel=1e-3)
    assert "Newey–West" in r.method


def _annual(rng, *, years=range(1995, 2020), base=1.0e6, trend=0.01, changes=None, pop=None):
    """Synthetic annual Poisson counts with level changes {first_year: rate ratio}."""
    years = np.array(list(years))
    t = years - years[0]
    eta = np.log(base) + trend * t
    for first, rr in (changes or {}).items():
        eta = eta + np.log(rr) * (years >= first)
    return pd.DataFrame({"year": years, "births": rng.poisson(np.exp(eta))})


def test_known_level_change_recovered(rng):
    df = _annual(rng, changes={2016: 1.15})
    r = its(df, outcome="births", date="year", interruptions={"universal": 2016}, family="poisson",
            slope_change=False)
    row = r.effects.iloc[0]
    print("seed 20261124; estimate", row["estimate"])
    assert row["lower"] < 1.15 < row["upper"]
    assert row["estimate"] == pytest.approx(1.15, rel=0.01)
    assert row["first_affected"] == 2016
    assert r.params["frequency"] == "annual"


def test_multiple_interruptions(rng):
    df = _annual(rng, changes={2014: 1.05, 2016: 1.15})
    r = its(df, outcome="births", date="year", interruptions={"selective": 2014, "universal": 2016},
            family="quasipoisson", slope_change=False)
    eff = r.effects.set_index("interruption")
    for name, truth in {"selective": 1.05, "universal": 1.15}.items():
        assert eff.loc[name, "lower"] < truth < eff.loc[name, "upper"]
    # Counterfactual without the universal policy only keeps the 2014 step.
    full = r.excess(2016, 2019)
    only_univ = r.excess(2016, 2019, without=["universal"])
    assert only_univ.table.loc[0, "excess"] < full.table.loc[0, "excess"]
    with pytest.raises(ModelSpecificationError, match="unknown interruption"):
        r.excess(2016, 2019, without=["nope"])


def test_lag_shifts_first_affected_period(rng):
    df = _annual(rng, changes={2017: 1.10})
    lagged = its(df, outcome="births", date="year", interruptions={"p": 2016}, lag=1, family="poisson")
    direct = its(df, outcome="births", date="year", interruptions={"p": 2017}, family="poisson")
    assert lagged.effects.loc[0, "first_affected"] == 2017
    assert lagged.effects["estimate"].tolist() == pytest.approx(direct.effects["estimate"].tolist(), rel=1e-12)
    # A policy date in the year: first affected year is the next one (the first year starting after it).
    dated = its(df, outcome="births", date="year", interruptions={"p": "2016-03-28"}, family="poisson")
    assert dated.effects.loc[0, "first_affected"] == 2017


def test_monthly_dates_with_seasonality(rng):
    dates = pd.date_range("2010-01-01", "2019-12-01", freq="MS")
    t = np.arange(len(dates))
    season = 0.08 * np.sin(2 * np.pi * dates.month / 12) + 0.05 * np.cos(2 * np.pi * dates.month / 12)
    eta = np.log(5000) + 0.002 * t + season + np.log(0.9) * (dates >= "2016-10-01")
    df = pd.DataFrame({"month": dates + pd.Timedelta(days=14), "births": rng.poisson(np.exp(eta)),
                       "pop": 1e6})
    r = its(df, outcome="births", date="month", interruptions={"policy": "2016-01-01"}, lag=9,
            offset="pop", seasonality=1, slope_change=False)
    row = r.effects.iloc[0]
    assert row["first_affected"] == pd.Timestamp("2016-10-01")
    assert row["lower"] < 0.9 < row["upper"]
    assert r.model.params["sin1"] == pytest.approx(0.08, abs=0.01)
    assert r.counterfactual["date"].iloc[0] == pd.Timestamp("2010-01-01")


def test_excess_hand_computation_and_interval(rng):
    df = _annual(rng, changes={2016: 1.2}, base=1e5)
    r = its(df, outcome="births", date="year", interruptions={"u": 2016}, family="poisson",
            slope_change=False)
    b = r.model.params
    post = df["year"].between(2016, 2017)
    t = (df["year"] - 1995)[post]
    cf = np.exp(b["const"] + b["time"] * t).sum()
    ex = r.excess(2016, 2017).table.iloc[0]
    assert ex["counterfactual"] == pytest.approx(cf, rel=1e-10)
    assert ex["excess"] == pytest.approx(df.loc[post, "births"].sum() - cf, rel=1e-10)
    assert ex["lower"] < ex["excess"] < ex["upper"]
    true_cf = (1e5 * np.exp(0.01 * t)).sum()
    assert ex["lower"] < df.loc[post, "births"].sum() - true_cf < ex["upper"]
    cfd = r.counterfactual
    assert (cfd["cf_lower"] <= cfd["counterfactual"]).all() and (cfd["counterfactual"] <= cfd["cf_upper"]).all()


def test_counterfactual_without_one_interruption(rng):
    """Counterfactual A (only the 2016 policy removed) keeps the 2014 step: by hand from the coefficients, its
    2016–2017 sum is the one excess(without=...) uses, its band is the delta-method interval with the t quantile
    of the quasi-Poisson fit, and the figure draws it and names it. Seeded synthetic series (not real data)."""
    df = _annual(rng, changes={2015: 1.05, 2016: 1.2}, base=1e5)
    r = its(df, outcome="births", date="year", interruptions={"s": 2015, "u": 2016}, slope_change=False)
    b = r.model.params
    a = r.counterfactual_for(["u"])
    t = df["year"] - 1995
    by_hand = np.exp(b["const"] + b["time"] * t + b["s:level"] * (df["year"] >= 2015))
    assert a["counterfactual"].to_numpy() == pytest.approx(by_hand.to_numpy(), rel=1e-10)
    assert set(a["without"]) == {"u"} and set(r.counterfactual_for()["without"]) == {"all interruptions"}
    post = df["year"].between(2016, 2017).to_numpy()
    assert r.excess(2016, 2017, without=["u"]).table.loc[0, "counterfactual"] == pytest.approx(
        by_hand[post].sum(), rel=1e-10)
    x = r.design.assign(**{"u:level": 0.0}).to_numpy(float)
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, np.asarray(r.model.cov_params()), x))
    q = stats.t.ppf(0.975, r.model.df_resid)
    assert a["cf_upper"].to_numpy() == pytest.approx((by_hand * np.exp(q * se)).to_numpy(), rel=1e-10)
    assert (a["counterfactual"] != r.counterfactual["counterfactual"]).to_numpy()[post].all()  # B removes both
    fig, ax = plt.subplots()
    r.plot(ax=ax, without=["u"], labels={"u": "universal two-child 2016"})
    dashed = next(line for line in ax.lines if line.get_linestyle() == "--")
    assert dashed.get_label() == "Counterfactual without universal two-child 2016"
    assert dashed.get_ydata() == pytest.approx(by_hand.to_numpy(), rel=1e-10)
    plt.close(fig)


def test_periods_alone_flags_a_step_fitted_from_one_year(rng):
    """A 2015 step followed by a 2016 step and slope: 2015 is the step's only year, so it is fitted exactly
    (its residual is 0) and periods_alone says 1; the 2016 policy has the four years 2016–2019."""
    df = _annual(rng, changes={2015: 1.05, 2016: 1.2}, base=1e5)
    r = its(df, outcome="births", date="year", interruptions={"u": 2016, "s": 2015}, slope_change=["u"])
    assert r.periods_alone() == {"s": 1, "u": 4}
    row = r.counterfactual.set_index("date").loc[2015]
    assert row["fitted"] == pytest.approx(row["observed"], rel=1e-9)
    assert its(df, outcome="births", date="year", interruptions={"u": 2016}).periods_alone() == {"u": 4}


def test_gaussian_and_negbin_families(rng):
    df = _annual(rng, changes={2016: 1.1}, base=2e4)
    g = its(df.assign(cbr=df["births"] / 1e3), outcome="cbr", date="year", interruptions={"u": 2016},
            family="gaussian")
    assert set(g.effects["scale"]) == {"difference"}
    ols = sm.OLS(g.model.model.endog, g.design).fit()
    assert g.effects.loc[0, "estimate"] == pytest.approx(ols.params["u:level"], rel=1e-8)
    nb = its(df, outcome="births", date="year", interruptions={"u": 2016}, family="negbin")
    assert nb.effects.loc[0, "lower"] < 1.1 < nb.effects.loc[0, "upper"]


def test_misfit_flags_a_year_the_model_does_not_describe(rng):
    """Synthetic (seeded) births with a 2016 step of 1.1 and an unmodelled one-year spike ×1.3 in 2018: 2018 is
    flagged; its residual is the hand-computed (y − μ) / √(φ μ), φ = Σ (y − μ)² / μ / residual df."""
    df = _annual(rng, changes={2016: 1.1})
    df.loc[df["year"] == 2018, "births"] = (df.loc[df["year"] == 2018, "births"] * 1.3).round()
    r = its(df, outcome="births", date="year", interruptions={"u": 2016}, slope_change=False)
    bad = r.misfit()
    assert bad["date"].tolist() == [2018]
    cf = r.counterfactual
    y, mu = cf["observed"].to_numpy(float), cf["fitted"].to_numpy(float)
    phi = np.sum((y - mu) ** 2 / mu) / r.model.df_resid
    row = cf[cf["date"] == 2018].iloc[0]
    assert bad.loc[0, "residual"] == pytest.approx((row["observed"] - row["fitted"]) / np.sqrt(phi * row["fitted"]))
    assert bad.loc[0, "percent_off"] == pytest.approx(100 * (row["observed"] / row["fitted"] - 1))
    assert its(_annual(rng, changes={2016: 1.1}), outcome="births", date="year", interruptions={"u": 2016},
               slope_change=False).misfit(z=4).empty


def test_summary_repr_and_plot(rng):
    set_theme("zh")  # labels are measured to place them: with a font that has Chinese glyphs
    df = _annual(rng, changes={2016: 1.1})
    r = its(df, outcome="births", date="year", interruptions={"u": 2016})
    assert "quasipoisson" in r.summary() and "rate ratio" in r._repr_html_()
    ax = r.plot()
    assert ax.get_ylabel() == "births"
    assert len(ax.lines) >= 3
    assert [t.get_text() for t in ax.texts] == ["U, from 2016"]  # at the first affected year; sentence case
    fig, ax = plt.subplots()
    r.plot(ax=ax, labels={"u": "全面两孩 2016"})
    assert [t.get_text() for t in ax.texts] == ["全面两孩 2016"]  # names its year already
    lagged = its(df, outcome="births", date="year", interruptions={"u": 2014}, lag=1)
    fig, ax = plt.subplots()
    lagged.plot(ax=ax, labels={"u": "selective 2014"})
    assert [t.get_text().replace("\n", " ") for t in ax.texts] == ["Selective 2014, from 2015"]  # wrapped if long
    fig, ax = plt.subplots()
    lagged.plot(ax=ax, lang="zh", labels={"u": "单独两孩 2014"})
    assert [t.get_text().replace("\n", "") for t in ax.texts] == ["单独两孩 2014，2015 年起"]
    fig, ax = plt.subplots()
    its(df, outcome="births", date="year", interruptions={"u": 2016}, alpha=0.1).plot(ax=ax, lang="zh")
    assert ax.get_legend_handles_labels()[1][0] == "反事实均值的90%置信区间"  # the band's level, in either language
    assert ax.get_legend() is not None
    fig, ax = plt.subplots()
    r.plot(ax=ax, legend=False)  # for a legend shared by panels
    assert ax.get_legend() is None and len(ax.get_legend_handles_labels()[1]) == 4
    # the interruption line is drawn at its first affected year, labelled by analysis.plots.policy_lines
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [2016]
    plt.close("all")


def test_plot_fits_draws_each_fit_with_its_band(rng):
    """Two seeded synthetic series (not real data) on one axes: per fit its points, fitted and counterfactual lines
    and a band that is exactly the fit's counterfactual interval; one legend names the fits and the line styles."""
    set_theme("en")
    a = its(_annual(rng, changes={2016: 1.1}), outcome="births", date="year", interruptions={"u": 2016})
    b = its(_annual(rng, changes={2016: 1.2}), outcome="births", date="year", interruptions={"u": 2016})
    fig, ax = plt.subplots()
    assert plot_fits({"original": a, "revised": b}, ax=ax, labels={"u": "universal 2016"}) is ax
    texts = ax.get_legend_handles_labels()[1]
    assert texts == ["original", "revised", "Fitted", "Counterfactual (no policy)", "95% CI of the counterfactual mean"]
    bands = [c for c in ax.collections if len(c.get_paths()) and len(c.get_paths()[0].vertices)]
    assert len(bands) == 2
    top = bands[1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(b.counterfactual["cf_upper"].max())
    assert [t.get_text() for t in ax.texts] == ["Universal 2016"]
    assert [line.get_marker() for line in ax.lines if line.get_label() in ("original", "revised")] == ["o", "s"]
    with pytest.raises(ModelSpecificationError, match="at least one"):
        plot_fits({})
    c = its(_annual(rng), outcome="births", date="year", interruptions={"u": 2016}, alpha=0.1)
    with pytest.raises(ModelSpecificationError, match="one level"):
        plot_fits({"a": a, "c": c})  # one legend entry cannot name two levels
    plt.close("all")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"interruptions": {"p": 2030}}, ModelSpecificationError, "outside the data"),
        ({"interruptions": {"p": 1995}}, ModelSpecificationError, "outside the data"),
        ({"interruptions": {"p": 1997}}, ModelSpecificationError, "before the first interruption"),
        ({"outcome": "deaths"}, DataValidationError, "missing column"),
        ({"seasonality": 2}, ModelSpecificationError, "monthly"),
        ({"family": "binomial"}, ModelSpecificationError, "family"),
        ({"interruptions": {}}, ModelSpecificationError, "at least one"),
    ],
)
def test_bad_calls_raise_clear_errors(rng, kwargs, error, match):
    df = _annual(rng)
    call = {"outcome": "births", "date": "year", "interruptions": {"p": 2016}} | kwargs
    with pytest.raises(error, match=match):
        its(df, **call)


def test_negative_and_missing_counts_name_rows(rng):
    df = _annual(rng)
    df.loc[3, "births"] = -5
    with pytest.raises(DataValidationError, match=r"row 5: column 'births': negative count"):
        its(df, outcome="births", date="year", interruptions={"p": 2016})
    df.loc[3, "births"] = np.nan
    with pytest.raises(DataValidationError, match="row 5"):
        its(df, outcome="births", date="year", interruptions={"p": 2016})


def test_negbin_dispersion_matches_joint_maximum_likelihood(sicily):
    """Profile-likelihood NB2 alpha equals statsmodels' joint MLE (discrete NegativeBinomial, Nelder–Mead)."""
    r = its(sicily, outcome="aces", date="date", interruptions={"ban": "2005-01-01"}, offset="stdpop",
            family="negbin", seasonality=2)
    joint = sm.NegativeBinomial(sicily["aces"].to_numpy(float), r.design, offset=r.offset).fit(
        start_params=np.append(r.model.params, 0.01), method="nm", maxiter=20000, disp=0)
    assert r.model.model.family.alpha == pytest.approx(joint.params["alpha"], rel=1e-3)
    assert r.model.params["ban:level"] == pytest.approx(joint.params["ban:level"], abs=1e-4)


def test_adjacent_interruptions_collinear_slopes_rejected_then_selectable(rng):
    """2015 and 2016 first-affected years: slope of the first = level + slope of the second (collinear)."""
    df = _annual(rng, changes={2015: 1.03, 2016: 1.10})
    with pytest.raises(ModelSpecificationError, match="collinear"):
        its(df, outcome="births", date="year", interruptions={"a": 2015, "b": 2016})
    r = its(df, outcome="births", date="year", interruptions={"a": 2015, "b": 2016}, slope_change=["b"])
    assert list(r.effects["term"]) == ["level", "level", "slope"]
    with pytest.raises(ModelSpecificationError, match="not interruptions"):
        its(df, outcome="births", date="year", interruptions={"a": 2015, "b": 2016}, slope_change=["c"])


def test_float_years_accepted_when_whole_and_rejected_otherwise(rng):
    df = _annual(rng, changes={2016: 1.1})
    a = its(df.assign(year=df["year"].astype(float)), outcome="births", date="year", interruptions={"u": 2016})
    b = its(df, outcome="births", date="year", interruptions={"u": 2016})
    assert a.effects["estimate"].tolist() == pytest.approx(b.effects["estimate"].tolist(), rel=1e-12)
    with pytest.raises(DataValidationError, match="whole numbers"):
        its(df.assign(year=df["year"] + 0.5), outcome="births", date="year", interruptions={"u": 2016})


def test_monthly_excess_with_date_strings(sicily):
    r = its(sicily, outcome="aces", date="date", interruptions={"ban": "2005-01-01"}, offset="stdpop",
            seasonality=2, slope_change=False)
    ex = r.excess("2005-01", "2005-12").table.iloc[0]
    assert ex["periods"] == 12
    assert ex["observed"] == sicily.loc[sicily["year"] == 2005, "aces"].sum()
    assert ex["lower"] < ex["excess"] < ex["upper"] < 0
    with pytest.raises(ModelSpecificationError, match="no period"):
        r.excess("2010-01", "2010-12")


def test_excess_interval_uses_t_where_the_model_does(rng):
    """Gaussian (identity link): the excess is linear in the coefficients, so its draws are exactly t-distributed
    with the residual df; the simulated interval must match excess ± t(df)·SE (by hand from the covariance), not
    the narrower ± 1.96·SE. Seeded synthetic series (not real data), 13 years."""
    years = np.arange(2005, 2018)
    y = 100 + 2.0 * (years - 2005) + 8.0 * (years >= 2016) + rng.normal(0, 3, years.size)
    r = its(pd.DataFrame({"year": years, "y": y}), outcome="y", date="year", interruptions={"u": 2016},
            family="gaussian", slope_change=False)
    assert r.model.use_t and r.model.df_resid == 10
    ex = r.excess(2016, 2017, n_sim=40_000).table.iloc[0]
    a = r.design.loc[years >= 2016].assign(**{"u:level": 0.0}).sum().to_numpy()  # Σ counterfactual rows
    se = float(np.sqrt(a @ np.asarray(r.model.cov_params()) @ a))
    half_t, half_z = stats.t.ppf(0.975, 10) * se, 1.96 * se
    assert (ex["upper"] - ex["lower"]) / 2 == pytest.approx(half_t, rel=0.03)
    assert abs((ex["upper"] - ex["lower"]) / 2 - half_z) > 0.08 * half_z


def test_method_text_in_chinese(rng):
    df = _annual(rng, changes={2016: 1.1})
    q = its(df, outcome="births", date="year", interruptions={"u": 2016}, hac_maxlags=2)
    assert q.method_text("en") == q.method and "t tests and intervals on" in q.method
    assert q.method_text("zh") == (f"分段回归中断时间序列，拟泊松广义线性模型（对数连接），Newey–West HAC 标准误（最大滞后 2），"
                                   f"t 检验与区间（残差自由度 {q.model.df_resid:g}）；Lopez Bernal 等 2017")
    p = its(df, outcome="births", date="year", interruptions={"u": 2016}, family="poisson")
    assert not p.model.use_t and "z 检验与区间" in p.method_text("zh") and "泊松广义线性模型" in p.method_text("zh")
