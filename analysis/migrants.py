"""Migrant ("floating") population burden from the 2010 and 2020 county census tables.

"Migrants" are residents whose hukou (household registration) is in another township/street, by origin:
same county, another county of the same province, another province (columns ``migrants_same_county``,
``migrants_other_county``, ``migrants_other_province`` of ``load("county_census")``). Shares are of the resident
population of the unit. The 2010 and 2020 definitions differ (2010: in-migrants by origin in the county
tabulation, with "same county" meaning same county/city urban area; see ``data/README.md``), so the
2010 → 2020 change mixes real change with a definition change: read it as indicative.

The relation with the age-0 sex ratio is ECOLOGICAL (districts, not people: a district with more migrants and
a higher ratio does not show that migrants' children are more male) and the age-0 sex ratio is only a PROXY for
the sex ratio at birth (infant mortality differences, under-registration of girls, census timing).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.config import NATION_CODE
from analysis.exceptions import AnalysisError, DataValidationError, ModelSpecificationError
from analysis.results import Result

__all__ = [
    "ORIGINS",
    "CAVEAT_ECOLOGICAL",
    "CAVEAT_DEFINITIONS",
    "burden",
    "change",
    "rank",
    "subunits",
    "profile",
    "sex_ratio_relation",
    "BurdenResult",
    "SexRatioRelationResult",
]

#: Origin columns of ``county_census`` and their short names.
ORIGINS: dict[str, str] = {
    "same_county": "migrants_same_county",
    "other_county": "migrants_other_county",
    "other_province": "migrants_other_province",
}
LEVELS = ("nation", "province", "prefecture", "county")

CAVEAT_ECOLOGICAL = (
    "Ecological association across districts, not an individual-level effect; the age-0 sex ratio is only a "
    "proxy for the sex ratio at birth (infant-mortality differences, under-registration of girls, census timing)."
)
CAVEAT_DEFINITIONS = (
    "2010 and 2020 migrant definitions differ (2010 county tabulation: in-migrants by origin; 2020: population "
    "living away from its hukou township by origin) — see data/README.md; the change is indicative."
)


def _census_table(data: pd.DataFrame | None) -> pd.DataFrame:
    if data is None:
        from analysis.data import load

        data = load("county_census")
    needed = ["census", "region_code", "name_zh", "level", "province_code", "prefecture_code", "population",
              *ORIGINS.values()]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise DataValidationError(f"county census table lacks column(s) {missing}", column=missing[0])
    return data


def burden(data: pd.DataFrame | None = None, *, census: int | None = None, level: str | None = None) -> pd.DataFrame:
    """Migrant counts and shares for every unit (nation row added as the sum of the provinces).

    Columns: census, region_code, name_zh, level, province_code, prefecture_code, population, migrants (sum of
    the three origins), the three origin counts, share (migrants/population), share_<origin> (proportions 0–1),
    other_province_of_migrants (share of migrants coming from another province). Units whose population or
    migrant counts are missing are kept with NA shares.
    """
    df = _census_table(data).copy()
    prov = df[df["level"] == "province"]
    summed = ["population", *ORIGINS.values()] + [c for c in ("age0_males", "age0_females") if c in df.columns]
    sums = prov.groupby("census", as_index=False)[summed].sum(min_count=1)
    sums = sums.assign(region_code=NATION_CODE, name_zh="全国", level="nation", province_code=pd.NA,
                       prefecture_code=pd.NA)
    df = pd.concat([sums, df], ignore_index=True)
    if census is not None:
        df = df[df["census"] == census]
    if level is not None:
        if level not in LEVELS:
            raise AnalysisError(f"level must be one of {LEVELS}, got {level!r}")
        df = df[df["level"] == level]
    out = df[["census", "region_code", "name_zh", "level", "province_code", "prefecture_code", "population"]].copy()
    pop = pd.to_numeric(df["population"]).astype("Float64")
    counts = {k: pd.to_numeric(df[c]).astype("Int64") for k, c in ORIGINS.items()}
    total = counts["same_county"] + counts["other_county"] + counts["other_province"]
    out["migrants"] = total
    for k in ORIGINS:
        out[k] = counts[k]
    pos = pop.where(pop > 0)
    out["share"] = (total.astype("Float64") / pos).astype(float)
    for k in ORIGINS:
        out[f"share_{k}"] = (counts[k].astype("Float64") / pos).astype(float)
    for col in ("age0_males", "age0_females"):
        if col in df.columns:
            out[col] = pd.to_numeric(df[col]).astype("Int64")
    out["other_province_of_migrants"] = (
        counts["other_province"].astype("Float64") / total.astype("Float64").where(total > 0)).astype(float)
    return out.reset_index(drop=True)


def change(data: pd.DataFrame | None = None, *, level: str | None = None) -> pd.DataFrame:
    """2010 vs 2020 per region code: shares in both censuses and the change in percentage points.

    Units are matched by code; a code present in only one census (boundary changes) keeps NA for the other
    (never dropped). Columns: region_code, name_zh, level, province_code, prefecture_code, share_2010,
    share_2020, change_pp, and per origin share_<origin>_2010/_2020/change_<origin>_pp, migrants_2010/2020.
    """
    b = burden(data, level=level)
    b = b[b["region_code"].notna()]
    cols = ["share", *[f"share_{k}" for k in ORIGINS], "migrants", "population"]
    wide = b.pivot_table(index="region_code", columns="census", values=cols, aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for c in cols:
        for yr in (2010, 2020):
            out[f"{c}_{yr}"] = wide[(c, yr)] if (c, yr) in wide.columns else np.nan
    out["change_pp"] = 100 * (out["share_2020"] - out["share_2010"])
    for k in ORIGINS:
        out[f"change_{k}_pp"] = 100 * (out[f"share_{k}_2020"] - out[f"share_{k}_2010"])
    meta = (b.sort_values("census", ascending=False)
            .drop_duplicates("region_code")[["region_code", "name_zh", "level", "province_code", "prefecture_code"]])
    return meta.merge(out.reset_index(), on="region_code", how="right").sort_values("region_code").reset_index(
        drop=True)


def rank(table: pd.DataFrame, *, by: str = "share", ascending: bool = False) -> pd.DataFrame:
    """Add ``rank`` (1 = highest ``by`` unless ``ascending``; ties share the lowest rank; NA last, unranked)."""
    if by not in table.columns:
        raise AnalysisError(f"cannot rank by {by!r}: not a column ({list(table.columns)})")
    out = table.copy()
    out["rank"] = out[by].rank(ascending=ascending, method="min").astype("Int64")
    return out.sort_values(["rank", "region_code"], na_position="last").reset_index(drop=True)


def subunits(region: str, data: pd.DataFrame | None = None, *, census: int = 2020) -> pd.DataFrame:
    """The units one level below ``region`` (a 6-digit code) with 2010/2020 shares and change, ranked by
    the ``census`` share. Nation → provinces; province → prefectures (counties where the province has fewer
    than two prefecture units, as in the municipalities); prefecture → counties; county → empty table."""
    ch = change(data)
    code = str(region)
    lvl = "nation" if code == NATION_CODE else ch.loc[ch["region_code"] == code, "level"].squeeze()
    if isinstance(lvl, pd.Series):
        raise AnalysisError(f"region {code} is not in the county census table")
    if lvl == "nation":
        sub = ch[ch["level"] == "province"]
    elif lvl == "province":
        sub = ch[(ch["level"] == "prefecture") & (ch["province_code"] == code)]
        if len(sub) < 2:
            sub = ch[(ch["level"] == "county") & (ch["province_code"] == code)]
    elif lvl == "prefecture":
        sub = ch[(ch["level"] == "county") & (ch["prefecture_code"] == code)]
    else:
        sub = ch.iloc[0:0]
    return rank(sub, by=f"share_{census}")


@dataclass(frozen=True, kw_only=True)
class BurdenResult(Result):
    """A region's migrant burden 2010 → 2020 beside its parent region and the nation."""

    region_code: str

    def plot(self, ax: Axes | None = None, *, lang: str = "zh") -> Axes:
        """Stacked bars of migrant shares (%) by origin, 2010 and 2020, for the region, parent and nation."""
        ax = ax if ax is not None else plt.gca()
        t = self.table
        names = {"zh": {"same_county": "本县", "other_county": "本省其他县", "other_province": "外省",
                        "ylabel": "人户分离人口占常住人口 (%)"},
                 "en": {"same_county": "same county", "other_county": "other county, same province",
                        "other_province": "other province", "ylabel": "migrants, % of residents"}}[lang]
        xlabels = [f"{r.name_zh}\n{r.census}" for r in t.itertuples()]
        x = np.arange(len(t))
        bottom = np.zeros(len(t))
        for i, k in enumerate(ORIGINS):
            vals = 100 * t[f"share_{k}"].to_numpy(dtype=float, na_value=np.nan)
            ax.bar(x, np.nan_to_num(vals), bottom=bottom, color=f"C{i}", label=names[k], width=0.7)
            bottom += np.nan_to_num(vals)
        ax.set_xticks(x, labels=xlabels, fontsize=8)
        ax.set_ylabel(names["ylabel"])
        ax.legend(frameon=False, fontsize=8)
        return ax


def profile(region: str, data: pd.DataFrame | None = None) -> BurdenResult:
    """Migrant shares of ``region`` (code), its parent (province for a prefecture; prefecture, or province when
    the county has no prefecture code, for a county) and the nation, 2010 and 2020, one row per unit × census,
    with the change in percentage points since 2010."""
    b = burden(data)
    code = str(region)
    rows = b[b["region_code"] == code]
    if rows.empty:
        raise AnalysisError(f"region {code} is not in the county census table")
    latest = rows.sort_values("census").iloc[-1]
    chain = [code]
    if latest["level"] == "county" and pd.notna(latest["prefecture_code"]) and latest["prefecture_code"] != code:
        chain.append(latest["prefecture_code"])
    elif latest["level"] in ("county", "prefecture") and pd.notna(latest["province_code"]):
        chain.append(latest["province_code"])
    if code != NATION_CODE:
        chain.append(NATION_CODE)
    roles = ["region"] + (["parent"] if len(chain) == 3 else []) + (["nation"] if code != NATION_CODE else [])
    parts = [b[b["region_code"] == c].assign(role=role) for role, c in zip(roles, chain, strict=True)]
    table = pd.concat(parts, ignore_index=True).sort_values(["role", "census"], key=_role_order).reset_index(
        drop=True)
    first = table.groupby("region_code")["share"].transform("first")
    table["change_pp_since_2010"] = np.where(table["census"] == 2020, 100 * (table["share"] - first), np.nan)
    cols = ["role", "census", "region_code", "name_zh", "level", "population", "migrants", *ORIGINS,
            "share", *[f"share_{k}" for k in ORIGINS], "other_province_of_migrants", "change_pp_since_2010"]
    return BurdenResult(table=table[cols], method="census counts; shares of resident population. "
                        + CAVEAT_DEFINITIONS, params={"region": code}, region_code=code)


def _role_order(s: pd.Series) -> pd.Series:
    if s.name == "role":
        return s.map({"region": 0, "parent": 1, "nation": 2})
    return s


@dataclass(frozen=True, kw_only=True)
class SexRatioRelationResult(Result):
    """Binomial GLM of the age-0 male share on the migrant share; ``data`` holds the units used."""

    data: pd.DataFrame
    curve: pd.DataFrame
    dispersion: float
    caveat: str = CAVEAT_ECOLOGICAL

    def plot(self, ax: Axes | None = None, *, lang: str = "zh") -> Axes:
        """Age-0 sex ratio (males per 100 females) against migrant share (%), point size ∝ age-0 population,
        with the fitted curve and its confidence band."""
        ax = ax if ax is not None else plt.gca()
        d = self.data
        size = 4 + 40 * np.sqrt(d["age0"] / d["age0"].max())
        ax.scatter(100 * d["x_share"], d["sex_ratio"], s=size, alpha=0.35, color="C0", linewidth=0)
        grid = self.curve
        ax.plot(grid["share_pct"], grid["sex_ratio"], color="C3", lw=1.5)
        ax.fill_between(grid["share_pct"], grid["lower"], grid["upper"], color="C3", alpha=0.2, linewidth=0)
        ax.axhline(105, color="0.5", lw=0.8, ls=":")
        if lang == "zh":
            ax.set_xlabel("人户分离人口占常住人口 (%)")
            ax.set_ylabel("0岁人口性别比 (女=100, 出生性别比的近似)")
        else:
            ax.set_xlabel("migrants, % of residents")
            ax.set_ylabel("age-0 sex ratio (males per 100 females; SRB proxy)")
        ax.set_ylim(max(80, float(np.nanpercentile(d["sex_ratio"], 0.5)) - 5),
                    float(np.nanpercentile(d["sex_ratio"], 99.5)) + 5)
        return ax


def sex_ratio_relation(
    data: pd.DataFrame | None = None,
    *,
    census: int = 2020,
    level: str = "county",
    origin: str = "all",
    within: str | None = None,
    alpha: float = 0.05,
) -> SexRatioRelationResult:
    """Quasi-binomial GLM (logit) of age-0 boys among age-0 children on the unit's migrant share.

    ``origin`` = "all" or one of :data:`ORIGINS`; ``within`` = a province or prefecture code to restrict units.
    The coefficient is reported per 10 percentage points of migrant share as an odds ratio (= ratio of the
    age-0 sex ratios); standard errors are scaled by the Pearson dispersion (quasi-binomial; McCullagh & Nelder
    1989 §4.5), since units differ far more than binomial sampling allows. Units lacking age-0 counts are
    excluded and listed in ``params['excluded']``. ECOLOGICAL association; age-0 ratio is a PROXY for SRB.
    """
    import statsmodels.api as sm

    if origin != "all" and origin not in ORIGINS:
        raise ModelSpecificationError(f"origin must be 'all' or one of {list(ORIGINS)}, got {origin!r}")
    raw = _census_table(data)
    for col in ("age0_males", "age0_females"):
        if col not in raw.columns:
            raise DataValidationError("county census table lacks age-0 counts", column=col)
    b = burden(raw, census=census, level=level)
    if within is not None:
        w = str(within)
        b = b[(b["province_code"] == w) | (b["prefecture_code"] == w)]
    x_col = "share" if origin == "all" else f"share_{origin}"
    ok = b["age0_males"].notna() & b["age0_females"].notna() & b[x_col].notna() & (
        (b["age0_males"] + b["age0_females"]) > 0)
    excluded = b.loc[~ok, "region_code"].fillna(b.loc[~ok, "name_zh"]).astype(str).tolist()
    d = b[ok].copy()
    if len(d) < 3:
        raise ModelSpecificationError(f"only {len(d)} unit(s) with age-0 counts and migrant shares: cannot fit")
    d["x_share"] = d[x_col].astype(float)
    d["age0"] = (d["age0_males"] + d["age0_females"]).astype(float)
    d["sex_ratio"] = 100 * d["age0_males"].astype(float) / d["age0_females"].astype(float)
    endog = np.column_stack([d["age0_males"].to_numpy(float), d["age0_females"].to_numpy(float)])
    exog = sm.add_constant(10 * d["x_share"].to_numpy())  # per 10 percentage points
    model = sm.GLM(endog, exog, family=sm.families.Binomial())
    # Pearson dispersion computed from the binomial fit: statsmodels' scale="X2" does not weight by the number
    # of trials when endog is given as (successes, failures), so it is passed as a number.
    binom_fit = model.fit()
    dispersion = float(binom_fit.pearson_chi2 / binom_fit.df_resid)
    fit = model.fit(scale=dispersion)
    ci = fit.conf_int(alpha=alpha)
    table = pd.DataFrame({
        "term": ["intercept (sex ratio at 0 % migrants)", "per 10 pp migrant share (ratio of sex ratios)"],
        "estimate": fit.params, "se": fit.bse,
        "ratio": [100 * np.exp(fit.params[0]), np.exp(fit.params[1])],
        "lower": [100 * np.exp(ci[0, 0]), np.exp(ci[1, 0])],
        "upper": [100 * np.exp(ci[0, 1]), np.exp(ci[1, 1])],
        "p_value": fit.pvalues,
    })
    grid_share = np.linspace(d["x_share"].min(), d["x_share"].max(), 60)
    pred = fit.get_prediction(sm.add_constant(10 * grid_share)).summary_frame(alpha=alpha)
    to_sr = lambda p: 100 * p / (1 - p)  # noqa: E731
    curve = pd.DataFrame({"share_pct": 100 * grid_share, "sex_ratio": to_sr(pred["mean"].to_numpy()),
                          "lower": to_sr(pred["mean_ci_lower"].to_numpy()),
                          "upper": to_sr(pred["mean_ci_upper"].to_numpy())})
    params = {"census": census, "level": level, "origin": origin, "within": within, "alpha": alpha,
              "n_units": len(d), "excluded": excluded, "dispersion": dispersion}
    method = (f"quasi-binomial GLM (logit) of age-0 boys on migrant share ({origin}), {level} units, census "
              f"{census}; Pearson dispersion {dispersion:.3g}. {CAVEAT_ECOLOGICAL}")
    d = d[["region_code", "name_zh", "province_code", "x_share", "age0_males", "age0_females", "age0",
           "sex_ratio"]].reset_index(drop=True)
    return SexRatioRelationResult(table=table, method=method, params=params, data=d, curve=curve,
                                   dispersion=dispersion)
