"""Exporter: parameters.json, figures, CSV tables, atomic writes and safe names (analysis.outputs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import analysis
from analysis.exceptions import DataValidationError
from analysis.outputs import Exporter, atomic_path, validate_name
from analysis.results import Result


@dataclass(frozen=True, kw_only=True)
class _DemoResult(Result):
    pass


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_parameters_json(tmp_path):
    out = tmp_path / "runs" / "440100"
    ex = Exporter(
        out, notebook="01_sex_ratio_trends.ipynb", params={"region": "440100", "lang": "zh", "y": 2.5}
    )
    record = json.loads((out / "parameters.json").read_text(encoding="utf-8"))
    assert record["params"] == {"region": "440100", "lang": "zh", "y": 2.5}
    assert record["notebook"] == "01_sex_ratio_trends.ipynb"
    assert record["package"]["version"] == analysis.__version__
    assert record["libraries"]["matplotlib"] == metadata.version("matplotlib")
    created = datetime.fromisoformat(record["created_utc"])
    assert created.tzinfo is not None and abs((datetime.now(UTC) - created).total_seconds()) < 3600
    assert ex.written == [out / "parameters.json"]
    assert _files(out) == ["parameters.json"]


def test_parameters_must_be_json_able(tmp_path):
    Exporter(tmp_path / "ok", notebook="nb", params={"path": Path("a/b")})
    assert json.loads((tmp_path / "ok" / "parameters.json").read_text())["params"] == {"path": "a/b"}
    with pytest.raises(DataValidationError, match="JSON-able"):
        Exporter(tmp_path / "bad", notebook="nb", params={"model": object()})
    assert not (tmp_path / "bad" / "parameters.json").exists()


def test_table_csv_with_bom_from_dataframe_and_result(tmp_path):
    ex = Exporter(tmp_path, notebook="nb", params={})
    df = pd.DataFrame({"region_zh": ["广州市", "深圳市"], "srb": [110.25, 108.5]})
    path = ex.table(df, "srb_by_city")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    pd.testing.assert_frame_equal(pd.read_csv(path, encoding="utf-8-sig"), df, check_dtype=False)

    result = _DemoResult(table=df.set_index("region_zh"), method="demo", method_zh="示例")
    back = pd.read_csv(ex.table(result, "result.csv"), encoding="utf-8-sig")
    assert list(back.columns) == ["region_zh", "srb"]  # a named index is written
    filtered = pd.concat([df, df]).iloc[[3, 0]]  # row numbers left by a filter: not written
    assert list(pd.read_csv(ex.table(filtered, "filtered"), encoding="utf-8-sig").columns) == ["region_zh", "srb"]
    labelled = df.set_index(pd.Index(["a", "b"]))  # unnamed labels are information: written
    assert pd.read_csv(ex.table(labelled, "labelled"), encoding="utf-8-sig").iloc[:, 0].tolist() == ["a", "b"]
    assert ex.written == [tmp_path / "parameters.json", path, tmp_path / "result.csv", tmp_path / "filtered.csv",
                          tmp_path / "labelled.csv"]  # fmt: skip
    with pytest.raises(DataValidationError, match="DataFrame or an analysis Result"):
        ex.table([1, 2], "list")


def test_figure_writes_three_formats_and_no_temp_files(tmp_path):
    ex = Exporter(tmp_path, notebook="nb", params={}, formats=["png", "pdf", "svg"])
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    paths = ex.figure(fig, "trend")
    assert [p.name for p in paths] == ["trend.png", "trend.pdf", "trend.svg"]
    assert _files(tmp_path) == ["parameters.json", "trend.pdf", "trend.png", "trend.svg"]
    assert ex.written[1:] == paths
    ex.figure(fig, "trend.png")  # same stem again: files replaced, not listed twice
    assert len(ex.written) == 4


def test_figure_formats_option_writes_only_those_and_records_them(tmp_path):
    ex = Exporter(tmp_path, notebook="nb", params={}, formats=["png"])
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    assert [p.name for p in ex.figure(fig, "trend")] == ["trend.png"]
    assert _files(tmp_path) == ["parameters.json", "trend.png"]
    assert json.loads((tmp_path / "parameters.json").read_text())["figure_formats"] == ["png"]
    default = Exporter(tmp_path / "all", notebook="nb", params={})
    assert json.loads((tmp_path / "all" / "parameters.json").read_text())["figure_formats"] == ["png", "pdf"]
    assert default.formats == ("png", "pdf")


@pytest.mark.parametrize("formats", [["png", "jpg"], [], ["PDF"]])
def test_unknown_or_empty_figure_formats_are_rejected(tmp_path, formats):
    with pytest.raises(DataValidationError, match="figure format"):
        Exporter(tmp_path / "out", notebook="nb", params={}, formats=formats)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "广州市", "", ".hidden", "a b", "x\\y", ".."])
def test_unsafe_names_are_rejected(tmp_path, name):
    ex = Exporter(tmp_path / "out", notebook="nb", params={})
    fig, _ = plt.subplots()
    with pytest.raises(DataValidationError, match="unsafe"):
        ex.table(pd.DataFrame({"a": [1]}), name)
    with pytest.raises(DataValidationError, match="unsafe"):
        ex.figure(fig, name)
    assert _files(tmp_path / "out") == ["parameters.json"]
    assert _files(tmp_path) == ["out"]


def test_validate_name_accepts_codes_and_names():
    assert validate_name("440100_srb-v1.2") == "440100_srb-v1.2"


def test_atomic_path_leaves_old_file_on_error(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and _files(tmp_path) == ["t.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and _files(tmp_path) == ["t.txt"]
