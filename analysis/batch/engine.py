"""A papermill engine that writes the executed notebook once, when execution ends.

Plain papermill (``request_save_on_cell_execute=True``) rewrites — and re-validates against the nbformat
schema — the whole output notebook before and after every cell: ≈ 2 × cells + 1 writes of a notebook
that grows with each embedded figure. A batch run executes in a staging folder that is renamed into
place only when the run is over, so those intermediate saves protect nothing. :class:`BatchEngine`
(registered as ``"cnfp_batch"``) leaves the one write to ``papermill.execute_notebook``, which saves the
notebook after the engine returns (with its error banner if a cell failed); only when the engine itself
raises — a timeout, a lost kernel — does it save in ``notebook_complete`` (papermill's ``finally``
block), so that notebook is still written with the outputs it produced.
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

__all__ = ["ENGINE_NAME", "BatchEngine"]

ENGINE_NAME = "cnfp_batch"


class SaveAtEndManager(NotebookExecutionManager):
    """Keeps papermill's cell metadata (times, status) but writes the notebook only at the end, and only
    if execution raised (otherwise papermill writes it)."""

    _final = False

    def save(self, **kwargs: Any) -> None:
        if self._final:
            super().save(**kwargs)
        else:
            self.last_save_time = self.now()

    def notebook_complete(self, *, save: bool = False, **kwargs: Any) -> None:
        self._final = save
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
        raised = True
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            raised = False
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete(save=raised)
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, BatchEngine)
