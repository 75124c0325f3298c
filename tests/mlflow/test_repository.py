"""The adapter in-process, on the memory backend (and git where the URI form matters)."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repo import StreamUploadMixin
from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry, get_artifact_repository

import artifactstore
from artifactstore import cache as store_cache
from artifactstore.cache import clear as clear_store_cache
from artifactstore.cache import open_cached
from artifactstore.engine import EngineStore
from artifactstore.mlflow import ArtifactStoreRepository
from artifactstore.mlflow.serving import ENV_VERIFY_DOWNLOADS
from artifactstore.mlflow.streams import AHEAD, BLOCK, SHARED_AHEAD, AsyncChunkReader, shared_credits

RUN = "0123456789abcdef0123456789abcdef"
BAD_PATHS = ["a/./b", "..\\..\\x", ".git/config", "C:foo", "n" * 2000, "/etc/passwd", "a//b", "a/../b", "x/.GIT/y"]


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    # In-process only: subprocesses get the schemes from entry points.
    _artifact_repository_registry.register("artifactstore+memory", ArtifactStoreRepository)
    yield
    clear_store_cache()


@pytest.fixture
def store_name() -> str:
    return f"mlflow-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def repo(store_name: str) -> ArtifactStoreRepository:
    r = get_artifact_repository(f"artifactstore+memory://{store_name}/1/{RUN}/artifacts", tracking_uri="http://x")
    assert isinstance(r, ArtifactStoreRepository)
    return r


def messages(store: artifactstore.ArtifactStore, rev: str | None = None) -> list[str]:
    try:
        return [c.message.splitlines()[0] for c in store.log(rev)]
    except artifactstore.NotFound:
        return []


def make_dir(root: Path) -> Path:
    (root / "model" / "sub").mkdir(parents=True)
    (root / "model" / "MLmodel").write_text("flavors: {}\n")
    (root / "model" / "sub" / "weights.bin").write_bytes(os.urandom(200_000))
    return root / "model"


def test_constructor_takes_mlflow3_keywords_and_the_uri_subpath(repo: ArtifactStoreRepository) -> None:
    assert repo.tracking_uri == "http://x"
    assert repo.registry_uri is None
    assert repo.root == f"1/{RUN}/artifacts"
    assert isinstance(repo, StreamUploadMixin)


def test_log_artifact_is_one_commit_naming_experiment_run_and_path(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_bytes(b"hello")
    repo.log_artifact(str(f), "docs")
    assert messages(repo.store) == [f"mlflow: log docs/notes.txt (experiment 1, run {RUN})"]
    assert repo.store.read_bytes(f"1/{RUN}/artifacts/docs/notes.txt") == b"hello"


def test_log_artifacts_is_one_atomic_commit(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    repo.log_artifacts(str(make_dir(tmp_path)), "model/")
    assert messages(repo.store) == [f"mlflow: log 2 files to model (experiment 1, run {RUN})"]
    listed = {f.path: f for f in repo.list_artifacts("model")}
    assert set(listed) == {"model/MLmodel", "model/sub"}
    assert listed["model/MLmodel"].file_size == len("flavors: {}\n")
    assert listed["model/sub"].is_dir and listed["model/sub"].file_size is None
    assert repo.list_artifacts("model/sub")[0].file_size == 200_000


def test_log_artifacts_of_an_empty_directory_commits_nothing(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    repo.log_artifacts(str(tmp_path))
    assert messages(repo.store) == []


def test_list_of_a_file_or_a_missing_path_is_empty(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    assert repo.list_artifacts() == []  # nothing logged yet: the branch does not even exist
    repo.log_artifacts(str(make_dir(tmp_path)))
    assert repo.list_artifacts("MLmodel") == []
    assert repo.list_artifacts("missing") == []


def test_download_file_and_directory(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    src = make_dir(tmp_path / "src")
    repo.log_artifacts(str(src), "model")
    out = tmp_path / "out"
    out.mkdir()
    local = repo.download_artifacts("model", str(out))
    assert local == str(out / "model")
    assert Path(local, "sub", "weights.bin").read_bytes() == (src / "sub" / "weights.bin").read_bytes()
    single = repo.download_artifacts("model/MLmodel", str(out))
    assert Path(single).read_text() == "flavors: {}\n"
    everything = repo.download_artifacts("")
    assert Path(everything, "model", "MLmodel").exists()
    with pytest.raises(MlflowException) as info:
        repo.download_artifacts("nope", str(out))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_download_of_an_empty_run_returns_the_destination(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    assert repo.download_artifacts(None, str(tmp_path)) == str(tmp_path)


def test_delete_is_a_commit_and_history_keeps_the_file(repo: ArtifactStoreRepository, tmp_path: Path) -> None:
    repo.log_artifacts(str(make_dir(tmp_path)), "model")
    before = repo.store.resolve()
    repo.delete_artifacts("model/sub")
    assert messages(repo.store)[0] == f"mlflow: delete model/sub (experiment 1, run {RUN})"
    assert [f.path for f in repo.list_artifacts("model")] == ["model/MLmodel"]
    assert len(repo.store.read_bytes(f"1/{RUN}/artifacts/model/sub/weights.bin", rev=before)) == 200_000
    head = repo.store.resolve()
    repo.delete_artifacts("not-there")
    assert repo.store.resolve() == head


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_paths_are_invalid_parameter_values_and_write_nothing(
    repo: ArtifactStoreRepository, tmp_path: Path, bad: str
) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"x")
    repo.log_artifact(str(f))
    head = repo.store.resolve()
    calls = [
        lambda: repo.log_artifact(str(f), bad),
        lambda: repo.log_artifacts(str(tmp_path), bad),
        lambda: repo.log_artifact_from_stream(io.BytesIO(b"x"), "f.txt", bad),
        lambda: repo.list_artifacts(bad),
        lambda: repo.download_artifacts(bad, str(tmp_path)),
        lambda: repo.delete_artifacts(bad),
    ]
    for call in calls:
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE", bad
        assert info.value.get_http_status_code() == 400
    assert repo.store.resolve() == head


def test_percent_escapes_are_never_decoded_again(repo: ArtifactStoreRepository) -> None:
    repo.log_artifact_from_stream(io.BytesIO(b"x"), "a%2Fb.txt", "d%2E")
    assert repo.store.read_bytes(f"1/{RUN}/artifacts/d%2E/a%2Fb.txt") == b"x"


class CountingStream(io.RawIOBase):
    """A stream that records how it is read: the adapter must never ask for everything at once."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.largest = 0
        self.read_all = False

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            self.read_all = True
            n = self.left
        self.largest = max(self.largest, n)
        n = min(n, self.left)
        self.left -= n
        return b"z" * n

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def test_sync_stream_upload_reads_in_bounded_chunks(repo: ArtifactStoreRepository) -> None:
    stream = CountingStream(5 * 1024 * 1024)
    repo.log_artifact_from_stream(stream, "dir/ignored/big.bin", "uploads")  # type: ignore[arg-type]
    assert not stream.read_all and stream.largest <= 8 * 1024 * 1024
    assert stream.left == 0
    assert repo.store.stat(f"1/{RUN}/artifacts/uploads/big.bin").size == 5 * 1024 * 1024
    assert messages(repo.store) == [f"mlflow: log uploads/big.bin (experiment 1, run {RUN})"]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ([os.urandom(65536) for _ in range(40)], "model/weights.bin"),  # past one block: the pump
        ([b"a" * 4000, b"b" * 4000, b"c" * 2240], "small/metrics.json"),  # one block, from memory
    ],
    ids=["pumped", "small"],
)
def test_async_stream_upload(repo: ArtifactStoreRepository, payload: list[bytes], where: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for c in payload:
            await asyncio.sleep(0)
            yield c

    directory, name = where.split("/")
    asyncio.run(repo.log_artifact_from_async_stream(chunks(), name, directory))
    assert repo.store.read_bytes(f"1/{RUN}/artifacts/{where}") == b"".join(payload)
    assert messages(repo.store) == [f"mlflow: log {where} (experiment 1, run {RUN})"]


@pytest.mark.parametrize("size", [1000, 2 * BLOCK], ids=["small", "large"])
def test_async_stream_cut_off_by_the_client_commits_nothing(repo: ArtifactStoreRepository, size: int) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(size // 1000):
            yield b"x" * 1000
        raise ConnectionResetError("client went away")

    with pytest.raises((ConnectionResetError, MlflowException)):
        asyncio.run(repo.log_artifact_from_async_stream(chunks(), "partial.bin", "cut"))
    assert messages(repo.store) == []
    assert not repo.store.exists(f"1/{RUN}/artifacts/cut/partial.bin")


def test_async_stream_with_a_bad_name_fails_before_reading(repo: ArtifactStoreRepository) -> None:
    pulled = []

    async def chunks() -> AsyncIterator[bytes]:
        pulled.append(1)
        yield b"x"

    with pytest.raises(MlflowException) as info:
        asyncio.run(repo.log_artifact_from_async_stream(chunks(), "f", ".git"))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert pulled == []


def _committing_threads(repo: ArtifactStoreRepository, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread of every commit the repository's store makes from now on, in order."""
    threads: list[int] = []
    commit = repo.store.commit

    def recorded(*args: object, **kwargs: object) -> object:
        made = commit(*args, **kwargs)  # type: ignore[arg-type]
        threads.append(threading.get_ident())
        return made

    monkeypatch.setattr(repo.store, "commit", recorded)
    return threads


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_a_lone_small_upload_is_committed_on_the_event_loops_thread(repo, monkeypatch) -> None:
    threads = _committing_threads(repo, monkeypatch)

    async def main() -> int:
        await repo.log_artifact_from_async_stream(_one_chunk(b"m" * 10240), "metrics.json", "small")
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads == [loop_thread]
    assert repo.store.read_bytes(f"1/{RUN}/artifacts/small/metrics.json") == b"m" * 10240


def test_small_uploads_that_arrive_together_are_committed_in_worker_threads(repo, monkeypatch) -> None:
    threads = _committing_threads(repo, monkeypatch)

    async def main() -> int:
        uploads = (repo.log_artifact_from_async_stream(_one_chunk(b"%d" % i), f"f{i}.txt", "small") for i in range(3))
        await asyncio.gather(*uploads)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert len(threads) == 3 and loop_thread not in threads
    assert [repo.store.read_bytes(f"1/{RUN}/artifacts/small/f{i}.txt") for i in range(3)] == [b"0", b"1", b"2"]


def test_a_store_that_cannot_commit_quickly_commits_in_a_worker_thread(repo, monkeypatch) -> None:
    threads = _committing_threads(repo, monkeypatch)
    monkeypatch.setattr(repo.store, "commits_quickly", lambda data: False)  # as s3's, whose writes are requests

    async def main() -> int:
        await repo.log_artifact_from_async_stream(_one_chunk(b"x"), "f.txt", "small")
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert len(threads) == 1 and threads != [loop_thread]
    assert repo.store.read_bytes(f"1/{RUN}/artifacts/small/f.txt") == b"x"


def test_a_lone_upload_waits_for_gcs_deletes_in_a_worker_thread_and_the_loop_keeps_turning(repo, monkeypatch) -> None:
    threads = _committing_threads(repo, monkeypatch)
    store = repo.store
    assert isinstance(store, EngineStore)
    deleting, release = threading.Event(), threading.Event()

    def gc_deletes() -> None:
        with store.refs.gc_guard(exclusive=True):
            deleting.set()
            release.wait(10)

    gc = threading.Thread(target=gc_deletes)
    gc.start()
    assert deleting.wait(10)

    async def main() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 20:
                    release.set()  # gc is done once the loop has turned 20 times during the upload
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        await repo.log_artifact_from_async_stream(_one_chunk(b"y" * 100), "f.txt", "small")
        ticker.cancel()
        return threading.get_ident(), ticks

    loop_thread, ticks = asyncio.run(main())
    gc.join(10)
    assert ticks >= 20, "the loop was blocked while gc deleted"
    assert len(threads) == 1 and threads != [loop_thread]
    assert store.read_bytes(f"1/{RUN}/artifacts/small/f.txt") == b"y" * 100


def _counting_chunks(count: int, produced: list[int]) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            produced[0] += 65536
            yield b"a" * 65536

    return chunks()


async def _until_pulled(produced: list[int], at_least: int) -> int:
    """Wait (up to 10 s on a loaded machine) until ``at_least`` bytes were pulled, then a little
    longer to see whether the pump goes beyond; return what it pulled."""
    deadline = time.monotonic() + 10
    while produced[0] < at_least and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    return produced[0]


def test_a_lone_async_reader_reads_ahead_its_own_and_the_shared_blocks_and_no_more() -> None:
    produced = [0]
    lone = AHEAD + SHARED_AHEAD

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        reader = AsyncChunkReader(_counting_chunks(16 * (lone + 8), produced), loop)
        first = await asyncio.to_thread(reader.read, 10)
        seen = await _until_pulled(produced, lone * BLOCK)  # the pump runs ahead while the reader is busy
        rest = await asyncio.to_thread(reader.read)
        reader.close()
        await asyncio.sleep(0)  # the close hands the credits back on the loop
        return len(first) + len(rest), seen, shared_credits(loop).free

    total, while_busy, free_after = asyncio.run(main())
    assert total == 16 * (lone + 8) * 65536
    # one block taken by the reader, AHEAD + SHARED_AHEAD more waiting for it, one chunk being gathered
    assert lone * BLOCK <= while_busy <= (lone + 1) * BLOCK + 65536
    assert free_after == SHARED_AHEAD


def test_async_readers_of_one_loop_share_the_shared_blocks_and_an_abandoned_one_gives_them_back() -> None:
    produced = [0]

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        readers = [AsyncChunkReader(_counting_chunks(16 * 64, produced), loop) for _ in range(3)]
        for reader in readers:
            await asyncio.to_thread(reader.read, 10)
        seen = await _until_pulled(produced, (3 * AHEAD + SHARED_AHEAD) * BLOCK)
        free_while_busy = shared_credits(loop).free
        for reader in readers:  # abandoned mid-upload: a failed commit closes its reader unread
            reader.close()
        await asyncio.sleep(0)
        return seen, free_while_busy, shared_credits(loop).free

    while_busy, free_while_busy, free_after = asyncio.run(main())
    assert free_while_busy == 0
    # each reader: one block taken, AHEAD waiting, one chunk being gathered; SHARED_AHEAD among them
    assert while_busy <= (3 * (AHEAD + 1) + SHARED_AHEAD) * BLOCK + 3 * 65536
    assert while_busy >= (3 * AHEAD + SHARED_AHEAD) * BLOCK
    assert free_after == SHARED_AHEAD


def test_async_reader_propagates_client_disconnects() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionResetError("client went away")

    async def main() -> None:
        reader = AsyncChunkReader(chunks(), asyncio.get_running_loop())
        await asyncio.to_thread(reader.read)

    with pytest.raises(ConnectionResetError):
        asyncio.run(main())


def test_branch_comes_from_the_uri(store_name: str, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"b")
    repo = get_artifact_repository(f"artifactstore+memory://{store_name}@exp-1/1/{RUN}/artifacts")
    repo.log_artifact(str(f))
    store = artifactstore.open(f"artifactstore+memory://{store_name}")
    assert list(store.branches()) == ["exp-1"]
    assert store.read_bytes(f"1/{RUN}/artifacts/f.txt", rev="exp-1") == b"b"


def test_stores_are_opened_once_per_store_and_shared(store_name: str) -> None:
    got: list[artifactstore.ArtifactStore] = []

    def open_one(i: int) -> None:
        got.append(open_cached(f"artifactstore+memory://{store_name}/1/run-{i}/artifacts")[0])

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in got}) == 1
    other_branch, _ = open_cached(f"artifactstore+memory://{store_name}@b/1")
    assert other_branch is not got[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_inherit_open_stores(store_name: str) -> None:
    open_cached(f"artifactstore+memory://{store_name}")
    assert store_cache._stores
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.write(write, b"%d" % len(store_cache._stores))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"0"
    os.close(read)


def test_scheme_triple_slash_and_mlflow_single_slash_forms_open_one_git_store(tmp_path: Path) -> None:
    pytest.importorskip("artifactstore_git", reason="the git backend (artifactstore-git) is not installed")
    root = tmp_path / "repo"
    artifactstore.open(f"artifactstore+git://{root}", create=True).close()
    a = ArtifactStoreRepository(f"artifactstore+git://{root}/1/{RUN}/artifacts")
    b = ArtifactStoreRepository(f"artifactstore+git:{root}/1/{RUN}/artifacts")
    assert a.store is b.store
    assert a.root == b.root == f"1/{RUN}/artifacts"


def test_a_missing_store_is_a_clear_mlflow_error(tmp_path: Path) -> None:
    pytest.importorskip("artifactstore_git", reason="the git backend (artifactstore-git) is not installed")
    with pytest.raises(MlflowException) as info:
        ArtifactStoreRepository(f"artifactstore+git://{tmp_path}/nowhere/1/{RUN}/artifacts")
    assert info.value.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
    assert "nowhere" in info.value.message


def test_unknown_backend_is_an_invalid_parameter() -> None:
    with pytest.raises(MlflowException) as info:
        ArtifactStoreRepository("artifactstore+nosuch://x/1")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_get_local_path_names_git_lfs_files_by_their_artifact_name(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("artifactstore_git", reason="the git backend (artifactstore-git) is not installed")
    monkeypatch.delenv(ENV_VERIFY_DOWNLOADS, raising=False)
    root = tmp_path / "repo"
    artifactstore.open(f"artifactstore+git://{root}", create=True).close()
    repo = ArtifactStoreRepository(f"artifactstore+git://{root}/1/{RUN}/artifacts")
    table = b"id,score\n" + b"1,0.5\n" * 300_000  # above the inline threshold (512 KiB): an LFS file
    (tmp_path / "table.csv").write_bytes(table)
    (tmp_path / "MLmodel").write_bytes(b"flavors: {}\n")
    repo.log_artifact(str(tmp_path / "table.csv"), "eval")
    repo.log_artifact(str(tmp_path / "MLmodel"), "model")

    local = repo.get_local_path("eval/table.csv")
    assert local is not None
    # MLflow guesses the Content-Type from this name, so it is the artifact's; the bytes are the LFS object's
    assert os.path.basename(local) == "table.csv"
    assert Path(local).read_bytes() == table
    assert os.path.realpath(local).startswith(str(root / "lfs" / "objects"))
    assert repo.get_local_path("eval/table.csv") == local  # served again through the same link
    assert repo.get_local_path("model/MLmodel") is None  # a small file: MLflow downloads it first

    with pytest.raises(MlflowException) as info:
        repo.get_local_path("eval")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        repo.get_local_path("eval/missing.csv")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        repo.get_local_path("eval/../../x")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    monkeypatch.setenv(ENV_VERIFY_DOWNLOADS, "1")
    assert repo.get_local_path("eval/table.csv") is None  # every download verified through a copy


def test_links_are_made_only_in_a_directory_no_one_else_can_change(tmp_path: Path, monkeypatch, caplog) -> None:
    pytest.importorskip("artifactstore_git", reason="the git backend (artifactstore-git) is not installed")
    monkeypatch.delenv(ENV_VERIFY_DOWNLOADS, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    root = tmp_path / "repo"
    artifactstore.open(f"artifactstore+git://{root}", create=True).put_bytes("w.bin", os.urandom(2 << 20))
    repo = ArtifactStoreRepository(f"artifactstore+git://{root}")
    local = repo.get_local_path("w.bin")
    assert local is not None and local.startswith(str(tmp_path / "tmp"))
    links = Path(local).parents[1]
    assert links.stat().st_mode & 0o777 == 0o700
    links.chmod(0o777)  # anyone could swap the links now: refuse it and send through a copy
    assert repo.get_local_path("w.bin") is None
    assert "is not a directory that only this user can change" in caplog.text


def test_get_local_path_is_none_where_the_backend_keeps_no_file_per_content(repo: ArtifactStoreRepository) -> None:
    repo.log_artifact_from_stream(io.BytesIO(os.urandom(3 << 20)), "weights.bin")
    assert repo.get_local_path("weights.bin") is None
