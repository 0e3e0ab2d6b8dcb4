"""The kernel fork server: warm kernels that are still fresh processes (stdlib only, so that a batch can
start it before importing anything heavy).

Starting a plain ``ipykernel`` costs ≈ 1.5 s and importing pandas/statsmodels/seaborn in it ≈ 2 s more,
for every notebook. Here a batch starts one *fork server* (``python -m analysis.batch.forkserver
SOCKET``) that imports what the batch's notebooks import (their ``import`` statements, found by
:func:`analysis.batch.params.code_imports`), loads the processed data tables, runs a small warm-up study
(:func:`warm_caches`: fonts, text layout, PDF font subsetting, pandas' HTML) and freezes its heap
(``gc.freeze``), then waits; the local pool's workers share it (``CNFP_FORK_SERVER``), a Dask worker
starts its own. For every notebook the provisioner of :mod:`analysis.batch.kernels` asks it to ``fork()``: the
child is a brand-new process (new pid, new interpreter state, empty IPython namespace, default
matplotlib rcParams, fresh random seeds) that already has the modules in memory, and it becomes an
``ipykernel`` listening on the connection file jupyter_client wrote. Nothing one notebook does can
leak into the next one: each child exits after its notebook. What the children inherit is imported
code, loaded tables and caches of pure functions; the warm-up changes no rcParams and no pyplot state.

Protocol (one JSON object per line): the server prints ``{"ready": pid}`` on stdout once warm; each
connection to its Unix socket sends ``{"connection_file", "cwd", "env", "log"}`` and gets
``{"pid": child_pid, "warm": bool}``. Requests already waiting when the imports are done (up to one per
core but one) are forked before the warm-up (``"warm": false``) rather than wait for it.
When its stdin closes (its owner ended, even by ``kill -9``) the server kills its live children and
exits; children also watch their parent (``JPY_PARENT_PID``) and exit when it goes.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any

#: Modules imported once by a fork server that is not told what its notebooks import (a Dask worker's
#: own server); missing ones are skipped.
PRELOAD_MODULES: tuple[str, ...] = (
    "numpy",
    "pandas",
    "scipy.stats",
    "statsmodels.api",
    "statsmodels.formula.api",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
    "seaborn",
    "pyarrow.parquet",
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "analysis",
    "analysis.config",
    "analysis.data",
    "analysis.data.store",
    "analysis.data.regions",
    "analysis.plots",
    "analysis.outputs",
    "analysis.funnel",
    "analysis.srb",
    "analysis.its",
    "analysis.did",
    "analysis.coverage",
    "analysis.migrants",
    "analysis.narrative",
)

#: Caches filled once in the fork server, after the data tables are loaded (module, function, args): the
#: region registry's index, the core fonts and a small study with figures (no rcParams change: each
#: kernel still applies its own theme).
WARMUPS: tuple[tuple[str, str, tuple], ...] = (
    ("analysis.data.regions", "lookup", ("000000",)),
    ("analysis.plots", "font_family", ()),
    ("analysis.batch.forkserver", "warm_caches", ()),
)

_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_SOCKET_DIR_PREFIX = "cnfp-fork-"  # temporary folder of a fork server's socket
#: Options of every forked kernel: no input history (each cell would otherwise be written to the
#: SQLite file that all kernels of the user share); no 0.5 ms pause before each ``execute_reply`` (ipykernel's
#: guard against outputs arriving after the reply: nbclient reads a cell's outputs until the kernel's idle
#: status, which IOPub delivers after every output of that cell).
KERNEL_ARGS: tuple[str, ...] = ("--HistoryManager.enabled=False", "--IPythonKernel._execute_sleep=0")

# --------------------------------------------------------------------------- server side


#: ``CNFP_BATCH_PRELOAD=light`` imports only these (used by the test suite to keep it fast).
LIGHT_MODULES: tuple[str, ...] = ("numpy", "pandas", "matplotlib.pyplot", "matplotlib_inline.backend_inline",
                                  "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell")  # fmt: skip
#: Imported by every kernel besides :data:`LIGHT_MODULES`, whatever its notebook imports: what ``IPKernelApp``
#: imports while it starts (the debugger, IPython's magics helpers, tornado's asyncio loop), what an exported CSV
#: table and the shutdown need, the data store.
KERNEL_MODULES: tuple[str, ...] = (
    "ipykernel.debugger", "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.logger",
    "IPython.core.oinspect", "IPython.extensions.storemagic", "IPython.utils.wildcard", "faulthandler", "pdb",
    "runpy", "tornado.platform.asyncio", "zmq.utils.garbage", "pandas.io.formats.csvs", "encodings.utf_8_sig",
    "pyarrow.parquet", "analysis.data.store",
)  # fmt: skip


def _import(name: str) -> None:
    """Import ``"a.b"``, or for ``"a:b"`` (``from a import b``) ``a`` and, if ``b`` is a submodule, ``a.b``."""
    module, _, attr = name.partition(":")
    mod = importlib.import_module(module)
    if attr and not hasattr(mod, attr):
        importlib.import_module(f"{module}.{attr}")


def _preload(modules: tuple[str, ...], *, data: bool) -> bool:
    """Import ``modules`` (see :func:`_import`) and (if ``data``) load every processed table; True if the
    tables were loaded (then :func:`_warm_up` is worth running)."""
    for name in modules:
        try:
            _import(name)
        except Exception as exc:  # noqa: BLE001 - a broken module fails in the notebook, not here
            print(f"fork server: not preloaded {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    if not data:
        return False
    try:
        from analysis.config import PROCESSED_DIR

        if not any(PROCESSED_DIR.glob("*.parquet")):
            return False  # never build data from here: several servers would race
        store = importlib.import_module("analysis.data.store")
        for name in store.TABLES:
            store.load(name)
    except Exception:  # noqa: BLE001 - preloading is an optimisation; the kernel loads on demand
        return False
    return True


def _warm_up() -> None:
    """Run the :data:`WARMUPS`."""
    for module, func, args in WARMUPS:
        try:
            getattr(importlib.import_module(module), func)(*args)
        except Exception as exc:  # noqa: BLE001 - an optimisation only
            print(f"fork server: warm-up {module}.{func} failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def warm_caches() -> None:
    """Run a small study in this process — exact binomial and empirical-Bayes estimates for the counties of
    one province, a small funnel and error-bar plot with Chinese labels, saved as PNG and PDF to a
    temporary folder, an HTML table — so that every lazily imported module and every cache
    (fonts, glyphs, text layout, scipy's distributions, pandas' formatters, library versions) is filled once here rather
    than in every kernel (≈ 0.1 s off each notebook). A bare ``Figure`` inside ``rc_context``: rcParams
    and pyplot state are unchanged; nothing outside the temporary folder is written."""
    import tempfile

    import matplotlib
    from matplotlib.figure import Figure
    from PIL import Image

    from analysis import outputs, plots, srb
    from analysis.data import load

    county = load("county_census")
    one = county.loc[county["level"] == "county", "province_code"].iloc[0]
    peers = county[(county["level"] == "county") & (county["province_code"] == one)]
    p20 = peers[peers["census"] == 2020]
    kw = {"males": "age0_males", "females": "age0_females"}
    fun = srb.funnel(p20, label="name_zh", **kw)
    shr = srb.shrink(p20, by=["region_code", "name_zh"], **kw)
    few = peers[peers["region_code"].isin(p20["region_code"].head(3))]
    chg = srb.change(few, unit="region_code", period="census", **kw)
    est = srb.estimate(p20.head(3), by=["region_code", "name_zh"], **kw)
    srb.compare((5200, 4800), (5100, 4900))
    for res in (fun, shr, chg, est):
        res._repr_html_()
    outputs._library_versions()  # recorded in every parameters.json
    with matplotlib.rc_context(), tempfile.TemporaryDirectory(prefix="cnfp-warm-") as tmp:
        plots.set_theme(lang="zh")
        fig = Figure(figsize=(4, 2.5))
        axes = fig.subplots(1, 2)
        fun.plot(ax=axes[0], lang="zh", proxy=True)
        t = est.table
        axes[1].errorbar(range(len(t)), t["srb"], yerr=[t["srb"] - t["lower"], t["upper"] - t["srb"]], fmt="o",
                         capsize=3, label="2020")  # fmt: skip
        axes[1].axhline(106, ls="--", label="参照值 106")
        axes[1].legend()
        axes[1].set_title("出生性别比 SRB −1")
        fig.tight_layout()
        for path in plots.save_figure(fig, f"{tmp}/warm", formats=("png", "pdf")):
            if path.suffix == ".png":
                with Image.open(path) as img:
                    img.reduce(3)


#: glibc's malloc in the fork server (and so in its kernels) backs a growing heap with transparent huge pages
#: where the system allows them (``madvise``): one page fault per 2 MiB instead of 512.
GLIBC_TUNABLES = "glibc.malloc.hugetlb=1"
#: ``mallopt`` settings of every kernel (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD; bytes): buffers up to 64 MiB (a
#: 300-dpi figure is ≈ 12 MiB) come from the heap and are reused rather than mapped and unmapped each time,
#: and the heap is not trimmed below 256 MiB. A kernel lives for one notebook, so what it keeps is its own peak.
MALLOPT: tuple[tuple[int, int], ...] = ((-3, 64 << 20), (-1, 256 << 20))


def _glibc() -> bool:
    import platform

    return sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def _tune_malloc() -> bool:
    """Apply :data:`MALLOPT` to this process (glibc only); True if every setting was accepted.

    Together with :data:`GLIBC_TUNABLES` this cuts a notebook-01 kernel's minor page faults (counted from
    the fork to its last cell) from ≈ 26,000 to ≈ 14,000 (≈ 21,500 with ``mallopt`` alone)."""
    if not _glibc():
        return False
    import ctypes

    libc = ctypes.CDLL(None)
    return all(libc.mallopt(param, value) == 1 for param, value in MALLOPT)


#: Every kernel of a batch (warm or plain) runs the numerical libraries' thread pools with one thread, unless the
#: user set any of these variables (the list joblib's loky uses against oversubscription). A batch already runs
#: one kernel per core, the notebooks' matrices are small, and OpenBLAS's extra thread spins after each call:
#: ≈ 0.1 s of CPU per notebook-01 kernel, taken from the other job's kernel (2-job batches of 24 counties: median
#: 10 % shorter in 7 pairs; the in-process analysis and 1-job batches are not slower with one thread).
THREAD_ENV: dict[str, str] = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                 "NUMEXPR_NUM_THREADS")
}  # fmt: skip


def kernel_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with :data:`THREAD_ENV` added, unless it sets any of those variables itself."""
    env = dict(environ)
    if not any(name in env for name in THREAD_ENV):
        env.update(THREAD_ENV)
    return env


def _server_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The fork server's environment: :func:`kernel_env` (its libraries load with it), and :data:`GLIBC_TUNABLES`
    added to the user's own tunables (on glibc, unless the user set ``glibc.malloc.hugetlb`` already)."""
    env = kernel_env(environ)
    if _glibc() and "glibc.malloc.hugetlb" not in env.get("GLIBC_TUNABLES", ""):
        env["GLIBC_TUNABLES"] = ":".join(filter(None, (env.get("GLIBC_TUNABLES"), GLIBC_TUNABLES)))
    return env


def _child(request: dict[str, Any], close_fds: list[int], parent_pid: int) -> None:
    """Become an ipykernel (runs in the forked child; never returns)."""
    status = 1
    try:
        for fd in close_fds:
            os.close(fd)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        env = dict(request["env"])
        env.setdefault("MPLBACKEND", _INLINE_BACKEND)
        env["JPY_PARENT_PID"] = str(parent_pid)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request["cwd"])
        devnull = os.open(os.devnull, os.O_RDWR)
        log = request.get("log")
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if log else devnull
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err, 2)
        # a fresh process gets fresh random state; a fork would otherwise repeat the parent's
        import random

        random.seed()
        _tune_malloc()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        sys.path[0:0] = [request["cwd"]] if request["cwd"] not in sys.path else []
        sys.argv = ["ipykernel_launcher", "-f", request["connection_file"], *KERNEL_ARGS]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(sys.argv[1:])
        app.start()
        status = 0
    except BaseException:  # noqa: BLE001 - report anything to the kernel log, then exit
        import traceback

        traceback.print_exc()
    finally:
        os._exit(status)


def serve(socket_path: str, *, data: bool = True, modules: tuple[str, ...] | None = None) -> None:
    """Run the fork server (``python -m analysis.batch.forkserver SOCKET [--no-data] [--preload a,b:c]``).

    Imports the kernel's own modules plus ``modules`` (by default :data:`PRELOAD_MODULES`; a batch
    passes what its notebooks import).
    Listens on the Unix socket ``socket_path`` (one request per connection); prints ``{"ready": pid}``
    on stdout once warm; exits, killing its live kernels, when its stdin closes.
    """
    import selectors
    import socket

    os.environ.setdefault("MPLBACKEND", _INLINE_BACKEND)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch runner's business
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)  # clients may connect (and wait) while we are still importing
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints of imported modules must not corrupt the protocol
    light = os.environ.get("CNFP_BATCH_PRELOAD", "full") == "light"
    if light:
        loaded = _preload(LIGHT_MODULES, data=False)
    else:
        loaded = _preload(LIGHT_MODULES + KERNEL_MODULES + (PRELOAD_MODULES if modules is None else modules), data=data)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    children: set[int] = set()
    close = [listener.fileno(), proto.fileno()]  # not inherited by the kernels
    # Everything imported and cached so far is shared copy-on-write with the kernels. Freezing it keeps
    # the kernels' garbage collector from scanning those objects, which would touch (and so copy) their
    # memory pages: ≈ 0.15 s of CPU per notebook.
    gc.collect()
    gc.freeze()
    if loaded:
        # Kernels already asked for (up to one per core but one) do not wait for the warm-up (≈ 0.8 s, which
        # helps later kernels ≈ 0.1 s each): they fill their caches themselves while it runs on the free core.
        early = max(1, len(os.sched_getaffinity(0)) - 1) if hasattr(os, "sched_getaffinity") else 1
        while early > 0 and _accept(listener, children, close, timeout=0, warm=False):
            early -= 1
        _warm_up()
        gc.collect()
        gc.freeze()
    proto.write(json.dumps({"ready": os.getpid()}) + "\n")
    proto.close()
    close = [listener.fileno()]
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    running = True
    while running:
        for key, _ in sel.select():
            if key.fileobj is sys.stdin:
                running = bool(sys.stdin.readline())
            else:
                _accept(listener, children, close)
    for pid in children:
        _kill(pid)
    listener.close()
    os.unlink(socket_path)
    folder = os.path.dirname(socket_path)
    if os.path.basename(folder).startswith(_SOCKET_DIR_PREFIX):  # the folder ForkServer made for us
        shutil.rmtree(folder, ignore_errors=True)  # even when our owner died without ForkServer.close()


def _accept(
    listener: Any, children: set[int], close: list[int], *, timeout: float | None = None, warm: bool = True
) -> bool:
    """Take one connection from ``listener`` (waiting at most ``timeout`` s; None = it is known to be
    readable) and fork a kernel for its request (closing ``close`` in the kernel); reply ``{"pid", "warm"}``
    (``warm``: forked after the warm-up). False if no connection was waiting. A client gone before the reply
    (its worker stopped by Ctrl-C) costs only that kernel, which nobody would own: it is killed."""
    import select

    if timeout is not None and not select.select([listener], [], [], timeout)[0]:
        return False
    conn, _ = listener.accept()
    pid = None
    try:
        with conn, conn.makefile("rw", encoding="utf-8") as fh:
            line = fh.readline()
            if not line.strip():
                return True
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(request, [*close, conn.fileno()], os.getppid())
            children -= {p for p in children if not _alive(p)}
            children.add(pid)
            fh.write(json.dumps({"pid": pid, "warm": warm}) + "\n")
            fh.flush()
    except OSError:  # BrokenPipeError, ConnectionResetError: the client went away
        if pid is not None:
            _kill(pid)
            children.discard(pid)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def private_dir(prefix: str) -> str:
    """A new private temporary folder (mode 0700) named ``<prefix><pid>-…`` after this process, once the folders of
    earlier processes with that prefix that no longer run are removed: a batch stopped by ``kill -9`` cannot
    clean up its socket folders, the next one does. Folders of running processes or other users stay. Workers
    starting together sweep at the same time: a folder another one removed first is passed over."""
    import tempfile

    root = tempfile.gettempdir()
    with os.scandir(root) as entries:
        for entry in entries:
            pid = entry.name[len(prefix):].split("-", 1)[0] if entry.name.startswith(prefix) else ""
            try:
                stale = (pid.isdigit() and entry.is_dir(follow_symlinks=False)
                         and entry.stat().st_uid == os.getuid() and not _alive(int(pid)))
            except FileNotFoundError:  # removed by a process sweeping at the same time
                continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# --------------------------------------------------------------------------- client side

#: Environment variable naming the socket of a shared fork server (set for the local pool's workers).
SOCKET_ENV = "CNFP_FORK_SERVER"


class ForkServer:
    """Start and own a fork-server process (one per batch; Dask workers start their own)."""

    def __init__(self, *, data: bool = True, modules: tuple[str, ...] | None = None) -> None:
        self._dir = private_dir(_SOCKET_DIR_PREFIX)
        self.socket_path = os.path.join(self._dir, "s")
        cmd = [sys.executable, "-m", "analysis.batch.forkserver", self.socket_path] + ([] if data else ["--no-data"])
        if modules is not None:
            cmd += ["--preload", ",".join(modules)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      env=_server_env(os.environ))  # fmt: skip
        self._lock = threading.Lock()
        self._ready: int | None = None

    def wait_ready(self) -> int:
        """Block until the server has imported everything; return its pid."""
        with self._lock:
            if self._ready is None:
                line = self._proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"kernel fork server exited with status {self._proc.poll()}")
                self._ready = int(json.loads(line)["ready"])
            return self._ready

    def spawn(self, **request: Any) -> dict[str, Any]:
        return spawn_kernel(self.socket_path, **request)

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        """Close stdin (the server kills its kernels and exits) and wait for it."""
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def spawn_kernel(
    socket_path: str, *, connection_file: str, cwd: str, env: dict[str, str], log: str | None = None, wait: float = 300
) -> dict[str, Any]:
    """Ask the fork server at ``socket_path`` for a fresh kernel process; return the server's reply
    (``pid``; ``warm``: False if the kernel was forked before the server's warm-up)."""
    import socket
    import time

    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(socket_path)
            break
        except ConnectionRefusedError:
            sock.close()
            raise RuntimeError(f"the kernel fork server at {socket_path} is gone") from None
        except FileNotFoundError:  # not listening yet
            sock.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"no kernel fork server at {socket_path}") from None
            time.sleep(0.05)
    request = {"connection_file": connection_file, "cwd": cwd, "env": env, "log": log}
    with sock, sock.makefile("rw", encoding="utf-8") as fh:
        fh.write(json.dumps(request) + "\n")
        fh.flush()
        line = fh.readline()
    if not line:
        raise RuntimeError("the kernel fork server closed the connection (did it die?)")
    return json.loads(line)


_SERVER: ForkServer | None = None
_SERVER_LOCK = threading.Lock()


def fork_server() -> ForkServer:
    """This process's own fork server, started on first use (and restarted if it died)."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None or not _SERVER.alive():
            _SERVER = ForkServer()
        return _SERVER


def _spawn(**request: Any) -> dict[str, Any]:
    shared = os.environ.get(SOCKET_ENV)
    if shared:
        return spawn_kernel(shared, **request)
    return fork_server().spawn(**request)


def shutdown_fork_server() -> None:
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is not None:
            _SERVER.close()
            _SERVER = None


def _main(argv: list[str]) -> None:
    modules = None
    if "--preload" in argv:
        listed = argv[argv.index("--preload") + 1]
        modules = tuple(m for m in listed.split(",") if m)
    serve(argv[0], data="--no-data" not in argv[1:], modules=modules)


if __name__ == "__main__":
    _main(sys.argv[1:])

