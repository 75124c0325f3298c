"""Group commit: threads committing to one branch share one object batch and one ref swap."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from artifactstore.backends.memory import MemoryStore
from artifactstore.errors import Conflict, HeadMoved, InvalidPath, NotADirectory
from artifactstore.values import Commit


@pytest.fixture
def store(request: pytest.FixtureRequest) -> MemoryStore:
    return MemoryStore(f"group-{request.node.name}", inline_threshold=64)


def _count_swaps(store: MemoryStore, delay: float = 0.0) -> list[int]:
    swaps = [0]
    original = store.refs.compare_and_swap

    def counting(name: str, old: bytes | None, new: bytes | None) -> bool:
        swaps[0] += 1
        time.sleep(delay)  # a slow ref swap, as on a disk or S3: waiting threads pile up
        return original(name, old, new)

    store.refs.compare_and_swap = counting  # type: ignore[method-assign]
    return swaps


def _run_held(store: MemoryStore, jobs: list[Callable[[], object]]) -> list[object]:
    """Start ``jobs`` while the branch's leader lock is held, so that one batch takes them all."""
    queue = store._queue("refs/heads/main")
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            results[i] = jobs[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    with queue._leader:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(queue._waiting) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(queue._waiting) == len(jobs)
    for t in threads:
        t.join(10)
    return results


def test_many_threads_lose_no_commit_and_share_ref_swaps(store: MemoryStore) -> None:
    store.put_bytes("seed", b"0")
    swaps = _count_swaps(store, delay=0.002)
    threads, per_thread = 8, 25

    def writer(w: int) -> None:
        for i in range(per_thread):
            store.put_bytes(f"w{w}/{i:03d}.txt", f"{w}-{i}".encode(), message=f"writer {w} commit {i}")

    workers = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    log = list(store.log())
    assert len(log) == threads * per_thread + 1
    assert all(len(c.parents) == 1 for c in log[:-1]), "group commits must form one linear chain"
    expected = sorted(f"writer {w} commit {i}" for w in range(threads) for i in range(per_thread))
    assert sorted(c.message for c in log[:-1]) == expected
    assert store.read_bytes("w7/024.txt") == b"7-24"
    assert len(store.list(recursive=True)) == threads * per_thread + 1
    assert swaps[0] < threads * per_thread, "no two commits ever shared a ref swap"


def test_a_batch_is_one_swap_and_a_conflicting_request_fails_alone(store: MemoryStore) -> None:
    base = store.put_bytes("seed", b"0")
    swaps = _count_swaps(store)
    results = _run_held(
        store,
        [
            lambda: store.put_bytes("x", b"first", message="x first"),
            lambda: store.put_bytes("x", b"second", message="x second"),
            lambda: store.put_bytes("y", b"y", message="y"),
        ],
    )
    assert swaps[0] == 1
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(failed) == 1 and isinstance(failed[0], Conflict) and "'x'" in str(failed[0])
    log = list(store.log())
    assert len(log) == 3 and log[-1].id == base.id
    x = store.read_bytes("x")
    assert x in (b"first", b"second")
    assert {c.message for c in log[:2]} == {"y", f"x {x.decode()}"}
    assert store.read_bytes("y") == b"y"


def test_expect_head_in_a_batch_holds_for_its_own_request(store: MemoryStore) -> None:
    base = store.put_bytes("seed", b"0")
    results = _run_held(
        store,
        [
            lambda: store.put_bytes("a", b"a", message="a"),
            lambda: store.put_bytes("b", b"b", message="b", expect_head=base.id),
        ],
    )
    # Whichever went first, the other was built on it: an expect_head request that is not
    # first must fail, one that is first must land.
    messages = [c.message for c in store.log()]
    if isinstance(results[1], HeadMoved):
        assert messages == ["a", base.message]
    else:
        assert messages[-1] == base.message and messages[-2] == "b" and messages[0] == "a"


def test_a_request_failing_its_path_check_in_a_batch_writes_nothing(store: MemoryStore) -> None:
    # Small inline files are checked while their commit is built (nothing is stored before),
    # so a bad path surfaces inside the batch: it must fail alone and leave no object behind.
    store.put_bytes("seed", b"0")
    store.put_bytes("dir/file", b"1")
    before = {oid for oid, _ in store.objects.iter_ids()}
    results = _run_held(
        store,
        [
            lambda: store.put_bytes("Dir/other", b"case clash", message="clash"),
            lambda: store.put_bytes("dir/file/below", b"under a file", message="under"),
        ],
    )
    assert all(isinstance(r, InvalidPath | NotADirectory) for r in results), results
    assert "differs only by case" in str(results[0])
    assert {oid for oid, _ in store.objects.iter_ids()} == before
    assert next(c.message for c in store.log()) != "clash"


def test_an_invalid_path_next_to_a_valid_one_in_a_batch_leaves_only_the_valid_commit(store: MemoryStore) -> None:
    store.put_bytes("dir/file", b"1")
    before = {oid for oid, _ in store.objects.iter_ids()}
    results = _run_held(
        store,
        [
            lambda: store.put_bytes("DIR/deep/x", b"bad", message="bad"),
            lambda: store.put_bytes("dir/y", b"good", message="good"),
        ],
    )
    assert isinstance(results[0], InvalidPath)
    good = results[1]
    assert isinstance(good, Commit) and good.message == "good"
    assert store.read_bytes("dir/y") == b"good"
    assert not store.exists("DIR/deep/x")
    # Only the good commit's objects were added: its commit, root tree, "dir" tree and blob
    # (the failed request had built trees for DIR/deep and DIR before its check failed).
    added = {oid for oid, _ in store.objects.iter_ids()} - before
    assert len(added) == 4 and {good.id.encode(), good.tree.encode()} <= added


def test_rebased_requests_read_their_base_before_the_writer_lock(store: MemoryStore) -> None:
    # Other processes wait on the writer lock; the base-tree reads a rebase needs (trees
    # another process wrote, not cached here) happen before it is taken.
    store.put_bytes("seed", b"0")
    seen: list[list[bool]] = []
    original = store.refs.writer_lock
    queue = store._queue("refs/heads/main")

    def spying(name: str):  # type: ignore[no-untyped-def]
        seen.append([r.before is not None for r in pending])
        return original(name)

    pending: list = []
    store.refs.writer_lock = spying  # type: ignore[method-assign]
    real_submit = queue.submit

    def capture(request, commit_batch):  # type: ignore[no-untyped-def]
        pending.append(request)
        return real_submit(request, commit_batch)

    queue.submit = capture  # type: ignore[method-assign]
    results = _run_held(
        store,
        [lambda: store.put_bytes("a", b"a", message="a"), lambda: store.put_bytes("b", b"b", message="b")],
    )
    assert all(isinstance(r, Commit) for r in results), results
    # In one batch: the first request lands on its own head, the second is rebased onto it.
    assert seen == [[False, True]] or seen == [[True, False]]
    assert {c.message for c in list(store.log())[:2]} == {"a", "b"}


def test_a_leader_waiting_for_the_writer_lock_takes_the_requests_that_arrived_meanwhile(store: MemoryStore) -> None:
    # Another process holding the branch's writer lock keeps our leader waiting; requests that
    # queue up meanwhile must go out in the leader's batch, not in one batch each after it.
    store.put_bytes("seed", b"0")
    swaps = _count_swaps(store)
    entered, release = threading.Event(), threading.Event()
    original = store.refs.writer_lock
    queue = store._queue("refs/heads/main")

    @contextlib.contextmanager
    def held_elsewhere(name: str) -> Iterator[None]:
        entered.set()
        assert release.wait(10)
        with original(name):
            yield

    store.refs.writer_lock = held_elsewhere  # type: ignore[method-assign]
    results: dict[str, object] = {}

    def put(name: str) -> None:
        results[name] = store.put_bytes(name, name.encode(), message=f"put {name}")

    leader = threading.Thread(target=put, args=("a",))
    leader.start()
    assert entered.wait(10)
    followers = [threading.Thread(target=put, args=(n,)) for n in ("b", "c")]
    for t in followers:
        t.start()
    deadline = time.monotonic() + 10
    while len(queue._waiting) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(queue._waiting) == 2
    release.set()
    for t in [leader, *followers]:
        t.join(10)
    assert all(isinstance(results[n], Commit) for n in "abc"), results
    assert swaps[0] == 1, "the requests that queued behind the leader took a swap of their own"
    log = list(store.log())
    assert log[2].message == "put a"  # the leader first, then the two it gathered
    assert {c.message for c in log[:3]} == {"put a", "put b", "put c"}
    assert all(len(c.parents) == 1 for c in log[:3])
    assert [store.read_bytes(n) for n in "abc"] == [b"a", b"b", b"c"]
