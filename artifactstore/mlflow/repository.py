"""``ArtifactStoreRepository``: MLflow's artifact repository interface on an artifactstore.

How it differs from MLflow's built-in repositories:

* every write is one commit on the branch the URI names (``...@exp-1``; else the store's
  default branch): ``log_artifact`` and each proxied PUT is one commit, ``log_artifacts``
  (and so ``log_model`` in direct mode) one atomic commit for the whole directory, and
  ``delete_artifacts`` a commit too; history keeps what was deleted;
* a directory download reads one revision, so a model being re-logged meanwhile is never
  returned half old, half new;
* paths are validated by :func:`artifactstore.validation.validate_path`, which is stricter
  than MLflow's own check; rejected paths raise ``MlflowException(INVALID_PARAMETER_VALUE)``
  (HTTP 400 from the tracking server) and nothing is written;
* uploads are streamed into the store (:class:`StreamUploadMixin`, sync and async), never
  spooled to a temporary file by the server.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import posixpath
from collections.abc import AsyncIterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.artifact.artifact_repo import ArtifactRepository, StreamUploadMixin
from mlflow.utils.file_utils import create_tmp_dir

from .. import errors
from ..cache import open_cached
from ..protocols import SupportsLocalFiles, SupportsQuickCommits
from ..store import ArtifactStore
from ..values import Commit, Entry, Put
from .errors import translated
from .paths import commit_message, directory_arg, store_path
from .serving import served_name, verify_every_download
from .streams import BLOCK, AsyncChunkReader, read_head, shared_credits

log = logging.getLogger(__name__)


class OpenedFile(NamedTuple):
    """A file opened for sending (:meth:`ArtifactStoreRepository.open_artifact`): a reader at offset 0, the size, the SHA-256."""

    reader: BinaryIO
    size: int
    sha256: str


class ArtifactStoreRepository(ArtifactRepository, StreamUploadMixin):  # type: ignore[misc]
    """An MLflow artifact repository whose files live in an artifactstore, one commit per write.

    ``artifact_uri`` is any store URI (``artifactstore+git:///srv/a@exp-1/1/<run>/artifacts``,
    ``artifactstore+memory://demo``, ``artifactstore://models``); the part after the store
    (and branch) is the directory inside the store this repository reads and writes.
    MLflow's ``scheme:/path`` rewrite of ``scheme:///path`` opens the same store.
    Stores are opened once per process and shared (see :mod:`artifactstore.cache`).
    """

    def __init__(
        self,
        artifact_uri: str,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        if kwargs:
            log.debug("ignoring unknown artifact repository options %s", sorted(kwargs))
        with translated():
            self._store, located = open_cached(artifact_uri)
            self._root = located.path

    @property
    def store(self) -> ArtifactStore:
        """The store this repository writes to (shared with other repositories on it)."""
        return self._store

    @property
    def root(self) -> str:
        """The directory inside the store that artifact paths are relative to ("" for its root)."""
        return self._root

    # ------------------------------------------------------------------ writes
    def log_artifact(self, local_file: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Write one local file as one commit."""
        name = os.path.basename(os.fspath(local_file))
        with translated():
            path = store_path(self._root, _join(artifact_path, name))
            self._commit_file(path, os.fspath(local_file))

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Write every file below ``local_dir`` as ONE atomic commit (empty directories are skipped)."""
        with translated():
            prefix = store_path(self._root, artifact_path, allow_root=True)
            count = _count_files(Path(local_dir))
            if count == 0:
                log.debug("log_artifacts: %s holds no files; nothing to commit", local_dir)
                return
            message = commit_message("log", prefix, count=count)
            commit = self._store.upload_dir(local_dir, prefix, message=message)
            log.info("%s -> %s", message, commit.id)

    def log_artifact_from_stream(
        self, stream: BinaryIO, artifact_file_name: str, artifact_path: str | None = None
    ) -> None:
        """Write the stream at ``artifact_path/artifact_file_name`` as one commit, streaming it."""
        with translated():
            path = self._stream_destination(artifact_file_name, artifact_path)
            self._commit_file(path, stream)

    async def log_artifact_from_async_stream(
        self, chunks: AsyncIterable[bytes], artifact_file_name: str, artifact_path: str | None = None
    ) -> None:
        """Async variant: the commit runs in a worker thread while the event loop receives the next blocks.

        An upload that fits in one block, while no other upload of this process is in flight,
        is committed on the loop's thread instead when the store can do it quickly
        (:class:`~artifactstore.protocols.SupportsQuickCommits`: git, xet's small files,
        memory), which saves waking a worker thread and the loop again. Concurrent uploads go
        to threads, where one batch commits them together (group commit). On the loop a commit
        never waits for gc's deletes (it moves to a thread if gc is deleting), only for the
        branch's writer lock, which other processes hold for their ref swaps.
        """
        with translated():
            path = self._stream_destination(artifact_file_name, artifact_path)
        loop = asyncio.get_running_loop()
        uploads = shared_credits(loop)
        uploads.uploads += 1
        try:
            await asyncio.sleep(0)  # uploads that arrived with this one count themselves first
            iterator = chunks.__aiter__()
            head, complete = await read_head(iterator, BLOCK)
            if complete:
                # The whole upload fit in one block (most MLflow artifacts): no pump needed.
                if uploads.uploads == 1 and self._commit_on_loop(path, head):
                    return
                with translated():
                    await asyncio.to_thread(self._commit_file, path, io.BytesIO(head))
                return
            reader = AsyncChunkReader(iterator, loop, head=head)
            try:
                with translated():
                    await asyncio.to_thread(self._commit_file, path, reader)  # type: ignore[arg-type]
            finally:
                reader.close()
        finally:
            uploads.uploads -= 1

    def _commit_on_loop(self, path: str, data: bytes) -> bool:
        """Commit ``data`` on this thread if the store can do it without a long wait; False if not done."""
        store = self._store
        if not isinstance(store, SupportsQuickCommits) or not store.commits_quickly(data):
            return False
        message = commit_message("log", path)
        with translated():
            try:
                commit = store.commit_without_waiting([Put(path, data)], message=message)
            except errors.WouldWait:
                log.debug("gc is deleting from the store; the upload of %s waits in a worker thread", path)
                return False
        log.debug("%s -> %s", message, commit.id)
        return True

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a directory as one commit; history keeps it. A missing path is a no-op."""
        with translated():
            path = store_path(self._root, artifact_path, allow_root=True)
            if path == "":
                raise errors.InvalidPath("refusing to delete the whole store; name a directory inside it")
            try:
                commit = self._store.delete(path, message=commit_message("delete", path))
            except errors.NotFound:
                log.debug("delete_artifacts: %r does not exist; nothing to delete", path)
                return
            log.info("deleted %s -> %s", path, commit.id)

    # ------------------------------------------------------------------ reads
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """Entries directly below ``path`` with sizes; ``[]`` for a file or a missing path."""
        with translated():
            full = store_path(self._root, path, allow_root=True)
            try:
                entries = self._store.list(full)
            except (errors.NotFound, errors.NotADirectory):
                return []
        return [self._file_info(entry) for entry in entries]

    def _is_directory(self, artifact_path: str) -> bool:
        with translated():
            full = store_path(self._root, artifact_path, allow_root=True)
            try:
                return self._store.stat(full).kind == "dir"
            except (errors.NotFound, errors.NotADirectory):
                return False

    def _download_file(self, remote_file_path: str, local_path: str | os.PathLike[str]) -> None:
        with translated():
            path = store_path(self._root, remote_file_path)
            self._store.download(path, local_path)

    def get_local_path(self, artifact_path: str) -> str | None:
        """A local file MLflow's server may send as is, or ``None`` to have it downloaded first.

        Only git files above the inline threshold have one (their Git LFS object, reached
        through a link named like the artifact: see :mod:`.serving`); its size is checked,
        its SHA-256 is not recomputed. ``None`` for small git files, for every file of the
        other backends, and for all files when ``ARTIFACTSTORE_MLFLOW_VERIFY_DOWNLOADS=1``.
        A directory is refused (HTTP 400), a missing path is HTTP 404.
        """
        store = self._store
        if verify_every_download() or not isinstance(store, SupportsLocalFiles):
            return None  # (before any lookup: this runs on the server's event loop)
        with translated():
            path = store_path(self._root, artifact_path)
            local = store.local_path(path)
        if local is None:
            return None
        try:
            return served_name(local, posixpath.basename(path))
        except OSError as exc:
            log.warning("sending %s through a temporary copy: cannot link to %s (%s)", path, local, exc)
            return None

    def open_artifact(self, artifact_path: str) -> OpenedFile | None:
        """A reader over one file at the branch's current revision, with the file's size and SHA-256; ``None`` for a directory.

        Reading it to the end checks the file's SHA-256 (see :meth:`ArtifactStore.open`);
        a mismatch raises before the last bytes are returned. A missing path is HTTP 404.
        """
        with translated():
            path = store_path(self._root, artifact_path)
            rev = self._store.resolve()
            entry = self._store.stat(path, rev=rev)
            if entry.kind != "file" or entry.size is None or entry.sha256 is None:
                return None
            return OpenedFile(self._store.open(path, rev=rev), entry.size, entry.sha256)

    def download_artifacts(self, artifact_path: str | None, dst_path: str | None = None) -> str:
        """Download a file or directory, all read at one revision, and return its local path.

        Files of a directory download in parallel on the repository's thread pool.
        """
        destination_root = _destination_dir(dst_path)
        with translated():
            full = store_path(self._root, artifact_path, allow_root=True)
            try:
                rev = self._store.resolve()
                entry = self._store.stat(full, rev=rev)
            except (errors.NotFound, errors.NotADirectory):
                if not full or full == self._root:
                    return destination_root  # an empty run: nothing logged yet
                raise errors.NotFound(f"artifact {artifact_path!r} does not exist in {self.artifact_uri}") from None
            local = os.path.join(destination_root, os.path.normpath(artifact_path)) if artifact_path else destination_root
            if entry.kind == "file":
                self._store.download(full, local, rev=rev)
                return local
            files = self._store.list(full, rev=rev, recursive=True)
        futures: list[tuple[str, Future[Any]]] = []
        for item in files:
            relative = item.path[len(full) + 1 :] if full else item.path
            target = os.path.join(local, os.path.normpath(relative))
            futures.append((item.path, self.thread_pool.submit(self._store.download, item.path, target, rev=rev)))
        failures = []
        for path, future in futures:
            try:
                future.result()
            except Exception as exc:
                failures.append(f"{path}: {exc}")
        if failures:
            raise MlflowException(
                f"downloading {len(failures)} of {len(futures)} artifacts from {self.artifact_uri} failed: "
                + "; ".join(failures[:10])
            )
        os.makedirs(local, exist_ok=True)
        return local

    # ------------------------------------------------------------------ helpers
    def _stream_destination(self, artifact_file_name: str, artifact_path: str | None) -> str:
        # MLflow's contract: directory components of the file name are ignored.
        name = posixpath.basename(artifact_file_name)
        if not name:
            raise errors.InvalidPath(f"artifact file name {artifact_file_name!r} names no file")
        return store_path(self._root, _join(artifact_path, name))

    def _commit_file(self, path: str, source: str | BinaryIO) -> Commit:
        message = commit_message("log", path)
        commit = self._store.put_file(path, source, message=message)
        log.debug("%s -> %s", message, commit.id)
        return commit

    def _file_info(self, entry: Entry) -> FileInfo:
        relative = entry.path[len(self._root) + 1 :] if self._root else entry.path
        return FileInfo(relative, entry.kind == "dir", entry.size if entry.kind == "file" else None)


def _join(directory: str | None, name: str) -> str:
    directory = directory_arg(directory)
    return f"{directory}/{name}" if directory else name


def _count_files(root: Path) -> int:
    if not root.is_dir():
        raise errors.NotADirectory(f"log_artifacts source {str(root)!r} is not a directory")
    return sum(len(files) for _, _, files in os.walk(root, followlinks=True))


def _destination_dir(dst_path: str | None) -> str:
    if not dst_path:
        return str(create_tmp_dir())  # type: ignore[no-untyped-call]
    dst = os.path.abspath(dst_path)
    if not os.path.exists(dst):
        raise MlflowException(
            f"download destination {dst!r} does not exist; create the directory first",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    if not os.path.isdir(dst):
        raise MlflowException(f"download destination {dst!r} is not a directory", error_code=INVALID_PARAMETER_VALUE)
    return dst


__all__ = ["ArtifactStoreRepository", "OpenedFile"]
