"""JSON and YAML documents compared key by key.

These files (MLflow's ``MLmodel``, metrics and params files) are small, so each side is
parsed whole - but only up to :data:`MAX_DOCUMENT_BYTES`; a larger document is summarized
as a binary file instead, so a diff never loads an arbitrarily large file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..errors import BackendUnavailable
from .model import ValueChange

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


class UnparseableDocument(ValueError):
    """The bytes are not valid JSON/YAML, or are too large to parse."""


def load_document(stream: BinaryIO, fmt: str, *, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """Parse a JSON or YAML document of at most ``limit`` bytes (safe YAML loader: no objects)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UnparseableDocument(f"larger than {limit} bytes; compared by size and hash only")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnparseableDocument(f"not UTF-8 text: {exc}") from None
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnparseableDocument(f"not valid JSON: {exc}") from None
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is a core dependency
        raise BackendUnavailable("YAML diffs need PyYAML: pip install pyyaml") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UnparseableDocument(f"not valid YAML: {str(exc).splitlines()[0]}") from None


def diff_values(old: Any, new: Any, path: str = "") -> Iterator[ValueChange]:
    """Every key (dotted path) added, removed or changed going from ``old`` to ``new``.

    Mappings are compared key by key and lists element by element (by index); any other
    value, or a change of type, is one ``changed`` entry.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        for key in _ordered_keys(old, new):
            child = _join(path, key)
            if key not in new:
                yield ValueChange(child, "removed", old=old[key])
            elif key not in old:
                yield ValueChange(child, "added", new=new[key])
            else:
                yield from diff_values(old[key], new[key], child)
        return
    if isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            child = f"{path}[{index}]"
            if index >= len(new):
                yield ValueChange(child, "removed", old=old[index])
            elif index >= len(old):
                yield ValueChange(child, "added", new=new[index])
            else:
                yield from diff_values(old[index], new[index], child)
        return
    if type(old) is not type(new) or old != new:
        yield ValueChange(path or "(document)", "changed", old=old, new=new)


def flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, scalar)`` for every leaf of a document (for ``compare``)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from flatten(child, _join(path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from flatten(child, f"{path}[{index}]")
    else:
        yield path or "(value)", value


def _ordered_keys(old: dict[Any, Any], new: dict[Any, Any]) -> list[Any]:
    return list(dict.fromkeys([*old, *new]))


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


__all__ = ["MAX_DOCUMENT_BYTES", "UnparseableDocument", "diff_values", "flatten", "load_document"]
