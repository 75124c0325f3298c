"""The fsspec filesystem on the memory backend: revisions in paths, names, writes, the shared store cache."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import artifactstore
from artifactstore import cache
from artifactstore.errors import InvalidRefName, InvalidRevision
from artifactstore.fs import ArtifactStoreFileSystem, filesystem_class


@pytest.fixture
def name() -> Iterator[str]:
    yield f"fs-{uuid.uuid4().hex[:8]}"
    cache.clear()


@pytest.fixture
def fs() -> ArtifactStoreFileSystem:
    return filesystem_class("memory")()


def test_paths_read_any_revision_and_names_carry_it(fs: ArtifactStoreFileSystem, name: str) -> None:
    store = artifactstore.open(f"artifactstore+memory://{name}")
    first = store.put_bytes("d/f.txt", b"1").id
    store.create_tag("v1")
    store.create_branch("exp/1")
    store.put_bytes("d/f.txt", b"2", branch="exp/1")
    for rev in ("v1", first, first[:8], "exp%2F1~1", "exp%2F1%7E1", "exp%2F1^"):
        assert fs.cat(f"artifactstore+memory://{name}@{rev}/d/f.txt") == b"1", rev
    assert fs.cat(f"artifactstore+memory://{name}@exp%2F1/d/f.txt") == b"2"
    assert fs.cat(f"artifactstore+memory://{name}/d/f.txt") == b"1"  # no '@': the default branch
    assert fs.ls(f"artifactstore+memory://{name}@exp%2F1/d", detail=False) == [f"{name}@exp%2F1/d/f.txt"]
    assert fs.ls(f"{name}@exp%2F1%7E1/d", detail=False) == [f"{name}@exp%2F1~1/d/f.txt"]
    assert fs.ls(f"{name}/d", detail=False) == [f"{name}/d/f.txt"]
    with pytest.raises(InvalidRevision, match="bad..rev"):
        fs.cat(f"{name}@bad..rev/d/f.txt")


def test_writes_go_to_the_branch_after_the_marker_and_never_to_a_tag_or_an_older_commit(
    fs: ArtifactStoreFileSystem, name: str
) -> None:
    store = artifactstore.open(f"artifactstore+memory://{name}")
    first = store.put_bytes("a.txt", b"a").id
    store.create_tag("v1")
    store.create_branch("exp")
    fs.pipe(f"{name}@exp/b.txt", b"b")
    fs.pipe(f"{name}/c.txt", b"c")
    assert store.read_bytes("b.txt", rev="exp") == b"b" and not store.exists("b.txt")
    assert store.read_bytes("c.txt") == b"c"
    before = (store.branches(), store.tags())
    with pytest.raises(InvalidRefName, match="tags never move"):
        fs.pipe(f"{name}@v1/d.txt", b"d")
    with pytest.raises(InvalidRefName, match="writes need a branch name after '@'"):
        fs.pipe(f"{name}@main~1/d.txt", b"d")
    for commit in (first, first[:8]):
        with pytest.raises(InvalidRefName, match="commits never change"):
            fs.pipe(f"{name}@{commit}/d.txt", b"d")
    assert (store.branches(), store.tags()) == before
    fs.pipe(f"{name}@deadbeef/d.txt", b"d")  # a new branch, though its name could be a commit id
    assert store.read_bytes("d.txt", rev="deadbeef") == b"d"


def test_filesystems_and_mlflow_share_one_store_per_location(
    fs: ArtifactStoreFileSystem, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[artifactstore.ArtifactStore] = []
    real = cache.open_located

    def counting(uri: artifactstore.StoreURI) -> artifactstore.ArtifactStore:
        opened.append(real(uri))
        return opened[-1]

    monkeypatch.setattr(cache, "open_located", counting)
    fs.pipe(f"{name}/1/run/artifacts/a.txt", b"a")
    assert fs.cat(f"{name}@main/1/run/artifacts/a.txt") == b"a"
    store, located = cache.open_cached(f"artifactstore+memory://{name}/1/other/artifacts")
    assert (located.location, located.path) == (name, "1/other/artifacts")
    assert opened == [store]
    branch_store, _ = cache.open_cached(f"artifactstore+memory://{name}@exp/1")
    assert branch_store is not store and opened == [store, branch_store]


def test_clear_closes_every_cached_store_and_forgets_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = cache.open_cached(f"artifactstore+memory://{name}")
    closed: list[artifactstore.ArtifactStore] = []
    monkeypatch.setattr(store, "close", lambda: closed.append(store))
    cache.clear()
    assert closed == [store]
    assert cache.open_cached(f"artifactstore+memory://{name}")[0] is not store
