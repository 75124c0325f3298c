"""``artifactstore import``: bring an existing artifact tree into a store as one commit.

Sources:

* ``s3://bucket/prefix`` - the layout MLflow's built-in ``S3ArtifactRepository`` writes
  (``<prefix>/<experiment>/<run>/artifacts/...``). Endpoint, region and credentials come from
  boto3's standard configuration (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, environment,
  instance roles); boto3 must be installed (it is, with ``artifactstore-s3``).
* a local directory: an ``mlartifacts/`` folder (``mlflow server``'s proxied artifact root),
  or an ``mlruns/`` folder, of which only the ``<experiment>/<run>/artifacts/`` trees are
  imported (run metadata - metrics, params, ``meta.yaml`` - is MLflow's, not artifacts), or
  any other directory, imported whole.

Paths are preserved relative to the source root (under ``prefix`` when given), so a run's
artifact URI keeps working with the store as the new artifact root. Files are streamed one
at a time and identical files are stored once (the engine deduplicates by content hash).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InvalidInput, NotADirectory, NotFound
from .store import ArtifactStore
from .validation import validate_path
from .values import Commit, Put

log = logging.getLogger(__name__)


def import_tree(
    store: ArtifactStore,
    src: str,
    *,
    branch: str | None = None,
    message: str | None = None,
    prefix: str = "",
) -> Commit:
    """Import every file below ``src`` into ``store`` as one commit on ``branch``; return it.

    ``src`` is ``s3://bucket/prefix`` or a local directory path. ``prefix`` puts the tree under
    that directory of the store. All paths are validated before anything is written; a path
    the store cannot hold (e.g. one with ``:``) fails the whole import, naming it.
    """
    if not isinstance(src, str) or not src:
        raise InvalidInput(f"import source must be an s3://bucket/prefix URL or a directory, got {src!r}")
    if prefix:
        validate_path(prefix, what="import destination prefix")
    if src.startswith("s3://"):
        files = list(_s3_files(src))
    elif "://" in src:
        raise InvalidInput(f"import source {src!r} is not supported; give s3://bucket/prefix or a local directory")
    else:
        files = list(_local_files(Path(src)))
    if not files:
        raise InvalidInput(f"import source {src!r} holds no files; nothing to import")
    puts = []
    for relative, source in files:
        path = f"{prefix}/{relative}" if prefix else relative
        validate_path(path, what=f"path {relative!r} from {src!r}")
        puts.append(Put(path, source))
    log.info("importing %d files from %s", len(puts), src)
    return store.commit(puts, branch=branch, message=message or f"import {len(puts)} files from {src}")


# ---------------------------------------------------------------------- local directories
def _local_files(root: Path) -> Iterator[tuple[str, str]]:
    if not root.exists():
        raise NotFound(f"import source directory {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectory(f"import source {str(root)!r} is not a directory")
    if _is_mlruns(root):
        for experiment in sorted(p for p in root.iterdir() if p.is_dir()):
            for run in sorted(p for p in experiment.iterdir() if p.is_dir()):
                artifacts = run / "artifacts"
                if artifacts.is_dir():
                    yield from _walk(artifacts, root)
        return
    yield from _walk(root, root)


def _is_mlruns(root: Path) -> bool:
    """An ``mlruns/`` store: experiments are directories holding ``meta.yaml``."""
    return any((p / "meta.yaml").is_file() for p in root.iterdir() if p.is_dir())


def _walk(directory: Path, root: Path) -> Iterator[tuple[str, str]]:
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            yield full.relative_to(root).as_posix(), str(full)


# ---------------------------------------------------------------------- S3
def _s3_files(url: str) -> Iterator[tuple[str, Any]]:
    bucket, _, key_prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidInput(f"import source {url!r} names no bucket; write s3://bucket/prefix")
    try:
        import boto3
    except ImportError:
        raise InvalidInput("importing from s3:// needs boto3: pip install artifactstore-s3") from None
    client = boto3.client("s3")
    key_prefix = key_prefix.strip("/")
    listed = f"{key_prefix}/" if key_prefix else ""
    paginator = client.get_paginator("list_objects_v2")
    found = False
    for page in paginator.paginate(Bucket=bucket, Prefix=listed):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue  # a "folder" marker written by consoles, not a file
            found = True
            yield key[len(listed) :], LazyS3Object(client, bucket, key, int(item["Size"]))
    if not found:
        log.debug("no objects under s3://%s/%s", bucket, listed)


class LazyS3Object(io.RawIOBase):
    """A readable stream over one S3 object that issues its GET on the first read.

    A commit of thousands of files thus holds at most one open response at a time.
    """

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self.client = client
        self.bucket = bucket
        self.key = key
        self.size = size
        self._body: Any = None
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._done:
            return 0
        if self._body is None:
            self._body = self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n == 0:
            self._done = True
            self._release()
        return n

    def _release(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def close(self) -> None:
        self._release()
        super().close()


__all__ = ["LazyS3Object", "import_tree"]
