"""Tests of analysis.binomial against independent references.

References: scipy.stats.binomtest (exact p-values, all three alternatives, two-sided by the
minimum-likelihood rule) and statsmodels.stats.proportion.proportion_confint (``wilson`` and ``beta`` =
Clopper–Pearson). Synthetic cases are made by seeded code in this file (seed 20261124, the ``rng`` fixture).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis import binomial
from analysis.exceptions import DataValidationError, ModelSpecificationError


@pytest.fixture
def cases(rng) -> pd.DataFrame:
    """300 seeded (k, n, p) with k ~ Bin(n, p), plus k = 0, k = n, k exactly at the mean n·p, p = 0 or 1 and ties."""
    n = rng.integers(1, 3000, 300)
    p = rng.uniform(0.01, 0.99, 300)
    k = rng.binomial(n, p)
    edge = pd.DataFrame(
        [
            (0, 1, 0.5), (1, 1, 0.5), (0, 50, 0.3), (50, 50, 0.3), (0, 2000, 0.001), (2000, 2000, 0.999),
            (5, 10, 0.5), (50, 200, 0.25), (105, 205, 105 / 205), (3, 10, 0.3), (0, 10, 0.0), (4, 10, 0.0),
            (10, 10, 1.0), (6, 10, 1.0), (1, 3000, 0.5), (2999, 3000, 0.5), (2, 10, 0.5), (8, 10, 0.5),
            # p = 0.5: the mirror-image tail ties only up to rounding, found with the 1 + 1e-7 tolerance
            (1406, 2882, 0.5), (181, 378, 0.5), (523, 1032, 0.5), (210, 425, 0.5),
        ],
        columns=["k", "n", "p"],
    )
    return pd.concat([pd.DataFrame({"k": k, "n": n, "p": p}), edge], ignore_index=True)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_binom_test_matches_scipy_binomtest(cases, alternative):
    """p-values equal scipy.stats.binomtest(k, n, p, alternative).pvalue for 322 cases, p varying per case."""
    ours = binomial.binom_test(cases["k"], cases["n"], cases["p"], alternative=alternative)
    ref = [
        stats.binomtest(int(k), int(n), float(p), alternative=alternative).pvalue
        for k, n, p in cases.itertuples(index=False)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15)
    at_mean = (cases["k"] == cases["n"] * cases["p"]).to_numpy()
    assert at_mean.sum() >= 3
    if alternative == "two-sided":
        assert np.all(ours[at_mean] == 1.0)


def test_binom_test_broadcasts_and_keeps_missing_as_nan():
    """Scalar p against arrays; missing counts and 0 trials give nan; a scalar call gives a 0-d array."""
    out = binomial.binom_test([3, np.nan, 0, 7], [10, 10, 0, 10], 0.5)
    assert np.isnan(out[1]) and np.isnan(out[2])
    assert out[0] == pytest.approx(stats.binomtest(3, 10, 0.5).pvalue, rel=1e-12)
    assert out[3] == pytest.approx(stats.binomtest(7, 10, 0.5).pvalue, rel=1e-12)
    assert float(binomial.binom_test(60, 100, 0.5, alternative="greater")) == pytest.approx(
        stats.binomtest(60, 100, 0.5, alternative="greater").pvalue, rel=1e-12
    )


@pytest.mark.parametrize("method,sm_method", [("wilson", "wilson"), ("exact", "beta")])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_proportion_interval_matches_statsmodels(cases, method, sm_method, alpha):
    """Limits equal statsmodels proportion_confint; k = 0 gives lower exactly 0, k = n upper exactly 1."""
    k, n = cases["k"].to_numpy(), cases["n"].to_numpy()
    lo, hi = binomial.proportion_interval(k, n, alpha=alpha, method=method)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=alpha, method=sm_method)
    ref_lo, ref_hi = np.asarray(ref_lo, float), np.asarray(ref_hi, float)
    # statsmodels' beta gives nan at k = 0 / k = n; the exact limits there are 0 and 1
    ref_lo = np.where(k == 0, 0.0, ref_lo)
    ref_hi = np.where(k == n, 1.0, ref_hi)
    np.testing.assert_allclose(lo, ref_lo, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hi, ref_hi, rtol=1e-9, atol=1e-12)
    assert np.all(lo[k == 0] == 0.0) and np.all(hi[k == n] == 1.0)
    assert np.all((lo <= k / n) & (k / n <= hi))


def test_proportion_interval_missing_and_zero_trials_are_nan():
    lo, hi = binomial.proportion_interval([np.nan, 0, 5], [10, 0, 10])
    assert np.isnan(lo[:2]).all() and np.isnan(hi[:2]).all()
    assert 0 < lo[2] < 0.5 < hi[2] < 1


def test_bad_arguments_raise():
    with pytest.raises(ModelSpecificationError, match="wilson"):
        binomial.proportion_interval([1], [10], method="wald")
    with pytest.raises(ModelSpecificationError, match="alpha"):
        binomial.proportion_interval([1], [10], alpha=5)
    with pytest.raises(ModelSpecificationError, match="alternative"):
        binomial.binom_test([1], [10], 0.5, alternative="bigger")
    with pytest.raises(ModelSpecificationError, match="p must"):
        binomial.binom_test([1], [10], 85)
    with pytest.raises(DataValidationError, match="row 4") as err:
        binomial.proportion_interval([1, 2, 11], [10, 10, 10])
    assert err.value.rows == [4]
    with pytest.raises(DataValidationError):
        binomial.binom_test([1.5], [10], 0.5)


def test_validate_counts_rows_column_and_kinds():
    """Every bad value is reported at once; row = position + 2 (header is row 1)."""
    s = pd.Series(["10", "x", None, "-1", "2.5", "7"])
    with pytest.raises(DataValidationError) as err:
        binomial.validate_counts(s, column="served", expected="counts ≥ 0", path="f.csv")
    e = err.value
    assert e.rows == [3, 4, 5, 6] and e.column == "served" and e.path == "f.csv" and e.expected == "counts ≥ 0"
    for kind in ("non-numeric", "missing", "negative", "not whole"):
        assert kind in str(e)
    with pytest.raises(DataValidationError, match="less than 1") as err:
        binomial.validate_counts([5, 0, 3], column="n", expected="≥ 1", minimum=1)
    assert err.value.rows == [3]


def test_validate_counts_allow_na_and_values():
    out = binomial.validate_counts(pd.Series([3, None, 0], dtype="Int64"), column="m", expected="≥ 0", allow_na=True)
    assert out.dtype == float and np.isnan(out[1]) and out[0] == 3 and out[2] == 0
    with pytest.raises(DataValidationError, match="row 3"):
        binomial.validate_counts([3, np.inf], column="m", expected="≥ 0", allow_na=True)


def test_validate_counts_uses_spreadsheet_rows_from_the_index():
    """Frames from read_user_table carry the spreadsheet rows in an index named 'row' (here row 5 is blank)."""
    df = pd.DataFrame({"served": [4, 3, -2]}, index=pd.Index([2, 3, 6], name="row"))
    with pytest.raises(DataValidationError) as err:
        binomial.validate_counts(df["served"], column="served", expected="≥ 0")
    assert err.value.rows == [6]
    assert binomial.spreadsheet_rows(df, [0, 2]) == [2, 6]
    assert binomial.spreadsheet_rows(df.reset_index(drop=True), [0, 2]) == [2, 4]
    # the interval and funnel checks of impossible counts name the same rows
    trials = pd.Series([10, 10, 10], index=df.index)
    with pytest.raises(DataValidationError) as err:
        binomial.proportion_interval(pd.Series([1, 2, 11], index=df.index), trials)
    assert err.value.rows == [6]
    from analysis import funnel

    with pytest.raises(DataValidationError) as err:
        funnel.classify(pd.Series([1, 2, 12], index=df.index), trials, 0.5)
    assert err.value.rows == [6]
