"""The ``artifactstore`` MLflow app: where its download routes sit among MLflow's.

What the route answers is tested end to end against real servers (test_e2e_xet.py, and the
git branch server of test_e2e_git.py); these tests only look at the app object.
"""

from __future__ import annotations

import logging

import pytest
from mlflow.server import (
    artifact_router,  # the module MLflow's download route lives in
    handlers,  # the module of MLflow's Flask handlers
)
from starlette.routing import Mount

from artifactstore.mlflow import app as app_module
from artifactstore.mlflow import ui_downloads


def _ours(app: object) -> list[tuple[int, str, frozenset[str]]]:
    """(position, path, methods) of every route of ``app`` that our module answers."""
    return [
        (i, route.path, frozenset(route.methods))
        for i, route in enumerate(app.router.routes)  # type: ignore[attr-defined]
        if getattr(getattr(route, "endpoint", None), "__module__", None) == app_module.__name__
    ]


def test_our_download_route_comes_before_mlflows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_MLFLOW_SGI_NAME", "uvicorn")
    # Starlette answers with the first matching route: ours come before every route (and
    # included router) MLflow registered, its own download route among them.
    expected = [(i, path, frozenset({"GET", "HEAD"})) for i, path in enumerate(app_module.ROUTES)]
    assert _ours(app_module.create_app()) == expected


def _ui(app: object) -> list[tuple[int, str]]:
    """(position, path) of every UI download route of ``app``."""
    routes = app.router.routes  # type: ignore[attr-defined]
    return [(i, route.path) for i, route in enumerate(routes) if isinstance(getattr(route, "app", None), ui_downloads.UIDownload)]


def test_the_uis_download_routes_come_before_mlflows_flask_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_MLFLOW_SGI_NAME", "uvicorn")
    monkeypatch.setenv(handlers.STATIC_PREFIX_ENV_VAR, "/mlflow")  # mlflow server --static-prefix /mlflow
    app = app_module.create_app()
    routes = app.router.routes
    [(flask_at, flask)] = [(i, r) for i, r in enumerate(routes) if isinstance(r, Mount) and r.path == ""]
    ui = _ui(app)
    assert [path for _, path in ui] == ["/mlflow" + path for path, _ in ui_downloads.UI_ROUTES]
    assert all(i < flask_at for i, _ in ui)
    # Whatever they do not answer goes to that Flask app.
    assert {routes[i].app.fallback for i, _ in ui} == {flask.app}


def test_an_mlflow_without_the_uis_helpers_keeps_its_ui_routes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("_MLFLOW_SGI_NAME", "uvicorn")
    monkeypatch.delattr(handlers, "_get_proxied_run_artifact_destination_path")
    with caplog.at_level(logging.WARNING, logger=app_module.__name__):
        app = app_module.create_app()
    assert _ui(app) == []
    assert "_get_proxied_run_artifact_destination_path" in caplog.text
    assert len(_ours(app)) == len(app_module.ROUTES)  # the artifact download route stays


def test_an_mlflow_without_the_native_route_keeps_its_own_app(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("_MLFLOW_SGI_NAME", "uvicorn")
    monkeypatch.delattr(artifact_router, "_get_artifact_repo")  # as in an MLflow that has no such helper
    with caplog.at_level(logging.WARNING, logger=app_module.__name__):
        app = app_module.create_app()
    assert _ours(app) == []
    assert "downloads use MLflow's" in caplog.text


def test_flask_servers_get_mlflows_flask_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.server import app as flask_app

    monkeypatch.setenv("_MLFLOW_SGI_NAME", "gunicorn")
    assert app_module.create_app() is flask_app
