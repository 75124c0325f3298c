from __future__ import annotations

from pathlib import Path

import pytest

import artifactstore
from artifactstore.errors import BackendUnavailable, ConfigError, InvalidPath, InvalidRefName, InvalidURI, UnknownBackend
from artifactstore.registry import get_registry
from artifactstore.uri import parse_uri


def test_memory_uri_forms() -> None:
    assert parse_uri("artifactstore+memory://demo") == parse_uri("artifactstore+memory://demo/")
    u = parse_uri("artifactstore+memory://demo/1/abc/artifacts")
    assert (u.backend, u.location, u.branch, u.path) == ("memory", "demo", None, "1/abc/artifacts")
    u = parse_uri("artifactstore+memory://demo@exp-1/1/abc/artifacts")
    assert (u.location, u.branch, u.path) == ("demo", "exp-1", "1/abc/artifacts")


def test_branch_with_slash_is_percent_encoded_and_nothing_else_is_decoded() -> None:
    u = parse_uri("artifactstore+memory://demo@exp%2F1/a%2Fb")
    assert u.branch == "exp/1"
    assert u.path == "a%2Fb"


def test_mlflow_rewritten_form_resolves_to_the_same_store() -> None:
    # MLflow turns scheme:///path into scheme:/path when it appends run paths.
    a = parse_uri("artifactstore+memory:///x")
    b = parse_uri("artifactstore+memory:/x")
    assert a == b


def test_bad_uris_are_named() -> None:
    with pytest.raises(InvalidURI, match="not an artifactstore URI"):
        parse_uri("s3://bucket/x")
    with pytest.raises(InvalidRefName):
        parse_uri("artifactstore+memory://demo@bad..branch")
    with pytest.raises(InvalidPath):
        parse_uri("artifactstore+memory://demo/a/../b")


@pytest.mark.parametrize(
    "uri",
    ["artifactstore+git:///{tmp}/store?fsync=false", "artifactstore+git:///{tmp}/store?x@main/a", "artifactstore+memory://demo?x=1"],
)
def test_a_query_string_is_refused_not_made_part_of_the_store_name(uri: str, tmp_path: Path) -> None:
    uri = uri.format(tmp=tmp_path)
    with pytest.raises(InvalidURI, match=r"'\?' in its store location .* no query string; give store options as keyword"):
        artifactstore.open(uri, create=True)
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_a_question_mark_inside_the_store_is_an_ordinary_path_character() -> None:
    assert parse_uri("artifactstore+memory://demo@main/what?.txt").path == "what?.txt"


def test_unknown_backend_lists_installed_ones() -> None:
    with pytest.raises(UnknownBackend, match="installed backends: .*memory"):
        parse_uri("artifactstore+nosuch://x")


def test_known_but_missing_backend_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = get_registry()
    registry.backends()
    monkeypatch.delitem(registry._backends, "s3", raising=False)
    monkeypatch.delitem(registry._failed, "s3", raising=False)
    with pytest.raises(BackendUnavailable, match="pip install artifactstore-s3"):
        registry.backend("s3")


def test_named_stores_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        """
[stores.models]
uri = "artifactstore+memory://named-dev"
[stores.models.environments.prod]
uri = "artifactstore+memory://named-prod@release"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(config))
    monkeypatch.delenv("ARTIFACTSTORE_ENV", raising=False)
    dev = artifactstore.open("models")
    assert dev.uri == "artifactstore+memory://named-dev"
    monkeypatch.setenv("ARTIFACTSTORE_ENV", "prod")
    prod, path = artifactstore.open_with_path("artifactstore://models/sub/dir")
    assert prod.uri == "artifactstore+memory://named-prod@release"
    assert prod.default_branch == "release"
    assert path == "sub/dir"
    with pytest.raises(ConfigError, match="no store named 'nope'"):
        artifactstore.open("nope")


def test_missing_config_file_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="absent.toml"):
        artifactstore.open("models")


def test_registry_follows_the_plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTSTORE_PLUGINS", "")
    assert list(get_registry().backends()) == ["memory"]
    monkeypatch.setenv("ARTIFACTSTORE_PLUGINS", "git")
    assert list(get_registry().backends()) == ["git", "memory"]
