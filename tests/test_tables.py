"""Tables shown in the notebook's language (analysis.tables): Chinese headers and category values, the same numbers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import english_run

from analysis import coverage, srb, tables
from analysis.exceptions import ModelSpecificationError


def test_category_values_in_chinese():
    assert tables.value_zh("rate ratio") == "率比"
    assert tables.value_zh("selective_2014") == "单独两孩 2014"
    # a pattern whose group is itself a category value is translated inside
    assert tables.value_zh("without universal_2016") == "剔除全面两孩 2016"
    assert tables.value_zh("without 广东省") == "剔除广东省"
    assert tables.value_zh("mainland universal_2016 + 9 months") == "内地全面两孩 2016 + 9 个月"
    assert tables.value_zh("census 2020 (age-0 proxy)") == "2020 年普查（0 岁人口性别比，代理指标）"
    assert tables.value_zh("encoding_damage;margin_mismatch") == "附近有编码损坏；差幅不符"
    # indicator keys take the vocabulary's wording: the first without a context, else wording + first context word
    assert tables.value_zh("policy_compliance_rate_pct") == "出生政策符合率"
    assert tables.value_zh("births_male") == "男婴"
    assert tables.value_zh("two_child_births") == "已生育两孩"
    # names, quotes and anything unknown stay as they are
    for kept in ("广东省", "综合避孕率86.5%", "Li et al., BMJ 2019;366:l4680", "ok;unknown_flag"):
        assert tables.value_zh(kept) == kept


def _frame():
    return pd.DataFrame({
        "year": [2010.0, 2020.0, np.nan], "term": ["level", "slope", "level"], "binned": [True, False, False],
        "estimate": [1.5, 393737.0, 0.00012], "p_value": [0.04, 1e-9, 0.5],
        "n_obs": pd.array([12, pd.NA, 3], dtype="Int64"),
    })


def test_translated_headers_values_and_numbers():
    frame = _frame()
    zh, missing = tables.translated(frame, "zh")
    assert missing == []
    assert list(zh.columns) == [("年份", "year"), ("项", "term"), ("端点合并", "binned"), ("估计值", "estimate"),
                                ("p 值", "p_value"), ("观测数", "n_obs")]
    assert zh[("项", "term")].tolist() == ["水平变化", "斜率变化", "水平变化"]
    assert zh[("端点合并", "binned")].tolist() == ["是", "否", "否"]
    # the numbers are the frame's, in both languages
    en, _ = tables.translated(frame, "en")
    assert list(en.columns) == list(frame.columns) and en["term"].tolist() == frame["term"].tolist()
    np.testing.assert_array_equal(zh[("估计值", "estimate")].to_numpy(), frame["estimate"].to_numpy())
    page = tables.shown(frame, "zh", ("Effects", "效应"))._repr_html_()
    # years plain, missing values as a dash (also in nullable integer columns), counts with separators
    assert "<td>2010</td>" in page and "2,010" not in page and "&lt;NA&gt;" not in page and "<td>—</td>" in page
    assert "<td>393,737</td>" in page and "<b>效应</b>" in page
    # p-values as a reader expects them, not "1e-09"; whole-number columns with separators, like the floats
    assert "<td>&lt;0.001</td>" in page and "<td>0.040</td>" in page and "e-09" not in page
    counts = tables.shown(pd.DataFrame({"population": [1_332_810_869], "served": [19_527], "rate": [6456.2]}), "en",
                          ("Counts", "计数"))._repr_html_()
    assert "<td>1,332,810,869</td>" in counts and "<td>19,527</td>" in counts and "<td>6,456</td>" in counts
    assert tables.shown(frame, "en", ("Effects", "效应")).caption == "Effects"


def test_untranslated_columns_are_reported_and_index_handled():
    frame = pd.DataFrame({"estimate": [1.0], "mystery": ["x"]})
    _, missing = tables.translated(frame, "zh")
    assert missing == ["mystery"]
    assert 'data-untranslated="mystery"' in tables.shown(frame, "en", ("A", "甲"))._repr_html_()
    # a named index is data and becomes a column; row numbers (after filtering) are left out
    indexed = pd.DataFrame({"estimate": [1.0, 2.0]}, index=pd.Index([-1, 0], name="event_time"))
    assert list(tables.translated(indexed, "zh")[0].columns) == [("事件时间（年）", "event_time"), ("估计值", "estimate")]
    filtered = pd.DataFrame({"estimate": [1.0, 2.0, 3.0]}).iloc[[2, 0]]
    assert list(tables.translated(filtered, "en")[0].columns) == ["estimate"]
    # a repeated column name is shown twice, not an error
    twice = pd.concat([pd.DataFrame({"bound": ["="]}), pd.DataFrame({"bound": [">"]})], axis=1)
    assert tables.translated(twice, "zh")[0].iloc[0].tolist() == ["=", ">"]


def test_result_shown_with_its_title_and_method_in_the_language():
    mfb = srb.missing_female_births(1130, 1000)
    zh, en = tables.shown(mfb, "zh"), tables.shown(mfb, "en")
    assert zh.caption == "女婴缺失数" and en.caption == "Missing female births"
    assert repr(zh).splitlines()[1] == "方法：Chao 等（2019）：B_m / R_ref − B_f；给定出生总数时男婴比例的 Wilson 区间"
    assert repr(en).splitlines()[1] == f"Method: {mfb.method}"
    assert "女婴缺失数" in zh._repr_html_() and ">missing<" in zh._repr_html_()
    with pytest.raises(ModelSpecificationError, match="needs a caption"):
        tables.shown(mfb.table, "zh")
    with pytest.raises(ModelSpecificationError, match="lang must be"):
        tables.show_in("fr")


def test_every_method_line_has_a_chinese_form_with_the_same_numbers(rng):
    """Each result carries its method in Chinese; the numbers in it (levels, counts, dispersion) are those of the
    English line."""
    births = pd.DataFrame({"unit": list("abcdef"), "males": [5300, 520, 1190, 880, 2400, 610],
                           "females": [4800, 500, 1000, 830, 2150, 560]})
    years = pd.DataFrame({"year": range(2000, 2012), "males": rng.integers(5000, 5600, 12),
                          "females": np.full(12, 4800)})
    served = pd.DataFrame({"unit": list("abcdef") * 2, "period": [1] * 6 + [2] * 6, "area": list("xxxyyy") * 2,
                           "served": rng.integers(60, 95, 12), "eligible": np.full(12, 100), "target": 0.8})
    results = [
        *(srb.estimate(births, by="unit", method=m) for m in ("wilson", "exact", "log")),
        srb.compare(births.iloc[:3].reset_index(drop=True), births.iloc[3:].reset_index(drop=True)),
        srb.heterogeneity(births, by="unit"),
        srb.trend(years), srb.missing_female_births(1130, 1000), srb.funnel(births, label="unit"),
        srb.shrink(births, by="unit"),
        coverage.vs_target(served, by=["unit", "period", "area"], adjust_within="area", design_effect=2.0,
                           interval="exact", alternative="two-sided", correction="bh"),
        coverage.funnel(served, target=0.8, overdispersion="estimate"),
        coverage.compare(served, scale="quasi"), coverage.check_reported(92.1, target=90, eligible=300),
    ]
    for r in results:
        zh = r.method_text("zh")
        assert r.method_text("en") == r.method and zh != r.method and not english_run(zh), (type(r), zh)
        assert sorted(re.findall(r"\d+(?:\.\d+)?", zh)) == sorted(re.findall(r"\d+(?:\.\d+)?", r.method)), (
            r.method, zh)
    vs = results[-4].method_text("zh")
    assert vs.startswith("精确 Clopper–Pearson 95% 置信区间；与目标值比较的精确二项检验（双侧）；在每个 area 内对 12 项比率"
                         "做 Benjamini–Hochberg 多重检验校正；按 Kish 有效样本量 n / 2 计算"), vs


def test_bundled_citations_with_an_english_note_read_in_chinese():
    from analysis.data import load

    notes = [c for c in load("migrant_service_rates")["citation"].dropna().unique() if "as reported by" in c
             or "journal not identified" in c]
    assert notes and all(tables.value_zh(c) != c and "as reported by" not in tables.value_zh(c) for c in notes), notes


def test_english_only_columns_left_out_of_chinese_tables_only():
    frame = pd.DataFrame({"indicator_key": ["x"], "indicator_en": ["health record"], "bound": [">="]})
    zh, untranslated = tables.translated(frame, "zh")
    assert list(zh.columns) == [("指标", "indicator_key"), ("报告形式", "bound")] and untranslated == []
    assert zh.iloc[0, 1] == "≥（不低于）"
    en, _ = tables.translated(frame, "en")
    assert list(en.columns) == ["indicator_key", "indicator_en", "bound"] and en.iloc[0, 2] == ">="


def test_dates_at_midnight_shown_without_time():
    frame = pd.DataFrame({"first_affected": [pd.Timestamp("2016-10-01"), pd.Timestamp("2016-10-01 12:30"), None]},
                         dtype=object)
    text = repr(tables.shown(frame, "en", ("Dates", "日期")))
    assert "2016-10-01\n" in text + "\n" and "00:00:00" not in text and "2016-10-01 12:30:00" in text and "—" in text
