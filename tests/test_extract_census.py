"""analysis.extract.census: reported figures beside the census, checked by hand on made-up counts (the census
frame is a hand-written stand-in with the county_census columns; region codes are real, for the names)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from scipy import stats

from analysis.exceptions import DataValidationError
from analysis.extract.census import compare_with_census


def _indicators() -> pd.DataFrame:
    return pd.DataFrame({
        "source": ["a.txt", "a.txt", "b.txt", "b.txt", "b.txt"],
        "region_code": ["510703", "510703", "510704", "", "510704"],
        "indicator_key": ["sex_ratio_at_birth", "total_population", "sex_ratio_at_birth", "sex_ratio_at_birth",
                          "contraceptive_prevalence"],
        "period": ["2016", "2016-09-30", "", "2016", "2016"],
        "value": [109.3, 560000.0, 104.1, 120.0, 91.0],
    })  # fmt: skip


def _census() -> pd.DataFrame:
    return pd.DataFrame({
        "census": [2010, 2020, 2010, 2020, 2020],
        "region_code": ["510703", "510703", "510704", "510704", "440103"],
        "population": [600000, 650000, 500000, 520000, 1],
        "age0_males": [3200, 2900, np.nan, 2500, 10],
        "age0_females": [2800, 2750, np.nan, 2400, 10],
        "birth_rate": [9.5, np.nan, 8.0, np.nan, 7.0],
    })  # fmt: skip


def test_rows_by_hand_with_wilson_interval():
    """Reported rows only for the checkable indicators with a region (the unresolved and the contraception rows
    are left out); census rows only for the reported regions; the age-0 ratio 100·M/F with its Wilson interval
    on the male share, by hand: (p̂ + z²/2n ± z√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), SRB = 100·p/(1−p)."""
    res = compare_with_census(_indicators(), _census(), alpha=0.1)
    t = res.table
    assert set(t["region_code"]) == {"510703", "510704"}
    assert set(t["region"]) == {"涪城区", "游仙区"}
    rep = t[t["source"].str.startswith("report")]
    assert sorted(zip(rep["region_code"], rep["indicator"], rep["year"].astype("float").fillna(0), strict=True)) == [
        ("510703", "sex_ratio_at_birth", 2016), ("510703", "total_population", 2016),
        ("510704", "sex_ratio_at_birth", 0)]  # fmt: skip
    age0 = t[(t["indicator"] == "sex_ratio_at_birth") & t["source"].str.startswith("census")]
    assert len(age0) == 3  # 510704 has no 2010 age-0 counts
    row = age0[(age0["region_code"] == "510703") & (age0["year"] == 2010)].iloc[0]
    m, n, z = 3200, 6000, stats.norm.ppf(0.95)
    p = m / n
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    lo, hi = (((p + z**2 / (2 * n)) + sign * half) / (1 + z**2 / n) for sign in (-1, 1))
    assert row["value"] == pytest.approx(100 * 3200 / 2800)
    assert (row["lower"], row["upper"]) == pytest.approx((100 * lo / (1 - lo), 100 * hi / (1 - hi)))
    rates = t[t["indicator"] == "birth_rate_permille"]
    assert sorted(zip(rates["region_code"], rates["value"], strict=True)) == [("510703", 9.5), ("510704", 8.0)]
    pop = t[(t["indicator"] == "resident_population") & t["source"].str.startswith("census")]
    assert pop["lower"].isna().all() and len(pop) == 4
    # residents (常住人口), not the registered (户籍) population a report's 总人口 often is: the census rows are
    # resident_population and the reported 总人口 is listed right after them, under its own name
    assert not (t["source"].str.startswith("census") & (t["indicator"] == "total_population")).any()
    assert "户籍" in res.method and "compared with reported 常住人口" in res.method
    ind = t.loc[t["region_code"] == "510703", "indicator"].tolist()
    assert ind.index("total_population") == len(ind) - 1 and ind[-2] == "resident_population"
    resident = compare_with_census(_indicators().assign(indicator_key=lambda d: d["indicator_key"].replace(
        "total_population", "resident_population")), _census()).table
    assert ((resident["indicator"] == "resident_population") & resident["source"].str.startswith("report")).sum() == 1
    assert res.params["reported_statements"] == 3 and "Wilson score 90%" in res.method


def test_without_census_and_bad_columns():
    only = compare_with_census(_indicators(), None)
    assert (only.table["source"].str.startswith("report")).all() and len(only.table) == 3
    with pytest.raises(DataValidationError, match=r"census table lacks column\(s\) \['birth_rate'\]"):
        compare_with_census(_indicators(), _census().drop(columns="birth_rate"))
    with pytest.raises(DataValidationError, match="indicator table lacks"):
        compare_with_census(_indicators().drop(columns="period"), _census())


def test_plot_colours_by_census_year_and_names_the_interval():
    """A region with only the 2020 census gets 2020's colour (not the first colour), and the legend says what the
    bars are; the reported values are diamonds on their region's row."""
    res = compare_with_census(_indicators(), _census())
    fig, ax = plt.subplots()
    res.plot(ax=ax, lang="zh")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "2020年普查0岁人口性别比（代理指标；95%置信区间）" in labels and "报告值" in labels
    line_2020 = {c.get_label(): c for c in ax.containers}["2020年普查0岁人口性别比（代理指标；95%置信区间）"].lines[0]
    assert sorted(line_2020.get_xdata()) == pytest.approx(sorted([100 * 2900 / 2750, 100 * 2500 / 2400]))
    assert to_hex(line_2020.get_color()) == to_hex("C1")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["涪城区（510703）", "游仙区（510704）"]
    diamonds = ax.collections[-1].get_offsets()
    assert sorted(map(tuple, np.asarray(diamonds))) == [(104.1, 1.0), (109.3, 0.0)]
    plt.close(fig)
