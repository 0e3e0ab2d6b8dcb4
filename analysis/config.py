"""All paths of the project. Nothing else builds paths from ``__file__``.

``CNFP_DATA_DIR`` and ``CNFP_OUTPUT_DIR`` override the data and output folders (used by tests and
batch workers).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR: Path = Path(os.environ.get("CNFP_DATA_DIR", ROOT / "data"))
RAW_DIR: Path = DATA_DIR / "raw"
PROCESSED_DIR: Path = DATA_DIR / "processed"
OUTPUT_DIR: Path = Path(os.environ.get("CNFP_OUTPUT_DIR", ROOT / "outputs"))
NOTEBOOKS_DIR: Path = ROOT / "notebooks"
PACKAGE_DIR: Path = Path(__file__).resolve().parent

#: GB/T 2260 code used for the whole country (mainland China).
NATION_CODE = "000000"
#: Name of the Jupyter kernel registered for this environment (``make kernel``).
KERNEL_NAME = "cnfp"
