"""Indicator statements from report text (analysis.extract.extract).

Reference values are hand labels of our own synthetic fixture reports (tests/fixtures/reports, written
for this project; all numbers fictitious) and of the short texts below; margins are checked by hand
arithmetic (86.5 − 80 = 6.5; 88.2 − 85 = 3.2 ≠ 2.8).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis.extract.extract as extract_module
from analysis.config import ROOT
from analysis.exceptions import DataValidationError
from analysis.extract import (
    COLUMNS,
    check_margins,
    describe_margins,
    extract_indicators,
    extract_report,
    load_vocabulary,
    read_report,
)

FIXTURES = ROOT / "tests" / "fixtures" / "reports"


def pairs(frame: pd.DataFrame) -> set[tuple[str, float]]:
    return {(k, round(v, 6)) for k, v in zip(frame["indicator_key"], frame["value"], strict=True)}


def test_columns_and_quotes_are_exact_spans_of_the_original():
    for path in sorted(FIXTURES.iterdir()):
        report = read_report(path)
        table = extract_report(path)
        assert list(table.columns[: len(COLUMNS)]) == COLUMNS
        assert len(table) > 0, path.name
        for quote, start, end in zip(table["quote"], table["start"], table["end"], strict=True):
            assert report.text[start:end] == quote


def test_simplified_markdown_fixture_hand_labels():
    table = extract_report(FIXTURES / "mianyang_2019.md")
    expected = {
        ("total_population", 4_875_600), ("births_total", 38_600), ("birth_rate_permille", 7.92),
        ("natural_growth_rate_permille", 1.35), ("sex_ratio_at_birth", 106.8),
        ("policy_compliance_rate_pct", 95.62), ("contraceptive_prevalence_rate_pct", 86.5),
        ("birth_control_prevalence_rate_pct", 88.2), ("out_of_policy_multichild_rate_pct", 0.21),
        ("birth_service_certificates_second_child", 3120), ("two_child_births", 1408),
        ("two_child_pregnancies", 1150), ("births_male", 19_500), ("births_female", 18_200),
        ("hospital_delivery_rate_pct", 99), ("maternal_mortality_ratio_per_100k", 12.35),
        ("mwra_count", 520_000), ("sex_ratio_at_birth", 109.3), ("sex_ratio_at_birth", 104.1),
        ("migrant_inflow_population", 214_000), ("migrant_efiling_rate_pct", 93.4),
        ("migrant_key_info_submission_rate_pct", 91.2), ("migrant_e_cert_verification_rate_pct", 96),
        ("migrant_e_cert_preaudit_rate_pct", 96), ("parenting_record_rate_pct", 70.5),
        ("reward_assistance_recipients", 12_000),
    }
    assert pairs(table) == expected
    row = table.set_index("indicator_key").loc["birth_rate_permille"]
    assert row["flags"] == "permille_printed_as_pct" and row["unit"] == "permille"
    hedged = table.set_index("indicator_key")
    assert hedged.loc["mwra_count", "bound"] == "~" and hedged.loc["mwra_count", "approx"]
    assert hedged.loc["hospital_delivery_rate_pct", "bound"] == ">="
    assert not hedged.loc["total_population", "approx"]
    assert hedged.loc["birth_service_certificates_second_child", "unit"] == "couples"


def test_margins_targets_and_check():
    table = extract_report(FIXTURES / "mianyang_2019.md").set_index("indicator_key")
    assert table.loc["contraceptive_prevalence_rate_pct", ["target_value", "margin_pp"]].tolist() == [80, 6.5]
    assert table.loc["contraceptive_prevalence_rate_pct", "margin_check"] == "ok"
    assert table.loc["birth_control_prevalence_rate_pct", "margin_check"] == "mismatch"
    assert "margin_mismatch" in table.loc["birth_control_prevalence_rate_pct", "flags"]
    assert pd.isna(table.loc["policy_compliance_rate_pct", "target_value"])
    assert table.loc["policy_compliance_rate_pct", "margin_pp"] == 3.62
    assert table.loc["out_of_policy_multichild_rate_pct", "target_value"] == 0.3  # 控制在0.3内
    assert table.loc["out_of_policy_multichild_rate_pct", "margin_check"] == "ok"  # 0.21 <= 0.3
    checked = check_margins(table.reset_index()).set_index("indicator_key")
    # a ceiling has no margin to add up: its check is reported as such, not counted as "ok"
    assert checked.loc["out_of_policy_multichild_rate_pct", "status"] == "within ceiling"
    assert np.isnan(checked.loc["out_of_policy_multichild_rate_pct", "tolerance"])  # no margin, no tolerance (was 0.505)
    assert checked.loc["birth_control_prevalence_rate_pct", "implied_margin"] == pytest.approx(3.2)
    assert checked.loc["birth_control_prevalence_rate_pct", "status"] == "mismatch"
    assert checked.loc["contraceptive_prevalence_rate_pct", "tolerance"] == pytest.approx(0.1)  # 0.05 + 0.05
    assert checked.loc["policy_compliance_rate_pct", "status"] == "incomplete"


def test_describe_margins_counts_each_status():
    """'5 state a target or margin; 1 do not add up' read as if 4 checked out: the sentence now counts the
    statements that add up, do not, stay within a stated ceiling (控制在0.3内: nothing to add up) and cannot be
    checked (incomplete), in both languages."""
    table = extract_report(FIXTURES / "mianyang_2019.md")
    margins = check_margins(table)
    status = margins["status"].value_counts()
    assert (status["ok"], status["mismatch"], status["within ceiling"], status["incomplete"]) == (1, 1, 1, 1)
    assert describe_margins(margins) == (
        "4 statements state a target or margin: 1 adds up within rounding, **1** does not (|value − target| ≠ "
        "margin), 1 stays within its stated ceiling and 1 cannot be checked (no target stated).")
    assert describe_margins(margins, lang="zh") == (
        "4 条陈述给出了目标或超额百分点：1 条在四舍五入范围内相符，**1** 条不相符（|数值 − 目标| ≠ 所述超额百分点），"
        "1 条未超过所述上限，1 条无法核对（未给出目标）。")
    over = margins.assign(status=margins["status"].replace({"within ceiling": "above ceiling"}))
    assert "**1** exceeds its stated ceiling and 1 cannot" in describe_margins(over)
    assert describe_margins(margins[margins["status"].isin(["ok", "mismatch"])]) == (
        "2 statements state a target or margin: 1 adds up within rounding and **1** does not (|value − target| ≠ "
        "margin).")
    two = pd.concat([margins, margins[margins["status"] == "mismatch"]], ignore_index=True)
    assert "**2** do not" in describe_margins(two)
    no_margin = margins.copy()  # the one that adds up, as if its margin had not been printed
    was_ok = no_margin["status"] == "ok"
    no_margin.loc[was_ok, "status"], no_margin.loc[was_ok, "margin_pp"] = "incomplete", float("nan")
    assert describe_margins(no_margin).endswith(
        "0 add up within rounding, **1** does not (|value − target| ≠ margin), 1 stays within its stated ceiling "
        "and 2 cannot be checked (1 with no target stated, 1 with no margin stated).")
    assert describe_margins(no_margin, lang="zh").endswith("2 条无法核对（1 条未给出目标，1 条未给出超额百分点）。")
    assert describe_margins(margins.iloc[:0]) == "No statement states a target or margin."
    assert describe_margins(margins.iloc[:0], lang="zh") == "没有陈述给出目标或超额百分点。"


def test_margin_with_two_decimals_and_no_target():
    table = extract_indicators("出生政策符合率96.81%,优于责任指标11.93个百分点。")
    assert table["margin_pp"].tolist() == [11.93]
    assert table["target_value"].isna().all()
    text = "综合避孕率81.40%,优于省考核目标75%以上6.43个百分点。"
    assert extract_indicators(text)["margin_check"].tolist() == ["mismatch"]  # 6.40 ≠ 6.43 (tolerance 0.01)


def test_periods_need_the_report_year_for_relative_words():
    text = "截至9月底,全市出生人口性别比为108.1。去年全市综合避孕率90.1%。2015年全市总人口12.3万人。"
    unknown = extract_indicators(text).set_index("indicator_key")["period"]
    assert unknown.to_dict() == {"sex_ratio_at_birth": "", "contraceptive_prevalence_rate_pct": "",
                                 "total_population": "2015"}
    known = extract_indicators(text, report_year=2019).set_index("indicator_key")["period"]
    assert known.to_dict() == {"sex_ratio_at_birth": "2019-09-30", "contraceptive_prevalence_rate_pct": "2018",
                               "total_population": "2015"}
    header = "标题: 测试\n日期: 2020-03-01\n\n" + text
    assert extract_indicators(header).set_index("indicator_key").loc["sex_ratio_at_birth", "period"] == "2020-09-30"


def test_ambiguous_terms_need_context_and_units_must_fit():
    assert extract_indicators("全区婴幼儿家庭建档18577人,建档率62.37%。").empty
    table = extract_indicators("流动人口工作扎实,建档率62.37%。")
    assert pairs(table) == {("migrant_efiling_rate_pct", 62.37)}
    assert extract_indicators("全市出生人口性别比持续下降。").empty
    assert extract_indicators("综合避孕率逐年提高,达到2016年目标。").empty


def test_traditional_gb18030_fixture_with_pinyin_and_damage():
    report = read_report(FIXTURES / "nanhu_2021_traditional_gb18030.txt")
    assert report.encoding == "gb18030"
    table = extract_report(FIXTURES / "nanhu_2021_traditional_gb18030.txt", report_year=2021)
    assert pairs(table) == {
        ("registered_population", 386_200), ("mwra_count", 70_000), ("births_total", 3400),
        ("sex_ratio_at_birth", 105.6), ("birth_rate_permille", 8.71),
        ("birth_control_prevalence_rate_pct", 91.3), ("prepregnancy_check_coverage_pct", 88),
        ("mwra_migrant", 23_000),
    }
    by_key = table.set_index("indicator_key")
    assert by_key.loc["birth_control_prevalence_rate_pct", "margin_pp"] == 6.3  # full-width ６．３
    assert by_key.loc["prepregnancy_check_coverage_pct", "quote"] == "孕前優生檢查覆蓋(gài)率達(dá)88%"
    assert by_key.loc["mwra_migrant", "flags"] == "encoding_damage"
    assert by_key.loc["births_total", "period"] == "2020"  # 去年 in a 2021 report
    assert by_key.loc["registered_population", "period"] == "2021-06-30"  # 截至今年6月底
    assert set(table["region_code"]) == {"330402"}


def test_damaged_utf8_header_region_and_flag():
    report = read_report(FIXTURES / "county_2018_damaged_utf8.txt")
    assert report.replaced == 2 and report.encoding.endswith("(damaged)")
    table = extract_report(FIXTURES / "county_2018_damaged_utf8.txt").set_index("indicator_key")
    assert table.loc["sex_ratio_at_birth", "value"] == 108.4
    assert table.loc["sex_ratio_at_birth", "flags"] == "encoding_damage"
    assert set(table["region_code"]) == {"330483"}  # header region: 330483; 全县 is the same county
    assert table.loc["births_total", "period"] == "2017"  # header year 2018, 去年


def test_html_bom_fixture():
    report = read_report(FIXTURES / "lucheng_2022_bom.html")
    assert report.encoding == "utf-8-sig" and not report.text.startswith("\ufeff")
    table = extract_report(FIXTURES / "lucheng_2022_bom.html")
    assert ("births_second_child", 1245) in pairs(table)
    assert ("maternal_mortality_ratio_per_100k", 0) in pairs(table)
    assert table["source"].str.contains("鹿城区").all()


def test_district_named_in_sentence_and_unnamed_whole_district():
    table = extract_report(FIXTURES / "mianyang_2019.md")
    srb = table[table["indicator_key"] == "sex_ratio_at_birth"].set_index("value")
    assert srb.loc[106.8, "region_code"] == "510700"
    assert srb.loc[109.3, ["region", "region_code"]].tolist() == ["涪城区", "510703"]
    assert srb.loc[104.1, "region_code"] == "510704"
    unnamed = extract_indicators("绵阳市工作总结。全区出生人口性别比为110.2。绵阳市出生人口性别比为107.1。")
    assert unnamed[["region", "region_code"]].values.tolist() == [["全区", ""], ["绵阳市", "510700"]]


def test_without_region_registry_regions_fail_soft(monkeypatch):
    monkeypatch.setattr(extract_module, "_registry", lambda: None)
    extract_module._resolve.cache_clear()
    extract_module._place_pattern.cache_clear()
    try:
        table = extract_indicators("全市出生人口性别比为108.1。", region="某市")
        assert table[["region", "region_code"]].values.tolist() == [["某市", ""]]
    finally:
        extract_module._resolve.cache_clear()
        extract_module._place_pattern.cache_clear()


def test_user_vocabulary_extends_and_bad_vocabulary_is_named(tmp_path):
    extra = tmp_path / "extra.csv"
    extra.write_text("indicator_key,unit,zh_terms\nfolic_acid_recipients,persons,免费提供叶酸 / 叶酸服用\n",
                     encoding="utf-8")
    table = extract_indicators("叶酸服用1.5万人。", vocabulary=load_vocabulary(extra=extra))
    assert pairs(table) == {("folic_acid_recipients", 15_000)}
    assert "total_population" in load_vocabulary(extra=extra).units()
    bad = tmp_path / "bad.csv"
    bad.write_text("indicator_key,unit,zh_terms\nx,persons,甲\ny,furlongs,乙\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"bad.csv: row 3: column 'unit'"):
        load_vocabulary(bad)


def test_shipped_vocabulary_keeps_the_headline_keys():
    vocab = load_vocabulary()
    assert len(vocab.headline_keys) == 34
    assert {"sex_ratio_at_birth", "birth_rate_permille", "migrant_efiling_rate_pct"} <= set(vocab.headline_keys)


def test_empty_and_invalid_input():
    empty = extract_indicators("没有任何数字的段落。")
    assert empty.empty and list(empty.columns[: len(COLUMNS)]) == COLUMNS
    with pytest.raises(DataValidationError, match="must be str"):
        extract_indicators(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("content", "message"), [(b"", "empty"), (b"\x00\x01binary", "binary"),
                                                  (bytes(range(128, 256)) * 20, "undecodable")])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "r.txt"
    path.write_bytes(content)
    with pytest.raises(DataValidationError, match=message):
        read_report(path)
    with pytest.raises(DataValidationError, match="cannot read"):
        read_report(tmp_path / "missing.txt")


def test_changes_ranges_and_lists():
    table = extract_indicators("出生人口性别比由2015年的118.2下降到2016年的112.4。")
    assert table[["period", "value"]].values.tolist() == [["2015", 118.2], ["2016", 112.4]]
    table = extract_indicators("出生政策符合率由90.2%提高到95.1%。", report_year=2018)
    assert table[["period", "value"]].values.tolist() == [["", 90.2], ["2018", 95.1]]
    table = extract_indicators("人口出生率、死亡率和自然增长率分别为10.5‰、6.2‰和4.3‰。")
    assert pairs(table) == {("birth_rate_permille", 10.5), ("death_rate_permille", 6.2),
                            ("natural_growth_rate_permille", 4.3)}
    assert extract_indicators("1-9月全县出生1,204人。", report_year=2018)["period"].tolist() == ["2018-01/2018-09"]
    assert extract_indicators("2017年1-6月,全县出生1,204人。")["period"].tolist() == ["2017-01/2017-06"]


def test_context_words_must_come_before_the_term():
    table = extract_indicators("全市已婚育龄妇女45.6万人,其中流动已婚育龄妇女3.2万人。")
    assert table[["indicator_key", "value"]].values.tolist() == [["mwra_count", 456_000], ["mwra_migrant", 32_000]]


def test_value_before_term_keeps_its_hedge():
    table = extract_indicators("累计为近3万名奖励扶助对象发放资金。")
    assert table[["indicator_key", "value", "bound", "quote"]].values.tolist() == [
        ["reward_assistance_recipients", 30_000, "~", "近3万名奖励扶助对象"]]


@pytest.mark.parametrize("year", ["2016", 16.5, True, 16])
def test_report_year_must_be_a_year(year):
    with pytest.raises(DataValidationError, match="report_year"):
        extract_indicators("出生1204人。", report_year=year)


def test_numbers_that_are_not_indicator_statements():
    text = ("全市共有计生协会1200个,会员5.6万人;开展宣传活动300余场,发放资料20万份。出生缺陷发生率下降2个百分点。"
            "全市出生人口中,二孩占比达到45.2%。新生儿疾病筛查率98%。流动人口占总人口3.2%。女孩2000名获得助学金。")
    assert extract_indicators(text).empty
    table = extract_indicators("全年共出生人口5123人,其中男孩2701人、女孩2422人。")
    assert pairs(table) == {("births_total", 5123), ("births_male", 2701), ("births_female", 2422)}
