"""Region registry: GB/T 2260 codes, Chinese and English names, levels and parents.

Built from the county tables of the 2010 and 2020 censuses (``data/raw/census-county-city-leiii``): every
unit with a 6-digit code in either census (2020 names take precedence), plus the nation ``"000000"``.
English names exist for the nation and the 31 provinces.

>>> from analysis.data import regions
>>> regions.lookup("广东").code            # also 44, "4400", "广东省", "Guangdong"
'440000'
>>> regions.children("440000")             # the prefectures of Guangdong
>>> regions.lookup("朝阳区", within="北京")  # a county name shared by several provinces

Lookups are cached per process: the registry is read from ``data/processed/regions.parquet`` when it is
newer than its sources, otherwise built from the raw tables in memory (about 0.3 s).
"""

from __future__ import annotations

import difflib
import functools
import numbers
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.config import NATION_CODE, PACKAGE_DIR, PROCESSED_DIR, RAW_DIR
from analysis.exceptions import AnalysisError, DataValidationError, RegionNotFoundError

__all__ = [
    "AmbiguousRegionError",
    "Region",
    "build_regions",
    "children",
    "close_matches",
    "county_level_units",
    "describe",
    "display_names",
    "lookup",
    "lowest_units",
    "names_of",
    "normalize_name",
    "parent",
    "provinces",
    "safe_slug",
    "LEVEL_PHRASES",
]

LEVELS = ("nation", "province", "prefecture", "county")
#: the levels in Chinese, for text
LEVEL_NAMES_ZH = {"nation": "全国", "province": "省级", "prefecture": "地级", "county": "县级"}
#: what a unit of each level is, in a sentence ("Guangdong is a province"; "广东省为省级单位")
LEVEL_PHRASES = {"nation": ("the nation", "全国层级"), "province": ("a province", "省级单位"),
                 "prefecture": ("a prefecture-level unit", "地级单位"), "county": ("a county-level unit", "县级单位")}
COLUMNS = [
    "code", "name_zh", "short_zh", "level", "parent_code", "province_code", "name_en",
    "in_2010", "in_2020", "name_zh_2010",
]

#: Suffixes stripped from province names to get the short form (longest first).
PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")
#: Suffixes stripped from prefecture/county names for the short form (广州市 → 广州); autonomous
#: prefectures/counties (…自治州/自治县) keep their full name.
LOCAL_SUFFIXES = ("地区", "市", "县", "区", "旗", "盟")
KEEP_WHOLE = ("自治州", "自治县", "自治旗", "市辖区", "新区", "矿区", "林区", "名胜区", "管理区", "开发区")
#: English words a user may add to a province name ("Guangdong Province").
EN_SUFFIXES = (" special administrative region", " autonomous region", " municipality", " province", " sar")
#: Typos in the English names of the Miao-Liao workbook (see its PROVENANCE.md).
MIAOLIAO_TYPOS = {"Mongolia": "Inner Mongolia", "Chongqin": "Chongqing"}

_CENSUS_DIR = "census-county-city-leiii"


class AmbiguousRegionError(RegionNotFoundError):
    """A name matches several regions; the message lists them with their codes (also in ``candidates``)."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass(frozen=True, kw_only=True)
class Region:
    """One unit of the registry. ``name_en`` is ``None`` below province level."""

    code: str
    name_zh: str
    short_zh: str
    level: str
    parent_code: str | None
    province_code: str | None
    name_en: str | None

    def name(self, lang: str = "zh") -> str:
        """Display name: Chinese for ``lang="zh"``; English where known, else Chinese, for ``"en"``."""
        if lang == "en":
            return self.name_en or self.name_zh
        if lang == "zh":
            return self.name_zh
        raise AnalysisError(f"lang must be 'zh' or 'en', got {lang!r}")

    @property
    def slug(self) -> str:
        """Filesystem-safe token for output folders (the code)."""
        return safe_slug(self.code)

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}" + (f" ({self.name_en})" if self.name_en else "")


# ---------------------------------------------------------------------------------------------- build


def _level(code: str) -> str:
    if code == NATION_CODE:
        return "nation"
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def _clean_zh(name: str) -> str:
    # NFKC folds full-width forms; the 2010 table writes 巿 (U+5DFF, "fú") for 市 in 25 names (泊头巿).
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name))).replace("巿", "市")


def _short_zh(name: str, level: str) -> str:
    if level == "nation":
        return name
    suffixes = PROVINCE_SUFFIXES if level == "province" else LOCAL_SUFFIXES
    if name.endswith(KEEP_WHOLE):
        return name
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _read_census(path: Path, name_col: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    raw = pd.read_csv(path, usecols=["区划代码", name_col, *extra], dtype=str)
    raw = raw.dropna(subset=["区划代码"])  # unnumbered rows: 市辖区/县 headers, development zones, notes
    codes = raw["区划代码"].str.strip()
    bad = ~codes.str.fullmatch(r"\d{6}")
    if bad.any():
        rows = (raw.index[bad] + 2).tolist()
        raise DataValidationError("region code is not 6 digits", path=str(path), rows=rows,
                                  column="区划代码", expected="a GB/T 2260 code such as 440106")
    out = pd.DataFrame({"code": codes.to_numpy(), "name_zh": raw[name_col].map(_clean_zh).to_numpy()})
    for col in extra:
        out[col] = raw[col].map(_clean_zh).to_numpy()
    dup = out["code"].duplicated(keep=False)
    if dup.any():
        raise DataValidationError("duplicated region code", path=str(path),
                                  rows=(raw.index[dup.to_numpy()] + 2).tolist(), column="区划代码",
                                  expected="each code once")
    return out


def _english_names(raw_dir: Path, province_codes: list[str]) -> dict[str, str]:
    """English province names: policy-dates > migrant-service-coverage > Miao-Liao workbook (typos fixed)."""
    names: dict[str, str] = {}
    policy = pd.read_csv(raw_dir / "policy-dates" / "selective_two_child_dates.csv", dtype=str)
    for gb, en in zip(policy["gb_code"], policy["province_en"], strict=True):
        names.setdefault(f"{int(gb):02d}0000", en.strip())
    cov = pd.read_csv(raw_dir / "migrant-service-coverage" / "published_migrant_service_rates.csv", dtype=str)
    cov = cov[cov["geo_level"] == "province"]
    for gb, en in zip(cov["gb_code"], cov["geo_en"], strict=True):
        names.setdefault(f"{int(gb):02d}0000", en.strip())

    # The workbook lists the 31 provinces in NBS order, i.e. ascending code; rows 1-3 are NBS notes and
    # the header row starts with "province".
    path = raw_dir / "nbs-exports-misc" / "province_cbr_2004_2022_no2020_miaoliao.xlsx"
    sheet = pd.read_excel(path, header=None, usecols=[0], dtype=str)[0].dropna().str.strip().tolist()
    start = sheet.index("province") + 1
    listed = [MIAOLIAO_TYPOS.get(n, n) for n in sheet[start : start + len(province_codes)]]
    if len(listed) != len(province_codes):
        raise DataValidationError(f"found {len(listed)} provinces after the 'province' header",
                                  path=str(path), column="province", expected=f"{len(province_codes)}")
    for code, en in zip(sorted(province_codes), listed, strict=True):
        known = names.get(code)
        # Cross-check the order against the names from the other two sources ("Tibet (Xizang)" ~ "Tibet").
        if known is not None and re.sub(r"\s*\(.*\)", "", known) != en:
            raise DataValidationError(f"province order does not match the GB/T 2260 codes: {en!r} at "
                                      f"{code}, where other sources say {known!r}", path=str(path))
        names.setdefault(code, en)
    return names


def _fix_foreign_prefix(reg: pd.DataFrame) -> None:
    """Units whose code prefix is no province take province and prefecture from the 2020 省/市 columns.

    The 2020 yearbook codes 五台山风景名胜区 (忻州市, 山西省) as 170971, outside GB/T 2260.
    """
    provs = reg[reg["level"] == "province"]
    bad = reg["level"].ne("nation") & ~reg["province_code"].isin(provs["code"])
    if not bad.any():
        return
    by_name = dict(zip(provs["name_zh"], provs["code"], strict=True))
    for i in reg.index[bad]:
        prov = by_name.get(reg.at[i, "省"])
        if prov is None:
            raise DataValidationError(f"region {reg.at[i, 'code']} {reg.at[i, 'name_zh']} has no known province",
                                      column="区划代码", expected="a code starting with a province's 2 digits")
        pref = reg[(reg["province_code"] == prov) & (reg["level"] == "prefecture")
                   & (reg["name_zh"] == reg.at[i, "市"])]
        reg.at[i, "province_code"] = prov
        reg.at[i, "parent_code"] = pref["code"].iloc[0] if len(pref) == 1 else prov


def build_regions(raw_dir: Path = RAW_DIR) -> pd.DataFrame:
    """Build the registry from the 2010 and 2020 county census tables (one row per code).

    Columns: code (6-digit str), name_zh, short_zh, level ∈ {nation, province, prefecture, county},
    parent_code (the prefecture, or the province where the census lists no prefecture row, e.g. 省直辖县级
    行政区划 and the counties of 2010 municipalities; the nation for provinces; NA for the nation),
    province_code (NA for the nation), name_en (nation and provinces), in_2010, in_2020 (the code appears
    in that census), name_zh_2010 (the 2010 name, NA if not in 2010). 2020 names take precedence.
    Units without a code in the census tables (development zones, 管理区) are not in the registry.
    """
    raw_dir = Path(raw_dir)
    c2020 = _read_census(raw_dir / _CENSUS_DIR / "census_county_2020_v1.csv", "区县", ("省", "市"))
    c2010 = _read_census(raw_dir / _CENSUS_DIR / "census_county_2010_v1.csv", "地区")
    reg = c2020.merge(c2010, on="code", how="outer", suffixes=("", "_2010"), indicator=True)
    reg["in_2020"] = reg["_merge"].isin(["both", "left_only"])
    reg["in_2010"] = reg["_merge"].isin(["both", "right_only"])
    reg["name_zh"] = reg["name_zh"].fillna(reg["name_zh_2010"])
    reg = reg.drop(columns="_merge")
    nation = pd.DataFrame({"code": [NATION_CODE], "name_zh": ["全国"], "name_zh_2010": ["全国"],
                           "in_2020": [True], "in_2010": [True]})
    reg = pd.concat([nation, reg], ignore_index=True).sort_values("code", ignore_index=True)

    reg["level"] = reg["code"].map(_level)
    reg["short_zh"] = [_short_zh(n, lv) for n, lv in zip(reg["name_zh"], reg["level"], strict=True)]
    known = set(reg["code"])
    prov = reg["code"].str[:2] + "0000"
    pref = reg["code"].str[:4] + "00"
    reg["province_code"] = prov.where(reg["level"] != "nation")
    parent = pref.where(pref.isin(known) & (reg["level"] == "county"), prov)
    parent = parent.where(reg["level"] != "province", NATION_CODE)
    reg["parent_code"] = parent.where(reg["level"] != "nation")
    _fix_foreign_prefix(reg)

    province_codes = reg.loc[reg["level"] == "province", "code"].tolist()
    english = {NATION_CODE: "China", **_english_names(raw_dir, province_codes)}
    reg["name_en"] = reg["code"].map(english)

    reg = reg[COLUMNS].astype({"code": "str", "name_zh": "str", "short_zh": "str", "level": "str",
                               "parent_code": "str", "province_code": "str", "name_en": "str",
                               "name_zh_2010": "str", "in_2010": "bool", "in_2020": "bool"})
    return reg.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- lookup


def normalize_name(text: str) -> str:
    """Normalise a query or name: NFKC, no whitespace at the ends, 巿→市, lower-case, single spaces."""
    text = unicodedata.normalize("NFKC", text).replace("巿", "市").strip().lower()
    return re.sub(r"[\s_\-]+", " ", text)


def _en_keys(name_en: str) -> list[str]:
    """"Tibet (Xizang)" → "tibet (xizang)", "tibet", "xizang"."""
    full = normalize_name(name_en)
    keys = [full]
    m = re.fullmatch(r"(.+?)\s*\((.+)\)", full)
    if m:
        keys += [m.group(1), m.group(2)]
    return keys


class _Registry:
    """The registry table with name indexes, in tiers tried in order (first tier with a match wins)."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table.set_index("code", drop=False).rename_axis(None)
        self._regions: dict[str, Region] = {}
        self._names: dict[str, frozenset[str]] | None = None
        self.tiers: list[dict[str, list[str]]] = [{}, {}, {}]  # full names; short/aliases; 2010 names

        def add(tier: int, key: object, code: str) -> None:
            if isinstance(key, str) and key:
                codes = self.tiers[tier].setdefault(normalize_name(key), [])
                if code not in codes:
                    codes.append(code)

        t = self.table
        columns = [t[c].tolist() for c in ("code", "name_zh", "short_zh", "name_en", "name_zh_2010")]
        for code, zh, short, en, zh10 in zip(*columns, strict=True):
            add(0, zh, code)
            if isinstance(en, str):
                keys = _en_keys(en)
                add(0, keys[0], code)
                for k in keys[1:]:
                    add(1, k, code)
            add(1, short, code)
            if isinstance(zh10, str) and zh10 != zh:
                add(2, zh10, code)
                add(2, _short_zh(zh10, _level(code)), code)
        for name in ("nation", "national", "mainland china", "中国", "全国"):
            add(1, name, NATION_CODE)

    def region(self, code: str) -> Region:
        reg = self._regions.get(code)
        if reg is None:
            row = self.table.loc[code]

            def opt(v: object) -> str | None:
                return v if isinstance(v, str) else None

            reg = Region(code=code, name_zh=row["name_zh"], short_zh=row["short_zh"], level=row["level"],
                         parent_code=opt(row["parent_code"]), province_code=opt(row["province_code"]),
                         name_en=opt(row["name_en"]))
            self._regions[code] = reg
        return reg

    def describe(self, code: str) -> str:
        """'110105 朝阳区 (北京市)' — the code, the name and its ancestors below the nation."""
        reg = self.region(code)
        chain = []
        p = reg.parent_code
        while p is not None and p != NATION_CODE:
            up = self.region(p)
            chain.append(up.name_zh)
            p = up.parent_code
        where = f" ({' '.join(reversed(chain))})" if chain else ""
        en = f" / {reg.name_en}" if reg.name_en else ""
        return f"{code} {reg.name_zh}{en}{where}"

    def names_of(self, code: str) -> frozenset[str]:
        if self._names is None:
            names: dict[str, set[str]] = {}
            for tier in self.tiers:
                for key, codes in tier.items():
                    for c in codes:
                        names.setdefault(c, set()).add(key)
            self._names = {c: frozenset(v) for c, v in names.items()}
        return self._names.get(code, frozenset())

    def is_within(self, code: str, ancestor: str) -> bool:
        p: str | None = code
        while p is not None:
            if p == ancestor:
                return True
            p = self.region(p).parent_code
        return False


def _sources(raw_dir: Path) -> list[Path]:
    """Files the registry is built from (this module included)."""
    return [
        PACKAGE_DIR / "data" / "regions.py",
        raw_dir / _CENSUS_DIR / "census_county_2020_v1.csv",
        raw_dir / _CENSUS_DIR / "census_county_2010_v1.csv",
        raw_dir / "policy-dates" / "selective_two_child_dates.csv",
        raw_dir / "migrant-service-coverage" / "published_migrant_service_rates.csv",
        raw_dir / "nbs-exports-misc" / "province_cbr_2004_2022_no2020_miaoliao.xlsx",
    ]


@functools.cache
def _registry() -> _Registry:
    """The processed ``regions.parquet`` if it is newer than its sources, else built in memory."""
    path = PROCESSED_DIR / "regions.parquet"
    table = None
    if path.exists():
        built = path.stat().st_mtime
        if all(not src.exists() or src.stat().st_mtime <= built for src in _sources(RAW_DIR)):
            table = pd.read_parquet(path)
            if not set(COLUMNS) <= set(table.columns):  # written by an older build
                table = None
    if table is None:
        table = build_regions(RAW_DIR)
    return _Registry(table)


def _as_code(query: object) -> str | None:
    """A 2-, 4- or 6-digit code (str or int) as a 6-digit string; None if the query is not a code."""
    if isinstance(query, bool):
        return None
    if isinstance(query, numbers.Real) and not isinstance(query, numbers.Integral) and float(query).is_integer():
        query = int(query)  # 440000.0 from a spreadsheet column
    if isinstance(query, numbers.Integral):
        text = str(int(query))
        if text == "0":  # the nation 000000 as an int
            text = "00"
    elif isinstance(query, str):
        text = unicodedata.normalize("NFKC", query).strip()
    else:
        return None
    if not re.fullmatch(r"\d+", text) or len(text) not in (2, 4, 6):
        return None
    return text.ljust(6, "0")


def lookup(query: str | int | Region, *, within: str | int | Region | None = None) -> Region:
    """Resolve a code (2, 4 or 6 digits; str or int), a Chinese name with or without its suffix
    (广东, 广东省, 内蒙古自治区), an English name (case-insensitive) or 全国/China/nation to a :class:`Region`.

    ``within`` restricts name matches to the descendants of another region (``lookup("朝阳区", within="北京")``).
    Full names beat short names, which beat 2010 names (襄樊市 → 420600 襄阳市); among matches, units coded in
    the 2020 census beat units abolished before it, and a province beats a smaller unit (吉林 → 吉林省). Raises
    :class:`AmbiguousRegionError` (listing the candidates with codes) or :class:`RegionNotFoundError` (with
    close matches).
    """
    if isinstance(query, Region):
        return query
    reg = _registry()
    code = _as_code(query)
    if code is not None:
        if code in reg.table.index:
            return reg.region(code)
        close = difflib.get_close_matches(code, reg.table.index.tolist(), n=5, cutoff=0.8)
        hint = f"; close codes: {', '.join(reg.describe(c) for c in close)}" if close else ""
        raise RegionNotFoundError(f"region code {code!r} (from {query!r}) is not in the 2010/2020 census "
                                  f"registry{hint}")
    if not isinstance(query, str) or not query.strip():
        raise RegionNotFoundError(f"a region must be a GB/T 2260 code or a name, got {query!r}")
    if re.fullmatch(r"\d+", normalize_name(query)):
        raise RegionNotFoundError(f"region code {query!r} has {len(normalize_name(query))} digits (expected 2, 4 or 6)")
    anchor = lookup(within) if within is not None else None
    key = normalize_name(query)
    stripped = next((key[: -len(s)] for s in EN_SUFFIXES if key.endswith(s) and len(key) > len(s)), key)
    for tier in reg.tiers:
        codes = tier.get(key) or tier.get(stripped, [])
        if anchor is not None:
            codes = [c for c in codes if reg.is_within(c, anchor.code) and c != anchor.code]
        if not codes:
            continue
        current = [c for c in codes if reg.table.at[c, "in_2020"]]
        codes = current or codes  # units of the 2020 census first
        if len(codes) == 1:
            return reg.region(codes[0])
        top = [c for c in codes if _level(c) in ("nation", "province")]
        if len(top) == 1:
            return reg.region(top[0])
        listed = ", ".join(reg.describe(c) for c in sorted(codes))
        raise AmbiguousRegionError(f"region name {query!r} is ambiguous: {listed}. Use the 6-digit code, "
                                   f"or lookup(..., within=<province or prefecture>)", sorted(codes))
    hint = _suggest(reg, key)
    scope = f" within {anchor}" if anchor is not None else ""
    raise RegionNotFoundError(f"region {query!r} not found{scope} among the units of mainland China in the "
                              f"2010/2020 censuses (a GB/T 2260 code, a Chinese name or an English province "
                              f"name is expected){hint}")


def _close_codes(reg: _Registry, key: str, n: int) -> list[str]:
    """Codes of the names closest to ``key`` (difflib ratio ≥ 0.5; ties: higher level first)."""
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(key)
    scored: dict[str, tuple[float, int]] = {}
    for tier in reg.tiers:
        for name, codes in tier.items():
            matcher.set_seq1(name)
            if matcher.real_quick_ratio() < 0.5 or matcher.quick_ratio() < 0.5:
                continue
            ratio = matcher.ratio()
            if ratio >= 0.5:
                for c in codes:
                    scored[c] = max(scored.get(c, (0.0, 0)), (ratio, -LEVELS.index(_level(c))))
    return sorted(scored, key=lambda c: (-scored[c][0], -scored[c][1], c))[:n]


def _suggest(reg: _Registry, key: str, n: int = 5) -> str:
    ranked = _close_codes(reg, key, n)
    return f"; did you mean: {', '.join(reg.describe(c) for c in ranked)}?" if ranked else ""


def close_matches(query: str, n: int = 5) -> list[Region]:
    """The regions whose names are closest to ``query`` (for "did you mean" hints)."""
    reg = _registry()
    return [reg.region(c) for c in _close_codes(reg, normalize_name(str(query)), n)]


def describe(code: str | int | Region) -> str:
    """'220104 朝阳区 (吉林省 长春市)': code, name and the names of the ancestors below the nation."""
    return _registry().describe(lookup(code).code)


def names_of(code: str | int | Region) -> frozenset[str]:
    """Normalised names a region answers to (name, short name, English names, 2010 name)."""
    return _registry().names_of(lookup(code).code)


def display_names(codes: Iterable[object], lang: str = "zh", *, fallback: Iterable[str] | None = None,
                  short: bool = False) -> list[str]:
    """Names to show for region ``codes`` (:meth:`Region.name`): Chinese, or with ``lang="en"`` the English name
    where the registry has one (nation and provinces) and the Chinese name below. ``short``: the short Chinese
    name (新疆, not 新疆维吾尔自治区), for labels among many points. A code the registry does not hold gets the
    ``fallback`` name at the same position (e.g. the table's own ``name_zh``), else the code."""
    if lang not in ("zh", "en"):
        raise AnalysisError(f"lang must be 'zh' or 'en', got {lang!r}")
    reg = _registry()
    codes = [str(c) for c in codes]
    backup = list(fallback) if fallback is not None else codes
    if len(backup) != len(codes):
        raise AnalysisError(f"display_names: {len(codes)} codes but {len(backup)} fallback names")
    def name(c: str) -> str:
        region = reg.region(c)
        return region.short_zh if short and lang == "zh" else region.name(lang)

    return [name(c) if c in reg.table.index else str(b) for c, b in zip(codes, backup, strict=True)]


def parent(code: str | int | Region) -> Region | None:
    """The parent region (None for the nation)."""
    p = lookup(code).parent_code
    return None if p is None else _registry().region(p)


def children(code: str | int | Region, level: str | None = None, *, census: int | None = None) -> pd.DataFrame:
    """Registry rows below a region: its direct children, or with ``level`` all its descendants at that
    level (``children("440000", "county")``). ``census=2010|2020`` keeps units coded in that census."""
    reg = _registry()
    region = lookup(code)
    t = reg.table
    if level is None:
        out = t[t["parent_code"] == region.code]
    else:
        if level not in LEVELS:
            raise AnalysisError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        out = t[t["level"] == level]
        if region.level == "province":
            out = out[out["province_code"] == region.code]
        elif region.level != "nation":
            out = out[out["parent_code"] == region.code]
    if census is not None:
        if census not in (2010, 2020):
            raise AnalysisError(f"census must be 2010 or 2020, got {census!r}")
        out = out[out[f"in_{census}"]]
    return out.sort_values("code").reset_index(drop=True)


def lowest_units(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of a census table's lowest units (columns census, level, region_code, prefecture_code): the
    county rows plus the prefecture rows that have no county rows in the same census — prefecture-level cities
    without counties, such as 东莞 and 中山 — which together cover the country once."""
    missing = [c for c in ("census", "level", "region_code", "prefecture_code") if c not in frame.columns]
    if missing:
        raise AnalysisError(f"lowest_units needs the column(s) {missing}")
    county = frame["level"] == "county"
    with_counties = set(zip(frame.loc[county, "census"], frame.loc[county, "prefecture_code"], strict=True))
    keys = pd.Series(list(zip(frame["census"], frame["region_code"], strict=True)), index=frame.index)
    return county | ((frame["level"] == "prefecture") & ~keys.isin(with_counties))


def county_level_units(code: str | int | Region, *, census: int | None = None) -> pd.DataFrame:
    """Registry rows of the county-level units below a region: its counties plus the prefecture-level cities
    that have no counties (东莞, 中山, 儋州, 嘉峪关, 三沙), so that together they cover it once — the registry's
    counterpart of :func:`lowest_units`. Sorted by code."""
    counties = children(code, "county", census=census)
    prefectures = children(code, "prefecture", census=census)
    alone = prefectures[~prefectures["code"].isin(counties["parent_code"])]
    return pd.concat([counties, alone]).sort_values("code").reset_index(drop=True)


def provinces() -> pd.DataFrame:
    """The 31 provinces (province-level units of mainland China), by code."""
    t = _registry().table
    return t[t["level"] == "province"].sort_values("code").reset_index(drop=True)


def safe_slug(code: str | int | Region) -> str:
    """A filesystem-safe token for a region (its code); anything but ASCII letters and digits is refused."""
    text = code.code if isinstance(code, Region) else str(code)
    if not re.fullmatch(r"[0-9A-Za-z]+", text):
        raise AnalysisError(f"not a safe region token: {text!r} (only ASCII letters and digits are allowed; "
                            f"resolve names with regions.lookup(...).code first)")
    return text
