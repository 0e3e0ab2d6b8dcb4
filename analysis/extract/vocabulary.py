"""The indicator vocabulary: keys, units and the Chinese terms that name them.

The shipped file ``analysis/extract/vocabulary.csv`` has the columns ``indicator_key, family, unit, zh_terms,
definition, headline``. ``zh_terms`` lists synonyms separated by `` / `` in simplified Chinese (text is
converted to simplified before matching). A term may require context: ``建档率{流动|流入}`` only counts when
one of the words in braces occurs in the same sentence. Users extend the vocabulary with their own file
(same columns; ``family``, ``definition`` and ``headline`` optional):
``load_vocabulary(extra="my_terms.csv")``; a key in both files takes the user's row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.config import PACKAGE_DIR
from analysis.exceptions import DataValidationError

__all__ = ["Term", "Vocabulary", "load_vocabulary", "UNIT_SIGNS", "DEFAULT_VOCABULARY"]

DEFAULT_VOCABULARY: Path = PACKAGE_DIR / "extract" / "vocabulary.csv"
REQUIRED = ("indicator_key", "unit", "zh_terms")

#: For each unit: the printed signs a value may carry ("" = a bare number). A term followed by a number
#: with another sign is not a statement of that indicator (建档18577人 is not a 建档率).
UNIT_SIGNS: dict[str, frozenset[str]] = {
    "pct": frozenset({"%"}),
    "permille": frozenset({"‰", "%", "/1000"}),
    "per_100k": frozenset({"/10万", "/十万", "/100000"}),
    "per_10k": frozenset({"/万", "/1万"}),
    "ratio_per_100_females": frozenset({""}),
    "children_per_woman": frozenset({""}),
    "persons": frozenset({"人", "名", "位"}),
    "couples": frozenset({"对"}),
    "households": frozenset({"户"}),
    "cases": frozenset({"例", "人", "次"}),
    "person_times": frozenset({"人次"}),
    "cny": frozenset({"元"}),
    "certificates; couples": frozenset({"对", "个", "本", "份", "张", "例"}),
}
#: Units whose values are counts: a magnitude word alone (常住人口223万) is accepted as the sign.
COUNT_UNITS = frozenset({"persons", "couples", "households", "cases", "person_times", "cny",
                         "certificates; couples"})
_TERM_RE = re.compile(r"^(?P<text>[^{}]+?)\s*(?:\{(?P<ctx>[^{}]*)\})?$")


@dataclass(frozen=True)
class Term:
    """One Chinese wording of an indicator; ``context`` words must occur in the same sentence."""

    text: str
    key: str
    unit: str
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """Parsed vocabulary: the ``table`` as read and its ``terms`` (longest first)."""

    table: pd.DataFrame
    terms: tuple[Term, ...]

    @property
    def headline_keys(self) -> list[str]:
        flag = self.table["headline"].astype(str).str.lower().isin(["true", "1", "yes"])
        return self.table.loc[flag, "indicator_key"].tolist()

    def units(self) -> dict[str, str]:
        return dict(zip(self.table["indicator_key"], self.table["unit"], strict=True))

    def pattern(self) -> re.Pattern[str]:
        """One alternation of all term texts, longest first (leftmost-longest matching)."""
        texts = sorted({t.text for t in self.terms}, key=lambda s: (-len(s), s))
        return re.compile("|".join(re.escape(t) for t in texts))

    def candidates(self, text: str) -> list[Term]:
        """Terms with this exact text, those with a context requirement first."""
        found = [t for t in self.terms if t.text == text]
        return sorted(found, key=lambda t: not t.context)


def _read(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source.copy(), "<DataFrame>"
    path = Path(source)
    if not path.exists():
        raise DataValidationError("vocabulary file not found", path=str(path))
    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except UnicodeDecodeError:
        table = pd.read_csv(path, dtype=str, encoding="gb18030", keep_default_na=False)
    return table, str(path)


def _parse(table: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataValidationError(f"vocabulary lacks column(s) {missing}", path=where,
                                  expected=f"columns {list(REQUIRED)} (+ family, definition, headline)")
    table = table.copy()
    for col, default in (("family", ""), ("definition", ""), ("headline", "False")):
        if col not in table.columns:
            table[col] = default
    table = table.fillna("")
    for col in REQUIRED:
        blank = [i + 2 for i, v in enumerate(table[col].astype(str)) if not v.strip()]
        if blank:
            raise DataValidationError("empty value", path=where, rows=blank, column=col)
    bad = [i + 2 for i, u in enumerate(table["unit"]) if u not in UNIT_SIGNS]
    if bad:
        raise DataValidationError(f"unknown unit(s) {sorted(set(table['unit'].iloc[[r - 2 for r in bad]]))}",
                                  path=where, rows=bad, column="unit", expected=f"one of {sorted(UNIT_SIGNS)}")
    dup = table["indicator_key"].duplicated(keep=False)
    if dup.any():
        rows = [i + 2 for i in range(len(table)) if dup.iloc[i]]
        raise DataValidationError("duplicate indicator_key", path=where, rows=rows, column="indicator_key")
    return table


def _terms(table: pd.DataFrame, where: str) -> tuple[Term, ...]:
    terms = []
    for i, row in enumerate(table.itertuples(index=False)):
        for raw in str(row.zh_terms).split("/"):
            raw = raw.strip()
            if not raw:
                continue
            m = _TERM_RE.match(raw)
            if m is None:
                raise DataValidationError(f"cannot read term {raw!r}", path=where, rows=[i + 2],
                                          column="zh_terms", expected="'term' or 'term{context|context}'")
            ctx = tuple(w.strip() for w in (m.group("ctx") or "").split("|") if w.strip())
            terms.append(Term(text=m.group("text").strip(), key=row.indicator_key, unit=row.unit, context=ctx))
    return tuple(sorted(terms, key=lambda t: (-len(t.text), t.text, not t.context)))


def load_vocabulary(source: str | Path | pd.DataFrame | Vocabulary | None = None, *,
                    extra: str | Path | pd.DataFrame | None = None) -> Vocabulary:
    """Read a vocabulary (default: the shipped file), optionally extended by ``extra`` rows.

    Raises :class:`~analysis.exceptions.DataValidationError` naming the file, rows and column for missing
    columns, empty cells, unknown units (see ``UNIT_SIGNS``) or duplicate keys.
    """
    if isinstance(source, Vocabulary) and extra is None:
        return source
    if isinstance(source, Vocabulary):
        base, where = source.table.copy(), "<Vocabulary>"
    else:
        base, where = _read(DEFAULT_VOCABULARY if source is None else source)
    base = _parse(base, where)
    if extra is not None:
        more, more_where = _read(extra)
        more = _parse(more, more_where)
        base = pd.concat([base[~base["indicator_key"].isin(more["indicator_key"])], more], ignore_index=True)
        where = f"{where} + {more_where}"
    return Vocabulary(table=base.reset_index(drop=True), terms=_terms(base, where))
