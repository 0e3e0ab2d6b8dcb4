"""Embedded real data: catalog, loaders, user-table validation and the region registry.

>>> from analysis import data
>>> data.catalog()                                   # what is embedded, with sources and licenses
>>> data.load("census_births", census=2020, wide=True)
>>> data.read_user_table("my_births.xlsx", as_="births")
>>> data.regions.lookup("广东")

Submodules are imported on first use so that ``import analysis.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "load": ("analysis.data.store", "load"),
    "catalog": ("analysis.data.store", "catalog"),
    "read_user_table": ("analysis.data.userdata", "read_user_table"),
    "regions": ("analysis.data.regions", None),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'analysis.data' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
