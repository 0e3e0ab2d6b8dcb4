"""Notebook text in the notebook's language: ``tr, say = narrative.in_language(lang)``.

Every study notebook writes its findings as sentences built from the computed numbers, once in English and once
in Chinese; ``tr(en, zh)`` picks the one for ``lang`` and ``say(en, zh)`` shows it as Markdown.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.exceptions import ModelSpecificationError

LANGS = ("zh", "en")

#: Birth orders as Chinese text names them (一孩 … 五孩及以上, as NBS does), by the codes of the data.
ORDER_ZH = {"all": "合计", "1": "一孩", "2": "二孩", "3": "三孩", "3+": "三孩及以上", "4": "四孩", "5+": "五孩及以上"}


def check_lang(lang: object) -> None:
    """A ModelSpecificationError (a ValueError) unless ``lang`` is ``"zh"`` or ``"en"``."""
    if lang not in LANGS:
        raise ModelSpecificationError(f"lang must be 'zh' or 'en', got {lang!r}")


def in_language(lang: str) -> tuple[Callable[[str, str], str], Callable[[str, str], None]]:
    """``(tr, say)`` for ``lang`` (``"zh"`` or ``"en"``; anything else is a ModelSpecificationError, a ValueError):
    ``tr(en, zh)`` returns
    the text in that language, ``say(en, zh)`` displays it as Markdown (IPython)."""
    check_lang(lang)

    def tr(en: str, zh: str) -> str:
        return zh if lang == "zh" else en

    def say(en: str, zh: str) -> None:
        from IPython.display import Markdown, display

        display(Markdown(tr(en, zh)))

    return tr, say


def p_text(p: float) -> str:
    """A p-value as a reader expects it: "p < 0.001" below 0.001, otherwise three decimals ("p = 0.042")."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the English noun in the number it needs: "1 year", "6 years", "0 statements" (``plural`` for
    irregular nouns: ``count(2, "county", "counties")``; the default adds "s")."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def emphasis(text: str, lower: float, upper: float, null: float = 0.0) -> str:
    """``text`` in bold (Markdown) when the interval ``lower``–``upper`` excludes ``null`` (0 for a difference, 1 for
    a ratio), plain otherwise: the text stresses only what the interval supports."""
    return f"**{text}**" if lower > null or upper < null else text


def span(lower: float, upper: float, spec: str = ",.0f") -> tuple[str, str]:
    """(English, Chinese) text of an interval: "117.6–133.9" when neither end is negative, otherwise "-373 to 261"
    / "-373 至 261", so that a minus sign is never read as a dash (``spec``: the format of each end)."""
    lo, hi = format(lower, spec), format(upper, spec)
    if lower >= 0 and upper >= 0:
        return f"{lo}–{hi}", f"{lo}–{hi}"
    return f"{lo} to {hi}", f"{lo} 至 {hi}"


def ordinal(n: int) -> str:
    """An English ordinal: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 112th."""
    n = int(n)
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def shown_change(before: float, after: float, digits: int = 1) -> float:
    """``after − before`` as a reader computes it from the two values printed with ``digits`` decimals, so that a
    stated change always matches the stated levels (113.7 → 113.2 is a change of −0.5, although the unrounded
    values differ by −0.558); its interval stays that of the exact difference."""
    return round(float(after), digits) - round(float(before), digits)


def not_run(place, *, for_en: str, for_zh: str) -> tuple[str, str]:
    """(English, Chinese) sentence under a section's heading when the section does not apply to ``place`` (a
    :class:`analysis.data.regions.Region`): "Not run: this section is for the nation; Guangdong is a province."
    ``for_en``/``for_zh``: whom the section is for. In Chinese the nation's level is not repeated ("本次运行的是全国",
    not "全国（全国层级）"). Pass it to ``say`` (:func:`in_language`)."""
    from analysis.data.regions import LEVEL_PHRASES

    what_en, what_zh = LEVEL_PHRASES[place.level]
    return (f"Not run: this section is for {for_en}; {place.name('en')} is {what_en}.",
            f"未运行：本节仅适用于{for_zh}；本次运行的是{place.name_zh}"
            + ("。" if place.level == "nation" else f"（{what_zh}）。"))
