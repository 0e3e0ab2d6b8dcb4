"""analysis.narrative: the notebooks' text helpers."""

from __future__ import annotations

import pytest

from analysis import narrative


def test_in_language_picks_and_shows_the_text(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    for lang, expected in (("zh", "比例为 5.0%"), ("en", "share 5.0%")):
        tr, say = narrative.in_language(lang)
        assert tr("share 5.0%", "比例为 5.0%") == expected
        say("share 5.0%", "比例为 5.0%")
    assert shown == ["比例为 5.0%", "share 5.0%"]
    with pytest.raises(ValueError, match="'zh' or 'en'"):
        narrative.in_language("fr")


def test_p_text():
    from analysis.narrative import p_text

    assert p_text(1.57e-23) == "p < 0.001" and p_text(0.000999) == "p < 0.001"
    assert p_text(0.001) == "p = 0.001" and p_text(0.0426) == "p = 0.043" and p_text(0.9) == "p = 0.900"


def test_ordinal():
    from analysis.narrative import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th", "112th"]


def test_shown_change_matches_the_printed_levels():
    """The national order-1 SRBs (113.742 → 113.184 unrounded, as in the long-form change table) print as
    113.7 → 113.2: the stated change is −0.5, not the unrounded −0.558 → "−0.6"."""
    assert f"{narrative.shown_change(113.742, 113.184):+.1f}" == "-0.5"
    assert f"{narrative.shown_change(161.56, 132.93):+.1f}" == "-28.7"  # printed 161.6 → 132.9; exact −28.63
    assert f"{narrative.shown_change(108.849, 112.598):+.1f}" == "+3.8"
    assert narrative.shown_change(1.234, 2.345, digits=2) == pytest.approx(1.12)


def test_not_run_names_the_region_and_its_level():
    from analysis.data import regions

    en, zh = narrative.not_run(regions.lookup("440000"), for_en="the nation", for_zh="全国")
    assert en == "Not run: this section is for the nation; Guangdong is a province."
    assert zh == "未运行：本节仅适用于全国；本次运行的是广东省（省级单位）。"
    en, zh = narrative.not_run(regions.lookup("000000"), for_en="provinces", for_zh="省级单位")
    assert en == "Not run: this section is for provinces; China is the nation."
    assert zh == "未运行：本节仅适用于省级单位；本次运行的是全国。"


def test_count_puts_the_noun_in_its_number():
    from analysis.narrative import count

    assert [count(n, "year") for n in (0, 1, 2)] == ["0 years", "1 year", "2 years"]
    assert count(1, "county", "counties") == "1 county" and count(3_283, "county", "counties") == "3,283 counties"


def test_emphasis_only_where_the_interval_excludes_the_null():
    from analysis.narrative import emphasis

    assert emphasis("+0.380‰", -0.051, 0.812) == "+0.380‰"  # the interval spans 0: not stressed
    assert emphasis("1.82 M", 0.61, 2.94) == "**1.82 M**" and emphasis("-3", -5, -1) == "**-3**"
    assert emphasis("1.086", 1.037, 1.137, null=1) == "**1.086**" and emphasis("0.99", 0.95, 1.03, null=1) == "0.99"


def test_span_never_lets_a_minus_sign_read_as_a_dash():
    assert narrative.span(117.6, 133.9, ".1f") == ("117.6–133.9", "117.6–133.9")
    assert narrative.span(0, 1234.4) == ("0–1,234", "0–1,234")
    assert narrative.span(-373.2, 261.0) == ("-373 to 261", "-373 至 261")  # was "-373–261"
    assert narrative.span(-3.6, -0.25, "+.1f") == ("-3.6 to -0.2", "-3.6 至 -0.2")
