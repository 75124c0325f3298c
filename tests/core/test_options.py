"""Option values from config files (TOML types) and from strings (URIs, environment) parse strictly."""

from __future__ import annotations

from typing import Any

import pytest

from artifactstore.options import as_bool, as_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        (" Yes ", True),
        ("ON", True),
        ("1", True),
        ("off", False),
        ("0", False),
        ("No", False),
    ],
)
def test_booleans_from_toml_or_strings(value: Any, expected: bool) -> None:
    assert as_bool(value) is expected


@pytest.mark.parametrize("value", ["flase", "", "y", "2", 1, 0, None, 1.0])
def test_anything_else_is_not_a_boolean(value: Any) -> None:
    with pytest.raises(ValueError, match="is not a boolean"):
        as_bool(value)


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("3", 3), (" -2 ", -2), (0, 0)])
def test_integers_from_toml_or_strings(value: Any, expected: int) -> None:
    assert as_int(value) == expected


@pytest.mark.parametrize("value", [True, False, 1.5, None, [1]])
def test_booleans_and_other_types_are_not_integers(value: Any) -> None:
    with pytest.raises(TypeError):
        as_int(value)


def test_a_string_that_is_no_integer_is_refused() -> None:
    with pytest.raises(ValueError):
        as_int("1e3")
