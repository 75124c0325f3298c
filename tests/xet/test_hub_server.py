"""The test Hugging Face Hub server (``artifactstore_xet.testing.hub_server``) driven by the real
``huggingface_hub`` client: what it sends is what the server must answer, Xet uploads included."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifactstore_xet.session import forget_sessions
from artifactstore_xet.testing import HubServer

huggingface_hub = pytest.importorskip("huggingface_hub", reason="the Hub server is tested with huggingface_hub")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "hf-xet-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    forget_sessions()
    server = HubServer(tmp_path / "hub")
    server.start()
    yield server
    server.kill()


def test_huggingface_hub_commits_lists_and_downloads_through_the_server(hub: HubServer, tmp_path: Path) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("org/artifacts", private=True)
    initial = api.list_repo_commits("org/artifacts")
    assert [c.title for c in initial] == ["initial commit"]

    big = random.Random(1).randbytes(3 * 1024 * 1024)
    first = api.create_commit(
        "org/artifacts",
        [CommitOperationAdd("params.json", b'{"lr": 0.1}'), CommitOperationAdd("model/weights.bin", big)],
        commit_message="log a model",
        commit_description="the body\n\nMLflow-Run: abc",
        parent_commit=initial[0].commit_id,
    )
    stats = hub.cas_stats()
    assert stats["xorbs_uploaded"] >= 1 and stats["shards_uploaded"] >= 1, "the weights went to the Xet CAS"

    with pytest.raises(HfHubHTTPError) as info:  # the Hub's compare-and-swap
        api.create_commit(
            "org/artifacts", [CommitOperationAdd("late.txt", b"x")], commit_message="late", parent_commit=initial[0].commit_id
        )
    assert info.value.response.status_code == 412

    files = {f.path: f for f in api.list_repo_tree("org/artifacts", recursive=True)}
    weights = files["model/weights.bin"]
    assert weights.lfs is not None and weights.lfs.sha256 == __import__("hashlib").sha256(big).hexdigest()
    assert weights.xet_hash
    assert files["params.json"].lfs is None
    assert [c.commit_id for c in api.list_repo_commits("org/artifacts")] == [first.oid, initial[0].commit_id]
    log = api.list_repo_commits("org/artifacts")[0]
    assert (log.title, log.message) == ("log a model", "the body\n\nMLflow-Run: abc")

    api.create_branch("org/artifacts", branch="exp", revision=initial[0].commit_id)
    api.create_tag("org/artifacts", tag="v1", revision=first.oid)
    with pytest.raises(HfHubHTTPError):
        api.create_branch("org/artifacts", branch="exp")
    refs = api.list_repo_refs("org/artifacts")
    assert {b.name: b.target_commit for b in refs.branches} == {"main": first.oid, "exp": initial[0].commit_id}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": first.oid}
    info_paths = api.get_paths_info("org/artifacts", ["params.json", "model", "missing"], revision="v1")
    assert sorted(p.path for p in info_paths) == ["model", "params.json"]

    cache = tmp_path / "downloads"
    got = hf_hub_download(
        "org/artifacts", "model/weights.bin", revision="v1", endpoint=hub.url, token=hub.token, cache_dir=str(cache)
    )
    assert Path(got).read_bytes() == big, "read back through Xet reconstructions"
    assert hub.cas_stats()["reconstructions"] >= 1
    got = hf_hub_download("org/artifacts", "params.json", endpoint=hub.url, token=hub.token, cache_dir=str(cache))
    assert Path(got).read_bytes() == b'{"lr": 0.1}'

    api.create_commit("org/artifacts", [CommitOperationDelete("model/")], commit_message="drop the model")
    assert sorted(f.path for f in api.list_repo_tree("org/artifacts", recursive=True)) == [".gitattributes", "params.json"]
    api.delete_branch("org/artifacts", branch="exp")
    api.delete_tag("org/artifacts", tag="v1")
    refs = api.list_repo_refs("org/artifacts")
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []
