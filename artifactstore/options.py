"""Store option values as config files, URIs and keywords give them: strict, so a typo is an error.

A TOML config file gives ``true`` and ``3``; an environment variable or a command line gives
``"true"`` and ``"3"``; both are accepted. Anything else raises ``ValueError`` (or
``TypeError``), which each backend turns into an :class:`~artifactstore.errors.InvalidInput`
naming the option: ``cache = "flase"`` must not quietly mean false.
"""

from __future__ import annotations

from typing import Any

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def as_bool(value: Any) -> bool:
    """``value`` as a boolean: a bool, or one of :data:`TRUE` / :data:`FALSE` in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE or word in FALSE:
            return word in TRUE
    raise ValueError(f"{value!r} is not a boolean")


def as_int(value: Any) -> int:
    """``value`` as an integer: an int (not a bool) or a string of one."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip())
    raise TypeError(f"{type(value).__name__} is not a number")


__all__ = ["FALSE", "TRUE", "as_bool", "as_int"]
