"""log, diff, branch, tag and merge."""

from __future__ import annotations

import json

import pytest

import artifactstore

from .conftest import Invoke


@pytest.fixture
def history(mem_store: artifactstore.ArtifactStore) -> artifactstore.ArtifactStore:
    mem_store.commit([artifactstore.Put("a.txt", b"one"), artifactstore.Put("b.txt", b"bee")], message="first")
    mem_store.put_bytes("a.txt", b"one two", message="second\n\nbody line")
    mem_store.commit([artifactstore.Delete("b.txt"), artifactstore.Put("c/d.txt", b"new")], message="third")
    return mem_store


def test_log_human(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    out = cli("log", history.uri).stdout
    ids = [c.id for c in history.log()]
    assert [line.split()[1] for line in out.splitlines() if line.startswith("commit ")] == ids
    assert "    body line" in out
    assert "Author: " in out and "Date:   " in out


def test_log_oneline_limit_path_and_rev(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    ids = [c.id for c in history.log()]
    assert cli("log", history.uri, "--oneline", "-n", "2").stdout.splitlines() == [f"{ids[0][:12]} third", f"{ids[1][:12]} second"]
    assert [line.split()[0] for line in cli("log", history.uri, "a.txt", "--oneline").stdout.splitlines()] == [
        ids[1][:12],
        ids[2][:12],
    ]
    assert cli("log", history.uri, "-r", "main~2", "--oneline").stdout.split() == [ids[2][:12], "first"]


def test_log_json(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    commits = json.loads(cli("log", history.uri, "--json").stdout)
    assert [c["message"] for c in commits] == ["third", "second\n\nbody line", "first"]
    assert commits[0]["parents"] == [commits[1]["id"]]
    assert commits[2]["parents"] == []
    assert "T" in commits[0]["time"]  # ISO 8601


def test_log_bad_input(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    assert "'nope'" in cli("log", history.uri, "-r", "nope", expect=1).stderr
    assert "-n" in cli("log", history.uri, "-n", "0", expect=2).stderr


def test_diff_human_and_json(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    lines = [line.split() for line in cli("diff", history.uri, "main~2", "main").stdout.splitlines()]
    assert lines == [["M", "a.txt", "3", "->", "7"], ["D", "b.txt", "3"], ["A", "c/d.txt", "3"]]
    changes = json.loads(cli("diff", history.uri, "main~2", "main", "--json").stdout)
    assert [(c["kind"], c["path"]) for c in changes] == [("modified", "a.txt"), ("deleted", "b.txt"), ("added", "c/d.txt")]
    assert changes[0]["old"]["size"] == 3 and changes[0]["new"]["size"] == 7
    assert changes[1]["new"] is None


def test_diff_prefix_and_no_changes(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    assert cli("diff", history.uri, "main~2", "main", "c").stdout.split() == ["A", "c/d.txt", "3"]
    assert cli("diff", history.uri, "main", "main").stdout == ""
    assert json.loads(cli("diff", history.uri, "main", "main", "--json").stdout) == []


def test_diff_bad_revision(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    run = cli("diff", history.uri, "main", "--force", expect=2)  # looks like an option: click rejects it
    assert "--force" in run.stderr
    run = cli("diff", history.uri, "main", "zz..zz", expect=1)
    assert "'zz..zz'" in run.stderr


def test_branch_list_create_delete(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    head = history.resolve()
    assert "created branch exp at" in cli("branch", history.uri, "exp").stdout
    cli("branch", history.uri, "old", "--from", "main~1")
    assert history.branches() == {"main": head, "exp": head, "old": history.resolve("main~1")}
    listing = [line.split() for line in cli("branch", history.uri).stdout.splitlines()]
    assert listing == [["exp", head], ["*", "main", head], ["old", history.resolve("main~1")]]
    data = json.loads(cli("branch", history.uri, "--json").stdout)
    assert {"name": "main", "id": head, "default": True} in data
    assert "deleted branch old" in cli("branch", history.uri, "-d", "old").stdout
    assert "old" not in history.branches()


def test_branch_errors(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    before = history.branches()
    assert "'exp..x'" in cli("branch", history.uri, "exp..x", expect=1).stderr
    assert "'main'" in cli("branch", history.uri, "main", expect=1).stderr  # exists
    assert "'nope'" in cli("branch", history.uri, "-d", "nope", expect=1).stderr
    assert "not both" in cli("branch", history.uri, "x", "-d", "main", expect=2).stderr
    assert "--from" in cli("branch", history.uri, "--from", "main", expect=2).stderr
    assert "'nope'" in cli("branch", history.uri, "x", "--from", "nope", expect=1).stderr
    assert history.branches() == before


def test_tags(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    assert "as v1" in cli("tag", history.uri, "v1").stdout
    cli("tag", history.uri, "v0", "main~2")
    assert history.tags() == {"v1": history.resolve(), "v0": history.resolve("main~2")}
    assert [line.split() for line in cli("tag", history.uri).stdout.splitlines()] == [
        ["v0", history.resolve("main~2")],
        ["v1", history.resolve()],
    ]
    assert json.loads(cli("tag", history.uri, "--json").stdout)[0]["name"] == "v0"
    assert cli("cat", history.uri, "a.txt", "-r", "v0").stdout == "one"
    assert "'v1'" in cli("tag", history.uri, "v1", expect=1).stderr
    cli("tag", history.uri, "-d", "v0")
    assert list(history.tags()) == ["v1"]
    assert "'bad tag'" in cli("tag", history.uri, "bad tag", expect=1).stderr


def test_merge_fast_forward_three_way_and_conflict(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    history.create_branch("exp")
    history.put_bytes("e.txt", b"exp", branch="exp")
    data = json.loads(cli("merge", history.uri, "exp", "--json").stdout)
    assert data["result"] == "fast-forward"
    assert history.resolve() == history.resolve("exp") == data["commit"]["id"]
    assert json.loads(cli("merge", history.uri, "exp", "--json").stdout)["result"] == "already up to date"

    history.put_bytes("main-only.txt", b"m")
    history.put_bytes("exp-only.txt", b"e", branch="exp")
    merged_id = cli("merge", history.uri, "exp", "-m", "bring exp in").stdout.strip()
    merged = history.get_commit()
    assert merged.id == merged_id and len(merged.parents) == 2
    assert merged.message == "bring exp in"
    assert history.exists("exp-only.txt") and history.exists("main-only.txt")

    history.put_bytes("a.txt", b"main side")
    history.put_bytes("a.txt", b"exp side", branch="exp")
    head = history.resolve()
    run = cli("merge", history.uri, "exp", expect=1)
    assert run.stderr.startswith("error: ") and "a.txt" in run.stderr
    assert history.resolve() == head  # nothing written


def test_merge_into_other_branch(cli: Invoke, history: artifactstore.ArtifactStore) -> None:
    history.create_branch("release", rev="main~1")
    cli("merge", history.uri, "main", "--into", "release")
    assert history.resolve("release") == history.resolve("main")
    assert "'nope'" in cli("merge", history.uri, "nope", expect=1).stderr
