"""Plan and run a batch: notebooks × regions → ``<out>/<region_code>/<notebook>.{ipynb,html}`` + outputs.

>>> from analysis.batch import run_batch
>>> res = run_batch(notebooks="01,03", level="county", within="44", jobs=2, out="outputs/gd-2026")
>>> res.exit_code, res.table

Each run executes in a staging folder ``<out>/.batch/tmp/<id>/`` (the notebook is given
``output_dir="<notebook>"``, relative to its working directory, so the figures and tables it writes land
in ``<out>/<code>/<notebook>/`` after the move). When the notebook has finished — successfully or not —
its files are renamed into place and only then its record is written: ``kill -9`` at any moment
leaves either no record (the run is redone by ``--resume``) or a complete run. Ctrl-C ends the runs in
flight at once and marks ``manifest.json`` ``"state": "interrupted"``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.batch import manifest as mf
from analysis.batch.params import (
    Notebook,
    ParameterError,
    Region,
    find_notebooks,
    notebook_parameters,
    select_regions,
)
from analysis.config import KERNEL_NAME, OUTPUT_DIR
from analysis.exceptions import AnalysisError
from analysis.results import Result


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs for one notebook × region (picklable, sent to processes or Dask)."""

    run_dir: str
    notebook_path: str
    notebook: str
    region_code: str
    region_name: str
    parameters: dict[str, Any]
    notebook_sha: str
    inputs_key: str
    data: dict[str, str]
    packages: dict[str, str]
    kernel_name: str = KERNEL_NAME
    timeout: float | None = None
    warm: bool = True


# --------------------------------------------------------------------------- worker side

#: seconds between rewrites of manifest.json while a batch runs (it is always written at the end)
MANIFEST_EVERY_S = 5.0
#: a kernel that dies before answering ``kernel_info`` (no cell has run) is started once more
KERNEL_START_RETRIES = 1
_RUN_LOCK = threading.Lock()  # papermill/nbclient per process: one run at a time (Dask may use threads)
_HTML = None


def _html_exporter():
    """nbconvert's HTML exporter without code cells, made once per process and used once on a small
    notebook, so that its templates and styles are loaded before the workers fork (≈ 0.2 s). Without
    preprocessors: the enabled ones (tag and regex removal, magics highlighting, CSS header) change nothing
    unless configured, and nbconvert re-validates the whole notebook after each (≈ 5 ms a run)."""
    global _HTML
    if _HTML is None:
        import nbformat
        from nbconvert import HTMLExporter

        _HTML = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                             default_preprocessors=[])  # fmt: skip
        cell = nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream", text="1")])
        _HTML.from_notebook_node(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("*1*"), cell]))
    return _HTML


def warm_worker(fork_socket: str | None = None) -> None:
    """Process-pool initializer: use the batch's shared fork server; import papermill/nbconvert once."""
    if fork_socket:
        from analysis.batch.forkserver import SOCKET_ENV

        os.environ[SOCKET_ENV] = fork_socket
    import analysis.batch.engine  # noqa: F401 - imports papermill and registers the batch engine

    _html_exporter()


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Execute one run in this process and return its record (also written to disk)."""
    with _RUN_LOCK:
        return _run_one(spec)


def _kernel_did_not_start(exc: BaseException) -> bool:
    """True for jupyter_client's errors of a kernel that died or hung before its first reply."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "Kernel died before replying to kernel_info" in text or "Kernel didn't respond" in text
    )


def _error_text(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    return f"{type(exc).__name__}: {exc}"


def _run_one(spec: RunSpec) -> dict[str, Any]:
    import logging

    import papermill as pm

    from analysis.batch.engine import ENGINE_NAME

    logging.getLogger("papermill").setLevel(logging.ERROR)  # parameters were checked strictly already

    run_dir = Path(spec.run_dir)
    region_dir = run_dir / spec.region_code
    record_file = mf.record_path(run_dir, spec.region_code, spec.notebook)
    record_file.unlink(missing_ok=True)  # from now on this run is "not finished"
    stage = run_dir / mf.BATCH_DIR / "tmp" / f"{spec.region_code}-{spec.notebook}-{uuid.uuid4().hex[:8]}"
    stage.mkdir(parents=True)
    staged_nb = stage / f"{spec.notebook}.ipynb"
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    status, error = "ok", None
    if sys.platform != "win32":
        from analysis.batch.forkserver import THREAD_ENV, kernel_env

        threads = {name: value for name, value in kernel_env(os.environ).items() if name in THREAD_ENV}
    else:
        threads = {}
    if spec.warm and sys.platform != "win32":
        from analysis.batch.kernels import LAST_LAUNCH
        from analysis.batch.kernels import WarmKernelManager as manager_class

        LAST_LAUNCH["how"] = ""
    elif sys.platform != "win32":
        from analysis.batch.kernels import IpcKernelManager as manager_class

        LAST_LAUNCH = {"how": "plain"}
    else:
        from jupyter_client.manager import AsyncKernelManager as manager_class

        LAST_LAUNCH = {"how": "plain"}
    retries, executed = 0, None
    while True:
        try:
            executed = pm.execute_notebook(
                spec.notebook_path,
                str(staged_nb),
                parameters=spec.parameters,
                kernel_name=spec.kernel_name,
                engine_name=ENGINE_NAME,  # the notebook is written once, at the end (not around every cell)
                progress_bar=False,
                execution_timeout=spec.timeout,
                resources={"metadata": {"path": str(stage)}},  # kernel cwd; papermill's chdir is not used
                kernel_manager_class=manager_class,
                shutdown_kernel="immediate",
            )
        except Exception as exc:  # noqa: BLE001 - any failure is recorded; the batch goes on
            if retries < KERNEL_START_RETRIES and _kernel_did_not_start(exc):
                retries += 1  # no cell has run: starting again is safe
                continue
            status, error = "failed", _error_text(exc)
        break
    if staged_nb.exists():
        try:
            import nbformat

            if executed is None:  # failed: papermill wrote the notebook with its error banner
                executed = nbformat.read(staged_nb, as_version=4)
            html, _ = _html_exporter().from_notebook_node(executed)
            (stage / f"{spec.notebook}.html").write_text(html, encoding="utf-8")
        except Exception as exc:  # noqa: BLE001
            status = "failed"
            error = (error + "; " if error else "") + f"HTML export failed: {_error_text(exc)}"
    duration = time.perf_counter() - t0

    # move into place: the folder of figures/tables first, then notebook and HTML
    region_dir.mkdir(parents=True, exist_ok=True)
    for name in (spec.notebook, f"{spec.notebook}.ipynb", f"{spec.notebook}.html"):
        final, new = region_dir / name, stage / name
        if final.is_dir():
            old = stage / f"old-{name}"
            os.replace(final, old)
        elif final.exists():
            final.unlink()
        if new.exists():
            os.replace(new, final)
    outputs = []
    for name in (f"{spec.notebook}.ipynb", f"{spec.notebook}.html"):
        if (region_dir / name).is_file():
            outputs.append(region_dir / name)
    if (region_dir / spec.notebook).is_dir():
        outputs += sorted(p for p in (region_dir / spec.notebook).rglob("*") if p.is_file())
    record = {
        "region_code": spec.region_code,
        "region_name": spec.region_name,
        "notebook": spec.notebook,
        "notebook_path": spec.notebook_path,
        "notebook_sha256": spec.notebook_sha,
        "parameters": spec.parameters,
        "data_sha256": spec.data,
        "packages": spec.packages,
        "inputs_key": spec.inputs_key,
        "kernel": spec.kernel_name,
        "warm_kernel": LAST_LAUNCH["how"].startswith("forked"),
        "kernel_launch": LAST_LAUNCH["how"] or "not started",
        "kernel_start_retries": retries,
        "kernel_threads": threads,
        "worker_pid": os.getpid(),
        "start": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "status": status,
        "error": error,
        "outputs": [{"path": p.relative_to(run_dir).as_posix(), "bytes": p.stat().st_size} for p in outputs],
    }
    mf.write_json_atomic(record_file, record)
    shutil.rmtree(stage, ignore_errors=True)
    return record


# --------------------------------------------------------------------------- parent side

#: status of a notebook × region pair that is not run because the notebook does not apply to the region's level
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True, kw_only=True, repr=False)
class BatchResult(Result):
    """Outcome of a batch: one row per notebook × region (status ok / failed / skipped (up to date) / not
    applicable (the notebook does not apply to the region's level; the reason in ``error``), seconds, error)."""

    TITLE = ("Batch run",)

    run_dir: Path
    manifest: Path
    index: Path
    wall_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every run succeeded (or was up to date), 1 when any failed."""
        return 1 if self.counts.get("failed", 0) else 0

    def summary(self, *, max_failed: int = 50) -> str:
        """Counts and run time per notebook and status, then the failed runs with their errors."""
        c = self.counts
        head = (
            f"Batch {self.run_dir}: {c.get('ok', 0)} ok, {c.get('failed', 0)} failed, "
            f"{c.get('skipped', 0)} skipped (up to date)"
            + (f", {c[NOT_APPLICABLE]} not applicable" if c.get(NOT_APPLICABLE) else "")
            + f" in {self.wall_s:.1f} s"
        )
        by = self.table.pivot_table(index="notebook", columns="status", values="seconds", aggfunc="count", fill_value=0)
        by = by.reindex(columns=["ok", "failed", "skipped", NOT_APPLICABLE], fill_value=0).astype(int)
        if not c.get(NOT_APPLICABLE):
            by = by.drop(columns=NOT_APPLICABLE)
        by["run seconds"] = self.table.groupby("notebook")["seconds"].sum().round(1)
        lines = [head, by.reset_index().to_string(index=False)]
        na = self.table[self.table["status"] == NOT_APPLICABLE].drop_duplicates("notebook")
        for row in na.itertuples():
            lines.append(f"Not run where it does not apply: {row.notebook} {row.error}")
        failed = self.table[self.table["status"] == "failed"]
        if len(failed):
            lines.append("Failed runs (the executed notebook shows the error):")
            for row in failed.head(max_failed).itertuples():
                lines.append(f"  {row.region_code} {row.region_name} {row.notebook}: {row.error}  -> {row.notebook_file}")
            if len(failed) > max_failed:
                lines.append(f"  ... and {len(failed) - max_failed} more (see manifest.json)")
        lines.append(f"Index: {self.index}")
        return "\n".join(lines)


def plan(
    notebooks: list[Notebook],
    regions: list[Region],
    *,
    run_dir: Path,
    parameters: dict[str, dict[str, Any]],
    kernel_name: str = KERNEL_NAME,
    timeout: float | None = None,
    warm: bool = True,
) -> list[RunSpec]:
    """One :class:`RunSpec` per notebook × region where the notebook applies (:func:`applies`), with the inputs
    key of each."""
    data = mf.data_hashes()
    packages = mf.package_versions()
    specs = []
    for region in regions:
        for nb in notebooks:
            if not applies(nb, region):
                continue
            params = {"region": region.code, **parameters.get(nb.name, {})}
            if "output_dir" in nb.parameters:
                params["output_dir"] = nb.name  # relative to the kernel's cwd = the region folder
            sha = mf.sha256_file(nb.path)
            specs.append(
                RunSpec(
                    run_dir=str(run_dir),
                    notebook_path=str(nb.path.resolve()),
                    notebook=nb.name,
                    region_code=region.code,
                    region_name=region.name,
                    parameters=params,
                    notebook_sha=sha,
                    inputs_key=mf.inputs_key(notebook_sha=sha, parameters=params, data=data, packages=packages),
                    data=data,
                    packages=packages,
                    kernel_name=kernel_name,
                    timeout=timeout,
                    warm=warm,
                )
            )
    return specs


def applies(notebook: Notebook, region: Region) -> bool:
    """Whether ``notebook`` runs for ``region``: its metadata ``cnfp.levels`` (if any) includes the region's level."""
    return notebook.levels is None or not region.level or region.level in notebook.levels


def _not_applicable(notebooks: list[Notebook], regions: list[Region]) -> dict[str, dict[str, Any]]:
    """notebook name → {"levels": the levels it runs for, "regions": codes of the chosen regions it does not}."""
    out: dict[str, dict[str, Any]] = {}
    for nb in notebooks:
        codes = [r.code for r in regions if not applies(nb, r)]
        if codes:
            out[nb.name] = {"levels": list(nb.levels or ()), "regions": codes}
    return out


def is_up_to_date(spec: RunSpec) -> bool:
    """True if a finished, successful run with the same inputs and all its outputs is on disk."""
    record = mf.read_record(Path(spec.run_dir), spec.region_code, spec.notebook)
    return bool(
        record
        and record.get("status") == "ok"
        and record.get("inputs_key") == spec.inputs_key
        and mf.outputs_complete(Path(spec.run_dir), record)
    )


class _RunLock:
    """An exclusive ``flock`` on ``<out>/.batch/lock`` (released by the OS even after ``kill -9``)."""

    def __init__(self, run_dir: Path) -> None:
        path = run_dir / mf.BATCH_DIR / "lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "w")  # noqa: SIM115 - held for the whole batch
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._fh.close()
            raise AnalysisError(f"{run_dir}: another batch is writing to this folder") from exc

    def release(self) -> None:
        self._fh.close()


def run_batch(
    *,
    notebooks: str | list[str] | None = None,
    regions: str | list[str] | None = None,
    level: str | None = None,
    within: str | None = None,
    all_regions: bool = False,
    default: bool = False,
    parameters: dict[str, Any] | None = None,
    out: str | Path | None = None,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    kernel_name: str = KERNEL_NAME,
    timeout: float | None = None,
    warm: bool = True,
    progress: bool = True,
    notebooks_dir: Path | None = None,
) -> BatchResult:
    """Run notebooks for many regions; see the module docstring. Every check happens before any run.

    ``default=True`` is ``make run``: the nation plus all provinces through every study notebook.
    ``parameters`` maps ``name`` (all notebooks) or ``"NN:name"`` (one notebook) to a value; strings are
    converted to the type of the notebook's default as on the command line.
    """
    from analysis.batch.executors import get_executor
    from analysis.batch.index import write_index

    t_start = time.perf_counter()
    nbs = find_notebooks(notebooks, directory=notebooks_dir)
    if not nbs:
        raise AnalysisError("no study notebooks with a 'region' parameter found")
    # the executor first: its kernel fork server imports what the notebooks import while we check the rest
    preload = tuple(dict.fromkeys(m for nb in nbs for m in nb.imports))
    exe = get_executor(executor, jobs=jobs, scheduler=scheduler, warm=warm, preload=preload)  # checks its arguments
    try:
        per_nb = notebook_parameters(nbs, dict(parameters or {}))
        if default:
            chosen = select_regions(level="province", include_nation=True)
        else:
            chosen = select_regions(regions=regions, level=level, within=within, all_regions=all_regions)
        not_applicable = _not_applicable(nbs, chosen)
        if sum(len(v["regions"]) for v in not_applicable.values()) == len(nbs) * len(chosen):
            raise ParameterError("nothing to run: " + "; ".join(
                f"{name} runs for {', '.join(v['levels'])} only" for name, v in not_applicable.items()
            ) + f"; the regions chosen are {', '.join(sorted({r.level for r in chosen}))} units")
        run_dir = Path(out) if out is not None else OUTPUT_DIR / datetime.now().strftime("batch-%Y%m%d-%H%M%S")
        run_dir = run_dir.resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = _RunLock(run_dir)
    except BaseException:
        exe.close()  # bad parameters, or another batch holds the folder: stop the fork server we started
        raise
    try:
        shutil.rmtree(run_dir / mf.BATCH_DIR / "tmp", ignore_errors=True)  # leftovers of a killed batch
        specs = plan(nbs, chosen, run_dir=run_dir, parameters=per_nb, kernel_name=kernel_name, timeout=timeout, warm=warm)
        todo = [s for s in specs if not (resume and is_up_to_date(s))]
        skipped = {(s.region_code, s.notebook) for s in specs} - {(s.region_code, s.notebook) for s in todo}
        run_info = {
            "run": run_dir.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv) if sys.argv and sys.argv[0] else "run_batch()",
            "executor": executor,
            "jobs": exe.jobs,
            "notebooks": [nb.name for nb in nbs],
            "regions": [asdict(r) for r in chosen],
            "not_applicable": not_applicable,
        }
        results: dict[tuple[str, str], dict[str, Any]] = {}
        on_disk = {(r["region_code"], r["notebook"]): r for r in mf.all_records(run_dir)}
        for spec in todo:  # about to be redone: not finished any more
            on_disk.pop((spec.region_code, spec.notebook), None)
        bar = _progress(len(todo), enabled=progress)
        last_write = time.monotonic()
        try:
            for spec, record in exe.run(todo):
                key = (spec.region_code, spec.notebook)
                results[key] = on_disk[key] = record
                bar.set_description_str(f"{spec.region_code} {spec.region_name}".strip(), refresh=False)
                bar.set_postfix_str(f"{spec.notebook}: {record['status']}", refresh=False)
                bar.update(1)  # redraws at most every mininterval
                if time.monotonic() - last_write > MANIFEST_EVERY_S:  # large batches: not after every run
                    mf.write_manifest(run_dir, run=run_info, records=list(on_disk.values()), state="running")
                    last_write = time.monotonic()
        except KeyboardInterrupt:
            exe.close(abort=True)  # stop the runs in flight now; they leave only staging folders
            mf.write_manifest(run_dir, run=run_info, state="interrupted")
            raise KeyboardInterrupt(
                f"{len(results)} of {len(todo)} runs finished; rerun with --resume to complete {run_dir}"
            ) from None
        finally:
            bar.close()
        manifest_path = mf.write_manifest(run_dir, run=run_info, state="complete")
        index_path = write_index(run_dir)
    finally:
        exe.close()
        lock.release()
    rows = []
    for spec in specs:
        key = (spec.region_code, spec.notebook)
        rec = results.get(key) or mf.read_record(run_dir, *key) or {}
        status = "skipped" if key in skipped else rec.get("status", "failed")
        rows.append(
            {
                "region_code": spec.region_code,
                "region_name": spec.region_name,
                "notebook": spec.notebook,
                "status": status,
                "seconds": float(rec.get("duration_s") or 0.0) if status != "skipped" else 0.0,
                "error": rec.get("error") or "",
                "notebook_file": str(run_dir / spec.region_code / f"{spec.notebook}.ipynb"),
            }
        )
    names = {r.code: r.name for r in chosen}
    for notebook, v in not_applicable.items():
        reason = f"runs for {', '.join(v['levels'])} only (notebook metadata cnfp.levels)"
        rows += [{"region_code": code, "region_name": names[code], "notebook": notebook, "status": NOT_APPLICABLE,
                  "seconds": 0.0, "error": reason, "notebook_file": ""} for code in v["regions"]]
    import pandas as pd  # not at the top: see analysis.results

    table = pd.DataFrame(rows)
    counts = {s: int((table["status"] == s).sum()) for s in ("ok", "failed", "skipped", NOT_APPLICABLE)}
    return BatchResult(
        table=table,
        method="papermill per region in worker processes (warm forked kernels)" if warm else "papermill per region in worker processes",
        method_zh="每个地区用 papermill 在工作进程中运行" + ("（预热的派生内核）" if warm else ""),
        params={"notebooks": [nb.name for nb in nbs], "regions": len(chosen), "executor": executor, "jobs": exe.jobs, "resume": resume},
        run_dir=run_dir,
        manifest=manifest_path,
        index=index_path,
        wall_s=time.perf_counter() - t_start,
        counts=counts,
    )


def _progress(total: int, *, enabled: bool):
    """A tqdm bar on stderr (a widget in Jupyter). Written to a log file rather than a terminal, it
    prints a line every 30 s instead of redrawing on every run."""
    from tqdm.auto import tqdm

    to_log = "notebook" not in tqdm.__module__ and not sys.stderr.isatty()
    return tqdm(total=total, unit="run", disable=not enabled, dynamic_ncols=True, file=sys.stderr,
                mininterval=30.0 if to_log else 0.1, maxinterval=60.0 if to_log else 10.0)  # fmt: skip
