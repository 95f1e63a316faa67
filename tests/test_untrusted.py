"""The checks of values from outside (model files, session files, the command line)."""

from __future__ import annotations

import pytest

from latentlab.untrusted import is_finite_number, short_repr, shorten


@pytest.mark.parametrize("value", [0, -3, 2.5, 1e308, 10**300])
def test_finite_numbers(value):
    assert is_finite_number(value)
    float(value)  # safe once accepted


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), 10**400, True, False, "1", None, [1]]
)
def test_what_is_not_a_finite_number(value):
    assert not is_finite_number(value)


def test_shorten_cuts_to_the_limit_and_says_so():
    assert shorten("abc", 3) == "abc"
    assert shorten("abcdef", 5) == "ab..."
    assert len(shorten("x" * 1000, 300)) == 300


def test_short_repr_of_a_huge_value_is_bounded():
    assert short_repr("name") == "'name'"
    text = short_repr(10**400)
    assert len(text) == 40 and text.endswith("...")


def test_short_repr_formats_only_a_bounded_part():
    assert short_repr("x" * 50_000_000) == "'" + "x" * 36 + "..."
    assert short_repr(10**5000) == "<an integer of 16,610 bits>"  # repr() would raise
    assert short_repr([["y" * 10**6] * 100] * 100).startswith("[['yyyyyyyyyyyy...yyyyyyyyyyyyy',")
