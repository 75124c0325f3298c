"""The MLflow UI's file downloads, streamed from the store (part of the ``artifactstore`` app).

The UI reads files through three Flask routes of MLflow's: ``/get-artifact`` (a run's files),
``/model-versions/get-artifact`` (a registered model version's) and
``/ajax-api/2.0/mlflow/logged-models/<model_id>/artifacts/files`` (a LoggedModel's); its
previews and its download button use them. MLflow's handlers send a file the repository names
on disk; any other they first copy whole into ``$TMPDIR``. The copy then goes out through
Starlette's WSGI bridge, which queues the body in memory without bound when the browser reads
slower than the disk: a multi-GB model downloaded from the UI of a xet store waited for the
copy before its first byte, took its size in temporary disk, and could take it in memory too.

In the ``artifactstore`` app an ASGI route answers these paths first. When the file is in an
artifactstore repository - proxied (``mlflow-artifacts:`` locations), or direct (an experiment
whose artifact location is an ``artifactstore+...`` URI) - it is streamed from the store as it
is read, with backpressure, a ``Content-Length``, its SHA-256 checked on the way as in
:mod:`.app`, and MLflow's headers (``Content-Type`` from the name, ``Content-Disposition:
attachment``, ``X-Content-Type-Options: nosniff``, ``Cache-Control: no-cache``). The file's
SHA-256 is its ``ETag``, so a preview the browser has is revalidated with a ``304``; a byte
range (the UI's PDF viewer asks for them) and a ``HEAD`` are answered from the store too (see
:mod:`.responses`), where MLflow's handler copies the whole file for each.

Everything else goes to MLflow's Flask app unchanged: another artifact repository, a
directory, ``--artifacts-only``, and every error (a missing run, model, parameter or file),
which MLflow's handler meets again and answers its own way.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from .repository import ArtifactStoreRepository
from .responses import file_response, require_mlflow_helpers

log = logging.getLogger(__name__)

#: Where a route's file lives: (artifact location URI, path under it) from the query and path parameters.
Locate = Callable[[Mapping[str, str], Mapping[str, str]], tuple[str, str]]
ASGIApp = Callable[..., Any]


def _run_file(query: Mapping[str, str], _params: Mapping[str, str]) -> tuple[str, str]:
    from mlflow.server import handlers

    run_id = query.get("run_id") or query.get("run_uuid")
    return handlers._get_tracking_store().get_run(run_id).info.artifact_uri, query["path"]  # type: ignore[no-untyped-call]


def _model_version_file(query: Mapping[str, str], _params: Mapping[str, str]) -> tuple[str, str]:
    from mlflow.server import handlers

    store = handlers._get_model_registry_store()
    location = store.get_model_version_download_uri(query["name"], query["version"])  # type: ignore[no-untyped-call]
    return location, query["path"]


def _logged_model_file(query: Mapping[str, str], params: Mapping[str, str]) -> tuple[str, str]:
    from mlflow.server import handlers

    model = handlers._get_tracking_store().get_logged_model(params["model_id"])
    return model.artifact_location, query["artifact_file_path"]


#: The Flask routes MLflow's UI downloads files through, and how each finds its file.
UI_ROUTES: tuple[tuple[str, Locate], ...] = (
    ("/get-artifact", _run_file),
    ("/model-versions/get-artifact", _model_version_file),
    ("/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files", _logged_model_file),
)


def _ours(location: str) -> bool:
    """Whether ``location`` is a URI of one of our schemes (``artifactstore``, ``artifactstore+<backend>``)."""
    scheme = location.partition(":")[0].lower()
    return scheme == "artifactstore" or scheme.startswith("artifactstore+")


class UIDownload:
    """One UI download route (an ASGI app): a file of an artifactstore repository, streamed;
    anything else passed to ``fallback``, MLflow's Flask app."""

    def __init__(self, locate: Locate, fallback: ASGIApp) -> None:
        self.locate = locate
        self.fallback = fallback

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request

        response = None
        if scope["method"] in ("GET", "HEAD"):
            response = await run_in_threadpool(self.prepare, Request(scope))
        await (response or self.fallback)(scope, receive, send)

    def prepare(self, request: Any) -> Any:
        """Our response for ``request`` (a Starlette ``Request``), or ``None`` to let MLflow's handler answer it."""
        from mlflow.exceptions import MlflowException
        from mlflow.server import handlers
        from mlflow.server.constants import ARTIFACTS_ONLY_ENV_VAR
        from mlflow.utils.uri import validate_path_is_safe

        if os.environ.get(ARTIFACTS_ONLY_ENV_VAR):
            return None  # MLflow's handler answers 503
        try:  # MLflow's own lookups, as its handler makes them
            location, relative = self.locate(request.query_params, request.path_params)
            relative = validate_path_is_safe(relative)  # type: ignore[no-untyped-call]
            if handlers._is_servable_proxied_run_artifact_root(location):  # type: ignore[no-untyped-call]
                repo = handlers._get_artifact_repo_mlflow_artifacts()  # type: ignore[no-untyped-call]
                path = handlers._get_proxied_run_artifact_destination_path(location, relative)  # type: ignore[no-untyped-call]
                path = handlers._get_workspace_scoped_repo_path_if_enabled(path)
            elif _ours(location):
                repo = handlers._get_artifact_repository_for_uri(location)
                path = relative
            else:
                return None  # (without building that location's repository twice)
        except Exception as exc:  # a missing run or parameter...: MLflow's handler meets it again and answers
            log.debug("a UI download left to MLflow's handler: %r", exc)
            return None
        if not isinstance(repo, ArtifactStoreRepository) or path is None:
            return None
        try:
            opened = repo.open_artifact(path)
        except MlflowException as exc:  # a missing file: MLflow's handler answers its 404
            log.debug("a UI download left to MLflow's handler: %s", exc)
            return None
        if opened is None:  # a directory
            return None
        no_cache = {"Cache-Control": "no-cache"}
        return file_response(opened, posixpath.basename(path), request.headers, head=request.method == "HEAD", extra=no_cache)


#: MLflow's private helpers :meth:`UIDownload.prepare` uses, checked when the app is built.
_HELPERS = (
    "_get_tracking_store",
    "_get_model_registry_store",
    "_is_servable_proxied_run_artifact_root",
    "_get_artifact_repo_mlflow_artifacts",
    "_get_proxied_run_artifact_destination_path",
    "_get_workspace_scoped_repo_path_if_enabled",
    "_get_artifact_repository_for_uri",
    "_add_static_prefix",
)


def ui_download_routes(mlflow_routes: list[Any]) -> list[Any]:
    """A Starlette route for each of :data:`UI_ROUTES` (under MLflow's ``--static-prefix``), each
    falling back to the Flask app that ``mlflow_routes`` (MLflow's FastAPI routes) mount at ``/``.

    Raises ``ImportError`` or ``AttributeError`` when this MLflow lacks a helper the routes use, and
    ``LookupError`` when it mounts no Flask app at ``/``.
    """
    from mlflow.server import handlers
    from starlette.routing import Mount, Route

    require_mlflow_helpers()
    missing = [name for name in _HELPERS if not hasattr(handlers, name)]
    if missing:
        raise AttributeError(f"mlflow.server.handlers has no {', '.join(missing)}")
    flask = [route.app for route in mlflow_routes if isinstance(route, Mount) and route.path == ""]
    if not flask:
        raise LookupError("MLflow's FastAPI app mounts no Flask app at /")
    prefixed = handlers._add_static_prefix
    return [Route(prefixed(path), UIDownload(locate, flask[0]), methods=["GET"]) for path, locate in UI_ROUTES]


__all__ = ["UI_ROUTES", "UIDownload", "ui_download_routes"]
