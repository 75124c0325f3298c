"""The committing process (artifactstore.committer) and the MLflow worker's side of it (handover).

Real processes and a real git store throughout: the committing process runs as
``python -m artifactstore.committer``; the hand-over is driven through the adapter's own async
upload method, and through a real ``mlflow server`` with 4 workers, whose committing process
must go away with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import artifactstore
from artifactstore import committer
from artifactstore.mlflow import handover
from artifactstore.mlflow.handover import CommitterLink, Outcome
from artifactstore.uri import parse_uri

pytestmark = pytest.mark.skipif(not committer.supported(), reason="committing processes need Linux's abstract sockets")

WAIT = 30.0


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    uri = f"artifactstore+git://{tmp_path / 'store'}"
    artifactstore.open(uri, create=True).close()
    return uri


def _name(uri: str) -> str:
    return committer.socket_name(parse_uri(uri))


def _listening(name: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(name)
        except OSError:
            return False
        return True


def _wait_for(condition: object, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


def _command(uri: str, *options: str) -> list[str]:
    """A committing process for ``uri`` started by this test process."""
    return [sys.executable, "-m", "artifactstore.committer", "--parent", str(os.getpid()), *options, uri]


@contextlib.contextmanager
def running_committer(uri: str, *, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(_command(uri), env={**os.environ, **(env or {})})
    try:
        _wait_for(lambda: _listening(_name(uri)) or process.poll() is not None, "the committing process to listen")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=WAIT)


def _commits(uri: str) -> list[artifactstore.Commit]:
    with artifactstore.open(uri) as store:
        if not store.branches():
            return []
        return list(store.log())


#: Becomes the user nobody (after importing what the script needs: the stdlib may not be readable by nobody).
_AS_NOBODY = "import os, socket, sys\nos.setgid(65534)\nos.setuid(65534)\n"


@contextlib.contextmanager
def squatter(name: str, *, as_nobody: bool = False) -> Iterator[None]:
    """A process that holds the committing process's socket name, accepts connections and never answers."""
    script = (_AS_NOBODY if as_nobody else "import socket, sys\n") + (
        "s = socket.socket(socket.AF_UNIX)\ns.bind('\\0' + sys.argv[1])\ns.listen(8)\n"
        "print('ready', flush=True)\nkept = []\nwhile True:\n    c, _ = s.accept()\n    kept.append(c)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, name[1:]], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield
    finally:
        process.kill()
        process.wait()


def _offer(uri: str, path: str, data: bytes) -> Outcome:
    """Offer one upload to the committing process of ``uri`` through a fresh link."""

    async def offer() -> Outcome:
        return await CommitterLink(uri, _name(uri)).commit(path, data, f"log {path}")

    return asyncio.run(offer())


def test_commits_of_concurrent_requests_land_with_their_bytes(store_uri: str) -> None:
    files = {f"1/run/artifacts/f{i}.txt": os.urandom(10_000 + i) for i in range(24)}

    async def send_all(link: CommitterLink) -> list[Outcome]:
        return await asyncio.gather(*(link.commit(path, data, f"log {path}") for path, data in files.items()))

    with running_committer(store_uri) as process:
        outcomes = asyncio.run(send_all(CommitterLink(store_uri, _name(store_uri))))
        assert process.poll() is None
    assert outcomes == [Outcome.COMMITTED] * len(files)
    commits = _commits(store_uri)
    assert sorted(c.message for c in commits) == sorted(f"log {path}" for path in files)
    with artifactstore.open(store_uri) as store:
        assert {path: store.read_bytes(path) for path in files} == files


def test_a_second_committing_process_for_the_same_store_exits_at_once(store_uri: str) -> None:
    with running_committer(store_uri) as first:
        second = subprocess.run(_command(store_uri), timeout=WAIT, capture_output=True, text=True)
        assert second.returncode == 0
        assert first.poll() is None, "the first committing process must keep serving"
        assert _listening(_name(store_uri))


def test_another_branch_gets_its_own_committing_process(store_uri: str) -> None:
    assert _name(store_uri) != _name(store_uri + "@exp-1")
    assert _name(store_uri) == _name(store_uri + "/1/run/artifacts")


def test_it_exits_when_the_process_that_started_it_is_gone(store_uri: str) -> None:
    # A starter that starts the committing process as its child, prints its pid, then waits.
    script = (
        "import subprocess, sys, os, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'artifactstore.committer', '--parent', str(os.getpid()), sys.argv[1]])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", script, store_uri], stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None
        pid = int(starter.stdout.readline())
        _wait_for(lambda: _listening(_name(store_uri)), "the committing process to listen")
        starter.kill()
        starter.wait()
        _wait_for(lambda: not _alive(pid), "the committing process to exit after its starter died", timeout=10)
        assert not _listening(_name(store_uri))
    finally:
        starter.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_it_exits_after_its_idle_time(store_uri: str) -> None:
    process = subprocess.run(_command(store_uri, "--idle-exit", "1"), timeout=WAIT, capture_output=True, text=True)
    assert process.returncode == 0
    assert "idle for 1 s" in process.stderr


def test_a_store_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    uri = f"artifactstore+git://{tmp_path / 'missing'}"
    process = subprocess.run(_command(uri), timeout=WAIT, capture_output=True, text=True)
    assert process.returncode == 2
    assert f"cannot commit for the writers of {uri}" in process.stderr
    assert "Traceback" not in process.stderr
    assert not (tmp_path / "missing").exists()


def test_a_lost_reply_never_makes_a_second_commit(store_uri: str) -> None:
    """The committing process dies right after its third commit's ref swap, before replying."""
    data = {f"d/{i}.bin": os.urandom(5000) for i in range(3)}

    async def send(link: CommitterLink) -> list[Outcome]:
        return [await link.commit(path, payload, f"log {path}") for path, payload in data.items()]

    with running_committer(store_uri, env={"ARTIFACTSTORE_FAULT": "after-ref-swap:3"}) as process:
        outcomes = asyncio.run(send(CommitterLink(store_uri, _name(store_uri))))
        process.wait(timeout=WAIT)
        assert process.returncode == -signal.SIGKILL
    assert outcomes == [Outcome.COMMITTED, Outcome.COMMITTED, Outcome.UNKNOWN]
    before = _commits(store_uri)
    assert len(before) == 3, "the third commit landed although its reply was lost"
    with artifactstore.open(store_uri) as store:
        path, payload = list(data.items())[2]
        assert committer.commit_unless_present(store, path, payload, f"log {path}") == before[0].id
        assert len(list(store.log())) == 3
        # Different bytes at the same path are a new commit.
        assert committer.commit_unless_present(store, path, b"other", "log again") != before[0].id
        assert store.read_bytes(path) == b"other"


def test_a_refused_or_malformed_request_leaves_the_store_unchanged(store_uri: str) -> None:
    with running_committer(store_uri):
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(_name(store_uri))
            raw.sendall(committer.FRAME.pack(10, committer.MAX_BODY + 1) + b"x" * 10)
            assert raw.recv(100) == b"", "a frame above the limits must close the connection"

        assert _offer(store_uri, "../escape.txt", b"x") is Outcome.UNKNOWN
    assert _commits(store_uri) == []


def test_a_committing_process_that_never_answers_is_given_up_on(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung committing process (here one that never replies) costs an upload REPLY_TIMEOUT, not forever."""
    monkeypatch.setattr(handover, "REPLY_TIMEOUT", 0.5)
    with squatter(_name(store_uri)):
        assert _offer(store_uri, "a.txt", b"x") is Outcome.UNKNOWN


@pytest.mark.skipif(os.getuid() != 0, reason="acting as another user (nobody) needs root")
def test_another_users_socket_is_never_sent_an_upload(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handover, "REPLY_TIMEOUT", 0.5)  # if the upload were sent, fail fast
    with squatter(_name(store_uri), as_nobody=True):
        assert _offer(store_uri, "secret.txt", b"not for nobody") is Outcome.NOT_SENT


@pytest.mark.skipif(os.getuid() != 0, reason="acting as another user (nobody) needs root")
def test_a_committing_process_refuses_another_users_requests(store_uri: str) -> None:
    request = committer.frame({"path": "planted.txt", "message": "log"}, b"planted")
    client_script = _AS_NOBODY + (
        "c = socket.socket(socket.AF_UNIX)\nc.connect('\\0' + sys.argv[1])\n"
        "try:\n    c.sendall(bytes.fromhex(sys.argv[2]))\n    print(repr(c.recv(100)))\n"
        "except OSError as exc:\n    print('closed', exc)\n"
    )
    with running_committer(store_uri):
        answer = subprocess.run(
            [sys.executable, "-c", client_script, _name(store_uri)[1:], request.hex()],
            capture_output=True, text=True, timeout=WAIT, check=True,
        ).stdout.strip()
    assert answer == "b''" or answer.startswith("closed"), answer
    assert _commits(store_uri) == []


# ----------------------------------------------------------------------- through the adapter
async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _repository(uri: str) -> object:
    from artifactstore.mlflow import ArtifactStoreRepository
    from artifactstore.mlflow.store_cache import clear_store_cache

    clear_store_cache()
    return ArtifactStoreRepository(uri)


def _upload_all(repo: object, files: dict[str, bytes], *, kill_after: int | None = None) -> None:
    """Upload every file at once through the adapter's async method (raises if any upload fails).

    With ``kill_after``, SIGKILL the committing process the repository's worker started once
    that many uploads are answered, with the others in flight.
    """

    async def main() -> None:
        async def one(path: str, data: bytes) -> None:
            await repo.log_artifact_from_async_stream(_chunks(data), os.path.basename(path), os.path.dirname(path))  # type: ignore[attr-defined]

        tasks = [asyncio.ensure_future(one(p, d)) for p, d in files.items()]
        if kill_after is not None:
            pending: set[asyncio.Future[None]] = set(tasks)
            while len(tasks) - len(pending) < kill_after:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            link = repo._link  # type: ignore[attr-defined]
            assert link is not None and link.child is not None and link.child.poll() is None
            assert pending, "every upload was answered before the kill"
            link.child.kill()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def _wait_until_it_listens(uri: str) -> None:
    """Wait for the committing process a worker started, and for the worker's pause after its failed connection."""
    _wait_for(lambda: _listening(_name(uri)), "the started committing process to listen")
    time.sleep(handover.RETRY_INTERVAL)


def _stop_started(repo: object) -> None:
    link = getattr(repo, "_link", None)
    if link is not None and link.child is not None:
        link.child.terminate()
        link.child.wait(timeout=WAIT)


def test_overlapping_uploads_go_through_the_committing_process_the_worker_starts(store_uri: str) -> None:
    repo = _repository(store_uri)
    try:
        files = {f"1/r/artifacts/warm/{i}.txt": os.urandom(3000) for i in range(8)}
        _upload_all(repo, files)  # no committing process yet: committed here, one started
        link = repo._link  # type: ignore[attr-defined]
        assert link is not None and link.child is not None
        assert link.outcomes[Outcome.COMMITTED] == 0
        _wait_until_it_listens(store_uri)
        more = {f"1/r/artifacts/small/{i}.txt": os.urandom(10_000) for i in range(40)}
        _upload_all(repo, more)
        files.update(more)
        assert link.outcomes[Outcome.COMMITTED] > 0
    finally:
        _stop_started(repo)
    with artifactstore.open(store_uri) as store:
        assert {path: store.read_bytes(path) for path in files} == files
        messages = [c.message for c in store.log()]
    assert len(messages) == len(files) == len(set(messages)), "one commit per upload"


def test_killing_the_committing_process_under_load_loses_and_repeats_nothing(store_uri: str) -> None:
    repo = _repository(store_uri)
    try:
        _upload_all(repo, {f"1/r/artifacts/warm/{i}.txt": b"w%d" % i for i in range(4)})
        _wait_until_it_listens(store_uri)
        files = {f"1/r/artifacts/load/{i}.bin": os.urandom(20_000) for i in range(200)}
        _upload_all(repo, files, kill_after=20)
        outcomes = repo._link.outcomes  # type: ignore[attr-defined]
        assert outcomes[Outcome.COMMITTED] >= 20 and outcomes[Outcome.UNKNOWN] > 0, outcomes
    finally:
        _stop_started(repo)
    with artifactstore.open(store_uri) as store:
        assert {path: store.read_bytes(path) for path in files} == files
        for path in files:
            assert len(list(store.log(path=path))) == 1, f"{path} was committed more than once"
        assert store.fsck().ok


def test_an_upload_whose_reply_was_lost_is_committed_once(store_uri: str) -> None:
    """The committing process dies right after its first ref swap: the uploads of that batch never hear back."""
    repo = _repository(store_uri)
    files = {f"1/r/artifacts/f/{i}.bin": os.urandom(8000) for i in range(12)}
    with running_committer(store_uri, env={"ARTIFACTSTORE_FAULT": "after-ref-swap:1"}) as process:
        try:
            _upload_all(repo, files)
            assert process.wait(timeout=WAIT) == -signal.SIGKILL, "the fault point should have been reached"
        finally:
            _stop_started(repo)
    with artifactstore.open(store_uri) as store:
        assert {path: store.read_bytes(path) for path in files} == files
        counts = {path: len(list(store.log(path=path))) for path in files}
        assert counts == dict.fromkeys(files, 1)
        assert sum(1 for _ in store.log()) == len(files)


def test_the_switch_turns_the_hand_over_off(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(handover.ENV, "0")
    repo = _repository(store_uri)
    _upload_all(repo, {f"1/r/artifacts/{i}.txt": b"%d" % i for i in range(8)})
    assert repo._link is None  # type: ignore[attr-defined]
    assert len(_commits(store_uri)) == 8


def test_memory_stores_never_hand_over() -> None:
    repo = _repository("artifactstore+memory://handover-test")
    _upload_all(repo, {f"1/r/artifacts/{i}.txt": b"%d" % i for i in range(8)})
    assert repo._link is None  # type: ignore[attr-defined]


# ----------------------------------------------------------------------- through mlflow server
def _committers_of(store_path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"artifactstore.committer" in argv and any(str(store_path).encode() in arg for arg in argv) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_an_mlflow_server_with_four_workers_commits_through_it_and_leaves_no_process_behind(tmp_path: Path) -> None:
    from e2e_servers import ServerSpec, mlflow_servers
    from mlflow import MlflowClient

    store_path = tmp_path / "served"
    uri = f"artifactstore+git://{store_path}"
    artifactstore.open(uri, create=True).close()
    args = ["--artifacts-destination", uri, "--backend-store-uri", f"sqlite:///{tmp_path}/m.db", "--workers", "4"]
    with mlflow_servers([ServerSpec(args, name="committer")], workdir=tmp_path, entry_points=None) as [server]:
        client = MlflowClient(tracking_uri=server.url)
        experiment = client.create_experiment("handover")
        payloads = tmp_path / "payloads"
        payloads.mkdir()

        def client_run(number: int) -> tuple[str, dict[str, bytes]]:
            run_id = client.create_run(experiment).info.run_id
            sent = {}
            for index in range(12):
                local = payloads / f"c{number}-{index}.txt"
                local.write_bytes(os.urandom(10_000))
                client.log_artifact(run_id, str(local))
                sent[f"{experiment}/{run_id}/artifacts/{local.name}"] = local.read_bytes()
            return run_id, sent

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(client_run, range(16)))
        started = _committers_of(store_path)
        assert len(started) == 1, f"expected one committing process, found {started}\n{server.log_text()}"
        # Stop the server the way a user does (SIGTERM to the server, not to the whole group).
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=WAIT)
        _wait_for(lambda: not _committers_of(store_path), "the committing process to exit with the server", timeout=15)
        server_log = server.log_path.read_text()
    stopped = re.search(r"stopped committing for \S+ after (\d+) commits", server_log)
    assert stopped is not None, server_log[-4000:]
    assert int(stopped.group(1)) > 0, "overlapping uploads should have been committed by the committing process"
    sent = {path: data for _, files in results for path, data in files.items()}
    with artifactstore.open(uri) as store:
        assert {path: store.read_bytes(path) for path in sent} == sent
        assert sum(1 for _ in store.log()) == len(sent), "one commit per acknowledged upload"
        assert store.fsck().ok
