"""The pluggy plugin module listed under the ``artifactstore`` entry-point group."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from artifactstore import hookimpl

if TYPE_CHECKING:
    from artifactstore import ArtifactStore, ConformanceTarget


@hookimpl
def artifactstore_register_backends(register: Callable[[type[ArtifactStore]], None]) -> None:
    from .store import XetStore

    register(XetStore)


@hookimpl
def artifactstore_conformance_targets(register: Callable[[str, ConformanceTarget], None]) -> None:
    import os

    from .conformance import ENV_CONFORMANCE_CAS, XetConformanceTarget, XetRemoteConformanceTarget

    remote = os.environ.get(ENV_CONFORMANCE_CAS, "").strip().lower() == "server"
    register("xet", XetRemoteConformanceTarget() if remote else XetConformanceTarget())
