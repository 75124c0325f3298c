"""The pluggy plugin module listed under the ``artifactstore`` entry-point group."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from artifactstore import hookimpl

if TYPE_CHECKING:
    from artifactstore import ArtifactStore, ConformanceTarget


@hookimpl
def artifactstore_register_backends(register: Callable[[type[ArtifactStore]], None]) -> None:
    from .store import S3Store

    register(S3Store)


@hookimpl
def artifactstore_conformance_targets(register: Callable[[str, ConformanceTarget], None]) -> None:
    from .conformance import S3ConformanceTarget

    register("s3", S3ConformanceTarget())
