"""``artifactstore conformance``: run the shared conformance suite against a backend."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import click

from ..registry import get_registry
from ._app import main
from ._common import CommandError, binary_stdout, reports_errors

SUITE = "artifactstore_conformance.generic"
PLUGIN = "artifactstore_conformance"
INSTALL_HINT = "pip install artifactstore-conformance"


def pytest_command(backend: str, uri: str | None, extra: tuple[str, ...], *, color: bool) -> list[str]:
    """The pytest command line that runs the suite (public so tests and docs can show it)."""
    # "-p <entry-point name>" loads the plugin even with PYTEST_DISABLE_PLUGIN_AUTOLOAD set, and
    # counts as that entry point, so an installed suite is not registered twice (which
    # "-p artifactstore_conformance.plugin" would be: pytest then stops with a ValueError).
    command = [sys.executable, "-m", "pytest", "-p", PLUGIN, "--pyargs", SUITE, "--artifactstore-backend", backend]
    if uri:
        command += ["--artifactstore-uri", uri]
    # No .pytest_cache in whatever directory the user happens to be in.
    command += ["-p", "no:cacheprovider", f"--color={'yes' if color else 'no'}"]
    return command + list(extra)


@main.command(context_settings={"ignore_unknown_options": True}, short_help="Run the conformance suite on a backend.")
@click.option("--backend", required=True, metavar="NAME", help="Installed backend to test (see 'artifactstore backends').")
@click.option("--uri", metavar="URI", help="Where the suite may create stores (e.g. an S3 bucket prefix).")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED, metavar="[PYTEST ARGS]...")
@reports_errors
def conformance(backend: str, uri: str | None, pytest_args: tuple[str, ...]) -> None:
    """Run the shared conformance suite against backend NAME through pytest.

    Extra arguments go to pytest (put them after "--", e.g. "-- -x -k merge"). Prints
    pytest's output and summary; the exit code is pytest's.
    """
    for module in ("artifactstore_conformance", "pytest"):
        if importlib.util.find_spec(module) is None:
            raise CommandError(f"the conformance suite is not installed (no module {module!r}); install it with: {INSTALL_HINT}")
    get_registry().backend(backend)  # an unknown or unloadable backend fails here, with the install hint
    color = sys.stdout.isatty()
    command = pytest_command(backend, uri, pytest_args, color=color)
    # Relay pytest's output through click so it lands wherever our stdout goes (and in CliRunner).
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        out = binary_stdout()
        for line in process.stdout:
            out.write(line)
            out.flush()
        returncode = process.wait()
    click.get_current_context().exit(returncode)


__all__ = ["conformance", "pytest_command"]
