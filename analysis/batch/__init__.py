"""Run the study notebooks per district: in worker processes or on Dask, resumable, with a manifest.

>>> from analysis.batch import run_batch
>>> result = run_batch(notebooks="01", regions="440100,440300", out="outputs/gz-sz")
>>> print(result.summary())          # ok / failed / skipped per run; result.exit_code; result.index

Modules: :mod:`~analysis.batch.params` (checks), :mod:`~analysis.batch.runner` (plan, run, resume),
:mod:`~analysis.batch.executors` (local pool, Dask), :mod:`~analysis.batch.forkserver` (the warm kernels'
fork server), :mod:`~analysis.batch.kernels` (their jupyter_client provisioner), :mod:`~analysis.batch.manifest`,
:mod:`~analysis.batch.index`, :mod:`~analysis.batch.cli`.
"""

from __future__ import annotations

import sys
from typing import Any

# nbformat imports jsonschema, whose format checkers import rfc3987_syntax when it is installed (a
# dependency of jupyter-events): it compiles 39 Lark grammars at import, ≈ 1 s in every batch, for an
# "iri" checker that notebook validation never uses (python-jsonschema/jsonschema#1428). Marked as
# missing before jsonschema is first imported, jsonschema simply leaves that checker out.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

__all__ = ["run_batch", "BatchResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from analysis.batch import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'analysis.batch' has no attribute {name!r}")
