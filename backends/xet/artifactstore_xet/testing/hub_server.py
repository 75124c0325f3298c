"""A Hugging Face Hub server for tests: the HTTP endpoints ``huggingface_hub`` calls, with Xet storage.

Written from what ``huggingface_hub`` (2.x) sends and reads, which is the Hub's published
client: repository creation, ``refs``, ``commits`` (newest first), ``tree`` and
``paths-info`` listings, ``preupload`` (regular or LFS upload mode), the NDJSON ``commit``
whose header's ``parentCommit`` must still be the branch head (else 412, the Hub's
compare-and-swap), ``xet-write-token`` / ``xet-read-token`` (Xet connection info as headers
and as the JSON hf-xet's refresh URL expects), branches and tags, and ``resolve`` for files
kept in git. Large files go to the Xet CAS of :mod:`.cas_server`, mounted at ``/cas`` with
the same state; an ``lfsFile`` entry is accepted only for a SHA-256 the CAS holds.

History is real git: blobs, trees and commits are dulwich objects, so commit and tree ids
are what git would compute. A new repository gets one commit, "initial commit", holding a
``.gitattributes``, as the Hub makes. It is not Hugging Face's service: no users or
organizations beyond the configured tokens, no pull requests, no web pages.

Run it as ``python -m artifactstore_xet.testing.hub_server --root DIR --hub-token T``.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from dulwich.objects import Blob, Commit, ObjectID, Tree

from .cas_server import CasState, add_common_arguments, cas_routes, serve

#: Files at least this large, or whose sample has a NUL byte, are uploaded as LFS (Xet) files.
LFS_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


@dataclass(frozen=True)
class FileEntry:
    blob: str
    size: int
    sha256: str | None = None  # LFS files only
    xet_hash: str | None = None

    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {self.size}\n".encode()


@dataclass
class CommitRecord:
    id: str
    parent: str | None
    title: str
    message: str
    time: int
    files: dict[str, FileEntry]
    dirs: dict[str, str]  # directory path ("" = root) -> git tree id


@dataclass
class HubRepo:
    repo_type: str
    repo_id: str
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, CommitRecord] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)  # regular files' content by blob id
    lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, rev: str) -> CommitRecord | None:
        sha = self.branches.get(rev) or self.tags.get(rev)
        if sha is None and rev.startswith("refs/heads/"):
            sha = self.branches.get(rev[len("refs/heads/") :])
        if sha is None and len(rev) == 40:
            sha = rev
        return self.commits.get(sha) if sha else None

    def make_commit(self, parent: CommitRecord | None, files: dict[str, FileEntry], title: str, message: str) -> CommitRecord:
        dirs: dict[str, str] = {}
        root = _tree(files, "", dirs)
        commit = Commit()
        commit.tree = ObjectID(root.encode())
        commit.parents = [ObjectID(parent.id.encode())] if parent else []
        commit.author = commit.committer = b"hub-user <hub-user@users.noreply.invalid>"
        commit.commit_time = commit.author_time = int(time.time())
        commit.commit_timezone = commit.author_timezone = 0
        commit.message = (title + ("\n\n" + message if message else "")).encode()
        record = CommitRecord(commit.id.decode(), parent.id if parent else None, title, message, commit.commit_time, files, dirs)
        self.commits[record.id] = record
        return record

    def history(self, head: CommitRecord) -> list[CommitRecord]:
        out = [head]
        while out[-1].parent is not None:
            out.append(self.commits[out[-1].parent])
        return out


def _tree(files: dict[str, FileEntry], prefix: str, dirs: dict[str, str]) -> str:
    """The git tree id of directory ``prefix`` (recording every subdirectory's id in ``dirs``)."""
    tree = Tree()
    children: dict[str, bool] = {}
    for path in files:
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :] if prefix else path
        name, _, below = rest.partition("/")
        children[name] = children.get(name, False) or bool(below)
    for name, is_dir in children.items():
        full = f"{prefix}/{name}" if prefix else name
        if is_dir:
            tree.add(name.encode(), 0o040000, ObjectID(_tree(files, full, dirs).encode()))
        else:
            tree.add(name.encode(), 0o100644, ObjectID(files[full].blob.encode()))
    dirs[prefix] = tree.id.decode()
    return dirs[prefix]


def _blob_id(data: bytes) -> str:
    return Blob.from_string(data).id.decode()


class HubState:
    """Every repository of the server, the accepted Hub tokens and the CAS behind them."""

    def __init__(self, cas: CasState, hub_tokens: Iterable[str]) -> None:
        self.cas = cas
        self.hub_tokens = set(hub_tokens)
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.guard = threading.Lock()

    def create_repo(self, repo_type: str, repo_id: str) -> HubRepo | None:
        with self.guard:
            if (repo_type, repo_id) in self.repos:
                return None
            repo = HubRepo(repo_type, repo_id)
            blob = _blob_id(GITATTRIBUTES)
            repo.blobs[blob] = GITATTRIBUTES
            first = repo.make_commit(None, {".gitattributes": FileEntry(blob, len(GITATTRIBUTES))}, "initial commit", "")
            repo.branches["main"] = first.id
            self.repos[(repo_type, repo_id)] = repo
            return repo


def hub_routes(state: HubState) -> list[Any]:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def error(status: int, message: str) -> Response:
        return JSONResponse({"error": message}, status_code=status, headers={"X-Error-Message": message})

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[len("Bearer ") :] in state.hub_tokens

    def base_url(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    def segments(request: Request) -> list[str]:
        raw = request.scope.get("raw_path", request.url.path.encode()).decode()
        return [unquote(part) for part in raw.split("?", 1)[0].strip("/").split("/")]

    async def create_repo(request: Request) -> Response:
        if not authorized(request):
            return error(401, "Invalid credentials in Authorization header")
        body = await request.json()
        name, organization = body.get("name"), body.get("organization")
        repo_id = f"{organization}/{name}" if organization else str(name)
        repo_type = body.get("type") or "model"
        if state.create_repo(repo_type, repo_id) is None:
            return error(409, "You already created this repo")
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return JSONResponse({"url": f"{base_url(request)}/{prefix}{repo_id}", "name": repo_id})

    def file_item(path: str, entry: FileEntry) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "file", "oid": entry.blob, "size": entry.size, "path": path}
        if entry.sha256 is not None:
            item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": len(entry.pointer())}
        if entry.xet_hash is not None:
            item["xetHash"] = entry.xet_hash
        return item

    def listing(commit: CommitRecord, path: str, recursive: bool) -> list[dict[str, Any]] | None:
        if path and path not in commit.dirs:
            return None
        items: list[dict[str, Any]] = []
        prefix = path + "/" if path else ""
        for directory, oid in sorted(commit.dirs.items()):
            if directory and directory.startswith(prefix) and (recursive or "/" not in directory[len(prefix) :]):
                items.append({"type": "directory", "oid": oid, "size": 0, "path": directory})
        for name, entry in sorted(commit.files.items()):
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :]):
                items.append(file_item(name, entry))
        return items

    async def api(request: Request) -> Response:
        parts = segments(request)  # api, <type>s, ns, name, action, ...
        if len(parts) < 5 or parts[1] not in REPO_TYPES:
            return error(404, "Not found")
        if not authorized(request):
            return error(401, "Invalid credentials in Authorization header")
        repo = state.repos.get((REPO_TYPES[parts[1]], f"{parts[2]}/{parts[3]}"))
        if repo is None:
            return error(404, "Repository not found")
        action, rest = parts[4], parts[5:]
        method = request.method
        with repo.lock:
            if action == "refs" and method == "GET":
                return JSONResponse(
                    {
                        "branches": [
                            {"name": b, "ref": f"refs/heads/{b}", "targetCommit": c} for b, c in sorted(repo.branches.items())
                        ],
                        "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())],
                        "converts": [],
                    }
                )
            if action == "revision" and method == "GET":
                commit = repo.resolve("/".join(rest))
                if commit is None:
                    return error(404, "Revision not found")
                return JSONResponse({"id": repo.repo_id, "sha": commit.id, "private": True})
            if action == "commits" and method == "GET":
                commit = repo.resolve("/".join(rest))
                if commit is None:
                    return error(404, "Revision not found")
                return JSONResponse(
                    [
                        {
                            "id": c.id,
                            "title": c.title,
                            "message": c.message,
                            "authors": [{"user": "hub-user"}],
                            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(c.time)),
                        }
                        for c in repo.history(commit)
                    ]
                )
            if action == "tree" and method == "GET" and rest:
                commit = repo.resolve(rest[0])
                if commit is None:
                    return error(404, "Revision not found")
                recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
                found = listing(commit, "/".join(rest[1:]), recursive)
                if found is None:
                    return error(404, "Entry not found")
                return JSONResponse(found)
            if action == "paths-info" and method == "POST" and rest:
                commit = repo.resolve(rest[0])
                if commit is None:
                    return error(404, "Revision not found")
                form = await request.form()
                out: list[dict[str, Any]] = []
                for path in form.getlist("paths"):
                    path = str(path)
                    if path in commit.files:
                        out.append(file_item(path, commit.files[path]))
                    elif path in commit.dirs and path:
                        out.append({"type": "directory", "oid": commit.dirs[path], "size": 0, "path": path})
                return JSONResponse(out)
            if action == "preupload" and method == "POST":
                body = await request.json()
                files = []
                for item in body.get("files", []):
                    sample = base64.b64decode(item.get("sample", ""))
                    lfs = int(item.get("size", 0)) >= LFS_THRESHOLD or b"\0" in sample
                    mode = "lfs" if lfs else "regular"
                    files.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False})
                target = repo.resolve(rest[0]) if rest else None
                return JSONResponse({"files": files, "commitOid": target.id if target else None})
            if action in ("xet-write-token", "xet-read-token") and method == "GET":
                token, expiry = state.cas.issue_token()
                cas_url = f"{base_url(request)}/cas"
                return JSONResponse(
                    {"accessToken": token, "exp": expiry, "casUrl": cas_url},
                    headers={"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(expiry)},
                )
            if action == "commit" and method == "POST" and rest:
                return await commit_route(request, repo, "/".join(rest))
            if action == "branch" and rest:
                name = "/".join(rest)
                if method == "POST":
                    if name in repo.branches or name in repo.tags:
                        return error(409, f"Reference {name} already exists")
                    body = await request.json() if (await request.body()) else {}
                    start = repo.resolve(body.get("startingPoint") or "main")
                    if start is None:
                        return error(404, "Invalid rev id")
                    repo.branches[name] = start.id
                    return JSONResponse({})
                if method == "DELETE":
                    if repo.branches.pop(name, None) is None:
                        return error(404, f"Invalid rev id: {name}")
                    return JSONResponse({})
            if action == "tag" and rest:
                if method == "POST":
                    target = repo.resolve("/".join(rest))
                    body = await request.json()
                    tag = body.get("tag")
                    if target is None:
                        return error(404, "Invalid rev id")
                    if tag in repo.tags or tag in repo.branches:
                        return error(409, f"Tag {tag} already exists")
                    repo.tags[tag] = target.id
                    return JSONResponse({})
                if method == "DELETE":
                    if repo.tags.pop("/".join(rest), None) is None:
                        return error(404, "Invalid rev id")
                    return JSONResponse({})
        return error(404, f"no route for {method} {request.url.path}")

    async def commit_route(request: Request, repo: HubRepo, branch: str) -> Response:
        head_sha = repo.branches.get(branch)
        if head_sha is None:
            return error(404, f"Invalid rev id: {branch}")
        lines = [json.loads(line) for line in (await request.body()).decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return error(400, "the first line of a commit must be its header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent and parent != head_sha:
            return error(412, f"A commit has happened since. Please refresh and try again. (parent {parent}, head {head_sha})")
        head = repo.commits[head_sha]
        files = dict(head.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "")
            if key == "file":
                data = base64.b64decode(value["content"])
                blob = _blob_id(data)
                repo.blobs[blob] = data
                files[path] = FileEntry(blob, len(data))
            elif key == "lfsFile":
                xet_hash = state.cas.by_sha256.get(value.get("oid", ""))
                if xet_hash is None:
                    return error(422, f"Your push was rejected: an LFS pointer points to a file the storage lacks: {path}")
                entry = FileEntry("", int(value["size"]), value["oid"], xet_hash)
                files[path] = FileEntry(_blob_id(entry.pointer()), entry.size, entry.sha256, xet_hash)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    return error(404, f"File not found: {path}")
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    return error(404, f"Folder not found: {path}")
                for p in doomed:
                    del files[p]
            else:
                return error(400, f"unknown commit operation {key!r}")
        record = repo.make_commit(head, files, str(header.get("summary", "")), str(header.get("description", "")))
        repo.branches[branch] = record.id
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        url = f"{base_url(request)}/{prefix}{repo.repo_id}/commit/{record.id}"
        return JSONResponse({"commitOid": record.id, "commitUrl": url, "pullRequestUrl": None})

    async def resolve(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error(404, "Not found")
        parts = segments(request)
        if parts[0] in ("datasets", "spaces"):
            repo_type, parts = REPO_TYPES[parts[0]], parts[1:]
        else:
            repo_type = "model"
        if len(parts) < 5 or parts[2] != "resolve":
            return error(404, "Not found")
        if not authorized(request):
            return error(401, "Invalid credentials in Authorization header")
        repo = state.repos.get((repo_type, f"{parts[0]}/{parts[1]}"))
        commit = repo.resolve(parts[3]) if repo is not None else None
        path = "/".join(parts[4:])
        entry = commit.files.get(path) if commit is not None else None
        if repo is None or commit is None or entry is None:
            return error(404, "Entry not found")
        headers = {"X-Repo-Commit": commit.id, "ETag": f'"{entry.sha256 or entry.blob}"', "Accept-Ranges": "bytes"}
        if entry.xet_hash is not None:
            headers["X-Xet-Hash"] = entry.xet_hash
            prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
            token_url = f"{base_url(request)}/api/{prefix or 'models/'}{repo.repo_id}/xet-read-token/{commit.id}"
            headers["Link"] = f'<{token_url}>; rel="xet-auth"'
            return Response(status_code=200, headers={**headers, "Content-Length": str(entry.size)})
        data = repo.blobs[entry.blob]
        match = request.headers.get("range", "")
        if match.startswith("bytes="):
            first_s, _, last_s = match[len("bytes=") :].partition("-")
            first = int(first_s)
            last = min(int(last_s), len(data) - 1) if last_s else len(data) - 1
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            return Response(data[first : last + 1], status_code=206, headers=headers, media_type="application/octet-stream")
        if request.method == "HEAD":
            return Response(status_code=200, headers={**headers, "Content-Length": str(len(data))})
        return Response(data, headers=headers, media_type="application/octet-stream")

    return [
        Route("/api/repos/create", create_repo, methods=["POST"]),
        Route("/api/{rest:path}", api, methods=["GET", "POST", "DELETE"]),
        # Every method, so that what is not served answers 404 (hf-xet then falls back, e.g.
        # from upload grants to the published POST /v1/xorbs), never 405.
        Route("/{rest:path}", resolve, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
    ]


def main(argv: list[str] | None = None) -> None:
    from starlette.applications import Starlette

    parser = argparse.ArgumentParser(description="a Hugging Face Hub server for tests")
    add_common_arguments(parser)
    parser.add_argument("--hub-token", action="append", default=[], help="Hub token accepted in Authorization: Bearer")
    args = parser.parse_args(argv)
    cas = CasState(root=args.root / "cas", control_secret=args.control_secret)
    state = HubState(cas, args.hub_token)
    app = Starlette(routes=[*cas_routes(cas, prefix="/cas"), *hub_routes(state)])
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()


__all__ = ["HubState", "hub_routes", "main"]
