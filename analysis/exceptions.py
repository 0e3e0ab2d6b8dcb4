"""One small error hierarchy; warnings are ``UserWarning`` subclasses.

Messages name the file, the (spreadsheet) row numbers, the column and what was expected, so that the
command line can print them without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class AnalysisError(Exception):
    """Base class of every error this package raises on purpose."""


class DataValidationError(AnalysisError, ValueError):
    """A table does not have the expected shape or values.

    ``rows`` are spreadsheet row numbers (the header is row 1, the first data row is row 2).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        rows: Sequence[int] | None = None,
        column: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = path
        self.rows = list(rows) if rows is not None else []
        self.column = column
        self.expected = expected
        parts = []
        if path:
            parts.append(f"{path}:")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" (+{len(self.rows) - 10} more)" if len(self.rows) > 10 else ""
            parts.append(f"row{'s' if len(self.rows) > 1 else ''} {shown}{more}:")
        if column:
            parts.append(f"column '{column}':")
        parts.append(message)
        if expected:
            parts.append(f"(expected {expected})")
        super().__init__(" ".join(parts))


class RegionNotFoundError(AnalysisError, LookupError):
    """A region code or name is not in the registry."""


class ModelSpecificationError(AnalysisError, ValueError):
    """A statistical call cannot be fitted as asked (e.g. interruption outside the data)."""


class AnalysisWarning(UserWarning):
    """Base class of this package's warnings."""


class SmallSampleWarning(AnalysisWarning):
    """An estimate rests on very few observations."""
