"""Schemas of users' own tables, read by :func:`analysis.data.read_user_table`.

A schema names its fields, their kind (which fixes type, unit and checks), whether they are required, and
the column headers accepted for each (English and Chinese aliases; matching ignores case, spaces, ``-``/``_``
and a trailing unit in brackets, so ``出生性别比（女=100）`` matches ``出生性别比``). Schemas are a registry:
:func:`register` adds one, :func:`available` lists them, :func:`fields` documents one.

Kinds
-----
``region``       GB/T 2260 code (2/4/6 digits) or a Chinese/English name, resolved with
                 :func:`analysis.data.regions.lookup` into ``region_code`` (6-digit str) and ``region_zh``.
``period``       text (``2020``, ``2019.11.1-2020.10.31``, ``2018H1``); stored as Int64 when every value is a year.
``year``         whole number 1900–2100.
``count``        whole number ≥ 0 (persons).
``positive_count`` whole number ≥ 1 (a denominator).
``per100``       ratio per 100 (SRB: males per 100 females); values < 10 are refused as ratios per 1 (1.05).
``per1000``      rate per 1000 (CBR); values in (0, 1) are refused as rates per person (0.0105).
``share``        proportion 0–1 (coverage target, e.g. 0.85); a column whose values all lie in (1, 100] is refused
                 as percentages, with the hint to divide by 100.
``number``       any number ≥ 0 (e.g. population, in persons).
``text``         non-empty text.

A unit in a header's trailing brackets is checked against :data:`UNITS`: ``年末常住人口（万人）`` is converted
to persons (×10 000), ``target (%)`` to a proportion (×0.01); a unit that does not fit the column
(``人口出生率(%)``) is an error. ``attrs["unit_factors"]`` records every conversion.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pa

from analysis.exceptions import AnalysisError

__all__ = ["Field", "UserSchema", "available", "fields", "get", "key_columns", "normalize_header", "register",
           "split_header", "to_pandera"]

KINDS = ("region", "period", "year", "count", "positive_count", "per100", "per1000", "share", "number", "text")

#: What each kind expects, as printed in error messages.
EXPECTED = {
    "region": "a GB/T 2260 code (e.g. 440000, 4401, 440106) or a region name (广东, 广东省, Guangdong)",
    "period": "a period such as 2020 or 2019.11.1-2020.10.31",
    "year": "a whole-number year between 1900 and 2100",
    "count": "a whole number ≥ 0",
    "positive_count": "a whole number ≥ 1",
    "per100": "males per 100 females, e.g. 105.2",
    "per1000": "a rate per 1000 population, e.g. 10.5",
    "share": "a proportion between 0 and 1, e.g. 0.85 (a header marked (%) or cells such as 85% are converted)",
    "number": "a number ≥ 0",
    "text": "non-empty text",
}

NUMERIC_KINDS = ("year", "count", "positive_count", "per100", "per1000", "share", "number")


@dataclass(frozen=True, kw_only=True)
class Field:
    """One column of a user table: canonical ``name``, ``kind`` (see module docstring), header ``aliases``."""

    name: str
    kind: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AnalysisError(f"field {self.name!r}: unknown kind {self.kind!r} (one of {', '.join(KINDS)})")


@dataclass(frozen=True, kw_only=True)
class UserSchema:
    """A user-table schema. ``key`` fields (those present) must be unique together; a ``region`` field enters
    the key as the resolved ``region_code``. ``total_of`` = (total, (part, part, ...)) checks part sums;
    ``at_most`` = ((smaller, larger), ...) checks smaller ≤ larger."""

    name: str
    description: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    total_of: tuple[str, tuple[str, ...]] | None = None
    at_most: tuple[tuple[str, str], ...] = ()
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        for f in self.fields:
            self._by_name[f.name] = f

    def field(self, name: str) -> Field:
        return self._by_name[name]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    @property
    def optional(self) -> list[str]:
        return [f.name for f in self.fields if not f.required]


def normalize_header(text: object) -> str:
    """Header as compared with aliases: NFKC, lower case, no spaces/``-``/``_``, no trailing ``(unit)``."""
    return split_header(text)[0]


def split_header(text: object) -> tuple[str, str | None]:
    """(normalised name, normalised unit or None): ``年末常住人口（万人）`` → ("年末常住人口", "万人")."""
    t = unicodedata.normalize("NFKC", str(text)).strip().lower()
    t = re.sub(r"[\s\-_]+", "", t)
    m = re.fullmatch(r"(.+?)\(([^()]*)\)", t)
    return (m.group(1), m.group(2)) if m else (t, None)


#: Units accepted in a header's trailing brackets, per kind: normalised unit → factor to the schema's unit.
#: A unit not listed is an error (a population "(万人)" is converted to persons; a CBR "(%)" is refused).
UNITS: dict[str, dict[str, float]] = {
    "count": {"人": 1, "persons": 1, "person": 1, "人数": 1, "个": 1},
    "positive_count": {"人": 1, "persons": 1, "person": 1, "人数": 1, "个": 1},
    "number": {"人": 1, "persons": 1, "person": 1, "万人": 10_000, "10k": 10_000, "10000persons": 10_000},
    "per100": {"女=100": 1, "女为100": 1, "per100": 1, "per100females": 1, "malesper100females": 1},
    "per1000": {"‰": 1, "per1000": 1, "permille": 1, "permil": 1},
    "share": {"0-1": 1, "01": 1, "share": 1, "proportion": 1, "%": 0.01, "percent": 0.01, "百分比": 0.01},
    "year": {"年": 1},
}


# ------------------------------------------------------------------------------------- pandera checks

#: check name → (message, expected; None = the kind's EXPECTED text)
CHECK_MESSAGES: dict[str, tuple[str, str | None]] = {
    "not_nullable": ("empty cell", None),
    "whole_number": ("not a whole number", None),
    "non_negative": ("negative value", None),
    "positive": ("value ≤ 0", None),
    "at_least_one": ("value below 1", None),
    "year_range": ("year outside 1900–2100", None),
    "srb_per_100": ("looks like a ratio per 1 (e.g. 1.05); multiply by 100", "males per 100 females, e.g. 105"),
    "srb_at_most_1000": ("implausibly large ratio per 100", "males per 100 females below 1000"),
    "rate_per_1000": ("looks like a rate per person (e.g. 0.0105); multiply by 1000",
                      "a rate per 1000 population, e.g. 10.5"),
    "rate_at_most_1000": ("a rate per 1000 cannot exceed 1000", None),
    "share_not_percent": ("all values lie between 1 and 100: they look like percentages; divide by 100",
                          "a proportion between 0 and 1, e.g. 0.85 for 85%"),
    "share_range": ("proportion outside 0–1", None),
}


def check_message(check: str, kind: str) -> tuple[str, str]:
    """Message and expectation for a failed pandera check on a column of ``kind``."""
    message, expected = CHECK_MESSAGES.get(check, (f"failed check {check}", None))
    return message, expected or EXPECTED[kind]


def _checks(kind: str) -> list[pa.Check]:
    import pandera.pandas as pa

    def check(fn, name: str) -> pa.Check:
        return pa.Check(fn, name=name)

    whole = check(lambda s: s % 1 == 0, "whole_number")
    by_kind = {
        "count": [whole, check(lambda s: s >= 0, "non_negative")],
        "positive_count": [whole, check(lambda s: s >= 1, "at_least_one")],
        "year": [whole, check(lambda s: (s >= 1900) & (s <= 2100), "year_range")],
        "per100": [check(lambda s: s > 0, "positive"), check(lambda s: (s >= 10) | (s <= 0), "srb_per_100"),
                   check(lambda s: s <= 1000, "srb_at_most_1000")],
        "per1000": [check(lambda s: s >= 0, "non_negative"), check(lambda s: (s <= 0) | (s >= 1), "rate_per_1000"),
                    check(lambda s: s <= 1000, "rate_at_most_1000")],
        # A whole column in (1, 100] is a column of percentages: every row is flagged by this check (and the
        # reader does not repeat them under share_range).
        "share": [check(lambda s: pd.Series(not (len(s) and ((s > 1) & (s <= 100)).all()), index=s.index),
                        "share_not_percent"),
                  check(lambda s: (s >= 0) & (s <= 1), "share_range")],
        "number": [check(lambda s: s >= 0, "non_negative")],
    }
    return by_kind.get(kind, [])


def key_columns(schema: UserSchema, columns: list[str]) -> list[str]:
    """The key fields present in ``columns`` (``region`` → ``region_code``)."""
    key = ["region_code" if k == "region" else k for k in schema.key]
    return [k for k in key if k in columns]


def to_pandera(schema: UserSchema, columns: list[str]) -> pa.DataFrameSchema:
    """A lazy-validatable pandera DataFrameSchema for the typed columns present (numbers as float64,
    text as str, the resolved ``region_code``); key fields unique together."""
    import pandera.pandas as pa

    cols = {}
    for f in schema.fields:
        if f.name not in columns:
            continue
        if f.kind == "region":
            continue  # resolved (and reported) by the reader; region_code is the key
        dtype = float if f.kind in NUMERIC_KINDS else None
        cols[f.name] = pa.Column(dtype, checks=_checks(f.kind), nullable=not f.required)
    key = key_columns(schema, columns)
    return pa.DataFrameSchema(cols, unique=key or None, report_duplicates="all", strict=False)


def pandera_errors() -> ModuleType:
    """pandera's error module (imported on first use)."""
    import pandera.errors

    return pandera.errors


# -------------------------------------------------------------------------------------------- registry

_SCHEMAS: dict[str, UserSchema] = {}


def register(schema: UserSchema) -> UserSchema:
    """Add (or replace) a schema in the registry; aliases must not clash within the schema."""
    seen: dict[str, str] = {}
    for f in schema.fields:
        for alias in (f.name, *f.aliases):
            key = normalize_header(alias)
            if seen.get(key, f.name) != f.name:
                raise AnalysisError(f"schema {schema.name!r}: header {alias!r} would match both "
                                    f"{seen[key]!r} and {f.name!r}")
            seen[key] = f.name
    _SCHEMAS[schema.name] = schema
    return schema


def get(name: str) -> UserSchema:
    """The schema called ``name``; an unknown name raises AnalysisError listing the available ones."""
    try:
        return _SCHEMAS[name]
    except KeyError:
        raise AnalysisError(f"unknown table schema {name!r}; available: {', '.join(sorted(_SCHEMAS))}") from None


def available() -> pd.DataFrame:
    """One row per schema: name, description, required and optional columns."""
    return pd.DataFrame(
        [{"name": s.name, "description": s.description, "required": ", ".join(s.required),
          "optional": ", ".join(s.optional)} for s in _SCHEMAS.values()]
    )


def fields(name: str) -> pd.DataFrame:
    """The columns of one schema: column, required, kind, expected values, accepted headers (aliases)."""
    s = get(name)
    return pd.DataFrame(
        [{"column": f.name, "required": f.required, "kind": f.kind, "expected": EXPECTED[f.kind],
          "aliases": ", ".join(f.aliases), "description": f.description} for f in s.fields]
    )


# ------------------------------------------------------------------------------------- the schemas

REGION = Field(
    name="region", kind="region",
    aliases=("region_code", "code", "gb_code", "adcode", "区划代码", "行政区划代码", "地区代码", "代码",
             "地区", "地区名称", "区域", "行政区", "行政区划", "省份", "省", "area", "region_name", "region_zh",
             "name_zh", "province"),
    description="region code or name, resolved through the region registry",
)
PERIOD = Field(
    name="period", kind="period",
    aliases=("year", "年份", "年度", "年", "时期", "期间", "统计期", "时间", "统计时间"),
    description="reporting period",
)
BIRTH_ORDER = Field(name="birth_order", kind="text", required=False, aliases=("孩次", "出生顺序", "胎次", "order"),
                    description="birth order (1, 2, 3, ...) when births are split by order")
RESIDENCE = Field(name="residence", kind="text", required=False, aliases=("城乡", "城乡类别", "城乡分类"),
                  description="total / city / town / rural when split by residence")

register(UserSchema(
    name="births",
    description="births by sex: region × period (× birth order × residence); total optional, = males + females",
    fields=(
        REGION, PERIOD, BIRTH_ORDER, RESIDENCE,
        Field(name="males", kind="count",
              aliases=("male", "boys", "男", "男性", "男婴", "男孩", "出生人数男", "男性出生人数"),
              description="male births (persons)"),
        Field(name="females", kind="count",
              aliases=("female", "girls", "女", "女性", "女婴", "女孩", "出生人数女", "女性出生人数"),
              description="female births (persons)"),
        Field(name="total", kind="count", required=False,
              aliases=("births", "all", "合计", "总计", "小计", "出生人数", "出生人数合计"),
              description="all births (persons); must equal males + females"),
    ),
    key=("region", "period", "birth_order", "residence"),
    total_of=("total", ("males", "females")),
))

register(UserSchema(
    name="srb",
    description="sex ratio at birth (males per 100 females) by region × period (× birth order × residence)",
    fields=(
        REGION, PERIOD, BIRTH_ORDER, RESIDENCE,
        Field(name="srb", kind="per100",
              aliases=("sex_ratio_at_birth", "sex_ratio", "出生性别比", "出生人口性别比", "性别比"),
              description="males per 100 females (105, not 1.05)"),
    ),
    key=("region", "period", "birth_order", "residence"),
))

register(UserSchema(
    name="coverage_records",
    description="service coverage records: unit × period × service with eligible, served and target share",
    fields=(
        Field(name="unit", kind="text", aliases=("单位", "服务单位", "统计单位", "机构", "区县"),
              description="the unit compared: district code or name, clinic, ..."),
        PERIOD,
        Field(name="service", kind="text", aliases=("服务", "服务项目", "项目", "指标", "indicator"),
              description="service indicator"),
        Field(name="eligible", kind="positive_count",
              aliases=("应服务人数", "应管理人数", "目标人群数", "目标人群", "分母", "denominator"),
              description="people eligible (denominator)"),
        Field(name="served", kind="count",
              aliases=("已服务人数", "实际服务人数", "服务人数", "分子", "numerator"),
              description="people served (numerator), ≤ eligible"),
        Field(name="target", kind="share", aliases=("目标", "目标值", "目标比例", "责任指标", "target_share"),
              description="target as a proportion 0–1 (0.85 for 85%)"),
    ),
    key=("unit", "period", "service"),
    at_most=(("served", "eligible"),),
))

register(UserSchema(
    name="province_series",
    description="annual crude birth rate (per 1000) and population (persons) by region × year",
    fields=(
        REGION,
        Field(name="year", kind="year", aliases=("年份", "年度", "年", "period"), description="calendar year"),
        Field(name="cbr", kind="per1000",
              aliases=("crude_birth_rate", "birth_rate", "出生率", "人口出生率", "粗出生率"),
              description="crude birth rate per 1000 population"),
        Field(name="population", kind="number", required=False,
              aliases=("pop", "人口", "人口数", "常住人口", "年末常住人口", "总人口"),
              description="resident population (persons)"),
    ),
    key=("region", "year"),
))
