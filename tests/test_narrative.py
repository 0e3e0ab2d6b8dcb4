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
