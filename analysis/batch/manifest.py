"""What a run depended on and what it produced: hashes, versions, per-run records and ``manifest.json``.

Every run (one notebook × one region) leaves a *record* ``<run>/.batch/records/<code>/<notebook>.json``
written atomically after its outputs are in place, so a record means "finished". ``manifest.json`` is
rebuilt from the records. A run is stale when its *inputs key* — a hash of the notebook, the
parameters, the processed data files and the package versions (including the ``analysis`` code
itself) — differs from the one in its record.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from analysis.config import PACKAGE_DIR, PROCESSED_DIR

#: Distributions whose versions are recorded with every run.
PACKAGES = (
    "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "seaborn", "pyarrow",
    "papermill", "nbclient", "ipykernel", "nbconvert",
)  # fmt: skip

BATCH_DIR = ".batch"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def data_hashes(directory: Path = PROCESSED_DIR) -> dict[str, str]:
    """sha256 of every file in ``data/processed`` (relative path → hash); hidden files skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    return {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    }


def package_versions() -> dict[str, str]:
    """Python, the recorded distributions, and ``analysis`` (version + hash of its source files)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    code = hashlib.sha256()
    for p in sorted(Path(PACKAGE_DIR).rglob("*.py")):
        code.update(p.relative_to(PACKAGE_DIR).as_posix().encode())
        code.update(p.read_bytes())
    try:
        own = metadata.version("cnfp-analysis")
    except metadata.PackageNotFoundError:
        own = "unknown"
    versions["analysis"] = f"{own}+{code.hexdigest()[:12]}"
    return versions


def inputs_key(*, notebook_sha: str, parameters: dict[str, Any], data: dict[str, str], packages: dict[str, str]) -> str:
    """Hash of everything a run depends on; a changed key makes the run stale for ``--resume``."""
    return sha256_json({"notebook": notebook_sha, "parameters": parameters, "data": data, "packages": packages})


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n")


def record_path(run_dir: Path, region_code: str, notebook: str) -> Path:
    return Path(run_dir) / BATCH_DIR / "records" / region_code / f"{notebook}.json"


def read_record(run_dir: Path, region_code: str, notebook: str) -> dict[str, Any] | None:
    path = record_path(run_dir, region_code, notebook)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def all_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished run's record in ``run_dir``, sorted by region code then notebook."""
    out = []
    for p in sorted((Path(run_dir) / BATCH_DIR / "records").glob("*/*.json")):
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            continue  # cannot happen with atomic writes; an unreadable record counts as missing
    return sorted(out, key=lambda r: (r["region_code"], r["notebook"]))


def outputs_complete(run_dir: Path, record: dict[str, Any]) -> bool:
    """True when every output listed in ``record`` exists with the recorded size."""
    return all(
        (Path(run_dir) / o["path"]).is_file() and (Path(run_dir) / o["path"]).stat().st_size == o["bytes"]
        for o in record.get("outputs", [])
    )


#: what ``manifest.json`` says about its batch: still going, finished, or stopped by Ctrl-C
MANIFEST_STATES = ("running", "complete", "interrupted")


def write_manifest(
    run_dir: Path, *, run: dict[str, Any], state: str, records: list[dict[str, Any]] | None = None
) -> Path:
    """``manifest.json``: the batch's own description (``run``), its ``state`` (one of
    :data:`MANIFEST_STATES`; only ``complete`` means every planned run has a record) and every run
    record (read from disk unless given)."""
    if state not in MANIFEST_STATES:
        raise ValueError(f"manifest state must be one of {MANIFEST_STATES}, got {state!r}")
    if records is None:
        records = all_records(run_dir)
    records = sorted(records, key=lambda r: (r["region_code"], r["notebook"]))
    manifest = {
        **run,
        "state": state,
        "counts": {s: sum(r["status"] == s for r in records) for s in ("ok", "failed")},
        "runs": records,
    }
    return write_json_atomic(Path(run_dir) / "manifest.json", manifest)
