from __future__ import annotations

from pathlib import Path

import pytest

import artifactstore
from artifactstore import uri as uri_module
from artifactstore.errors import (
    BackendUnavailable,
    ConfigError,
    InvalidPath,
    InvalidRefName,
    InvalidRevision,
    InvalidURI,
    UnknownBackend,
)
from artifactstore.registry import get_registry
from artifactstore.uri import StoreURI, locate, parse_uri


def test_memory_uri_forms() -> None:
    assert parse_uri("artifactstore+memory://demo") == parse_uri("artifactstore+memory://demo/")
    u = locate(parse_uri("artifactstore+memory://demo/1/abc/artifacts"))
    assert (u.backend, u.location, u.branch, u.path) == ("memory", "demo", None, "1/abc/artifacts")
    u = parse_uri("artifactstore+memory://demo@exp-1/1/abc/artifacts")
    assert (u.location, u.branch, u.path) == ("demo", "exp-1", "1/abc/artifacts")
    assert locate(u) is u  # with '@' the syntax says where the store ends


def test_parse_uri_loads_no_plugin_and_asks_no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("parse_uri asked the plugin registry")

    monkeypatch.setattr(uri_module, "get_registry", refuse)
    u = parse_uri("artifactstore+nosuch:///srv/store/1/run/artifacts")
    assert (u.backend, u.location, u.revision, u.path, u.located) == ("nosuch", "/srv/store/1/run/artifacts", None, "", False)
    u = parse_uri("artifactstore+nosuch:///srv/store@v1~2/a")
    assert (u.location, u.revision, u.path, u.located) == ("/srv/store", "v1~2", "a", True)


def test_the_revision_after_the_marker_is_any_revision_and_writers_require_a_branch() -> None:
    for revision in ("exp%2F1", "v1", "3f9d90f2", "main~1", "main%7E2", "main^"):
        assert parse_uri(f"artifactstore+memory://demo@{revision}/a").path == "a"
    assert parse_uri("artifactstore+memory://demo@main%7E2").revision == "main~2"
    assert parse_uri("artifactstore+memory://demo@v1").branch == "v1"
    with pytest.raises(InvalidRefName, match="writes need a branch name after '@'"):
        _ = parse_uri("artifactstore+memory://demo@main~1").branch
    store = artifactstore.open("artifactstore+memory://uri-tags")
    store.put_bytes("a", b"a")
    store.create_tag("v1")
    assert StoreURI("memory", "uri-tags").write_branch(store) == "main"
    assert StoreURI("memory", "uri-tags", "exp").write_branch(store) == "exp"
    with pytest.raises(InvalidRefName, match="tags never move"):
        StoreURI("memory", "uri-tags", "v1").write_branch(store)


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
    with pytest.raises(InvalidRevision, match="bad..branch"):
        parse_uri("artifactstore+memory://demo@bad..branch")
    with pytest.raises(InvalidPath):
        parse_uri("artifactstore+memory://demo@main/a/../b")
    with pytest.raises(InvalidPath):
        locate(parse_uri("artifactstore+memory://demo/a/../b"))
    with pytest.raises(InvalidURI, match="names no store location"):
        parse_uri("artifactstore+memory:///")


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
        locate(parse_uri("artifactstore+nosuch://x"))


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
    prod, located = artifactstore.open_with_path("artifactstore://models/sub/dir")
    assert prod.uri == "artifactstore+memory://named-prod@release"
    assert prod.default_branch == "release"
    assert located.path == "sub/dir"
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
