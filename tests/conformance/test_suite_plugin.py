"""The suite as a pytest plugin: the generic module runs by --pyargs from anywhere, options are
checked, and a subclass that forgets a fixture is told which one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

QUICK = "test_read_bytes_returns_every_file_as_written or (bad_input and path-a)"


def run_pytest(cwd: Path, *args: str, autoload: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("autoload", [True, False], ids=["autoload", "no-autoload"])
def test_generic_suite_runs_by_pyargs_from_any_directory(tmp_path: Path, autoload: bool) -> None:
    # What `artifactstore conformance --backend memory` runs; tmp_path has no pytest config.
    result = run_pytest(
        tmp_path,
        "-p",
        "artifactstore_conformance",
        "--pyargs",
        "artifactstore_conformance.generic",
        "--artifactstore-backend",
        "memory",
        "-k",
        QUICK,
        autoload=autoload,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert "artifactstore conformance: backend=memory" in result.stdout


def test_unknown_backend_is_a_usage_error_listing_installed_ones(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        "-p",
        "artifactstore_conformance",
        "--pyargs",
        "artifactstore_conformance.generic",
        "--artifactstore-backend",
        "nosuch",
    )
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage-error exit code
    assert "--artifactstore-backend nosuch" in result.stderr
    assert "memory" in result.stderr


def test_generic_suite_without_a_backend_says_how_to_name_one(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "-p", "artifactstore_conformance", "--pyargs", "artifactstore_conformance.generic", "-k", QUICK)
    assert result.returncode != 0
    assert "--artifactstore-backend NAME" in result.stdout + result.stderr


def test_missing_fixtures_raise_override_in_subclass(tmp_path: Path) -> None:
    (tmp_path / "test_forgot.py").write_text(
        textwrap.dedent(
            """
            from artifactstore_conformance import ConformanceSuite

            class TestForgotFixtures(ConformanceSuite):
                pass
            """
        )
    )
    result = run_pytest(
        tmp_path,
        "-p",
        "artifactstore_conformance",
        "test_forgot.py",
        "-k",
        "test_read_bytes_returns_every_file_as_written or test_corrupt_small_blob or test_corrupt_content",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "3 errors" in output
    assert "NotImplementedError: override in subclass: the store_factory fixture" in output
    assert "passed" not in output.splitlines()[-1]


def test_a_subclass_providing_the_fixtures_runs(tmp_path: Path) -> None:
    (tmp_path / "test_custom.py").write_text(
        textwrap.dedent(
            """
            import uuid
            import pytest
            import artifactstore
            from artifactstore_conformance import ReadTests

            class TestCustomStore(ReadTests):
                @pytest.fixture
                def store_factory(self):
                    return lambda: artifactstore.open(f"artifactstore+memory://custom-{uuid.uuid4().hex}")
            """
        )
    )
    result = run_pytest(tmp_path, "-p", "artifactstore_conformance", "test_custom.py", "-rs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "skipped" in output  # the persistent-only test, with its reason
    assert "does not claim capability 'persistent'" in output
