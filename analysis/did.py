"""Province panel event study / difference-in-differences with a continuous treatment intensity.

Model (two-way fixed effects): ``y_it = a_i + g_t + sum_{k != ref} b_k I_i 1[t - T_i = k] + e_it`` where
``I_i`` is the (centred) treatment intensity of unit ``i`` (e.g. its 2010-census share of births that were
first births: how binding the one-child rule was) and ``T_i`` its first affected year; the end bins collect
all earlier/later event times. The pooled difference-in-differences replaces the event dummies by
``I_i 1[t >= T_i]``. Standard errors are clustered by unit (CR1; inference with t(G−1)); the wild cluster
bootstrap (restricted, WCR) gives p-values and a bootstrap-t interval, as recommended with few clusters.

References: Cameron AC, Gelbach JB, Miller DL (2008). Bootstrap-based improvements for inference with
clustered errors. Rev Econ Stat 90:414–427. Roodman D, MacKinnon JG, Nielsen MØ, Webb MD (2019). Fast
and wild: bootstrap inference in Stata using boottest. Stata J 19:4–60. Webb MD (2023). Reworking wild
bootstrap-based inference for clustered errors. Can J Econ 56:839–858. Callaway B, Goodman-Bacon A,
Sant'Anna PHC (2024). Difference-in-differences with a continuous treatment. NBER WP 32117.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy import stats

from analysis import plots
from analysis.exceptions import AnalysisWarning, DataValidationError, ModelSpecificationError
from analysis.narrative import ORDER_ZH
from analysis.results import Result
from analysis.tables import value_zh

BOOTSTRAP_WEIGHTS = ("rademacher", "webb")
_WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


# --------------------------------------------------------------------------- inputs


def province_panel(series: pd.DataFrame) -> pd.DataFrame:
    """Tidy ``province_series`` (indicator ∈ {cbr, population}) → one row per region_code × year.

    Columns: region_code, region_zh, year, cbr (per 1000), population (persons at year end, as stored),
    mean_population (the mean of this and the previous year-end population: the denominator of the CBR, so births
    = cbr × mean_population / 1000; NaN without the previous year). Missing values (CBR 2020, 2023) stay NaN.
    """
    need = ["region_code", "year", "indicator", "value"]
    missing = [c for c in need if c not in series.columns]
    if missing:
        raise DataValidationError(f"missing column(s) {missing}", column=missing[0],
                                  expected="the province_series table")
    wide = series.pivot_table(index=["region_code", "year"], columns="indicator", values="value",
                              aggfunc="first", dropna=False).reset_index()
    wide.columns.name = None
    if "region_zh" in series.columns:
        names = series.drop_duplicates("region_code").set_index("region_code")["region_zh"]
        wide.insert(1, "region_zh", wide["region_code"].map(names))
    if "population" in wide.columns:
        prev = wide[["region_code", "year", "population"]].assign(year=wide["year"] + 1)
        wide = wide.merge(prev, on=["region_code", "year"], how="left", suffixes=("", "_prev"))
        wide["mean_population"] = (wide["population"] + wide.pop("population_prev")) / 2
    return wide.sort_values(["region_code", "year"]).reset_index(drop=True)


def first_birth_share(census_births: pd.DataFrame, *, census: int = 2010,
                      residence: str = "total") -> pd.Series:
    """Share of births (both sexes) that were first births, per region, from census long-form counts.

    Index: region_code; values in [0, 1]. A measure of how binding the one-child rule was: a high share
    means few couples had (registered) a second child before the two-child policies.
    """
    d = census_births[(census_births["census"] == census) & (census_births["residence"] == residence)]
    if d.empty:
        raise DataValidationError(f"no census {census} rows with residence '{residence}'",
                                  column="census", expected="2010 or 2020")
    tot = d.groupby(["region_code", "birth_order"])["births"].sum().unstack("birth_order")
    if "1" not in tot or "all" not in tot:
        raise DataValidationError("birth_order must include '1' and 'all'", column="birth_order")
    share = (tot["1"] / tot["all"]).rename("first_birth_share")
    share.index = share.index.astype(str)
    return share


#: Cluster units of the event study in Chinese (others are named by their column).
_UNIT_ZH = {"region_code": "地区"}
#: birth order → (English, Chinese) name, for labels
_ORDER_NAMES = {"1": ("first", "一孩"), "2": ("second", "二孩"), "3+": ("third- and higher-order", "三孩及以上")}


@dataclass(frozen=True, kw_only=True, repr=False)
class BirthOrderShareResult(Result):
    """Share of sampled births of one birth order, per year, with its interval (see :func:`birth_order_share`)."""

    TITLE = ("Share of one birth order", "某一孩次的占比")

    def plot(self, ax: Axes | None = None, *, lang: str = "en", policies: Mapping[Any, str] | None = None) -> Axes:
        """Share (%) by year with its interval; the line is broken where a year is missing. ``policies`` maps
        dates or years to labels, drawn as vertical lines labelled on the side and at the end (top or bottom) where
        they cover less of the data (:func:`analysis.plots.policy_lines`)."""
        import matplotlib.pyplot as plt
        from matplotlib.container import ErrorbarContainer
        from matplotlib.ticker import MaxNLocator

        ax = ax if ax is not None else plt.gca()
        t = self.table.set_index("year")
        t = t.reindex(range(int(t.index.min()), int(t.index.max()) + 1))
        plots.ci_errorbar(ax, t.index, 100 * t["share"], 100 * t["lower"], 100 * t["upper"], marker="o-",
                          color="C0", label=plots.ci_label(self.params["alpha"], lang, of=plots.label("estimate", lang)))  # fmt: skip
        if "survey" in t.columns and t["survey"].nunique() > 1:  # years of the less frequent survey(s) marked apart
            usual = t["survey"].mode().iloc[0]
            for name, rows in t[t["survey"].notna() & (t["survey"] != usual)].groupby("survey"):
                shown = value_zh(name) if lang == "zh" else name
                years = "、".join(map(str, rows.index)) if lang == "zh" else ", ".join(map(str, rows.index))
                ax.plot(rows.index, 100 * rows["share"], "s", ms=8, mfc="white", mec="C0", mew=1.4, zorder=3,
                        label=f"{shown}（{years}）" if lang == "zh" else f"{shown} ({years})")
            ax.plot([], [], "o", color="C0", label=(f"其余年份：{value_zh(usual)}" if lang == "zh"
                                                    else f"other years: {usual}"))
        if policies:
            plots.policy_lines(ax, list(policies), list(policies.values()), color="C3", side="auto")
        handles, labels = ax.get_legend_handles_labels()  # the estimate first (matplotlib puts lines first)
        first = sorted(range(len(handles)), key=lambda i: not isinstance(handles[i], ErrorbarContainer))
        # after the policy labels, so that it avoids them
        ax.legend([handles[i] for i in first], [labels[i] for i in first], frameon=False, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(plots.label("year", lang))
        en, zh = _ORDER_NAMES[self.params["order"]]
        ax.set_ylabel(f"{zh}占出生比例（%）" if lang == "zh" else f"{en.capitalize()} births, % of births")
        return ax


def birth_order_share(data: pd.DataFrame, *, order: str = "2", alpha: float = 0.05) -> BirthOrderShareResult:
    """Share of births of birth ``order`` ("1", "2" or "3+") among all births, per year, in the NBS population
    sample surveys (the ``sample_births_by_order`` table: year, birth_order, births), with Wilson intervals
    (statsmodels ``proportion_confint``). The counts are the surveys' sample counts and the intervals ignore
    their design effect, so they are too narrow; years missing from the table are listed in
    ``params['missing_years']``."""
    from statsmodels.stats.proportion import proportion_confint

    if order not in _ORDER_NAMES:
        raise ModelSpecificationError(f"order must be one of {list(_ORDER_NAMES)}, got {order!r}")
    need = ["year", "birth_order", "births"]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise DataValidationError(f"missing column(s) {missing}", column=missing[0],
                                  expected="the sample_births_by_order table")  # fmt: skip
    wide = data.pivot_table(index="year", columns="birth_order", values="births", aggfunc="sum")
    for col in (order, "all"):
        if col not in wide.columns:
            raise DataValidationError(f"no births of order {col!r}", column="birth_order", expected=f"'{order}' and 'all'")
    t = pd.DataFrame({"year": wide.index.astype(int), "births": wide[order].to_numpy(float),
                      "all_births": wide["all"].to_numpy(float)})  # fmt: skip
    t["share"] = t["births"] / t["all_births"]
    t["lower"], t["upper"] = proportion_confint(t["births"], t["all_births"], alpha=alpha, method="wilson")
    if "survey" in data.columns:  # the 1% surveys (2005, 2015) have larger samples and another design than the 1‰
        names = data.groupby("year")["survey"].agg(lambda v: " + ".join(sorted(set(v.dropna().astype(str)))))
        t.insert(1, "survey", t["year"].map(names).to_numpy())
    years = t["year"].tolist()
    gaps = [y for y in range(min(years), max(years) + 1) if y not in years]
    return BirthOrderShareResult(
        table=t,
        method=f"share of order-{order} births in the sample surveys; Wilson {100 * (1 - alpha):g}% interval on "
               "the sample counts (design effect not included)",
        method_zh=f"抽样调查中{ORDER_ZH.get(str(order), str(order))}出生所占比例；基于样本计数的 Wilson "
                  f"{100 * (1 - alpha):g}% 置信区间（未计设计效应）",
        params={"order": order, "alpha": alpha, "missing_years": gaps},
    )


#: Provinces without a dated row that are known not to have acted by a date (selective policy): Xinjiang had not
#: amended its regulations by 2014-11-06 (Xinhua on Tibet's change; data/raw/policy-dates/PROVENANCE.md).
NOT_BEFORE: dict[str, str] = {"650000": "2014-11-06"}


def policy_years(policy_dates: pd.DataFrame, units: Sequence[str], *,
                 policy: str = "selective_two_child_2014", lag_months: int = 10,
                 default_date: str = "2014-06-25", not_before: Mapping[str, str] | None = None) -> pd.DataFrame:
    """First affected (birth) year per province from the provincial policy dates.

    first_affected_year = the year in which ``effective_date + lag_months`` falls, moved to the next
    year when that moment is in the second half of the year (so that most of the first affected year is
    exposed). Provinces without a dated row get ``default_date`` and ``date_source='default'`` — report
    them —, or, if ``not_before`` (province code → date; default :data:`NOT_BEFORE` for the selective policy)
    names them, that earliest possible date (``date_source='lower bound'``). ``units`` are 6-digit province
    codes (``"110000"``); the table's codes may be 2-digit or 6-digit.
    """
    if not_before is None:
        not_before = NOT_BEFORE if policy == "selective_two_child_2014" else {}
    bounds = {str(k)[:2]: v for k, v in not_before.items()}
    d = policy_dates[policy_dates["policy"] == policy].copy()
    if "region_code" not in d.columns:
        raise DataValidationError("missing column 'region_code'", column="region_code")
    d["code2"] = d["region_code"].astype(str).str[:2]
    d = d.sort_values("effective_date").drop_duplicates("code2")
    rows = []
    for u in units:
        hit = d[d["code2"] == str(u)[:2]]
        if len(hit):
            when, src = pd.Timestamp(hit["effective_date"].iloc[0]), "provincial"
            dtype = hit["date_type"].iloc[0] if "date_type" in hit else ""
        elif str(u)[:2] in bounds:
            when, src, dtype = pd.Timestamp(bounds[str(u)[:2]]), "lower bound", "not before"
        else:
            when, src, dtype = pd.Timestamp(default_date), "default", "default"
        moment = when + pd.DateOffset(months=lag_months)
        year = moment.year + (1 if moment.month > 6 else 0)
        rows.append({"region_code": str(u), "effective_date": when, "date_type": dtype,
                     "date_source": src, "first_affected_year": year})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- linear algebra


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    resid: np.ndarray
    bread: np.ndarray  # (X'X)^-1
    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    names: list[str]

    @property
    def n_clusters(self) -> int:
        return len(np.unique(self.groups))

    def cluster_cov(self) -> np.ndarray:
        """CR1 cluster-robust covariance: G/(G−1)·(N−1)/(N−K) small-sample factor (as Stata, statsmodels)."""
        n, k = self.x.shape
        g = self.n_clusters
        scores = _group_sum(self.x * self.resid[:, None], self.groups)
        meat = scores.T @ scores
        c = g / (g - 1) * (n - 1) / (n - k)
        return c * self.bread @ meat @ self.bread


def _group_sum(a: np.ndarray, groups: np.ndarray) -> np.ndarray:
    _, inv = np.unique(groups, return_inverse=True)
    out = np.zeros((inv.max() + 1,) + a.shape[1:])
    np.add.at(out, inv, a)
    return out


def _ols(x: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list[str]) -> _Fit:
    bread = np.linalg.pinv(x.T @ x)
    beta = bread @ x.T @ y
    return _Fit(beta=beta, resid=y - x @ beta, bread=bread, x=x, y=y, groups=groups, names=names)


def wild_cluster_bootstrap(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    j: int,
    *,
    reps: int = 9999,
    weights: str = "rademacher",
    seed: int = 20140101,
    alpha: float = 0.05,
    weight_matrix: np.ndarray | None = None,
) -> dict[str, float]:
    """Wild cluster bootstrap for coefficient ``j`` of the OLS ``y = x b``.

    p_value: restricted WCR bootstrap-t (null b_j = 0 imposed), symmetric. lower/upper: unrestricted
    (WCU) bootstrap-t interval. Weights per cluster: Rademacher (±1) or Webb's six-point; with Rademacher
    and 2^G ≤ ``reps`` all sign vectors are enumerated. ``weight_matrix`` (G × B) overrides the draws.
    Closed form per replicate as in Roodman et al. (2019); CR1 standard errors inside each replicate.
    """
    fit = _ols(x, y, groups, [])
    g_ids, inv = np.unique(groups, return_inverse=True)
    n_g = len(g_ids)
    w = weight_matrix if weight_matrix is not None else _draw_weights(n_g, reps, weights, seed)
    se = float(np.sqrt(fit.cluster_cov()[j, j]))
    t_obs = fit.beta[j] / se
    mask = np.ones(x.shape[1], bool)
    mask[j] = False
    restricted = _ols(x[:, mask], y, groups, [])
    t_r = _boot_t(fit, restricted.resid, inv, n_g, j, w, centre=0.0)
    t_u = _boot_t(fit, fit.resid, inv, n_g, j, w, centre=fit.beta[j])
    q_lo, q_hi = np.quantile(t_u, [alpha / 2, 1 - alpha / 2])
    return {
        "estimate": float(fit.beta[j]), "se": se, "t": float(t_obs),
        "p_value": float(np.mean(np.abs(t_r) >= abs(t_obs) - 1e-12)),
        "lower": float(fit.beta[j] - q_hi * se), "upper": float(fit.beta[j] - q_lo * se),
        "replications": int(w.shape[1]), "weights": weights if weight_matrix is None else "given",
    }


def _draw_weights(n_g: int, reps: int, kind: str, seed: int) -> np.ndarray:
    if kind not in BOOTSTRAP_WEIGHTS:
        raise ModelSpecificationError(f"bootstrap weights must be one of {BOOTSTRAP_WEIGHTS}, got {kind!r}")
    if kind == "rademacher" and 2**n_g <= reps:
        return np.array(list(itertools.product([-1.0, 1.0], repeat=n_g))).T
    rng = np.random.default_rng(seed)
    if kind == "rademacher":
        return rng.choice([-1.0, 1.0], size=(n_g, reps))
    return rng.choice(_WEBB, size=(n_g, reps))


def _boot_t(fit: _Fit, resid: np.ndarray, inv: np.ndarray, n_g: int, j: int, w: np.ndarray,
            centre: float) -> np.ndarray:
    """Bootstrap t statistics of coefficient j for residuals ``resid`` multiplied by cluster weights."""
    x, bread = fit.x, fit.bread
    n, k = x.shape
    r_j = bread[j]
    xu = np.zeros((n_g, k))
    np.add.at(xu, inv, x * resid[:, None])
    a_mat = xu @ bread.T                        # A_g = (X'X)^-1 X_g' u_g, one row per cluster
    m_mat = np.zeros((n_g, k))                  # M_g = r_j X_g' X_g
    xr = x @ r_j
    np.add.at(m_mat, inv, x * xr[:, None])
    d = a_mat.T @ w                             # K × B: beta*_b − beta_0
    scores = w * a_mat[:, j][:, None] - m_mat @ d
    c = n_g / (n_g - 1) * (n - 1) / (n - k)
    se_b = np.sqrt(c * (scores**2).sum(axis=0))
    beta_jb = d[j] + (fit.beta[j] if centre else 0.0)
    return (beta_jb - centre) / se_b


# --------------------------------------------------------------------------- event study


@dataclass(frozen=True, kw_only=True, repr=False)
class EventStudyResult(Result):
    """Event-study coefficients (``table``), pooled DiD (``pooled``), pre-trend test (``pretrend``).

    Coefficients are changes in the outcome (its units, e.g. births per 1000) per unit of intensity,
    relative to event time ``reference``.
    """

    TITLE = ("Event study (continuous intensity, two-way fixed effects)", "事件研究（连续强度，双向固定效应）")

    pooled: pd.DataFrame
    pretrend: pd.DataFrame
    panel: pd.DataFrame = field(repr=False)
    timing: pd.DataFrame = field(repr=False)

    def summary(self) -> str:
        with pd.option_context("display.width", 120):
            return "\n".join([super().summary(), "Pooled DiD:", self.pooled.to_string(index=False),
                              "Pre-trend test:", self.pretrend.to_string(index=False)])

    def _refit(self, panel: pd.DataFrame, **changes: Any) -> EventStudyResult:
        kw = {k: v for k, v in self.params.items() if k in _EVENT_KW}
        kw["intensity"] = "_intensity_raw"  # the panel keeps each unit's raw intensity
        kw["policy_year"] = dict(zip(self.timing["region_code"], self.timing["first_affected_year"], strict=True))
        return event_study(panel, **(kw | changes))

    def placebo(self, years: Sequence[int]) -> pd.DataFrame:
        """Pooled DiD with a fake common policy year, using only years before the earliest real one."""
        first = int(self.timing["first_affected_year"].min())
        p = self.params
        pre = self.panel[self.panel[p["time"]] < first]
        out = []
        for yr in years:
            if not pre[p["time"]].min() < yr <= pre[p["time"]].max():
                raise ModelSpecificationError(
                    f"placebo year {yr} must lie inside the pre-policy years "
                    f"{pre[p['time']].min()}–{pre[p['time']].max()}")
            r = self._refit(pre, policy_year=int(yr), window=(-2, 1), bootstrap=0, start=None, end=None)
            out.append(r.pooled.assign(placebo_year=yr))
        return pd.concat(out, ignore_index=True)

    def leave_one_out(self) -> pd.DataFrame:
        """Pooled DiD re-estimated dropping each unit in turn (column ``dropped``)."""
        unit = self.params["unit"]
        out = []
        for u in sorted(self.panel[unit].unique()):
            r = self._refit(self.panel[self.panel[unit] != u], bootstrap=0)
            out.append(r.pooled.assign(dropped=u))
        return pd.concat(out, ignore_index=True)

    def unit_changes(self) -> pd.DataFrame:
        """Per unit: intensity and mean outcome after minus before its first affected year (in the window)."""
        p = self.params
        d = self.panel.merge(self.timing, left_on=p["unit"], right_on="region_code", suffixes=("", "_t"))
        d["post"] = d[p["time"]] >= d["first_affected_year"]
        m = d.groupby([p["unit"], "post"])[p["outcome"]].mean().unstack("post")
        ch = (m[True] - m[False]).rename("change")
        inten = d.groupby(p["unit"])["_intensity_raw"].first().rename("intensity")
        return pd.concat([inten, ch], axis=1).reset_index()

    def plot_unit_changes(
        self,
        ax: Axes | None = None,
        *,
        lang: str = "en",
        x_scale: float = 1.0,
        highlight: str | None = None,
        highlight_label: str | None = None,
        per: float = 1.0,
        per_text: str = "",
    ) -> Axes:
        """Each unit's change (:meth:`unit_changes`) against its intensity × ``x_scale``, with the OLS line
        and its (1 − alpha) confidence band for the mean (statsmodels ``OLS.get_prediction``); the legend
        gives the slope per ``per`` units of the x axis, named ``per_text`` (e.g. 10 and "‰ per 10 pp", the unit
        of the event study's estimate), and its p-value. ``highlight``: a unit to mark, named
        ``highlight_label``. Units lacking either period are not drawn (:meth:`unit_changes` lists them)."""
        import matplotlib.pyplot as plt
        import statsmodels.api as sm

        ax = ax if ax is not None else plt.gca()
        ch = self.unit_changes().dropna(subset=["intensity", "change"])
        x = ch["intensity"].to_numpy(float) * x_scale
        y = ch["change"].to_numpy(float)
        zh = lang == "zh"
        if len(ch) >= 3:
            fit = sm.OLS(y, sm.add_constant(x)).fit()
            grid = np.linspace(x.min(), x.max(), 100)
            band = fit.get_prediction(sm.add_constant(grid)).summary_frame(alpha=self.params["alpha"])
            slope, p = fit.params[1], fit.pvalues[1]
            ax.fill_between(grid, band["mean_ci_lower"], band["mean_ci_upper"], color="C0", alpha=0.15, lw=0,
                            label=plots.ci_label(self.params["alpha"], lang))  # fmt: skip
            ax.plot(grid, band["mean"], color="C0", lw=1.2,
                    label=(f"OLS 拟合（斜率 {per * slope:+.2f}{per_text}，p = {p:.2g}）" if zh
                           else f"OLS fit (slope {per * slope:+.2f}{per_text}, p = {p:.2g})"))  # fmt: skip
        ax.scatter(x, y, s=18, color="0.5", zorder=3)
        if highlight is not None:
            me = ch[ch[self.params["unit"]] == highlight]
            ax.scatter(me["intensity"] * x_scale, me["change"], s=50, color="C3", zorder=4,
                       label=highlight_label or highlight)  # fmt: skip
        ax.axhline(0, color="0.5", lw=0.8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=8)
        return ax

    def plot(self, ax: Axes | None = None, *, lang: str = "en") -> Axes:
        """Coefficients with CIs by event time; the reference period (fixed at 0, not estimated) as a hollow
        marker; zero line. A binned endpoint (it pools every earlier or later year) is labelled "≤−6" or "≥4"."""
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.gca()
        t = self.table
        ax.axhline(0, color="0.5", lw=0.8)
        zh = lang == "zh"
        ax.axvline(-0.5, color="C3", lw=0.8, ls=":", label="首个受影响出生年份起" if zh else "First affected birth year begins")
        ref = (t["event_time"] == self.params["reference"]).to_numpy()
        est = t[~ref]
        plots.ci_errorbar(ax, est["event_time"], est["estimate"], est["lower"], est["upper"], color="C0", capsize=3,
                          label=plots.ci_label(self.params["alpha"], lang, of=plots.label("estimate", lang)))  # fmt: skip
        ax.plot(t.loc[ref, "event_time"], np.zeros(ref.sum()), "o", ms=4, mfc="white", mec="C0",
                label="参照期（固定为 0）" if zh else "Reference period (fixed at 0)")
        ticks = t["event_time"].astype(int).tolist()
        ends = {e: "≤" if e == min(ticks) else "≥" for e in t.loc[t["binned"], "event_time"].astype(int)}
        ax.set_xticks(ticks, [ends.get(e, "") + f"{e}".replace("-", "−") for e in ticks])
        ax.set_xlabel("相对首个受影响年份的年数" if zh else "Years relative to first affected year")
        ax.set_ylabel(f"{self.params['outcome']} 每单位强度变化" if zh
                       else f"Change in {self.params['outcome']} per unit intensity")
        ax.legend(frameon=False, fontsize=8)
        return ax


_EVENT_KW = ("outcome", "unit", "time", "intensity", "policy_year", "reference", "window", "weights",
             "alpha", "bootstrap", "bootstrap_weights", "seed", "start", "end")


def event_study(
    data: pd.DataFrame,
    *,
    outcome: str = "cbr",
    unit: str = "region_code",
    time: str = "year",
    intensity: str | Mapping[str, float] | pd.Series,
    policy_year: int | Mapping[str, int],
    reference: int = -1,
    window: tuple[int, int] = (-6, 3),
    weights: str | None = None,
    alpha: float = 0.05,
    bootstrap: int = 0,
    bootstrap_weights: str = "rademacher",
    seed: int = 20140101,
    start: int | None = None,
    end: int | None = None,
) -> EventStudyResult:
    """Event study and pooled DiD of ``outcome`` on intensity × event time, unit and year fixed effects.

    ``intensity``: a column of ``data`` or a mapping/Series unit → value (centred internally; units
    without a value raise). ``policy_year``: one first affected year for all units or a mapping unit →
    year (e.g. from :func:`policy_years`). ``window``: event times kept separate; earlier/later ones are
    binned at the ends. ``weights``: optional column (e.g. population) for weighted least squares.
    ``bootstrap``: number of wild cluster bootstrap replications (0 = off) for the pooled DiD and the
    event-time coefficients. ``start``/``end``: years kept. Rows with a missing outcome are excluded and
    reported (``params['excluded_rows']``, a warning).
    """
    need = [outcome, unit, time] + ([intensity] if isinstance(intensity, str) else []) + (
        [weights] if weights else [])
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise DataValidationError(f"missing column(s) {missing}", column=missing[0],
                                  expected=f"columns {list(data.columns)}")
    lo, hi = window
    if not lo < reference < hi + 1 or lo >= 0 or hi < 0:
        raise ModelSpecificationError(f"window {window} must span negative and non-negative event times "
                                      f"and contain the reference {reference}")
    d = data.copy()
    d[unit] = d[unit].astype(str)
    if start is not None:
        d = d[d[time] >= start]
    if end is not None:
        d = d[d[time] <= end]
    excluded = d[d[outcome].isna()]
    if len(excluded):
        warnings.warn(f"{len(excluded)} row(s) with missing {outcome} excluded: "
                      + ", ".join(f"{u} {t}" for u, t in list(zip(excluded[unit], excluded[time], strict=True))[:12]),
                      AnalysisWarning, stacklevel=2)
        d = d[d[outcome].notna()]

    if isinstance(intensity, str):
        inten = d.groupby(unit)[intensity].first()
    else:
        inten = pd.Series(dict(intensity) if isinstance(intensity, Mapping) else intensity)
        inten.index = inten.index.astype(str)
    lacking = sorted(set(d[unit]) - set(inten.dropna().index))
    if lacking:
        raise DataValidationError(f"no intensity for unit(s) {lacking}", column=unit,
                                  expected="an intensity value for every unit in the panel")
    d["_intensity_raw"] = d[unit].map(inten).astype(float)
    d["_intensity"] = d["_intensity_raw"] - d.groupby(unit)["_intensity_raw"].first().mean()
    if isinstance(policy_year, Mapping):
        py = {str(k): int(v) for k, v in policy_year.items()}
        lacking = sorted(set(d[unit]) - set(py))
        if lacking:
            raise DataValidationError(f"no policy year for unit(s) {lacking}", column=unit)
        d["_T"] = d[unit].map(py)
    else:
        d["_T"] = int(policy_year)
    e = (d[time] - d["_T"]).clip(lo, hi).astype(int)
    present = sorted(set(e))
    if min(present) >= 0 or max(present) < 0:
        raise ModelSpecificationError(
            f"the data ({d[time].min()}–{d[time].max()}) need years both before and after the policy year")
    if reference not in present:
        raise ModelSpecificationError(f"no observations at the reference event time {reference}")

    units = sorted(d[unit].unique())
    years = sorted(d[time].unique())
    if len(units) < 3:
        raise ModelSpecificationError(f"only {len(units)} unit(s); clustering needs many more")
    fe = np.column_stack(
        [(d[unit] == u).to_numpy(float) for u in units] + [(d[time] == y).to_numpy(float) for y in years[1:]])
    fe_names = [f"unit:{u}" for u in units] + [f"year:{y}" for y in years[1:]]
    ev = [k for k in present if k != reference]
    x_es = np.column_stack([d["_intensity"].to_numpy() * (e == k).to_numpy() for k in ev] + [fe])
    x_dd = np.column_stack([d["_intensity"].to_numpy() * (d[time] >= d["_T"]).to_numpy(), fe])
    y = d[outcome].to_numpy(float)
    groups = d[unit].to_numpy()
    if weights:
        sw = np.sqrt(d[weights].to_numpy(float))
        x_es, x_dd, y = x_es * sw[:, None], x_dd * sw[:, None], y * sw
    if np.linalg.matrix_rank(x_dd) < x_dd.shape[1]:
        raise ModelSpecificationError("the intensity × post term is collinear with the fixed effects "
                                      "(does the intensity vary across units?)")

    g = len(units)
    tcrit = stats.t.ppf(1 - alpha / 2, g - 1)
    es = _ols(x_es, y, groups, [f"e{k}" for k in ev] + fe_names)
    cov = es.cluster_cov()
    rows = []
    for i, k in enumerate(ev):
        b, se = es.beta[i], np.sqrt(cov[i, i])
        row = {"event_time": k, "estimate": b, "se": se, "lower": b - tcrit * se, "upper": b + tcrit * se,
               "p_value": 2 * stats.t.sf(abs(b / se), g - 1)}
        if bootstrap:
            wb = wild_cluster_bootstrap(x_es, y, groups, i, reps=bootstrap, weights=bootstrap_weights,
                                        seed=seed, alpha=alpha)
            row |= {"boot_p_value": wb["p_value"], "boot_lower": wb["lower"], "boot_upper": wb["upper"]}
        rows.append(row)
    rows.append({"event_time": reference, "estimate": 0.0, "se": 0.0, "lower": 0.0, "upper": 0.0,
                 "p_value": np.nan})
    table = pd.DataFrame(rows).sort_values("event_time").reset_index(drop=True)
    table["binned"] = table["event_time"].isin([lo, hi]) & table["event_time"].isin(present)

    pre = [i for i, k in enumerate(ev) if k < reference]
    if pre:
        b = es.beta[pre]
        v = cov[np.ix_(pre, pre)]
        f_stat = float(b @ np.linalg.solve(v, b) / len(pre))
        pretrend = pd.DataFrame({"test": ["joint pre-period coefficients = 0 (Wald F, cluster-robust)"],
                                 "F": [f_stat], "df1": [len(pre)], "df2": [g - 1],
                                 "p_value": [float(stats.f.sf(f_stat, len(pre), g - 1))]})
    else:
        pretrend = pd.DataFrame({"test": ["no pre-period coefficients in the window"], "F": [np.nan],
                                 "df1": [0], "df2": [g - 1], "p_value": [np.nan]})

    dd = _ols(x_dd, y, groups, ["intensity_x_post"] + fe_names)
    b, se = dd.beta[0], np.sqrt(dd.cluster_cov()[0, 0])
    pooled = {"term": "intensity × post", "estimate": b, "se": se, "lower": b - tcrit * se,
              "upper": b + tcrit * se, "p_value": 2 * stats.t.sf(abs(b / se), g - 1), "n_obs": len(y),
              "n_clusters": g}
    if bootstrap:
        wb = wild_cluster_bootstrap(x_dd, y, groups, 0, reps=bootstrap, weights=bootstrap_weights, seed=seed,
                                    alpha=alpha)
        pooled |= {"boot_p_value": wb["p_value"], "boot_lower": wb["lower"], "boot_upper": wb["upper"],
                   "boot_reps": wb["replications"]}
    timing = d.groupby(unit)["_T"].first().rename("first_affected_year").reset_index().rename(
        columns={unit: "region_code"})
    params = {"outcome": outcome, "unit": unit, "time": time,
              "intensity": intensity if isinstance(intensity, str) else f"given per unit ({len(inten)} values)",
              "policy_year": policy_year if not isinstance(policy_year, Mapping)
              else f"per unit ({d['_T'].min()}–{d['_T'].max()}; see .timing)",
              "reference": reference, "window": window, "weights": weights,
              "alpha": alpha, "bootstrap": bootstrap, "bootstrap_weights": bootstrap_weights, "seed": seed,
              "start": start, "end": end, "excluded_rows": len(excluded), "years": (int(min(years)), int(max(years)))}
    boot = (f"; wild cluster bootstrap ({bootstrap_weights.capitalize()} weights, {bootstrap} reps, seed {seed})"
            if bootstrap else "")
    method = (f"TWFE event study, continuous intensity (centred), unit & year FE, "
              f"{'WLS (' + weights + ')' if weights else 'OLS'}, CR1 SEs clustered by {unit} "
              f"(G={g}, t(G−1)){boot}")
    boot_zh = (f"；野聚类自助法（{bootstrap_weights.capitalize()} 权重，{bootstrap} 次重复，种子 {seed}）" if bootstrap else "")
    method_zh = (f"双向固定效应事件研究，连续处理强度（已中心化），单位与年份固定效应，"
                 f"{'WLS（' + weights + '）' if weights else 'OLS'}，按{_UNIT_ZH.get(unit, ' ' + unit + ' ')}聚类的 CR1 标准误"
                 f"（G = {g}，t(G−1)）{boot_zh}")
    return EventStudyResult(table=table, method=method, method_zh=method_zh, params=params, pooled=pd.DataFrame([pooled]),
                            pretrend=pretrend, panel=d.drop(columns=["_intensity", "_T"]), timing=timing)
