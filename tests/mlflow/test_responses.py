"""Which byte range a ``Range`` header asks for (RFC 9110, one range; anything else is the whole file)."""

from __future__ import annotations

import pytest

from artifactstore.mlflow.responses import Unsatisfiable, byte_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),  # a suffix longer than the file: all of it
        ("bytes=90-1000", 100, (90, 99)),  # an end past the file's: up to its last byte
        ("bytes=99-99", 100, (99, 99)),
        (" bytes = 5 - 6 ", 100, (5, 6)),
        ("bytes=0-1,5-6", 100, None),  # several ranges: the whole file
        ("bytes=9-3", 100, None),  # malformed
        ("bytes=-", 100, None),
        ("bytes=a-b", 100, None),
        ("items=0-9", 100, None),
        ("", 100, None),
    ],
)
def test_byte_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-5", 0)]
)
def test_a_range_past_the_end_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, size)
