"""A papermill engine that writes the executed notebook once, when execution ends.

Plain papermill (``request_save_on_cell_execute=True``) rewrites — and re-validates against the nbformat
schema — the whole output notebook before and after every cell: ≈ 2 × cells + 1 writes of a notebook
that grows with each embedded figure. A batch run executes in a staging folder that is renamed into
place only when the run is over, so those intermediate saves protect nothing. :class:`BatchEngine`
(registered as ``"cnfp_batch"``) saves in ``notebook_complete`` only, which papermill calls in a
``finally`` block: a notebook that fails, times out or loses its kernel is still written with the
outputs it produced (and, for a cell error, papermill's error banner).
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

__all__ = ["ENGINE_NAME", "BatchEngine"]

ENGINE_NAME = "cnfp_batch"


class SaveAtEndManager(NotebookExecutionManager):
    """Keeps papermill's cell metadata (times, status) but writes the notebook only at the end."""

    _final = False

    def save(self, **kwargs: Any) -> None:
        if self._final:
            super().save(**kwargs)
        else:
            self.last_save_time = self.now()

    def notebook_complete(self, **kwargs: Any) -> None:
        self._final = True
        super().notebook_complete(**kwargs)


class BatchEngine(NBClientEngine):
    """nbclient execution as papermill's default engine, with :class:`SaveAtEndManager`."""

    @classmethod
    def execute_notebook(
        cls,
        nb,
        kernel_name,
        output_path=None,
        progress_bar=True,
        log_output=False,
        autosave_cell_every=30,
        **kwargs,
    ):
        nb_man = SaveAtEndManager(
            nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output, autosave_cell_every=0
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, BatchEngine)
