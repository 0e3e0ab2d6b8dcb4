"""Indicator statements from report text: one row per (indicator, value) statement.

Method (rule-based, no learning): the text is normalised (:mod:`analysis.extract.normalize`), split into
sentences (。！？；, line breaks), and each vocabulary term is read with the number that follows it, after
connectors such as 为/达/达到/均达/保持在 (``综合避孕率为81.43%``), or with the number directly before it
(``2000对符合政策的夫妻办理两孩生育服务证``). Terms joined by 和/及/与/、 share a value (``A和B均达到95%``) or
take one value each after 分别. A number is a statement of an indicator only when its printed unit fits the
indicator's unit (``UNIT_SIGNS``). A comparison after the value gives the target and the margin
(``优于省考核目标75%以上6.43个百分点``, ``优于责任指标11.93个百分点``, ``控制在0.3以内``).

Periods come from the last explicit date or year before the statement in its sentence (2016年, 2016年9月底,
截至9月30日); relative words (今年, 去年, 截至9月底, 目前) are resolved only when ``report_year`` is known, and a
sentence without a time word takes the report's year (empty if unknown; cumulative statements — 累计, 先后,
历年 — stay empty). Regions: the report's region (argument, header line or the most-mentioned place that the
region registry resolves) unless the sentence names another place before the statement.
"""

from __future__ import annotations

import calendar
import functools
import html
import math
import numbers
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import NATION_CODE
from analysis.exceptions import AnalysisError, DataValidationError
from analysis.extract.normalize import NormalizedText, normalize
from analysis.extract.numbers import NUMBER_RE, Number, decimals, parse_number
from analysis.extract.vocabulary import COUNT_UNITS, UNIT_SIGNS, Term, Vocabulary, load_vocabulary

__all__ = [
    "COLUMNS", "EXTRA_COLUMNS", "REPORT_SUFFIXES", "Report", "check_margins", "empty_table",
    "extract_indicators", "extract_report", "parse_header", "read_report",
]

#: File suffixes read as reports when a folder is given.
REPORT_SUFFIXES = (".txt", ".md", ".html", ".htm")
#: The columns of issue 7, in order.
COLUMNS = ["source", "region", "period", "indicator_key", "value", "unit", "approx", "target_value",
           "margin_pp", "quote", "start", "end"]
#: Extra columns: registry code of the region, how a hedged value is bounded, the margin check and flags.
EXTRA_COLUMNS = ["region_code", "bound", "printed_unit", "margin_check", "flags"]

_SENTENCE_END = re.compile(r"[。！？!?;；\n]")
_CONNECTOR = re.compile(
    r"(?:\s|\ufffd|:|均|都|分别|已经|已|共计|共|累计|总计|合计|仅|约为|为|是|达到了|达到|已达|达|提高到|提高至|提升到|提升至|"
    r"上升到|上升至|下降到|下降至|降至|降到|升至|增至|增加到|保持在|稳定在|控制在|计|有)*"
)
_JOIN = re.compile(r"\s*(?:和|及|与|、|以及)\s*")
_LIST_SEP = re.compile(r"\s*(?:,|、|和|及)\s*")
_NUMTXT = r"\d+(?:\.\d+)?"
_COMPARE = re.compile(
    r"\s*,?\s*(?P<verb>优于|好于|高于|超过|超出|低于|少于)(?P<who>[^,。;\d%]{0,14}?)"
    rf"(?:(?P<tnum>{_NUMTXT})(?![\d.])(?P<tsign>%|‰)?(?:以上|以下)?(?P<mnum>{_NUMTXT})个(?:百分点|千分点)"
    rf"|(?P<mnum2>{_NUMTXT})个(?:百分点|千分点)"
    rf"|(?P<tnum2>{_NUMTXT})(?P<tsign2>%|‰)?(?!\d))"
)
_CEILING = re.compile(
    r"\s*,?\s*(?:均|都)?(?P<verb>控制在|不超过|不高于|未超过)(?P<who>[^,。;\d%]{0,14}?)"
    rf"(?P<tnum>{_NUMTXT})(?P<tsign>%|‰)?(?:以内|之内|内|以下)?"
)
_CHANGE_FROM = re.compile(r"(?:由|从)(?:(?P<year>(?:19|20)\d{2})年(?:的|底|末)?)?")
_CHANGE_TO = re.compile(r"(?:下降|上升|提高|提升|降低|增加|减少|增长|回落|回升|升|降)?(?:到|至|为)"
                        r"(?:(?P<year>(?:19|20)\d{2})年(?:的|底|末)?)?")
_CUMULATIVE = re.compile(r"累计|先后|历年|多年来")
_WHOLE_AREA = re.compile(r"全(市|区|县|省|州|旗|盟)")
#: Words for the whole reporting area (全市, 全区 …) that fit a region of each level.
_LEVEL_WORDS = {"nation": "国", "province": "省区市", "prefecture": "市州盟", "county": "县区市旗"}


# --------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Report:
    """A decoded report: ``text`` (the original, BOM removed), the ``encoding`` used and its ``header``."""

    path: str
    text: str
    encoding: str
    header: dict[str, str]
    replaced: int = 0


_HEADER_KEYS = {"title": "title", "标题": "title", "url": "url", "网址": "url", "链接": "url",
                "source": "source", "来源": "source", "date": "date", "日期": "date", "发布时间": "date",
                "发布日期": "date", "year": "year", "年份": "year", "region": "region", "地区": "region"}
_HEADER_RE = re.compile(r"^\s*(?P<key>[A-Za-z]+|[\u4e00-\u9fff]{2,4})\s*[:：]\s*(?P<value>.+?)\s*$")


def parse_header(text: str) -> dict[str, str]:
    """Leading ``key: value`` lines (title/标题, url/网址, source/来源, date/日期, year/年份, region/地区);
    an HTML page's ``<title>`` when no title line is given."""
    header: dict[str, str] = {}
    for line in text.lstrip("\ufeff").splitlines():
        if not line.strip():
            if header:
                break
            continue
        m = _HEADER_RE.match(line)
        if m is None or m.group("key").lower() not in _HEADER_KEYS:
            break
        header[_HEADER_KEYS[m.group("key").lower()]] = m.group("value")
    if "title" not in header:
        m = re.search(r"<title[^>]*>\s*(.*?)\s*</title>", text[:5000], re.S | re.I)
        if m and m.group(1):
            header["title"] = html.unescape(m.group(1))
    return header


def read_report(path: str | Path, *, max_damage: float = 0.01) -> Report:
    """Read a .txt/.md/.html report: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030.

    A file that is UTF-8 or GB18030 except for a few invalid bytes (at most 8, or ``max_damage`` of the
    characters) is read with those bytes replaced by U+FFFD; statements near them are flagged
    ``encoding_damage``. Missing, empty, binary or undecodable files raise
    :class:`~analysis.exceptions.DataValidationError` naming the file and the problem.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataValidationError(f"cannot read file: {exc.strerror or exc}", path=str(path)) from exc
    if not raw.strip():
        raise DataValidationError("file is empty", path=str(path))
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
        return Report(str(path), text, "utf-16", parse_header(text))
    if b"\x00" in raw:
        raise DataValidationError("binary file (NUL bytes), not a text report", path=str(path),
                                  expected="a .txt/.md/.html text in UTF-8, UTF-8-BOM or GB18030")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            text = raw.decode(encoding, errors="replace")
            replaced = text.count("\ufffd")
            if replaced <= max(8, max_damage * len(text)):
                return Report(str(path), text, f"{encoding} (damaged)", parse_header(text), replaced)
            continue
        return Report(str(path), text, encoding, parse_header(text))
    raise DataValidationError("undecodable text (more than "
                              f"{max_damage:.0%} invalid bytes as UTF-8 and as GB18030)", path=str(path),
                              expected="UTF-8, UTF-8-BOM or GB18030 text")


# --------------------------------------------------------------------------------------------- periods
@dataclass(frozen=True)
class _Time:
    start: int
    period: str  # "" when relative and the report year is unknown


def _month_end(year: int, month: int) -> str:
    return f"{year}-{month:02d}-{calendar.monthrange(year, month)[1]:02d}"


def _times(text: str, report_year: int | None) -> list[_Time]:
    """Time expressions of normalised text, in order."""
    found: list[_Time] = []
    ry = report_year
    pattern = re.compile(
        r"(?P<ya>(?:19|20)\d{2})年(?P<ma>\d{1,2})[-—~至到](?P<mb>\d{1,2})月(?!底|末|\d)"
        r"|(?<![\d年])(?P<qa>\d{1,2})[-—~至到](?P<qb>\d{1,2})月(?!底|末|\d)"
        r"|(?P<y>(?:19|20)\d{2})年(?:(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})日|(?P<me>底|末))?|(?P<h>上半年|下半年))?"
        r"|(?:截至|截止到?|到)(?P<rm>\d{1,2})月(?:(?P<rd>\d{1,2})日|(?P<rme>底|末))?"
        r"|(?P<rel>今年|本年度?|全年|年内|当年|去年|上年|前年|目前|截至目前|一年来)"
        r"|(?P<rm2>\d{1,2})月(?P<rme2>底|末)"
    )
    for m in pattern.finditer(text):
        period = ""
        year_txt = m.group("ya") or (str(ry) if m.group("qa") and ry is not None else None)
        if m.group("ya") or m.group("qa"):
            a, b = int(m.group("ma") or m.group("qa")), int(m.group("mb") or m.group("qb"))
            if year_txt and 1 <= a <= b <= 12:
                period = f"{year_txt}-{a:02d}/{year_txt}-{b:02d}"
        elif m.group("y"):
            year = int(m.group("y"))
            if m.group("h"):
                period = f"{year}-H1" if m.group("h") == "上半年" else f"{year}-H2"
            elif m.group("m") and 1 <= int(m.group("m")) <= 12:
                month = int(m.group("m"))
                if m.group("d"):
                    period = f"{year}-{month:02d}-{int(m.group('d')):02d}"
                elif m.group("me"):
                    period = _month_end(year, month)
                else:
                    period = f"{year}-{month:02d}"
            else:
                period = str(year)
        elif ry is not None:
            month_txt = m.group("rm") or m.group("rm2")
            if month_txt and 1 <= int(month_txt) <= 12:
                month = int(month_txt)
                if m.group("rd"):
                    period = f"{ry}-{month:02d}-{int(m.group('rd')):02d}"
                elif m.group("rme") or m.group("rme2") or m.group("rm"):
                    period = _month_end(ry, month) if (m.group("rme") or m.group("rme2")) else f"{ry}-{month:02d}"
            elif m.group("rel"):
                rel = m.group("rel")
                period = str(ry - 1) if rel in ("去年", "上年") else str(ry - 2) if rel == "前年" else str(ry)
        found.append(_Time(m.start(), period))
    return found


# --------------------------------------------------------------------------------------------- regions
def _registry():
    try:
        from analysis.data import regions
    except ImportError:  # the registry is optional for extraction
        return None
    return regions


@functools.lru_cache(maxsize=4096)
def _resolve(name: str, within: str | None) -> tuple[str, str] | None:
    """(code, name_zh) of a place name via the region registry, or None (unknown, ambiguous, no registry)."""
    regions = _registry()
    if regions is None:
        return None
    try:
        reg = regions.lookup(name, within=within) if within else regions.lookup(name)
    except (AnalysisError, LookupError, ValueError, OSError):
        return None
    return reg.code, reg.name_zh


#: Registry names that are also common words in reports.
_GENERIC_NAMES = frozenset({"城区", "郊区", "矿区", "新区", "市辖区", "市中区", "全州县", "林区"})


def _level_of(code: str) -> str:
    if code == NATION_CODE:
        return "nation"
    return "province" if code.endswith("0000") else "prefecture" if code.endswith("00") else "county"


@functools.cache
def _place_pattern() -> re.Pattern[str] | None:
    """One alternation of the full Chinese names of the registry (longest first); None without registry."""
    regions = _registry()
    if regions is None:
        return None
    try:
        names: set[str] = set()
        for level in ("province", "prefecture", "county"):
            names.update(n for n in regions.children(NATION_CODE, level)["name_zh"] if isinstance(n, str))
    except (AnalysisError, LookupError, ValueError, OSError, KeyError):
        return None
    names = {n for n in names if len(n) >= 2 and n not in _GENERIC_NAMES}
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))))


def _places(norm: str) -> list[tuple[int, str]]:
    pattern = _place_pattern()
    return [] if pattern is None else [(m.start(), m.group(0)) for m in pattern.finditer(norm)]


def _report_region(norm: str, places: list[tuple[int, str]], region: str | None) -> tuple[str, str]:
    """(name, code) of the reporting area: the argument, else the most-mentioned resolvable place
    (mentions of its short name, 海口 for 海口市, count too)."""
    if region:
        hit = _resolve(str(region), None)
        return (hit[1], hit[0]) if hit else (str(region), "")
    counts: dict[tuple[str, str], int] = {}
    for _, name in places:
        hit = _resolve(name, None)
        if hit is None or hit in counts:
            continue
        short = re.sub(r"(市|区|县|省|州|盟|旗)$", "", hit[1])
        counts[hit] = len(re.findall(re.escape(short if len(short) >= 2 else hit[1]), norm))
    if not counts:
        return "", ""
    code, name = max(counts, key=lambda k: (counts[k], -len(k[0].rstrip("0"))))
    return name, code


# --------------------------------------------------------------------------------------------- matching
@dataclass
class _Statement:
    term_start: int
    term_end: int
    key: str
    unit: str
    number: Number
    span_start: int
    span_end: int
    target: float = math.nan
    margin: float = math.nan
    margin_decimals: int = 0
    ceiling: bool = False
    period: str | None = None  # set by the statement itself (由2015年的118.2下降到2016年的112.4)


def _sentences(text: str) -> list[tuple[int, int]]:
    bounds, last = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > last:
            bounds.append((last, m.start()))
        last = m.end()
    if last < len(text):
        bounds.append((last, len(text)))
    return bounds


def _change(text: str, pos: int, end: int) -> list[tuple[Number, str | None]]:
    """``由[2015年的]A[下降]到[2016年的]B`` after a term: [(A, "2015"), (B, "2016")], else []; a year left out
    is "" for A (an earlier, unknown time) and None (the sentence's period) for B."""
    m1 = _CHANGE_FROM.match(text, pos, end)
    if m1 is None:
        return []
    a = parse_number(text, m1.end())
    if a is None or a.end > end:
        return []
    m2 = _CHANGE_TO.match(text, a.end, end)
    b = parse_number(text, m2.end()) if m2 else None
    if b is None or b.end > end:
        return []
    return [(a, m1.group("year") or ""), (b, m2.group("year"))]  # an undated starting value: period unknown


def _pick(vocab: Vocabulary, text: str, before: str) -> Term | None:
    """The term meant by ``text``; a term with context words needs one of them earlier in the sentence
    (``before``), so 已婚育龄妇女 before a later 流动 stays the general count."""
    for term in vocab.candidates(text):
        if not term.context or any(w in before for w in term.context):
            return term
    return None


def _fits(term: Term, number: Number) -> bool:
    signs = UNIT_SIGNS[term.unit]
    if number.sign in signs:
        return not (number.magnitude and term.unit not in COUNT_UNITS)
    return term.unit in COUNT_UNITS and number.sign == "" and bool(number.magnitude)


def _unit_of(term: Term, number: Number) -> str:
    if term.unit == "certificates; couples":
        return "couples" if number.sign == "对" else "certificates"
    return term.unit


def _groups(m: re.Match[str]) -> tuple[str | None, str | None, str | None]:
    """(target, target sign, margin) texts of a comparison match."""
    g = m.groupdict()
    return (g.get("tnum") or g.get("tnum2"), g.get("tsign") or g.get("tsign2"), g.get("mnum") or g.get("mnum2"))


def _comparison(text: str, pos: int, end: int, number: Number) -> tuple[re.Match[str] | None, int]:
    """A target/margin clause right after a value (before ``end``), and where it stops. A target printed
    with another sign than the value (75% after a count) is not a target of that value."""
    for pattern in (_COMPARE, _CEILING):
        m = pattern.match(text, pos, end)
        if m is None:
            continue
        target, sign, _ = _groups(m)
        if target and sign and number.sign and sign != number.sign:
            continue
        return m, m.end()
    return None, pos


def _statements(text: str, vocab: Vocabulary) -> list[_Statement]:
    pattern = vocab.pattern()
    out: list[_Statement] = []
    for s0, s1 in _sentences(text):
        sentence = text[s0:s1]
        matches = [(m.start() + s0, m.end() + s0) for m in pattern.finditer(sentence)]
        used_numbers: set[int] = set()
        i = 0
        while i < len(matches):
            # a chain of terms joined by 和/及/与/、
            chain = [matches[i]]
            while i + 1 < len(matches):
                j = _JOIN.match(text, chain[-1][1], s1)
                if j and j.end() == matches[i + 1][0]:
                    chain.append(matches[i + 1])
                    i += 1
                else:
                    break
            i += 1
            conn = _CONNECTOR.match(text, chain[-1][1], s1)
            pos = conn.end()
            change = _change(text, pos, s1) if len(chain) == 1 else []
            term = _pick(vocab, text[chain[0][0]:chain[0][1]], text[s0:chain[0][0]]) if change else None
            if term is not None:
                for num, year in change:
                    if _fits(term, num):
                        used_numbers.add(num.digits_start)
                        out.append(_Statement(chain[0][0], chain[0][1], term.key, term.unit, num, chain[0][0],
                                              num.end, period=year))
                continue
            numbers: list[Number] = []
            first = parse_number(text, pos)
            if first is None or first.end > s1:
                continue
            if "控制在" in conn.group(0) and first.bound == "=":
                first = replace(first, approx=True, bound="<=")
            numbers.append(first)
            if len(chain) > 1 and "分别" in conn.group(0):
                at = first.end
                while len(numbers) < len(chain):
                    sep = _LIST_SEP.match(text, at, s1)
                    nxt = parse_number(text, sep.end()) if sep else None
                    if nxt is None or nxt.end > s1:
                        break
                    numbers.append(nxt)
                    at = nxt.end
                if len(numbers) != len(chain):
                    numbers = []  # values do not line up with the terms: no statement
            elif len(chain) > 1:
                numbers = numbers * len(chain)
            if not numbers:
                continue
            cmp_match, cmp_end = _comparison(text, numbers[-1].end, s1, numbers[-1])
            for (t0, t1), num in zip(chain, numbers, strict=True):
                term = _pick(vocab, text[t0:t1], text[s0:t0])
                if term is None or not _fits(term, num):
                    continue
                used_numbers.add(num.digits_start)
                st = _Statement(t0, t1, term.key, term.unit, num, chain[0][0], max(num.end, cmp_end))
                if cmp_match is not None:
                    _apply_comparison(st, cmp_match)
                out.append(st)
            if cmp_match is not None:
                used_numbers.update(cmp_match.start(g) for g, v in cmp_match.groupdict().items()
                                    if v and g.startswith(("tnum", "mnum")))
        # value before term: 6494对符合政策的夫妻办理两孩生育服务证
        starts = {t0: t1 for t0, t1 in matches}
        for m in NUMBER_RE.finditer(text, s0, s1):
            num = parse_number(text, m.start())
            if num is None or num.digits_start in used_numbers or num.end > s1 or num.end not in starts:
                continue
            if not (num.sign or num.magnitude):
                continue
            term = _pick(vocab, text[num.end:starts[num.end]], text[s0:num.end])
            if term is None or not _fits(term, num) or term.unit not in COUNT_UNITS:
                continue
            out.append(_Statement(num.end, starts[num.end], term.key, term.unit, num, num.start, starts[num.end]))
    return out


def _apply_comparison(st: _Statement, m: re.Match[str]) -> None:
    target, _, margin = _groups(m)
    st.ceiling = m.re is _CEILING
    if target:
        st.target = float(target)
    if margin:
        st.margin, st.margin_decimals = float(margin), len(margin.partition(".")[2])


def _margin_status(value: float, target: float, margin: float, tol: float) -> str:
    if math.isnan(margin) and math.isnan(target):
        return ""
    if math.isnan(margin) or math.isnan(target):
        return "incomplete"
    return "ok" if abs(abs(value - target) - margin) <= tol + 1e-9 else "mismatch"


def _tolerance(*decs: int) -> float:
    """Worst-case rounding error of a sum of printed (rounded) numbers: half a unit of each last digit.

    Only the value and the margin are measured (rounded) numbers; a target is set exactly."""
    return sum(0.5 * 10.0 ** (-d) for d in decs)


def check_margins(table: pd.DataFrame) -> pd.DataFrame:
    """Check ``|value − target_value| = margin_pp`` on an extracted table, within rounding.

    Returns the rows with a stated target or margin and the columns ``indicator_key, value, target_value,
    margin_pp, implied_margin, tolerance, status`` (``ok``, ``mismatch``, or ``incomplete`` when only one of
    target and margin is printed). The tolerance is half a unit of the last printed digit of the value and
    of the margin (a target is exact). A ceiling without margin (``控制在0.3以内``) is checked as
    ``value <= target`` (the extraction's check): status ``within ceiling`` or ``above ceiling``, not "ok",
    since there is no margin to add up. ``优于`` is read without a sign: where lower is better (多孩率) the
    value is below the target.
    """
    need = {"indicator_key", "value", "target_value", "margin_pp"}
    if not need <= set(table.columns):
        raise DataValidationError(f"missing column(s) {sorted(need - set(table.columns))}",
                                  expected="a table from extract_indicators")
    rows = table[table["target_value"].notna() | table["margin_pp"].notna()].copy()
    implied, tols, status = [], [], []
    stated = rows["margin_check"] if "margin_check" in rows.columns else pd.Series("", index=rows.index)
    for v, t, mg, before in zip(rows["value"], rows["target_value"], rows["margin_pp"], stated, strict=True):
        t = math.nan if pd.isna(t) else float(t)
        mg = math.nan if pd.isna(mg) else float(mg)
        tol = _tolerance(decimals(v), decimals(mg) if not math.isnan(mg) else 0)
        implied.append(abs(v - t) if not math.isnan(t) else math.nan)
        tols.append(tol if not math.isnan(mg) else math.nan)  # no stated margin: nothing the tolerance applies to
        state = _margin_status(float(v), t, mg, tol)
        if state == "incomplete" and math.isnan(mg) and before in ("ok", "mismatch"):
            # a ceiling (控制在 T 以内) checked at extraction: value <= T
            state = "within ceiling" if before == "ok" else "above ceiling"
        status.append(state)
    rows["implied_margin"] = np.round(np.array(implied, dtype=float), 6)
    rows["tolerance"] = tols
    rows["status"] = status
    keep = [c for c in ("source", "region", "period", "indicator_key", "value", "target_value", "margin_pp",
                        "implied_margin", "tolerance", "status", "quote") if c in rows.columns]
    return rows[keep].reset_index(drop=True)


def describe_margins(margins: pd.DataFrame, *, lang: str = "en") -> str:
    """Markdown sentence on a :func:`check_margins` table: how many statements state a target or margin, how
    many add up within rounding (``ok``), how many do not (``mismatch``), how many stay within or go above a
    stated ceiling, and how many cannot be checked (``incomplete``: no target, or no margin, stated), in English
    or (``lang="zh"``) Chinese."""
    from analysis import narrative

    tr, _ = narrative.in_language(lang)
    if not len(margins):
        return tr("No statement states a target or margin.", "没有陈述给出目标或超额百分点。")
    status = margins["status"].fillna("")
    ok, bad = int((status == "ok").sum()), int((status == "mismatch").sum())
    under, over = int((status == "within ceiling").sum()), int((status == "above ceiling").sum())
    open_ = status == "incomplete"
    no_target = int((open_ & margins["target_value"].isna()).sum())
    no_margin = int(open_.sum()) - no_target
    n = len(margins)
    en = [f"{ok} {'adds' if ok == 1 else 'add'} up within rounding",
          f"**{bad}** {'does' if bad == 1 else 'do'} not (|value − target| ≠ margin)"]
    zh = [f"{ok} 条在四舍五入范围内相符", f"**{bad}** 条不相符（|数值 − 目标| ≠ 所述超额百分点）"]
    if under:
        en.append(f"{under} {'stays within its' if under == 1 else 'stay within their'} stated "
                  f"{'ceiling' if under == 1 else 'ceilings'}")
        zh.append(f"{under} 条未超过所述上限")
    if over:
        en.append(f"**{over}** {'exceeds its' if over == 1 else 'exceed their'} stated "
                  f"{'ceiling' if over == 1 else 'ceilings'}")
        zh.append(f"**{over}** 条超过所述上限")
    why_en = [f"{k} with no {what} stated" for k, what in ((no_target, "target"), (no_margin, "margin")) if k]
    why_zh = [f"{k} 条未给出{what}" for k, what in ((no_target, "目标"), (no_margin, "超额百分点")) if k]
    if len(why_en) == 1:  # one reason: "2 cannot be checked (no target stated)"
        what_en, what_zh = ("target", "目标") if no_target else ("margin", "超额百分点")
        en.append(f"{no_target or no_margin} cannot be checked (no {what_en} stated)")
        zh.append(f"{no_target or no_margin} 条无法核对（未给出{what_zh}）")
    elif why_en:
        en.append(f"{no_target + no_margin} cannot be checked ({', '.join(why_en)})")
        zh.append(f"{no_target + no_margin} 条无法核对（{'，'.join(why_zh)}）")
    head_en = f"{n} {'statement states' if n == 1 else 'statements state'} a target or margin: "
    return tr(head_en + ", ".join(en[:-1]) + " and " + en[-1] + ".",
              f"{n} 条陈述给出了目标或超额百分点：" + "，".join(zh) + "。")


# --------------------------------------------------------------------------------------------- public
def _damage_near(original: str, start: int, end: int) -> bool:
    window = original[max(0, start - 2): end + 2]
    if "\ufffd" in window or any(0x80 <= ord(c) < 0xA0 for c in window):
        return True
    for k in range(max(0, start - 2), min(len(original), end + 2)):
        if original[k] == "?":
            left = original[k - 1] if k else ""
            right = original[k + 1] if k + 1 < len(original) else ""
            if any("\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" for c in (left, right)):
                return True
    return False


def empty_table() -> pd.DataFrame:
    """A table with no statements and the columns and dtypes of :func:`extract_indicators`."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS + EXTRA_COLUMNS})
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for col in ("value", "target_value", "margin_pp"):
        frame[col] = frame[col].astype("float64")
    for col in ("start", "end"):
        frame[col] = frame[col].astype("int64")
    frame["approx"] = frame["approx"].astype("bool")
    for col in ("source", "region", "period", "indicator_key", "unit", "quote", "region_code", "bound",
                "printed_unit", "margin_check", "flags"):
        frame[col] = frame[col].astype("string")
    return frame[COLUMNS + EXTRA_COLUMNS]


def extract_indicators(text: str, *, vocabulary: str | Path | pd.DataFrame | Vocabulary | None = None,
                       source: str | None = None, report_year: int | None = None,
                       region: str | None = None) -> pd.DataFrame:
    """One row per indicator statement of a report ``text`` (simplified or traditional Chinese).

    Columns ``source, region, period, indicator_key, value, unit, approx, target_value, margin_pp, quote,
    start, end`` (``quote == text[start:end]``, the exact source span; ``value`` with 万/亿 multiplied out;
    ``approx`` for 近/约/多/余/以上/左右), then ``region_code`` (GB/T 2260, empty if not resolved), ``bound``
    (``=``, ``~``, ``>``, ``>=``, ``<=``), ``printed_unit`` (the sign as printed), ``margin_check``
    (``ok``/``mismatch``/``incomplete``/empty, see :func:`check_margins`) and ``flags`` (``;``-separated:
    ``permille_printed_as_pct`` — a per-mille rate printed with %, value kept as per mille;
    ``encoding_damage`` — damaged characters next to the statement).

    ``report_year`` resolves relative periods (今年, 去年, 截至9月底); without it they stay empty. A leading
    header (``title:``, ``url:``, ``date:``, ``year:``, ``region:`` lines) supplies source, year and region
    when the arguments are not given. Statements of the same indicator and value in one report are all
    kept (each with its own span); de-duplicate on ``indicator_key, value`` if needed.
    """
    if not isinstance(text, str):
        raise DataValidationError(f"report text must be str, got {type(text).__name__}",
                                  expected="decoded text; use read_report(path) for files")
    if report_year is not None and (isinstance(report_year, bool) or not isinstance(report_year, numbers.Integral)
                                    or not 1900 <= int(report_year) <= 2100):
        raise DataValidationError(f"report_year must be a year such as 2016, got {report_year!r}",
                                  column="report_year", expected="an integer 1900-2100 or None")
    report_year = None if report_year is None else int(report_year)
    vocab = load_vocabulary(vocabulary)
    header = parse_header(text)
    if report_year is None:
        found = re.search(r"(19|20)\d{2}", header.get("year", "") or header.get("date", ""))
        report_year = int(found.group(0)) if found else None
    if source is None:
        source = " | ".join(v for v in (header.get("title"), header.get("url") or header.get("source")) if v)
    norm: NormalizedText = normalize(text)
    t = norm.text
    places = _places(t)
    rep_name, rep_code = _report_region(t, places, region or header.get("region"))
    times = _times(t, report_year)
    statements = _statements(t, vocab)
    if not statements:
        return empty_table()
    sentences = _sentences(t)
    rows = []
    for st in statements:
        s0, s1 = next(((a, b) for a, b in sentences if a <= st.span_start < b), (0, len(t)))
        before = [tm for tm in times if s0 <= tm.start < st.span_start]
        if st.period is not None:
            period = st.period
        elif before:
            period = before[-1].period
        elif _CUMULATIVE.search(t, s0, s1) or report_year is None:
            period = ""
        else:
            period = str(report_year)
        name, code = rep_name, rep_code
        for _, place in reversed([p for p in places if s0 <= p[0] < st.span_start]):
            hit = _resolve(place, rep_code or None) if place != rep_name else (rep_code, rep_name)
            if hit is not None:
                code, name = hit
                break
        else:
            whole = list(_WHOLE_AREA.finditer(t, s0, st.span_start))
            fits = _LEVEL_WORDS[_level_of(rep_code)] + ("区" if rep_name.endswith("地区") else "") if rep_code else ""
            if whole and rep_code and whole[-1].group(1) not in fits:
                name, code = whole[-1].group(0), ""  # 全区 in a city's report: a district it does not name
        start, end = norm.span(st.span_start, st.span_end)
        num = st.number
        flags = []
        if st.unit == "permille" and num.sign == "%":
            flags.append("permille_printed_as_pct")
        if _damage_near(text, start, end):
            flags.append("encoding_damage")
        tol = _tolerance(num.decimals, st.margin_decimals)
        check = _margin_status(num.value, st.target, st.margin, tol)
        if st.ceiling and check == "incomplete":
            check = "ok" if num.value <= st.target else "mismatch"
        if check == "mismatch":
            flags.append("margin_mismatch")
        rows.append({
            "source": source or "", "region": name, "period": period, "indicator_key": st.key,
            "value": num.value, "unit": _unit_of(Term(text="", key=st.key, unit=st.unit), num),
            "approx": num.approx, "target_value": st.target, "margin_pp": st.margin,
            "quote": text[start:end], "start": start, "end": end, "region_code": code, "bound": num.bound,
            "printed_unit": num.sign or num.magnitude, "margin_check": check, "flags": ";".join(flags),
        })
    frame = pd.DataFrame(rows).sort_values(["start", "indicator_key"], kind="stable").reset_index(drop=True)
    return _typed(frame)


def extract_report(path: str | Path, *, vocabulary: str | Path | pd.DataFrame | Vocabulary | None = None,
                   source: str | None = None, report_year: int | None = None,
                   region: str | None = None) -> pd.DataFrame:
    """:func:`extract_indicators` on a file read with :func:`read_report`; ``source`` defaults to the
    header's title/URL, else the file name. Statements near bytes that could not be decoded are flagged."""
    report = read_report(path)
    if source is None:
        h = report.header
        source = " | ".join(v for v in (h.get("title"), h.get("url") or h.get("source")) if v) or Path(path).name
    return extract_indicators(report.text, vocabulary=vocabulary, source=source, report_year=report_year,
                              region=region)
