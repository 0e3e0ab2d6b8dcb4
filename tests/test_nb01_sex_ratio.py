"""End-to-end runs of notebooks/01_sex_ratio_trends.ipynb with papermill (kernel ``cnfp``).

One run per branch: a province (given as the integer 44, as ``papermill -p region 44`` passes it; all figure
formats), a county (440106 天河区; PNG only, as a quick batch would ask) and the nation (few permutations to keep it short). Each checks the files written into
``output_dir`` and that numbers in the narrative come from the exported tables. Also: the notebook is
saved without outputs and its parameters cell follows the project's rules.
"""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest
from conftest import check_shown
from statsmodels.stats.proportion import proportion_confint

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "01_sex_ratio_trends.ipynb"

papermill = pytest.importorskip("papermill")


def _run(tmp_path, **params):
    out_dir = tmp_path / "out"
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={"output_dir": str(out_dir), **params},
        kernel_name=KERNEL_NAME,
        cwd=str(NOTEBOOKS_DIR),
        progress_bar=False,
    )
    check_shown(executed, params.get("lang", "zh"))
    nb = nbformat.read(executed, as_version=4)
    markdown = "\n".join(
        o["data"]["text/markdown"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "data" in o and "text/markdown" in o["data"]
    )
    return out_dir, markdown


def test_notebook_saved_clean_with_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == KERNEL_NAME
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    names = [line.split("=")[0].strip() for line in code[0].source.splitlines()]
    assert {"region", "reference_srb", "alpha", "lang", "output_dir"} <= set(names)
    assert all("#" in line for line in code[0].source.splitlines())
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


def test_province_run(tmp_path, journal_width):
    out, text = _run(tmp_path, region=44, lang="en", n_permutations=19, overdispersion="additive")
    assert journal_width(out) == 3
    params = json.loads((out / "parameters.json").read_text(encoding="utf-8"))
    assert params["params"]["region"] == "440000"
    for stem in ("srb_by_order_residence", "province_among_provinces_funnel", "counties_funnel_shrinkage"):
        assert (out / f"{stem}.png").stat().st_size > 10_000
        assert (out / f"{stem}.pdf").exists() and not (out / f"{stem}.svg").exists()  # SVG only on request
    chg = pd.read_csv(out / "srb_change_2010_2020.csv", encoding="utf-8-sig", dtype={"birth_order": str})
    tot = chg[(chg["residence"] == "total") & (chg["birth_order"] == "all")].iloc[0]
    assert f"{tot['srb_2010']:.1f} in 2010 to {tot['srb_2020']:.1f}" in text
    shrunk = pd.read_csv(out / "counties_shrunk_2020.csv", encoding="utf-8-sig")
    assert len(shrunk) > 100 and shrunk["srb_shrunk"].notna().sum() > 100
    assert "proxy" in text
    mfb = pd.read_csv(out / "missing_female_births.csv", encoding="utf-8-sig")
    assert (mfb["reference_srb_per_1"] == 1.06).all()
    # the county funnel covers the province once: counties plus the prefecture cities without counties
    funnel = pd.read_csv(out / "counties_funnel_2020.csv", encoding="utf-8-sig")
    assert len(funnel) == 124 and {"东莞市", "中山市"} <= set(funnel["name_zh"])
    from analysis import data

    c = data.load("county_census")
    gd = c[(c["region_code"] == "440000") & (c["census"] == 2020)].iloc[0]
    assert funnel["births"].sum() == gd["age0_males"] + gd["age0_females"]  # the province's own row
    assert "124 county-level units in 2020, including 2 prefecture-level cities without counties" in text
    # overdispersion="additive": the county funnel's limits are the random-effects ones (Spiegelhalter 2005, §6.2)
    from analysis import srb

    additive = srb.funnel(funnel, label="name_zh", overdispersion="additive")
    assert additive.params["tau2"] > 0
    assert funnel["upper_99.8"].to_numpy() == pytest.approx(additive.table["upper_99.8"].to_numpy())
    exact = srb.funnel(funnel, label="name_zh")
    assert (funnel["upper_99.8"] - funnel["lower_99.8"]).min() > (exact.table["upper_99.8"]
                                                                  - exact.table["lower_99.8"]).min()
    assert "Guangdong ranks 4th by SRB (1st = highest)" in text
    assert "Implausible" not in text
    assert "after empirical-Bayes shrinkage the highest is" in text and "credible interval" in text
    # the highest raw ratio with its interval
    top = shrunk.sort_values("rank_raw").iloc[0]
    assert (f"The highest raw ratio is {top['name_zh']} ({top['srb']:.1f}, 95% CI {top['srb_lower']:.1f}–"
            f"{top['srb_upper']:.1f}, from {top['births']:,} children)") in text
    assert "(s)" not in text


def test_county_run(tmp_path):
    out, text = _run(tmp_path, region="440106", lang="zh", figure_formats=["png"])
    est = pd.read_csv(
        out / "age0_sex_ratio_vs_province_nation.csv", encoding="utf-8-sig", dtype={"region_code": str}
    )
    assert set(est["region_code"]) == {"440106", "440100", "440000", "000000"}  # with its prefecture, 广州市
    gz = est[(est["region_code"] == "440100") & (est["census"] == 2020)].iloc[0]
    assert f"全市 {gz['srb']:.1f}（95% 置信区间 {gz['lower']:.1f}–{gz['upper']:.1f}）" in text
    # tested against the rest of its prefecture: 2010, Tianhe 5400 boys / 4622 girls (the CSV) against the rest of
    # Guangzhou; a two-proportion z test by hand gives p ≈ 0.004 (the notebook's srb.compare uses the log ratio)
    me10 = est[(est["region_code"] == "440106") & (est["census"] == 2010)].iloc[0]
    gz10 = est[(est["region_code"] == "440100") & (est["census"] == 2010)].iloc[0]
    m1, f1, m2, f2 = me10["males"], me10["females"], gz10["males"] - me10["males"], gz10["females"] - me10["females"]
    p1, p2, p0 = m1 / (m1 + f1), m2 / (m2 + f2), (m1 + m2) / (m1 + f1 + m2 + f2)
    z = (p1 - p2) / (p0 * (1 - p0) * (1 / (m1 + f1) + 1 / (m2 + f2))) ** 0.5
    from scipy import stats

    assert 2 * stats.norm.sf(abs(z)) < 0.01
    assert f"所在地级市广州市其余地区 {100 * m2 / f2:.1f}（差 " in text and "p = 0.00" in text
    me = est[(est["region_code"] == "440106") & (est["census"] == 2020)].iloc[0]
    assert me["lower"] < me["srb"] < me["upper"]
    assert f"{me['srb']:.1f}" in text
    assert "代理指标" in text
    # tested against the rest of Guangdong (the province's counts contain Tianhe's), in Chinese punctuation
    assert "广东省其余地区" in text and "（95% 置信区间" in text and " (95% CI" not in text
    # its peers are the province's county-level units, as on the province's own funnel (东莞, 中山 included)
    peers = pd.read_csv(out / "peers_funnel_2020.csv", encoding="utf-8-sig")
    assert len(peers) == 124 and {"东莞市", "中山市"} <= set(peers["name_zh"])
    assert (out / "funnel_position.png").stat().st_size > 10_000
    # the rank comes with how many peers' credible intervals overlap Tianhe's (a rank alone reads as precise)
    shr = pd.read_csv(out / "peers_shrunk_2020.csv", encoding="utf-8-sig", dtype={"region_code": str})
    me_eb = shr.set_index("region_code").loc["440106"]
    overlap = int(((shr["lower"] <= me_eb["upper"]) & (shr["upper"] >= me_eb["lower"])).sum()) - 1
    others = len(shr) - 1
    said = f"其他全部 {others} 个单位的区间重叠" if overlap == others else f"其他 {others} 个单位中 {overlap} 个的区间重叠"
    assert 0 < overlap <= others and f"（95% 可信区间 {me_eb['lower']:.1f}–" in text and said in text
    # figure_formats=["png"] (the quick batch setting): PNG only, and the choice is recorded
    assert not list(out.glob("*.pdf")) and not list(out.glob("*.svg"))
    assert json.loads((out / "parameters.json").read_text(encoding="utf-8"))["figure_formats"] == ["png"]


def test_nation_run(tmp_path, journal_width):
    out, text = _run(tmp_path, lang="en", n_permutations=59)
    assert journal_width(out) == 3
    census = pd.read_csv(out / "national_census_srb.csv", encoding="utf-8-sig")
    assert round(census.set_index("census").loc[2020, "srb"], 2) == 112.28
    assert "112.3" in text and "joinpoint" in text
    # a stated change is the difference of the stated levels (unrounded −0.558 would print as −0.6)
    assert "order 1: 113.7 → 113.2 (change -0.5," in text
    assert "below it: Beijing" in text and "I² = 97%" in text and "the `overdispersion` parameter draws them" in text  # both sides
    # with I² this high, the limits widened by the estimated dispersion: φ and the width said; here no province
    # lies outside them, which the text says without reading it as "no difference"
    from analysis import srb

    outside = 0
    for census in (2010, 2020):
        before = pd.read_csv(out / f"province_funnel_{census}.csv", encoding="utf-8-sig")
        widened = srb.funnel(before, label="name", overdispersion="estimate")
        phi = widened.params["phi"]
        assert f"φ = {phi:.0f} in {census}, ±{3.09 * phi ** 0.5:.0f} standard errors" in text
        outside += int((widened.table["position_99.8"] != "inside").sum())
        assert outside < int((before["position_99.8"] != "inside").sum())
    assert outside == 0 and "no province lies outside them in either census" in text
    # additive random-effects limits (§6.2): tau of the male share given in SRB points, and the provinces outside
    taus, flagged = [], []
    for census in (2010, 2020):
        additive = srb.funnel(pd.read_csv(out / f"province_funnel_{census}.csv", encoding="utf-8-sig"), label="name",
                              overdispersion="additive")
        p = additive.params["target_share"]
        taus.append(f"{100 * additive.params['tau2'] ** 0.5 / (1 - p) ** 2:.1f} SRB points in {census}")
        t = additive.table
        flagged += [f"{r['name']}, {side} in {census} ({r['srb']:.1f} against a limit of {r['lower_99.8']:.1f})"
                    for side in ("above", "below") for _, r in t[t["position_99.8"] == side].iterrows()]
    assert f"a between-province standard deviation of {taus[0]} and {taus[1]})" in text
    assert flagged == ["Tibet (Xizang), below in 2010 (100.1 against a limit of 100.3)"]
    assert f"), 1 province lies outside them: {flagged[0]}." in text
    assert "The unwidened limits and intervals hold sampling variance only" in text
    assert "which does not mean that provinces do not differ" in text
    for stem in ("national_trend_joinpoint", "national_srb_by_order", "province_funnel"):
        assert (out / f"{stem}.png").exists()
    assert (out / "national_missing_female_births.csv").exists()


def test_implausible_birth_orders_are_named_not_interpreted(tmp_path):
    """Xinjiang's 2020 long form prints 57 boys and 121 girls at order 4 (data/README, known defects): the text
    names every such cell with its counts and says it is not interpreted; Guangdong (above) has none."""
    out, text = _run(tmp_path, region="650000", lang="en", n_permutations=19, figure_formats=["png"])
    est = pd.read_csv(out / "srb_by_order_residence.csv", encoding="utf-8-sig", dtype={"birth_order": str})
    odd = est[(est["upper"] < 100) & (est["males"] + est["females"] >= 30)]  # a 0-of-5 city cell is chance, not a defect
    assert len(odd) == 4 and set(odd["census"]) == {2020} and (est["upper"] < 100).sum() == 5
    assert "0 boys, 5 girls" not in text
    assert "**Implausible:** 2020 order 4 47.1 (34.4–64.5; 57 boys, 121 girls); 2020 order 5+ 41.7" in text
    assert "shown but not interpreted" in text
    # Xinjiang's between-county variance is estimated at about 0: no unit is named highest after shrinkage
    assert "their ranking carries no information" in text and "after empirical-Bayes shrinkage the highest" not in text
    assert "read the raw ratios with their intervals instead (the right panel)" in text  # drawn with by="raw"
    # missing female births: a negative interval end is not printed as "-373–261"; the 2020 total holds the
    # implausible order-4 and 5+ counts, so the estimate without them is given too (hand computation below)
    mfb = pd.read_csv(out / "missing_female_births.csv", encoding="utf-8-sig").set_index("label")
    r10 = mfb.loc["2010 / all"]
    # with the share of expected girls, as in the nation's text
    assert (f"{r10['missing']:,.0f} (95% CI {r10['lower']:,.0f} to {r10['upper']:,.0f}; "
            f"{r10['missing_percent_of_expected']:.1f}% of expected girls) in 2010") in text
    assert r10["lower"] < 0 < r10["upper"]
    assert "An interval that includes 0 is consistent with no shortfall of girls, though it does not show" in text
    boys, girls = 9782 - 57 - 10, 9238 - 121 - 24  # 2020 all orders minus orders 4 and 5+ (data/README)
    lo, hi = proportion_confint(boys, boys + girls, alpha=0.05, method="wilson")
    rest = [(boys + girls) * p * (1 + 1 / 1.06) - (boys + girls) for p in (lo, hi)]
    assert (f"The 2020 total includes the order 4 and 5+ counts flagged implausible above; without them it is "
            f"{boys / 1.06 - girls:,.0f} (95% CI {rest[0]:,.0f} to {rest[1]:,.0f}).") in text
