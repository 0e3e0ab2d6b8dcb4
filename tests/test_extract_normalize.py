"""Normalisation keeps an exact map back to the original text (analysis.extract.normalize).

Expected strings are written by hand from the inputs below (no external reference is needed: the
conversions are character tables — OpenCC t2s and the Unicode full-width block).
"""

from __future__ import annotations

import pytest

from analysis.extract.normalize import normalize


def test_pinyin_annotations_removed_real_brackets_kept():
    norm = normalize("計(jì)劃(huà)生育,村(居)計生員,GIS系統(GIS),的(de)")
    assert norm.text == "计划生育,村(居)计生员,GIS系统(GIS),的"


def test_full_width_folded_and_traditional_converted():
    norm = normalize("綜合節育率８１．４３％，優於目標")
    assert norm.text == "综合节育率81.43%,优于目标"


def test_markdown_emphasis_removed_and_span_keeps_stars():
    text = "建档**18577人**,建档率**62%**。"
    norm = normalize(text)
    assert norm.text == "建档18577人,建档率62%。"
    i = norm.text.index("建档率")
    start, end = norm.span(i, i + len("建档率62%"))
    assert text[start:end] == "建档率**62%**"


def test_html_tags_and_entities():
    text = "<p>常住人口<b>134.2万</b>人&nbsp;&gt;</p><p>第二段</p>"
    norm = normalize(text)
    assert norm.text == "\n常住人口134.2万人 >\n\n第二段\n"
    i = norm.text.index("常住")
    start, end = norm.span(i, norm.text.index("人 >") + 1)
    assert text[start:end] == "常住人口<b>134.2万</b>人"


def test_every_character_maps_back_into_the_original():
    text = "截至9月底,全區總人口**2247205**人(rén),出生人口性別比爲１１５．０３。"
    norm = normalize(text)
    assert len(norm.starts) == len(norm.text) == len(norm.ends)
    for k, ch in enumerate(norm.text):
        piece = text[norm.starts[k]:norm.ends[k]]
        assert len(piece) == 1
        assert normalize(piece).text == ch


def test_span_rejects_bad_slices():
    norm = normalize("出生")
    with pytest.raises(IndexError):
        norm.span(1, 1)
