"""Input validation, in one place, applied before anything is written.

Every user-supplied artifact path, ref name and revision passes through here. The rules
make a path safe on every file system people download to (Windows, macOS, Linux) and
impossible to confuse with the store's own objects: relative, ``/``-separated, canonical,
no control characters, no ``:``, and no ``.git`` in any of its NTFS/HFS disguises.
Nothing here percent-decodes: a caller's ``%2F`` stays three characters.
"""

from __future__ import annotations

import re

from .errors import InvalidPath, InvalidRefName, InvalidRevision

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
MAX_REF_BYTES = 255

# Code points that HFS+ ignores when comparing names, so ".g\u200cit" *is* ".git" there
# (the list git itself uses in is_hfs_dotgit).
_HFS_IGNORABLE = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_HEX = re.compile(r"[0-9a-f]{4,40}")
_REV_SUFFIX = re.compile(r"((?:~\d*|\^)+)$")


def _is_dotgit(segment: str) -> bool:
    folded = segment.translate(_HFS_IGNORABLE).casefold().rstrip(". ")
    return folded in (".git", "git~1")


def validate_path(path: object, *, allow_root: bool = False, what: str = "path") -> str:
    """Return ``path`` unchanged if it is a valid artifact path, else raise :class:`InvalidPath`.

    ``""`` is the root directory and is accepted only with ``allow_root`` (reads and
    listings); writes always need a file or directory name.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"{what} must be a string, got {type(path).__name__} {path!r}")
    if path == "":
        if allow_root:
            return path
        raise InvalidPath(f"{what} is empty; name a file or directory inside the store")
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath(f"{what} {path!r} is not valid UTF-8 (it contains a lone surrogate)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidPath(f"{what} {path[:60]!r}... is {len(encoded)} bytes; the limit is {MAX_PATH_BYTES}")
    if path.startswith("/"):
        raise InvalidPath(f"{what} {path!r} is absolute; artifact paths are relative to the store root")
    if "\\" in path:
        raise InvalidPath(f"{what} {path!r} contains a backslash; separate directories with '/'")
    if _CONTROL.search(path):
        raise InvalidPath(f"{what} {path!r} contains a control character")
    if ":" in path:
        raise InvalidPath(f"{what} {path!r} contains ':', which is not portable (drive letters, NTFS streams)")
    for segment in path.split("/"):
        if segment == "":
            raise InvalidPath(f"{what} {path!r} has an empty segment (a leading, trailing or double '/')")
        if segment in (".", ".."):
            raise InvalidPath(f"{what} {path!r} has a {segment!r} segment; give the canonical path")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidPath(f"{what} {path[:60]!r} has a segment longer than {MAX_SEGMENT_BYTES} bytes")
        if _is_dotgit(segment):
            raise InvalidPath(f"{what} {path!r} has a segment that git reads as '.git' ({segment!r})")
        if segment.endswith((" ", ".")):
            raise InvalidPath(f"{what} {path!r} has a segment ending in a space or a dot ({segment!r}), which Windows drops")
    return path


def validate_ref_name(name: object, *, what: str = "branch name") -> str:
    """Return ``name`` if it is a valid branch or tag name, else raise :class:`InvalidRefName`.

    git's ``check-ref-format`` rules, plus: no leading ``-`` (it would read as an option),
    not ``HEAD``, at most 255 bytes.
    """
    if not isinstance(name, str):
        raise InvalidRefName(f"{what} must be a string, got {type(name).__name__} {name!r}")
    problem = _ref_problem(name)
    if problem:
        raise InvalidRefName(f"{what} {name!r} is invalid: {problem}")
    return name


def _ref_problem(name: str) -> str | None:
    if name == "":
        return "it is empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_REF_BYTES:
        return f"it is longer than {MAX_REF_BYTES} bytes"
    if name.startswith("-"):
        return "it starts with '-'"
    if name in ("HEAD", "@"):
        return f"{name!r} is reserved"
    if _REF_FORBIDDEN.search(name):
        return "it contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in name or "@{" in name:
        return "it contains '..' or '@{'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "it has an empty component (a leading, trailing or double '/')"
    if name.endswith("."):
        return "it ends with '.'"
    for component in name.split("/"):
        if component.startswith("."):
            return f"component {component!r} starts with '.'"
        if component.endswith(".lock"):
            return f"component {component!r} ends with '.lock'"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    return None


def split_revision(rev: object) -> tuple[str, int]:
    """Split ``rev`` into a base (branch, tag or commit id) and a count of first-parent steps.

    ``main~2`` and ``main^^`` both give ``("main", 2)``. Raises :class:`InvalidRevision`.
    """
    if not isinstance(rev, str):
        raise InvalidRevision(f"revision must be a string, got {type(rev).__name__} {rev!r}")
    steps = 0
    base = rev
    match = _REV_SUFFIX.search(rev)
    if match:
        base = rev[: match.start()]
        for part in re.findall(r"~\d*|\^", match.group(1)):
            steps += int(part[1:]) if part.startswith("~") and len(part) > 1 else 1
    if base.startswith("-"):
        raise InvalidRevision(f"revision {rev!r} starts with '-' and would read as an option")
    if _HEX.fullmatch(base):
        return base, steps
    problem = _ref_problem(base)
    if problem:
        raise InvalidRevision(f"revision {rev!r} is not a branch, tag or commit id: {problem}")
    return base, steps


def is_hex_id(text: str) -> bool:
    return bool(_HEX.fullmatch(text))


__all__ = [
    "MAX_PATH_BYTES",
    "MAX_REF_BYTES",
    "MAX_SEGMENT_BYTES",
    "is_hex_id",
    "split_revision",
    "validate_path",
    "validate_ref_name",
]
