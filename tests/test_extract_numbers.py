"""Numbers as printed in reports (analysis.extract.numbers); expected values computed by hand
(e.g. 1.46亿 = 1.46 × 10^8 = 146 000 000)."""

from __future__ import annotations

import pytest

from analysis.extract.numbers import decimals, parse_number


@pytest.mark.parametrize(
    ("text", "value", "sign", "approx", "bound"),
    [
        ("10.8万人", 108_000, "人", False, "="),
        ("1.46亿元", 146_000_000, "元", False, "="),
        ("2288.36万元", 22_883_600, "元", False, "="),
        ("近7万人", 70_000, "人", True, "~"),
        ("8000多人次", 8000, "人次", True, ">"),
        ("119万余元", 1_190_000, "元", True, ">"),
        ("95%以上", 95, "%", True, ">="),
        ("0.3以内", 0.3, "", True, "<="),
        ("9.77/10万", 9.77, "/10万", False, "="),
        ("13.60%", 13.6, "%", False, "="),
        ("1,245人", 1245, "人", False, "="),
        ("8.71‰", 8.71, "‰", False, "="),
    ],
)
def test_parse_number(text, value, sign, approx, bound):
    num = parse_number(text, 0)
    assert num is not None
    assert num.value == pytest.approx(value, rel=1e-12)
    assert (num.sign, num.approx, num.bound) == (sign, approx, bound)
    assert num.end == len(text)


@pytest.mark.parametrize("text", ["2016年", "9月底", "0-6岁", "6岁", "B2超", "3-5人"])
def test_dates_ages_ranges_and_codes_are_not_values(text):
    first_digit = next(k for k, ch in enumerate(text) if ch.isdigit())
    assert parse_number(text, first_digit) is None
    assert all(parse_number(text, k) is None for k in range(first_digit + 1, len(text)))


def test_decimals():
    assert decimals(81.43) == 2
    assert decimals(75.0) == 0
    assert parse_number("13.60%", 0).decimals == 2
