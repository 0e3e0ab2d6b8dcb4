"""Tests of analysis.funnel against scipy's binomial distribution and hand computations."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import funnel
from analysis.exceptions import DataValidationError, ModelSpecificationError


def test_hand_computation_n10():
    """n = 10, target 0.5, lower 95 % limit by hand (Spiegelhalter 2005, Appendix A.1.1).

    F(1) = 11/1024, F(2) = 56/1024, so r_0.025 = 2; alpha = (56/1024 − 0.025)/(45/1024) = 0.675556;
    limit = (2 − 0.675556)/10 = 0.1324444. Upper: F(7) = 968/1024, F(8) = 1013/1024, r_0.975 = 8,
    alpha = (1013/1024 − 0.975)/(45/1024) = 0.324444, limit = 0.7675556 (the interpolation treats each count r
    as spread over (r − 1, r], so the limits are not symmetric about 0.5).
    """
    lim = funnel.limits([10], 0.5, levels=[0.95])
    expected = (2 - (56 / 1024 - 0.025) / (45 / 1024)) / 10
    assert lim.loc[0, "lower_95"] == pytest.approx(expected, abs=1e-12)
    assert lim.loc[0, "lower_95"] == pytest.approx(0.1324444, abs=1e-6)
    assert lim.loc[0, "upper_95"] == pytest.approx((8 - (1013 / 1024 - 0.975) / (45 / 1024)) / 10, abs=1e-12)
    assert lim.loc[0, "upper_95"] == pytest.approx(0.7675556, abs=1e-6)


@pytest.mark.parametrize("target", [0.1, 0.5, 0.515, 0.9])
def test_against_scipy_ppf(target):
    """Reference: scipy.stats.binom.ppf/cdf. The interpolated limit lies in (r_p − 1, r_p]/n and
    the binomial cdf at r_p − 1 is below p while at r_p it is at least p."""
    n = np.array([5, 20, 100, 1000, 25000])
    lim = funnel.limits(n, target)
    for level, col_lo, col_hi in [(0.95, "lower_95", "upper_95"), (0.998, "lower_99.8", "upper_99.8")]:
        for p, col in [((1 - level) / 2, col_lo), (1 - (1 - level) / 2, col_hi)]:
            r = stats.binom.ppf(p, n, target)
            assert np.all(stats.binom.cdf(r - 1, n, target) < p)
            assert np.all(stats.binom.cdf(r, n, target) >= p)
            count = lim[col].to_numpy() * n
            assert np.all(count <= r + 1e-9)
            assert np.all(count >= r - 1 - 1e-9)
    assert list(lim.columns) == ["n", "target", "lower_95", "upper_95", "lower_99.8", "upper_99.8"]


def test_limits_narrow_and_approach_normal():
    """For large n the exact limits approach target ± z·sqrt(p(1−p)/n) (normal approximation)."""
    lim = funnel.limits([100, 10_000, 1_000_000], 0.3)
    width = (lim["upper_95"] - lim["lower_95"]).to_numpy()
    assert np.all(np.diff(width) < 0)
    normal = 2 * 1.959964 * np.sqrt(0.3 * 0.7 / 1_000_000)
    assert width[-1] == pytest.approx(normal, rel=1e-3)


def test_overdispersion_phi_formula():
    """phi = 4 doubles the half-width of the normal limits (Spiegelhalter 2005, §6.1)."""
    lim = funnel.limits([400], 0.5, levels=[0.95], overdispersion=4.0)
    half = stats.norm.ppf(0.975) * np.sqrt(4 * 0.25 / 400)
    assert lim.loc[0, "upper_95"] == pytest.approx(0.5 + half)
    assert lim.attrs["phi"] == 4.0


def test_estimate_overdispersion_by_hand():
    """Hand computation of Winsorised z² mean for five units (10 % tails → 10th/90th percentiles)."""
    n = np.array([100, 100, 100, 100, 100])
    obs = np.array([40, 45, 50, 55, 70])
    z = (obs / n - 0.5) / np.sqrt(0.25 / n)  # -2, -1, 0, 1, 4
    lo, hi = np.quantile(z, [0.1, 0.9])  # numpy linear interpolation: -1.6, 2.8
    assert (lo, hi) == pytest.approx((-1.6, 2.8))
    expected = np.mean(np.clip(z, lo, hi) ** 2)
    assert funnel.estimate_overdispersion(obs, n, 0.5) == pytest.approx(expected)
    assert expected == pytest.approx((1.6**2 + 1 + 0 + 1 + 2.8**2) / 5)


def test_estimate_overdispersion_binomial_data_near_one(rng):
    """Synthetic (seed 20261124) binomial data without extra variation give phi near 1."""
    n = rng.integers(200, 5000, size=400)
    obs = rng.binomial(n, 0.4)
    phi = funnel.estimate_overdispersion(obs, n, 0.4)
    assert 0.7 < phi < 1.2
    # 'estimate' with phi <= 1 keeps exact limits
    lim = funnel.limits(n[:3], 0.4, overdispersion="estimate", observed=obs[:3] * 0 + np.round(n[:3] * 0.4))
    exact = funnel.limits(n[:3], 0.4)
    assert np.allclose(lim["upper_95"], exact["upper_95"])


def test_tau2_is_dersimonian_laird_around_the_pooled_target(rng):
    """Without Winsorising and with the pooled proportion as target, Spiegelhalter's (2005, §6.2) additive tau² is
    the DerSimonian–Laird estimate: statsmodels' ``combine_effects`` (method_re="dl") on the unit proportions
    with the null variances target(1 − target)/n_i. Synthetic (seeded) over-dispersed units."""
    from statsmodels.stats.meta_analysis import combine_effects

    n = rng.integers(2_000, 60_000, size=31)
    obs = rng.binomial(n, np.clip(rng.normal(0.53, 0.01, size=31), 0, 1))
    target = obs.sum() / n.sum()
    dl = combine_effects(obs / n, np.full(31, target * (1 - target)) / n, method_re="dl")
    assert funnel.estimate_tau2(obs, n, target, winsor=0) == pytest.approx(dl.tau2, rel=1e-9)
    assert dl.tau2 > 0
    # the default Winsorises the z-scores first (§6.1): by hand from the Winsorised phi
    phi = funnel.estimate_overdispersion(obs, n, target)
    w = n / (target * (1 - target))
    by_hand = (31 * phi - 30) / (w.sum() - (w**2).sum() / w.sum())
    assert funnel.estimate_tau2(obs, n, target) == pytest.approx(max(by_hand, 0.0))


def test_srb_funnel_gives_tau_in_srb_points():
    """srb.funnel(overdispersion="additive"): tau of the male share and, by the delta method at the target
    (d SRB / dp = 100 / (1 − p)²), in SRB points; a hand computation from the counts."""
    from analysis import srb

    births = pd.DataFrame({"males": [5300, 520, 1190, 880, 2400, 610, 9000],
                           "females": [4800, 500, 1000, 830, 2150, 560, 7000]})
    f = srb.funnel(births, overdispersion="additive")
    p = births["males"].sum() / (births["males"] + births["females"]).sum()
    tau2 = funnel.estimate_tau2(births["males"], births["males"] + births["females"], p)
    assert tau2 > 0 and f.params["tau2"] == pytest.approx(tau2)
    assert f.params["tau_srb"] == pytest.approx(100 * np.sqrt(tau2) / (1 - p) ** 2)


def test_additive_limits_keep_their_width_for_large_n():
    """Limits target ± z·sqrt(target(1 − target)/n + tau²) (§6.2): for large n the half-width tends to z·tau,
    where multiplicative limits keep closing in."""
    lim = funnel.limits([100, 10**8], 0.5, levels=[0.95], tau2=0.01**2)
    z = stats.norm.ppf(0.975)
    assert lim.loc[0, "upper_95"] == pytest.approx(0.5 + z * np.sqrt(0.25 / 100 + 1e-4))
    assert lim.loc[1, "upper_95"] - 0.5 == pytest.approx(z * 0.01, rel=1e-3)
    assert lim.attrs == {"phi": 1.0, "tau2": 1e-4}
    # tau² estimated from counts; 0 (no extra variation) keeps the exact limits
    n = np.array([1000, 1000, 1000, 1000])
    spread = funnel.classify([450, 500, 550, 600], n, 0.525, overdispersion="additive")
    assert spread.attrs["tau2"] == pytest.approx(funnel.estimate_tau2([450, 500, 550, 600], n, 0.525))
    assert spread.attrs["tau2"] > 0
    flat = funnel.limits(n, 0.5, overdispersion="additive", observed=[500, 500, 500, 500])
    assert flat.attrs["tau2"] == 0.0 and flat["upper_95"].equals(funnel.limits(n, 0.5)["upper_95"])
    with pytest.raises(ModelSpecificationError, match="either"):
        funnel.limits([100], 0.5, overdispersion=2.0, tau2=0.01)
    with pytest.raises(ModelSpecificationError, match="tau2"):
        funnel.limits([100], 0.5, tau2=-1.0)
    with pytest.raises(ModelSpecificationError, match="observed"):
        funnel.limits([100], 0.5, overdispersion="additive")


def test_classify_positions():
    out = funnel.classify(observed=[80, 50, 20, 520], n=[100, 100, 100, 1000], target_p=0.5)
    assert out["position_95"].tolist() == ["above", "inside", "below", "inside"]
    assert out["position_99.8"].tolist() == ["above", "inside", "below", "inside"]
    assert out["proportion"].tolist() == [0.8, 0.5, 0.2, 0.52]


def test_classify_target_extremes_and_rates_0_100():
    out = funnel.classify(observed=[0, 100], n=[100, 100], target_p=0.0)
    assert out["position_95"].tolist() == ["inside", "above"]
    out = funnel.classify(observed=[100], n=[100], target_p=1.0)
    assert out["position_95"].tolist() == ["inside"]


def test_bad_input_errors():
    with pytest.raises(DataValidationError, match="row 3"):
        funnel.limits([10, 0], 0.5)
    with pytest.raises(DataValidationError):
        funnel.limits([10.5], 0.5)
    with pytest.raises(ModelSpecificationError):
        funnel.limits([10], 1.5)
    with pytest.raises(ModelSpecificationError):
        funnel.limits([10], 0.5, levels=[95])
    with pytest.raises(ModelSpecificationError):
        funnel.limits([10], 0.5, overdispersion="guess")
    with pytest.raises(DataValidationError, match="between 0 and n"):
        funnel.classify(observed=[11], n=[10], target_p=0.5)


def test_plot_funnel_with_transform():
    df = pd.DataFrame({"births": [200, 1000, 5000], "p": [0.53, 0.515, 0.56], "name": ["a", "b", "c"]})
    fig, ax = plt.subplots()
    out = funnel.plot_funnel(
        df, x="births", y="p", target_p=0.5122, label="name", transform=lambda p: 100 * p / (1 - p), ax=ax, lang="en"
    )
    assert out is ax
    # target line on the transformed scale: 100·0.5122/0.4878
    ys = [line.get_ydata()[0] for line in ax.get_lines()]
    assert any(abs(v - 100 * 0.5122 / 0.4878) < 1e-9 for v in ys)
    # unit c (0.56 on n=5000) is far outside: annotated
    assert [t.get_text() for t in ax.texts] == ["c"]
    with pytest.raises(DataValidationError, match="column"):
        funnel.plot_funnel(df, x="n", y="p", target_p=0.5)


def test_plot_y_range_follows_the_units_not_the_widest_limits():
    """A tiny unit (n = 20) opens the limits to ≈ 0.27–0.75 on the share scale; the axis keeps to the units and the
    target (hand computation: data 0.49–0.53, target 0.51, span 0.04, margin 15 %), cutting the limits."""
    df = pd.DataFrame({"births": [20, 5000, 8000], "p": [0.50, 0.49, 0.53]})
    fig, ax = plt.subplots()
    funnel.plot_funnel(df, x="births", y="p", target_p=0.51, ax=ax)
    assert ax.get_ylim() == pytest.approx((0.49 - 0.006, 0.53 + 0.006))
    wide = pd.DataFrame({"births": [20, 40], "p": [0.3, 0.7]})  # the units span the limits: left as drawn
    fig, ax = plt.subplots()
    funnel.plot_funnel(wide, x="births", y="p", target_p=0.5, ax=ax)
    assert ax.get_ylim()[0] < 0.3 and ax.get_ylim()[1] > 0.7
    # panels sharing the y axis: the second panel's cut keeps the first panel's points in view
    fig, (left, right) = plt.subplots(1, 2, sharey=True)
    funnel.plot_funnel(pd.DataFrame({"births": [5000, 8000], "p": [0.45, 0.60]}), x="births", y="p", target_p=0.52,
                       ax=left)
    left.fill_between([5000, 8000], [0.50, 0.50], [0.55, 0.55], alpha=0.1)  # a band is not a point (offset 0, 0)
    funnel.plot_funnel(df, x="births", y="p", target_p=0.51, ax=right)
    assert left.get_ylim() == right.get_ylim() == pytest.approx((0.45 - 0.15 * 0.15, 0.60 + 0.15 * 0.15))
    plt.close("all")


def test_plot_legend_follows_the_language():
    import matplotlib.pyplot as plt

    from analysis import funnel

    data = pd.DataFrame({"n": [100, 400, 900], "p": [0.5, 0.55, 0.45]})
    texts = {}
    for lang in ("zh", "en"):
        fig, ax = plt.subplots()
        funnel.plot_funnel(data, x="n", y="p", target_p=0.5, ax=ax, lang=lang)
        texts[lang] = [t.get_text() for t in ax.get_legend().get_texts()]
        plt.close(fig)
    assert texts == {"zh": ["95%控制限", "99.8%控制限", "目标值 0.5"],
                     "en": ["95% control limits", "99.8% control limits", "Target 0.5"]}  # fmt: skip


def test_plot_funnel_names_the_farthest_units_without_overlap():
    """Synthetic: 20 units far above a 0.5 target at nearly the same n (a cluster), 30 inside. At most
    MAX_LABELS are named — those with the largest |z| — and no two labels overlap (before, every label sat 3
    points up-right of its unit, so a cluster's labels covered each other)."""
    n = np.r_[np.linspace(5000, 5200, 20), np.linspace(200, 9000, 30)].round()
    p = np.r_[np.linspace(0.56, 0.60, 20), np.full(30, 0.5)]
    df = pd.DataFrame({"n": n, "p": p, "name": [f"u{i:02d}" for i in range(50)]})
    fig, ax = plt.subplots(figsize=(5, 4))
    funnel.plot_funnel(df, x="n", y="p", target_p=0.5, label="name", ax=ax, lang="en")
    note = [t for t in ax.texts if t.get_text().startswith("Named:")]
    assert [t.get_text() for t in note] == ["Named: 12 of 20 beyond the 99.8% limits (farthest)"]
    named = [t.get_text() for t in ax.texts if t not in note]
    z = (df["p"] - 0.5) / np.sqrt(0.25 / df["n"])
    assert funnel.MAX_LABELS == 12
    assert sorted(named) == sorted(df.loc[z.nlargest(12).index, "name"])
    fig.canvas.draw()
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in ax.texts if t not in note]
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(12) for j in range(i + 1, 12))
    # no label covers the legend; the note sits below the axes
    assert note[0].get_window_extent(fig.canvas.get_renderer()).y1 < ax.get_window_extent().y0
    legend_box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    assert not any(b.overlaps(legend_box) for b in boxes)
    plt.close(fig)
    fig, ax = plt.subplots()
    funnel.plot_funnel(df, x="n", y="p", target_p=0.5, label="name", ax=ax, max_labels=0)
    assert len(ax.texts) == 0
    plt.close(fig)
