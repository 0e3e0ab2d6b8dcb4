"""End-to-end runs of notebooks/03_migrant_service_coverage.ipynb with papermill (kernel ``cnfp``): the nation
and a province on the published aggregates, a county with synthetic seeded coverage records (written here)."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import papermill as pm
import pytest

from analysis.config import KERNEL_NAME, NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "03_migrant_service_coverage.ipynb"


def _run(tmp_path, **params):
    out_dir = tmp_path / "out"
    out_nb = tmp_path / "executed.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK), str(out_nb), parameters={"output_dir": str(out_dir), **params},
        kernel_name=KERNEL_NAME, cwd=str(NOTEBOOKS_DIR), progress_bar=False,
    )
    nb = nbformat.read(out_nb, as_version=4)
    markdown = "\n".join(
        o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    return out_dir, markdown


def test_saved_without_outputs_and_parameters_tagged():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "cnfp"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("region", "coverage_path", "target", "alpha", "correction", "lang", "output_dir"):
        assert f"\n{name} = " in "\n" + code[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.mark.parametrize("region", ["000000", "44"])
def test_published_aggregates(tmp_path, region, journal_width):
    out_dir, md = _run(tmp_path, region=region, lang="en")
    assert journal_width(out_dir) == 4
    params = json.loads((out_dir / "parameters.json").read_text(encoding="utf-8"))
    assert params["params"]["region"] == ("000000" if region == "000000" else "440000")
    burden = pd.read_csv(out_dir / "migrant_burden.csv", dtype={"region_code": str})
    nation = burden[(burden["role"] == "nation") | (burden["region_code"] == "000000")]
    assert nation.loc[nation["census"] == 2020, "migrants"].iloc[0] == 492_762_506
    # narrative is computed: the 2020 share printed equals the table's
    share = burden[(burden["role"] == "region") & (burden["census"] == 2020)]["share"].iloc[0]
    assert f"**{100 * share:.1f}%**" in md
    assert "published aggregates" in md
    vt = pd.read_csv(out_dir / "coverage_vs_target.csv")
    assert {"p_value", "p_adjusted", "verdict", "gap_pp"} <= set(vt.columns)
    assert (out_dir / "min_n_table.csv").exists() and (out_dir / "subunits_ranked.png").exists()
    ranks = pd.read_csv(out_dir / "rankings_all_units.csv", dtype={"province_code": str})
    assert {"rank_national", "rank_in_province"} <= set(ranks.columns)
    if region == "44":
        assert set(ranks["province_code"]) == {"440000"}


def test_county_with_user_records(tmp_path, rng, journal_width):
    """Tianhe district (440106) with synthetic seeded records for 6 units × 2 periods (not real data)."""
    rows = []
    for period in (2018, 2019):
        for i in range(6):
            n = int(rng.integers(100, 2000))
            rows.append({"unit": f"街道{i + 1}", "period": period, "service": "婚育证明核验", "eligible": n,
                         "served": int(rng.binomial(n, 0.80 + 0.03 * i)), "target": 0.85})
    path = tmp_path / "records.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8-sig")
    out_dir, md = _run(tmp_path, region="440106", coverage_path=str(path), lang="zh", correction="bh")
    assert "没有下级单位" in md and "覆盖记录来自" in md and "与目标比较的 12 个比率" in md  # lang="zh": text in Chinese
    assert "Coverage records from" not in md and "Falling short" not in md
    vt = pd.read_csv(out_dir / "coverage_vs_target.csv")
    assert len(vt) == 12
    assert (out_dir / "funnel_1.png").exists() and (out_dir / "funnel_1.csv").exists()
    assert not (out_dir / "min_n_table.csv").exists()
    assert journal_width(out_dir) >= 2
    # each rate is named by service, unit and period (the unit alone would name 街道1 twice)
    assert md.count("婚育证明核验 · 街道") == (vt["verdict"] == "below").sum() > 0
