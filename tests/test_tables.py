"""Tables shown in the notebook's language (analysis.tables): Chinese headers and category values, the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import srb, tables
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
    assert repr(zh).splitlines()[1] == f"方法：{mfb.method}" and repr(en).splitlines()[1] == f"Method: {mfb.method}"
    assert "女婴缺失数" in zh._repr_html_() and ">missing<" in zh._repr_html_()
    with pytest.raises(ModelSpecificationError, match="needs a caption"):
        tables.shown(mfb.table, "zh")
    with pytest.raises(ModelSpecificationError, match="lang must be"):
        tables.show_in("fr")
