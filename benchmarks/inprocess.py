"""Run a notebook's code in this very process for many regions: the lower limit of any batch runner.

``python -m benchmarks.inprocess [--params JSON] NOTEBOOK OUT CODE [CODE ...]`` prints JSON with the import time (the
notebook's first code cell after the parameters, run once) and the seconds per region. Each region gets
a fresh IPython namespace (``shell.reset``); modules, caches and matplotlib state are shared — exactly
what a warm kernel must *not* share, which is why this is a limit and not a runner. Figures are rendered
for display by matplotlib's inline backend, as they are in a kernel (part of the notebook's work).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def code_cells(path: Path) -> tuple[list[str], list[str]]:
    """(cells before and including the parameters cell, cells after it) as source strings."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    idx = next((i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])), -1)
    return [c.source for c in cells[: idx + 1]], [c.source for c in cells[idx + 1 :]]


def run(notebook: Path, out: Path, codes: list[str], *, params: dict | None = None) -> dict:
    import os

    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    import matplotlib
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline.backend_inline import configure_inline_support

    matplotlib.interactive(True)
    # no output cache: IPython's reset() would otherwise flush it with a full gc.collect() per region,
    # work a fresh kernel never does
    shell = InteractiveShell.instance(cache_size=0)
    # as in a kernel: shown figures are rendered to PNG, and rich reprs (HTML tables) are computed
    configure_inline_support(shell, os.environ["MPLBACKEND"])
    shell.display_formatter.active_types = shell.display_formatter.format_types
    head, body = code_cells(notebook)
    t0 = time.perf_counter()
    errors = {}
    for src in head + body[:1]:  # the imports, once: the limit assumes they are already done
        res = shell.run_cell(src, store_history=False)  # not silent: post-execute hooks show figures, as in a kernel
        if not res.success:
            errors["imports"] = repr(res.error_in_exec or res.error_before_exec)
    imports_s = time.perf_counter() - t0
    per_region = {}
    for code in codes:
        shell.reset(new_session=False)
        t = time.perf_counter()
        injected = f"region = {code!r}\noutput_dir = {str(out / code)!r}\n" + "".join(
            f"{name} = {value!r}\n" for name, value in (params or {}).items()
        )
        for src in head + [injected] + body:
            res = shell.run_cell(src, store_history=False)  # not silent: post-execute hooks show figures, as in a kernel
            if not res.success:
                errors[code] = repr(res.error_in_exec or res.error_before_exec)
                break
        import matplotlib.pyplot as plt

        plt.close("all")
        per_region[code] = time.perf_counter() - t
    return {"imports_s": imports_s, "per_region_s": per_region, "errors": errors}


if __name__ == "__main__":
    args = sys.argv[1:]
    extra = json.loads(args[1]) if args[:1] == ["--params"] else {}
    nb_path, out_dir, *region_codes = args[2:] if args[:1] == ["--params"] else args
    print(json.dumps(run(Path(nb_path), Path(out_dir), region_codes, params=extra)))
