"""MLflow integration: every artifactstore backend as an MLflow artifact repository.

Each backend distribution registers its ``artifactstore+<backend>`` scheme under MLflow's
``mlflow.artifact_repository`` entry-point group, pointing at
:class:`ArtifactStoreRepository`; the core registers ``artifactstore+memory`` and the
named-store scheme ``artifactstore``. Then, unchanged MLflow commands use the store::

    mlflow server --artifacts-destination artifactstore+git:///srv/artifacts@main
    mlflow server --default-artifact-root artifactstore+git:///srv/artifacts --no-serve-artifacts

Every logged artifact becomes a commit whose message names the experiment, the run (or
logged model, or trace) and the path; deletes are commits too, so history keeps them.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Importing MLflow's artifact repository registry loads every entry point of the
    # "mlflow.artifact_repository" group, ours included, while this package is still being
    # imported; answering the attribute lazily lets that load succeed instead of failing
    # with "partially initialized module" and leaving our schemes unregistered.
    if name == "ArtifactStoreRepository":
        from .repository import ArtifactStoreRepository

        return ArtifactStoreRepository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    import mlflow.store.artifact.artifact_repository_registry  # noqa: F401 - see __getattr__
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"artifactstore.mlflow needs MLflow ({exc}); install it with: pip install 'mlflow>=3,<4'"
    ) from exc

from .repository import ArtifactStoreRepository  # noqa: E402

__all__ = ["ArtifactStoreRepository"]
