"""Binomial proportions: confidence intervals, exact tests and validation of counts.

The one implementation used by :mod:`analysis.srb` (boys among births), :mod:`analysis.coverage` (people
served among those eligible) and :mod:`analysis.funnel`. Proportions are on the 0–1 scale; ``successes`` and
``trials`` are whole-number counts. All functions are vectorised (inputs broadcast against each other).

References: Wilson EB (1927), "Probable inference, the law of succession, and statistical inference",
*JASA* 22:209–212; Clopper CJ & Pearson ES (1934), "The use of confidence or fiducial limits illustrated in
the case of the binomial", *Biometrika* 26:404–413; Newcombe RG (1998), "Two-sided confidence intervals for
the single proportion: comparison of seven methods", *Statistics in Medicine* 17:857–872.

>>> proportion_interval([0, 535], [100, 1000])                  # Wilson 95 % limits
>>> binom_test([535], [1000], 105 / 205)                        # exact two-sided p, as scipy.stats.binomtest
>>> validate_counts(df["eligible"], column="eligible", expected="counts ≥ 1", minimum=1)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from analysis.exceptions import DataValidationError, ModelSpecificationError

__all__ = ["proportion_interval", "binom_test", "validate_counts", "spreadsheet_rows", "check_alpha"]

IntervalMethod = Literal["wilson", "exact"]
Alternative = Literal["two-sided", "greater", "less"]
#: Relative tolerance of the two-sided minimum-likelihood rule (the value scipy.stats.binomtest uses).
_RERR = 1 + 1e-7


def spreadsheet_rows(data, positions) -> list[int]:
    """Spreadsheet row numbers of the rows at 0-based ``positions`` of a DataFrame, Series or array.

    The header is row 1, so row = position + 2 — unless ``data`` has an integer index named ``"row"``
    (frames from :func:`analysis.data.read_user_table`), which already holds the spreadsheet rows.
    """
    positions = np.asarray(positions, dtype=np.intp).reshape(-1)
    index = getattr(data, "index", None)
    if isinstance(index, pd.Index) and index.name == "row" and pd.api.types.is_integer_dtype(index.dtype):
        return [int(r) for r in index.to_numpy()[positions]]
    return (positions + 2).tolist()


def validate_counts(
    values,
    *,
    column: str,
    expected: str,
    allow_na: bool = False,
    minimum: int = 0,
    path: str | None = None,
) -> np.ndarray:
    """Counts as a float array (NA → nan when ``allow_na``); every bad value raises ONE error.

    Bad values: non-numeric text, missing (unless ``allow_na``), infinite, below ``minimum``, not whole.
    The :class:`~analysis.exceptions.DataValidationError` names ``path``, the spreadsheet rows
    (:func:`spreadsheet_rows`), ``column`` and ``expected``. ``values`` is a Series or anything array-like.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values).reshape(-1))
    arr = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    given = series.notna().to_numpy(dtype=bool)
    finite = np.isfinite(arr)
    with np.errstate(invalid="ignore"):
        problems = {
            "non-numeric": np.isnan(arr) & given,
            "missing": np.zeros(arr.shape, bool) if allow_na else ~given,
            "infinite": np.isinf(arr),
            "negative" if minimum == 0 else f"less than {minimum}": finite & (arr < minimum),
            "not whole numbers": finite & (arr != np.round(arr)),
        }
    bad = np.flatnonzero(np.logical_or.reduce(list(problems.values())))
    if bad.size:
        kinds = " or ".join(name for name, mask in problems.items() if mask.any())
        raise DataValidationError(
            f"{bad.size} value(s) are {kinds}: {series.iloc[bad[:5]].tolist()}",
            path=path,
            rows=spreadsheet_rows(series, bad),
            column=column,
            expected=expected,
        )
    return arr


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float; ModelSpecificationError unless 0 < alpha < 1."""
    alpha = float(alpha)
    if not 0 < alpha < 1:
        raise ModelSpecificationError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return alpha


def _as_counts(successes, trials) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast float arrays; impossible or infinite counts raise (nan stays nan: missing)."""
    x, n = (np.array(a, dtype=float) for a in np.broadcast_arrays(successes, trials))
    both = np.isfinite(x) & np.isfinite(n)
    with np.errstate(invalid="ignore"):
        wrong = (n < 0) | (x < 0) | (x > n) | (x != np.round(x)) | (n != np.round(n))
    bad = np.isinf(x) | np.isinf(n) | (both & wrong)
    if bad.any():
        where = np.flatnonzero(bad)
        raise DataValidationError(
            f"successes must be whole numbers between 0 and trials; got {x.ravel()[where[:5]].tolist()} "
            f"of {n.ravel()[where[:5]].tolist()}",
            rows=spreadsheet_rows(successes if np.ndim(successes) == 1 else trials, where) if x.ndim == 1 else None,
            expected="0 ≤ successes ≤ trials",
        )
    return x, n


def proportion_interval(
    successes, trials, *, alpha: float = 0.05, method: IntervalMethod = "wilson"
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided (1 − alpha) interval for the proportion successes/trials (0–1 scale), vectorised.

    ``"wilson"``: Wilson (1927) score interval, recommended by Newcombe (1998); ``"exact"``: Clopper &
    Pearson (1934) interval from beta quantiles. With 0 successes the lower limit is exactly 0, with
    successes = trials the upper limit is exactly 1. Missing counts or 0 trials give nan.
    """
    alpha = check_alpha(alpha)
    if method not in ("wilson", "exact"):
        raise ModelSpecificationError(f"interval method must be 'wilson' or 'exact', got {method!r}")
    x, n = _as_counts(successes, trials)
    lower, upper = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    ok = np.isfinite(x) & np.isfinite(n) & (n > 0)
    xs, ns = x[ok], n[ok]
    if method == "wilson":
        z = stats.norm.ppf(1 - alpha / 2)
        p = xs / ns
        denom = 1 + z**2 / ns
        centre = (p + z**2 / (2 * ns)) / denom
        half = z * np.sqrt(p * (1 - p) / ns + z**2 / (4 * ns**2)) / denom
        lo, hi = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = stats.beta.ppf(alpha / 2, xs, ns - xs + 1)
            hi = stats.beta.ppf(1 - alpha / 2, xs + 1, ns - xs)
    lower[ok] = np.where(xs == 0, 0.0, lo)
    upper[ok] = np.where(xs == ns, 1.0, hi)
    return lower, upper


def binom_test(successes, trials, p, *, alternative: Alternative = "two-sided") -> np.ndarray:
    """Exact binomial test p-values of H0: proportion = ``p`` (scalar or per element), vectorised.

    ``"greater"``: P(X ≥ k); ``"less"``: P(X ≤ k); ``"two-sided"``: the minimum-likelihood rule of
    :func:`scipy.stats.binomtest` — the sum of P(X = y) over all y with P(X = y) ≤ P(X = k)·(1 + 1e-7),
    the other tail found by bisection on the monotone side of the mode (k = n·p gives 1). Missing counts or
    0 trials give nan.
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ModelSpecificationError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}"
        )
    x, n = _as_counts(successes, trials)
    x, n, prob = (np.array(a, dtype=float) for a in np.broadcast_arrays(x, n, p))
    if not np.all((prob >= 0) & (prob <= 1)):
        raise ModelSpecificationError(f"p must be proportions between 0 and 1, got {np.unique(prob)[:5].tolist()}")
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & np.isfinite(n) & (n > 0)
    k, n, prob = x[ok], n[ok], prob[ok]
    if alternative == "greater":
        out[ok] = stats.binom.sf(k - 1, n, prob)
    elif alternative == "less":
        out[ok] = stats.binom.cdf(k, n, prob)
    else:
        out[ok] = _two_sided(k, n, prob)
    return out


def _two_sided(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    d = stats.binom.pmf(k, n, p) * _RERR
    mean = n * p
    res = np.ones(k.shape)
    low = k < mean
    if low.any():  # other tail above the mean: smallest y ≥ ceil(np) with pmf(y) ≤ d (n + 1 if none)
        kk, nn, pp, dd = k[low], n[low], p[low], d[low]
        lo, hi = np.ceil(nn * pp), nn + 1
        while np.any(lo < hi):
            active = lo < hi
            mid = np.floor((lo + hi) / 2)
            cond = stats.binom.pmf(mid, nn, pp) <= dd
            hi = np.where(cond & active, mid, hi)
            lo = np.where(~cond & active, mid + 1, lo)
        res[low] = stats.binom.cdf(kk, nn, pp) + stats.binom.sf(lo - 1, nn, pp)
    high = k > mean
    if high.any():  # other tail below the mean: largest y ≤ floor(np) with pmf(y) ≤ d (−1 if none)
        kk, nn, pp, dd = k[high], n[high], p[high], d[high]
        lo, hi = np.full(kk.shape, -1.0), np.floor(nn * pp)
        while np.any(lo < hi):
            active = lo < hi
            mid = np.ceil((lo + hi) / 2)
            cond = stats.binom.pmf(mid, nn, pp) <= dd
            lo = np.where(cond & active, mid, lo)
            hi = np.where(~cond & active, mid - 1, hi)
        res[high] = stats.binom.cdf(lo, nn, pp) + stats.binom.sf(kk - 1, nn, pp)
    return np.minimum(res, 1.0)
