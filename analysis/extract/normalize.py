"""Normalise report text for matching while keeping a map back to the original characters.

Steps, in order (each keeps, for every output character, the span of original characters it came from):

1. HTML: tags removed (block tags become a line break), entities (``&amp;``, ``&nbsp;``) decoded;
2. zero-width characters removed;
3. inserted pinyin annotations removed: ``計(jì)`` → ``計``, while real brackets such as ``村(居)`` or
   ``(GIS)`` stay (an annotation is one lower-case Latin syllable, with or without tone marks, directly
   after a Chinese character);
4. markdown emphasis markers (``**``, ``__``, ``~~``) removed;
5. full-width ASCII forms folded to ASCII (``８１．４３％`` → ``81.43%``, ``，`` → ``,``), ideographic
   space → space;
6. traditional → simplified Chinese with OpenCC (``t2s``).

``normalize(text)`` returns a :class:`NormalizedText`; ``span(i, j)`` maps a normalised slice back to the
original offsets so that ``original[start:end]`` is the exact source span.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

__all__ = ["NormalizedText", "normalize", "damaged_positions", "PINYIN_RE"]

#: A pinyin syllable in brackets directly after a CJK character: 計(jì), 動(dòng), 的(de).
PINYIN_RE = re.compile(
    r"(?<=[\u3400-\u9fff])[(（]([a-zü]|[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]){1,6}[)）]"
)
_TONE = set("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü")
_VOWELS = set("aeiouv") | _TONE
_EMPHASIS_RE = re.compile(r"\*\*|__|~~")
_TAG_RE = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>|<[^<>]+>", re.S | re.I)
_BLOCK_TAG_RE = re.compile(r"</?(p|br|div|li|ul|ol|h[1-6]|tr|td|th|table|section|article|blockquote)\b", re.I)
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});")
_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}
#: Characters that show that decoding went wrong (replacement character, stray C1 controls).
DAMAGE_CHARS = frozenset({"\ufffd"} | {chr(c) for c in range(0x80, 0xA0)})


@dataclass(frozen=True)
class NormalizedText:
    """Normalised ``text`` and, per character, the ``[starts[i], ends[i])`` span it came from in ``original``."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, i: int, j: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the normalised slice ``text[i:j]`` (``j > i``).

        The end is widened over markdown emphasis markers that directly follow, so a quote of
        ``**81.43%**`` keeps both pairs of stars.
        """
        if not 0 <= i < j <= len(self.text):
            raise IndexError(f"normalised slice [{i}:{j}] outside a text of length {len(self.text)}")
        start, end = self.starts[i], self.ends[j - 1]
        nxt = self.starts[j] if j < len(self.text) else len(self.original)
        gap = self.original[end:nxt]
        m = re.match(r"[*_~]+", gap)
        if m:
            end += m.end()
        return start, end


def _is_pinyin(syllable: str) -> bool:
    """One pinyin syllable: lower-case letters with at least one vowel (tone marks optional)."""
    return any(ch in _VOWELS for ch in syllable) and len(syllable) <= 6


@functools.cache
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


def _t2s(chars: list[str]) -> list[str]:
    """Convert to simplified Chinese keeping one output character per input character.

    OpenCC converts phrases; where a converted line changes length (rare phrase rules), that line is
    converted character by character instead so that the offset map stays exact.
    """
    conv = _converter()
    text = "".join(chars)
    out = conv.convert(text)
    if len(out) == len(text):
        return list(out)
    result: list[str] = []
    for line in re.split(r"(\n)", text):
        converted = conv.convert(line)
        if len(converted) != len(line):
            converted = "".join(c2 if len(c2 := conv.convert(c)) == 1 else c for c in line)
        result.extend(converted)
    return result


def _fold_width(ch: str) -> str:
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if code == 0x3000:
        return " "
    return ch


def normalize(text: str, *, html_input: bool | None = None) -> NormalizedText:
    """Normalise ``text`` (see the module docstring); ``html_input=None`` strips tags only when the text
    looks like HTML (contains ``<p``, ``<br``, ``<div`` or ``<html``)."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(s: str, a: int, b: int) -> None:
        for ch in s:
            chars.append(ch)
            starts.append(a)
            ends.append(b)

    if html_input is None:
        html_input = bool(re.search(r"<(p|br|div|html|span|body)\b", text, re.I))
    # 1-2. HTML tags/entities and zero-width characters, in one pass over the original
    pos = 0
    pattern = re.compile(_TAG_RE.pattern + "|" + _ENTITY_RE.pattern, re.S | re.I) if html_input else None
    while pos < len(text):
        m = pattern.search(text, pos) if pattern is not None else None
        stop = m.start() if m else len(text)
        for k in range(pos, stop):
            if text[k] not in _ZERO_WIDTH:
                emit(text[k], k, k + 1)
        if m is None:
            break
        token = m.group(0)
        if token.startswith("&"):
            decoded = html.unescape(token).replace("\xa0", " ")
            emit(decoded, m.start(), m.end())
        elif _BLOCK_TAG_RE.match(token):
            emit("\n", m.start(), m.end())
        pos = m.end()

    def drop(regex: re.Pattern[str], keep=lambda m: False) -> None:
        joined = "".join(chars)
        removed = [m for m in regex.finditer(joined) if not keep(m)]
        if not removed:
            return
        keep_idx = []
        last = 0
        for m in removed:
            keep_idx.extend(range(last, m.start()))
            last = m.end()
        keep_idx.extend(range(last, len(chars)))
        chars[:] = [chars[k] for k in keep_idx]
        starts[:] = [starts[k] for k in keep_idx]
        ends[:] = [ends[k] for k in keep_idx]

    # 3. pinyin annotations
    drop(PINYIN_RE, keep=lambda m: not _is_pinyin(m.group(0)[1:-1]))
    # 4. markdown emphasis
    drop(_EMPHASIS_RE)
    # 5. full-width forms
    chars[:] = [_fold_width(ch) for ch in chars]
    # 6. traditional -> simplified
    chars[:] = _t2s(chars)
    return NormalizedText(original=text, text="".join(chars), starts=tuple(starts), ends=tuple(ends))


def damaged_positions(text: str) -> list[int]:
    """Positions of characters that show encoding damage (U+FFFD, C1 controls)."""
    return [i for i, ch in enumerate(text) if ch in DAMAGE_CHARS]
