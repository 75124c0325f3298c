"""Fixtures for the history tests: a fresh store of every installed backend, and a clock seam.

Stores come from each backend's conformance target (``session()`` once per module and
backend: s3 starts its local S3-protocol server there). A backend that is not installed is
skipped with the reason shown.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

import artifactstore
import artifactstore.engine.commits as engine_commits
from artifactstore.conformance_target import ConformanceTarget
from artifactstore.fs import register_all
from artifactstore.registry import get_registry, reset_registry

BACKENDS = ("memory", "git", "s3", "xet")

# Until the fsspec.specs entry points are in pyproject.toml, register the schemes here.
register_all()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, ConformanceTarget]]:
    reset_registry()
    name = request.param
    if name not in get_registry().backends():
        pytest.skip(f"backend {name!r} is not installed (pip install artifactstore-{name})")
    target = get_registry().conformance_target(name)
    with target.session():
        yield name, target


@pytest.fixture
def store_uri(backend: tuple[str, ConformanceTarget], tmp_path: Path) -> str:
    return backend[1].new_store_uri(tmp_path)


@pytest.fixture
def store(store_uri: str) -> Iterator[artifactstore.ArtifactStore]:
    opened = artifactstore.open(store_uri)
    yield opened
    opened.close()
    # fsspec caches filesystem instances (and the stores they opened) per scheme.
    for scheme in ("artifactstore+memory", "artifactstore+git", "artifactstore+s3", "artifactstore+xet"):
        fs = fsspec.filesystem(scheme)
        fs.close_stores()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float | None], None]:
    """``clock(t)`` makes the commit engine stamp commits with time ``t``; ``clock(None)`` restores it.

    The engine is our own seam: only its idea of "now" for commit times changes; ports, files
    and gc keep the real clock.
    """

    def set_time(when: float | None) -> None:
        if when is None:
            monkeypatch.setattr(engine_commits, "time", time)
            return
        fake = types.ModuleType("time")
        fake.__dict__.update(time.__dict__)
        fake.time = lambda: when  # type: ignore[attr-defined]
        monkeypatch.setattr(engine_commits, "time", fake)

    return set_time
