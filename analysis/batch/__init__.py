"""Run the study notebooks per district: in worker processes or on Dask, resumable, with a manifest.

>>> from analysis.batch import run_batch
>>> result = run_batch(notebooks="01", regions="440100,440300", out="outputs/gz-sz")
>>> print(result.summary())          # ok / failed / skipped per run; result.exit_code; result.index

Modules: :mod:`~analysis.batch.params` (checks), :mod:`~analysis.batch.runner` (plan, run, resume),
:mod:`~analysis.batch.executors` (local pool, Dask), :mod:`~analysis.batch.kernels` (warm forked
kernels), :mod:`~analysis.batch.manifest`, :mod:`~analysis.batch.index`, :mod:`~analysis.batch.cli`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_batch", "BatchResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from analysis.batch import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'analysis.batch' has no attribute {name!r}")
