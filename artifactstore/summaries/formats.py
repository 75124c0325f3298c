"""Which summary a file gets, decided from its name alone (never by reading it)."""

from __future__ import annotations

from typing import Literal

Format = Literal["csv", "tsv", "json", "yaml", "binary"]

#: Files named like this are YAML whatever their extension (MLflow's model and project files).
YAML_NAMES = frozenset({"MLmodel", "MLproject"})


def detect_format(path: str) -> Format:
    """``csv``/``tsv`` by extension, ``json`` for ``.json``, ``yaml`` for ``.yaml``/``.yml``/MLmodel/MLproject."""
    name = path.rsplit("/", 1)[-1]
    if name in YAML_NAMES:
        return "yaml"
    lower = name.lower()
    suffix = lower.rsplit(".", 1)[-1] if "." in lower else ""
    if suffix == "csv":
        return "csv"
    if suffix in ("tsv", "tab"):
        return "tsv"
    if suffix == "json":
        return "json"
    if suffix in ("yaml", "yml"):
        return "yaml"
    return "binary"


__all__ = ["YAML_NAMES", "Format", "detect_format"]
