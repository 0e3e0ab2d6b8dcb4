"""Shared behaviour of result objects (statsmodels/lifelines style).

A result is a small frozen dataclass holding a tidy ``table`` DataFrame, the ``method`` used and the
parameters; :class:`Result` gives it ``summary()``, ``_repr_html_`` and ``to_csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # imported where used: `python -m analysis batch` starts its kernel server before pandas loads
    import pandas as pd


@dataclass(frozen=True, kw_only=True, repr=False)
class Result:
    """Base result: ``table`` (tidy DataFrame), ``method`` (named in every output) in English and Chinese
    (``method_zh``, shown in Chinese runs), ``params``.

    Keyword-only, so subclasses may add fields without defaults. Subclasses set ``TITLE`` (English, Chinese)
    and pass ``repr=False`` to ``@dataclass``, so that ``repr()`` and the notebook's text form are the summary,
    not a dump of every field.
    """

    TITLE: ClassVar[tuple[str, ...]] = ("Result",)

    table: pd.DataFrame
    method: str
    method_zh: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The ``TITLE`` in both languages, as the notebooks' headings: "Missing female births / 女婴缺失数"."""
        return " / ".join(t for t in self.TITLE if t)

    def method_text(self, lang: str = "en") -> str:
        """The method in ``lang`` ("en" or "zh")."""
        return self.method_zh if lang == "zh" else self.method

    def summary(self) -> str:
        """Plain-text summary: title, method, parameters and the table."""
        import pandas as pd

        lines = [self.title, f"Method: {self.method}"]
        if self.params:
            lines.append("Parameters: " + ", ".join(f"{k}={v!r}" for k, v in self.params.items()))
        with pd.option_context("display.max_rows", 60, "display.width", 120):
            lines.append(self.table.to_string(index=False))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text/plain form: the summary, not the dataclass dump."""
        printer.text(self.title if cycle else self.summary())

    def _repr_html_(self) -> str:
        head = f"<p><b>{self.title}</b> — {self.method}</p>"
        return head + self.table.to_html(index=False, max_rows=60, float_format=_number)

    def to_csv(self, path: str | Path) -> Path:
        """Write ``table`` as UTF-8 CSV (with BOM so Excel shows Chinese) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(path, index=False, encoding="utf-8-sig")
        return path


def _number(x: float) -> str:
    """A table cell: values from 1,000 up whole with thousands separators ("393,737", "6,456", not "3.937e+05"
    or "6456"), others to 4 significant digits ("0.2092", "5.412e-202")."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"
