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


@pytest.fixture
def journal_width():
    """``check(folder)``: every PNG a notebook wrote is at most a double journal column wide (7.2 in, with the
    0.03-in margins of a tight bounding box), so its 8-pt text keeps its size when placed in a paper. Returns
    the number of figures checked."""
    from PIL import Image

    from analysis.plots import DOUBLE_COLUMN

    def check(folder) -> int:
        from pathlib import Path

        pngs = sorted(Path(folder).rglob("*.png"))
        for png in pngs:
            with Image.open(png) as im:
                inches = im.size[0] / im.info["dpi"][0]
            assert inches <= DOUBLE_COLUMN + 0.1, f"{png.name} is {inches:.2f} in wide"
        return len(pngs)

    return check


def shown_tables(notebook) -> list[tuple[str, str, str]]:
    """(caption, untranslated columns, method line) of every table an executed notebook showed with
    ``tables.show_in``."""
    import html
    import json
    import re
    from pathlib import Path

    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            page = "".join(out.get("data", {}).get("text/html", ""))
            for m in re.finditer(r'<div class="cnfp-table" data-untranslated="([^"]*)"><p><b>(.*?)</b></p>'
                                 r'(?:<p><small>(.*?)</small></p>)?', page):
                found.append(tuple(html.unescape(g or "") for g in (m.group(2), m.group(1), m.group(3))))
    return found


def english_run(text: str) -> bool:
    """Three English words in a row: an untranslated phrase (names such as "Chao et al." or "Newey–West HAC" pass)."""
    import re

    return re.search(r"[A-Za-z]{2,}[ -][a-z]{2,}[ -][a-z]{2,}", text) is not None


def check_shown(notebook, lang: str = "zh") -> list[tuple[str, str, str]]:
    """Assert that every table the executed notebook showed has a Chinese label on each column (in English runs
    as well) and, in a Chinese run, a method line in Chinese (:func:`english_run`); returns :func:`shown_tables`."""
    shown = shown_tables(notebook)
    assert not [t for t in shown if t[1]], shown
    if lang == "zh":
        english = [t[2] for t in shown if english_run(t[2])]
        assert not english, english
    return shown
