from __future__ import annotations

import pytest

from artifactstore.errors import InvalidPath, InvalidRefName, InvalidRevision
from artifactstore.validation import split_revision, validate_path, validate_ref_name

BAD_PATHS = [
    "",
    "/abs",
    "a//b",
    "a/",
    "./a",
    "a/../b",
    "a/./b",
    "..\\..\\x",
    "a\\b",
    "C:foo",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    ".git/config",
    ".GIT/config",
    "x/.Git",
    "git~1/config",
    ".git./x",
    ".git /x",
    ".g\u200cit/config",
    "\ufeff.git/x",
    "dir./f",
    "trailing ",
    "x" * 256,
    "/".join(["abcdefghij"] * 100),
    "bad\udcffname",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_rejected_and_named(path: str) -> None:
    with pytest.raises(InvalidPath) as info:
        validate_path(path)
    assert isinstance(info.value, ValueError)
    if path and len(path) < 60 and "\udcff" not in path:
        assert repr(path)[1:-1][:20] in str(info.value)


@pytest.mark.parametrize(
    "path", ["a", "a/b/c.txt", "models/résumé ünïcode/权重.bin", "x" * 255, ".gitignore", "a..b", "%2e%2e/x", "git~2"]
)
def test_good_paths_pass_unchanged(path: str) -> None:
    assert validate_path(path) == path


def test_root_only_where_allowed() -> None:
    assert validate_path("", allow_root=True) == ""
    with pytest.raises(InvalidPath):
        validate_path(None)


@pytest.mark.parametrize(
    "name",
    ["", "-x", "HEAD", "@", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "/a", "a/", "a//b",
     "a.", ".a", "a/.b", "a.lock", "a/b.lock/c", "a@{1}", "a\x01", "x" * 256],
)
def test_bad_ref_names(name: str) -> None:
    with pytest.raises(InvalidRefName):
        validate_ref_name(name)


@pytest.mark.parametrize("name", ["main", "exp/1", "feature-x", "v1.0", "José"])
def test_good_ref_names(name: str) -> None:
    assert validate_ref_name(name) == name


def test_revisions() -> None:
    assert split_revision("main") == ("main", 0)
    assert split_revision("main~2") == ("main", 2)
    assert split_revision("main^^") == ("main", 2)
    assert split_revision("exp/1~") == ("exp/1", 1)
    assert split_revision("abcd1234") == ("abcd1234", 0)
    for bad in ["--all", "-n", "a b", "a..b", "", 5]:
        with pytest.raises(InvalidRevision):
            split_revision(bad)
