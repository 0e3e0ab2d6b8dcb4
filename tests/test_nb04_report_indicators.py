"""notebooks/04_report_indicators.ipynb runs end to end under papermill (kernel cnfp) on the project's
synthetic fixture reports, and its outputs hold what the notebook says they hold."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import papermill as pm
from conftest import check_shown

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR, ROOT

REPORTS = ROOT / "tests" / "fixtures" / "reports"


def _run(tmp_path, **params):
    """Run the notebook into tmp_path/run.ipynb with outputs in tmp_path/out; returns the output folder."""
    out_dir = tmp_path / "out"
    pm.execute_notebook(str(NOTEBOOKS_DIR / "04_report_indicators.ipynb"), str(tmp_path / "run.ipynb"),
                        parameters={"reports_path": str(REPORTS), "output_dir": str(out_dir), **params},
                        kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=False)
    return out_dir


def test_notebook_04_runs_with_papermill(tmp_path, journal_width):
    out_dir = _run(tmp_path, region="510700", lang="en", report_year=None)
    params = json.loads((out_dir / "parameters.json").read_text(encoding="utf-8"))
    assert params["params"]["region"] == "510700"
    indicators = pd.read_csv(out_dir / "indicators.csv", encoding="utf-8-sig", dtype={"region_code": str})
    assert set(indicators["region_code"]) == {"510700", "510703", "510704"}  # 绵阳市 and its districts only
    margins = pd.read_csv(out_dir / "margin_checks.csv", encoding="utf-8-sig")
    assert sorted(margins["status"]) == ["incomplete", "mismatch", "ok", "within ceiling"]
    check_shown(tmp_path / "run.ipynb", "en")
    nb = nbformat.read(tmp_path / "run.ipynb", as_version=4)
    md = "\n".join(o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if "text/markdown" in o.get("data", {}))
    # the sentence counts each status: it must not read as if all but the mismatches added up
    assert ("4 statements state a target or margin: 1 adds up within rounding, **1** does not (|value − target| ≠ "
            "margin), 1 stays within its stated ceiling and 1 cannot be checked (no target stated).") in md
    # fictitious numbers never pass for real ones: the text and the figure say they are synthetic
    assert "synthetic test reports: every reported number below is fictitious" in md
    assert "The reported values come from the synthetic test reports and are fictitious." in md
    comparison = pd.read_csv(out_dir / "report_vs_census.csv", encoding="utf-8-sig", dtype={"region_code": str})
    srb_census = comparison[(comparison["indicator"] == "sex_ratio_at_birth")
                            & comparison["source"].str.startswith("census")]
    assert len(srb_census) == 6  # 3 regions x 2 censuses, each with an interval around the estimate
    assert ((srb_census["lower"] < srb_census["value"]) & (srb_census["value"] < srb_census["upper"])).all()
    assert (out_dir / "reported_srb_vs_census.png").exists()
    # a reported 总人口 is not the census's residents: the text says so (not only the English method line)
    assert (comparison["indicator"] == "total_population").any()
    assert "a report's 总人口 is listed after it under its own name, as it is often the registered (户籍)" in md
    assert journal_width(out_dir) == 1


def test_region_without_reports_says_so_and_shows_no_empty_tables(tmp_path):
    from analysis.extract import REPORT_SUFFIXES, extract_report

    out_dir = _run(tmp_path, region="650000", lang="en")
    check_shown(tmp_path / "run.ipynb", "en")
    nb = nbformat.read(tmp_path / "run.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    md = "\n".join(o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {}))
    read = pd.concat([extract_report(p) for p in sorted(REPORTS.rglob("*")) if p.suffix.lower() in REPORT_SUFFIXES])
    assert (f"{len(read)} indicator statements found, **0** kept for Xinjiang (650000) and its sub-regions. "
            "**Nothing below applies**: the reports speak of " + ", ".join(sorted(read["region"].dropna().unique()))) in md
    assert "No statement to check." in md and "0 statement" not in md
    assert "No statement to compare: none concerns this region." in md and "fictitious" not in md
    assert not any("Empty DataFrame" in o.get("data", {}).get("text/plain", "") for o in outputs)
    # the (empty) tables are still written, so that a batch's outputs have the same files for every region
    assert len(pd.read_csv(out_dir / "indicators.csv", encoding="utf-8-sig")) == 0


def test_chinese_run_shows_methods_in_chinese(tmp_path):
    out_dir = _run(tmp_path, region="510700", lang="zh", report_year=None)
    shown = check_shown(tmp_path / "run.ipynb", "zh")
    methods = [m for _, _, m in shown if m]
    # character offsets of the quotes are in the CSV, not in the shown table (their 起/止 would read as dates)
    assert "start" in pd.read_csv(out_dir / "indicators.csv", encoding="utf-8-sig").columns
    page = "".join(o.get("data", {}).get("text/html", "") for c in nbformat.read(tmp_path / "run.ipynb", as_version=4).cells
                   for o in c.get("outputs", []))
    assert "找到的指标陈述" in page and "<th>start</th>" not in page
    assert methods and any("普查人口为常住人口" in m for m in methods), methods
