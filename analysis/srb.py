"""Sex ratio at birth (SRB): intervals, tests, comparisons, trends, funnel plots and shrinkage.

Units: an SRB is **males per 100 females** everywhere in this module (e.g. 112.28), except the
``reference`` of :func:`missing_female_births`, which follows Chao et al. (2019) and is a ratio
**per 1** (males per female, e.g. 1.06). Every statistic works on the male share of births
``p = M / (M + F)``; ``SRB = 100 p / (1 − p)``, so ``ln(SRB/100)`` is the log-odds of a male birth.

>>> from analysis import srb
>>> srb.estimate(df, by="region_code")                       # SRB with 95 % interval and test vs 105
>>> srb.change(county, unit="region_code", period="census")  # 2010 → 2020 for every unit at once
>>> srb.missing_female_births(612_345, 545_000)              # Chao et al. 2019 definition

Every function returns a frozen :class:`~analysis.results.Result` with a tidy ``table``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy import optimize, special, stats

from analysis import funnel as _funnel
from analysis import plots
from analysis.binomial import binom_test, check_alpha, proportion_interval, spreadsheet_rows, validate_counts
from analysis.exceptions import AnalysisWarning, DataValidationError, ModelSpecificationError
from analysis.narrative import count
from analysis.results import Result

__all__ = [
    "SRBEstimate",
    "SRBComparison",
    "Heterogeneity",
    "Trend",
    "MissingFemaleBirths",
    "Funnel",
    "Shrinkage",
    "estimate",
    "compare",
    "change",
    "heterogeneity",
    "trend",
    "missing_female_births",
    "funnel",
    "shrink",
    "srb_from_share",
    "share_from_srb",
    "bench_data",
]

Method = Literal["wilson", "exact", "log"]
METHOD_NAMES = {
    "wilson": "Wilson score interval on the male share (score test vs reference)",
    "exact": "Clopper–Pearson interval on the male share (exact binomial test vs reference)",
    "log": "log-SRB interval, Var ln SRB = 1/M + 1/F (Wald test vs reference)",
}
METHOD_NAMES_ZH = {
    "wilson": "男婴比例的 Wilson 得分区间（与参考值比较的得分检验）",
    "exact": "男婴比例的 Clopper–Pearson 区间（与参考值比较的精确二项检验）",
    "log": "出生性别比对数区间，Var ln SRB = 1/M + 1/F（与参考值比较的 Wald 检验）",
}


_BIRTHS = "whole numbers of births ≥ 0"


class MissingCountsWarning(AnalysisWarning):
    """Some rows have missing birth counts; their estimates are NA (the rows are kept)."""


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------


def srb_from_share(p):
    """Male share (0–1) → SRB (males per 100 females)."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * p / (1.0 - p)


def share_from_srb(srb):
    """SRB (males per 100 females) → male share (0–1)."""
    srb = np.asarray(srb, dtype=float)
    return srb / (100.0 + srb)


def _check_srb_reference(reference: float, name: str = "reference") -> float:
    reference = float(reference)
    if not 50 <= reference <= 200:
        hint = f" — did you give a ratio per 1? use {reference * 100:g}" if 0.5 <= reference <= 2 else ""
        raise ModelSpecificationError(
            f"{name} must be an SRB in males per 100 females (50–200), got {reference:g}{hint}"
        )
    return reference


def _as_list(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _require(data: pd.DataFrame, cols: Sequence[str], what: str = "data") -> None:
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataValidationError(
            f"{what} lacks column(s) {missing}; columns present: {list(data.columns)}",
            column=missing[0],
        )


def _births(data: pd.DataFrame, col: str) -> np.ndarray:
    """Birth counts of ``col`` as float (NA → nan); non-numeric, negative or non-whole values raise."""
    return validate_counts(data[col], column=col, expected=_BIRTHS, allow_na=True, path=data.attrs.get("path"))


def _aggregate(
    data: pd.DataFrame, males: str, females: str, by: list[str], *, pool: bool = True
) -> pd.DataFrame:
    """Validated counts, summed within ``by`` groups (a group with any NA count is NA).

    Without ``by`` all rows are pooled into one (``pool=True``) or kept as they are (``pool=False``).
    """
    _require(data, [males, females, *by])
    m = _births(data, males)
    f = _births(data, females)
    frame = pd.DataFrame({"males": m, "females": f, "_na": np.isnan(m) | np.isnan(f)})
    for col in by:
        frame[col] = data[col].to_numpy()
    if by and frame.duplicated(by).any():
        out = frame.groupby(by, sort=False, dropna=False).agg(
            males=("males", "sum"), females=("females", "sum"), _na=("_na", "max")
        )
        out = out.reset_index()
    elif by or not pool:
        out = frame
    else:
        out = pd.DataFrame({"males": [m.sum()], "females": [f.sum()], "_na": [frame["_na"].any()]})
    out.loc[out["_na"].to_numpy(bool), ["males", "females"]] = np.nan
    n_na = int(out["_na"].sum())
    if n_na:
        warnings.warn(
            f"{n_na} of {len(out)} unit(s) have missing counts in {males!r}/{females!r}; their SRB is NA",
            MissingCountsWarning,
            stacklevel=3,
        )
    return out[[*by, "males", "females"]].reset_index(drop=True)


def _intervals(m: np.ndarray, f: np.ndarray, *, alpha: float, method: str, reference: float):
    """Vectorised SRB interval and two-sided p-value against ``reference`` (per 100).

    ``"wilson"``/``"exact"`` transform :func:`analysis.binomial.proportion_interval` of the male share; their
    p-values are the score test and :func:`analysis.binomial.binom_test`. ``"log"``: Wald on ln SRB.
    """
    n = m + f
    p0 = share_from_srb(reference)
    if method == "log":
        z = stats.norm.ppf(1 - alpha / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.sqrt(1 / m + 1 / f)
            log_srb = np.log(m / f)
            lower = 100 * np.exp(log_srb - z * se)
            upper = 100 * np.exp(log_srb + z * se)
            pval = 2 * stats.norm.sf(np.abs((log_srb - np.log(reference / 100)) / se))
        empty = ~(n > 0)
        for arr in (lower, upper, pval):
            arr[empty] = np.nan
        return lower, upper, pval
    lo_p, hi_p = proportion_interval(m, n, alpha=alpha, method=method)
    if method == "exact":
        pval = binom_test(m, n, p0)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (m / n - p0) / np.sqrt(p0 * (1 - p0) / n)
        pval = np.where(n > 0, 2 * stats.norm.sf(np.abs(score)), np.nan)
    return srb_from_share(lo_p), srb_from_share(hi_p), pval


def _counts_table(by_frame: pd.DataFrame, m: np.ndarray, f: np.ndarray) -> pd.DataFrame:
    table = by_frame.copy()
    table["males"] = pd.array(np.where(np.isfinite(m), m, np.nan), dtype="Int64")
    table["females"] = pd.array(np.where(np.isfinite(f), f, np.nan), dtype="Int64")
    table["births"] = table["males"] + table["females"]
    return table


def _srb_axes(ax: Axes | None, lang: str, *, proxy: bool = False) -> Axes:
    ax = ax if ax is not None else plt.gca()
    ax.set_ylabel(plots.label("age0_sex_ratio" if proxy else "srb", lang))
    return ax


# ----------------------------------------------------------------------------------------------------------
# estimate
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class SRBEstimate(Result):
    """SRB per unit with its interval and a test against ``params['reference']`` (per 100)."""

    TITLE = ("Sex ratio at birth", "出生性别比")

    def implausible(self, below: float = 100.0, min_births: int = 30) -> pd.DataFrame:
        """Rows whose whole interval lies below ``below`` boys per 100 girls: fewer boys than girls beyond sampling
        error, which sex-selective practices cannot produce and which lies far from the biological level (about
        105): a data or coding error in the source is the likelier cause. Such rows are reported, not analysed.
        Rows with fewer than ``min_births`` births are left out: among many small cells one such interval is
        expected by chance (0 boys in 5 births has probability 0.485⁵ ≈ 3 %)."""
        t = self.table
        return t[(t["upper"] < below) & (t["males"] + t["females"] >= min_births)]

    def plot(
        self, ax: Axes | None = None, *, label: str | None = None, lang: str = "en", proxy: bool = False
    ) -> Axes:
        """Point-and-interval plot, one row per unit (``label`` names the column used for tick labels)."""
        ax = ax if ax is not None else plt.gca()
        t = self.table.reset_index(drop=True)
        names = t[label].astype(str) if label else pd.Series([str(i + 1) for i in range(len(t))])
        y = np.arange(len(t))[::-1]
        plots.ci_errorbar(ax, y, t["srb"], t["lower"], t["upper"], orient="h", color="C0", ecolor="0.4",
                          label=plots.ci_label(self.params["alpha"], lang, of=plots.label("estimate", lang)))  # fmt: skip
        ref = self.params["reference"]
        ax.axvline(ref, color="C3", lw=1, ls="--", label=f"{plots.label('reference', lang)} {ref:g}")
        ax.set_yticks(y, names)
        ax.set_xlabel(plots.label("age0_sex_ratio" if proxy else "srb", lang))
        ax.legend(frameon=False, fontsize=8)
        return ax

    def plot_dodged(
        self,
        x: str,
        hue: str,
        *,
        where: Mapping[str, Any] | None = None,
        order: Sequence[Any] | None = None,
        tick_labels: Mapping[Any, str] | None = None,
        xlabel: str | None = None,
        ax: Axes | None = None,
        lang: str = "en",
        width: float = 0.25,
        proxy: bool = False,
    ) -> Axes:
        """SRB with its interval for each value of ``x`` (in ``order``; default: as in the table), one colour per
        value of ``hue`` (e.g. the census) set ``width`` apart, and the reference as a dashed line. ``where``
        (column → value) picks the rows first, e.g. ``{"residence": "total"}``; each ``x`` × ``hue`` must then be
        one row. ``tick_labels`` renames values of ``x`` on the axis. Each ``hue`` entry of the legend names the
        interval level. ``proxy``: the counts are children aged 0 (the axis says age-0 sex ratio). Rows that
        :meth:`implausible` flags are drawn hollow, with a legend entry saying they are not interpreted."""
        t = self.table
        for col, value in (where or {}).items():
            if col not in t.columns:
                raise ModelSpecificationError(f"plot_dodged: where names {col!r}, not a column of the table")
            t = t[t[col] == value]
        for col in (x, hue):
            if col not in t.columns:
                raise ModelSpecificationError(f"plot_dodged: {col!r} is not a column of the table")
        twice = t.duplicated([x, hue], keep=False)
        if twice.any():
            first = t.loc[twice].iloc[0]
            raise ModelSpecificationError(
                f"plot_dodged: {int(twice.sum())} rows share their {x} × {hue} (first: {x}={first[x]!s}, "
                f"{hue}={first[hue]!s}); choose one row each with where="
            )
        order = list(order) if order is not None else list(dict.fromkeys(t[x]))
        hues = list(dict.fromkeys(t[hue]))
        ax = _srb_axes(ax, lang, proxy=proxy)
        t = t.assign(_implausible=t.index.isin(self.implausible().index))
        for i, h in enumerate(hues):
            sub = t[t[hue] == h].set_index(x).reindex(order)
            bad = sub["_implausible"].eq(True).to_numpy()  # a missing x × hue (NaN after reindex) is not flagged
            pos = np.arange(len(order)) + (i - (len(hues) - 1) / 2) * width
            est = sub[["srb", "lower", "upper"]].to_numpy(float)
            kept = np.where(bad[:, None], np.nan, est)
            plots.ci_errorbar(ax, pos, *kept.T, capsize=3, color=f"C{i}",
                              label=plots.ci_label(self.params["alpha"], lang, of=str(h)))  # fmt: skip
            if bad.any():  # fewer boys than girls beyond sampling error: shown hollow, not read as an SRB
                plots.ci_errorbar(ax, pos[bad], *est[bad].T, capsize=3, color=f"C{i}", mfc="white")
        if t["_implausible"].any():
            ax.errorbar([], [], yerr=[], fmt="o", mfc="white", mec="0.3", ecolor="0.3",  # listed after the censuses
                        label="数据可疑（区间低于 100，不作解读）" if lang == "zh" else "Implausible: interval below 100, not interpreted")
        names = tick_labels or {}
        ax.set_xticks(range(len(order)), [names.get(v, str(v)) for v in order])
        ref = self.params["reference"]
        ax.axhline(ref, color="0.5", lw=0.8, ls="--", label=f"{plots.label('reference', lang)} {ref:g}")
        ax.set_xlabel(xlabel if xlabel is not None else x)
        plots.legend_on_top(ax)  # above the estimates, never across them
        return ax


def estimate(
    data: pd.DataFrame,
    *,
    males: str = "males",
    females: str = "females",
    by: str | Sequence[str] | None = None,
    reference: float = 105.0,
    alpha: float = 0.05,
    method: Method = "wilson",
) -> SRBEstimate:
    """SRB (males per 100 females) with a (1 − alpha) interval and a two-sided p-value against ``reference``.

    Counts are summed within ``by`` groups (one row when ``by`` is None). Methods: ``"wilson"`` — Wilson
    (1927) score interval on the male share, transformed; p from the score test. ``"exact"`` —
    Clopper & Pearson (1934) interval; p from the exact binomial test (as :func:`scipy.stats.binomtest`).
    ``"log"`` — Wald interval on ln SRB with Var = 1/M + 1/F (Katz et al. 1978 log-ratio form).
    Rows with missing counts are kept with NA estimates (a :class:`MissingCountsWarning` says how many).
    Vectorised over all rows (no Python loop per unit).
    """
    alpha = check_alpha(alpha)
    reference = _check_srb_reference(reference)
    if method not in METHOD_NAMES:
        raise ModelSpecificationError(f"method must be one of {sorted(METHOD_NAMES)}, got {method!r}")
    by_cols = _as_list(by)
    agg = _aggregate(data, males, females, by_cols)
    m = agg["males"].to_numpy(float)
    f = agg["females"].to_numpy(float)
    lower, upper, pval = _intervals(m, f, alpha=alpha, method=method, reference=reference)
    table = _counts_table(agg[by_cols], m, f)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["male_share"] = m / (m + f)
        table["srb"] = np.where(m + f > 0, 100 * m / f, np.nan)
    table["lower"] = lower
    table["upper"] = upper
    table["p_value"] = pval
    table["method"] = method
    return SRBEstimate(
        table=table,
        method=METHOD_NAMES[method],
        method_zh=METHOD_NAMES_ZH[method],
        params={"reference": reference, "alpha": alpha, "by": by_cols, "units": "males per 100 females"},
    )


# ----------------------------------------------------------------------------------------------------------
# compare / change
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class SRBComparison(Result):
    """Ratio of two SRBs (= odds ratio of the male share) with interval and p-value per unit."""

    TITLE = ("Ratio of two sex ratios at birth", "两个出生性别比之比")

    def plot(self, ax: Axes | None = None, *, label: str | None = None, lang: str = "en") -> Axes:
        """Ratio with its interval per unit on a log axis, reference line at 1."""
        ax = ax if ax is not None else plt.gca()
        t = self.table.reset_index(drop=True)
        names = t[label].astype(str) if label else pd.Series([str(i + 1) for i in range(len(t))])
        y = np.arange(len(t))[::-1]
        plots.ci_errorbar(ax, y, t["ratio"], t["lower"], t["upper"], orient="h", color="C0", ecolor="0.4",
                          label=plots.ci_label(self.params["alpha"], lang, of=plots.label("estimate", lang)))  # fmt: skip
        ax.axvline(1.0, color="0.2", lw=1)
        plots.log_axis(ax, "x")
        ax.set_yticks(y, names)
        a, b = self.params["labels"]
        ax.set_xlabel(f"SRB {a} / SRB {b}" if lang == "en" else f"出生性别比之比（{a} / {b}）")
        ax.legend(frameon=False, fontsize=8)
        return ax


def _counts_of(obj, males: str, females: str, on: list[str], what: str) -> pd.DataFrame:
    if isinstance(obj, Result):
        obj = obj.table
        males, females = "males", "females"
    if isinstance(obj, tuple) and len(obj) == 2:
        obj = pd.DataFrame({"males": [obj[0]], "females": [obj[1]]})
        males, females = "males", "females"
    _require(obj, [males, females, *on], what)
    return _aggregate(obj, males, females, on)


def compare(
    a,
    b,
    *,
    males: str = "males",
    females: str = "females",
    on: str | Sequence[str] | None = None,
    alpha: float = 0.05,
    labels: tuple[str, str] = ("a", "b"),
) -> SRBComparison:
    """Ratio SRB_a / SRB_b with a Woolf (1955) log interval and Wald p-value (H0: ratio = 1).

    The SRB ratio equals the odds ratio of a male birth in ``a`` vs ``b``; Var ln OR = 1/M_a + 1/F_a + 1/M_b
    + 1/F_b (Haldane 0.5 added to all four cells of a unit with a zero cell). ``a`` and ``b`` are DataFrames
    of counts (aligned on the ``on`` columns, outer join — units in only one of them keep NA results, or
    position by position when ``on`` is None), :class:`SRBEstimate` results, or ``(males, females)`` tuples.
    Also reported: the difference SRB_a − SRB_b in points with a delta-method interval.
    """
    alpha = check_alpha(alpha)
    on_cols = _as_list(on)
    ca = _counts_of(a, males, females, on_cols, "a")
    cb = _counts_of(b, males, females, on_cols, "b")
    if on_cols:
        merged = ca.merge(cb, on=on_cols, how="outer", suffixes=("_a", "_b"), sort=False)
    else:
        if len(ca) != len(cb):
            raise ModelSpecificationError(
                f"a has {len(ca)} rows and b has {len(cb)}; give on=... to align them by key columns"
            )
        merged = pd.concat(
            [ca.add_suffix("_a").reset_index(drop=True), cb.add_suffix("_b").reset_index(drop=True)], axis=1
        )
    return _comparison(merged, on_cols, alpha=alpha, labels=labels, suffixes=("_a", "_b"))


def _comparison(
    merged: pd.DataFrame,
    on_cols: list[str],
    *,
    alpha: float,
    labels: tuple[str, str],
    suffixes: tuple[str, str],
) -> SRBComparison:
    sa, sb = suffixes
    ma, fa = merged[f"males{sa}"].to_numpy(float), merged[f"females{sa}"].to_numpy(float)
    mb, fb = merged[f"males{sb}"].to_numpy(float), merged[f"females{sb}"].to_numpy(float)
    z = stats.norm.ppf(1 - alpha / 2)
    zero = np.minimum.reduce([ma, fa, mb, fb]) == 0
    add = np.where(zero, 0.5, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        srb_a, srb_b = 100 * ma / fa, 100 * mb / fb
        log_or = np.log((ma + add) / (fa + add)) - np.log((mb + add) / (fb + add))
        se = np.sqrt(1 / (ma + add) + 1 / (fa + add) + 1 / (mb + add) + 1 / (fb + add))
        ratio = np.exp(log_or)
        var_a = srb_a**2 * (1 / ma + 1 / fa)
        var_b = srb_b**2 * (1 / mb + 1 / fb)
    diff = srb_a - srb_b
    se_diff = np.sqrt(var_a + var_b)
    table = merged[on_cols].copy() if on_cols else pd.DataFrame(index=merged.index)
    for suffix, m, f, s in ((sa, ma, fa, srb_a), (sb, mb, fb, srb_b)):
        table[f"males{suffix}"] = pd.array(np.where(np.isfinite(m), m, np.nan), dtype="Int64")
        table[f"females{suffix}"] = pd.array(np.where(np.isfinite(f), f, np.nan), dtype="Int64")
        table[f"srb{suffix}"] = s
    table["ratio"] = ratio
    table["lower"] = np.exp(log_or - z * se)
    table["upper"] = np.exp(log_or + z * se)
    table["p_value"] = 2 * stats.norm.sf(np.abs(log_or / se))
    table["difference"] = diff
    table["difference_lower"] = diff - z * se_diff
    table["difference_upper"] = diff + z * se_diff
    table["zero_cell_corrected"] = zero
    return SRBComparison(
        table=table.reset_index(drop=True),
        method="Woolf log odds-ratio interval and Wald test; difference by the delta method",
        method_zh="Woolf 对数优势比区间与 Wald 检验；差值区间用 delta 方法",
        params={"alpha": alpha, "labels": tuple(labels), "ratio": f"SRB {labels[0]} / SRB {labels[1]}"},
    )


def change(
    data: pd.DataFrame,
    *,
    unit: str | Sequence[str] = "region_code",
    period: str = "census",
    first=None,
    last=None,
    males: str = "males",
    females: str = "females",
    alpha: float = 0.05,
) -> SRBComparison:
    """Change in SRB between two periods for every unit at once (ratio last/first, difference last − first).

    ``first``/``last`` default to the smallest and largest value of ``period``. Columns are suffixed with the
    period values (``srb_2010``, ``srb_2020``…). Units present in only one period are kept with NA results.
    Method as :func:`compare`.
    """
    alpha = check_alpha(alpha)
    unit_cols = _as_list(unit)
    _require(data, [period, males, females, *unit_cols])
    values = pd.unique(data[period].dropna())
    if len(values) < 2 and (first is None or last is None):
        raise ModelSpecificationError(f"column {period!r} has fewer than two periods: {list(values)}")
    first = min(values) if first is None else first
    last = max(values) if last is None else last
    parts = []
    for value in (last, first):
        sub = data[data[period] == value]
        if sub.empty:
            raise ModelSpecificationError(
                f"no rows with {period} == {value!r}; periods present: {sorted(values)}"
            )
        parts.append(_aggregate(sub, males, females, unit_cols))
    sl, sf = f"_{last}", f"_{first}"
    merged = parts[0].merge(parts[1], on=unit_cols, how="outer", suffixes=(sl, sf), sort=False)
    result = _comparison(merged, unit_cols, alpha=alpha, labels=(str(last), str(first)), suffixes=(sl, sf))
    return SRBComparison(
        table=result.table,
        method=result.method,
        method_zh=result.method_zh,
        params={**result.params, "period": period, "first": first, "last": last},
    )


# ----------------------------------------------------------------------------------------------------------
# heterogeneity
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class Heterogeneity(Result):
    """Chi-square test that all units share one male proportion (one-row table)."""

    TITLE = ("Heterogeneity test", "异质性检验")


def heterogeneity(
    data: pd.DataFrame,
    *,
    males: str = "males",
    females: str = "females",
    by: str | Sequence[str] | None = None,
    alpha: float = 0.05,
) -> Heterogeneity:
    """Pearson chi-square test of homogeneity of the SRB across units (2 × K table, K − 1 df).

    Rows (or ``by`` groups) are the units. Units with no births or NA counts cannot contribute and are
    counted in ``units_excluded``. Also reported: the pooled SRB with a Wilson interval, the dispersion
    chi²/df and Higgins' I² = max(0, (chi² − df)/chi²) in percent (Higgins & Thompson 2002).
    """
    alpha = check_alpha(alpha)
    agg = _aggregate(data, males, females, _as_list(by), pool=False)
    m = agg["males"].to_numpy(float)
    f = agg["females"].to_numpy(float)
    n = m + f
    use = np.isfinite(n) & (n > 0)
    if use.sum() < 2:
        raise ModelSpecificationError(
            f"heterogeneity needs at least two units with births, got {int(use.sum())}"
        )
    m, f, n = m[use], f[use], n[use]
    p = m.sum() / n.sum()
    if p in (0.0, 1.0):
        raise ModelSpecificationError("all births are of one sex; the chi-square test is undefined")
    chi2 = float(np.sum((m - n * p) ** 2 / (n * p) + (f - n * (1 - p)) ** 2 / (n * (1 - p))))
    df = int(use.sum() - 1)
    lower, upper, _ = _intervals(
        np.array([m.sum()]), np.array([f.sum()]), alpha=alpha, method="wilson", reference=105
    )
    table = pd.DataFrame(
        {
            "units": [int(use.sum())],
            "units_excluded": [int((~use).sum())],
            "births": [int(n.sum())],
            "pooled_srb": [100 * m.sum() / f.sum()],
            "lower": lower,
            "upper": upper,
            "chi2": [chi2],
            "df": [df],
            "p_value": [float(stats.chi2.sf(chi2, df))],
            "dispersion": [chi2 / df],
            "i2_percent": [max(0.0, (chi2 - df) / chi2) * 100 if chi2 > 0 else 0.0],
        }
    )
    return Heterogeneity(
        table=table, method="Pearson chi-square test of homogeneity (2 × K)",
        method_zh="Pearson 卡方同质性检验（2 × K）", params={"alpha": alpha}
    )


# ----------------------------------------------------------------------------------------------------------
# trend: quasi-binomial logistic and joinpoint
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class Trend(Result):
    """Trend in the SRB. ``table``: APC per segment (or the single slope); ``fitted``: year, observed and
    fitted SRB with interval; ``tests``: the permutation tests (joinpoint only)."""

    TITLE = ("Trend in the sex ratio at birth", "出生性别比趋势")

    fitted: pd.DataFrame
    tests: pd.DataFrame | None = None

    def plot(self, ax: Axes | None = None, *, lang: str = "en", label: str | None = None) -> Axes:
        """Observed SRB (points), fitted trend (line, with band where available) and joinpoints (dotted); with
        ``label`` the line, its band and the joinpoints get legend entries."""
        ax = ax if ax is not None else plt.gca()
        fit = self.fitted
        x = fit["year"].to_numpy(float)
        if {"observed_lower", "observed_upper"} <= set(fit.columns):
            plots.ci_errorbar(ax, x, fit["observed"], fit["observed_lower"], fit["observed_upper"], ms=3, capsize=0,
                              lw=0.8, color="0.35", ecolor="0.6")  # fmt: skip
        else:
            ax.plot(x, fit["observed"], "o", ms=3, color="0.35")
        ax.plot(x, fit["fitted"], color="C0", lw=1.6, label=label)
        if {"fitted_lower", "fitted_upper"} <= set(fit.columns):
            ax.fill_between(x, fit["fitted_lower"], fit["fitted_upper"], color="C0", alpha=0.2, lw=0,
                            label=plots.ci_label(self.params["alpha"], lang, of="拟合值" if lang == "zh" else "Fit")
                            if label else None)  # fmt: skip
        for i, jp in enumerate(self.params.get("joinpoints", [])):
            ax.axvline(jp, color="C3", lw=0.8, ls=":",
                       label=("连接点" if lang == "zh" else "Joinpoints") if label and i == 0 else None)  # fmt: skip
        ax.set_xlabel(plots.label("year", lang))
        return _srb_axes(ax, lang)


def trend(
    data: pd.DataFrame,
    *,
    year: str = "year",
    males: str | None = "males",
    females: str | None = "females",
    srb: str | None = None,
    method: Literal["quasibinomial", "joinpoint"] = "quasibinomial",
    alpha: float = 0.05,
    max_joinpoints: int = 3,
    min_gap: int = 3,
    n_permutations: int = 499,
    seed: int = 20000,
) -> Trend:
    """Trend of the SRB over time; the table gives the annual percent change (APC) of the SRB with CIs.

    ``"quasibinomial"``: logistic regression of the male share on year (binomial GLM, scale = Pearson
    chi²/df, i.e. quasi-binomial; McCullagh & Nelder 1989); because logit p = ln(SRB/100), the APC is
    100·(e^β − 1). Needs counts ``males``/``females``.
    ``"joinpoint"``: segmented log-linear regression of ln SRB on year (Kim, Fay, Feuer & Midthune, Stat Med
    2000; NCI Joinpoint): joinpoints at observed years, grid search for the least-squares fit with
    0…``max_joinpoints`` joinpoints (at least ``min_gap`` observations between joinpoints and from each
    end), the number chosen by their sequential permutation tests (``n_permutations`` per test, Bonferroni
    level alpha / max_joinpoints per test). APC per segment 100·(e^slope − 1) with t intervals given the
    joinpoints. Uses ``srb`` (per 100) if given, else 100·males/females.
    """
    alpha = check_alpha(alpha)
    if method == "quasibinomial":
        return _trend_quasibinomial(data, year=year, males=males, females=females, alpha=alpha)
    if method == "joinpoint":
        return _trend_joinpoint(
            data,
            year=year,
            males=males,
            females=females,
            srb=srb,
            alpha=alpha,
            max_joinpoints=int(max_joinpoints),
            min_gap=int(min_gap),
            n_permutations=int(n_permutations),
            seed=seed,
        )
    raise ModelSpecificationError(f"method must be 'quasibinomial' or 'joinpoint', got {method!r}")


def _years(data: pd.DataFrame, year: str) -> np.ndarray:
    x = pd.to_numeric(data[year], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise DataValidationError("missing or non-numeric years", rows=spreadsheet_rows(data, bad), column=year)
    if len(np.unique(x)) != len(x):
        raise DataValidationError(
            "years repeat; aggregate to one row per year first", column=year, expected="one row per year"
        )
    return x


def _trend_quasibinomial(data, *, year, males, females, alpha) -> Trend:
    import statsmodels.api as sm

    _require(data, [year, males, females])
    x = _years(data, year)
    m = _births(data, males)
    f = _births(data, females)
    bad = np.flatnonzero(~np.isfinite(m + f) | (m + f == 0))
    if bad.size:
        raise DataValidationError("years without births (NA or zero)", rows=spreadsheet_rows(data, bad), column=males)
    if len(x) < 3:
        raise ModelSpecificationError(f"a trend needs at least 3 years, got {len(x)}")
    order = np.argsort(x)
    x, m, f = x[order], m[order], f[order]
    x0 = float(x.min())
    design = sm.add_constant(x - x0)
    # Binomial ML fit, then phi = Pearson chi²/df by hand: statsmodels' fit(scale="X2") with a two-column
    # (successes, failures) endog ignores the number of trials in the scale (phi off by ~n).
    fit = sm.GLM(np.column_stack([m, f]), design, family=sm.families.Binomial()).fit()
    phi = float(fit.pearson_chi2 / fit.df_resid)
    cov = np.asarray(fit.cov_params()) * phi
    beta, se = float(fit.params[1]), float(np.sqrt(cov[1, 1]))
    df_resid = len(x) - 2
    q = stats.t.ppf(1 - alpha / 2, df_resid)
    tval = beta / se
    table = pd.DataFrame(
        {
            "segment": [1],
            "start": [x.min()],
            "end": [x.max()],
            "apc": [100 * np.expm1(beta)],
            "lower": [100 * np.expm1(beta - q * se)],
            "upper": [100 * np.expm1(beta + q * se)],
            "p_value": [2 * stats.t.sf(abs(tval), df_resid)],
            "slope_logit": [beta],
            "se": [se],
            "dispersion": [phi],
        }
    )
    eta = design @ fit.params
    se_eta = np.sqrt(np.einsum("ij,jk,ik->i", design, cov, design))
    lo_obs, hi_obs, _ = _intervals(m, f, alpha=alpha, method="wilson", reference=105)
    fitted = pd.DataFrame(
        {
            "year": x,
            "observed": 100 * m / f,
            "observed_lower": lo_obs,
            "observed_upper": hi_obs,
            "fitted": 100 * np.exp(eta),
            "fitted_lower": 100 * np.exp(eta - q * se_eta),
            "fitted_upper": 100 * np.exp(eta + q * se_eta),
        }
    )
    return Trend(
        table=table,
        fitted=fitted,
        method="quasi-binomial logistic regression on year (scale = Pearson chi²/df); APC = 100(e^β − 1), t CI",
        method_zh="对年份的拟二项 logistic 回归（尺度 = Pearson χ²/df）；年度变化百分比 APC = 100(e^β − 1)，t 分布区间",
        params={"alpha": alpha, "joinpoints": []},
    )


def _candidate_sets(n: int, k: int, min_gap: int) -> np.ndarray:
    """Index tuples of k joinpoints with ≥ min_gap observations from each end and between joinpoints."""
    positions = range(min_gap, n - min_gap)
    if k == 0:
        return np.zeros((1, 0), dtype=int)
    combos = [c for c in itertools.combinations(positions, k) if np.all(np.diff(c) >= min_gap)]
    return np.array(combos, dtype=int).reshape(-1, k)


def _design(x: np.ndarray, taus: Sequence[float]) -> np.ndarray:
    cols = [np.ones_like(x), x - x[0]] + [np.clip(x - t, 0, None) for t in taus]
    return np.column_stack(cols)


def _min_sse(x: np.ndarray, combos: np.ndarray, ys: np.ndarray, chunk: int = 4000):
    """Least SSE over joinpoint sets for each column of ``ys`` (n × B); returns (sse[B], argmin[B])."""
    yy = np.einsum("ij,ij->j", ys, ys)
    best = np.full(ys.shape[1], np.inf)
    arg = np.zeros(ys.shape[1], dtype=int)
    base = np.column_stack([np.ones_like(x), x - x[0]])
    for start in range(0, len(combos), chunk):
        block = combos[start : start + chunk]
        taus = x[block]  # c × k
        hinge = np.clip(x[None, :, None] - taus[:, None, :], 0, None)  # c × n × k
        design = np.concatenate([np.broadcast_to(base, (len(block), *base.shape)), hinge], axis=2)
        q, _ = np.linalg.qr(design)  # c × n × p
        c, n, p = q.shape
        proj = (q.transpose(0, 2, 1).reshape(c * p, n) @ ys).reshape(c, p, -1)
        sse = yy[None, :] - np.einsum("cpb,cpb->cb", proj, proj)
        idx = np.argmin(sse, axis=0)
        vals = sse[idx, np.arange(sse.shape[1])]
        better = vals < best
        best = np.where(better, vals, best)
        arg = np.where(better, idx + start, arg)
    return np.maximum(best, 0.0), arg


def _apc_row(segment, start, end, w: np.ndarray, coef: np.ndarray, cov: np.ndarray, q: float, df_resid: float) -> dict:
    """Annual percent change 100·(e^slope − 1) of the contrast ``w`` of a log-linear fit, with t interval and p."""
    slope = float(w @ coef)
    se = float(np.sqrt(w @ cov @ w))
    return {
        "segment": segment,
        "start": start,
        "end": end,
        "apc": 100 * np.expm1(slope),
        "lower": 100 * np.expm1(slope - q * se),
        "upper": 100 * np.expm1(slope + q * se),
        "p_value": 2 * stats.t.sf(abs(slope / se), df_resid) if se > 0 else np.nan,
        "slope_log": slope,
        "se": se,
    }


def _trend_joinpoint(
    data, *, year, males, females, srb, alpha, max_joinpoints, min_gap, n_permutations, seed
):
    if srb is not None:
        _require(data, [year, srb])
        values = pd.to_numeric(data[srb], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(~(values > 0))
        if bad.size:
            raise DataValidationError(
                "SRB values must be positive numbers", rows=spreadsheet_rows(data, bad), column=srb
            )
        if np.nanmedian(values) < 10:
            raise DataValidationError(
                "SRB looks like a ratio per 1 (median < 10)",
                column=srb,
                expected="males per 100 females, e.g. 111.2",
            )
        obs_lo = obs_hi = None
    else:
        _require(data, [year, males, females])
        m, f = _births(data, males), _births(data, females)
        bad = np.flatnonzero(~(m > 0) | ~(f > 0))
        if bad.size:
            raise DataValidationError(
                "joinpoint needs positive counts of both sexes", rows=spreadsheet_rows(data, bad)
            )
        values = 100 * m / f
        obs_lo, obs_hi, _ = _intervals(m, f, alpha=alpha, method="wilson", reference=105)
    x = _years(data, year)
    order = np.argsort(x)
    x, values = x[order], values[order]
    n = len(x)
    if max_joinpoints < 0 or n_permutations < 1 or min_gap < 1:
        raise ModelSpecificationError("max_joinpoints ≥ 0, min_gap ≥ 1 and n_permutations ≥ 1 are required")
    combos = {k: _candidate_sets(n, k, min_gap) for k in range(max_joinpoints + 1)}
    possible = max(k for k, c in combos.items() if len(c))
    if possible < max_joinpoints:
        warnings.warn(
            f"{n} years allow at most {possible} joinpoint(s) with min_gap={min_gap}; max_joinpoints reduced",
            AnalysisWarning,
            stacklevel=3,
        )
        max_joinpoints = possible
        combos = {k: combos[k] for k in range(possible + 1)}
    y = np.log(values)
    yc = (y - y.mean())[:, None]
    fits = {k: _min_sse(x, combos[k], yc) for k in combos}
    sse = {k: float(fits[k][0][0]) for k in fits}
    rng = np.random.default_rng(seed)
    k0, k1 = 0, max_joinpoints
    level = alpha / max_joinpoints if max_joinpoints else alpha
    if max_joinpoints and 1 / (n_permutations + 1) > level:
        # the smallest attainable permutation p-value is 1/(B+1): with too few permutations no joinpoint
        # could ever be accepted, and the straight line would be reported as if it had been tested
        need = int(np.ceil(1 / level)) - 1
        raise ModelSpecificationError(
            f"n_permutations={n_permutations} cannot reach the per-test level {level:.4g} "
            f"(alpha/max_joinpoints; smallest p = 1/{n_permutations + 1}); use at least {need} permutations"
        )
    rows = []
    while k0 < k1:
        p0, p1 = 2 + k0, 2 + k1
        stat = ((sse[k0] - sse[k1]) / (p1 - p0)) / (sse[k1] / (n - p1))
        taus0 = x[combos[k0][fits[k0][1][0]]]
        design0 = _design(x, taus0)
        coef0, *_ = np.linalg.lstsq(design0, yc[:, 0], rcond=None)
        fit0 = design0 @ coef0
        resid0 = yc[:, 0] - fit0
        perms = np.stack([rng.permutation(resid0) for _ in range(n_permutations)], axis=1)
        ystar = fit0[:, None] + perms
        s0, _ = _min_sse(x, combos[k0], ystar)
        s1, _ = _min_sse(x, combos[k1], ystar)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat_star = ((s0 - s1) / (p1 - p0)) / (s1 / (n - p1))
        pval = (1 + np.sum(stat_star >= stat * (1 - 1e-12))) / (n_permutations + 1)
        reject = pval < level
        rows.append(
            {
                "k_null": k0,
                "k_alt": k1,
                "statistic": stat,
                "p_value": pval,
                "level": level,
                "rejected": bool(reject),
            }
        )
        if reject:
            k0 += 1
        else:
            k1 -= 1
    k = k0
    taus = x[combos[k][fits[k][1][0]]]
    design = _design(x, taus)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    df_resid = n - design.shape[1]
    sigma2 = float(resid @ resid / df_resid) if df_resid > 0 else np.nan
    cov = sigma2 * np.linalg.inv(design.T @ design)
    q = stats.t.ppf(1 - alpha / 2, df_resid) if df_resid > 0 else np.nan
    bounds = [x[0], *taus, x[-1]]
    seg_rows = []
    for j in range(k + 1):
        w = np.zeros(design.shape[1])
        w[1] = 1.0
        w[2 : 2 + j] = 1.0
        seg_rows.append(_apc_row(j + 1, bounds[j], bounds[j + 1], w, coef, cov, q, df_resid))
    # average APC over the whole period: slopes weighted by segment length (NCI Joinpoint AAPC)
    lengths = np.diff(bounds)
    w = np.zeros(design.shape[1])
    w[1] = 1.0
    for j in range(k):
        w[2 + j] = lengths[j + 1 :].sum() / lengths.sum()
    seg_rows.append(_apc_row("AAPC", x[0], x[-1], w, coef, cov, q, df_resid))
    table = pd.DataFrame(seg_rows)
    table["segment"] = table["segment"].astype(str)
    eta = design @ coef
    se_eta = np.sqrt(np.einsum("ij,jk,ik->i", design, cov, design))
    fitted = pd.DataFrame(
        {
            "year": x,
            "observed": values,
            "fitted": np.exp(eta),
            "fitted_lower": np.exp(eta - q * se_eta),
            "fitted_upper": np.exp(eta + q * se_eta),
        }
    )
    if obs_lo is not None:
        fitted.insert(2, "observed_lower", obs_lo[order])
        fitted.insert(3, "observed_upper", obs_hi[order])
    tests = pd.DataFrame(rows, columns=["k_null", "k_alt", "statistic", "p_value", "level", "rejected"])
    return Trend(
        table=table,
        fitted=fitted,
        tests=tests,
        method=(
            f"joinpoint regression of ln SRB (Kim et al. 2000), {count(k, 'joinpoint')} selected by sequential "
            f"permutation tests ({n_permutations} permutations, Bonferroni level {level:.4g})"
        ),
        method_zh=(
            f"出生性别比对数的连接点回归（Kim 等 2000），经逐步置换检验（{n_permutations} 次置换，"
            f"Bonferroni 水平 {level:.4g}）选出 {k} 个连接点"
        ),
        params={
            "alpha": alpha,
            "joinpoints": [float(t) for t in taus],
            "max_joinpoints": max_joinpoints,
            "min_gap": min_gap,
            "n_permutations": n_permutations,
            "seed": seed,
        },
    )


# ----------------------------------------------------------------------------------------------------------
# missing female births
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class MissingFemaleBirths(Result):
    """Missing female births = B_m / R_ref − B_f per unit, with interval (Chao et al. 2019)."""

    TITLE = ("Missing female births", "女婴缺失数")


def missing_female_births(
    males,
    females,
    reference: float = 1.06,
    *,
    alpha: float = 0.05,
    labels: Sequence | None = None,
) -> MissingFemaleBirths:
    """Missing female births (Chao, Gerland, Cook & Alkema, PNAS 2019): expected minus observed girls.

    Expected female births = B_m / R_ref, where B_m are the observed male births and ``reference`` R_ref is
    the SRB expected without sex selection, **a ratio per 1** (default 1.06 = 106 boys per 100 girls).
    (Not B / (1 + R_ref), which only redistributes the observed total.) The interval treats the total
    births n = B_m + B_f as fixed and the male share as binomial: missing = n·p·(1 + 1/R_ref) − n is
    monotone in p, so the Wilson interval of p maps to an interval of the missing births.
    ``males``/``females`` are numbers or equal-length arrays/Series; ``labels`` names the rows.
    Negative values mean more girls than expected.
    """
    alpha = check_alpha(alpha)
    reference = float(reference)
    if not 0.5 <= reference <= 2:
        hint = f" — did you give it per 100? use {reference / 100:g}" if 50 <= reference <= 200 else ""
        raise ModelSpecificationError(
            f"reference must be a ratio of male to female births per 1 (e.g. 1.06), got {reference:g}{hint}"
        )
    frame = pd.DataFrame(
        {"males": np.atleast_1d(np.asarray(males)), "females": np.atleast_1d(np.asarray(females))}
    )
    if labels is None and isinstance(males, pd.Series):
        labels = males.index
    m = _births(frame, "males")
    f = _births(frame, "females")
    n = m + f
    lo_p, hi_p = proportion_interval(m, n, alpha=alpha)
    expected = m / reference
    table = pd.DataFrame({"label": list(labels)} if labels is not None else {})
    table["males"] = m
    table["females"] = f
    table["expected_females"] = expected
    table["missing"] = expected - f
    table["lower"] = n * lo_p * (1 + 1 / reference) - n
    table["upper"] = n * hi_p * (1 + 1 / reference) - n
    with np.errstate(divide="ignore", invalid="ignore"):
        table["missing_percent_of_expected"] = 100 * (expected - f) / expected
    table["reference_srb_per_1"] = reference
    return MissingFemaleBirths(
        table=table,
        method="Chao et al. (2019): B_m / R_ref − B_f; Wilson interval of the male share given total births",
        method_zh="Chao 等（2019）：B_m / R_ref − B_f；给定出生总数时男婴比例的 Wilson 区间",
        params={"reference": reference, "reference_units": "males per female (per 1)", "alpha": alpha},
    )


# ----------------------------------------------------------------------------------------------------------
# funnel
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class Funnel(Result):
    """Units against exact binomial funnel limits around a target SRB (limits given in SRB units)."""

    TITLE = ("Funnel limits of the sex ratio at birth", "出生性别比漏斗控制限")

    data: pd.DataFrame

    def plot(
        self, ax: Axes | None = None, *, lang: str = "en", proxy: bool = False, annotate: bool = True,
        target_name: str | None = None,
    ) -> Axes:
        """Funnel plot on the SRB scale (births on a log axis); units outside the widest limits are named (the
        farthest :data:`analysis.funnel.MAX_LABELS`, labels kept apart: :func:`analysis.plots.label_points`).
        ``target_name`` names the target line in the legend ("All provinces 112.3"; default "Pooled" or
        "Reference")."""
        ax = ax if ax is not None else plt.gca()
        label = self.params.get("label") if annotate else None
        _funnel.plot_funnel(
            self.data,
            x="births",
            y="male_share",
            target_p=self.params["target_share"],
            levels=self.params["levels"],
            ax=ax,
            label=label,
            transform=srb_from_share,
            overdispersion=self.params["phi"] if self.params["phi"] > 1 else None,
            tau2=self.params.get("tau2") or None,
            xlabel=(
                ("Children aged 0" if lang == "en" else "0岁人口数") if proxy else plots.label("births", lang)
            ),
            ylabel=plots.label("age0_sex_ratio" if proxy else "srb", lang),
            lang=lang,
            target_label=(
                f"{target_name or plots.label('pooled' if self.params['target_source'] == 'pooled' else 'reference', lang)}"
                f" {self.params['target_srb']:.1f}"
            ),
        )
        return ax


def funnel(
    data: pd.DataFrame,
    *,
    males: str = "males",
    females: str = "females",
    label: str | None = None,
    target: float | None = None,
    levels: Sequence[float] = _funnel.DEFAULT_LEVELS,
    overdispersion: float | Literal["estimate", "additive"] | None = None,
) -> Funnel:
    """Funnel plot data: each unit's SRB against exact binomial limits for its number of births.

    Limits are computed on the male share p = SRB/(100 + SRB) by :func:`analysis.funnel.limits`
    (Spiegelhalter 2005: exact binomial limits at 95 % and 99.8 % by default; ``overdispersion`` a factor phi,
    ``"estimate"`` for his Winsorised-z estimate of phi, or ``"additive"`` for random-effects limits with his
    estimate of the between-unit variance tau² of the male share, params ``tau2``, and tau in SRB points at the
    target, ``tau_srb``) and transformed back to males per 100 females.
    ``target`` is an SRB per 100; None uses the pooled SRB of all units. Units with no births or NA counts
    are kept with position ``"no births"``.
    """
    cols = [label] if label else []
    _require(data, [males, females, *cols])
    m = _births(data, males)
    f = _births(data, females)
    n = m + f
    ok = np.isfinite(n) & (n > 0)
    if not ok.any():
        raise DataValidationError("no unit has births", column=males)
    if target is None:
        target_p = m[ok].sum() / n[ok].sum()
    else:
        target_p = float(share_from_srb(_check_srb_reference(target, "target")))
    cls = _funnel.classify(m[ok], n[ok], target_p, levels=levels, overdispersion=overdispersion)
    phi = 1.0
    if overdispersion == "estimate":
        phi = float(_funnel.estimate_overdispersion(m[ok], n[ok], target_p))
    elif overdispersion not in (None, "additive"):
        phi = float(overdispersion)
    tau2 = float(cls.attrs["tau2"])
    table = data[cols].copy().reset_index(drop=True) if cols else pd.DataFrame(index=range(len(data)))
    table["males"] = pd.array(np.where(np.isfinite(m), m, np.nan), dtype="Int64")
    table["females"] = pd.array(np.where(np.isfinite(f), f, np.nan), dtype="Int64")
    table["births"] = table["males"] + table["females"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["srb"] = np.where(ok, 100 * m / f, np.nan)
        z = (m / n - target_p) / np.sqrt(target_p * (1 - target_p) / n)
    table["target_srb"] = float(srb_from_share(target_p))
    table["z"] = np.where(ok, z, np.nan)
    for level in levels:
        name = _funnel.level_name(level)
        for side in ("lower", "upper"):
            col = np.full(len(table), np.nan)
            col[ok] = srb_from_share(cls[f"{side}_{name}"].to_numpy(float))
            table[f"{side}_{name}"] = col
        pos = np.full(len(table), "no births", dtype=object)
        pos[ok] = cls[f"position_{name}"].to_numpy()
        table[f"position_{name}"] = pos
    plot_data = table.loc[ok].copy()
    plot_data["male_share"] = m[ok] / n[ok]
    plot_data["births"] = n[ok]
    return Funnel(
        table=table,
        data=plot_data,
        method="exact binomial funnel limits on the male share (Spiegelhalter 2005)"
        + (f", over-dispersion phi = {phi:.3g}" if phi > 1 else "")
        + (f", additive random effects tau = {tau2 ** 0.5:.3g} (male share)" if tau2 > 0 else ""),
        method_zh="男婴比例的精确二项漏斗图控制限（Spiegelhalter 2005）" + (f"，过度离散 φ = {phi:.3g}" if phi > 1 else "")
        + (f"，加性随机效应 τ = {tau2 ** 0.5:.3g}（男婴比例）" if tau2 > 0 else ""),
        params={
            "target_srb": float(srb_from_share(target_p)),
            "target_share": float(target_p),
            "target_source": "pooled" if target is None else "given",
            "levels": tuple(levels),
            "phi": phi,
            "tau2": tau2,
            # tau in SRB points at the target (delta method: d SRB / dp = 100 / (1 − p)²)
            "tau_srb": 100 * tau2**0.5 / (1 - target_p) ** 2,
            "label": label,
        },
    )


# ----------------------------------------------------------------------------------------------------------
# shrink
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, repr=False)
class Shrinkage(Result):
    """Empirical-Bayes SRB per unit (beta-binomial posterior) with interval and rank."""

    TITLE = ("Empirical-Bayes shrinkage of the sex ratio", "出生性别比的经验贝叶斯收缩")

    def plot(
        self,
        ax: Axes | None = None,
        *,
        label: str | None = None,
        lang: str = "en",
        top: int | None = 30,
        proxy: bool = False,
        by: Literal["shrunk", "raw"] = "shrunk",
    ) -> Axes:
        """Caterpillar plot of the ``top`` highest units. ``by="shrunk"``: posterior SRBs with their credible
        intervals, raw estimates as open circles. ``by="raw"``, for when the between-unit variance is ≈ 0 and the
        shrunk estimates all sit at the prior mean (no ranking): raw SRBs with their Wilson intervals
        (``srb_lower``/``srb_upper``), shrunk estimates as open circles."""
        if by not in ("shrunk", "raw"):
            raise ModelSpecificationError(f"by must be 'shrunk' or 'raw', got {by!r}")
        ax = ax if ax is not None else plt.gca()
        key = "srb_shrunk" if by == "shrunk" else "srb"
        t = self.table.dropna(subset=["srb_shrunk"]).sort_values(key, ascending=False, kind="stable")
        if top:
            t = t.head(top)
        y = np.arange(len(t))[::-1]
        shrunk_name, raw_name = ("Shrunk (EB)", "Raw") if lang == "en" else ("经验贝叶斯估计", "原始值")
        if by == "shrunk":
            plots.ci_errorbar(ax, y, t["srb_shrunk"], t["lower"], t["upper"], orient="h", color="C0", ecolor="0.4",
                              label=plots.ci_label(self.params["alpha"], lang, kind="credible", of=shrunk_name))
            ax.plot(t["srb"], y, "o", mfc="none", mec="C3", ms=4, label=raw_name)
        else:
            plots.ci_errorbar(ax, y, t["srb"], t["srb_lower"], t["srb_upper"], orient="h", color="C3", ecolor="0.4",
                              label=plots.ci_label(self.params["alpha"], lang, of=raw_name))
            ax.plot(t["srb_shrunk"], y, "o", mfc="none", mec="C0", ms=4, label=shrunk_name)
        prior = self.params["prior_mean_srb"]
        ax.vlines(prior, -0.8, len(t) - 0.5, color="0.3", lw=1, ls="--",
                  label=f"{plots.label('prior_mean', lang)} {prior:.1f}")  # fmt: skip
        names = t[label].astype(str) if label else t.index.astype(str)
        ax.set_yticks(y, names)
        ax.set_xlabel(plots.label("age0_sex_ratio" if proxy else "srb", lang))
        # the intervals fill the width: the legend gets a band of its own (a row per entry) above the first unit
        ax.set_ylim(-0.8, len(t) + 3.2)
        ax.legend(frameon=False, fontsize=8, loc="upper left", borderaxespad=0.2)
        return ax


def _betabinom_negloglik(theta: np.ndarray, m: np.ndarray, n: np.ndarray) -> float:
    mu = special.expit(theta[0])
    kappa = np.exp(theta[1])
    a, b = mu * kappa, (1 - mu) * kappa
    return -float(np.sum(special.betaln(m + a, n - m + b) - special.betaln(a, b)))


def shrink(
    data: pd.DataFrame,
    *,
    males: str = "males",
    females: str = "females",
    by: str | Sequence[str] | None = None,
    alpha: float = 0.05,
    prior: tuple[float, float] | None = None,
) -> Shrinkage:
    """Empirical-Bayes SRBs: beta-binomial model, male share p_i ~ Beta(a, b), M_i | p_i ~ Bin(n_i, p_i).

    (a, b) are fitted by maximum marginal likelihood over all units (or given as ``prior``); each unit's
    posterior is Beta(a + M_i, b + F_i). Reported: posterior mean SRB (transform of the posterior mean
    share), equal-tailed (1 − alpha) credible interval, the weight of the unit's own data n_i/(n_i + a + b),
    and ranks by raw and shrunk SRB (1 = highest); the raw SRB comes with its Wilson (1 − alpha) interval
    (``srb_lower``, ``srb_upper``; sampling variation only). Small units are pulled toward the overall level, so
    rankings are not driven by them (Efron & Morris 1975; Clayton & Kaldor 1987). Units with NA counts
    or no births are kept with NA.
    """
    alpha = check_alpha(alpha)
    by_cols = _as_list(by)
    agg = _aggregate(data, males, females, by_cols, pool=False)
    m = agg["males"].to_numpy(float)
    f = agg["females"].to_numpy(float)
    n = m + f
    ok = np.isfinite(n) & (n > 0)
    if prior is None:
        if ok.sum() < 3:
            raise ModelSpecificationError(
                f"shrinkage needs at least 3 units with births, got {int(ok.sum())}"
            )
        p_pool = m[ok].sum() / n[ok].sum()
        start = np.array([special.logit(p_pool), np.log(1000.0)])
        opt = optimize.minimize(
            _betabinom_negloglik,
            start,
            args=(m[ok], n[ok]),
            method="L-BFGS-B",
            bounds=[(-5, 5), (np.log(1.0), np.log(1e8))],
        )
        mu, kappa = special.expit(opt.x[0]), float(np.exp(opt.x[1]))
        a, b = mu * kappa, (1 - mu) * kappa
        prior_source = "maximum marginal likelihood"
    else:
        a, b = (float(v) for v in prior)
        if not (a > 0 and b > 0):
            raise ModelSpecificationError(f"prior must be two positive Beta parameters, got {prior}")
        prior_source = "given"
    post_a, post_b = a + m, b + f
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = post_a / (post_a + post_b)
        lo = stats.beta.ppf(alpha / 2, post_a, post_b)
        hi = stats.beta.ppf(1 - alpha / 2, post_a, post_b)
        raw = np.where(ok, 100 * m / f, np.nan)
    table = _counts_table(agg[by_cols], m, f)
    table["srb"] = raw
    table["srb_lower"], table["srb_upper"] = (np.where(ok, srb_from_share(v), np.nan)
                                              for v in proportion_interval(m, n, alpha=alpha, method="wilson"))
    table["srb_shrunk"] = np.where(ok, srb_from_share(mean), np.nan)
    table["lower"] = np.where(ok, srb_from_share(lo), np.nan)
    table["upper"] = np.where(ok, srb_from_share(hi), np.nan)
    table["weight_own_data"] = np.where(ok, n / (n + a + b), np.nan)
    table["rank_raw"] = pd.Series(raw).rank(ascending=False, method="min").astype("Int64")
    table["rank_shrunk"] = pd.Series(table["srb_shrunk"]).rank(ascending=False, method="min").astype("Int64")
    prior_mean = a / (a + b)
    return Shrinkage(
        table=table,
        method="empirical-Bayes beta-binomial shrinkage (posterior mean, equal-tailed credible interval)",
        method_zh="经验贝叶斯 beta-二项收缩（后验均值，等尾可信区间）",
        params={
            "alpha": alpha,
            "prior_a": float(a),
            "prior_b": float(b),
            "prior_source": prior_source,
            "prior_mean_srb": float(srb_from_share(prior_mean)),
            "prior_sd_share": float(np.sqrt(prior_mean * (1 - prior_mean) / (a + b + 1))),
        },
    )


# ----------------------------------------------------------------------------------------------------------
# benchmark helper
# ----------------------------------------------------------------------------------------------------------


def bench_data(n_units: int = 2900, censuses: Sequence[int] = (2010, 2020), seed: int = 2026) -> pd.DataFrame:
    """Synthetic county × census birth counts (seeded) shaped like the county table, for ``make bench``.

    About 2,900 units × 2 censuses, 50–20,000 births per unit, SRB around 112 with extra-binomial spread.
    Synthetic: never use for results.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for census in censuses:
        n = rng.integers(50, 20_000, n_units)
        p = special.expit(rng.normal(np.log(1.12), 0.04, n_units))
        males = rng.binomial(n, p)
        rows.append(
            pd.DataFrame(
                {
                    "census": census,
                    "region_code": [f"{100000 + i:06d}" for i in range(n_units)],
                    "males": males,
                    "females": n - males,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
