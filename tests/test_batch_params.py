"""Checks that happen before anything runs: parameters, types, dates, regions, unsafe names."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.batch import params as bp
from analysis.batch.runner import run_batch
from analysis.cli import main
from analysis.config import NATION_CODE

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
OK = str(FIXTURES / "ok.ipynb")


def test_read_parameters_cell():
    nb = bp.read_notebook(OK)
    assert nb.name == "ok"
    assert nb.parameters["region"].default == "000000"
    assert nb.parameters["scale"].default == 1.5
    assert nb.parameters["region"].help.startswith("GB/T 2260 code")
    assert set(nb.parameters) == {"region", "output_dir", "lang", "scale", "start_date", "pause"}


def test_notebook_read_as_nbformat_would():
    """The batch reads notebooks with the standard library (nbformat's import would delay the kernel server):
    the same code cells and tags as nbformat gives, for every study notebook and fixture."""
    import nbformat

    from analysis.config import NOTEBOOKS_DIR

    for path in [*sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")), *sorted(FIXTURES.glob("*.ipynb"))]:
        nb = nbformat.read(path, as_version=4)
        expected = [(c.source, c.metadata.get("tags", [])) for c in nb.cells if c.cell_type == "code"]
        assert bp.code_cells(bp._notebook_json(path)) == expected, path.name
        assert bp.read_notebook(path).imports == bp.code_imports(source for source, _ in expected)


def test_old_and_broken_notebooks(tmp_path):
    from nbformat import v3

    old = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[
        v3.new_code_cell(input='region = "000000"  # a code\nscale = 2.0', metadata={"tags": ["parameters"]}),
        v3.new_code_cell(input="import numpy as np"),
    ])])  # fmt: skip
    (tmp_path / "old.ipynb").write_text(v3.writes_json(old), encoding="utf-8")
    nb = bp.read_notebook(tmp_path / "old.ipynb")  # nbformat 3: converted by nbformat
    assert (nb.parameters["scale"].default, nb.parameters["region"].help, nb.imports) == (2.0, "a code", ("numpy",))
    (tmp_path / "cut.ipynb").write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(bp.ParameterError, match=r"cut\.ipynb: not a notebook \(not UTF-8 JSON"):
        bp.read_notebook(tmp_path / "cut.ipynb")
    (tmp_path / "list.ipynb").write_text("[]", encoding="utf-8")
    with pytest.raises(bp.ParameterError, match=r"list\.ipynb: not a notebook \(no 'nbformat' version\)"):
        bp.read_notebook(tmp_path / "list.ipynb")


def test_unknown_parameter_is_an_error(tmp_path):
    with pytest.raises(bp.ParameterError, match="unknown parameter 'colour'.*declares"):
        run_batch(notebooks=OK, regions="440100", parameters={"colour": "red"}, out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing ran, nothing was created


def test_unknown_parameter_cli_exit_2(tmp_path, capsys):
    code = main(["batch", "--notebooks", OK, "--regions", "440100", "-p", "colour", "red", "--out", str(tmp_path / "r")])
    assert code == 2
    assert "unknown parameter 'colour'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("scale", "abc", "cannot read 'abc' as float"),
        ("start_date", "2016-13-01", "not a date"),
        ("region", "440100", "set by the runner"),
        ("output_dir", "x", "set by the runner"),
    ],
)
def test_bad_values_rejected(tmp_path, name, raw, message):
    with pytest.raises(bp.ParameterError, match=message):
        run_batch(notebooks=OK, regions="440100", parameters={name: raw}, out=tmp_path / "run", progress=False)


def test_values_typed_from_defaults():
    nb = bp.read_notebook(OK)
    per_nb = bp.notebook_parameters([nb], {"scale": "2", "lang": "en", "start_date": "2014-03-28"})
    assert per_nb["ok"] == {"scale": 2.0, "lang": "en", "start_date": "2014-03-28"}
    assert isinstance(per_nb["ok"]["scale"], float)
    with pytest.raises(bp.ParameterError, match="expects str"):
        bp.check_value(nb, "lang", 3)
    with pytest.raises(bp.ParameterError, match="no selected notebook"):
        bp.notebook_parameters([nb], {"02:lang": "en"})
    assert bp.notebook_parameters([nb], {"ok:lang": "en"})["ok"] == {"lang": "en"}


def test_list_parameter_from_json_on_the_command_line():
    """``-p figure_formats '["png"]'`` for notebook 01, whose default is a list: read as JSON, checked as a list."""
    from analysis.config import NOTEBOOKS_DIR

    nb = bp.read_notebook(NOTEBOOKS_DIR / "01_sex_ratio_trends.ipynb")
    assert nb.parameters["figure_formats"].default == ["png", "pdf"]
    per_nb = bp.notebook_parameters([nb], {"figure_formats": '["png"]'})
    assert per_nb[nb.name] == {"figure_formats": ["png"]}
    with pytest.raises(bp.ParameterError, match="cannot read 'png' as list"):
        bp.notebook_parameters([nb], {"figure_formats": "png"})
    with pytest.raises(bp.ParameterError, match="expects list"):
        bp.notebook_parameters([nb], {"figure_formats": '"png"'})


@pytest.mark.parametrize("region", ["../../etc", "44/../..", "..", "4401\x00", "440100\n", ".hidden", "a\\b"])
def test_path_traversal_region_rejected(tmp_path, region):
    with pytest.raises(bp.ParameterError, match="unsafe region"):
        run_batch(notebooks=OK, regions=[region], out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_path_traversal_region_cli_exit_2(tmp_path, capsys):
    assert main(["batch", "--notebooks", OK, "--regions", "../../tmp", "--out", str(tmp_path / "r")]) == 2
    assert "unsafe region" in capsys.readouterr().err


def test_registry_code_must_be_six_digits(monkeypatch):
    """Even if the registry returned something odd, it could never become a path."""

    class Fake:
        @staticmethod
        def lookup(query):
            return type("R", (), {"code": "../44", "name_zh": "x"})()

    monkeypatch.setattr(bp, "_registry", lambda: Fake)
    with pytest.raises(bp.ParameterError, match="invalid code"):
        bp.resolve_region("440100")


def test_unknown_region_is_an_error(tmp_path):
    from analysis.exceptions import RegionNotFoundError

    with pytest.raises(RegionNotFoundError):
        run_batch(notebooks=OK, regions="999999", out=tmp_path / "run", progress=False)


def test_default_selection_is_nation_plus_31_provinces():
    regions = bp.select_regions(level="province", include_nation=True)
    assert regions[0].code == NATION_CODE
    assert len(regions) == 32
    assert all(r.code.endswith("0000") for r in regions)


def test_level_within_selects_counties_of_a_province():
    regions = bp.select_regions(level="county", within="44")
    assert regions and all(r.code.startswith("44") for r in regions)
    assert len({r.code for r in regions}) == len(regions)
    # the prefecture cities without counties are county-level units too; prefectures with counties are not
    levels = {r.code: r.level for r in regions}
    assert levels["441900"] == levels["442000"] == "prefecture" and "440300" not in levels
    assert [r.code for r in regions] == sorted(levels)


def test_notebook_keys(tmp_path):
    with pytest.raises(bp.ParameterError, match="no notebook '07'"):
        bp.find_notebooks("07", directory=tmp_path)
    with pytest.raises(bp.ParameterError, match="unsafe notebook"):
        bp.find_notebooks("../x", directory=tmp_path)


def test_cli_needs_exactly_one_region_choice(tmp_path, capsys):
    assert main(["batch", "--notebooks", OK, "--out", str(tmp_path / "r")]) == 2
    assert main(["batch", "--notebooks", OK, "--regions", "440100", "--default"]) == 2
    assert "exactly one of" in capsys.readouterr().err


def test_unknown_executor_and_missing_scheduler(tmp_path):
    with pytest.raises(bp.ParameterError, match="needs --scheduler"):
        run_batch(notebooks=OK, regions="440100", executor="dask", out=tmp_path / "r", progress=False)
    with pytest.raises(bp.ParameterError, match="unknown executor"):
        run_batch(notebooks=OK, regions="440100", executor="slurm", out=tmp_path / "r", progress=False)


def test_one_batch_per_output_folder(tmp_path):
    from analysis.batch.runner import _RunLock
    from analysis.exceptions import AnalysisError

    (tmp_path / "run").mkdir()
    held = _RunLock(tmp_path / "run")
    try:
        with pytest.raises(AnalysisError, match="another batch is writing"):
            run_batch(notebooks=OK, regions="440100", out=tmp_path / "run", progress=False, warm=False)
    finally:
        held.release()


def test_default_batch_runs_only_notebooks_that_need_no_user_input():
    """04 reads the user's report texts (metadata cnfp.batch_default: false): not in the default batch."""
    from analysis.batch.params import find_notebooks

    names = [nb.name for nb in find_notebooks(None)]
    assert names == ["01_sex_ratio_trends", "02_two_child_policy", "03_migrant_service_coverage"]
    assert [nb.name for nb in find_notebooks("04")] == ["04_report_indicators"]


def test_code_imports_lists_what_cells_import():
    from analysis.batch.params import code_imports

    cells = [
        "import numpy as np\nimport matplotlib.pyplot as plt\nfrom analysis import srb, plots",
        "%matplotlib inline\nimport never_seen",  # a magic: not Python, skipped
        "from .relative import x\nfrom os.path import *\nif True:\n    import json\nimport numpy",
    ]
    assert code_imports(cells) == ("numpy", "matplotlib.pyplot", "analysis:srb", "analysis:plots", "json")


def test_notebook_levels_from_metadata(tmp_path):
    """``cnfp.levels`` in a notebook's metadata: the levels it applies to (02 needs annual series: nation and
    provinces); anything but a non-empty list of known levels is an error naming the notebook."""
    assert bp.find_notebooks("02")[0].levels == ("nation", "province")
    assert bp.find_notebooks("01")[0].levels is None and bp.read_notebook(OK).levels is None
    import json

    nb = json.loads(Path(OK).read_text(encoding="utf-8"))
    for bad in (["town"], [], "province"):
        nb["metadata"]["cnfp"] = {"levels": bad}
        (tmp_path / "bad.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        with pytest.raises(bp.ParameterError, match=r"bad\.ipynb: metadata cnfp.levels must be a non-empty list"):
            bp.read_notebook(tmp_path / "bad.ipynb")
    assert [r.level for r in bp.select_regions(regions="44,440300,440106", include_nation=True)] == [
        "nation", "province", "prefecture", "county"]
