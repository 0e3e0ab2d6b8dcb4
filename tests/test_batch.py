"""Batch runs of the tiny fixture notebooks (kernel cnfp): failures, clean state, outputs, manifest,
index, resume, ``kill -9`` then ``--resume``, and the Dask executor on a LocalCluster.

The fixtures in ``tests/fixtures/notebooks`` are independent of the study notebooks: ``ok`` writes a
table and a figure, ``raises`` fails in its third cell for region 440300, ``mutates`` changes builtins,
a module attribute, an environment variable, matplotlib rcParams and the namespace, and records what
it found of the previous run's changes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from analysis.batch import manifest as mf
from analysis.batch.params import ParameterError
from analysis.batch.runner import run_batch
from analysis.config import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
NOTEBOOKS = [str(FIXTURES / f"{n}.ipynb") for n in ("ok", "raises", "mutates")]
REGIONS = ["440100", "440300", "440000"]


@pytest.fixture(scope="module", autouse=True)
def _light_fork_server():
    """Fork servers import only numpy/pandas/matplotlib/ipykernel here (the full set is benchmarked)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNFP_BATCH_PRELOAD", "light")
        yield


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "run"
    result = run_batch(notebooks=NOTEBOOKS, regions=REGIONS, jobs=2, out=out, progress=False)
    return result


def test_failure_does_not_stop_the_others(batch):
    t = batch.table
    assert len(t) == 9
    failed = t[t["status"] == "failed"]
    assert list(zip(failed["region_code"], failed["notebook"], strict=True)) == [("440300", "raises")]
    assert "deliberate failure for 440300" in failed["error"].iloc[0]
    assert (t.loc[t["status"] != "failed", "status"] == "ok").all()
    assert batch.exit_code == 1
    assert batch.counts == {"ok": 8, "failed": 1, "skipped": 0, "not applicable": 0}
    text = batch.summary()
    assert "8 ok, 1 failed, 0 skipped" in text
    assert "440300 深圳市 raises: ValueError: deliberate failure for 440300" in text


def test_failed_notebook_kept_with_error_banner(batch):
    nb = nbformat.read(batch.run_dir / "440300" / "raises.ipynb", as_version=4)
    banners = [c for c in nb.cells if "papermill-error-cell-tag" in c.metadata.get("tags", [])]
    assert banners and "An Exception was encountered" in banners[0].source, "papermill's error banner is missing"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors and errors[0].ename == "ValueError"
    assert (batch.run_dir / "440300" / "raises.html").is_file()


def test_outputs_layout_and_html_without_code(batch):
    for code in REGIONS:
        region_dir = batch.run_dir / code
        assert (region_dir / "ok" / "summary.csv").read_text(encoding="utf-8") == f"region,scale\n{code},1.5\n"
        assert (region_dir / "ok" / "curve.png").stat().st_size > 0
        for name in ("ok", "mutates"):
            nbformat.validate(nbformat.read(region_dir / f"{name}.ipynb", as_version=4))
        html = (region_dir / "ok.html").read_text(encoding="utf-8")
        assert "region 4" in html  # the printed output is there ...
        assert "time.sleep(pause)" not in html  # ... the code is not
    assert not any((batch.run_dir / mf.BATCH_DIR / "tmp").glob("*"))


def test_html_without_preprocessors_is_nbconverts_own(batch):
    """The batch's HTML exporter skips nbconvert's preprocessors: the page is the same as with them."""
    from nbconvert import HTMLExporter

    from analysis.batch.runner import _html_exporter

    nb = nbformat.read(batch.run_dir / "440100" / "ok.ipynb", as_version=4)
    default = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    assert _html_exporter().from_notebook_node(nb)[0] == default.from_notebook_node(nb)[0]


def test_each_notebook_starts_from_a_clean_state(batch):
    """Warm kernels are forked fresh: a mutation by one run never reaches the next in the same worker."""
    records = [mf.read_record(batch.run_dir, code, "mutates") for code in REGIONS]
    pids = [r["worker_pid"] for r in records]
    assert len(set(pids)) < len(pids), "need two runs in one worker process for this test to mean anything"
    for code in REGIONS:
        leaked = json.loads((batch.run_dir / code / "mutates" / "leaked.json").read_text())
        assert leaked == {"builtins": None, "module": None, "env": None, "rc": 1.5, "user_ns": False}
    assert all(r["warm_kernel"] for r in records)
    # every kernel is its own process with fresh random state (a fork would otherwise repeat draws)
    draws = [json.loads((batch.run_dir / c / "mutates" / "draw.json").read_text()) for c in REGIONS]
    assert len({d["pid"] for d in draws}) == len(REGIONS)
    assert len({d["numpy"] for d in draws}) == len(REGIONS)
    # the fork server froze what it had loaded: the kernels' garbage collector leaves those pages alone
    assert all(d["gc_frozen"] > 10_000 for d in draws), [d["gc_frozen"] for d in draws]


def test_manifest_contents(batch):
    manifest = json.loads(batch.manifest.read_text(encoding="utf-8"))
    assert manifest["counts"] == {"ok": 8, "failed": 1}
    assert manifest["state"] == "complete"
    assert manifest["notebooks"] == ["ok", "raises", "mutates"]
    assert [r["code"] for r in manifest["regions"]] == REGIONS
    runs = {(r["region_code"], r["notebook"]): r for r in manifest["runs"]}
    assert len(runs) == 9
    run = runs[("440100", "ok")]
    assert run["parameters"] == {"region": "440100", "output_dir": "ok"}
    assert run["notebook_sha256"] == mf.sha256_file(FIXTURES / "ok.ipynb")
    assert run["data_sha256"] == mf.data_hashes()
    assert run["packages"]["pandas"] and run["packages"]["analysis"].startswith("0.")
    assert run["status"] == "ok" and run["error"] is None
    assert run["duration_s"] > 0 and run["start"].endswith("+00:00")
    assert {o["path"] for o in run["outputs"]} == {"440100/ok.ipynb", "440100/ok.html", "440100/ok/summary.csv",
                                                   "440100/ok/curve.png"}  # fmt: skip
    assert runs[("440300", "raises")]["status"] == "failed"
    assert "ValueError" in runs[("440300", "raises")]["error"]
    assert {r["kernel_start_retries"] for r in runs.values()} == {0}  # a failing cell is not retried


def test_kernel_that_dies_at_start_is_started_once_more(tmp_path, monkeypatch):
    """A kernel that dies before its first reply (no cell has run) gets one more start; then the run fails."""
    import papermill

    from analysis.batch import runner
    from analysis.batch.params import find_notebooks, notebook_parameters, select_regions

    real, calls = papermill.execute_notebook, []

    def dies_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(*args, **kwargs)

    def never_starts(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("Kernel died before replying to kernel_info")

    nbs = find_notebooks([NOTEBOOKS[0]])
    regions = select_regions(regions=["440100"])
    spec = runner.plan(nbs, regions, run_dir=tmp_path, parameters=notebook_parameters(nbs, {}), warm=False)[0]
    monkeypatch.setattr(papermill, "execute_notebook", dies_first)
    record = runner.run_one(spec)
    assert (record["status"], record["kernel_start_retries"], len(calls)) == ("ok", 1, 2)
    monkeypatch.setattr(papermill, "execute_notebook", never_starts)
    calls.clear()
    record = runner.run_one(spec)
    assert (record["status"], record["kernel_start_retries"], len(calls)) == ("failed", 1, 2)
    assert record["error"] == "RuntimeError: Kernel died before replying to kernel_info"


def test_index_contents(batch):
    html = batch.index.read_text(encoding="utf-8")
    for code in REGIONS:
        for name in ("ok", "raises", "mutates"):
            assert f'href="{code}/{name}.html"' in html
            assert f'href="{code}/{name}.ipynb"' in html
        assert f'<img class="thumb" src="{code}/ok/curve.png" alt="curve" loading="lazy" decoding="async">' in html
        assert f'href="{code}/ok/summary.csv"' in html
    assert "广州市" in html and "深圳市" in html
    assert '<td class="ok">8</td><td class="failed">1</td>' in html
    assert "deliberate failure for 440300" in html
    # headings in both languages, as the result titles
    assert "<th>region<br>地区</th>" in html and "Batch run / 批量运行" in html and "代理指标" in html


def test_resume_reruns_only_failed_and_stale(batch):
    before = {(r["region_code"], r["notebook"]): r["start"] + str(r["worker_pid"]) for r in mf.all_records(batch.run_dir)}
    again = run_batch(notebooks=NOTEBOOKS, regions=REGIONS, jobs=1, out=batch.run_dir, resume=True, progress=False)
    assert again.counts == {"ok": 0, "failed": 1, "skipped": 8, "not applicable": 0}  # only the failed run ran (and fails again)
    after = {(r["region_code"], r["notebook"]): r["start"] + str(r["worker_pid"]) for r in mf.all_records(batch.run_dir)}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {("440300", "raises")}
    # a changed parameter makes the affected runs stale
    stale = run_batch(notebooks=NOTEBOOKS[:1], regions=REGIONS[:2], jobs=1, out=batch.run_dir, resume=True,
                      parameters={"scale": "2.5"}, progress=False)  # fmt: skip
    assert stale.counts == {"ok": 2, "failed": 0, "skipped": 0, "not applicable": 0}
    assert (batch.run_dir / "440100" / "ok" / "summary.csv").read_text(encoding="utf-8").endswith("2.5\n")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "analysis", "batch", "--no-progress", *args]


def test_kill_9_then_resume_completes(tmp_path):
    out = tmp_path / "killed"
    regions = "440100,440300,440000,110000,120000,310000"
    args = ["--notebooks", NOTEBOOKS[0], "--regions", regions, "--jobs", "1", "--out", str(out), "-p", "pause", "0.4"]
    proc = subprocess.Popen(_cli(*args), cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    records = out / mf.BATCH_DIR / "records"
    while not any(records.glob("*/*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # parent, workers, fork servers and kernels
    proc.wait()
    finished_before = {(r["region_code"], r["start"], r["inputs_key"]) for r in mf.all_records(out)}
    assert 1 <= len(finished_before) < 6
    # nothing that looks finished is unfinished: every recorded run has all its outputs
    assert all(mf.outputs_complete(out, r) for r in mf.all_records(out))
    assert not (out / "manifest.json").exists() or json.loads((out / "manifest.json").read_text())

    done = subprocess.run(_cli(*args, "--resume"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    records_after = mf.all_records(out)
    assert len(records_after) == 6 and all(r["status"] == "ok" for r in records_after)
    # runs finished before the kill are not redone (unless the analysis code changed meanwhile: stale)
    kept = {(r["region_code"], r["start"]) for r in records_after}
    keys_after = {r["region_code"]: r["inputs_key"] for r in records_after}
    assert {(c, s) for c, s, k in finished_before if keys_after[c] == k} <= kept
    for r in records_after:
        assert mf.outputs_complete(out, r)
        nbformat.validate(nbformat.read(out / r["region_code"] / "ok.ipynb", as_version=4))
    assert not any((out / mf.BATCH_DIR / "tmp").glob("*"))
    assert json.loads((out / "manifest.json").read_text())["counts"] == {"ok": 6, "failed": 0}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c to the group", "sigterm to the batch"])
def test_ctrl_c_stops_the_batch_and_resume_completes(tmp_path, to_group):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to the batch process
    alone (``kill``, a job scheduler) mid-batch: exit status 130 with a message, no worker, fork server or
    kernel left, the manifest says ``interrupted``, and ``--resume`` completes the batch."""
    out = tmp_path / "interrupted"
    regions = "440100,440300,440000,110000,120000,310000"
    args = ["--notebooks", NOTEBOOKS[0], "--regions", regions, "--jobs", "2", "--out", str(out), "-p", "pause", "0.4"]
    # as from a terminal: SIGINT at its default even when the tests themselves run where it is ignored (a
    # script's background job), which the batch, like any program, inherits and respects
    proc = subprocess.Popen(_cli(*args), cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 120
    records = out / mf.BATCH_DIR / "records"
    while not any(records.glob("*/*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the batch did not stop after Ctrl-C")
    assert proc.returncode == 130, stderr
    assert "interrupted:" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr, stderr
    for _ in range(100):  # the fork server and kernels exit when their owner has gone
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not _group_alive(proc.pid), "processes of the interrupted batch are still running"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "interrupted"
    assert 1 <= len(manifest["runs"]) < 6
    assert all(mf.outputs_complete(out, r) for r in mf.all_records(out))

    done = subprocess.run(_cli(*args, "--resume"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "complete" and manifest["counts"] == {"ok": 6, "failed": 0}
    assert not any((out / mf.BATCH_DIR / "tmp").glob("*"))


def test_kill_9_of_the_batch_process_alone_leaves_no_process(tmp_path):
    """``kill -9`` (or the OOM killer) of the batch process only: its workers, the fork server and the
    kernels go too (a worker would otherwise wait for tasks forever, holding the fork server open)."""
    args = ["--notebooks", NOTEBOOKS[0], "--regions", "440100,440300,440000,110000", "--jobs", "2",
            "--out", str(tmp_path / "orphans"), "-p", "pause", "0.4"]  # fmt: skip
    proc = subprocess.Popen(_cli(*args), cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = tmp_path / "orphans" / mf.BATCH_DIR / "records"
    deadline = time.monotonic() + 120
    while not any(records.glob("*/*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(200):
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    alive = _group_alive(proc.pid)
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not alive, "workers, fork server or kernels outlived the batch process"


def test_dask_executor_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_batch(notebooks=NOTEBOOKS[:2], regions=REGIONS[:2], executor="dask",
                           scheduler=cluster.scheduler_address, out=tmp_path / "dask", progress=False)  # fmt: skip
    assert result.counts == {"ok": 3, "failed": 1, "skipped": 0, "not applicable": 0}
    assert result.exit_code == 1
    records = mf.all_records(tmp_path / "dask")
    assert {r["worker_pid"] for r in records}.isdisjoint({os.getpid()})  # ran in the Dask worker process
    assert (tmp_path / "dask" / "440100" / "ok" / "curve.png").is_file()
    assert (tmp_path / "dask" / "index.html").is_file()


def test_fork_only_for_this_environments_python():
    """The fork server is used only when the kernelspec runs this interpreter in this environment."""
    from analysis.batch.kernels import _same_python

    venv_bin = Path(sys.prefix) / "bin"
    assert _same_python([str(venv_bin / "python"), "-m", "ipykernel_launcher", "-f", "x"])
    assert _same_python([str(venv_bin / "python3"), "-m", "ipykernel_launcher", "-f", "x"])
    assert not _same_python(["/nonexistent/env/bin/python", "-m", "ipykernel_launcher"])
    assert not _same_python([str(venv_bin / "python"), "-m", "some_other_kernel"])


def test_fork_server_removes_its_socket_folder_when_its_owner_goes():
    """The owner dies without ForkServer.close() (only its end of stdin closes): no folder is left in /tmp."""
    from analysis.batch.forkserver import ForkServer

    server = ForkServer(data=False)
    server.wait_ready()
    folder = Path(server._dir)
    assert (folder / "s").exists()
    server._proc.stdin.close()  # what the OS does when the owner is killed
    server._proc.wait(timeout=30)
    assert not folder.exists()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_fork_server_survives_a_client_that_leaves_before_the_reply(tmp_path):
    """A worker stopped (Ctrl-C) between asking for a kernel and reading the reply: the server kills the kernel
    nobody will own and goes on serving (it used to die of the broken pipe, printing a traceback)."""
    import socket

    from analysis.batch.forkserver import ForkServer

    server = ForkServer(data=False)
    try:
        server.wait_ready()
        request = {"connection_file": str(tmp_path / "gone.json"), "cwd": str(tmp_path),
                   "env": {"PATH": os.environ["PATH"]}, "log": None}  # fmt: skip
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(server.socket_path)
            sock.sendall((json.dumps(request) + "\n").encode())
        # the server takes one connection at a time, in order: when it answers the next request, it has read
        # the first, forked, failed to reply and killed that kernel (had it died, spawn would raise)
        reply = server.spawn(connection_file=str(tmp_path / "next.json"), cwd=str(tmp_path),
                             env={"PATH": os.environ["PATH"]})  # fmt: skip
        assert server.alive()
        deadline = time.monotonic() + 20  # the killed kernel is reaped soon after
        while _children(server._proc.pid) != [reply["pid"]] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _children(server._proc.pid) == [reply["pid"]]
    finally:
        server.close()


def test_a_kernel_asked_for_during_the_imports_does_not_wait_for_the_warm_up(tmp_path, monkeypatch):
    """The request waiting when the server's imports are done is forked at once ("warm": false); the next
    one waits for the warm-up, and the server says it is ready only after it."""
    import select

    from analysis.batch.forkserver import ForkServer

    monkeypatch.setenv("CNFP_BATCH_PRELOAD", "full")
    server = ForkServer(modules=("numpy",))
    try:
        replies = {}

        def ask(name):
            replies[name] = server.spawn(connection_file=str(tmp_path / f"{name}.json"), cwd=str(tmp_path),
                                         env={"PATH": os.environ["PATH"]})  # fmt: skip

        ask("first")  # connects while the server is still importing
        assert replies["first"]["warm"] is False
        ask("second")
        assert replies["second"]["warm"] is True
        assert select.select([server._proc.stdout], [], [], 0)[0]  # "ready" came before the second reply
        server.wait_ready()
    finally:
        server.close()


def test_fork_server_tunes_malloc_keeping_the_users_tunables():
    """glibc: the server starts with the huge-page tunable added to the user's own; kernels' mallopt calls succeed."""
    from analysis.batch import forkserver

    if not forkserver._glibc():
        pytest.skip("glibc only")
    env = forkserver._server_env({"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": env["GLIBC_TUNABLES"], **forkserver.THREAD_ENV}
    assert forkserver._server_env({})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    mine = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0", "OMP_NUM_THREADS": "4"}  # the user's choices stand
    assert forkserver._server_env(mine) == mine
    code = "from analysis.batch.forkserver import _tune_malloc; print(_tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"


def test_kernel_env_one_thread_per_library_unless_the_user_chose():
    from analysis.batch.forkserver import THREAD_ENV, kernel_env

    assert set(THREAD_ENV) == {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"}  # fmt: skip
    assert kernel_env({"PATH": "/bin"}) == {"PATH": "/bin", **dict.fromkeys(THREAD_ENV, "1")}
    for name in THREAD_ENV:  # any one set by the user: the others are left to the libraries' defaults
        assert kernel_env({name: "3"}) == {name: "3"}


def _kernel_threads(run_dir: Path, code: str) -> dict:
    draw = json.loads((run_dir / code / "mutates" / "draw.json").read_text())
    record = mf.read_record(run_dir, code, "mutates")
    return {"env": draw["OPENBLAS_NUM_THREADS"], "started": draw["blas_threads_started"],
            "recorded": record["kernel_threads"]["OPENBLAS_NUM_THREADS"]}  # fmt: skip


def test_warm_kernels_run_one_blas_thread(batch):
    """The fork server loaded numpy with one BLAS thread: a big product in a kernel starts no thread (a
    second one would spin on the other job's core), the kernel's environment and the record say so."""
    if sys.platform != "linux" or (os.cpu_count() or 1) < 2:
        pytest.skip("counts threads in /proc; one core has one BLAS thread anyway")
    for code in REGIONS:
        assert _kernel_threads(batch.run_dir, code) == {"env": "1", "started": 0, "recorded": "1"}


def test_plain_kernels_run_one_blas_thread(tmp_path):
    if sys.platform != "linux" or (os.cpu_count() or 1) < 2:
        pytest.skip("counts threads in /proc; one core has one BLAS thread anyway")
    result = run_batch(notebooks=[NOTEBOOKS[2]], regions=["440100"], out=tmp_path, warm=False, progress=False)
    assert result.counts["ok"] == 1
    assert mf.read_record(tmp_path, "440100", "mutates")["kernel_launch"] == "plain"
    assert _kernel_threads(tmp_path, "440100") == {"env": "1", "started": 0, "recorded": "1"}


def test_preload_names_import_modules_and_submodules():
    """``a:b`` imports ``a`` and, when ``b`` is a submodule rather than an attribute, ``a.b``."""
    from analysis.batch import forkserver

    forkserver._import("json:dumps")  # an attribute: nothing more to import
    forkserver._import("email.mime:audio")  # a submodule, which its package does not import itself
    assert "email.mime.audio" in sys.modules
    forkserver._import("xml.dom.minidom")
    assert "xml.dom.minidom" in sys.modules
    with pytest.raises(ModuleNotFoundError):
        forkserver._import("json:no_such_thing")


def test_batch_command_starts_the_fork_server_before_importing_pandas(tmp_path):
    """``python -m analysis batch`` asks for its kernel server before it imports pandas (neither the other
    commands' modules nor the runner import it at the top), so the server's imports overlap the batch's own."""
    code = (
        "import sys\n"
        "from analysis.batch import forkserver\n"
        "def started(self, **kw):\n"
        "    print('pandas' in sys.modules, kw.get('modules') is not None)\n"
        "    raise SystemExit(0)\n"
        "forkserver.ForkServer.__init__ = started\n"
        "from analysis.cli import main\n"
        f"main(['batch', '--notebooks', '01', '--regions', '440100', '--out', {str(tmp_path)!r}, '--no-progress'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_fork_server_command_line(monkeypatch):
    from analysis.batch import forkserver

    seen = []
    monkeypatch.setattr(forkserver, "serve", lambda path, **kw: seen.append((path, kw)))
    forkserver._main(["/tmp/s"])
    forkserver._main(["/tmp/s", "--no-data", "--preload", "numpy,analysis:srb"])
    assert seen == [("/tmp/s", {"data": True, "modules": None}),
                    ("/tmp/s", {"data": False, "modules": ("numpy", "analysis:srb")})]  # fmt: skip


def test_warm_caches_leaves_no_trace(tmp_path, monkeypatch):
    """The fork server's warm-up study changes no rcParams, keeps no pyplot figure, leaves no file."""
    import tempfile

    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from analysis.batch.forkserver import warm_caches

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = dict(mpl.rcParams)
    figures = plt.get_fignums()
    warm_caches()
    assert dict(mpl.rcParams) == before
    assert plt.get_fignums() == figures
    assert list(tmp_path.iterdir()) == []


def test_batch_does_not_import_the_slow_iri_checker():
    """nbformat → jsonschema would import rfc3987_syntax (≈ 1 s of Lark grammars); notebooks still validate."""
    code = ("import sys, analysis.batch, nbformat; "
            "nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])); "
            "print(sys.modules.get('rfc3987_syntax'), 'lark' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["None", "False"]


def test_notebook_not_run_where_it_does_not_apply(tmp_path):
    """A notebook whose metadata says ``cnfp.levels: [nation, province]`` is not run for a prefecture: the pair is
    listed as not applicable (no error notebook, exit status 0); when nothing applies, the batch stops before
    anything runs."""
    nb = json.loads(Path(NOTEBOOKS[0]).read_text(encoding="utf-8"))
    nb["metadata"]["cnfp"] = {"levels": ["nation", "province"]}
    provinces_only = tmp_path / "provinces_only.ipynb"
    provinces_only.write_text(json.dumps(nb), encoding="utf-8")
    out = tmp_path / "run"
    result = run_batch(notebooks=[NOTEBOOKS[0], str(provinces_only)], regions=["440000", "440300"], jobs=2, out=out,
                       progress=False)  # fmt: skip
    status = result.table.set_index(["region_code", "notebook"])["status"].to_dict()
    assert status == {("440000", "ok"): "ok", ("440000", "provinces_only"): "ok", ("440300", "ok"): "ok",
                      ("440300", "provinces_only"): "not applicable"}  # fmt: skip
    assert result.exit_code == 0
    assert result.counts == {"ok": 3, "failed": 0, "skipped": 0, "not applicable": 1}
    assert not (out / "440300" / "provinces_only.ipynb").exists()
    assert "3 ok, 0 failed, 0 skipped (up to date), 1 not applicable" in result.summary()
    assert "provinces_only runs for nation, province only" in result.summary()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["not_applicable"] == {"provinces_only": {"levels": ["nation", "province"], "regions": ["440300"]}}
    assert [r["level"] for r in manifest["regions"]] == ["province", "prefecture"]
    page = result.index.read_text(encoding="utf-8")
    assert "<b>provinces_only</b> runs for nation, province only — 1 region" in page
    assert "</small> / 仅适用于全国、省级，1 个地区未运行</p>" in page
    with pytest.raises(ParameterError, match="nothing to run: provinces_only runs for nation, province only; the "
                                             "regions chosen are prefecture units"):  # fmt: skip
        run_batch(notebooks=[str(provinces_only)], regions="440300,440100", out=tmp_path / "none", progress=False)
    assert not (tmp_path / "none").exists()
