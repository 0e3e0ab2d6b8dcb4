"""End-to-end runs of notebooks/02_two_child_policy.ipynb with papermill (kernel cnfp), nation and Guangdong."""

from __future__ import annotations

import json
import re

import pandas as pd
import papermill as pm
import pytest
from conftest import check_shown, shown_tables

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "02_two_child_policy.ipynb"


def _run(tmp_path, **params):
    out_dir = tmp_path / "out"
    pm.execute_notebook(str(NOTEBOOK), str(tmp_path / "run.ipynb"), parameters={"output_dir": str(out_dir), **params},
                        kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=False)
    executed = tmp_path / "run.ipynb"
    check_shown(executed, params.get("lang", "zh"))
    return out_dir


def _markdown(tmp_path) -> str:
    """The text the executed notebook wrote (its Markdown outputs)."""
    nb = json.loads((tmp_path / "run.ipynb").read_text(encoding="utf-8"))
    return "\n".join("".join(o["data"]["text/markdown"]) for c in nb["cells"] for o in c.get("outputs", [])
                     if "text/markdown" in o.get("data", {}))


def test_notebook_saved_without_outputs_and_with_parameters_cell():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "cnfp"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_nation_end_to_end(tmp_path, journal_width):
    out = _run(tmp_path, bootstrap=99, lang="en")
    assert journal_width(out) == 6
    assert "Pooled DiD" in _markdown(tmp_path) and "合并双重差分" not in _markdown(tmp_path)
    assert "- **universal two-child 2016**, level change from 2016:" in _markdown(tmp_path)
    # the 2015 second-birth share is from the 1% survey, the years before from the 1‰ surveys: the text says so
    share = pd.read_csv(out / "second_birth_share.csv", encoding="utf-8-sig").set_index("year")
    assert share.loc[2015, "survey"] != share.loc[2014, "survey"]
    assert "Second births in the NBS sample surveys" in {t[0] for t in shown_tables(tmp_path / "run.ipynb")}
    assert ("The 2015 share comes from the 1% population sample survey, 2013 and 2014 from the 1‰ population "
            "change survey") in _markdown(tmp_path)
    assert ("the other 1% population sample survey, 2005, also stands above the years around it (2004: "
            f"{100 * share.loc[2004, 'share']:.1f}%, 2005: {100 * share.loc[2005, 'share']:.1f}%") in _markdown(tmp_path)
    params = json.loads((out / "parameters.json").read_text(encoding="utf-8"))
    assert json.dumps(params).count("000000") >= 1
    excess = pd.read_csv(out / "excess_births_2016_2017.csv", encoding="utf-8-sig")
    # Observed 2016–2017 = NBS 17.86 M + 17.23 M (national_series, original vintage).
    assert excess.loc[0, "observed"] == pytest.approx(17.86e6 + 17.23e6)
    assert (excess["lower"] < excess["excess"]).all() and (excess["excess"] < excess["upper"]).all()
    b = excess.iloc[1]  # counterfactual B (neither policy): phrased like A, bold as its interval excludes 0
    assert b["lower"] > 0 and (f"Against a counterfactual with neither policy: an excess of **{b['excess'] / 1e6:.2f} M** "
                               f"(95% CI {b['lower'] / 1e6:.2f} M to {b['upper'] / 1e6:.2f} M, "
                               f"{b['excess_pct']:+.1f}%).") in _markdown(tmp_path)
    # the figure's and the table's counterfactual is the headline's (A: without the universal policy)
    cf = pd.read_csv(out / "its_counterfactual.csv", encoding="utf-8-sig")
    assert set(cf["without"]) == {"universal_2016"}
    assert cf.loc[cf["date"].between(2016, 2017), "counterfactual"].sum() == pytest.approx(
        excess.loc[0, "counterfactual"], rel=1e-9)
    compare = pd.read_csv(out / "computed_vs_published.csv", encoding="utf-8-sig")
    assert compare["source"].str.contains("BMJ 2019").any()
    vint = pd.read_csv(out / "its_cbr_vintages.csv", encoding="utf-8-sig")
    assert set(vint["vintage"]) == {"original", "revised"}
    # timing sensitivity: every first affected year a year later; the 2016 rise moves to the selective step and the
    # universal step turns into a fall: both are reported and the text says the series cannot separate the policies
    late = pd.read_csv(out / "its_effects_lag_plus_1.csv", encoding="utf-8-sig").set_index(["interruption", "term"])
    sel, uni = late.loc[("selective_2014", "level")], late.loc[("universal_2016", "level")]
    assert uni["first_affected"] == 2017 and uni["upper"] < 1 and sel["lower"] > 1
    for name, r in (("selective two-child 2014", sel), ("universal two-child 2016", uni)):
        assert (f"{name} (from {r['first_affected']}) {r['estimate']:.3f} (95% CI {r['lower']:.3f}–{r['upper']:.3f}; "
                f"p = {r['p_value']:.3f}; {100 * (r['estimate'] - 1):+.1f}%)") in _markdown(tmp_path)
    assert "the annual series cannot separate the two policies" in _markdown(tmp_path)
    # a significantly falling trend after a relaxation is not called a policy effect
    assert "The yearly trend falls significantly after universal two-child 2016. This is not a measure of" in (
        _markdown(tmp_path))
    # the headline says which vintage it uses, and effects whose significance the revision changes are named
    assert "These are NBS births as first published, not the series revised after the 2020 census" in _markdown(tmp_path)
    excl = vint.assign(x=(vint["lower"] > 1) | (vint["upper"] < 1)).pivot_table(
        index=["interruption", "term"], columns="vintage", values="x", aggfunc="first")
    flipped = excl[excl["original"] != excl["revised"]]
    assert len(flipped) >= 1  # with these data: the universal level step loses significance, the selective one gains it
    rev = vint[vint["vintage"] == "revised"].set_index(["interruption", "term"])
    for (i, t) in flipped.index:
        r = rev.loc[(i, t)]
        way = f"{'fall' if r['estimate'] < 1 else 'rise'} of {abs(100 * (r['estimate'] - 1)):.0f}%"  # the direction too
        assert (f"with the revised one ({r['estimate']:.3f}, 95% CI {r['lower']:.3f}–{r['upper']:.3f}; a {way}): "
                "**the conclusion changes with the vintage**.") in _markdown(tmp_path)
    pooled = pd.read_csv(out / "did_pooled.csv", encoding="utf-8-sig")
    assert pooled.loc[0, "n_clusters"] == 31 and "boot_p_value" in pooled
    for name in ("its_main", "event_study", "cbr_vintages", "placebo_hk_macao"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.pdf").is_file()
    md = _markdown(tmp_path)
    # p-values as a reader expects them, a trend change per year, shares with their intervals, no dict in prose
    assert not re.search(r"\de-\d", md) and "p < 0.001), i.e. " in md and "% per year." in md
    share = pd.read_csv(out / "second_birth_share.csv", encoding="utf-8-sig").set_index("year").loc[2015]
    assert f"{100 * share['share']:.1f}% ({100 * share['lower']:.1f}–{100 * share['upper']:.1f}) in 2015" in md
    assert "{'selective_2014'" not in md and "Interruptions: selective two-child 2014: 2014-" in md
    assert "conceived after the October 2015 announcement" not in md  # not in Li et al.'s baseline (born 2016-07+)
    # each analysis states when it counts a policy's first births, with the years it used
    timing = pd.read_csv(out / "policy_timing.csv", encoding="utf-8-sig")
    by_year = timing["first_affected_year"].value_counts().sort_index()
    assert ("universal two-child 2016 from 2016 — so all of 2016 counts as affected" in md
            and "(date + 9 months, 2016-10)" in md
            and ", ".join(f"{n} provinces from {y}" for y, n in by_year.items()) + "." in md)
    assert "Xinjiang uses its lower bound 2014-11-06 (first affected year 2016)." in md
    assert f"{(timing['date_source'] == 'default').sum()} provinces use the default date 2014-06-25." in md
    # robustness: each placebo estimate with its interval
    robust = pd.read_csv(out / "robustness.csv", encoding="utf-8-sig").set_index("check")
    r = robust.loc["placebo 2008"]
    assert f"placebo 2008: {r['estimate']:+.3f} (95% CI {r['lower']:+.3f} to {r['upper']:+.3f}, p = " in md
    assert "(s)" not in md
    # the pooled DiD is positive, yet no post-policy event-study coefficient is above the reference year: the text
    # says the sign comes from the pre-policy coefficients (hand computation from event_study.csv)
    es = pd.read_csv(out / "event_study.csv", encoding="utf-8-sig")
    post, pre = es[es["event_time"] >= 0], es[es["event_time"] < -1]
    assert pooled.loc[0, "estimate"] > 0 and (post["estimate"] <= 0).all()
    assert (f"No post-policy coefficient lies above the year before the policy (largest {post['estimate'].max():+.3f}; "
            f"event-study figure): the positive pooled value comes from the pre-policy coefficients (mean "
            f"{pre['estimate'].mean():+.3f}), not from a rise after the policy.") in md


def test_province_end_to_end(tmp_path):
    out = _run(tmp_path, region="44", outcome="cbr", bootstrap=0)
    assert "本节是全部 31 个省份的模型，各次运行相同；广东省自身的位置见最后一幅图。" in _markdown(tmp_path)
    eff = pd.read_csv(out / "its_effects.csv", encoding="utf-8-sig")
    assert set(eff["interruption"]) == {"selective_2014", "universal_2016"}
    robust = pd.read_csv(out / "robustness.csv", encoding="utf-8-sig")
    assert robust["check"].str.contains("without 广东省").any()
    # lang="zh" (the default): the text is Chinese and quotes the computed estimate
    md = _markdown(tmp_path)
    pooled = pd.read_csv(out / "did_pooled.csv", encoding="utf-8-sig").iloc[0]
    # the estimate is bold only when its interval excludes zero (here it spans zero: plain)
    assert pooled["lower"] < 0 < pooled["upper"]
    assert f"与政策后粗出生率相对其他省份的变化 {pooled['estimate']:+.3f}‰ 相关联（" in md
    assert "Pooled DiD" not in md and "Files written" not in md
    # the three national sections under their headings say why they are empty
    assert md.count("未运行：本节仅适用于全国；本次运行的是广东省（省级单位）。") == 3
    level = eff[(eff["interruption"] == "universal_2016") & (eff["term"] == "level")].iloc[0]
    assert f"- **全面两孩 2016**，自 {level['first_affected']} 年起的水平变化：" in md  # policies by name, not key
    assert "**selective_2014**" not in md and "**universal_2016**" not in md
    # the method in Chinese too, with t inference on the residual df (quasi-Poisson estimates its dispersion)
    assert "方法：分段回归中断时间序列，拟泊松广义线性模型（对数连接）" in md  # outcome="cbr": no offset
    assert "t 检验与区间（残差自由度 " in md and "Segmented regression" not in md
    assert "本省日期（新闻报道的放开日期）" in md and "relaxed_on" not in md
    assert not (out / "computed_vs_published.csv").exists()
    # Excess births come from a births model (CBR x population) even when the main outcome is the CBR.
    excess = pd.read_csv(out / "excess_births_2016_2017.csv", encoding="utf-8-sig")
    assert (excess["lower"] < excess["upper"]).all()
    # the tables are in Chinese too: captions, a Chinese header over each column name, category values
    assert {"中断时间序列", "2016–2017 年相对两个反事实的额外出生", "合并估计的稳健性"} <= {t[0] for t in shown_tables(
        tmp_path / "run.ipynb")}
    nb = json.loads((tmp_path / "run.ipynb").read_text(encoding="utf-8"))
    page = "".join("".join(o["data"]["text/html"]) for c in nb["cells"] for o in c.get("outputs", [])
                   if "text/html" in o.get("data", {}))
    assert "<th>中断点</th>" in page and "<th>interruption</th>" in page
    assert "<td>剔除广东省</td>" in page and "<td>率比</td>" in page and "<td>A：无全面两孩政策</td>" in page
    assert "without 广东省" not in page and "rate ratio" not in page


def test_years_the_model_misses_are_named(tmp_path):
    """Xinjiang's births model misses 2017 (observed 17% above fitted; standardized Pearson residual > 2, as
    ITSResult.misfit computes it, tested in test_its): the text names the year with the numbers of
    its_counterfactual.csv and says the effects depend on the model's shape."""
    out = _run(tmp_path, region="650000", lang="en", bootstrap=0, figure_formats=["png"])
    cf = pd.read_csv(out / "its_counterfactual.csv", encoding="utf-8-sig").set_index("date").loc[2017]
    md = _markdown(tmp_path)
    assert (f"The model fits 1 post-policy year poorly: 2017 (observed {cf['observed']:,.0f} vs fitted "
            f"{cf['fitted']:,.0f}, {100 * (cf['observed'] / cf['fitted'] - 1):+.1f}%; standardized residual +") in md
    assert "depend on the shape the model imposes on these years" in md


def test_prefecture_region_is_a_clear_error(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="ModelSpecificationError"):
        _run(tmp_path, region="440100")
