"""A Hypothesis state machine: random operation sequences against the backend and the memory
reference store, which must agree on every result, every error class and every tree.

Keep it fast by default (25 examples of up to 20 steps); raise it with the environment
variable ``ARTIFACTSTORE_CONFORMANCE_PROFILE=thorough`` (200 x 50) or any Hypothesis profile
registered by name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import artifactstore
from artifactstore import (
    AlreadyExists,
    ArtifactStore,
    Conflict,
    Delete,
    HeadMoved,
    InvalidInput,
    InvalidPath,
    InvalidRefName,
    InvalidRevision,
    NotFound,
    Put,
)
from artifactstore.errors import IsADirectory, NotADirectory

from .fixtures import StoreFixtures
from .helpers import StoreFactory

PROFILE_ENV = "ARTIFACTSTORE_CONFORMANCE_PROFILE"
settings.register_profile(
    "artifactstore-fast",
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    database=None,  # the suite runs from any directory; never leave a .hypothesis/ behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "artifactstore-thorough",
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    database=None,  # the suite runs from any directory; never leave a .hypothesis/ behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Few names, so that random sequences collide: file/dir clashes, case clashes, overwrites.
PATHS = st.sampled_from(["a", "b", "A", "d/x", "d/y", "d/e/z", "D/x", "d", "a/q", "\u00e9/\u00fc"])
CONTENTS = st.sampled_from([b"", b"1", b"2", b"long " * 40])
BRANCHES = st.sampled_from(["main", "b1", "b2"])
REVS = st.sampled_from(["main", "b1", "b2", "main~1", "b1~2", "t1"])
# Most specific first: an outcome is compared by the first class it is an instance of.
ERROR_KINDS: tuple[type[BaseException], ...] = (
    HeadMoved,
    Conflict,
    InvalidPath,
    InvalidRefName,
    InvalidRevision,
    InvalidInput,
    AlreadyExists,
    NotFound,
    NotADirectory,
    IsADirectory,
)


def profile_settings() -> settings:
    """The Hypothesis settings named by ``$ARTIFACTSTORE_CONFORMANCE_PROFILE`` (default ``fast``)."""
    name = os.environ.get(PROFILE_ENV, "fast")
    if name in ("fast", "thorough"):
        name = f"artifactstore-{name}"
    return settings.get_profile(name)


def open_reference() -> ArtifactStore:
    """A fresh in-memory reference store."""
    return artifactstore.open(f"artifactstore+memory://conformance-reference-{uuid.uuid4().hex}", create=True)


def outcome(action: Callable[[ArtifactStore], Any], store: ArtifactStore) -> tuple[str, Any]:
    try:
        return "ok", action(store)
    except ERROR_KINDS as exc:
        kind = next(k for k in ERROR_KINDS if isinstance(exc, k))
        return "error", kind.__name__


def files_of(store: ArtifactStore, rev: str) -> list[tuple[str, int | None, str | None]]:
    return [(e.path, e.size, e.sha256) for e in store.list("", rev=rev, recursive=True)]


def build_machine(subject_factory: StoreFactory, reference_factory: StoreFactory) -> type[RuleBasedStateMachine]:
    """A state machine class whose every example compares a fresh subject with a fresh reference."""

    class StoreAgreement(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.subject = subject_factory()
            self.reference = reference_factory()
            self.both(lambda s: len(s.put_bytes("seed", b"seed").parents))

        def both(self, action: Callable[[ArtifactStore], Any]) -> Any:
            expected = outcome(action, self.reference)
            got = outcome(action, self.subject)
            assert got == expected, f"backend gave {got}, the memory reference {expected}"
            return got[1]

        @rule(path=PATHS, data=CONTENTS, branch=BRANCHES)
        def put(self, path: str, data: bytes, branch: str) -> None:
            self.both(lambda s: len(s.put_bytes(path, data, branch=branch).parents))

        @rule(path=PATHS, branch=BRANCHES)
        def delete(self, path: str, branch: str) -> None:
            self.both(lambda s: len(s.delete(path, branch=branch).parents))

        @rule(ops=st.lists(st.tuples(st.booleans(), PATHS, CONTENTS), min_size=1, max_size=4), branch=BRANCHES)
        def commit(self, ops: list[tuple[bool, str, bytes]], branch: str) -> None:
            changes = [Put(p, d) if is_put else Delete(p) for is_put, p, d in ops]
            self.both(lambda s: len(s.commit(changes, branch=branch).parents))

        @rule(name=BRANCHES, rev=REVS)
        def create_branch(self, name: str, rev: str) -> None:
            self.both(lambda s: s.create_branch(name, rev=rev) == s.resolve(rev))

        @rule(name=BRANCHES)
        def delete_branch(self, name: str) -> None:
            self.both(lambda s: s.delete_branch(name))

        @rule(rev=REVS)
        def tag(self, rev: str) -> None:
            self.both(lambda s: s.create_tag("t1", rev=rev) == s.resolve(rev))

        @rule(source=REVS, into=BRANCHES)
        def merge(self, source: str, into: str) -> None:
            self.both(lambda s: len(s.merge(source, into=into).parents))

        @rule(path=PATHS, rev=REVS)
        def read(self, path: str, rev: str) -> None:
            self.both(lambda s: s.read_bytes(path, rev=rev))

        @rule(path=st.sampled_from(["", "d", "D", "d/e", "a"]), rev=REVS, recursive=st.booleans())
        def list(self, path: str, rev: str, recursive: bool) -> None:
            self.both(lambda s: [(e.path, e.kind, e.size, e.sha256) for e in s.list(path, rev=rev, recursive=recursive)])

        @rule(rev=REVS, path=st.sampled_from([None, "a", "d", "d/x"]))
        def log_length(self, rev: str, path: str | None) -> None:
            self.both(lambda s: sum(1 for _ in s.log(rev, path=path)))

        @rule(a=REVS, b=REVS)
        def diff(self, a: str, b: str) -> None:
            self.both(lambda s: [(c.kind, c.path) for c in s.diff(a, b)])

        @invariant()
        def same_branches_and_trees(self) -> None:
            names = sorted(self.reference.branches())
            assert sorted(self.subject.branches()) == names
            assert sorted(self.subject.tags()) == sorted(self.reference.tags())
            for name in names:
                assert files_of(self.subject, name) == files_of(self.reference, name), name
                assert len(list(self.subject.log(name))) == len(list(self.reference.log(name))), name

        def teardown(self) -> None:
            self.reference.close()

    return StoreAgreement


class StateMachineTests(StoreFixtures):
    """Random sequences of operations give the same results on the backend as on MemoryStore."""

    def test_backend_agrees_with_the_memory_reference(self, store_factory: StoreFactory) -> None:
        machine = build_machine(store_factory, open_reference)
        run_state_machine_as_test(machine, settings=profile_settings())


__all__ = ["PROFILE_ENV", "StateMachineTests", "build_machine", "open_reference"]
