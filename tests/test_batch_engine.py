"""The batch's papermill engine (analysis.batch.engine): the notebook is written once, at the end — also
when a cell fails or times out, so a failed run still keeps what it produced."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from papermill import engines as pm_engines

from analysis.batch.engine import ENGINE_NAME
from analysis.config import KERNEL_NAME

papermill = pytest.importorskip("papermill")

OK = str(Path(__file__).parent / "fixtures" / "notebooks" / "ok.ipynb")
RAISES = str(Path(__file__).parent / "fixtures" / "notebooks" / "raises.ipynb")


@pytest.fixture
def saves(monkeypatch):
    """Paths written by the engine's execution manager (papermill's per-cell saves) and by
    ``papermill.execute_notebook`` itself (its final save, and the save with the error banner)."""
    from papermill import execute as pm_execute

    calls: list[str] = []
    original = pm_engines.write_ipynb

    def counting(nb, path):
        calls.append(path)
        return original(nb, path)

    monkeypatch.setattr(pm_engines, "write_ipynb", counting)
    monkeypatch.setattr(pm_execute, "write_ipynb", counting)
    return calls


def test_written_once_not_around_every_cell(tmp_path, saves):
    out = tmp_path / "ok.ipynb"
    papermill.execute_notebook(OK, str(out), parameters={"output_dir": str(tmp_path / "o")}, kernel_name=KERNEL_NAME,
                               engine_name=ENGINE_NAME, progress_bar=False)  # fmt: skip
    assert saves == [str(out)]  # the default engine saves 2 × cells + 2 times, and papermill once more
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.metadata.papermill["status"] == "completed" for c in code)
    assert any("pid" in o.get("text", "") for o in code[-1].outputs)


def test_timed_out_notebook_is_still_written(tmp_path, saves):
    out = tmp_path / "slow.ipynb"
    with pytest.raises(TimeoutError):
        papermill.execute_notebook(OK, str(out), parameters={"output_dir": str(tmp_path / "o"), "pause": 60.0},
                                   kernel_name=KERNEL_NAME, engine_name=ENGINE_NAME, progress_bar=False,
                                   execution_timeout=2)  # fmt: skip
    assert saves == [str(out)]
    nb = nbformat.read(out, as_version=4)
    assert "pause = 60.0" in nb.cells[2].source  # papermill's injected parameters cell, kept
    assert nb.metadata.papermill["end_time"] is not None


def test_failed_cell_written_once_with_the_error_banner(tmp_path, saves):
    from papermill.exceptions import PapermillExecutionError

    out = tmp_path / "raises.ipynb"
    with pytest.raises(PapermillExecutionError):
        papermill.execute_notebook(RAISES, str(out), parameters={"region": "440300"}, kernel_name=KERNEL_NAME,
                                   engine_name=ENGINE_NAME, progress_bar=False)  # fmt: skip
    assert saves == [str(out)]
    nb = nbformat.read(out, as_version=4)
    assert "papermill-error-cell-tag" in nb.cells[0].metadata.get("tags", [])


def test_private_dirs_of_dead_processes_are_removed(tmp_path, monkeypatch):
    """A batch killed with kill -9 leaves its socket folders; the next private_dir removes those whose process is
    gone and keeps those of running processes and folders it did not name."""
    import subprocess
    import sys
    import tempfile

    from analysis.batch.forkserver import private_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    for name in (f"cnfp-ipc-{dead}-abc", f"cnfp-ipc-{os.getpid()}-def", "cnfp-ipc-legacy", f"other-{dead}-x"):
        (tmp_path / name).mkdir()
    (tmp_path / f"cnfp-ipc-{dead}-abc" / "kernel-shell").write_text("")
    made = private_dir("cnfp-ipc-")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert f"cnfp-ipc-{dead}-abc" not in left
    assert {f"cnfp-ipc-{os.getpid()}-def", "cnfp-ipc-legacy", f"other-{dead}-x"} <= set(left)
    assert os.path.dirname(made) == str(tmp_path) and os.path.basename(made).startswith(f"cnfp-ipc-{os.getpid()}-")
    assert oct(os.stat(made).st_mode & 0o777) == "0o700"


def test_private_dir_passes_over_a_folder_another_sweep_removed_first(tmp_path, monkeypatch):
    """Pool workers start together and sweep at the same time: a dead process's folder that another worker removes
    between this one's directory listing and its look at the folder is passed over, not an error (it failed a
    resumed batch's run with FileNotFoundError)."""
    import contextlib
    import shutil
    import subprocess
    import sys
    import tempfile

    from analysis.batch.forkserver import private_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (tmp_path / f"cnfp-ipc-{dead}-abc").mkdir()
    listing = os.scandir

    @contextlib.contextmanager
    def racing_scandir(path):
        with listing(path) as entries:
            def gen():
                for entry in entries:
                    shutil.rmtree(entry.path, ignore_errors=True)  # the other worker is faster
                    yield entry
            yield gen()

    monkeypatch.setattr(os, "scandir", racing_scandir)
    made = private_dir("cnfp-ipc-")
    assert os.path.basename(made).startswith(f"cnfp-ipc-{os.getpid()}-") and os.path.isdir(made)
