"""Tests of ``analysis.data.store``: ``load`` (build on first use, filters, wide form, cache, errors)
and ``catalog``. Reference SRB 112.28: NBS 2020 census long-form table 6-1 (see test_data_build)."""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

from analysis import data
from analysis.data.tables import TABLES
from analysis.exceptions import AnalysisError

catalog_module = importlib.import_module("analysis.data.store")


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """An empty processed folder: the first ``load`` must build it."""
    folder = tmp_path_factory.mktemp("processed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(catalog_module, "PROCESSED_DIR", folder)
        catalog_module.clear_cache()
        yield folder
    catalog_module.clear_cache()


def test_load_builds_missing_files(processed):
    assert not (processed / "census_births.parquet").exists()
    df = data.load("census_births")
    assert (processed / "census_births.parquet").is_file()
    assert (processed / ".build-stamp").is_file()
    assert len(df) == 3072
    assert list(df.columns) == list(TABLES["census_births"].schema.columns)


@pytest.mark.parametrize("name", list(TABLES))
def test_every_dataset_loads_with_its_schema(processed, name):
    df = data.load(name)
    assert len(df) > 0
    TABLES[name].schema.validate(df)


def test_filters_scalar_list_and_coercion(processed):
    df = data.load("province_series", indicator="cbr", region_code=["110000", "440000"])
    assert set(df["region_code"]) == {"110000", "440000"} and set(df["indicator"]) == {"cbr"}
    assert len(df) == 2 * 24
    # values are cast to the column's type: int code -> "440000", "2020" -> 2020
    assert data.load("province_series", region_code=440000, year="2020", indicator="population")["value"].item() > 0
    assert data.load("census_births", census="2020")["census"].eq(2020).all()
    assert data.load("county_census", region_code="999999").empty
    assert df.index.equals(pd.RangeIndex(len(df)))


def test_wide_census_births(processed):
    long = data.load("census_births", census=2020)
    wide = data.load("census_births", census=2020, wide=True)
    assert len(wide) == len(long) // 2
    assert {"males", "females", "empty_in_source"} <= set(wide.columns)
    assert "sex" not in wide.columns and "births" not in wide.columns
    nat = wide[(wide["region_code"] == "000000") & (wide["residence"] == "total") & (wide["birth_order"] == "all")]
    assert round(nat["males"].item() / nat["females"].item() * 100, 2) == 112.28
    assert wide["empty_in_source"].sum() >= long["empty_in_source"].sum() / 2
    assert (wide["males"] + wide["females"]).sum() == long["births"].sum()


def test_errors_list_the_valid_choices(processed):
    with pytest.raises(AnalysisError, match="unknown dataset 'births'.*census_births.*county_census"):
        data.load("births")
    with pytest.raises(AnalysisError, match="unknown filter column.*provinc.*valid columns: region_code"):
        data.load("province_series", provinc="110000")
    with pytest.raises(AnalysisError, match="no wide form.*census_births"):
        data.load("national_series", wide=True)
    with pytest.raises(AnalysisError, match="census"):
        data.load("census_births", census="twenty")


def test_cache_reads_once_and_returns_copies(processed, monkeypatch):
    data.load("policy_dates")
    calls = []
    real = pd.read_parquet
    monkeypatch.setattr(catalog_module.pd, "read_parquet", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = data.load("policy_dates")
    first.loc[0, "province_zh"] = "changed"
    first["extra"] = 1
    second = data.load("policy_dates")
    assert calls == []  # served from the per-process cache
    assert second.loc[0, "province_zh"] != "changed" and "extra" not in second.columns
    catalog_module.clear_cache()
    data.load("policy_dates")
    assert len(calls) == 1  # only the one file needed is read


def test_catalog_lists_every_dataset():
    cat = data.catalog()
    assert list(cat["name"]) == list(TABLES)
    assert {"name", "description", "coverage", "unit", "source", "license", "columns"} <= set(cat.columns)
    assert (cat[["description", "coverage", "unit", "source", "license"]].map(len) > 0).all(axis=None)
    assert "CC BY 3.0 IGO" in cat.set_index("name").loc["countries", "license"]
    assert "MIT" in cat.set_index("name").loc["county_census", "license"]
    # callable whichever way it is imported
    from analysis.data import catalog

    assert catalog().equals(cat)
