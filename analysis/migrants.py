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

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis import plots
from analysis.config import NATION_CODE
from analysis.data import regions
from analysis.exceptions import AnalysisError, DataValidationError, ModelSpecificationError
from analysis.narrative import count, p_text
from analysis.results import Result

__all__ = [
    "ORIGINS",
    "CAVEAT_ECOLOGICAL",
    "CAVEAT_DEFINITIONS",
    "CAVEATS_ZH",
    "burden",
    "change",
    "rank",
    "subunits",
    "rankings",
    "profile",
    "describe_profile",
    "describe_sex_ratio_relation",
    "plot_ranking",
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
#: Origins in Chinese ("all": every migrant).
ORIGINS_ZH = {"all": "全部", "same_county": "本县", "other_county": "本省其他县", "other_province": "外省"}
LEVELS = ("nation", "province", "prefecture", "county")
#: Prefecture-level rows of the census tables that group counties without being a prefecture.
_PLACEHOLDER_PREFECTURES = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")

CAVEAT_ECOLOGICAL = (
    "Ecological association across districts, not an individual-level effect; the age-0 sex ratio is only a "
    "proxy for the sex ratio at birth (infant-mortality differences, under-registration of girls, census timing)."
)
CAVEAT_DEFINITIONS = (
    "2010 and 2020 figures come from different tables (2010 county tabulation 迁入人口 by origin, where for city "
    "districts 'same county' means the city's urban districts; 2020 yearbook 户口登记地在外乡镇街道人口) — see "
    "data/README.md; read the 2010 → 2020 change as indicative."
)
#: The axis label of a migrant share.
_SHARE_LABEL = {"zh": "人户分离人口占常住人口（%）", "en": "Living away from hukou township, % of residents"}
#: The caveats in Chinese (``CAVEATS_ZH[CAVEAT_ECOLOGICAL]``), for text in the notebook's language.
CAVEATS_ZH = {
    CAVEAT_ECOLOGICAL: "这是地区之间的生态学关联，并非个体层面的效应；0 岁人口性别比只是出生性别比的代理指标（还受婴儿死亡率差异、"
                       "女婴漏登和普查时点影响）。",
    CAVEAT_DEFINITIONS: "2010 年与 2020 年的数字来自不同的表（2010 年为分县迁入人口按来源地汇总，市辖区的“本县”指该市的全部市辖区；"
                        "2020 年为年鉴中的户口登记地在外乡镇街道人口），详见 data/README.md；2010 → 2020 年的变化仅供参考。",
}


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

    ``level`` keeps one level; ``"lowest"`` keeps the county rows plus the prefecture rows that have no county
    rows in that census (e.g. 东莞, 中山 in 2020), which together cover the country once
    (:func:`analysis.data.regions.lowest_units`).

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
    if level == "lowest":
        df = df[regions.lowest_units(df)]
    elif level is not None:
        if level not in LEVELS:
            raise AnalysisError(f"level must be one of {LEVELS} or 'lowest', got {level!r}")
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

    Units are matched by code; a code present in only one census (boundary changes) keeps NA for the other,
    and units without a code (NA region_code) are kept unmatched (never dropped). Columns: region_code, name_zh, level, province_code, prefecture_code, share_2010,
    share_2020, change_pp, and per origin share_<origin>_2010/_2020/change_<origin>_pp, migrants_2010/2020.
    """
    b = burden(data, level=level)
    # units without a GB/T code (development zones, ...) cannot be matched: keyed by name, kept with NA
    nocode = "nocode:" + b["province_code"].fillna("") + ":" + b["prefecture_code"].fillna("") + ":" + b["name_zh"]
    b = b.assign(_key=b["region_code"].fillna(nocode))
    cols = ["share", *[f"share_{k}" for k in ORIGINS], "migrants", "population"]
    wide = b.pivot_table(index="_key", columns="census", values=cols, aggfunc="first", dropna=False)
    out = pd.DataFrame(index=wide.index)
    for c in cols:
        for yr in (2010, 2020):
            out[f"{c}_{yr}"] = wide[(c, yr)].astype(float) if (c, yr) in wide.columns else np.nan
    out["change_pp"] = 100 * (out["share_2020"] - out["share_2010"])
    for k in ORIGINS:
        out[f"change_{k}_pp"] = 100 * (out[f"share_{k}_2020"] - out[f"share_{k}_2010"])
    meta = (b.sort_values("census", ascending=False)
            .drop_duplicates("_key")[["_key", "region_code", "name_zh", "level", "province_code", "prefecture_code"]])
    merged = meta.merge(out.reset_index(), on="_key", how="right")
    return merged.sort_values(["region_code", "_key"], na_position="last").drop(columns="_key").reset_index(
        drop=True)


def rank(table: pd.DataFrame, *, by: str = "share", ascending: bool = False) -> pd.DataFrame:
    """Add ``rank`` (1 = highest ``by`` unless ``ascending``; ties share the lowest rank; NA last, unranked)."""
    if by not in table.columns:
        raise AnalysisError(f"cannot rank by {by!r}: not a column ({list(table.columns)})")
    out = table.copy()
    out["rank"] = out[by].rank(ascending=ascending, method="min").astype("Int64")
    return out.sort_values(["rank", "region_code"], na_position="last").reset_index(drop=True)


def rankings(data: pd.DataFrame | None = None, *, census: int = 2020, by: str = "share") -> pd.DataFrame:
    """Every province, prefecture and county with its 2010/2020 shares and change (:func:`change`) and two
    ranks by ``by`` in ``census`` (1 = highest): ``rank_national`` among units of the same level and
    ``rank_in_province`` among units of the same level in the same province. Units without a value stay
    unranked (NA), never dropped."""
    if census not in (2010, 2020):
        raise AnalysisError(f"census must be 2010 or 2020, got {census!r}")
    ch = change(data)
    ch = ch[ch["level"] != "nation"].copy()
    col = f"{by}_{census}"
    if col not in ch.columns:
        raise AnalysisError(f"cannot rank by {by!r}: no column {col!r}")
    ch["rank_national"] = ch.groupby("level")[col].rank(ascending=False, method="min").astype("Int64")
    ch["rank_in_province"] = ch.groupby(["level", "province_code"])[col].rank(
        ascending=False, method="min").astype("Int64")
    return ch.sort_values(["level", "rank_national"], na_position="last").reset_index(drop=True)


def subunits(region: str, data: pd.DataFrame | None = None, *, census: int = 2020) -> pd.DataFrame:
    """The units one level below ``region`` (a 6-digit code) with 2010/2020 shares and change, ranked by
    the ``census`` share. Nation → provinces; province → prefectures (counties where the province has fewer
    than two real prefectures, as the municipalities with only 市辖区/县 units); prefecture → counties (none for
    a prefecture city without counties, whose 2010 table has a single 市辖区 row for the whole city); county →
    empty table."""
    ch = change(data)
    code = str(region)
    lvl = "nation" if code == NATION_CODE else ch.loc[ch["region_code"] == code, "level"].squeeze()
    if isinstance(lvl, pd.Series):
        raise AnalysisError(f"region {code} is not in the county census table")
    if lvl == "nation":
        sub = ch[ch["level"] == "province"]
    elif lvl == "province":
        sub = ch[(ch["level"] == "prefecture") & (ch["province_code"] == code)]
        if (~sub["name_zh"].isin(_PLACEHOLDER_PREFECTURES)).sum() < 2:
            sub = ch[(ch["level"] == "county") & (ch["province_code"] == code)]
    elif lvl == "prefecture":
        sub = ch[(ch["level"] == "county") & (ch["prefecture_code"] == code)]
        if sub["name_zh"].isin(_PLACEHOLDER_PREFECTURES).all():  # a city without counties (东莞 2010: one 市辖区 row)
            sub = sub.iloc[0:0]
    else:
        sub = ch.iloc[0:0]
    return rank(sub, by=f"share_{census}")


@dataclass(frozen=True, kw_only=True, repr=False)
class BurdenResult(Result):
    """A region's migrant burden 2010 → 2020 beside its parent region and the nation."""

    TITLE = ("Population away from household registration", "人户分离人口")

    region_code: str

    def plot(self, ax: Axes | None = None, *, lang: str = "zh") -> Axes:
        """Stacked bars of migrant shares (%) by origin, 2010 and 2020, for the region, parent and nation (named
        in English where the registry has English names, with ``lang="en"``)."""
        ax = ax if ax is not None else plt.gca()
        t = self.table
        names = {"zh": {**ORIGINS_ZH, "ylabel": _SHARE_LABEL["zh"]},
                 "en": {"same_county": "Same county", "other_county": "Other county, same province",
                        "other_province": "Other province", "ylabel": _SHARE_LABEL["en"]}}[lang]
        names_shown = regions.display_names(t["region_code"], lang, fallback=t["name_zh"])
        xlabels = [f"{name}\n{census}" for name, census in zip(names_shown, t["census"], strict=True)]
        x = np.arange(len(t))
        bottom = np.zeros(len(t))
        for i, (k, hatch) in enumerate(zip(ORIGINS, ("", "///", "..."), strict=True)):  # hatches: greyscale print
            vals = 100 * t[f"share_{k}"].to_numpy(dtype=float, na_value=np.nan)
            ax.bar(x, np.nan_to_num(vals), bottom=bottom, color=f"C{i}", label=names[k], width=0.7, hatch=hatch,
                   edgecolor="white", linewidth=0)
            bottom += np.nan_to_num(vals)
        ax.set_xticks(x, labels=xlabels, fontsize=8)
        ax.set_ylabel(names["ylabel"])
        plots.legend_on_top(ax)  # above the bars, never across them
        return ax


def profile(region: str, data: pd.DataFrame | None = None) -> BurdenResult:
    """Migrant shares of ``region`` (code), its parent (province for a prefecture; for a county its prefecture,
    or the province when the prefecture is only a 市辖区/县 grouping or missing) and the nation, 2010 and 2020, one row per unit × census,
    with the change in percentage points since 2010."""
    b = burden(data)
    code = str(region)
    rows = b[b["region_code"] == code]
    if rows.empty:
        raise AnalysisError(f"region {code} is not in the county census table")
    latest = rows.sort_values("census").iloc[-1]
    chain = [code]
    pref = latest["prefecture_code"]
    pref_names = b.loc[b["region_code"] == pref, "name_zh"]
    real_pref = pd.notna(pref) and pref != code and not pref_names.isin(_PLACEHOLDER_PREFECTURES).all()
    if latest["level"] == "county" and real_pref:
        chain.append(pref)
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
                        + CAVEAT_DEFINITIONS, method_zh="普查计数；占常住人口的比例。" + CAVEATS_ZH[CAVEAT_DEFINITIONS],
                        params={"region": code}, region_code=code)


def _role_order(s: pd.Series) -> pd.Series:
    if s.name == "role":
        return s.map({"region": 0, "parent": 1, "nation": 2})
    return s


@dataclass(frozen=True, kw_only=True, repr=False)
class SexRatioRelationResult(Result):
    """Binomial GLM of the age-0 male share on the migrant share; ``data`` holds the units used."""

    TITLE = ("Migrant share and the age-0 sex ratio", "人户分离比重与 0 岁人口性别比")

    data: pd.DataFrame
    curve: pd.DataFrame
    dispersion: float
    caveat: str = CAVEAT_ECOLOGICAL

    def plot(self, ax: Axes | None = None, *, lang: str = "zh", reference: float = 106,
             highlight: Sequence[str] | None = None, highlight_label: str | None = None) -> Axes:
        """Age-0 sex ratio (males per 100 females) against migrant share (%), point area ∝ age-0 population,
        with the fitted curve, its (1 − alpha) confidence band and a dotted ``reference`` line, all in the
        legend. ``highlight``: region codes of units drawn outlined (e.g. the run's own units within its province's
        fit), named ``highlight_label`` in the legend."""
        ax = ax if ax is not None else plt.gca()
        zh = lang == "zh"
        d = self.data
        size = 4 + 40 * np.sqrt(d["age0"] / d["age0"].max())
        ax.scatter(100 * d["x_share"], d["sex_ratio"], s=size, alpha=0.35, color="C0", linewidth=0,
                   label="各单位（面积∝0岁人口）" if zh else "Units (area ∝ children aged 0)")  # fmt: skip
        mine = d["region_code"].isin([] if highlight is None else [str(c) for c in highlight]).to_numpy()
        if mine.any():
            ax.scatter(100 * d.loc[mine, "x_share"], d.loc[mine, "sex_ratio"], s=size[mine] + 12, facecolor="none",
                       edgecolor="C1", linewidth=1.2, zorder=3, label=highlight_label)
        grid = self.curve
        ax.plot(grid["share_pct"], grid["sex_ratio"], color="C3", lw=1.5,
                label="拟二项 GLM 拟合" if zh else "Quasi-binomial GLM fit")  # fmt: skip
        ax.fill_between(grid["share_pct"], grid["lower"], grid["upper"], color="C3", alpha=0.2, linewidth=0,
                        label=plots.ci_label(self.params["alpha"], lang))  # fmt: skip
        ax.axhline(reference, color="0.5", lw=0.8, ls=":", label=f"{plots.label('reference', lang)} {reference:g}")
        ax.set_xlabel(_SHARE_LABEL[lang])
        ax.set_ylabel(plots.label("age0_sex_ratio", lang))
        lo, hi = max(80, float(np.nanpercentile(d["sex_ratio"], 0.5)) - 5), float(np.nanpercentile(d["sex_ratio"], 99.5)) + 5
        ax.set_ylim(lo, hi)
        out = d[(d["sex_ratio"] < lo) | (d["sex_ratio"] > hi)]
        if len(out):  # never silently: the units left outside the y-range, with their extremes
            ax.text(0.99, 0.01, (f"{len(out)} 个单位超出纵轴范围未显示（{out['sex_ratio'].min():.1f}–{out['sex_ratio'].max():.1f}）" if zh
                                 else f"{count(len(out), 'unit')} outside the y-range not shown ({out['sex_ratio'].min():.1f}–"
                                      f"{out['sex_ratio'].max():.1f})"),
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")  # fmt: skip
        plots.legend_on_top(ax, outside=True)  # above the axes: the y-range leaves out the extreme 1 %
        return ax


def sex_ratio_relation(
    data: pd.DataFrame | None = None,
    *,
    census: int = 2020,
    level: str = "lowest",
    origin: str = "all",
    within: str | None = None,
    alpha: float = 0.05,
) -> SexRatioRelationResult:
    """Quasi-binomial GLM (logit) of age-0 boys among age-0 children on the unit's migrant share.

    ``level`` as in :func:`burden` (default the lowest units, counties plus prefecture cities without
    counties); ``origin`` = "all" or one of :data:`ORIGINS`; ``within`` = a province or prefecture code to restrict units.
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
    has_age0 = b["age0_males"].notna() & b["age0_females"].notna() & ((b["age0_males"] + b["age0_females"]) > 0)
    ok = has_age0 & b[x_col].notna()
    excluded = b.loc[~ok, "region_code"].fillna(b.loc[~ok, "name_zh"]).astype(str).tolist()
    # what each left-out unit lacks, to name it in the text: name, code, "age0" or "share"
    excluded_why = [(r.name_zh, r.region_code if pd.notna(r.region_code) else None, "age0" if not a else "share")
                    for r, a in zip(b[~ok].itertuples(), has_age0[~ok], strict=True)]
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
              "n_units": len(d), "excluded": excluded, "excluded_why": excluded_why, "dispersion": dispersion}
    method = (f"quasi-binomial GLM (logit) of age-0 boys on migrant share ({origin}), {level} units, census "
              f"{census}; Pearson dispersion {dispersion:.3g}. {CAVEAT_ECOLOGICAL}")
    method_zh = (f"拟二项广义线性模型（logit）：0 岁男孩比例对人户分离人口比例（{ORIGINS_ZH.get(origin, origin)}），"
                 f"{_UNIT_NAMES[level][1] if level in _UNIT_NAMES else level}，{census} 年普查；"
                 f"Pearson 离散参数 {dispersion:.3g}。{CAVEATS_ZH[CAVEAT_ECOLOGICAL]}")
    d = d[["region_code", "name_zh", "province_code", "x_share", "age0_males", "age0_females", "age0",
           "sex_ratio"]].reset_index(drop=True)
    return SexRatioRelationResult(table=table, method=method, method_zh=method_zh, params=params, data=d, curve=curve,
                                   dispersion=dispersion)


def describe_profile(result: BurdenResult, *, lang: str = "en") -> str:
    """Markdown paragraph with the numbers of a :func:`profile` (shares in %; counts in millions, or 万 for
    ``lang="zh"``)."""
    t = result.table
    zh = lang == "zh"

    def get(role: str, census: int) -> pd.Series | None:
        r = t[(t["role"] == role) & (t["census"] == census)]
        return None if r.empty else r.iloc[0]

    def count(v) -> str:
        if zh:
            # 亿 from a hundred million (14.10 亿), else 万 without separators (2474.3 万), as Chinese text writes them
            return f"{v / 1e8:.2f} 亿" if v >= 1e8 else f"{v / 1e4:.1f} 万" if v >= 1e5 else f"{int(v):,} "
        return f"{v / 1e6:,.2f} million" if v >= 1e6 else f"{int(v):,}"

    now, then = get("region", 2020), get("region", 2010)
    if now is None:
        now, then = then, None
    year = now["census"]
    shown = dict(zip(t["region_code"], regions.display_names(t["region_code"], lang, fallback=t["name_zh"]),
                     strict=True))  # fmt: skip
    name = shown[now["region_code"]]
    if zh:
        text = [f"{year} 年，{name} {count(now['population'])}常住人口中有 **{pct(now['share'])}**"
                f"（{count(now['migrants'])}人）居住在户口登记地以外的乡镇街道：户口在本县（市、区）其他乡镇街道的占常住人口 "
                f"{pct(now['share_same_county'])}，在省内其他县（市、区）的占 {pct(now['share_other_county'])}，在外省的占 "
                f"{pct(now['share_other_province'])}（人户分离人口中 {pct(now['other_province_of_migrants'])} 来自外省）。"]
    else:
        text = [f"In {year}, **{pct(now['share'])}** of the {count(now['population'])} residents of {name} "
                f"({count(now['migrants'])} people) lived away from their hukou township: {pct(now['share_same_county'])} "
                f"from the same county, {pct(now['share_other_county'])} from another county of the province and "
                f"{pct(now['share_other_province'])} from another province ({pct(now['other_province_of_migrants'])} of "
                f"the migrants)."]
    if then is not None:
        diff = 100 * (now["share"] - then["share"])
        text.append(f"2010 年该比例为 {pct(then['share'])}（此后变化 {diff:+.1f} 个百分点；2010 年口径不同，变化仅供参考）。"
                    if zh else f"In 2010 the share was {pct(then['share'])} ({diff:+.1f} percentage points since; the "
                    f"2010 definition differs — read the change as indicative).")
    others = []  # one comparison sentence for the parent region and the nation
    for role, label, label_zh in (("parent", "its parent region", "上级地区"), ("nation", "the nation", "全国")):
        r = get(role, year)
        if r is not None:
            named = label_zh if r["name_zh"] == label_zh else f"{label_zh}（{r['name_zh']}）"
            others.append(f"{named}为 {pct(r['share'])}" if zh else
                          f"{pct(r['share'])} in {label} ({shown[r['region_code']]})")
    if others:
        text.append(f"对比：{year} 年" + "，".join(others) + "。" if zh else
                    f"For comparison, the {year} share was " + " and ".join(others) + ".")
    return ("" if zh else " ").join(text)


#: Names of the units of :func:`sex_ratio_relation` by ``level``, in English and Chinese.
_UNIT_NAMES = {
    "lowest": ("county-level units", "县级单位", " (counties, plus prefecture cities without counties)",
               "（县，以及不设县的地级市）"),
    "county": ("county-level units", "县级单位", "", ""),
    "prefecture": ("prefecture-level units", "地级单位", "", ""),
    "province": ("provinces", "省级单位", "", ""),
}


def _change_pct(ratio: float) -> tuple[str, float]:
    """The direction ("lower"/"higher"/"") and size in % of a ratio of sex ratios, at two decimals."""
    size = abs(100 * (ratio - 1))
    if round(size, 2) == 0:
        return "", 0.0
    return ("lower" if ratio < 1 else "higher"), size


def describe_sex_ratio_relation(result: SexRatioRelationResult, *, lang: str = "en") -> str:
    """Markdown paragraph on a :func:`sex_ratio_relation` result, phrased by direction ("is associated with a
    0.26% lower age-0 sex ratio", with its (1 − alpha) interval and p-value), the units left out and the
    caveat (ecological; the age-0 ratio is only a proxy for the sex ratio at birth), in English or
    (``lang="zh"``) Chinese."""
    zh = lang == "zh"
    p = result.params
    slope = result.table.iloc[1]
    where = (("全国" if zh else "China") if p["within"] is None
             else regions.lookup(str(p["within"])).name("zh" if zh else "en"))
    units_en, units_zh, note_en, note_zh = _UNIT_NAMES.get(p["level"], (f"{p['level']} units", "单位", "", ""))
    level = f"{round(100 * (1 - p['alpha']), 10):g}%"
    (way, size), (way_lo, size_lo), (way_hi, size_hi) = (_change_pct(slope[c]) for c in ("ratio", "lower", "upper"))
    word_zh = {"lower": "低", "higher": "高", "": "相差"}
    clear = bool(way_lo == way_hi and way_lo)  # the whole interval on one side of no difference
    if clear:  # "0.16% to 0.36% lower"
        a, b = sorted((size_lo, size_hi))
        ci_en, ci_zh = f"{a:.2f}% to {b:.2f}% {way_lo}", f"{word_zh[way_lo]} {a:.2f}% 至 {b:.2f}%"
    else:
        ci_en = f"{size_lo:.2f}% {way_lo or 'different'} to {size_hi:.2f}% {way_hi or 'different'}"
        ci_zh = f"{word_zh[way_lo]} {size_lo:.2f}% 至{word_zh[way_hi]} {size_hi:.2f}%"
    stats_en = f"{level} CI {ci_en}, {p_text(slope['p_value'])}; quasi-binomial, dispersion {result.dispersion:.2f}"
    stats_zh = (f"{level} 置信区间为{ci_zh}，{p_text(slope['p_value'])}；拟二项模型，离散参数 {result.dispersion:.2f}")
    why = p.get("excluded_why") or [(c, None, "age0") for c in p["excluded"]]
    left_en = [f"{name} ({code + '; ' if code else ''}no {'age-0 count' if w == 'age0' else 'migrant share'})"
               for name, code, w in why]
    left_zh = [f"{name}（{code + '；' if code else ''}{'缺 0 岁人口数' if w == 'age0' else '缺人户分离比重'}）"
               for name, code, w in why]
    unclear_en = "" if clear else "; the interval includes 0%, so no clear association"
    unclear_zh = "" if clear else "；区间包含零，未显示明确的关联"
    if zh:
        effect = f"{word_zh[way]} {size:.2f}%" if way else "差别小于 0.005%"
        text = (f"{p['census']} 年{where}的 {p['n_units']:,} 个{units_zh}{note_zh}中，人户分离人口比重每高 10 个百分点，"
                f"0 岁人口性别比{effect}（{stats_zh}）{unclear_zh}。"
                + (f"{len(why)} 个缺少 0 岁人口数或人户分离比重的单位未纳入：{'、'.join(left_zh[:10])}"
                   + ("等" if len(why) > 10 else "") + "。" if why else "所有单位均有 0 岁人口数和人户分离比重。"))
        return text + f"\n\n**注意：** {CAVEATS_ZH.get(result.caveat, result.caveat)}"
    effect = f"a {size:.2f}% {way} age-0 sex ratio" if way else "practically no difference in the age-0 sex ratio"
    text = (f"Across {p['n_units']:,} {units_en} of {where} in {p['census']}{note_en}, a migrant share 10 percentage "
            f"points higher is associated with {effect} ({stats_en}){unclear_en}. "
            + (f"{count(len(why), 'unit')} without age-0 counts or a migrant share {'was' if len(why) == 1 else 'were'} "
               f"left out: {', '.join(left_en[:10])}" + (", …" if len(why) > 10 else "") + "." if why
               else "Every unit has age-0 counts and a migrant share."))
    return text + f"\n\n**Caveat:** {result.caveat}"


def pct(value: float, digits: int = 1) -> str:
    """A proportion as a percentage string ('n/a' when missing)."""
    return "n/a" if value is None or pd.isna(value) else f"{100 * float(value):.{digits}f}%"


def plot_ranking(data: pd.DataFrame, *, top_n: int = 20, ax: Axes | None = None, lang: str = "zh") -> Axes:
    """Horizontal bars of the 2020 migrant share (%) of the ``top_n`` first-ranked units of :func:`subunits`,
    with the 2010 share as a dot (codes not present in 2010 have no dot). Units are named as by
    :func:`analysis.data.regions.display_names`; when there are more units than ``top_n`` the title says how
    many of how many are shown."""
    ax = ax if ax is not None else plt.gca()
    d = data.dropna(subset=["share_2020"]).head(top_n).iloc[::-1]
    y = np.arange(len(d))
    ax.barh(y, 100 * d["share_2020"], color="C0", label="2020")
    ax.scatter(100 * d["share_2010"], y, color="C3", zorder=3, s=14, label="2010")
    ax.set_yticks(y, labels=regions.display_names(d["region_code"], lang, fallback=d["name_zh"]), fontsize=7)
    ax.set_xlabel(_SHARE_LABEL[lang])
    ax.legend(frameon=False, fontsize=8)
    total = int(data["share_2020"].notna().sum())
    if total > len(d):  # the figure shows only the first units: say how many of how many
        ax.set_title(f"比重最高的 {len(d)} 个单位（共 {total} 个）" if lang == "zh" else f"Highest {len(d)} of {total} units",
                     loc="left", fontsize=8)
    return ax
