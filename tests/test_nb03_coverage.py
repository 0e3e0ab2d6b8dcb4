"""End-to-end runs of notebooks/03_migrant_service_coverage.ipynb with papermill (kernel ``cnfp``): the nation
and a province on the published aggregates, a county with synthetic seeded coverage records (written here)."""

from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import papermill as pm
import pytest
from conftest import check_shown, shown_tables

from analysis import coverage
from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "03_migrant_service_coverage.ipynb"


def _run(tmp_path, **params):
    out_dir = tmp_path / "out"
    out_nb = tmp_path / "executed.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK), str(out_nb), parameters={"output_dir": str(out_dir), **params},
        kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=False,
    )
    check_shown(out_nb, params.get("lang", "zh"))
    nb = nbformat.read(out_nb, as_version=4)
    markdown = "\n".join(
        o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    return out_dir, markdown


def test_saved_without_outputs_and_parameters_tagged():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "cnfp"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("region", "coverage_path", "target", "alpha", "correction", "lang", "output_dir"):
        assert f"\n{name} = " in "\n" + code[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.mark.parametrize("region", ["000000", "44"])
def test_published_aggregates(tmp_path, region, journal_width):
    out_dir, md = _run(tmp_path, region=region, lang="en")
    assert journal_width(out_dir) == 4
    params = json.loads((out_dir / "parameters.json").read_text(encoding="utf-8"))
    assert params["params"]["region"] == ("000000" if region == "000000" else "440000")
    burden = pd.read_csv(out_dir / "migrant_burden.csv", dtype={"region_code": str})
    nation = burden[(burden["role"] == "nation") | (burden["region_code"] == "000000")]
    assert nation.loc[nation["census"] == 2020, "migrants"].iloc[0] == 492_762_506
    # narrative is computed: the 2020 share printed equals the table's
    share = burden[(burden["role"] == "region") & (burden["census"] == 2020)]["share"].iloc[0]
    assert f"**{100 * share:.1f}%**" in md
    assert "published aggregates" in md
    vt = pd.read_csv(out_dir / "coverage_vs_target.csv")
    assert {"p_value", "p_adjusted", "verdict", "gap_pp"} <= set(vt.columns)
    # rates from one survey are not independent units: said with their number
    pub = coverage.published_rates(params["params"]["region"])
    tested = pub[pub["eligible"].notna() & ~pub["complement"]]
    cmds = int(tested["source_type"].str.contains("CMDS").sum())
    said = f"All {cmds}" if cmds == len(tested) else f"{cmds} of the {len(tested)}"
    if region == "44":  # 21 prefectures, a few more than top_n = 20: every one is shown, 揭阳市 (the lowest) too
        assert "All 21 sub-units by share away from registration" in {t[0] for t in shown_tables(
            tmp_path / "executed.ipynb")}
    assert cmds >= 2 and f"{said} tested rates come from the same survey" in md
    assert (out_dir / "min_n_table.csv").exists() and (out_dir / "subunits_ranked.png").exists()
    ranks = pd.read_csv(out_dir / "rankings_all_units.csv", dtype={"province_code": str})
    assert {"rank_national", "rank_in_province"} <= set(ranks.columns)
    if region == "44":
        assert set(ranks["province_code"]) == {"440000"}
    # which published rates are used depends on the level (the nation gets every bundled rate)
    assert ("(all bundled rates: national, provincial and local figures)" if region == "000000"
            else "(1 for Guangdong and 13 national)") in md  # counted by place, from the table
    assert "its province's" not in md and md.count("For comparison") <= 1
    # the slope is phrased by direction, with its interval; no signed "-0.26% different"
    assert "is associated with a " in md and "% different" not in md and "proxy for the sex ratio at birth" in md
    # shortfalls are listed with the interval of coverage_vs_target.csv
    for _, row in vt[vt["verdict"] == "below"].iterrows():
        assert (f"({100 * row['rate']:.1f}%, 95% CI {100 * row['lower']:.1f}–{100 * row['upper']:.1f}; "
                f"target {100 * row['target']:.1f}%)") in md
    # section 5 uses the test of section 4 (alternative two-sided by default) and says it is not adjusted
    header = (out_dir / "min_n_table.csv").read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert len(header) == len(set(header))  # each column once (the bound used to come twice)
    min_n = pd.read_csv(out_dir / "min_n_table.csv")
    same_test = coverage.check_reported(min_n["rate_pct"].tolist(), target=min_n["target_pct"].tolist(),
                                        alternative="two-sided").table
    assert min_n["min_eligible"].equals(same_test["min_eligible"])
    assert "By the exact binomial test (two-sided, α = 0.05)" in md and "one-sided binomial" not in md
    assert "a Holm adjustment across rates" in md
    # survey rates tested as simple random samples (design_effect 1): said, with how to widen them
    assert "treat each n as a simple random sample, so the intervals are too narrow" in md
    assert (vt["eligible_effective"] == vt["eligible"]).all()
    # each source once; the census licence is named as a licence
    sources = [line for line in md.splitlines() if line.startswith("- ")]
    dois = [line[line.index("doi:"):] for line in sources if "doi:" in line]
    assert len(dois) == len(set(dois)) and len(sources) == len(set(sources))
    assert not any("see above" in line for line in sources) and "(Lei Dong et al., MIT licence)" in md


def test_design_effect_widens_the_survey_rates(tmp_path):
    """design_effect = 2: every published rate is tested on n / 2 (rounded), as coverage.vs_target does it (its
    own test checks that against statsmodels and scipy), and the text says so instead of the caution."""
    out_dir, md = _run(tmp_path, region="440300", lang="en", design_effect=2, figure_formats=["png"])
    vt = pd.read_csv(out_dir / "coverage_vs_target.csv")
    assert len(vt) and (vt["eligible_effective"] == (vt["eligible"] / 2).round()).all()
    params = json.loads((out_dir / "parameters.json").read_text(encoding="utf-8"))
    assert params["params"]["design_effect"] == 2
    assert "Intervals and tests use the effective sample size n / 2 (`design_effect`)." in md
    assert "Intervals and tests use Kish's effective sample size n / 2 (design effect)." in md
    assert "too narrow" not in md
    # districts created since 2010 are named: their parents' 2010→2020 change may cover different territory
    sub = pd.read_csv(out_dir / "subunits_ranked.csv", dtype={"region_code": str})
    new = sub[sub["share_2020"].notna() & sub["share_2010"].isna()]
    assert len(new) == 3 and f"3 units exist only in 2020 ({', '.join(new['name'])}): new or re-coded since 2010" in md


def test_published_aggregates_in_chinese(tmp_path):
    """Chinese text: full-width brackets around the region name, one comparison sentence, the same test in
    section 5 as in section 4."""
    out_dir, md = _run(tmp_path, region="440300", lang="zh", figure_formats=["png"])
    assert "**地区：** 440300 深圳市 · 层级：地级" in md and "(" not in md.split("\n")[0]
    assert md.count("对比：") == 1 and "上级地区（广东省）为" in md
    # the rates kept for Shenzhen are counted by place: none of them is Shenzhen's own
    assert "（广东省 1 个、全国 13 个；没有深圳市本地的数字）" in md and "（2 个只报告为不低于目标" in md and "0 岁人口性别比低 " in md and "相差" not in md
    assert "按精确二项检验（双侧，α = 0.05）" in md and "精确单侧二项检验" not in md
    assert "95% 置信区间" in md and "；目标 85.0%）" in md
    assert re.search(r"[\u4e00-\u9fff] ?\(|\)[\u4e00-\u9fff]", md.split("\n- ")[0]) is None  # before the sources


def test_county_with_user_records(tmp_path, rng, journal_width):
    """Tianhe district (440106) with synthetic seeded records for 6 units × 2 periods (not real data)."""
    rows = []
    for period in (2018, 2019):
        for i in range(6):
            n = int(rng.integers(100, 2000))
            rows.append({"unit": f"街道{i + 1}", "period": period, "service": "婚育证明核验", "eligible": n,
                         "served": int(rng.binomial(n, 0.80 + 0.03 * i)), "target": 0.85})
    path = tmp_path / "records.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    out_dir, md = _run(tmp_path, region="440106", coverage_path=str(path), lang="zh", correction="bh")
    assert "没有下级单位" in md and "覆盖记录来自" in md and "与目标比较的 12 个比率" in md  # lang="zh": text in Chinese
    assert md.count("对比：") == 1 and "全国 (" not in md
    assert "Coverage records from" not in md and "Falling short" not in md
    vt = pd.read_csv(out_dir / "coverage_vs_target.csv")
    assert len(vt) == 12
    assert (out_dir / "funnel_1.png").exists() and (out_dir / "funnel_1.csv").exists()
    assert not (out_dir / "min_n_table.csv").exists()
    assert journal_width(out_dir) >= 2
    # each rate is named by service, unit and period (the unit alone would name 街道1 twice)
    assert md.count("婚育证明核验 · 街道") == (vt["verdict"] == "below").sum() > 0


def test_sub_units_of_2010_only_are_not_counted_as_2020_units(tmp_path):
    """Xinjiang: 吐鲁番地区 and 哈密地区 (2010) became 吐鲁番市 and 哈密市 with new codes; the 2020 count is 15
    (the ranking's length), the two old units are named apart, and the directly administered grouping is said
    to be one."""
    out, md = _run(tmp_path, region="650000", lang="en")
    sub = pd.read_csv(out / "subunits_ranked.csv", encoding="utf-8-sig")
    assert sub["share_2020"].notna().sum() == 15
    assert "15 sub-units in 2020. 2 more units exist only in 2010 (renamed or abolished since, not ranked): " \
           "吐鲁番地区, 哈密地区." in md
    assert "自治区直辖县级行政区划 is a statistical grouping" in md
    assert "All 17 sub-units by share away from registration (15 in 2020, 2 only in 2010)" in {
        t[0] for t in shown_tables(tmp_path / "executed.ipynb")}
