"""``python -m analysis extract`` (analysis.extract.cli): files, folders, unreadable files, exit status."""

from __future__ import annotations

import io

import pandas as pd

from analysis.cli import main
from analysis.config import ROOT
from analysis.extract import COLUMNS

FIXTURES = ROOT / "tests" / "fixtures" / "reports"


def test_folder_to_stdout(capsys):
    assert main(["extract", str(FIXTURES), "--report-year", "2021"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(io.StringIO(out), dtype={"region_code": str})
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    files = {p.name for p in FIXTURES.iterdir()}
    assert len(files) == 4
    # every fixture contributes; the GB18030 one is read with the given report year
    assert table["source"].nunique() == 4  # header title, HTML <title> or the file name
    assert "nanhu_2021_traditional_gb18030.txt" in set(table["source"])
    nanhu = table[table["region_code"] == "330402"]
    assert "2020" in set(nanhu["period"].astype(str))


def test_unreadable_files_reported_others_processed(tmp_path, capsys):
    (tmp_path / "binary.txt").write_bytes(b"\x00\x00\x01")
    (tmp_path / "empty.md").write_bytes(b"")
    good = tmp_path / "good.txt"
    good.write_text("全市出生人口性别比为108.1。", encoding="gb18030")
    out = tmp_path / "out" / "indicators.csv"
    status = main(["extract", str(tmp_path), str(tmp_path / "missing.txt"), "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert "binary.txt" in err and "binary file" in err
    assert "empty.md" in err and "empty" in err
    assert "missing.txt: no such file or folder" in err
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert table[["indicator_key", "value"]].values.tolist() == [["sex_ratio_at_birth", 108.1]]
    assert table["source"].tolist() == ["good.txt"]


def test_extra_vocabulary_option(tmp_path, capsys):
    extra = tmp_path / "terms.csv"
    extra.write_text("indicator_key,unit,zh_terms\nfolic_acid_recipients,persons,叶酸服用\n", encoding="utf-8")
    report = tmp_path / "r.txt"
    report.write_text("叶酸服用1.5万人。", encoding="utf-8")
    assert main(["extract", str(report), "--vocabulary", str(extra)]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table[["indicator_key", "value"]].values.tolist() == [["folic_acid_recipients", 15000.0]]
