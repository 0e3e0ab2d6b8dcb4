"""Reported figures beside the census for the same regions (notebook 04).

>>> from analysis.extract.census import compare_with_census
>>> cmp = compare_with_census(indicators, data.load("county_census", region_code=codes))
>>> cmp.table          # one row per region × indicator × year × source, census intervals where they exist
>>> cmp.plot(lang="zh")  # reported SRBs against the census age-0 sex ratios with their intervals

Kept apart from :mod:`analysis.extract` (which ``python -m analysis extract`` imports) because it needs the
statistics and plotting stack. A reported **sex ratio at birth** is set against the census **age-0 sex ratio**, a
proxy for the SRB (it also reflects infant mortality and under-registration), with a Wilson score interval on the
census counts (:func:`analysis.srb.estimate`); a reported **birth rate** (‰) against the census birth rate; a
reported **total population** against the census population.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis import plots, srb
from analysis.data import regions
from analysis.exceptions import DataValidationError
from analysis.results import Result

__all__ = ["INDICATORS", "CensusComparison", "compare_with_census"]

#: Indicator keys (of the vocabulary) that the census can check, and the census column of each.
INDICATORS: dict[str, str] = {
    "sex_ratio_at_birth": "age0_males/age0_females",
    "birth_rate_permille": "birth_rate",
    "resident_population": "population",
    "total_population": "population",  # a report's 总人口: often the registered (户籍) population, shown beside it
}
_COLUMNS = ["region_code", "region", "indicator", "year", "source", "value", "lower", "upper"]
_CENSUS_COLUMNS = ("census", "region_code", "population", "age0_males", "age0_females", "birth_rate")
_INDICATOR_COLUMNS = ("region_code", "indicator_key", "period", "source", "value")


@dataclass(frozen=True, kw_only=True, repr=False)
class CensusComparison(Result):
    """Reported and census values per region × indicator × year (``table``; source "census YYYY …" or
    "report: FILE"); ``lower``/``upper`` only for the census age-0 sex ratio."""

    TITLE = ("Reported figures beside the census", "报告数字与普查对照")

    def plot(self, ax: Axes | None = None, *, lang: Literal["zh", "en"] = "en") -> Axes:
        """Each region's reported SRBs (diamonds) beside its census age-0 sex ratios with their intervals, one
        colour per census year; regions as rows (named by :func:`analysis.data.regions.display_names`)."""
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.gca()
        t = self.table[self.table["indicator"] == "sex_ratio_at_birth"]
        units = list(dict.fromkeys(t["region_code"]))
        census = t[t["source"].str.startswith("census")]
        years = sorted(census["year"].dropna().unique())
        zh = lang == "zh"
        ci = plots.ci_label(self.params["alpha"], lang)
        for k, year in enumerate(years):
            c = census[census["year"] == year]
            ypos = np.array([units.index(code) for code in c["region_code"]]) + 0.15 * (k - (len(years) - 1) / 2)
            plots.ci_errorbar(ax, ypos, c["value"], c["lower"], c["upper"], orient="h", color=f"C{k}",
                              label=f"{year}年普查0岁人口性别比（代理指标；{ci}）" if zh
                              else f"Census {year} age-0 sex ratio (proxy), {ci}")  # fmt: skip
        rep = t[t["source"].str.startswith("report")]
        ax.scatter(rep["value"], [units.index(code) for code in rep["region_code"]], marker="D", s=36, color="C3",
                   zorder=3, label="报告值" if zh else "Reported")  # fmt: skip
        zh_names = t.drop_duplicates("region_code").set_index("region_code")["region"]
        names = regions.display_names(units, lang, fallback=[zh_names[code] for code in units])
        ax.set_yticks(range(len(units)), [f"{name}（{code}）" if zh else f"{name} ({code})"
                                          for name, code in zip(names, units, strict=True)])  # fmt: skip
        ax.set_ylim(len(units) - 0.5, -0.5)  # first region on top
        ax.set_xlabel("性别比（女=100）" if lang == "zh" else "Sex ratio (males per 100 females)")
        ax.legend(frameon=False, fontsize=8)
        return ax


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(f"compare_with_census: {what} lacks column(s) {missing}; expected {list(columns)}")


def compare_with_census(
    indicators: pd.DataFrame, census: pd.DataFrame | None, *, alpha: float = 0.05
) -> CensusComparison:
    """Reported statements of :data:`INDICATORS` with a resolved ``region_code`` (from
    :func:`analysis.extract.extract_report`), and the census values of the same regions.

    ``census``: rows of the ``county_census`` table (census, region_code, population, age0_males, age0_females,
    birth_rate), or None where the census could not be read (the reported rows only). The year of a statement
    is the first four digits of its period (empty if it has none). The age-0 sex ratio gets a Wilson score
    (1 − ``alpha``) interval; census rows without age-0 counts, or without a birth rate, give no row for that
    indicator. Region names (``region``, Chinese) come from the region registry.
    """
    _require(indicators, _INDICATOR_COLUMNS, "the indicator table")
    if census is None:
        census = pd.DataFrame(columns=list(_CENSUS_COLUMNS))
    _require(census, _CENSUS_COLUMNS, "the census table")
    codes = indicators["region_code"].astype("string").fillna("")
    reported = indicators[indicators["indicator_key"].isin(list(INDICATORS)) & (codes != "")]
    wanted = set(reported["region_code"])
    census = census[census["region_code"].isin(wanted)]
    rows: list[dict] = []
    age0 = census.dropna(subset=["age0_males", "age0_females"])
    if len(age0):
        est = srb.estimate(age0, males="age0_males", females="age0_females", by=["region_code", "census"],
                           alpha=alpha, method="wilson").table  # fmt: skip
        rows += [{"region_code": r.region_code, "indicator": "sex_ratio_at_birth", "year": int(r.census),
                  "source": f"census {int(r.census)} (age-0 proxy)", "value": r.srb, "lower": r.lower,
                  "upper": r.upper} for r in est.itertuples()]  # fmt: skip
    for r in census.itertuples():
        rows.append({"region_code": r.region_code, "indicator": "resident_population", "year": int(r.census),
                     "source": f"census {int(r.census)}", "value": float(r.population)})  # fmt: skip
        if pd.notna(r.birth_rate):
            rows.append({"region_code": r.region_code, "indicator": "birth_rate_permille", "year": int(r.census),
                         "source": f"census {int(r.census)}", "value": float(r.birth_rate)})  # fmt: skip
    for r in reported.itertuples():
        head = str(r.period)[:4]
        rows.append({"region_code": r.region_code, "indicator": r.indicator_key,
                     "year": int(head) if head.isdigit() else None, "source": f"report: {r.source}",
                     "value": float(r.value)})  # fmt: skip
    table = pd.DataFrame(rows, columns=[c for c in _COLUMNS if c != "region"])
    table["year"] = table["year"].astype("Int64")
    table[["lower", "upper"]] = table[["lower", "upper"]].astype(float)
    table.insert(1, "region", table["region_code"].map({c: regions.lookup(c).name_zh for c in wanted}))
    order = {k: i for i, k in enumerate(INDICATORS)}  # 总人口 right after the census residents it is set beside
    table = table.sort_values(["indicator", "region_code", "year", "source"], key=lambda s: s.map(order).fillna(
        len(order)) if s.name == "indicator" else s).reset_index(drop=True)
    return CensusComparison(
        table=table,
        method=f"reported values beside the census; age-0 sex ratio with a Wilson score {100 * (1 - alpha):g}% "
        "interval on the census counts (a proxy for the SRB); the census population is the resident population "
        "(常住人口), compared with reported 常住人口; a report's 总人口 is listed after it but is often the registered "
        "(户籍) population, which differs where many people live away from their hukou",
        method_zh=f"报告值与人口普查并列；0 岁人口性别比及其基于普查计数的 Wilson 得分 {100 * (1 - alpha):g}% 置信区间"
        "（出生性别比的代理指标）；普查人口为常住人口，与报告的常住人口比较；报告的总人口列在其后，但常为户籍人口，"
        "在大量人口人户分离的地区与常住人口不同",
        params={"alpha": alpha, "reported_statements": len(reported), "regions": len(wanted),
                "census_rows": len(census)},  # fmt: skip
    )
