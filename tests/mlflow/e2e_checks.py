"""Assertions on the store behind a server, shared by the end-to-end modules."""

from __future__ import annotations

import http.client
import urllib.parse

from e2e_scenarios import LoggedRun, cat, history

PROXIED_RUN_FILES = ("notes.txt", "data/a.csv", "data/sub/b.bin", "text/hello.txt", "config/params.json", "images/img.png")
#: Paths MLflow's own check lets through and ours must reject (HTTP 400, nothing written).
BAD_PATHS = ("a/./b", "..\\..\\x", ".git/config", "C:foo", "n" * 2000, "x/.GIT/hooks", "dir/con. ")


def first_lines(commits: list[dict[str, object]]) -> list[str]:
    return [str(c["message"]).splitlines()[0] for c in commits]


def check_proxied_history(store_uri: str, logged: LoggedRun) -> None:
    """One commit per file, messages naming experiment, run and path; the deleted file lives on in history."""
    run_dir = f"{logged.experiment_id}/{logged.run_id}/artifacts"
    commits = history(store_uri, run_dir)
    where = f"(experiment {logged.experiment_id}, run {logged.run_id})"
    expected = [f"mlflow: log {p} {where}" for p in PROXIED_RUN_FILES] + [f"mlflow: delete notes.txt {where}"]
    assert sorted(first_lines(commits)) == sorted(expected)
    assert first_lines(commits)[0] == f"mlflow: delete notes.txt {where}"
    check_deleted_file_in_history(store_uri, run_dir, logged)

    model_dir = f"{logged.experiment_id}/models/{logged.model_id}/artifacts"
    model_commits = first_lines(history(store_uri, model_dir))
    assert model_commits, "log_model wrote nothing to the store"
    owner = f"(experiment {logged.experiment_id}, model {logged.model_id})"
    assert all(m.startswith("mlflow: log ") and m.endswith(owner) for m in model_commits)
    assert any(m.startswith("mlflow: log MLmodel ") for m in model_commits)


def check_direct_history(store_uri: str, store_dir: str, logged: LoggedRun) -> None:
    """Direct mode: log_artifacts and log_model are each ONE commit."""
    run_dir = f"{store_dir}/{logged.run_id}/artifacts"
    where = f"(experiment {store_dir.rsplit('/', 1)[-1]}, run {logged.run_id})"
    commits = history(store_uri, run_dir)
    expected = [
        f"mlflow: log notes.txt {where}",
        f"mlflow: log 2 files to data {where}",
        f"mlflow: log text/hello.txt {where}",
        f"mlflow: log config/params.json {where}",
        f"mlflow: log images/img.png {where}",
        f"mlflow: delete notes.txt {where}",
    ]
    assert sorted(first_lines(commits)) == sorted(expected)
    check_deleted_file_in_history(store_uri, run_dir, logged)

    model_dir = f"{store_dir}/models/{logged.model_id}/artifacts"
    model_commits = first_lines(history(store_uri, model_dir))
    assert len(model_commits) == 1, model_commits
    assert model_commits[0].startswith("mlflow: log ")
    assert " files (experiment " in model_commits[0] and f"model {logged.model_id})" in model_commits[0]


def check_deleted_file_in_history(store_uri: str, run_dir: str, logged: LoggedRun) -> None:
    notes = f"{run_dir}/notes.txt"
    gone = cat(store_uri, notes)
    assert gone.returncode != 0
    logged_at = [c for c in history(store_uri, notes) if str(c["message"]).startswith("mlflow: log notes.txt")]
    assert len(logged_at) == 1
    old = cat(store_uri, notes, rev=str(logged_at[0]["id"]))
    assert old.returncode == 0, old.stderr
    assert old.stdout == logged.files["notes.txt"]


def http_exchange(
    url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request: the status, the headers (lower-case names) and the body."""
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def http_request(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    status, _, data = http_exchange(url, method, path, body)
    return status, data


def artifact_url_path(path: str) -> str:
    """The proxied artifact endpoint for ``path``, every character percent-encoded (the server decodes once)."""
    return "/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(path, safe="")


def check_bad_paths_rejected(url: str) -> None:
    """PUT, GET and list of each bad path answer 400 naming the path problem."""
    for bad in BAD_PATHS:
        for prefix in ("", "1/0123456789abcdef0123456789abcdef/artifacts/"):
            status, body = http_request(url, "PUT", artifact_url_path(prefix + bad), b"payload")
            assert status == 400, (bad, status, body[:300])
            assert b"INVALID_PARAMETER_VALUE" in body, body[:300]
            status, body = http_request(url, "GET", artifact_url_path(prefix + bad))
            assert status == 400, (bad, status, body[:300])
        status, body = http_request(
            url, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=" + urllib.parse.quote(bad, safe="")
        )
        assert status == 400, (bad, status, body[:300])
