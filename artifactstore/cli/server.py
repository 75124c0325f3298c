"""``artifactstore server``: an MLflow tracking server whose artifacts go to a store."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ..registry import get_registry
from ..uri import open as open_store
from ..uri import parse_uri
from ._app import main
from ._common import CommandError, reports_errors

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "artifactstore-data"
#: Options of ``mlflow server`` this command sets itself; passing them after ``--`` is an error.
_OWNED_OPTIONS = (
    "--artifacts-destination",
    "--default-artifact-root",
    "--serve-artifacts",
    "--no-serve-artifacts",
    "--host",
    "-h",
    "--port",
    "-p",
    "--workers",
    "-w",
)


#: The app (``mlflow.app`` entry point, :mod:`artifactstore.mlflow.app`) that streams downloads.
STREAMING_APP = "artifactstore"


def default_store_uri(data_dir: Path) -> str:
    """The embedded default store: xet under ``<data_dir>/store``, or git when xet is not installed."""
    backend = "xet" if "xet" in get_registry().backends() else "git"
    return f"artifactstore+{backend}://{(data_dir / 'store').resolve().as_posix()}"


def build_mlflow_command(
    store_uri: str,
    *,
    host: str,
    port: int,
    workers: int,
    backend_store_uri: str | None,
    direct: bool,
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``mlflow server`` command line serving ``store_uri`` (proxied, or direct with ``direct``).

    A proxied server runs the :data:`STREAMING_APP`, which streams downloads from the store
    instead of copying each file to ``$TMPDIR`` first, unless ``extra`` names its own
    ``--app-name`` or asks for ``--dev`` (which MLflow runs with its plain app only).
    """
    command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", str(workers)]
    if backend_store_uri:
        command += ["--backend-store-uri", backend_store_uri]
    if direct:
        command += ["--default-artifact-root", store_uri, "--no-serve-artifacts"]
    else:
        command += ["--serve-artifacts", "--artifacts-destination", store_uri]
        if not any(arg.split("=", 1)[0] in ("--app-name", "--dev") for arg in extra):
            command += ["--app-name", STREAMING_APP]
    return command + list(extra)


@main.command(
    "server",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": False},
)
@click.option(
    "--store",
    "store_uri",
    metavar="URI",
    help="Store for the artifacts (default: a xet store, or git, under --data-dir/store, created if missing).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the default store and the SQLite tracking database live.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Server worker processes (default: 4; 1 for a store that only one process can use, e.g. memory).",
)
@click.option(
    "--direct",
    is_flag=True,
    help="Clients write artifacts to the store themselves (--default-artifact-root, no proxying).",
)
@click.option("--create/--no-create", default=None, help="Create the store if missing (default: only the embedded one).")
@click.argument("mlflow_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- MLFLOW SERVER ARGS...]")
@reports_errors
def server(
    store_uri: str | None,
    data_dir: Path,
    host: str,
    port: int,
    workers: int | None,
    direct: bool,
    create: bool | None,
    mlflow_args: tuple[str, ...],
) -> None:
    """Run an MLflow tracking server whose artifacts are versioned in a store.

    Every artifact logged through the server is a commit (proxied mode, the default:
    `mlflow server --artifacts-destination URI`). Arguments after `--` go to `mlflow server`
    unchanged, e.g. `-- --backend-store-uri postgresql://...`. Without --backend-store-uri,
    runs and metrics go to a SQLite database under --data-dir.
    """
    _check_mlflow_args(mlflow_args)
    embedded = store_uri is None
    if store_uri is None:
        store_uri = default_store_uri(data_dir)
    parsed = parse_uri(store_uri)
    backend = get_registry().backend(parsed.backend)
    _check_mlflow_scheme(store_uri)

    # Open (creating the embedded default) and close again: a store that admits one process
    # at a time (xet) must be free for the server's workers.
    if embedded:
        data_dir.mkdir(parents=True, exist_ok=True)
    with open_store(store_uri, create=embedded if create is None else create) as store:
        log.info("serving %r", store)

    if workers is None:
        workers = 4 if backend.cross_process else 1
    elif workers > 1 and not backend.cross_process:
        raise CommandError(
            f"the {parsed.backend} backend keeps one store per process, so --workers {workers} would give "
            "each worker its own artifacts; use --workers 1 or a persistent backend (git, s3, xet)"
        )

    backend_store_uri = None
    if not any(a == "--backend-store-uri" or a.startswith("--backend-store-uri=") for a in mlflow_args):
        data_dir.mkdir(parents=True, exist_ok=True)
        backend_store_uri = f"sqlite:///{(data_dir / 'mlflow.db').resolve().as_posix()}"

    command = build_mlflow_command(
        store_uri,
        host=host,
        port=port,
        workers=workers,
        backend_store_uri=backend_store_uri,
        direct=direct,
        extra=mlflow_args,
    )
    shown_host = f"[{host}]" if ":" in host else host
    mode = "direct" if direct else "proxied"
    click.echo(f"MLflow tracking server on http://{shown_host}:{port} ({mode}), artifacts in {store_uri}", err=True)
    if backend_store_uri:
        click.echo(f"tracking database: {backend_store_uri}", err=True)
    sys.exit(_run(command))


def _check_mlflow_args(args: Sequence[str]) -> None:
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _OWNED_OPTIONS:
            raise CommandError(f"{name} is set by artifactstore server; use its own option instead of passing it to mlflow")


def _check_mlflow_scheme(store_uri: str) -> None:
    try:
        from mlflow.store.artifact.artifact_repository_registry import get_registered_artifact_repositories
    except ImportError:
        raise CommandError("artifactstore server needs MLflow; install it with: pip install 'mlflow>=3,<4'") from None
    scheme = store_uri.split(":", 1)[0]
    if scheme not in get_registered_artifact_repositories():
        raise CommandError(
            f"MLflow has no artifact repository for scheme {scheme!r}; the distribution providing it must "
            f"declare '{scheme} = \"artifactstore.mlflow:ArtifactStoreRepository\"' under the "
            "'mlflow.artifact_repository' entry-point group (reinstall it)"
        )


def _run(command: list[str]) -> int:
    """Become ``mlflow server``: signals (Ctrl-C, a supervisor's SIGTERM) then reach MLflow directly."""
    if not os.path.exists(command[0]):
        raise CommandError(f"cannot run {command[0]!r}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 1  # pragma: no cover - execv does not return


__all__ = ["build_mlflow_command", "default_store_uri", "server"]
