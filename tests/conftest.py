"""Shared fixtures: figures are closed after every test; random seeds are fixed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    """A seeded generator (seed 20261124) for synthetic test data."""
    import numpy as np

    return np.random.default_rng(20261124)
