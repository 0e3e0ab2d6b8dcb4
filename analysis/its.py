"""Interrupted time series (segmented regression) for annual or monthly series.

Model (log link for count families): ``log E[y_t] = log(offset_t) + b0 + b1 t + sum_j (c_j L_jt + d_j S_jt)
+ harmonics``, where ``L_jt = 1[t >= T_j]`` is the level change and ``S_jt = (t - T_j) L_jt`` the slope
change of interruption ``j`` first felt in period ``T_j`` (policy date + ``lag``). Families: Poisson,
quasi-Poisson (Pearson dispersion, as R's ``quasipoisson``), negative binomial (NB2, dispersion by
maximum likelihood) and Gaussian (identity link). Newey–West (HAC) standard errors when
``hac_maxlags`` is set. Where the dispersion is estimated (quasi-Poisson, Gaussian), tests and intervals use
the t distribution on the residual degrees of freedom, as R's ``summary.glm`` does: a national annual series
has only ≈ 17 points, where z would be too sure.

References: Lopez Bernal J, Cummins S, Gasparrini A (2017). Interrupted time series regression for the
evaluation of public health interventions: a tutorial. Int J Epidemiol 46(1):348–355.
Wagner AK et al. (2002). Segmented regression analysis of interrupted time series studies in medication
use research. J Clin Pharm Ther 27:299–309. Newey WK, West KD (1987). Econometrica 55:703–708.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator
from scipy import optimize, stats

from analysis import plots
from analysis.exceptions import DataValidationError, ModelSpecificationError
from analysis.narrative import count
from analysis.results import Result

FAMILIES = ("poisson", "quasipoisson", "negbin", "gaussian")
#: families whose dispersion is estimated from the residuals: tests and intervals use t on the residual df
ESTIMATED_DISPERSION = ("quasipoisson", "gaussian")
#: Offset columns in Chinese, for the method line.
_OFFSET_ZH = {"mean_population": "年平均人口", "population": "人口"}
#: family names in Chinese, for text
FAMILY_NAMES_ZH = {"poisson": "泊松", "quasipoisson": "拟泊松", "negbin": "负二项", "gaussian": "正态"}
#: Fewest periods before the first interruption that a trend can honestly be estimated from.
MIN_PRE_PERIODS = 3
_N_SIM = 4000
_SEED = 20170101


@dataclass(frozen=True, kw_only=True, repr=False)
class ExcessResult(Result):
    """Cumulative observed minus counterfactual over ``start``..``end`` (table: one row)."""

    TITLE = ("Excess over the counterfactual", "相对反事实的超出量")


@dataclass(frozen=True, kw_only=True, repr=False)
class ITSResult(Result):
    """Result of :func:`its`. ``table`` is the effects table (same as ``effects``).

    ``counterfactual``: date, observed, fitted, counterfactual, cf_lower, cf_upper (mean on the outcome
    scale, offsets included, no interruption). ``model`` is the fitted statsmodels GLM result.
    """

    TITLE = ("Interrupted time series", "中断时间序列")

    counterfactual: pd.DataFrame
    model: Any = field(repr=False)
    design: pd.DataFrame = field(repr=False)
    offset: np.ndarray = field(repr=False)
    terms: dict[str, list[str]] = field(repr=False)

    @property
    def effects(self) -> pd.DataFrame:
        """interruption, term ('level'|'slope'), estimate, lower, upper, p_value, scale."""
        return self.table

    def _cf_design(self, without: Sequence[str] | None) -> pd.DataFrame:
        names = list(self.terms) if without is None else list(without)
        unknown = [n for n in names if n not in self.terms]
        if unknown:
            raise ModelSpecificationError(
                f"unknown interruption(s) {unknown}; the model has {list(self.terms)}"
            )
        x = self.design.copy()
        for n in names:
            x[self.terms[n]] = 0.0
        return x

    def periods_alone(self) -> dict[str, int]:
        """Per interruption, the number of observed periods in which it is the latest one (from its first affected
        period up to the next interruption's). With 1, its level change is fitted from that period alone: it equals
        that period's deviation from the fitted trend (the period's residual is 0), not a sustained change."""
        dates = self.counterfactual["date"]
        first = sorted(self.params["first_affected"].items(), key=lambda kv: kv[1])
        out = {}
        for i, (name, start) in enumerate(first):
            end = first[i + 1][1] if i + 1 < len(first) else None
            out[name] = int(((dates >= start) & (dates < end if end is not None else True)).sum())
        return out

    def misfit(self, z: float = 2.0) -> pd.DataFrame:
        """Periods the model fits poorly: standardized Pearson residual (observed − fitted) / √(scale · V(fitted))
        beyond ±``z`` (V(μ) = μ for the Poisson families, 1 for Gaussian; scale = the Pearson dispersion, 1 for
        plain Poisson). Columns date, observed, fitted, residual, percent_off (100 · (observed / fitted − 1)). A
        large residual in the years after a policy means the fitted steps and slopes describe those years poorly,
        so the effects and the excess depend on the model's shape (McCullagh & Nelder 1989, ch. 2.4)."""
        scale = float(self.model.scale)
        resid = np.asarray(self.model.resid_pearson, dtype=float) / np.sqrt(scale)
        t = self.counterfactual[["date", "observed", "fitted"]].assign(
            residual=resid, percent_off=100 * (self.counterfactual["observed"] / self.counterfactual["fitted"] - 1))
        return t[t["residual"].abs() > z].reset_index(drop=True)

    def counterfactual_for(self, without: Sequence[str] | None = None) -> pd.DataFrame:
        """Like ``counterfactual`` but with only the interruptions named in ``without`` removed (default: all, which
        is ``counterfactual`` itself), as :meth:`excess` uses them; the column ``without`` says which. E.g.
        ``without=["universal_2016"]`` keeps the 2014 step: the counterfactual of "no universal policy"."""
        x = self._cf_design(without).to_numpy(float)
        band = _counterfactual_band(self.model, x, self.offset, self.params["family"], self.params["alpha"])
        label = ", ".join(without) if without is not None else "all interruptions"
        return self.counterfactual[["date", "observed", "fitted"]].assign(**band, without=label)

    def excess(
        self,
        start: Any,
        end: Any,
        *,
        without: Sequence[str] | None = None,
        alpha: float | None = None,
        n_sim: int = _N_SIM,
        seed: int = _SEED,
    ) -> ExcessResult:
        """Cumulative observed − counterfactual over periods ``start``..``end`` (inclusive).

        ``without``: interruptions removed in the counterfactual (default all). The interval reflects
        the uncertainty of the fitted coefficients (``n_sim`` seeded draws from their estimated distribution:
        multivariate normal, or multivariate t with the residual degrees of freedom when the model's inference
        uses t — see :func:`its`), not the randomness of the observed counts. Units: those of the outcome.
        """
        alpha = self.params["alpha"] if alpha is None else alpha
        dates = self.counterfactual["date"]
        lo, hi = _as_period(start, self.params["frequency"]), _as_period(end, self.params["frequency"])
        mask = ((dates >= lo) & (dates <= hi)).to_numpy()
        if not mask.any():
            raise ModelSpecificationError(
                f"no period between {start} and {end} in the data ({dates.min()} to {dates.max()})"
            )
        x_cf = self._cf_design(without).to_numpy(float)[mask]
        off = self.offset[mask]
        beta = np.asarray(self.model.params)
        cov = np.asarray(self.model.cov_params())
        obs = float(self.counterfactual["observed"].to_numpy()[mask].sum())
        inv = _inverse_link(self.params["family"])
        cf = float(inv(x_cf @ beta + off).sum())
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(np.zeros_like(beta), cov, size=n_sim, method="svd")
        if self.model.use_t:  # multivariate t: normal draws over sqrt(chi²(df) / df)
            df = float(self.model.df_resid)
            draws = draws / np.sqrt(rng.chisquare(df, size=(n_sim, 1)) / df)
        draws = draws + beta
        cf_sim = inv(draws @ x_cf.T + off).sum(axis=1)
        ex_sim = obs - cf_sim
        table = pd.DataFrame(
            {
                "start": [start],
                "end": [end],
                "periods": [int(mask.sum())],
                "without": [", ".join(without) if without else "all interruptions"],
                "observed": [obs],
                "counterfactual": [cf],
                "excess": [obs - cf],
                "lower": [float(np.quantile(ex_sim, alpha / 2))],
                "upper": [float(np.quantile(ex_sim, 1 - alpha / 2))],
                "excess_pct": [100 * (obs - cf) / cf],
            }
        )
        return ExcessResult(
            table=table,
            method=f"{self.method}; excess = observed − counterfactual, CI from {n_sim} coefficient draws",
            method_zh=f"{self.method_zh}；超额 = 观测值 − 反事实值，置信区间由 {n_sim} 次系数抽样得到",
            params={"start": start, "end": end, "alpha": alpha, "n_sim": n_sim, "seed": seed},
        )

    def plot(
        self,
        ax: Axes | None = None,
        *,
        lang: str = "en",
        labels: dict[str, str] | None = None,
        legend: bool = True,
        without: Sequence[str] | None = None,
    ) -> Axes:
        """Observed (points), fitted (line), counterfactual with the band of its mean, interruption lines labelled with
        their names, or with ``labels[name]`` (e.g. ``{"universal_2016": "全面两孩 2016"}``), at the top or the
        bottom, where they cover less of the data (:func:`analysis.plots.policy_lines`). ``without``: the
        interruptions the counterfactual leaves out (default all; see :meth:`counterfactual_for`), named in the
        legend. ``legend=False`` leaves the legend out, e.g. for one legend shared by several panels (``fig.legend``)."""
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.gca()
        cf = self.counterfactual_for(without)
        x = cf["date"]
        zh = lang == "zh"
        removed = list(self.terms) if without is None else list(without)
        names = ("、" if zh else " and ").join((labels or {}).get(n, n) for n in removed)
        name = f"反事实（无{names}）" if zh else f"Counterfactual without {names}"
        ax.fill_between(x, cf["cf_lower"], cf["cf_upper"], color="0.8", alpha=0.7, lw=0, label=_band_label(self, lang))
        ax.plot(x, cf["counterfactual"], ls="--", color="0.3", label=name)
        ax.plot(x, cf["fitted"], color="C0", label="拟合值" if zh else "Fitted")
        ax.plot(x, cf["observed"], "o", ms=3.5, color="C1", label="观测值" if zh else "Observed")
        return _finish(ax, self, labels, legend, lang)


def plot_fits(
    fits: Mapping[str, ITSResult], ax: Axes | None = None, *, lang: str = "en", labels: dict[str, str] | None = None
) -> Axes:
    """Several fits of one design on one axes, e.g. the same series in two data vintages: each fit (named by its
    key, in the legend) in its own colour — observed points, fitted line, dashed counterfactual with its
    (1 − alpha) band — and the interruption lines of the first fit, labelled as in :meth:`ITSResult.plot`."""
    import matplotlib.pyplot as plt

    if not fits:
        raise ModelSpecificationError("plot_fits needs at least one fit")
    levels = {name: fit.params["alpha"] for name, fit in fits.items()}
    if len(set(levels.values())) > 1:
        raise ModelSpecificationError(f"plot_fits: the fits' bands must share one level, got alpha {levels}")
    ax = ax if ax is not None else plt.gca()
    zh = lang == "zh"
    for i, (name, fit) in enumerate(fits.items()):
        cf = fit.counterfactual
        ax.fill_between(cf["date"], cf["cf_lower"], cf["cf_upper"], color=f"C{i}", alpha=0.15, lw=0)
        marker = "osD^v"[i % 5]  # shapes as well as colours: the fits stay apart in greyscale
        ax.plot(cf["date"], cf["observed"], marker, ms=3.5, color=f"C{i}", label=name)
        ax.plot(cf["date"], cf["fitted"], color=f"C{i}")
        ax.plot(cf["date"], cf["counterfactual"], ls="--", color=f"C{i}", lw=0.8)
    first = next(iter(fits.values()))
    ax.plot([], [], color="0.3", label="拟合值" if zh else "Fitted")
    ax.plot([], [], color="0.3", ls="--", lw=0.8, label="反事实（无政策）" if zh else "Counterfactual (no policy)")
    ax.fill_between([], [], [], color="0.3", alpha=0.15, lw=0, label=_band_label(first, lang))
    return _finish(ax, first, labels, True, lang)


def _band_label(fit: ITSResult, lang: str) -> str:
    """The band's legend entry: an interval for the mean (before the policies the fitted trend, after them the
    counterfactual), not for single years, which may lie outside it."""
    ci = plots.ci_label(fit.params["alpha"], lang)
    return f"反事实均值的{ci}" if lang == "zh" else f"{ci} of the counterfactual mean"


def _finish(ax: Axes, fit: ITSResult, labels: dict[str, str] | None, legend: bool, lang: str) -> Axes:
    """Interruption lines (:func:`analysis.plots.policy_lines`) at each first affected period — labelled "…, from
    2015" when that is not the year the label names —, axis labels and the legend of an ITS plot."""
    names = fit.params["first_affected"]
    texts = []
    for name, when in names.items():
        text = (labels or {}).get(name, name)
        shown = str(when) if fit.params["frequency"] == "annual" else pd.Timestamp(when).strftime("%Y-%m")
        if shown not in text:
            text += f"，{shown} 年起" if lang == "zh" and fit.params["frequency"] == "annual" else (
                f"，{shown} 起" if lang == "zh" else f", from {shown}")
        texts.append(text)
    plots.policy_lines(ax, list(names.values()), texts, color="C3", side="auto")
    if fit.params["frequency"] == "annual":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(fit.params["date"])
    ax.set_ylabel(fit.params["outcome"])
    if legend:
        ax.legend(frameon=False, fontsize="small")
    return ax


def _counterfactual_band(model: Any, x: np.ndarray, offset: np.ndarray, family: str, alpha: float) -> dict:
    """Mean of the outcome for design ``x`` (interruption columns zeroed) with its pointwise (1 − alpha) interval
    (delta method on the linear predictor; t quantile on the residual df when the model's inference uses t)."""
    eta = x @ np.asarray(model.params) + offset
    se_eta = np.sqrt(np.einsum("ij,jk,ik->i", x, np.asarray(model.cov_params()), x))
    q = stats.t.ppf(1 - alpha / 2, model.df_resid) if model.use_t else stats.norm.ppf(1 - alpha / 2)
    inv = _inverse_link(family)
    return {"counterfactual": inv(eta), "cf_lower": inv(eta - q * se_eta), "cf_upper": inv(eta + q * se_eta)}


def _inverse_link(family: str):
    return (lambda eta: eta) if family == "gaussian" else np.exp


def _as_period(value: Any, frequency: str) -> Any:
    """A user date as the period key used in the data (int year or month-start Timestamp)."""
    if frequency == "annual":
        if isinstance(value, int | np.integer):
            return int(value)
        return pd.Timestamp(value).year
    return pd.Timestamp(value).to_period("M").to_timestamp()


def _first_period(value: Any, frequency: str) -> Any:
    """First period starting on or after ``value`` (an int year is its own first period)."""
    if frequency == "annual":
        if isinstance(value, int | np.integer):
            return int(value)
        ts = pd.Timestamp(value)
        return ts.year if (ts.month, ts.day) == (1, 1) else ts.year + 1
    ts = pd.Timestamp(value)
    start = ts.to_period("M").to_timestamp()
    return start if ts == start else start + pd.offsets.MonthBegin(1)


def _check_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"missing column(s) {missing}", column=missing[0], expected=f"columns {list(data.columns)}"
        )


def its(
    data: pd.DataFrame,
    *,
    outcome: str,
    date: str,
    interruptions: Mapping[str, Any],
    family: str = "quasipoisson",
    offset: str | None = None,
    seasonality: int = 0,
    slope_change: bool | Sequence[str] = True,
    lag: int = 0,
    hac_maxlags: int | None = None,
    alpha: float = 0.05,
) -> ITSResult:
    """Fit a segmented (interrupted time series) regression and return effects and counterfactual.

    ``date``: a column of int years (annual) or dates (monthly; any day in the month). ``interruptions``:
    name → policy date (int year or date); the first affected period is the first period starting on or
    after it, plus ``lag`` periods. ``offset``: population column (log taken) for log-link families.
    ``seasonality``: harmonic (sine/cosine) pairs of period 12 for monthly data (0–5). ``slope_change``:
    True (all), False (level changes only) or the names of the interruptions that get a slope change. Effects are
    rate ratios (log-link families) or differences (gaussian) per interruption: 'level' (step) and
    'slope' (change in trend per period). Reference: Lopez Bernal et al. 2017, Int J Epidemiol 46:348.
    """
    if family not in FAMILIES:
        raise ModelSpecificationError(f"family must be one of {FAMILIES}, got {family!r}")
    if not interruptions:
        raise ModelSpecificationError("give at least one interruption, e.g. {'universal_2016': 2016}")
    if not 0 < alpha < 1:
        raise ModelSpecificationError(f"alpha must be in (0, 1), got {alpha}")
    if lag < 0 or int(lag) != lag:
        raise ModelSpecificationError(f"lag must be a non-negative whole number of periods, got {lag}")
    _check_columns(data, [outcome, date] + ([offset] if offset else []))
    if not isinstance(slope_change, bool):
        unknown = [n for n in slope_change if n not in interruptions]
        if unknown:
            raise ModelSpecificationError(f"slope_change names {unknown} are not interruptions "
                                          f"({list(interruptions)})")
    if offset and family == "gaussian":
        raise ModelSpecificationError("an offset needs a log-link family (poisson, quasipoisson, negbin)")

    df = data.reset_index(drop=True)
    rows = lambda m: (np.flatnonzero(np.asarray(m)) + 2).tolist()  # noqa: E731  spreadsheet rows
    y = pd.to_numeric(df[outcome], errors="coerce")
    bad = y.isna()
    if bad.any():
        raise DataValidationError("missing or non-numeric outcome", rows=rows(bad), column=outcome,
                                  expected="a number in every row (filter the periods you want first)")
    y = y.to_numpy(float)
    if family != "gaussian" and (y < 0).any():
        raise DataValidationError("negative count", rows=rows(y < 0), column=outcome,
                                  expected=f"counts >= 0 for family {family!r}")

    if pd.api.types.is_float_dtype(df[date]):
        vals = df[date]
        if vals.isna().any() or not (vals == vals.round()).all():
            raise DataValidationError("years must be whole numbers", rows=rows(vals.isna() | (vals != vals.round())),
                                      column=date, expected="int years (annual) or dates (monthly)")
        df = df.assign(**{date: vals.astype(int)})
    if pd.api.types.is_integer_dtype(df[date]):
        frequency = "annual"
        keys = df[date].astype(int)
        t = (keys - keys.min()).to_numpy(float)
    else:
        try:
            stamps = pd.to_datetime(df[date])
        except (ValueError, TypeError) as exc:
            raise DataValidationError("not int years or dates", column=date,
                                      expected="int years (annual) or dates (monthly)") from exc
        frequency = "monthly"
        keys = stamps.dt.to_period("M").dt.to_timestamp()
        t = ((keys.dt.year - keys.dt.year.min()) * 12 + keys.dt.month).to_numpy(float)
        t -= t.min()
    if keys.duplicated().any():
        raise DataValidationError("duplicated period", rows=rows(keys.duplicated(keep=False)), column=date,
                                  expected="one row per period")
    order = np.argsort(t, kind="stable")
    df, y, t, keys = df.iloc[order].reset_index(drop=True), y[order], t[order], keys.iloc[order].reset_index(drop=True)
    if seasonality and frequency != "monthly":
        raise ModelSpecificationError("seasonality (harmonics) needs monthly dates, not annual years")
    if not 0 <= seasonality <= 5:
        raise ModelSpecificationError(f"seasonality must be 0–5 harmonic pairs, got {seasonality}")

    x = pd.DataFrame({"const": 1.0, "time": t})
    terms: dict[str, list[str]] = {}
    first_affected: dict[str, Any] = {}
    step = pd.offsets.MonthBegin(1)
    for name, when in interruptions.items():
        start = _first_period(when, frequency)
        start = start + int(lag) if frequency == "annual" else start + int(lag) * step
        if not keys.iloc[0] < start <= keys.iloc[-1]:
            raise ModelSpecificationError(
                f"interruption {name!r} ({when}, first affected period {start} with lag {lag}) is outside "
                f"the data ({keys.iloc[0]} to {keys.iloc[-1]}); it must leave periods before and after it"
            )
        t0 = float(t[(keys >= start).to_numpy()].min())
        first_affected[name] = start
        x[f"{name}:level"] = (t >= t0).astype(float)
        terms[name] = [f"{name}:level"]
        if slope_change is True or (not isinstance(slope_change, bool) and name in slope_change):
            x[f"{name}:slope"] = np.where(t >= t0, t - t0, 0.0)
            terms[name].append(f"{name}:slope")
    n_pre = int((keys < min(first_affected.values())).sum())
    if n_pre < MIN_PRE_PERIODS:
        raise ModelSpecificationError(
            f"only {n_pre} period(s) before the first interruption; at least {MIN_PRE_PERIODS} are needed "
            "to estimate the pre-existing trend"
        )
    if seasonality:
        month = keys.dt.month.to_numpy(float)
        for k in range(1, seasonality + 1):
            x[f"sin{k}"] = np.sin(2 * np.pi * k * month / 12)
            x[f"cos{k}"] = np.cos(2 * np.pi * k * month / 12)
    if len(y) <= x.shape[1]:
        raise ModelSpecificationError(f"{len(y)} periods cannot identify {x.shape[1]} coefficients")
    if np.linalg.matrix_rank(x.to_numpy(float)) < x.shape[1]:
        raise ModelSpecificationError(
            f"the terms {list(x.columns)} are collinear (interruptions {first_affected} too close for "
            "separate level and slope changes); drop a slope change (slope_change=[names]) or an interruption"
        )

    if offset:
        pop = pd.to_numeric(df[offset], errors="coerce").to_numpy(float)
        badp = ~(pop > 0)
        if badp.any():
            raise DataValidationError("offset must be a positive population", rows=rows(badp), column=offset,
                                      expected="population > 0")
        off = np.log(pop)
    else:
        off = np.zeros(len(y))

    fam, scale = _family(family, y, x, off)
    fit_kw: dict[str, Any] = {"scale": scale}
    if hac_maxlags is not None:
        fit_kw.update(cov_type="HAC", cov_kwds={"maxlags": int(hac_maxlags)})
    # families whose dispersion is estimated get t inference with the residual df, as R's summary.glm
    use_t = family in ESTIMATED_DISPERSION
    model = sm.GLM(y, x, family=fam, offset=off).fit(use_t=use_t, **fit_kw)

    z = stats.t.ppf(1 - alpha / 2, model.df_resid) if use_t else stats.norm.ppf(1 - alpha / 2)
    log_link = family != "gaussian"
    eff_rows = []
    for name, cols in terms.items():
        for col in cols:
            b, se = float(model.params[col]), float(model.bse[col])
            lo, hi = b - z * se, b + z * se
            tr = np.exp if log_link else (lambda v: v)
            eff_rows.append({
                "interruption": name, "term": col.split(":")[1], "estimate": float(tr(b)),
                "lower": float(tr(lo)), "upper": float(tr(hi)), "p_value": float(model.pvalues[col]),
                "scale": "rate ratio" if log_link else "difference",
                "first_affected": first_affected[name],
            })
    effects = pd.DataFrame(eff_rows)

    x_cf = x.copy()
    for cols in terms.values():
        x_cf[cols] = 0.0
    counterfactual = pd.DataFrame({"date": keys, "observed": y, "fitted": np.asarray(model.fittedvalues),
                                   **_counterfactual_band(model, x_cf.to_numpy(float), off, family, alpha)})  # fmt: skip
    se_note = f"Newey–West HAC SEs (maxlags={hac_maxlags})" if hac_maxlags is not None else (
        "model-based SEs" + (" scaled by Pearson dispersion" if family == "quasipoisson" else ""))
    se_note += f", t tests and intervals on {model.df_resid:g} residual df" if use_t else ", z tests and intervals"
    method = (f"Segmented regression ITS, {family} GLM ({'log' if log_link else 'identity'} link"
              f"{', offset log(' + offset + ')' if offset else ''}"
              f"{', ' + count(seasonality, 'harmonic pair') if seasonality else ''}), {se_note}; "
              f"Lopez Bernal et al. 2017")
    parts_zh = [f"{'对数' if log_link else '恒等'}连接"] + ([f"偏移量 log({_OFFSET_ZH.get(offset, offset)})"] if offset else []) + (
        [f"{seasonality} 对季节谐波"] if seasonality else [])
    se_zh = (f"Newey–West HAC 标准误（最大滞后 {hac_maxlags}）" if hac_maxlags is not None
             else "模型标准误" + ("（按 Pearson 离散参数调整）" if family == "quasipoisson" else ""))
    se_zh += f"，t 检验与区间（残差自由度 {model.df_resid:g}）" if use_t else "，z 检验与区间"
    method_zh = (f"分段回归中断时间序列，{FAMILY_NAMES_ZH[family]}广义线性模型（{'，'.join(parts_zh)}），{se_zh}；"
                 "Lopez Bernal 等 2017")
    params = {
        "outcome": outcome, "date": date, "interruptions": dict(interruptions), "family": family,
        "offset": offset, "seasonality": seasonality, "slope_change": slope_change, "lag": lag,
        "hac_maxlags": hac_maxlags, "alpha": alpha, "frequency": frequency, "first_affected": first_affected,
        "n_periods": len(y), "n_pre_periods": n_pre, "dispersion": float(model.scale),
    }
    return ITSResult(table=effects, method=method, method_zh=method_zh, params=params, counterfactual=counterfactual,
                     model=model, design=x, offset=off, terms=terms)


def _family(family: str, y: np.ndarray, x: pd.DataFrame, off: np.ndarray):
    """statsmodels family and scale argument for ``GLM.fit``."""
    if family == "poisson":
        return sm.families.Poisson(), 1.0
    if family == "quasipoisson":
        return sm.families.Poisson(), "X2"
    if family == "gaussian":
        return sm.families.Gaussian(), None
    # NB2 dispersion by profile maximum likelihood over log(alpha) (bounded, so that an equidispersed
    # series converges to the Poisson limit instead of failing as a joint optimiser does at alpha -> 0).
    def negloglik(log_alpha: float) -> float:
        fam = sm.families.NegativeBinomial(alpha=float(np.exp(log_alpha)))
        return -sm.GLM(y, x, family=fam, offset=off).fit().llf

    best = optimize.minimize_scalar(negloglik, bounds=(-20.0, 5.0), method="bounded")
    return sm.families.NegativeBinomial(alpha=float(np.exp(best.x))), 1.0
