"""Numbers as printed in Chinese report text (after :func:`~analysis.extract.normalize.normalize`).

``NUMBER_RE`` reads a hedge prefix (近, 约, 超过, 逾 …), the digits (with thousands separators and
decimals), 多/余, a magnitude word (万, 亿, 千万, 百万, 千 — multiplied out), a unit or measure word
(%, ‰, ``/10万`` as a denominator, 人, 名, 对, 户, 例, 人次, 元 …) and a bound suffix (以上, 以内, 以下, 左右).
``parse_number(text, pos)`` returns a :class:`Number` when a number starts exactly at ``pos``.
Chinese-numeral digits (一千二百) are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Number", "NUMBER_RE", "MAGNITUDES", "parse_number", "decimals"]

#: Magnitude words and their factors (traditional forms are folded to simplified before matching).
MAGNITUDES: dict[str, float] = {"千万": 1e7, "百万": 1e6, "万": 1e4, "亿": 1e8, "千": 1e3}
#: Denominators written after a slash: 9.77/10万 is a rate per 100 000.
DENOMINATORS: dict[str, str] = {"/10万": "per_100k", "/十万": "per_100k", "/100000": "per_100k",
                                "/1000": "permille", "/万": "per_10k", "/1万": "per_10k"}
MEASURES = ("人次", "个百分点", "个千分点", "人", "名", "对", "户", "例", "个", "元", "次", "家", "本", "份",
            "张", "位", "所", "期", "册", "宗", "条", "项")
_PRE = r"(?P<pre>将近|接近|超过|大约|约|近|逾)?"
_NUM = r"(?P<num>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?"
_MAG = r"(?P<suf1>多|余)?(?P<mag>千万|百万|万|亿|千)?(?P<suf2>多|余)?"
_UNIT = (r"(?P<unit>%|‰|" + "|".join(re.escape(d) for d in DENOMINATORS) + "|"
         + "|".join(MEASURES) + r")?")
_POST = r"(?P<post>以上|以下|以内|之内|左右|内)?"
NUMBER_RE = re.compile(_PRE + _NUM + _MAG + _UNIT + _POST)

_APPROX_PRE = {"将近": "~", "接近": "~", "大约": "~", "约": "~", "近": "~", "超过": ">", "逾": ">"}
_BOUND_POST = {"以上": ">=", "以下": "<=", "以内": "<=", "之内": "<=", "内": "<=", "左右": "~"}


@dataclass(frozen=True)
class Number:
    """A number read from normalised text: ``value`` with the magnitude multiplied out.

    ``sign`` is the unit or measure word as printed (``"%"``, ``"‰"``, ``"/10万"``, ``"人"``, ``""``);
    ``approx`` is True for hedged numbers (近, 约, 多, 余, 以上, 左右 …) and ``bound`` says how:
    ``"="`` exact, ``"~"`` about, ``">="``/``">"`` at least / more than, ``"<="`` at most.
    ``decimals`` is the number of printed decimals (for rounding tolerances).
    """

    value: float
    start: int
    end: int
    sign: str
    magnitude: str
    approx: bool
    bound: str
    decimals: int
    text: str
    digits_start: int = -1  # where the digits begin (after a hedge such as 近)


def parse_number(text: str, pos: int) -> Number | None:
    """The number starting at ``pos`` of normalised ``text`` (hedge prefix included), or None.

    A number glued to a preceding digit, Latin letter or decimal point (a code like ``B2``) is refused.
    """
    m = NUMBER_RE.match(text, pos)
    if m is None:
        return None
    num_start = m.start("num")
    if num_start > 0 and (text[num_start - 1].isdigit() or text[num_start - 1] in ".-/"
                          or text[num_start - 1].isascii() and text[num_start - 1].isalpha()):
        return None
    digits = m.group("num").replace(",", "")
    frac = m.group("frac") or ""
    value = float(digits + frac)
    mag = m.group("mag") or ""
    sign = m.group("unit") or ""
    # a 4-digit year ("2016年") is a date, not a count; 年/月/日/岁 after the digits mean the same
    after = text[m.end("frac") if frac else m.end("num"):][:1]
    if not mag and not sign and after in ("年", "月", "日", "岁", "-", "—", "~", "至", "号"):
        return None
    if mag:
        value *= MAGNITUDES[mag]
        value = round(value, 6)
    bound = "="
    pre, post = m.group("pre") or "", m.group("post") or ""
    if m.group("suf1") or m.group("suf2"):
        bound = ">"
    if pre in _APPROX_PRE:
        bound = _APPROX_PRE[pre]
    if post in _BOUND_POST:
        bound = _BOUND_POST[post]
    return Number(value=value, start=m.start(), end=m.end(), sign=sign, magnitude=mag,
                  approx=bound != "=", bound=bound, decimals=len(frac) - 1 if frac else 0,
                  text=m.group(0), digits_start=num_start)


def decimals(value: float) -> int:
    """Printed decimals of a float as stored (81.43 → 2, 75.0 → 0)."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0
    frac = text.split(".")[1].rstrip("0")
    return len(frac)
