"""Exact-binomial funnel plots for comparing many units against one target proportion.

Shared by :mod:`analysis.srb` (share of boys among births) and :mod:`analysis.coverage` (service rates).
Method: Spiegelhalter DJ (2005), "Funnel plots for comparing institutional performance",
*Statistics in Medicine* 24:1185–1202 — exact binomial control limits with the interpolation of his
Appendix A.1.1 (so the limits are smooth in *n*), the multiplicative over-dispersion factor phi estimated
from Winsorised z-scores (his section 6.1), and additive random-effects limits with a between-unit variance tau²
(his section 6.2), which suit units with large denominators better: multiplied limits still close in on the
target as n grows, additive ones keep a width of about ±z·tau.

All proportions are on the 0–1 scale; ``n`` is the denominator (births, eligible people).

>>> limits([100, 1000], 0.5)            # 95 % and 99.8 % limits
>>> classify(observed=[60, 480], n=[100, 1000], target_p=0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from scipy import stats

from analysis.binomial import spreadsheet_rows, validate_counts
from analysis.exceptions import DataValidationError, ModelSpecificationError
from analysis.plots import label as label_text
from analysis.plots import label_points, log_axis

__all__ = ["level_name", "limits", "estimate_overdispersion", "estimate_tau2", "classify", "plot_funnel"]

DEFAULT_LEVELS: tuple[float, ...] = (0.95, 0.998)
#: Units named on a funnel plot at most (the farthest outside; the tables list them all): more labels crowd it.
MAX_LABELS = 12
#: Share Winsorised in each tail when phi is estimated (Spiegelhalter 2005 uses 10 %).
WINSOR_SHARE = 0.10
_N_EXPECTED = "denominators (counts) ≥ 1"

Overdispersion = float | Literal["estimate", "additive"] | None


def level_name(level: float) -> str:
    """Column suffix for a coverage level: 0.95 → ``"95"``, 0.998 → ``"99.8"``."""
    return f"{level * 100:g}"


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(v) for v in levels)
    if not levels or any(not 0 < v < 1 for v in levels):
        raise ModelSpecificationError(f"levels must be coverage probabilities strictly between 0 and 1, got {levels}")
    return levels


def _check_target(target_p: float) -> float:
    target_p = float(target_p)
    if not 0 <= target_p <= 1 or np.isnan(target_p):
        raise ModelSpecificationError(f"target_p must be a proportion between 0 and 1, got {target_p}")
    return target_p


def _observed_and_n(observed, n) -> tuple[np.ndarray, np.ndarray]:
    """Event counts and their denominators, validated: same length, n whole ≥ 1, 0 ≤ observed ≤ n."""
    n_arr = validate_counts(n, column="n", expected=_N_EXPECTED, minimum=1)
    obs = np.asarray(observed, dtype=float).reshape(-1)
    if obs.shape != n_arr.shape:
        raise ModelSpecificationError(f"observed has {obs.size} values but n has {n_arr.size}")
    bad = np.flatnonzero(~np.isfinite(obs) | (obs < 0) | (obs > n_arr))
    if bad.size:
        raise DataValidationError(
            "observed counts must lie between 0 and n", rows=spreadsheet_rows(observed, bad), column="observed"
        )
    return obs, n_arr


def _exact_quantile(p: float, n: np.ndarray, target_p: float) -> np.ndarray:
    """Interpolated binomial p-quantile divided by n (Spiegelhalter 2005, Appendix A.1.1).

    r_p = smallest r with F(r) ≥ p; alpha = (F(r_p) − p) / (F(r_p) − F(r_p − 1)); limit = (r_p − alpha) / n.
    A target of exactly 0 or 1 is degenerate: the limits are the target itself.
    """
    if target_p in (0.0, 1.0):
        return np.full(n.shape, target_p)
    r = stats.binom.ppf(p, n, target_p)
    f_r = stats.binom.cdf(r, n, target_p)
    f_below = stats.binom.cdf(r - 1, n, target_p)
    step = f_r - f_below
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(step > 0, (f_r - p) / step, 0.0)
    return np.clip((r - alpha) / n, 0.0, 1.0)


def limits(
    n,
    target_p: float,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    overdispersion: Overdispersion = None,
    observed=None,
    tau2: float | None = None,
) -> pd.DataFrame:
    """Funnel control limits (proportion scale) for denominators ``n`` around ``target_p``.

    Returns columns ``n``, ``target``, and ``lower_<L>``/``upper_<L>`` per level (``L`` = 95, 99.8, …).
    ``overdispersion=None`` gives exact binomial limits; a number phi > 0 gives
    ``target ± z·sqrt(phi·target(1−target)/n)`` (Spiegelhalter 2005, §6.1, clipped to 0–1); ``"estimate"``
    estimates phi from ``observed`` counts with :func:`estimate_overdispersion` and keeps the exact limits when
    the estimate is ≤ 1 (no over-dispersion). ``"additive"`` estimates tau² from ``observed`` with
    :func:`estimate_tau2` and gives ``target ± z·sqrt(target(1−target)/n + tau²)`` (§6.2; the exact limits when
    tau² = 0); ``tau2`` gives that tau² directly. The frame's ``attrs`` hold ``phi`` (1 without) and ``tau2`` (0
    without).
    """
    levels = _check_levels(levels)
    target_p = _check_target(target_p)
    n_arr = validate_counts(n, column="n", expected=_N_EXPECTED, minimum=1)
    phi, tau2 = _resolve(overdispersion, observed, n_arr, target_p, tau2)
    out = {"n": n_arr.astype(np.int64), "target": np.full(n_arr.shape, target_p)}
    for level in levels:
        tail = (1 - level) / 2
        name = level_name(level)
        if phi is None and tau2 is None:
            out[f"lower_{name}"] = _exact_quantile(tail, n_arr, target_p)
            out[f"upper_{name}"] = _exact_quantile(1 - tail, n_arr, target_p)
        else:
            var = (phi or 1.0) * target_p * (1 - target_p) / n_arr + (tau2 or 0.0)
            half = stats.norm.ppf(1 - tail) * np.sqrt(var)
            out[f"lower_{name}"] = np.clip(target_p - half, 0.0, 1.0)
            out[f"upper_{name}"] = np.clip(target_p + half, 0.0, 1.0)
    df = pd.DataFrame(out)
    df.attrs["phi"] = 1.0 if phi is None else phi
    df.attrs["tau2"] = 0.0 if tau2 is None else tau2
    return df


def _resolve(overdispersion: Overdispersion, observed, n: np.ndarray, target_p: float,
             tau2: float | None = None) -> tuple[float | None, float | None]:
    """(phi, tau2) of the limits; None for each that does not widen them."""
    if tau2 is not None:
        if overdispersion is not None:
            raise ModelSpecificationError("give either overdispersion or tau2, not both")
        tau2 = float(tau2)
        if not np.isfinite(tau2) or tau2 < 0:
            raise ModelSpecificationError(f"tau2 must be a variance ≥ 0 (proportion scale), got {tau2!r}")
        return None, tau2 if tau2 > 0 else None
    if overdispersion is None:
        return None, None
    if isinstance(overdispersion, str):
        if overdispersion not in ("estimate", "additive"):
            raise ModelSpecificationError(
                f"overdispersion must be None, a positive number, 'estimate' or 'additive', got {overdispersion!r}"
            )
        if observed is None:
            raise ModelSpecificationError(f"overdispersion={overdispersion!r} needs the observed counts (observed=...)")
        if overdispersion == "additive":
            t2 = estimate_tau2(observed, n, target_p)
            return None, t2 if t2 > 0 else None
        phi = estimate_overdispersion(observed, n, target_p)
        return (phi if phi > 1 else None), None
    phi = float(overdispersion)
    if not np.isfinite(phi) or phi <= 0:
        raise ModelSpecificationError(f"overdispersion phi must be a positive number, got {overdispersion!r}")
    return phi, None


def estimate_overdispersion(observed, n, target_p: float, *, winsor: float = WINSOR_SHARE) -> float:
    """Multiplicative over-dispersion phi from Winsorised z-scores (Spiegelhalter 2005, §6.1).

    ``observed`` are event counts (e.g. boys, people served) out of ``n``. z_i = (y_i − target)/sqrt(target(1 −
    target)/n_i) with y_i = observed_i/n_i; the lowest and highest ``winsor`` share of z (10 %) are Winsorised (set
    to those percentiles; 0 leaves z as it is); phi = mean of z². Under no over-dispersion I·phi ~ chi-square with
    I degrees of freedom.
    """
    target_p = _check_target(target_p)
    if not 0 < target_p < 1:
        raise ModelSpecificationError("over-dispersion cannot be estimated for a target of exactly 0 or 1")
    obs, n_arr = _observed_and_n(observed, n)
    if obs.size < 2:
        raise ModelSpecificationError("over-dispersion needs at least two units")
    if not 0 <= winsor < 0.5:
        raise ModelSpecificationError(f"winsor must be a share in [0, 0.5), got {winsor!r}")
    z = (obs / n_arr - target_p) / np.sqrt(target_p * (1 - target_p) / n_arr)
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    zw = np.clip(z, lo, hi)
    return float(np.mean(zw**2))


def estimate_tau2(observed, n, target_p: float, *, winsor: float = WINSOR_SHARE) -> float:
    """Additive between-unit variance tau² (proportion scale, squared) for random-effects funnel limits
    (Spiegelhalter 2005, §6.2): tau² = max(0, (I·phi − (I − 1)) / (Σw − Σw²/Σw)) with w_i = 1/s_i²,
    s_i² = target(1 − target)/n_i and phi from :func:`estimate_overdispersion` (Winsorised z) — the
    DerSimonian–Laird moment estimator with Q = Σz² taken around the target."""
    phi = estimate_overdispersion(observed, n, target_p, winsor=winsor)
    n_arr = validate_counts(n, column="n", expected=_N_EXPECTED, minimum=1)
    w = n_arr / (target_p * (1 - target_p))
    q, units = n_arr.size * phi, n_arr.size
    return float(max(0.0, (q - (units - 1)) / (w.sum() - (w**2).sum() / w.sum())))


def classify(
    observed,
    n,
    target_p: float,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    overdispersion: Overdispersion = None,
) -> pd.DataFrame:
    """Where each unit lies relative to each funnel limit.

    Returns ``n``, ``observed``, ``proportion``, ``target``, the limits and ``position_<L>`` ∈
    {"inside", "above", "below"} per level. A unit exactly on a limit counts as inside.
    """
    obs, n_arr = _observed_and_n(observed, n)
    lim = limits(n_arr, target_p, levels=levels, overdispersion=overdispersion, observed=obs)
    prop = obs / n_arr
    lim.insert(1, "observed", obs)
    lim.insert(2, "proportion", prop)
    for level in _check_levels(levels):
        name = level_name(level)
        pos = np.where(prop > lim[f"upper_{name}"], "above", np.where(prop < lim[f"lower_{name}"], "below", "inside"))
        lim[f"position_{name}"] = pos
    return lim


def plot_funnel(
    data: pd.DataFrame,
    *,
    x: str,
    y: str,
    target_p: float,
    levels: Sequence[float] = DEFAULT_LEVELS,
    ax: Axes | None = None,
    label: str | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    overdispersion: Overdispersion = None,
    tau2: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    lang: Literal["zh", "en"] | None = None,
    max_labels: int = MAX_LABELS,
    target_label: str | None = None,
) -> Axes:
    """Funnel plot: proportion ``y`` (0–1) against denominator ``x`` with target line and limits.

    ``transform`` maps proportions to the display scale (e.g. ``lambda p: 100 * p / (1 - p)`` for males per
    100 females); ``label`` names a column used to name the units outside the widest limits — at most
    ``max_labels`` of them, those farthest from the target in standard errors (a note under the x-axis label then
    says how many of how many) — with labels that keep clear of each other and of the legend
    (:func:`analysis.plots.label_points`); ``overdispersion`` and ``tau2`` as in :func:`limits` (the observed
    counts are ``x * y``); ``lang`` — language of the legend (default: the theme's, see :func:`analysis.plots.label`);
    ``target_label`` — the target line's legend entry (default "target" and its value on the display scale).
    The y-axis spans the units and the target (with a margin) when the limits at the smallest denominator would
    make it more than twice as tall: the limits are then cut at the edge (the span covers the points of panels that
    share the y axis as well). Returns the Axes.
    """
    text = label_text("control_limits", lang)
    limits_text = f"%{text}" if not text.isascii() else f"% {text}"  # "95%控制限", "95% control limits"
    for col in (x, y) + ((label,) if label else ()):
        if col not in data.columns:
            raise DataValidationError(f"column {col!r} not in data (columns: {list(data.columns)})", column=col)
    levels = _check_levels(levels)
    n_pts = validate_counts(data[x].to_numpy(), column=x, expected=_N_EXPECTED, minimum=1)
    p_pts = data[y].to_numpy(dtype=float)
    tf = transform if transform is not None else (lambda v: np.asarray(v, dtype=float))
    ax = ax if ax is not None else plt.gca()

    grid = np.unique(np.round(np.geomspace(max(1.0, n_pts.min() * 0.8), n_pts.max() * 1.2, 300)))
    obs = np.round(n_pts * p_pts) if overdispersion in ("estimate", "additive") else None
    phi, tau2 = _resolve(overdispersion, obs, n_pts, _check_target(target_p), tau2)
    lim = limits(grid, target_p, levels=levels, overdispersion=phi, tau2=tau2)
    styles = ["--", ":", "-."]
    for i, level in enumerate(sorted(levels)):
        name = level_name(level)
        ls = styles[i % len(styles)]
        ax.plot(grid, tf(lim[f"upper_{name}"].to_numpy()), color="0.35", ls=ls, lw=1, label=f"{name}{limits_text}")
        ax.plot(grid, tf(lim[f"lower_{name}"].to_numpy()), color="0.35", ls=ls, lw=1)
    target_y = float(tf(np.array([target_p]))[0])
    if target_label is None:
        target_label = f"{label_text('target', lang)} {target_y:.4g}"
    ax.axhline(target_y, color="0.1", lw=1, label=target_label)
    points = ax.scatter(n_pts, tf(p_pts), s=18, color="C0", zorder=3, edgecolor="white", linewidth=0.4)
    shown = np.concatenate([tf(p_pts)] + [  # with a shared y axis (sharey=True), the other panels' points too
        np.asarray(c.get_offsets())[:, 1] for sib in ax.get_shared_y_axes().get_siblings(ax) if sib is not ax
        for c in sib.collections if isinstance(c, PathCollection) and len(c.get_offsets())])
    shown = shown[np.isfinite(shown)]
    lo, hi = min(shown.min(), target_y), max(shown.max(), target_y)
    span = (hi - lo) or abs(target_y) / 10 or 1.0
    if np.subtract(*ax.get_ylim()[::-1]) > 2 * span:  # limits at the smallest n would squash the data
        ax.set_ylim(lo - 0.15 * span, hi + 0.15 * span)
    log_axis(ax, "x")
    ax.set_xlabel(xlabel if xlabel is not None else x)
    ax.set_ylabel(ylabel if ylabel is not None else y)
    ax.legend(frameon=False, fontsize=8)  # before the labels, which keep clear of it
    if label and max_labels > 0:
        outer = limits(n_pts, target_p, levels=[max(levels)], overdispersion=phi, tau2=tau2)
        name = level_name(max(levels))
        outside = np.flatnonzero(
            (p_pts > outer[f"upper_{name}"].to_numpy()) | (p_pts < outer[f"lower_{name}"].to_numpy())
        )
        # |z| of each unit against the limits drawn (phi does not change the order; tau² does)
        z = np.abs(p_pts - target_p) / np.sqrt((phi or 1.0) * target_p * (1 - target_p) / n_pts + (tau2 or 0.0))
        keep = np.sort(outside[np.argsort(-z[outside], kind="stable")[:max_labels]])
        if len(outside) > len(keep):  # never silently: a note under the x-axis label says how many are named
            ax.annotate(f"Named: {len(keep)} of {len(outside)} beyond the {name}% limits (farthest)" if text.isascii()
                        else f"已标注{name}%控制限外 {len(outside)} 个中最远的 {len(keep)} 个",
                        xy=(1, 0), xycoords=("axes fraction", ax.xaxis.label), xytext=(0, -2), textcoords="offset points",
                        ha="right", va="top", fontsize=7, color="0.3")
        label_points(ax, n_pts[keep], tf(p_pts[keep]), data[label].to_numpy()[keep], avoid=points, fontsize=7)
    return ax
