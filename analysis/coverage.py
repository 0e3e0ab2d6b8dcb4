"""Service coverage of the migrant ("floating") population against responsibility targets.

Rates are proportions on the 0–1 scale in tables (``rate``, ``lower``, ``upper``, ``target``) and gaps are in
percentage points (``gap_pp``). :func:`check_reported` works on rates as printed in reports, in percent.

Methods
-------
- Wilson score interval (Wilson 1927, JASA 22:209) or exact Clopper–Pearson interval (Biometrika 26:404, 1934).
- Exact binomial test (one- or two-sided) of the observed count against the target proportion.
- Multiplicity: Holm (1979, Scand J Stat 6:65) step-down, or Benjamini–Hochberg (1995, JRSS B 57:289) FDR.
- Funnel plot with exact binomial limits: :mod:`analysis.funnel` (Spiegelhalter 2005, Stat Med 24:1185).
- Comparison across units/periods: Pearson chi-square test of homogeneity and a binomial (logistic) GLM
  with unit and period terms (likelihood-ratio tests; Pearson dispersion reported, quasi-binomial on request).

Users' own records: the table schema ``coverage_records`` (see :data:`RECORD_COLUMNS`), read with
:func:`read_records` or checked with :func:`validate_records`.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy import stats

from analysis import funnel as _funnel
from analysis import narrative
from analysis.binomial import (
    Alternative,
    IntervalMethod,
    binom_test,
    check_alpha,
    proportion_interval,
    spreadsheet_rows,
    validate_counts,
)
from analysis.exceptions import DataValidationError, ModelSpecificationError
from analysis.plots import DOUBLE_COLUMN, ci_errorbar, ci_label, wrap_label
from analysis.plots import label as label_text
from analysis.results import Result
from analysis.tables import CITATIONS_ZH

#: Label keys (analysis.plots) of the verdicts in plots.
_VERDICT_LABELS = {"above": "above_target", "below": "below_target", "not distinguishable": "not_distinguishable"}

__all__ = [
    "RECORD_COLUMNS",
    "adjust_pvalues",
    "check_reported",
    "compare",
    "funnel",
    "proportion_interval",
    "period_zh",
    "published_rates",
    "rate_labels",
    "describe_reported",
    "describe_vs_target",
    "published_scope",
    "unique_citations",
    "read_records",
    "validate_records",
    "vs_target",
    "VsTargetResult",
    "FunnelResult",
    "CompareResult",
    "ReportCheckResult",
]

#: Schema of users' administrative coverage records (one row per unit × period × service).
RECORD_COLUMNS: dict[str, str] = {
    "unit": "text: district code or name (e.g. '440106' or '天河区'); the unit compared",
    "period": "text or integer: reporting period (e.g. 2018 or '2018H1')",
    "service": "text: service indicator (e.g. 'e-filing', '婚育证明核验', 'health record')",
    "eligible": "integer ≥ 1: people eligible for the service in the unit and period (denominator)",
    "served": "integer, 0 ≤ served ≤ eligible: people who received it (numerator)",
    "target": "proportion 0–1: the responsibility target (责任指标) for that service, e.g. 0.85",
}

Correction = Literal["holm", "bh", "fdr_bh", "bonferroni", "none"]


# --------------------------------------------------------------------------------------------------- helpers
def adjust_pvalues(p_values, *, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values: Holm step-down (FWER), Benjamini–Hochberg step-up (FDR), Bonferroni, or none."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0 or method == "none":
        return p.copy()
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ModelSpecificationError("p-values must be finite numbers between 0 and 1")
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method in ("bh", "fdr_bh"):
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    elif method == "bonferroni":
        adj = m * ranked
    else:
        raise ModelSpecificationError(f"correction must be 'holm', 'bh', 'bonferroni' or 'none', got {method!r}")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def _counts(df: pd.DataFrame, served: str, eligible: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in (served, eligible) if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"column {missing[0]!r} is missing (columns: {list(df.columns)})", path=path, column=missing[0]
        )
    x, n = (validate_counts(df[c], column=c, expected="counts (whole numbers ≥ 0)", path=path)
            for c in (served, eligible))
    zero = np.flatnonzero(n == 0)
    if zero.size:
        raise DataValidationError(
            "eligible is 0, so no rate can be computed (remove the unit or give its denominator)",
            path=path, rows=spreadsheet_rows(df, zero), column=eligible, expected="eligible ≥ 1",
        )
    over = np.flatnonzero(x > n)
    if over.size:
        raise DataValidationError(
            "more people served than eligible", path=path, rows=spreadsheet_rows(df, over), column=served,
            expected=f"{served} ≤ {eligible}",
        )
    return x, n


def _target_values(df: pd.DataFrame, target: str | float, path: str | None = None) -> np.ndarray:
    if isinstance(target, str):
        if target not in df.columns:
            raise DataValidationError(
                f"target column {target!r} is missing; give target= a column name or a proportion such as 0.85",
                path=path, column=target,
            )
        values = pd.to_numeric(df[target], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        col = target
    else:
        values = np.full(len(df), float(target))
        col = "target"
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
    if bad.size:
        hint = " — it looks like a percentage; divide by 100" if np.nanmax(np.abs(values[bad]), initial=0) > 1 else ""
        raise DataValidationError(
            f"target must be a proportion between 0 and 1{hint}",
            path=path, rows=spreadsheet_rows(df, bad), column=col, expected="e.g. 0.85 for 85 %",
        )
    return values


# ------------------------------------------------------------------------------------------------ vs_target
@dataclass(frozen=True, kw_only=True, repr=False)
class VsTargetResult(Result):
    """Each unit's rate against its target; ``table`` columns are documented in :func:`vs_target`."""

    TITLE = ("Service rates against the target", "服务率与目标值比较")

    alpha: float
    correction: str

    def unit_names(self, label: str | None = None) -> list[str]:
        """One name per row of ``table``: the column ``label``, or else the ``by`` keys joined with " · "
        ("婚育证明核验 · 街道1 · 2018"), or else the column "unit", or else the row number from 1."""
        t = self.table
        keys = [label] if label else self.params.get("by") or (["unit"] if "unit" in t.columns else [])
        if not keys:
            return [str(i + 1) for i in range(len(t))]
        return t[keys].astype(str).agg(" · ".join, axis=1).tolist()

    def figsize(self, label: str | None = None, *, width: float = DOUBLE_COLUMN, wrap: int = 40) -> tuple[float, float]:
        """(width, height) in inches for :meth:`plot` with the same ``label`` and ``wrap``: 0.16 in per line of
        the wrapped names plus 0.1 in between rates and 0.8 in for the axis and its label."""
        lines = sum(len(wrap_label(name, wrap).split("\n")) for name in self.unit_names(label))
        return (width, 0.8 + 0.16 * lines + 0.1 * len(self.table))

    def plot(
        self, ax: Axes | None = None, *, label: str | None = None, lang: str = "en", wrap: int | None = 40
    ) -> Axes:
        """Dot-and-interval plot of each rate (in %) with its interval and target (black tick), coloured by
        verdict. Units are named by :meth:`unit_names` (``label``), wrapped at ``wrap`` columns (a Chinese
        character counts two; :func:`analysis.plots.wrap_label`)."""
        ax = ax if ax is not None else plt.gca()
        t = self.table.reset_index(drop=True)
        names = self.unit_names(label)
        if wrap:
            names = [wrap_label(n, wrap) for n in names]
        colours = {"above": "C2", "below": "C3", "not distinguishable": "0.5"}
        ypos = np.arange(len(t))[::-1]
        for verdict, colour in colours.items():
            m = (t["verdict"] == verdict).to_numpy()
            if m.any():
                ci_errorbar(ax, ypos[m], 100 * t["rate"][m], 100 * t["lower"][m], 100 * t["upper"][m], orient="h",
                            color=colour, label=label_text(_VERDICT_LABELS[verdict], lang))  # fmt: skip
        one = t["target"].nunique() == 1  # one target: its value in the legend
        target_name = label_text("target", lang) + (f" {100 * t['target'].iloc[0]:g}%" if one else "")
        ax.scatter(100 * t["target"], ypos, marker="|", s=120, color="black", label=target_name, zorder=4)
        ax.set_yticks(ypos, labels=names)
        ax.set_xlim(-2, 102)
        ci = ci_label(self.params["alpha"], lang)
        wilson = self.params["interval"] == "wilson"
        ax.set_xlabel(f"覆盖率（%）及{' Wilson ' if wilson else '精确 '}{ci}" if lang == "zh"
                      else f"Rate (%) with {'Wilson' if wilson else 'exact'} {ci}")  # fmt: skip
        ax.legend(frameon=False, fontsize=8)
        return ax


def vs_target(
    data: pd.DataFrame,
    *,
    served: str = "served",
    eligible: str = "eligible",
    target: str | float = "target",
    by: str | Sequence[str] | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    correction: Correction = "holm",
    interval: IntervalMethod = "wilson",
    adjust_within: str | Sequence[str] | None = None,
    design_effect: float = 1.0,
) -> VsTargetResult:
    """Test each unit's coverage rate against its target.

    ``target`` is a column of proportions (0–1) or one number. ``by`` names the columns identifying a unit:
    rows sharing a key are summed (their targets must agree); without ``by`` each row is a unit.
    ``alternative='greater'`` asks "does the unit beat its target?" (H1: rate > target), ``'less'`` "does it
    fall short?", ``'two-sided'`` both. Table columns: the unit columns, served, eligible, rate, lower, upper
    ((1 − alpha) Wilson or exact interval), target, gap_pp, gap_lower_pp, gap_upper_pp (rate − target in
    percentage points, with the interval), p_value (exact binomial), p_adjusted (``correction`` across all
    rows, or within each group of ``adjust_within`` columns, e.g. per service), verdict: 'above' / 'below' when
    p_adjusted < alpha, otherwise 'not distinguishable' (with the default one-sided ``'greater'`` a unit can only
    be 'above' or 'not distinguishable'; use ``'less'`` or ``'two-sided'`` to find units that fall short).

    ``design_effect``: for rates from a cluster or otherwise complex survey (such as the published migrant-survey
    rates), whose sampling variance is ``design_effect`` times that of a simple random sample of the same n.
    Intervals and tests then use Kish's effective sample size n / design_effect, rounded, with the served count
    scaled to it (rate × effective n, rounded), as Korn & Graubard (1998) do for Clopper–Pearson intervals;
    column ``eligible_effective``. The default 1 treats every n as a simple random sample (or a complete count).
    """
    alpha = check_alpha(alpha)
    if not (isinstance(design_effect, numbers.Real) and np.isfinite(design_effect) and design_effect > 0):
        raise ModelSpecificationError(f"design_effect must be a positive number (1 = simple random sample), "
                                      f"got {design_effect!r}")
    path = data.attrs.get("path")
    x, n = _counts(data, served, eligible, path)
    tgt = _target_values(data, target, path)
    keys = [by] if isinstance(by, str) else list(by) if by is not None else []
    missing = [k for k in keys if k not in data.columns]
    if missing:
        raise DataValidationError(f"by column(s) {missing} not in data (columns: {list(data.columns)})", path=path)
    work = data.drop(columns=[c for c in (served, eligible) if c in data.columns]).copy()
    if isinstance(target, str):
        work = work.drop(columns=[target])
    work["served"], work["eligible"], work["target"] = x, n, tgt
    if keys:
        spread = work.groupby(keys, dropna=False, sort=False)["target"].agg(["min", "max"])
        differ = spread.index[(spread["max"] - spread["min"]).to_numpy() > 0].tolist()
        if differ:
            raise DataValidationError(
                f"rows of the same unit have different targets: {differ[:5]}", path=path, column="target",
                expected="one target per unit (or leave out by=)",
            )
        work = work.groupby(keys, dropna=False, sort=False, as_index=False).agg(
            served=("served", "sum"), eligible=("eligible", "sum"), target=("target", "first")
        )
    x = work["served"].to_numpy(dtype=float)
    n = work["eligible"].to_numpy(dtype=float)
    tgt = work["target"].to_numpy(dtype=float)
    rate = x / n
    n_eff = n if design_effect == 1 else np.maximum(np.round(n / design_effect), 1)
    x_eff = x if design_effect == 1 else np.round(rate * n_eff)
    lower, upper = proportion_interval(x_eff, n_eff, alpha=alpha, method=interval)
    p = binom_test(x_eff, n_eff, tgt, alternative=alternative)
    if adjust_within is None:
        p_adj = adjust_pvalues(p, method=correction)
    else:
        fam = [adjust_within] if isinstance(adjust_within, str) else list(adjust_within)
        absent = [c for c in fam if c not in work.columns]
        if absent:
            raise DataValidationError(f"adjust_within column(s) {absent} not among {list(work.columns)}", path=path)
        p_adj = np.empty_like(p)
        for idx in work.groupby(fam, dropna=False, sort=False).indices.values():
            p_adj[idx] = adjust_pvalues(p[idx], method=correction)
    sig = p_adj < alpha
    verdict = np.where(sig & (rate > tgt), "above", np.where(sig & (rate < tgt), "below", "not distinguishable"))
    table = work.drop(columns=["served", "eligible", "target"]).assign(
        served=x.astype(np.int64), eligible=n.astype(np.int64), eligible_effective=n_eff.astype(np.int64), rate=rate,
        lower=lower, upper=upper, target=tgt,
        gap_pp=100 * (rate - tgt), gap_lower_pp=100 * (lower - tgt), gap_upper_pp=100 * (upper - tgt),
        p_value=p, p_adjusted=p_adj, verdict=verdict,
    )
    method = (
        f"{'Wilson score' if interval == 'wilson' else 'exact Clopper–Pearson'} {100 * (1 - alpha):g}% interval; "
        f"exact binomial test ({alternative}) against the target; "
        f"{_CORRECTION_NAMES.get(correction, correction)} adjustment across {narrative.count(len(table), 'rate')}"
        + (f" within each {'/'.join([adjust_within] if isinstance(adjust_within, str) else adjust_within)}"
           if adjust_within is not None else "")
        + (f"; on Kish's effective sample size n / {design_effect:g} (design effect; Korn & Graubard 1998)"
           if design_effect != 1 else "; each n taken as a simple random sample (design effect 1)")
    )
    within = "/".join([adjust_within] if isinstance(adjust_within, str) else adjust_within or [])
    method_zh = (
        f"{'Wilson 得分' if interval == 'wilson' else '精确 Clopper–Pearson'} {100 * (1 - alpha):g}% 置信区间；"
        f"与目标值比较的精确二项检验（{_ALTERNATIVES_ZH[alternative]}）；"
        + (f"在每个 {within} 内" if adjust_within is not None else "")
        + (f"{len(table):,} 项比率未做多重检验校正" if correction == "none"
           else f"对 {len(table):,} 项比率做 {_CORRECTION_NAMES_ZH.get(correction, correction)}")
        + (f"；按 Kish 有效样本量 n / {design_effect:g} 计算（设计效应；Korn & Graubard 1998）"
           if design_effect != 1 else "；每个 n 按简单随机样本处理（设计效应 1）")
    )
    params = {"alpha": alpha, "alternative": alternative, "correction": correction, "interval": interval,
              "by": keys or None, "adjust_within": adjust_within, "design_effect": design_effect}
    return VsTargetResult(table=table, method=method, method_zh=method_zh, params=params, alpha=alpha, correction=correction)


_CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "fdr_bh": "Benjamini–Hochberg",
                     "bonferroni": "Bonferroni", "none": "no"}
_CORRECTION_NAMES_ZH = {"holm": "Holm 多重检验校正", "bh": "Benjamini–Hochberg 多重检验校正",
                        "fdr_bh": "Benjamini–Hochberg 多重检验校正", "bonferroni": "Bonferroni 多重检验校正",
                        "none": "未做多重检验校正"}  # fmt: skip
_ALTERNATIVES_ZH = {"two-sided": "双侧", "greater": "单侧：是否高于目标", "less": "单侧：是否低于目标"}


# --------------------------------------------------------------------------------------------------- funnel
@dataclass(frozen=True, kw_only=True, repr=False)
class FunnelResult(Result):
    """Units against a common target with exact funnel limits (columns of :func:`analysis.funnel.classify`)."""

    TITLE = ("Funnel limits of service rates", "服务率漏斗控制限")

    target_p: float
    levels: tuple[float, ...]
    label: str | None = None

    def plot(
        self, ax: Axes | None = None, *, xlabel: str = "eligible (n)", ylabel: str = "rate (%)",
        lang: Literal["zh", "en"] | None = None,
    ) -> Axes:
        """Funnel plot on the percent scale; units outside the widest limits are named (the farthest
        :data:`analysis.funnel.MAX_LABELS`, labels kept apart); ``lang``: legend language."""
        return _funnel.plot_funnel(
            self.table, x="n", y="proportion", target_p=self.target_p, levels=self.levels, ax=ax,
            label=self.label, transform=lambda p: 100 * np.asarray(p, dtype=float),
            overdispersion=self.params.get("phi") if self.params.get("phi", 1.0) > 1 else None,
            tau2=self.params.get("tau2") or None,
            xlabel=xlabel, ylabel=ylabel, lang=lang,
        )  # fmt: skip


def funnel(
    data: pd.DataFrame,
    *,
    target: float,
    served: str = "served",
    eligible: str = "eligible",
    unit: str | None = "unit",
    levels: Sequence[float] = _funnel.DEFAULT_LEVELS,
    overdispersion: float | Literal["estimate", "additive"] | None = None,
) -> FunnelResult:
    """Rates of many units against one common ``target`` (proportion) with exact binomial funnel limits.

    Returns the unit column, n, observed, proportion, the limits and ``position_<L>`` per level
    (Spiegelhalter 2005). ``overdispersion`` as in :func:`analysis.funnel.limits`.
    """
    path = data.attrs.get("path")
    x, n = _counts(data, served, eligible, path)
    tgt = float(_target_values(data.iloc[:1], float(target), path)[0]) if len(data) else float(target)
    table = _funnel.classify(x, n, tgt, levels=levels, overdispersion=overdispersion)
    if unit is not None:
        if unit not in data.columns:
            raise DataValidationError(f"unit column {unit!r} not in data (columns: {list(data.columns)})", path=path)
        table.insert(0, unit, data[unit].to_numpy())
    phi, tau2 = table.attrs.get("phi", 1.0), table.attrs.get("tau2", 0.0)
    levels = tuple(levels)
    method = (f"exact binomial funnel limits ({', '.join(_funnel.level_name(v) + '%' for v in levels)}), "
              f"Spiegelhalter 2005" + (f"; over-dispersion phi = {phi:.3g}" if phi > 1 else "")
              + (f"; additive random effects tau = {tau2 ** 0.5:.3g}" if tau2 > 0 else ""))
    method_zh = (f"精确二项漏斗图控制限（{'、'.join(_funnel.level_name(v) + '%' for v in levels)}），"
                 f"Spiegelhalter 2005" + (f"；过度离散 φ = {phi:.3g}" if phi > 1 else "")
                 + (f"；加性随机效应 τ = {tau2 ** 0.5:.3g}" if tau2 > 0 else ""))
    return FunnelResult(table=table, method=method, method_zh=method_zh, params={"target": tgt, "phi": phi, "tau2": tau2},
                        target_p=tgt,
                        levels=levels, label=unit)


# -------------------------------------------------------------------------------------------------- compare
@dataclass(frozen=True, kw_only=True, repr=False)
class CompareResult(Result):
    """Odds ratios from the logistic GLM (``table``) and the tests (``tests``)."""

    TITLE = ("Service rates compared between groups", "服务率的组间比较")

    tests: pd.DataFrame
    dispersion: float

    def summary(self) -> str:
        with pd.option_context("display.width", 120):
            return super().summary() + "\n\nTests\n" + self.tests.to_string(index=False)

    def plot(self, ax: Axes | None = None, *, lang: Literal["zh", "en"] = "en") -> Axes:
        """Odds ratios (log scale) with their confidence intervals; reference level at 1."""
        ax = ax if ax is not None else plt.gca()
        t = self.table[self.table["term"] != "Intercept"].reset_index(drop=True)
        ypos = np.arange(len(t))[::-1]
        ci_errorbar(ax, ypos, t["odds_ratio"], t["lower"], t["upper"], orient="h", color="C0",
                    label=ci_label(self.params["alpha"], lang, of=label_text("odds_ratio", lang)))  # fmt: skip
        ax.axvline(1, color="0.3", lw=1)
        ax.set_xscale("log")
        ax.set_yticks(ypos, labels=t["term"].tolist())
        ax.set_xlabel(label_text("odds_ratio", lang))
        ax.legend(frameon=False, fontsize=8)
        return ax


def compare(
    data: pd.DataFrame,
    *,
    served: str = "served",
    eligible: str = "eligible",
    unit: str = "unit",
    period: str | None = "period",
    alpha: float = 0.05,
    scale: Literal["binomial", "quasi"] = "binomial",
) -> CompareResult:
    """Compare coverage across units (and periods).

    Tests: Pearson chi-square test of homogeneity of the rates across units (overall and within each period);
    binomial GLM (logit link) ``served/eligible ~ C(unit) + C(period)`` with likelihood-ratio tests of the unit
    and period terms. ``table``: odds ratios with (1 − alpha) Wald intervals relative to the first unit/period.
    The Pearson dispersion (chi-square/df) is reported; ``scale='quasi'`` scales standard errors and uses F tests
    (quasi-binomial; McCullagh & Nelder 1989, §4.5).
    """
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    path = data.attrs.get("path")
    x, n = _counts(data, served, eligible, path)
    cols = [unit] + ([period] if period else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(f"column(s) {missing} not in data (columns: {list(data.columns)})", path=path)
    df = pd.DataFrame({"unit": data[unit].astype(str).to_numpy(), "served": x, "failed": n - x})
    df["period"] = data[period].astype(str).to_numpy() if period else "all"
    df = df.groupby(["unit", "period"], as_index=False, sort=True)[["served", "failed"]].sum()
    n_units, n_periods = df["unit"].nunique(), df["period"].nunique()
    if n_units < 2 and n_periods < 2:
        raise ModelSpecificationError("compare needs at least two units or two periods")

    tables = [("all periods", df.groupby("unit")[["served", "failed"]].sum())]
    if n_periods > 1:
        tables += [(f"period {p}", g.set_index("unit")[["served", "failed"]]) for p, g in df.groupby("period")]
    tests = []
    for label, sub in tables:
        sub = sub[sub.sum(axis=1) > 0]
        if len(sub) < 2 or (sub.sum(axis=0) == 0).any():
            continue
        chi2, p, dof, _ = stats.chi2_contingency(sub.to_numpy(), correction=False)
        tests.append({"test": "Pearson chi-square, units homogeneous", "scope": label, "statistic": chi2,
                      "df": dof, "p_value": p})

    terms = [t for t, k in (("C(unit)", n_units), ("C(period)", n_periods)) if k > 1]
    formula = "served + failed ~ " + " + ".join(terms)
    fam = sm.families.Binomial()
    saturated = len(df) == 1 + (n_units - 1) + (n_periods - 1)
    with warnings.catch_warnings():
        if saturated:  # zero residual df: statsmodels warns about the (exact, expected) perfect fit
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", PerfectSeparationWarning)
        full = smf.glm(formula, data=df, family=fam).fit()
    resid_df = full.df_resid
    dispersion = float(full.pearson_chi2 / resid_df) if resid_df > 0 else float("nan")
    use_quasi = scale == "quasi"
    if use_quasi and not (resid_df > 0):
        raise ModelSpecificationError("quasi-binomial scale needs residual degrees of freedom (more cells than terms)")
    # scale passed as a number: statsmodels' scale="X2" ignores the trial counts of (successes, failures) endog
    fitted = smf.glm(formula, data=df, family=fam).fit(scale=dispersion) if use_quasi else full
    for term in terms:
        rest = [t for t in terms if t != term]
        reduced = smf.glm("served + failed ~ " + (" + ".join(rest) if rest else "1"), data=df, family=fam).fit()
        lr = reduced.deviance - full.deviance
        k = int(reduced.df_resid - full.df_resid)
        if use_quasi:
            stat, pv, name = lr / k / dispersion, stats.f.sf(lr / k / dispersion, k, resid_df), "F (quasi-binomial)"
        else:
            stat, pv, name = lr, stats.chi2.sf(lr, k), "likelihood ratio (binomial GLM)"
        tests.append({"test": name, "scope": term.removeprefix("C(").removesuffix(")"), "statistic": stat,
                      "df": k, "p_value": pv})

    ci = fitted.conf_int(alpha=alpha)
    table = pd.DataFrame({
        "term": [_term_label(t) for t in fitted.params.index],
        "log_odds": fitted.params.to_numpy(), "se": fitted.bse.to_numpy(),
        "odds_ratio": np.exp(fitted.params.to_numpy()),
        "lower": np.exp(ci[0].to_numpy()), "upper": np.exp(ci[1].to_numpy()),
        "p_value": fitted.pvalues.to_numpy(),
    })
    method = (f"binomial GLM (logit) {formula}{' with Pearson-scaled SE (quasi-binomial)' if use_quasi else ''}; "
              f"Pearson chi-square homogeneity tests; dispersion {dispersion:.3g}")
    method_zh = (f"二项广义线性模型（logit）{formula}{'，标准误按 Pearson 离散参数调整（拟二项）' if use_quasi else ''}；"
                 f"Pearson 卡方同质性检验；离散参数 {dispersion:.3g}")
    params = {"alpha": alpha, "scale": scale, "units": n_units, "periods": n_periods}
    return CompareResult(table=table, method=method, method_zh=method_zh, params=params, tests=pd.DataFrame(tests), dispersion=dispersion)


def _term_label(term: str) -> str:
    if term.startswith("C(") and "[T." in term:
        return term[2:term.index(")")] + "=" + term[term.index("[T.") + 3:-1]
    return term


# ------------------------------------------------------------------------------------------- check_reported
@dataclass(frozen=True, kw_only=True, repr=False)
class ReportCheckResult(Result):
    """Consistency of reported 'rate beats target by N points' statements and the minimum n needed."""

    TITLE = ("Reported margins over the target checked", "报告的超目标幅度核对")


def _decimals(value: Any) -> int:
    try:
        exp = Decimal(str(value).strip().lstrip(">=<≥")).as_tuple().exponent
    except InvalidOperation:
        return 2
    return max(0, -int(exp)) if isinstance(exp, int) else 2


def _pct(value: Any, name: str, rows: list[int]) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    try:
        v = float(str(value).strip().lstrip(">=<≥").rstrip("%"))
    except ValueError:
        raise DataValidationError(f"{value!r} is not a number", rows=rows, column=name,
                                  expected="a percentage such as 96.61") from None
    if name != "margin_pp" and not 0 <= v <= 100:
        raise DataValidationError(f"{v} is not a percentage", rows=rows, column=name, expected="0–100")
    return v


def _min_eligible(rate: float, target: float, alpha: float, limit: int,
                  alternative: Alternative = "greater") -> float:
    """Smallest n from which on (up to ``limit``) a rate ``rate`` differs significantly from ``target`` in its own
    direction by the exact binomial test with ``alternative`` at level alpha (two-sided: the minimum-likelihood
    p-value of :func:`analysis.binomial.binom_test`), whichever way rate·n is rounded to a count (its floor and
    its ceiling both): at a tiny n, rounding alone would turn 13.9% into 0 of 2. NaN when the rate equals the
    target, when it lies on the side a one-sided test does not look at (rate ≤ target for ``'greater'``,
    rate ≥ target for ``'less'``), or when ``limit`` is not enough."""
    up = rate > target
    if rate == target or (alternative == "greater" and not up) or (alternative == "less" and up):
        return float("nan")
    z = stats.norm.ppf(1 - (alpha / 2 if alternative == "two-sided" else alpha))
    guess = z**2 * target * (1 - target) / (rate - target) ** 2
    hi = int(min(limit, max(200, 4 * guess + 200)))
    n = np.arange(1, hi + 1, dtype=float)
    sig = np.ones(n.size, dtype=bool)
    for x in (np.floor(rate * n), np.ceil(rate * n)):
        sig &= binom_test(x, n, target, alternative=alternative) < alpha
        sig &= (x > target * n) if up else (x < target * n)  # significant in the direction of the reported gap
    if not sig[-1]:
        return float("nan")
    not_sig = np.flatnonzero(~sig)
    return float(not_sig[-1] + 2) if not_sig.size else 1.0


def check_reported(
    rate,
    target=None,
    margin_pp=None,
    eligible=None,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    n_limit: int = 5_000_000,
    lang: str = "en",
    bound: str | Sequence[str] | None = None,
) -> ReportCheckResult:
    """Check reported coverage statements; all values as printed (rates and targets in %, margin in points).

    Accepts scalars or equal-length sequences (one statement each; strings such as ``"96.61"`` keep their
    printed decimals). Per statement: the implied margin (rate − target) and whether it matches the reported
    margin within rounding (half a unit in the last printed digit of each number); the target implied when only
    the margin is given; with ``eligible``, the exact binomial p-value of the gap (``alternative``: the default
    ``'greater'`` asks whether the rate beats its target, ``'less'`` whether it falls short, ``'two-sided'``
    either, as in :func:`vs_target`); and ``min_eligible``: the smallest denominator from which on the reported
    gap would be significant at ``alpha`` by that test (with served rounded either way from rate·n; NaN where
    the test cannot find it, see :func:`_min_eligible`). No multiple-testing adjustment: each statement is judged on its own.
    ``statement`` says it plainly, including when no denominator was reported, in English or (``lang="zh"``)
    Chinese. ``bound`` (``"="``, ``">="``, ``">"`` per statement; default ``"="``): a rate printed only as a bound
    ("≥85%") that equals its target is at least the target, not equal to it: the statement says so.
    """
    if alternative not in _SIDES:
        raise ModelSpecificationError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    tr, _ = narrative.in_language(lang)
    seqs = [v if isinstance(v, (list, tuple, np.ndarray, pd.Series)) else [v]
            for v in (rate, target, margin_pp, eligible)]
    m = max(len(s) for s in seqs)
    if any(len(s) not in (1, m) for s in seqs):
        raise ModelSpecificationError("rate, target, margin_pp and eligible must be scalars or of equal length")
    rate_l, target_l, margin_l, elig_l = (list(s) * m if len(s) == 1 else list(s) for s in seqs)
    bounds = ["="] * m if bound is None else [bound] * m if isinstance(bound, str) else [b or "=" for b in bound]
    if len(bounds) != m or not set(bounds) <= {"=", ">=", ">"}:
        raise ModelSpecificationError(f"bound must be '=', '>=' or '>' for each of the {m} statements, got {bound!r}")
    table_col = next((s for s in seqs if isinstance(s, pd.Series) and len(s) == m), None)  # a user table: its rows
    rows = []
    for i in range(m):
        where = spreadsheet_rows(table_col, [i])
        r = _pct(rate_l[i], "rate", where)
        t = _pct(target_l[i], "target", where)
        g = _pct(margin_l[i], "margin_pp", where)
        if math.isnan(r):
            raise DataValidationError("a rate is required", rows=where, column="rate")
        e = elig_l[i]
        e = None if e is None or (isinstance(e, float) and math.isnan(e)) else e
        if e is not None and (float(e) != int(float(e)) or int(float(e)) < 1):
            raise DataValidationError(f"eligible must be a whole number ≥ 1, got {e!r}", rows=where,
                                      column="eligible")
        tol = 0.0
        for v, val in ((rate_l[i], r), (target_l[i], t), (margin_l[i], g)):
            if not math.isnan(val):
                tol += 0.5 * 10 ** -_decimals(v)
        implied_margin = r - t if not math.isnan(t) else float("nan")
        implied_target = t if not math.isnan(t) else (r - g if not math.isnan(g) else float("nan"))
        consistent = (abs(implied_margin - g) <= tol + 1e-9) if not (math.isnan(t) or math.isnan(g)) else None
        p_value = float("nan")
        if e is not None and 0 <= implied_target <= 100:
            n_e = int(float(e))
            served = round(r / 100 * n_e)
            p_value = float(binom_test(served, n_e, implied_target / 100, alternative=alternative))
        min_n = (_min_eligible(r / 100, implied_target / 100, alpha, n_limit, alternative)
                 if not math.isnan(implied_target) else float("nan"))
        rows.append({
            "rate_pct": r, "target_pct": implied_target, "target_reported": not math.isnan(t),
            "margin_pp_reported": g, "margin_pp_implied": r - implied_target, "tolerance_pp": tol,
            "consistent": consistent, "eligible": e, "p_value": p_value, "min_eligible": min_n, "bound": bounds[i],
            "statement": _statement(r, implied_target, g, consistent, e, p_value, min_n, alpha, n_limit, tr,
                                    alternative, bounds[i]),
        })
    table = pd.DataFrame(rows)
    table["eligible"] = table["eligible"].astype("Int64")
    method = (f"consistency within rounding of printed digits; exact binomial test ({alternative}) at "
              f"alpha={alpha:g}, each statement on its own; minimum eligible n by exhaustive exact search")
    method_zh = (f"按印刷位数的舍入判断是否一致；精确二项检验（{_ALTERNATIVES_ZH[alternative]}），"
                 f"α = {alpha:g}，每条表述单独检验；最小应服务人数由穷举精确搜索得到")
    return ReportCheckResult(table=table, method=method, method_zh=method_zh,
                             params={"alpha": alpha, "alternative": alternative, "n_limit": n_limit})


#: "one-sided" / "two-sided" for each alternative of the exact binomial test, in English and Chinese.
_SIDES = {"greater": ("one-sided", "单侧"), "less": ("one-sided", "单侧"), "two-sided": ("two-sided", "双侧")}


def _tested(r: float, t: float, alternative: str) -> bool:
    """Whether the exact test with ``alternative`` can find the gap of rate ``r`` from target ``t`` significant."""
    return (r > t and alternative != "less") or (r < t and alternative != "greater")


def _statement(r, t, g, consistent, e, p_value, min_n, alpha, n_limit, tr, alternative="greater", bound="=") -> str:
    """The verdict on one reported statement, in the language of ``tr`` (:func:`analysis.narrative.in_language`)."""
    if math.isnan(t):
        return tr(f"Rate {r:g}% reported without a target or margin: nothing to test.",
                  f"报告的比率 {r:g}% 没有目标或差距：无可检验。")
    side_en, side_zh = _SIDES[alternative]
    parts = []
    if consistent is False:
        parts.append(tr(f"INCONSISTENT: {r:g}% − {t:g}% = {r - t:.4g} points, but {g:g} points were reported.",
                        f"不一致：{r:g}% − {t:g}% = {r - t:.4g} 个百分点，但报告为 {g:g} 个百分点。"))
    elif consistent:
        parts.append(tr(f"Consistent: {r:g}% − {t:g}% = {r - t:.4g} points as reported.",
                        f"一致：{r:g}% − {t:g}% = {r - t:.4g} 个百分点，与报告相符。"))
    if r < t and alternative != "greater":
        parts.append(tr(f"The rate falls short of the target ({t:g}%).", f"该比率低于目标（{t:g}%）。"))
    if _tested(r, t, alternative):
        if e is None:
            parts.append(tr("No denominator was reported, so significance cannot be judged.",
                            "未报告分母，无法判断显著性。"))
        else:
            sig = p_value < alpha
            parts.append(tr(f"With {int(float(e)):,} eligible the gap is {'significant' if sig else 'not significant'} "
                            f"(exact {side_en} {narrative.p_text(p_value)}).",
                            f"符合条件 {int(float(e)):,} 人时，差距{'显著' if sig else '不显著'}（精确{side_zh} {narrative.p_text(p_value)}）。"))
        if math.isnan(min_n):
            parts.append(tr(f"The gap would not be significant even with {n_limit:,} eligible people.",
                            f"即使符合条件人数达 {n_limit:,}，差距也不显著。"))
        else:
            parts.append(tr(f"Any sample of {int(min_n):,} or more eligible people would make it significant at "
                            f"α = {alpha:g}.",
                            f"应服务人数达到 {int(min_n):,} 及以上时，该差距即在 α = {alpha:g} 水平上显著。"))
    elif r > t:  # alternative "less": only shortfalls are tested
        parts.append(tr(f"The rate exceeds the target ({t:g}%); the one-sided test for a shortfall cannot find "
                        "that significant.",
                        f"该比率高于目标（{t:g}%）；检验是否低于目标的单侧检验不会判定其显著。"))
    elif r == t and bound != "=":
        parts.append(tr(f"The rate is reported only as {'at least' if bound == '>=' else 'above'} the target "
                        f"({'≥' if bound == '>=' else bound}{t:g}%): by how much it exceeds it cannot be told.",
                        f"该比率只报告为{'不低于' if bound == '>=' else '高于'}目标（{'≥' if bound == '>=' else bound}{t:g}%）："
                        "无法判断超出多少。"))
    elif not (r < t and alternative != "greater"):
        parts.append(tr(f"The rate does not exceed the target ({t:g}%).", f"该比率未超过目标（{t:g}%）。"))
    return tr(" ", "").join(parts)


def describe_reported(result: ReportCheckResult, *, correction: Correction = "none", lang: str = "en") -> str:
    """Markdown sentences on the rates of a :func:`check_reported` result printed without a denominator: how
    many lie above and below their target, and the range of ``min_eligible`` — the denominators from which on
    each gap would be significant by the result's exact test (its ``alternative`` and ``alpha``) — with the
    rates that no denominator up to ``n_limit`` would make significant, and why. Each rate is judged on its own:
    with ``correction`` (the multiple-testing adjustment used for the rates that have a denominator, e.g.
    ``"holm"``) the text says that such an adjustment would raise the numbers. English or (``lang="zh"``)
    Chinese."""
    tr, _ = narrative.in_language(lang)
    t = result.table[result.table["target_pct"].notna()]
    if t.empty:
        return tr("No rate has a target to compare with.", "没有比率有可比较的目标。")
    alpha, alternative = result.params["alpha"], result.params.get("alternative", "greater")
    limit = result.params.get("n_limit", 5_000_000)
    test_en = f"exact binomial test ({alternative}, α = {alpha:g})"
    test_zh = f"精确二项检验（{_ALTERNATIVES_ZH.get(alternative, alternative)}，α = {alpha:g}）"
    r, tg = t["rate_pct"], t["target_pct"]
    above, below = int((r > tg).sum()), int((r < tg).sum())
    targets = tg.unique()
    one = len(targets) == 1
    lead = (tr(f"Compared with a target of {targets[0]:g}%, ", f"与 {targets[0]:g}% 的目标相比，") if one
            else tr("Compared with each rate's own target, ", "与各自的目标相比，"))
    text = lead + tr(f"{above} {_be(above)} above {'it' if one else 'their target'} and {below} below it.",
                     f"{above} 个高于目标，{below} 个低于目标。")
    found = t["min_eligible"].dropna()
    if len(found):
        lo, hi = int(found.min()), int(found.max())
        text += tr(f" By the {test_en}, {len(found)} of these gaps would be significant with a sample of at least "
                   + (f"{lo:,} eligible people" if lo == hi else
                      f"N eligible people, N from {lo:,} to {hi:,} depending on the rate"),
                   f"按{test_zh}，其中 {len(found)} 个差距在符合条件的人数达到 "
                   + (f"{lo:,} 时即会显著" if lo == hi else f"N 时即会显著（N 为 {lo:,} 至 {hi:,}，视比率而定）"))
    else:
        text += tr(f" By the {test_en}, no gap could be significant", f"按{test_zh}，没有一个差距可能显著")
    untested = t[t["min_eligible"].isna()]
    at_target = untested["rate_pct"] == untested["target_pct"]
    as_bound = at_target & (untested["bound"] != "=") if "bound" in untested else at_target & False
    same, at_least = int((at_target & ~as_bound).sum()), int(as_bound.sum())
    other_side = int((~_tested_mask(untested, alternative) & (untested["rate_pct"] != untested["target_pct"])).sum())
    too_big = len(untested) - same - at_least - other_side
    reasons_en, reasons_zh = [], []
    if at_least:
        reasons_en.append(f"{at_least} {'is' if at_least == 1 else 'are'} reported only as at least the target")
        reasons_zh.append(f"{at_least} 个只报告为不低于目标")
    if same:
        reasons_en.append(f"{same} {'equals' if same == 1 else 'equal'} the target")
        reasons_zh.append(f"{same} 个等于目标")
    if other_side:
        side = "above" if alternative == "less" else "below"
        reasons_en.append(f"{other_side} {'lies' if other_side == 1 else 'lie'} {side} the target, which the one-sided "
                          "test does not look at")
        reasons_zh.append(f"{other_side} 个{'高于' if alternative == 'less' else '低于'}目标，而单侧检验不考虑这一方向")
    if too_big:
        reasons_en.append(f"{too_big} would need more than {limit:,} eligible people")
        reasons_zh.append(f"{too_big} 个需要超过 {limit:,} 人")
    if len(found) and reasons_en:
        text += tr(" (" + "; ".join(reasons_en) + ").", "（" + "；".join(reasons_zh) + "）。")
    elif reasons_en:
        text += tr(": " + "; ".join(reasons_en) + ".", "：" + "；".join(reasons_zh) + "。")
    else:
        text += tr(".", "。")
    if len(found) and correction not in (None, "none"):
        name_en = _CORRECTION_NAMES.get(correction, correction)
        name_zh = _CORRECTION_NAMES_ZH.get(correction, correction)
        text += tr(f" These numbers are for each rate tested on its own; a {name_en} adjustment across rates, as used "
                   "for the rates with a denominator, would raise them.",
                   f"这些人数是单个比率单独检验所需的人数；若与有分母的比率一样在各比率之间做 {name_zh}，所需人数会更多。")
    return text


def _be(n: int) -> str:
    return "is" if n == 1 else "are"


def _tested_mask(table: pd.DataFrame, alternative: str) -> pd.Series:
    return pd.Series([_tested(r, t, alternative) for r, t in zip(table["rate_pct"], table["target_pct"], strict=True)],
                     index=table.index, dtype=bool)


# ------------------------------------------------------------------------------------------- users' records
def validate_records(df: pd.DataFrame, *, path: str | None = None) -> pd.DataFrame:
    """Check a table of coverage records against :data:`RECORD_COLUMNS`; returns it with typed columns.

    Errors (DataValidationError naming file, spreadsheet rows and column): missing columns, missing or
    non-integer counts, eligible = 0, served > eligible, targets outside 0–1 (percentages are refused with a
    hint), duplicated unit × period × service keys. No row is dropped.
    """
    path = path or df.attrs.get("path")
    missing = [c for c in RECORD_COLUMNS if c not in df.columns]
    if missing:
        raise DataValidationError(f"missing column(s) {missing}; found {list(df.columns)}", path=path,
                                  expected="columns " + ", ".join(RECORD_COLUMNS))
    for col in ("unit", "period", "service"):
        empty = np.flatnonzero(df[col].isna().to_numpy() | (df[col].astype(str).str.strip() == "").to_numpy())
        if empty.size:
            raise DataValidationError("empty value", path=path, rows=spreadsheet_rows(df, empty), column=col)
    x, n = _counts(df, "served", "eligible", path)
    tgt = _target_values(df, "target", path)
    dup = np.flatnonzero(df.duplicated(["unit", "period", "service"], keep=False).to_numpy())
    if dup.size:
        raise DataValidationError("duplicated unit × period × service", path=path, rows=spreadsheet_rows(df, dup),
                                  column="unit", expected="one row per unit, period and service")
    out = df.copy()
    out["unit"] = out["unit"].astype(str)
    out["period"] = out["period"].astype(str)
    out["service"] = out["service"].astype(str)
    out["served"], out["eligible"], out["target"] = x.astype(np.int64), n.astype(np.int64), tgt
    out.attrs["path"] = path
    return out


def read_records(path: str | Path) -> pd.DataFrame:
    """Read users' coverage records (CSV in UTF-8/GBK or .xlsx) with the ``coverage_records`` schema.

    Uses :func:`analysis.data.read_user_table` (encoding detection, row counts in ``attrs``) and then
    :func:`validate_records`.
    """
    from analysis.data import read_user_table

    df = read_user_table(path, as_="coverage_records")
    return validate_records(df, path=str(path))


# ------------------------------------------------------------------------------------ published aggregates
#: Indicators that are complements of a service rate (no record / don't know), not coverage rates.
_COMPLEMENT_MARKERS = ("with NO ", "do not know")


def published_rates(region: str | None = None, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The published migrant-service aggregates (``load("migrant_service_rates")``) relevant to ``region``.

    ``region`` (6-digit code; None or "000000" = all rows) keeps rows of the region itself, of its prefecture
    and province, and national rows. Added columns: ``served``/``eligible`` where a denominator was printed
    (``served_reconstructed`` is True where only the rate and n were printed and served = round(rate·n)),
    ``target_pct`` when the row prints a numeric target, ``complement`` for "no record"/"don't know" shares
    (reported, not tested against a service target).
    """
    if data is None:
        from analysis.data import load

        data = load("migrant_service_rates")
    df = data.copy()
    if region is not None and str(region) != "000000":
        code = str(region)
        keep = {code, code[:4] + "00", code[:2] + "0000"}
        df = df[df["region_code"].isin(keep) | (df["geo_level"] == "national")]
    num = pd.to_numeric(df["numerator"]).astype("Float64")
    den = pd.to_numeric(df["denominator"]).astype("Float64")
    recon = num.isna() & den.notna()
    df["served"] = num.where(~recon, (df["value_pct"] / 100 * den).round()).astype("Int64")
    df["eligible"] = den.astype("Int64")
    df["served_reconstructed"] = recon.to_numpy(dtype=bool)
    df["target_pct"] = pd.to_numeric(df["target_or_benchmark"], errors="coerce").astype(float)
    df["complement"] = df["indicator_en"].str.contains("|".join(_COMPLEMENT_MARKERS), regex=True).to_numpy(bool)
    df["reference_period_zh"] = df["reference_period"].map(period_zh)
    return df.reset_index(drop=True)


#: The English notes in the published rates' reference periods, and their Chinese, applied in this order.
_PERIOD_ZH: tuple[tuple[str, str], ...] = (
    ("c. ", "约"), (" pooled", " 合并"), ("as of ", "截至"), ("12th FYP", "“十二五”时期"),
    ("births to migrant women, children <=18", "流动妇女所生、18岁及以下儿童"),
    ("statement date unclear", "表述日期不详"), (" (", "（"), ("(", "（"), (")", "）"),
)  # fmt: skip


_CJK = re.compile("[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _fullwidth_brackets(text: str) -> str:
    """Round brackets as full-width ones where they enclose or follow Chinese ("东部10省(市)" → "东部10省（市）");
    a space before a converted bracket goes."""

    def fix(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() else ""
        if _CJK.search(m.group(2)) or _CJK.match(before):
            return f"（{m.group(2)}）"
        return m.group(0)

    return re.sub(r"(\s?)\(([^()]*)\)", fix, text)


def period_zh(period: str) -> str:
    """A published rate's ``reference_period`` with its English notes in Chinese ("2018 (as of 2018-09-30)" →
    "2018（截至2018-09-30）"); a phrase not in the list stays as it is."""
    for en, zh in _PERIOD_ZH:
        period = period.replace(en, zh)
    return period


#: What the papers' English wording adds where two bundled rates share their Chinese wording (both 健康档案建立比例).
_ZH_QUALIFIERS = {
    "migrants (15+) with a health record established": "（15 岁及以上）",
    "migrants with a health record established in inflow community": "（在流入地社区）",
}


def rate_labels(rates: pd.DataFrame, *, lang: str = "en") -> pd.Series:
    """One label per published rate (rows of :func:`published_rates`): place, reference period, indicator
    in ``lang`` ("zh" or "en") and, where printed, the denominator ("· n = 205,990"). Two rates whose Chinese
    wording is the same get the qualifier their English wording carries ("（15 岁及以上）")."""
    if lang == "zh":
        text = (rates["geo_zh"].map(_fullwidth_brackets) + " " + rates["reference_period_zh"] + " · "
                + rates["indicator_zh"].map(_fullwidth_brackets))
        shared = text.duplicated(keep=False)
        text = text + rates["indicator_en"].map(_ZH_QUALIFIERS).where(shared, "").fillna("")
    else:
        text = rates["geo_en"] + " " + rates["reference_period"] + " · " + rates["indicator_en"]
    n = rates["eligible"].map(lambda v: "" if pd.isna(v) else f" · n = {int(v):,}")
    return text + n


def published_scope(level: str, *, lang: str = "en") -> str:
    """Which published rates :func:`published_rates` keeps for a region of ``level`` ("nation", "province",
    "prefecture", "county"), as a phrase in English or (``lang="zh"``) Chinese: the nation gets every bundled
    rate; a province its own and the national ones; a prefecture also its province's; a county also its
    prefecture's."""
    tr, _ = narrative.in_language(lang)
    phrases = {
        "nation": ("all bundled rates: national, provincial and local figures", "工具包中的全部比率：全国、各省及各地的数字"),
        "province": ("its own and national figures", "本省及全国的数字"),
        "prefecture": ("its own, its province's and national figures", "本市、所在省及全国的数字"),
        "county": ("its own, its prefecture's, its province's and national figures",
                   "本县（区）、所在地级市、所在省及全国的数字"),
    }
    if level not in phrases:
        raise ModelSpecificationError(f"level must be one of {list(phrases)}, got {level!r}")
    return tr(*phrases[level])


def describe_sources(rates: pd.DataFrame, region_name: str, *, own: str | None = None, lang: str = "en") -> str:
    """Where the published rates kept for a region (:func:`published_rates`) come from, counted by place, e.g.
    "1 for Guangdong and 13 national; none for Shenzhen itself" (``own``: the region's code; its rates come
    first, and their absence is said). Names from the table's ``geo_en``/``geo_zh``."""
    tr, _ = narrative.in_language(lang)
    geo = rates["geo_en" if lang == "en" else "geo_zh"].fillna("?")
    national = rates["geo_level"].eq("national")
    counts = geo[~national].value_counts(sort=False)
    parts = [tr(f"{n} for {g}", f"{g} {n} 个") for g, n in counts.items()]
    if national.any():
        parts.append(tr(f"{int(national.sum())} national", f"全国 {int(national.sum())} 个"))
    text = tr(", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1], "、".join(parts)) if parts else ""
    if own and not rates["region_code"].eq(own).any():
        text += tr(f"{'; ' if text else ''}none for {region_name} itself", f"{'；' if text else ''}没有{region_name}本地的数字")
    return text


_DOI = re.compile(r"doi:\s*(10\.\S+)", re.IGNORECASE)
_SEE_ABOVE = "(see above)"


def unique_citations(citations, *, lang: str = "en") -> list[str]:
    """The sources of published rates, each once and sorted: citations sharing a DOI are one source (the
    longest text is kept), and "X (see above)" is dropped when another citation starts with X (else it is
    listed as X). ``lang="zh"``: provenance notes in Chinese (article titles as published)."""
    texts = sorted({str(c).strip() for c in citations if isinstance(c, str) and str(c).strip()})
    by_key: dict[str, str] = {}
    for text in texts:
        m = _DOI.search(text)
        key = m.group(1).rstrip(".;,").lower() if m else text
        if key not in by_key or len(text) > len(by_key[key]):
            by_key[key] = text
    kept = sorted(set(by_key.values()))
    out = []
    for text in kept:
        if text.endswith(_SEE_ABOVE):
            base = text.removesuffix(_SEE_ABOVE).strip()
            if any(other != text and other.startswith(base) and not other.endswith(_SEE_ABOVE) for other in kept):
                continue
            text = base
        text = CITATIONS_ZH.get(text, text) if lang == "zh" else text
        if text not in out:
            out.append(text)
    return sorted(out)


def describe_vs_target(result: VsTargetResult, *, name: str | None = None, lang: str = "en") -> str:
    """Markdown sentence counting verdicts and naming the units that fall short (from ``result.table``; named
    by :meth:`VsTargetResult.unit_names` of ``name``) with their rate, its (1 − alpha) interval (``lower``,
    ``upper``) and target, in English or (``lang="zh"``) Chinese."""
    t = result.table.assign(_name=result.unit_names(name))
    counts = t["verdict"].value_counts()
    p = result.params
    above, below_n, same = counts.get("above", 0), counts.get("below", 0), counts.get("not distinguishable", 0)
    below = t[t["verdict"] == "below"].sort_values("gap_pp").head(10)
    more = below_n > 10
    level = f"{round(100 * (1 - result.alpha), 10):g}%"

    def ci(r: pd.Series) -> str:
        return f"{100 * r['lower']:.1f}–{100 * r['upper']:.1f}"

    if lang == "zh":
        head = (f"与目标比较的 {len(t)} 个比率（精确二项检验，{_ALTERNATIVES_ZH.get(p['alternative'], p['alternative'])}，"
                f"{_CORRECTION_NAMES_ZH.get(p['correction'], p['correction'])}，α = {p['alpha']:g}）中：**{above} 个高于目标**，"
                f"**{below_n} 个低于目标**，{same} 个与目标无显著差异。")
        lead, sep, tail = "未达目标：", "；", ("；……" if more else "") + "。"
        items = [f"{r['_name']}（{100 * r['rate']:.1f}%，{level} 置信区间 {ci(r)}；目标 {100 * r['target']:.1f}%）"
                 for _, r in below.iterrows()]
    else:
        head = (f"Of {narrative.count(len(t), 'rate')} tested against their target (exact binomial, {p['alternative']}, "
                f"{_CORRECTION_NAMES.get(p['correction'], p['correction'])} adjustment, α = {p['alpha']:g}): "
                f"**{above} above**, **{below_n} below**, {same} not distinguishable from the target.")
        lead, sep, tail = " Falling short: ", "; ", ("; …" if more else "") + "."
        items = [f"{r['_name']} ({100 * r['rate']:.1f}%, {level} CI {ci(r)}; target {100 * r['target']:.1f}%)"
                 for _, r in below.iterrows()]
    deff = p.get("design_effect", 1)
    if deff != 1:
        tail += (f"区间与检验使用 Kish 有效样本量 n / {deff:g}（设计效应）。" if lang == "zh" else
                 f" Intervals and tests use Kish's effective sample size n / {deff:g} (design effect).")
    return head + (lead + sep.join(items) + tail if items else tail.lstrip("；。."))
