"""``mlflow server --app-name artifactstore``: MLflow's server, with downloads streamed from the store.

MLflow's download route (``GET /api/2.0/mlflow-artifacts/artifacts/<path>``) can send a
file two ways: straight from disk when the repository names a local file
(``get_local_path``), or after downloading the whole artifact into ``$TMPDIR``. A xet or s3
store keeps no plain file to name, so every download through the plain ``mlflow server``
waits for a full temporary copy before its first byte and needs that much temporary disk.

This app is MLflow's own FastAPI app, unchanged, with routes put in front of MLflow's download
routes: the one of MLflow's clients, here, and the UI's three (:mod:`.ui_downloads`). For an
``artifactstore+...`` destination the first answers the download itself:
every file, on every backend, is streamed from the store as it is read, in 1 MiB pieces,
with a ``Content-Length``. The stream checks the file's SHA-256 as it goes; on a mismatch
the last bytes are never sent and the connection is closed, so a client sees a short body,
never a complete wrong one. Git's large files, which MLflow's own route sends from disk
unverified (see :mod:`.serving`), are streamed and verified too, which is also faster than
Starlette's ``FileResponse``, which reads and sends 64 KiB at a time.
Every answer carries the file's SHA-256 as a strong ``ETag``; ``If-None-Match``, one byte range
(resuming a download), and ``HEAD`` are answered from the store without a copy (MLflow's route
copies the whole file into ``$TMPDIR`` for each): see :mod:`.responses`.

A directory is refused with MLflow's own 400 (MLflow's route would copy it and then fail to
send it). Everything else, including every other error answer and any other artifact
destination, is left to MLflow's route. Under gunicorn or waitress (Flask only) MLflow's plain
app is returned. ``artifactstore server`` uses this app unless told ``--app-name``
itself; it is registered as ``artifactstore`` in MLflow's ``mlflow.app`` entry-point group.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request  # at module level: FastAPI resolves the endpoint's annotations here

from .repository import ArtifactStoreRepository
from .responses import file_response, require_mlflow_helpers
from .ui_downloads import ui_download_routes

log = logging.getLogger(__name__)

ROUTES = (
    "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}",
    "/ajax-api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}",
)


def create_app() -> Any:
    """The ASGI (or, outside uvicorn, WSGI) app ``mlflow server --app-name artifactstore`` runs."""
    from mlflow.environment_variables import _MLFLOW_SGI_NAME
    from mlflow.server import app as flask_app

    if _MLFLOW_SGI_NAME.get() not in (None, "uvicorn"):  # type: ignore[no-untyped-call]
        return flask_app  # gunicorn / waitress serve the Flask app, which keeps MLflow's routes
    from mlflow.server.fastapi_app import create_fastapi_app

    app = create_fastapi_app(flask_app)
    existing = list(app.router.routes)
    try:
        route = _download_route()
    except (ImportError, AttributeError) as exc:
        log.warning("this MLflow has no native download route to stand in for (%s); downloads use MLflow's", exc)
        return app
    for path in ROUTES:
        app.router.add_api_route(path, route, methods=["GET", "HEAD"], include_in_schema=False)
    try:
        app.router.routes.extend(ui_download_routes(existing))
    except (ImportError, AttributeError, LookupError) as exc:
        log.warning("the UI's downloads use MLflow's routes: this MLflow lacks what ours build on (%s)", exc)
    # Starlette answers with the first matching route: ours go before every route MLflow registered.
    added = app.router.routes[len(existing) :]
    app.router.routes[:] = [*added, *existing]
    return app


def _download_route() -> Callable[[str, Any], Awaitable[Any]]:
    """The endpoint: answer a file of an artifactstore destination, else defer to MLflow's."""
    from mlflow.server import artifact_router as mlflow_routes
    from mlflow.utils.uri import validate_path_is_safe
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import Response

    mlflow_download = mlflow_routes.download_artifact
    serving = mlflow_routes._is_serving_proxied_artifacts
    scoped = mlflow_routes._get_workspace_scoped_path
    repository = mlflow_routes._get_artifact_repo
    require_mlflow_helpers()

    def prepare(artifact_path: str, request: Request) -> Response | None:
        """Our response for ``artifact_path``, or ``None`` to let MLflow's route answer."""
        from mlflow.exceptions import MlflowException

        if not serving():
            return None
        try:
            path = scoped(validate_path_is_safe(artifact_path))  # type: ignore[no-untyped-call]
            repo = repository()  # type: ignore[no-untyped-call]
            if not isinstance(repo, ArtifactStoreRepository):
                return None
            opened = repo.open_artifact(path)
        except (MlflowException, HTTPException):
            return None  # MLflow's route meets the same error and answers it its way
        if opened is None:  # (MLflow's route would copy the directory and fail sending it)
            raise HTTPException(status_code=400, detail=f"Artifact path refers to a directory, not a file: '{path}'")
        return file_response(opened, os.path.basename(path), request.headers, head=request.method == "HEAD")

    async def download_artifact(artifact_path: str, request: Request) -> Any:
        response = await run_in_threadpool(prepare, artifact_path, request)
        return response if response is not None else await mlflow_download(artifact_path)

    return download_artifact


__all__ = ["create_app"]
