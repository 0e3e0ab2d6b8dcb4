"""The processed tables: one pandera schema and one catalog entry per dataset.

Every table written by :func:`analysis.data.build.build_all` is validated against ``TABLES[name].schema``
(strict: no extra or missing columns, columns in this order). The metadata here feeds
:func:`analysis.data.store.catalog`; the long descriptions and definitions are in ``data/README.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandera.pandas as pa


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """A processed dataset: its schema and what the catalog says about it."""

    name: str
    description: str
    coverage: str
    unit: str
    source: str
    license: str
    #: for ``load(..., wide=True)``: (index columns, column to spread, value column, {old: new name})
    pivot: tuple[tuple[str, ...], str, str, dict[str, str]] | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}.parquet"

    @property
    def schema(self) -> pa.DataFrameSchema:
        """The pandera schema (pandera is imported on first use, so ``load`` does not pay for it)."""
        return _schemas()[self.name]


_NBS = "NBS figures: cite the National Bureau of Statistics of China (public official statistics)"
_WPP = ("CC BY 3.0 IGO — 'Source: United Nations, DESA, Population Division. "
        "World Population Prospects 2024.'")


@functools.cache
def _schemas() -> dict[str, pa.DataFrameSchema]:
    """name -> schema; built once, on first use."""
    import pandera.pandas as pa
    from pandera.pandas import Check, Column

    def _code(nullable: bool = False) -> Column:
        """A 6-digit GB/T 2260 region code held as a string."""
        return Column(str, Check.str_matches(r"^\d{6}$"), nullable=nullable)

    def _nonneg(dtype: object = float, *, nullable: bool = False) -> Column:
        return Column(dtype, Check.ge(0), nullable=nullable)

    _national = pa.DataFrameSchema(
        {
            "region_code": Column(str, Check.eq("000000")),
            "year": Column(int, Check.in_range(1950, 2023)),
            "indicator": Column(str, Check.isin(["births", "cbr", "cdr", "srb", "tfr"])),
            "source": Column(str, Check.isin(["NBS", "UN WPP 2024"])),
            "vintage": Column(str, Check.isin(["original", "revised", ""])),
            "value": _nonneg(),
            "unit": Column(str, Check.isin(["persons", "per 1000 population", "males per 100 females",
                                            "children per woman"])),
        },
        strict=True, ordered=True, unique=["year", "indicator", "source", "vintage"],
    )

    _countries = pa.DataFrameSchema(
        {
            "country_code": Column(int, Check.gt(0)),
            "country": Column(str),
            "country_zh": Column(str, nullable=True),
            "year": Column(int, Check.in_range(1950, 2023)),
            "indicator": Column(str, Check.isin(["births", "cbr", "srb", "tfr"])),
            "value": _nonneg(),
            "unit": Column(str, Check.isin(["persons", "per 1000 population", "males per 100 females",
                                            "children per woman"])),
            "source": Column(str, Check.eq("UN WPP 2024")),
        },
        strict=True, ordered=True, unique=["country_code", "year", "indicator"],
    )

    _census_births = pa.DataFrameSchema(
        {
            "census": Column(int, Check.isin([2010, 2020])),
            "reference_period": Column(str, Check.isin(["2009-11-01/2010-10-31", "2019-11-01/2020-10-31"])),
            "region_code": _code(),
            "region_zh": Column(str),
            "residence": Column(str, Check.isin(["total", "city", "town", "rural"])),
            "birth_order": Column(str, Check.isin(["all", "1", "2", "3", "4", "5+"])),
            "sex": Column(str, Check.isin(["male", "female"])),
            "births": _nonneg(int),
            "empty_in_source": Column(bool),
            "unit": Column(str, Check.eq("persons")),
            "source": Column(str),
        },
        strict=True, ordered=True, unique=["census", "region_code", "residence", "birth_order", "sex"],
    )

    _province = pa.DataFrameSchema(
        {
            "region_code": _code(),
            "region_zh": Column(str),
            "year": Column(int, Check.in_range(2000, 2024)),
            "indicator": Column(str, Check.isin(["cbr", "population"])),
            "value": _nonneg(nullable=True),
            "unit": Column(str, Check.isin(["per 1000 population", "persons"])),
            "source": Column(str),
            "note": Column(str),
        },
        strict=True, ordered=True, unique=["region_code", "year", "indicator"],
    )

    _county = pa.DataFrameSchema(
        {
            "census": Column(int, Check.isin([2010, 2020])),
            "region_code": _code(nullable=True),
            "name_zh": Column(str),
            "level": Column(str, Check.isin(["province", "prefecture", "county"])),
            "province_code": _code(),
            "prefecture_code": _code(nullable=True),
            "population": _nonneg("Int64", nullable=True),
            "age0_males": _nonneg("Int64", nullable=True),
            "age0_females": _nonneg("Int64", nullable=True),
            "migrants_same_county": _nonneg("Int64", nullable=True),
            "migrants_other_county": _nonneg("Int64", nullable=True),
            "migrants_other_province": _nonneg("Int64", nullable=True),
            "birth_rate": _nonneg(nullable=True),
            "source": Column(str),
        },
        strict=True, ordered=True,
    )

    _srb_by_order = pa.DataFrameSchema(
        {
            "country": Column(str, Check.isin(["China", "South Korea"])),
            "year": Column(int, Check.in_range(1950, 2030)),
            "birth_order": Column(str, Check.isin(["all", "1", "2", "3", "3+", "4+"])),
            "srb": Column(float, Check.in_range(80, 300)),
            "unit": Column(str, Check.eq("males per 100 females")),
            "source": Column(str),
        },
        strict=True, ordered=True, unique=["country", "year", "birth_order"],
    )

    _sample_births = pa.DataFrameSchema(
        {
            "year": Column(int, Check.in_range(2003, 2015)),
            "survey": Column(str, Check.isin(["1% population sample survey", "1‰ population change survey"])),
            "birth_order": Column(str, Check.isin(["all", "1", "2", "3+"])),
            "births": _nonneg(int),
            "unit": Column(str, Check.eq("persons (sample count)")),
            "source": Column(str),
        },
        strict=True, ordered=True, unique=["year", "birth_order"],
    )

    _policy = pa.DataFrameSchema(
        {
            "region_code": _code(),
            "province_zh": Column(str),
            "province_en": Column(str),
            "policy": Column(str, Check.isin(["selective_two_child_2014", "universal_two_child_2016",
                                              "three_child_2021"])),
            "effective_date": Column("datetime64[us]"),
            "date_type": Column(str, Check.isin(["effective", "relaxed_on", "adopted", "reported_by",
                                                 "version_date_in_filename"])),
            "source": Column(str),
            "note": Column(str),
        },
        strict=True, ordered=True, unique=["region_code", "policy"],
    )

    _migrant = pa.DataFrameSchema(
        {
            "region_code": _code(nullable=True),
            "geo_level": Column(str),
            "geo_zh": Column(str),
            "geo_en": Column(str),
            "reference_period": Column(str),
            "source_type": Column(str),
            "indicator_en": Column(str),
            "indicator_zh": Column(str),
            "value_pct": Column(float, Check.in_range(0, 100)),
            "bound": Column(str, Check.isin(["=", ">=", ">"])),
            "numerator": _nonneg("Int64", nullable=True),
            "denominator": Column("Int64", Check.gt(0), nullable=True),
            "target_or_benchmark": Column(str, nullable=True),
            "citation": Column(str),
            "source_url": Column(str),
            "note": Column(str, nullable=True),
        },
        strict=True, ordered=True,
    )

    _monthly = pa.DataFrameSchema(
        {
            "area": Column(str),
            "year": Column(int, Check.in_range(1900, 2100)),
            "month": Column(int, Check.in_range(1, 12)),
            "date": Column("datetime64[us]"),
            "births": _nonneg(int),
            "record_type": Column(str, Check.isin(["occurrence", "registration"])),
            "reliability": Column(str),
            "source_year": Column(int),
            "unit": Column(str, Check.eq("persons")),
            "source": Column(str),
        },
        strict=True, ordered=True, unique=["area", "year", "month"],
    )

    _regions = pa.DataFrameSchema(
        {
            "code": _code(),
            "name_zh": Column(str),
            "short_zh": Column(str, nullable=True),
            "level": Column(str, Check.isin(["nation", "province", "prefecture", "county"])),
            "parent_code": _code(nullable=True),
            "province_code": _code(nullable=True),
            "name_en": Column(str, nullable=True),
        },
        strict=False, unique=["code"],
    )

    return {
        "national_series": _national,
        "countries": _countries,
        "census_births": _census_births,
        "province_series": _province,
        "county_census": _county,
        "srb_by_order": _srb_by_order,
        "sample_births_by_order": _sample_births,
        "policy_dates": _policy,
        "migrant_service_rates": _migrant,
        "monthly_births": _monthly,
        "regions": _regions,
    }


_SPECS = [
    TableSpec(
        name="national_series",
        description="China (mainland) annual births, crude birth/death rate, SRB and TFR: NBS (CBR in both "
                    "vintages, original and post-2020-census revised) and UN WPP 2024 estimates, labelled",
        coverage="1950-2023 (NBS births 1950-2023; NBS CBR/CDR revised 1973-2022, original 2004-2023; WPP 1950-2023)",
        unit="persons; per 1000 population; males per 100 females; children per woman (column unit)",
        source="NBS (via vicalloy/china-population, lemon1022/BirthTrends, Miao-Liao/Master-thesis-code); "
               "UN WPP 2024 (via PPgp/wpp2024)",
        license=f"{_NBS}; WPP: {_WPP}",
    ),
    TableSpec(
        name="countries",
        description="UN WPP 2024 estimates for every country/area (aggregates excluded): births, CBR, SRB, TFR",
        coverage="236 countries/areas (WPP location type 4), 1950-2023",
        unit="persons; per 1000 population; males per 100 females; children per woman (column unit)",
        source="UN WPP 2024 (via PPgp/wpp2024)",
        license=_WPP,
    ),
    TableSpec(
        name="census_births",
        description="Births in the 12 months before the census by province, residence, birth order and sex, "
                    "census long form (~10% sample); SRB must be computed from these counts",
        coverage="2010, 2020 censuses; nation + 31 provinces; total/city/town/rural; order 1-5+",
        unit="persons (long-form sample births)",
        source="NBS census tables 6-1, 6-1a/b/c (via earfanfan/yuanfan)",
        license=_NBS,
        pivot=(("census", "reference_period", "region_code", "region_zh", "residence", "birth_order",
                "unit", "source"), "sex", "births", {"male": "males", "female": "females"}),
    ),
    TableSpec(
        name="province_series",
        description="Provincial crude birth rate and year-end resident population (NaN where not published)",
        coverage="31 provinces; CBR 2001-2024 (2020, 2023 missing); population 2000-2024",
        unit="per 1000 population; persons (column unit)",
        source="NBS 分省年度数据 (via lemon1022/BirthTrends, Miao-Liao/Master-thesis-code, "
               "Liushenwuzhu-Alpaca/province-economy, 1lmq/FYP_QMM2_Chinese_Railways)",
        license=_NBS,
    ),
    TableSpec(
        name="county_census",
        description="County/prefecture/province units of the 2010 and 2020 censuses: population, age-0 males and "
                    "females (a PROXY for SRB), population living away from its hukou township by origin, "
                    "2010 birth rate",
        coverage="2010 and 2020: 31 provinces, ~340 prefecture-level and ~2,870 (2010) / ~2,990 (2020) county-level units",
        unit="persons; birth_rate per 1000 population",
        source="NBS 2010 census county tabulation and 2020 census yearbook (via leiii/census, Lei Dong et al.)",
        license="MIT (Copyright (c) 2022 Lei Dong) for the compilation; NBS figures: cite NBS",
    ),
    TableSpec(
        name="srb_by_order",
        description="Sex ratio at birth by birth order: China (census / 1% survey points) and South Korea",
        coverage="China 1981-2010 (7 points); South Korea 1970-2017",
        unit="males per 100 females",
        source="Jiang et al. (2017) J. Biosoc. Sci. 49(6); NSO Korea — via Our World in Data (owid/owid-datasets)",
        license="third-party data re-published by OWID: cite Jiang et al. 2017 and OWID",
    ),
    TableSpec(
        name="sample_births_by_order",
        description="Births by birth order in the NBS annual population sample surveys (sample counts: "
                    "use for shares only)",
        coverage="2003-2015 (no 2010)",
        unit="persons (sample count)",
        source="NBS population sample surveys (via lemon1022/BirthTrends)",
        license=_NBS,
    ),
    TableSpec(
        name="policy_dates",
        description="Provincial dates of the 2014 selective two-child policy (18 provinces; 13 without a "
                    "sourced date) and some 2016/2021 amendment dates, with date type and source",
        coverage="29 rows: 2014 (18 provinces), 2016 (6), 2021 (5)",
        unit="date",
        source="news items, Library of Congress GLM, provincial regulations (LawRefBook/Laws); one per row",
        license="facts compiled for this project from the cited sources",
    ),
    TableSpec(
        name="migrant_service_rates",
        description="Published aggregate coverage rates of services for the migrant (floating) population, "
                    "with citations; numerator/denominator only where printed",
        coverage="36 rows, 2011-2018; national, regional, 10 provinces, Haikou, Qinghai",
        unit="percent (value_pct); bound gives =, >= or >",
        source="papers (CMDS tabulations), official bulletins, Haikou yearbook — citation per row",
        license="facts compiled for this project from the cited sources",
    ),
    TableSpec(
        name="monthly_births",
        description="Live births by month (UN Demographic Yearbook), de-duplicated: Hong Kong SAR, Macao SAR, "
                    "Rep. of Korea, Japan, Singapore, Mongolia, Malaysia, Philippines",
        coverage="1971-2024 (varies by area)",
        unit="persons",
        source="UNdata, UN Statistics Division, Demographic Statistics Database (via wrf/birth_rate_by_month)",
        license="UNdata terms of use: free to copy and redistribute, citing UNdata / UNSD",
    ),
    TableSpec(
        name="regions",
        description="Region registry: GB/T 2260 code, Chinese name, level, parent, English name for provinces",
        coverage="nation, 31 provinces, prefectures and counties of the 2020 census",
        unit="-",
        source="built by analysis.data.regions from the census files (leiii/census, MIT)",
        license="MIT (Copyright (c) 2022 Lei Dong) for the compilation",
    ),
]

#: name -> TableSpec, in catalog order
TABLES: dict[str, TableSpec] = {spec.name: spec for spec in _SPECS}
