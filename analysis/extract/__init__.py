"""Indicators from report text (工作总结, 汇报材料, newspaper features) as a tidy table.

>>> from analysis.extract import extract_indicators, extract_report, check_margins
>>> table = extract_report("report.txt", report_year=2016)     # or extract_indicators(text, ...)
>>> check_margins(table)                                        # value − target = stated margin?

Command line: ``python -m analysis extract PATH... [-o out.csv] [--report-year 2016]``.
"""

from analysis.extract.extract import (
    COLUMNS,
    EXTRA_COLUMNS,
    REPORT_SUFFIXES,
    Report,
    check_margins,
    describe_margins,
    empty_table,
    extract_indicators,
    extract_report,
    parse_header,
    read_report,
)
from analysis.extract.normalize import NormalizedText, normalize
from analysis.extract.numbers import Number, parse_number
from analysis.extract.vocabulary import DEFAULT_VOCABULARY, Vocabulary, load_vocabulary

__all__ = [
    "COLUMNS",
    "DEFAULT_VOCABULARY",
    "EXTRA_COLUMNS",
    "REPORT_SUFFIXES",
    "NormalizedText",
    "Number",
    "Report",
    "Vocabulary",
    "check_margins",
    "describe_margins",
    "empty_table",
    "extract_indicators",
    "extract_report",
    "load_vocabulary",
    "normalize",
    "parse_header",
    "parse_number",
    "read_report",
]
