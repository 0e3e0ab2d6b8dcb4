"""Warm kernels for nbclient/papermill: a jupyter_client provisioner whose kernels are forked by the fork
server of :mod:`analysis.batch.forkserver`, and the kernel manager and client that use it.

The provisioner is used through :class:`WarmKernelManager` (``kernel_manager_class=`` of
nbclient/papermill). If the kernelspec runs a different Python than this process (another
environment) it falls back to the ordinary subprocess launch, so results never depend on the trick.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import DottedObjectName, Type, default

from analysis.batch.forkserver import _alive, _spawn, kernel_env, private_dir


class _ForkedKernel:
    """The part of :class:`subprocess.Popen` that :class:`LocalProvisioner` uses, for a forked pid."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = 0  # not our child: the exit status is not visible here
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _same_python(cmd: list[str]) -> bool:
    """True when the kernelspec's command runs this interpreter, in this environment, with ipykernel
    (``.venv/bin/python`` and ``.venv/bin/python3`` are the same; another venv is not)."""
    if not cmd or ("ipykernel_launcher" not in cmd and "ipykernel" not in cmd):
        return False
    exe = Path(shutil.which(cmd[0]) or cmd[0]).absolute()
    return os.path.realpath(exe) == os.path.realpath(sys.executable) and os.path.realpath(
        exe.parent.parent
    ) == os.path.realpath(sys.prefix)


#: How the last kernel of this process was started: "forked", "forked (before the warm-up)" or "plain (...)".
LAST_LAUNCH: dict[str, str] = {"how": ""}


class ForkServerProvisioner(LocalProvisioner):
    """Launch the kernel as a child forked from the warm fork server (see module docstring)."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        import asyncio

        if not _same_python(cmd):
            LAST_LAUNCH["how"] = "plain (kernelspec runs another Python)"
            return await super().launch_kernel(cmd, **kwargs)
        cwd = str(kwargs.get("cwd") or Path.cwd())
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        try:
            reply = await asyncio.to_thread(
                _spawn, connection_file=self.parent.connection_file, cwd=cwd, env=env,
                log=os.environ.get("CNFP_KERNEL_LOG"),
            )  # fmt: skip
        except (OSError, RuntimeError) as exc:
            self.log.warning("warm kernel unavailable (%s); starting a plain kernel", exc)
            LAST_LAUNCH["how"] = f"plain (fork server unavailable: {exc})"
            return await super().launch_kernel(cmd, **kwargs)
        LAST_LAUNCH["how"] = "forked" if reply.get("warm", True) else "forked (before the warm-up)"
        pid = int(reply["pid"])
        self.process = _ForkedKernel(pid)
        # the kernel stays in the batch's process group, so `kill -9 -<pgid>` or Ctrl-C ends it too;
        # signals from jupyter_client (interrupt, kill) go to the kernel alone
        self.pid, self.pgid = pid, None
        self.cwd = cwd
        return self.connection_info

    async def wait(self) -> int | None:
        """Like LocalProvisioner.wait, polling every 1 ms instead of 100 ms (a killed kernel is gone ≈ 5 ms later)."""
        import asyncio

        if self.process is None or not isinstance(self.process, _ForkedKernel):
            return await super().wait()
        while self.process.poll() is None:
            await asyncio.sleep(0.001)
        ret, self.process = self.process.returncode, None
        return ret


class WarmKernelClient(AsyncKernelClient):
    """Client whose readiness check does not idle: jupyter_client always waits 0.2 s of IOPub silence
    after ``kernel_info``; here the first IOPub message (which proves the subscription works) is enough, as
    nbclient ignores messages of other requests (it matches each to its cell's ``msg_id``). Its
    sockets retry connecting every 1 ms (zmq's default is 100 ms) while the new kernel binds."""

    @default("context")
    def _context_default(self) -> Any:
        import zmq
        import zmq.asyncio

        self._created_context = True
        ctx = zmq.asyncio.Context()
        ctx.setsockopt(zmq.RECONNECT_IVL, 1)
        return ctx

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        import asyncio
        import time
        from queue import Empty

        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=0.5)
            except Empty:
                msg = None
            if msg is not None and msg["msg_type"] == "kernel_info_reply":
                try:
                    await self.iopub_channel.get_msg(timeout=0.5)
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(msg)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")
            await asyncio.sleep(0)


class IpcKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel and client talk over Unix sockets (zmq ``ipc``) in a
    private folder of this process, not TCP: with TCP, jupyter_client picks free ports and closes them
    before the kernel binds them, so parallel workers can race for a port and a kernel dies at start
    (and ipykernel warns that TCP traffic is unencrypted). Its client does not idle at start-up
    (:class:`WarmKernelClient`); its kernels get :func:`kernel_env`."""

    client_class = DottedObjectName("analysis.batch.kernels.WarmKernelClient")
    client_factory = Type(WarmKernelClient, klass=AsyncKernelClient)

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        kw["env"] = kernel_env(kw.get("env") or os.environ)  # also what a forked kernel's os.environ says
        return await super()._async_pre_start_kernel(**kw)

    def _ip_default(self) -> str:
        if self.transport == "ipc":
            return os.path.join(_ipc_dir(), _uuid()[:12])  # socket paths must stay short (< 108 bytes)
        return super()._ip_default()


class WarmKernelManager(IpcKernelManager):
    """An :class:`IpcKernelManager` whose kernels come from the fork server."""

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or _uuid()
            self.provisioner = ForkServerProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        await super()._async_wait(pollinterval=min(pollinterval, 0.001))


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


_IPC_DIR: list[str] = []


def _ipc_dir() -> str:
    """This process's private folder (mode 0700) for kernel sockets, removed at exit."""
    if not _IPC_DIR:
        from multiprocessing.util import Finalize

        _IPC_DIR.append(private_dir("cnfp-ipc-"))  # also removes those of processes killed before they could
        # runs at interpreter exit and also when a process-pool worker ends (which skips atexit)
        Finalize(None, shutil.rmtree, args=(_IPC_DIR[0],), kwargs={"ignore_errors": True}, exitpriority=0)
    return _IPC_DIR[0]
