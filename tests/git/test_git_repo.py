"""Opening, creating and protecting repositories; URIs; options; packed objects; gc and fsck."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from artifactstore_git import GitStore
from artifactstore_git.conformance import GitConformanceTarget
from artifactstore_git.objects import stored_zlib

import artifactstore
from artifactstore.errors import AlreadyExists, IntegrityError, InvalidInput, InvalidURI, NotFound, WriteRefused
from artifactstore.registry import get_registry


# ---------------------------------------------------------------- URIs
def test_uri_walks_up_to_the_repository(tmp_path: Path) -> None:
    GitStore(tmp_path / "a", create=True).close()
    for uri in (f"artifactstore+git://{tmp_path}/a/1/run/artifacts", f"artifactstore+git:{tmp_path}/a/1/run/artifacts"):
        parsed = artifactstore.locate(artifactstore.parse_uri(uri))
        assert (parsed.location, parsed.path, parsed.branch) == (f"{tmp_path}/a", "1/run/artifacts", None)
    parsed = artifactstore.parse_uri(f"artifactstore+git://{tmp_path}/a@exp%2F1/run")
    assert (parsed.location, parsed.branch, parsed.path) == (f"{tmp_path}/a", "exp/1", "run")


def test_relative_uri_is_relative_to_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = artifactstore.open("artifactstore+git:rel/store", create=True)
    assert isinstance(store, GitStore)
    assert store.uri == f"artifactstore+git://{tmp_path}/rel/store"
    store.put_bytes("x", b"1")
    parsed = artifactstore.locate(artifactstore.parse_uri("artifactstore+git:rel/store/deep/path"))
    assert (parsed.location, parsed.path) == ("rel/store", "deep/path")
    reopened, located = artifactstore.open_with_path(store.uri + "/deep")
    assert located.path == "deep"
    assert reopened.read_bytes("x") == b"1"


def test_remote_host_is_refused() -> None:
    with pytest.raises(InvalidURI, match="'example.com'"):
        artifactstore.locate(artifactstore.parse_uri("artifactstore+git://example.com/srv/a"))


def test_plugin_is_registered() -> None:
    assert get_registry().backend("git") is GitStore
    assert isinstance(get_registry().conformance_target("git"), GitConformanceTarget)
    assert GitStore.cross_process and GitStore.persistent and not GitStore.chunk_dedup


def test_every_commit_is_quick_when_blobs_refs_and_lfs_files_are_all_local(store: GitStore) -> None:
    assert store.commits_quickly(b"x" * 1024)
    assert store.commits_quickly(b"x" * 1025), "a Git LFS file is written here too, waiting on no one"
    lock = store.layout.commondir / "refs" / "heads" / "main.lock"
    lock.write_text("held by git\n")  # git holds the branch (or died holding it)
    assert not store.commits_quickly(b"x"), "waiting for git's lock must not stop an event loop"
    lock.unlink()
    assert store.commits_quickly(b"x")


# ---------------------------------------------------------------- create / open
def test_create_makes_a_bare_repository_on_the_uri_branch(tmp_path: Path, git) -> None:
    store = artifactstore.open(f"artifactstore+git://{tmp_path}/r@models", create=True)
    assert git(tmp_path / "r", "symbolic-ref", "HEAD").strip() == "refs/heads/models"
    assert git(tmp_path / "r", "rev-parse", "--is-bare-repository").strip() == "true"
    store.put_bytes("m", b"1")
    assert git(tmp_path / "r", "log", "--format=%s").strip() == "put m"
    # Reopened without a branch, the default follows HEAD.
    assert artifactstore.open(f"artifactstore+git://{tmp_path}/r").default_branch == "models"


def test_missing_repository_is_not_found_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="artifactstore init"):
        GitStore(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def test_create_refuses_a_non_empty_directory_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExists, match="not empty"):
        GitStore(tmp_path / "d", create=True)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["keep.txt"]


def test_existing_bare_repository_made_by_git_opens(tmp_path: Path, git) -> None:
    git(tmp_path, "init", "--bare", "-b", "trunk", "bare.git")
    store = GitStore(tmp_path / "bare.git")
    assert store.default_branch == "trunk"
    store.put_bytes("f.txt", b"hi")
    assert git(tmp_path / "bare.git", "show", "trunk:f.txt") == "hi"


# ---------------------------------------------------------------- non-bare repositories
@pytest.fixture
def worktree_repo(tmp_path: Path, git) -> Path:
    repo = tmp_path / "work"
    git(tmp_path, "init", "-b", "main", "work")
    (repo / "README").write_text("mine\n")
    git(repo, "add", "README")
    git(repo, "commit", "-m", "first")
    return repo


def _object_count(gitdir: Path) -> int:
    return sum(1 for d in (gitdir / "objects").iterdir() if len(d.name) == 2 for _ in d.iterdir())


def test_checked_out_branch_is_refused_before_anything_is_written(worktree_repo: Path, git) -> None:
    store = GitStore(worktree_repo, inline_threshold=10)
    assert store.default_branch == "main"
    assert store.read_bytes("README") == b"mine\n"
    before = _object_count(worktree_repo / ".git")
    with pytest.raises(WriteRefused, match=r"branch 'main' is checked out in the working tree .*@<branch>"):
        store.put_bytes("model.bin", b"x" * 100)
    with pytest.raises(WriteRefused):
        store.delete_branch("main")
    assert _object_count(worktree_repo / ".git") == before
    assert not (worktree_repo / ".git" / "lfs").exists() or not any((worktree_repo / ".git" / "lfs").rglob("*/*/*"))
    assert git(worktree_repo, "status", "--porcelain") == ""


def test_other_branches_of_a_working_tree_repository_are_writable(worktree_repo: Path, git) -> None:
    store = artifactstore.open(f"artifactstore+git://{worktree_repo}@artifacts")
    store.create_branch("artifacts", rev="main")
    store.put_bytes("metrics.json", b"{}")
    assert git(worktree_repo, "show", "artifacts:metrics.json") == "{}"
    assert git(worktree_repo, "status", "--porcelain") == ""  # the checkout is undisturbed
    # The .git directory named directly is the same repository, with the same protection.
    with pytest.raises(WriteRefused):
        GitStore(worktree_repo / ".git").put_bytes("x", b"1", branch="main")


def test_branch_checked_out_in_a_linked_worktree_is_refused(worktree_repo: Path, tmp_path: Path, git) -> None:
    git(worktree_repo, "worktree", "add", "-b", "feature", str(tmp_path / "linked"))
    store = GitStore(worktree_repo)
    with pytest.raises(WriteRefused, match="'feature'.*linked"):
        store.put_bytes("x", b"1", branch="feature")
    with pytest.raises(WriteRefused, match="'main'"):
        GitStore(tmp_path / "linked").put_bytes("x", b"1", branch="main")


# ---------------------------------------------------------------- options
def test_inline_threshold_option_decides_what_goes_to_lfs(tmp_path: Path, git) -> None:
    store = artifactstore.open(f"artifactstore+git://{tmp_path}/s", create=True, inline_threshold="10")
    store.put_bytes("small", b"0123456789")
    store.put_bytes("large", b"0123456789!")
    assert git(tmp_path / "s", "show", "main:small") == "0123456789"
    assert git(tmp_path / "s", "show", "main:large").startswith("version https://git-lfs.github.com/spec/v1\n")
    assert store.read_bytes("large") == b"0123456789!"


def test_options_from_the_named_store_config(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[stores.models]\nuri = "artifactstore+git://{tmp_path}/named"\noptions = {{ inline_threshold = 4, fsync = false }}\n'
    )
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(config))
    store = artifactstore.open("models", create=True)
    assert isinstance(store, GitStore)
    assert store.inline_threshold == 4
    info = store.commit([artifactstore.Put("f", b"12345")])
    assert info.logical_bytes == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"inline_treshold": 1}, "unknown option"),
        ({"inline_threshold": "big"}, "inline_threshold='big'"),
        ({"fsync": "maybe"}, "fsync='maybe'"),
        ({"lock_timeout": -1}, "lock_timeout=-1"),
        ({"loose_compression": 10}, "loose_compression=10"),
    ],
)
def test_bad_options_are_refused_by_name(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        GitStore.from_location(str(tmp_path / "o"), create=True, options=options)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("level", [0, 1, 9])
def test_loose_objects_at_any_compression_level_are_sound_for_git(tmp_path: Path, git, level: int) -> None:
    text = b'{"loss": 0.25, "step": 10}\n' * 2000
    store = GitStore.from_location(str(tmp_path / "s"), create=True, options={"loose_compression": level})
    store.put_bytes("metrics/loss.json", text)
    store.put_bytes("empty", b"")
    blob = git(tmp_path / "s", "rev-parse", "main:metrics/loss.json").strip()
    stored = (tmp_path / "s" / "objects" / blob[:2] / blob[2:]).stat().st_size
    assert (stored > len(text)) if level == 0 else (stored < len(text) // 10)
    assert git(tmp_path / "s", "cat-file", "blob", "main:metrics/loss.json").encode() == text
    assert git(tmp_path / "s", "cat-file", "-s", "main:empty").strip() == "0"
    assert git(tmp_path / "s", "fsck", "--full", "--strict", "--no-dangling") == ""


def test_stored_zlib_streams_decode_at_block_boundaries() -> None:
    for size in (0, 1, 0xFFFE, 0xFFFF, 0x10000, 3 * 0xFFFF + 7):
        data = os.urandom(size)
        stream = zlib.decompressobj()
        assert stream.decompress(stored_zlib(data)) == data, size
        assert stream.eof and stream.unused_data == b"", size


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: b"", "not a zlib stream"),
        (lambda raw: raw[: len(raw) // 2], "not a zlib stream"),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "not a zlib stream"),
        (lambda raw: zlib.compress(b"blob 99\0short"), "no valid object header"),
        (lambda raw: zlib.compress(b"thing 5\0hello"), "no valid object header"),
    ],
    ids=["empty", "truncated", "bad-checksum", "wrong-size", "unknown-type"],
)
def test_a_damaged_loose_object_is_an_integrity_error_naming_it(tmp_path: Path, damage, message: str) -> None:
    store = GitStore(tmp_path / "s", create=True)
    store.put_bytes("a.txt", b"hello world\n" * 10)
    blob = hashlib.sha1(b"blob 120\0" + b"hello world\n" * 10).hexdigest()
    path = tmp_path / "s" / "objects" / blob[:2] / blob[2:]
    os.chmod(path, 0o644)
    path.write_bytes(damage(path.read_bytes()))
    reopened = GitStore(tmp_path / "s")
    with pytest.raises(IntegrityError, match=message) as info:
        reopened.read_bytes("a.txt")
    assert blob in str(info.value) and "artifactstore fsck" in str(info.value)
    assert any(blob in problem for problem in reopened.fsck().problems)


# ---------------------------------------------------------------- packed objects, gc, fsck
def test_objects_packed_by_git_gc_are_read_listed_and_checked(store, git, caplog) -> None:
    for i in range(3):
        store.put_bytes(f"f{i}.txt", f"content {i}".encode())
    store.put_bytes("big.bin", os.urandom(5000))
    git(store.gitdir, "gc", "--quiet")
    loose = [p for d in (store.gitdir / "objects").iterdir() if len(d.name) == 2 for p in d.iterdir()]
    assert loose == []
    reopened = GitStore(store.layout.root)
    assert reopened.read_bytes("f2.txt") == b"content 2"
    ids = {oid for oid, _ in reopened.objects.iter_ids()}
    assert reopened.resolve().encode() in ids
    report = reopened.fsck()
    assert report.ok, report.problems
    assert report.objects_checked >= 9
    # Unreachable packed objects cannot be deleted by us: logged, not hidden.
    reopened.create_branch("tmp")
    reopened.put_bytes("only-on-tmp.txt", b"tmp", branch="tmp")
    git(store.gitdir, "gc", "--quiet")
    reopened.delete_branch("tmp")
    with caplog.at_level(logging.INFO, logger="artifactstore_git.objects"):
        reopened.gc(grace_seconds=0)
    assert any("git gc --prune=now" in r.getMessage() for r in caplog.records)
    assert reopened.read_bytes("f0.txt") == b"content 0"


def test_a_script_that_never_closes_a_packed_store_exits_quietly(store, git, git_env) -> None:
    # After a `git gc`, dulwich keeps the pack files open; a script that opens the store, reads
    # and exits without close() must not print dulwich's teardown tracebacks.
    store.put_bytes("a.txt", b"hello")
    git(store.gitdir, "gc", "--quiet")
    uri = f"artifactstore+git://{store.gitdir}"
    code = f"import artifactstore\nkept = artifactstore.open({uri!r})  # alive until teardown\nprint(kept.read_bytes('a.txt'))"
    proc = subprocess.run([sys.executable, "-c", code], env=git_env, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "b'hello'", "")


def test_gc_removes_unreachable_loose_objects_and_lfs_files(store) -> None:
    store.put_bytes("keep.bin", b"k" * 5000)
    store.create_branch("tmp")
    data = os.urandom(5000)
    store.put_bytes("drop.bin", data, branch="tmp")
    sha = hashlib.sha256(data).hexdigest()
    lfs_file = store.gitdir / "lfs" / "objects" / sha[:2] / sha[2:4] / sha
    assert lfs_file.exists()
    store.delete_branch("tmp")
    assert store.gc(grace_seconds=3600).content_removed == 0  # too young
    report = store.gc(grace_seconds=0)
    assert report.content_removed == 1
    assert report.objects_removed >= 3  # pointer blob, tree, commit
    assert not lfs_file.exists()
    assert not lfs_file.parent.exists()
    assert store.read_bytes("keep.bin") == b"k" * 5000
    assert store.fsck().ok


def test_fsck_reports_corrupted_lfs_file_and_loose_object(store, git) -> None:
    data = os.urandom(4096)
    store.put_bytes("big.bin", data)
    store.put_bytes("small.txt", b"small")
    sha = hashlib.sha256(data).hexdigest()
    target = GitConformanceTarget()
    target.corrupt_content(store, sha)
    report = store.fsck()
    assert not report.ok
    assert any(sha[:12] in p for p in report.problems), report.problems
    blob = git(store.gitdir, "rev-parse", "main:small.txt").strip()
    target.corrupt_object(store, blob)
    report = store.fsck()
    assert any(blob[:12] in p for p in report.problems), report.problems
    # git agrees that the object is corrupt.
    proc = subprocess.run(["git", "-C", str(store.gitdir), "fsck", "--full"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert blob in proc.stderr + proc.stdout


def test_init_inside_a_git_checkout_creates_a_new_store_not_the_checkout(tmp_path: Path) -> None:
    """`artifactstore init` (or the server's embedded default) under a clone must not pick the clone."""
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", "-b", "main", str(checkout)], check=True)
    uri = f"artifactstore+git://{checkout}/artifactstore-data/store"
    store = artifactstore.open(uri, create=True)
    store.put_bytes("a.txt", b"a")
    assert (checkout / "artifactstore-data" / "store" / "HEAD").is_file()
    reopened, located = artifactstore.open_with_path(uri + "/1/run/artifacts")
    assert located.path == "1/run/artifacts"
    assert reopened.read_bytes("a.txt") == b"a"
    assert subprocess.run(["git", "-C", str(checkout), "rev-parse", "--verify", "-q", "main"], capture_output=True).returncode != 0


def test_the_default_keeps_files_up_to_512_kib_inline_and_streams_larger_ones_to_lfs(tmp_path: Path, git) -> None:
    store = GitStore(tmp_path / "s", create=True)
    figure, weights = os.urandom(512 * 1024), os.urandom(512 * 1024 + 1)
    store.put_bytes("plots/loss.png", figure)
    store.put_bytes("model/weights.bin", weights)
    assert git(tmp_path / "s", "cat-file", "-s", "main:plots/loss.png").strip() == str(len(figure))  # the file itself
    pointer = git(tmp_path / "s", "cat-file", "blob", "main:model/weights.bin")
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1") and f"size {len(weights)}" in pointer
    assert store.read_bytes("plots/loss.png") == figure and store.read_bytes("model/weights.bin") == weights


def test_local_path_is_the_lfs_object_with_its_size_checked(tmp_path: Path) -> None:
    store = GitStore.from_location(str(tmp_path / "repo"), create=True, options={"inline_threshold": 4})
    store.put_bytes("small.txt", b"tiny")
    store.put_bytes("model.bin", b"0123456789")
    assert store.local_path("small.txt") is None  # an ordinary git blob has no file of its own
    local = store.local_path("model.bin")
    digest = hashlib.sha256(b"0123456789").hexdigest()
    assert local == tmp_path / "repo" / "lfs" / "objects" / digest[:2] / digest[2:4] / digest
    os.chmod(local, 0o644)
    local.write_bytes(b"012345678")  # truncated behind the store's back
    with pytest.raises(IntegrityError, match=r"holds 9 bytes, not the 10"):
        store.local_path("model.bin")
    local.unlink()
    with pytest.raises(NotFound, match=digest):
        store.local_path("model.bin")
