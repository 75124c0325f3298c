"""The Xet ContentPort: file bytes in a Xet CAS through hf-xet.

Uploads go through ``XetUploadCommit`` (``start_upload_file`` when the engine names a local
file, ``start_upload_stream`` fed in bounded chunks otherwise); hf-xet chunks the bytes
(content-defined, ~64 KiB), stores only chunks the CAS lacks, and reports the file's Merkle
hash, its SHA-256 and how many bytes were new. Reads fetch byte ranges through
``XetDownloadStreamGroup`` (see :mod:`.reader`).

How this port differs from a plain content store:

* Deduplication is below file level: :attr:`ContentInfo.new_bytes` is hf-xet's
  ``dedup_metrics.new_bytes``, and :meth:`stored_bytes` measures the CAS on disk.
* The CAS cannot list or delete single files (chunks are shared between files), so the port
  keeps a :class:`~.index.ContentIndex`, and :meth:`delete` drops index entries and then
  *rebuilds* an embedded CAS: it copies every still-indexed file into a fresh CAS and swaps
  it in under the exclusive lock. A remote or shared CAS is never rebuilt (gc then reclaims
  nothing there; the log says so).
* A ``local://`` CAS admits one process at a time, so every transfer holds the CAS lock of
  :mod:`.cas_lock` (open session -> transfer -> close), per range for reads.
* A full disk: hf-xet's write failures become an ``OSError`` with the errno that names the
  file and the CAS (:mod:`.write_errors`), and a CAS database that a full disk left
  unreadable is replaced when the CAS holds no content yet, or reported (:mod:`.cas_database`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

from artifactstore_git.durability import filesystem_barrier, fsync_path

from artifactstore.engine import ContentInfo, ContentPort, read_at_most, remove_files_older_than
from artifactstore.errors import IntegrityError, InvalidInput

from .cas_database import discard_empty, find_database, holds_content, is_open_failure
from .cas_lock import CasLock, cas_lock
from .endpoint import XetEndpoint
from .index import ContentIndex, IndexEntry
from .reader import MAX_WINDOW, MIN_WINDOW, PREFETCH, XetRangeReader
from .remote_errors import clear_shard_cache, is_stale_shard_cache, probe_reconstruction, read_failure, short_read
from .session import forget_sessions, get_session, open_retrying, upload_slot
from .write_errors import DISK_FULL, os_errno, translated, write_failure

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pointer key that carries the Xet file hash.
XET_HASH_KEY = "xet-hash"
#: Bytes handed to ``XetStreamUpload.write`` at a time.
UPLOAD_CHUNK = 8 * 1024 * 1024
DEFAULT_LOCK_TIMEOUT = 600.0
#: ``spool_streams="auto"`` streams into a free local CAS only when the first
#: :data:`UPLOAD_CHUNK` of a stream arrived at least this fast (bytes/s): a direct upload holds
#: the CAS lock for as long as its producer takes, so a slow one (a client on a slow link)
#: would keep other processes waiting; hf-xet ingests a spooled file at ~150-450 MB/s here.
FAST_PRODUCER = 100_000_000
#: The values of the ``spool_streams`` option.
SpoolStreams = Literal["auto"] | bool
#: The values of the ``compression`` option: hf-xet's ``xorb.compression_policy``.
COMPRESSION_POLICIES = ("none", "auto", "lz4", "bg4-lz4")
#: hf-xet's own setting of the policy; when set, a local CAS keeps it instead of "none".
ENV_COMPRESSION = "HF_XET_XORB_COMPRESSION_POLICY"

#: One repair of a damaged CAS database at a time in this process (other processes are kept
#: out by the CAS lock, which every caller of the repair holds).
_repair_guard = threading.Lock()

#: ``progress(direction, bytes_done, bytes_total)``; ``direction`` is "upload" or "download".
ProgressCallback = Callable[[str, int, "int | None"], None]


class XetContentPort(ContentPort):
    """Content in a Xet CAS; see the module docstring for how it differs."""

    def __init__(
        self,
        directory: Path,
        endpoint: XetEndpoint | None = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        spool_streams: SpoolStreams = "auto",
        compression: str | None = None,
        fsync: bool = True,
        progress: ProgressCallback | None = None,
        min_window: int = MIN_WINDOW,
        max_window: int = MAX_WINDOW,
        prefetch: int = PREFETCH,
    ) -> None:
        """``directory`` holds the index, the lock and (by default) the embedded CAS ``cas/``.

        ``spool_streams`` decides how a stream that is not a local file reaches a local CAS.
        ``True`` copies it to a temporary file before taking the CAS lock, so a slow producer
        (an MLflow client on a slow link) never keeps other processes' transfers waiting, at
        the cost of one local copy. ``"auto"`` (default) reads the first :data:`UPLOAD_CHUNK`:
        a stream that ends there is uploaded from memory; one whose first chunk came at
        :data:`FAST_PRODUCER` or faster is streamed straight in when no other process holds
        the CAS; any other is spooled; a remote CAS has no lock, so there it streams straight
        in. ``False`` always streams straight in.

        ``compression`` is how hf-xet compresses the xorbs it writes (one of
        :data:`COMPRESSION_POLICIES`). A local CAS defaults to ``"none"``: on float weights
        hf-xet's ``"auto"`` saves 4-12% of the bytes (float32) or 13% (bfloat16) but costs
        55% to 2x the upload CPU (``benchmarks/xet_compression.py``), and a local disk is
        cheaper than that CPU. A remote CAS, where bytes cross a network, keeps hf-xet's default
        (``"auto"``, or ``$HF_XET_XORB_COMPRESSION_POLICY``); so does a local one when that
        variable is set. Reads handle every policy, so changing it never affects stored
        content. ``fsync`` flushes a local CAS after each
        upload (hf-xet itself does not). ``progress`` is called with hf-xet's transfer
        progress (see :data:`ProgressCallback`).
        """
        self.directory = directory
        self.embedded_dir = directory / "cas"
        self.endpoint = endpoint or XetEndpoint.local(self.embedded_dir)
        self.index = ContentIndex(directory / "index")
        self.lock_timeout = lock_timeout
        self.spool_streams = spool_streams
        check_compression(compression, where=str(directory))
        #: hf-xet's ``xorb.compression_policy`` for new xorbs; ``None``: hf-xet's default.
        self.compression = compression if compression is not None else default_compression(self.endpoint)
        self.fsync = fsync
        self.progress = progress
        self.min_window = min_window
        self.max_window = max_window
        self.prefetch = prefetch
        local = self.endpoint.local_dir
        self._lock: CasLock | None = cas_lock(local.parent / f"{local.name}.lock") if local is not None else None
        #: Only a CAS inside the store is ours alone, so only it may be rebuilt by gc.
        self.rebuildable = local is not None and local == self.embedded_dir
        self._recover_interrupted_rebuild()

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _hold(self, *, exclusive: bool = False) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock.hold(timeout=self.lock_timeout, exclusive=exclusive):
            yield

    def _progress_hook(self, direction: str) -> Callable[[Any, Any], None] | None:
        callback = self.progress
        if callback is None:
            return None

        def hook(group: Any, _items: Any) -> None:
            try:
                callback(direction, int(group.total_bytes_completed), int(group.total_bytes) or None)
            except Exception:  # a broken progress bar must not fail a transfer
                log.exception("Xet progress callback failed")

        return hook

    # ------------------------------------------------------------------ writes
    def write(self, stream: BinaryIO, *, size_hint: int | None = None, local_path: str | None = None) -> ContentInfo:
        if local_path is not None:
            return self._upload(local_path=local_path)
        if self.spool_streams is True:
            return self._spool_and_upload(stream)
        if self.spool_streams is False:
            return self._upload(chunks=_chunks(stream))
        started = time.perf_counter()
        head = read_at_most(stream, UPLOAD_CHUNK)
        elapsed = time.perf_counter() - started
        if len(head) < UPLOAD_CHUNK:
            # All in memory: the lock never waits on a producer, and the bytes can be sent again.
            return self._upload(chunks=[head], replay=lambda: [head])
        if self._lock is None:
            return self._upload(chunks=_chunks(stream, head))
        if len(head) >= FAST_PRODUCER * elapsed:
            with self._lock.hold_if_free() as free:
                if free:
                    log.debug("streaming into the free CAS (first chunk at %.0f MB/s)", len(head) / elapsed / 1e6)
                    return self._upload(chunks=_chunks(stream, head), held=True)
        return self._spool_and_upload(stream, head)

    def _spool_and_upload(self, stream: BinaryIO, head: bytes = b"") -> ContentInfo:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, spool = tempfile.mkstemp(prefix="spool-", dir=self.directory)
        try:
            with open(fd, "wb") as out:
                out.write(head)
                shutil.copyfileobj(stream, out, UPLOAD_CHUNK)
            return self._upload(local_path=spool, spooled=True)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)

    def _upload(
        self,
        *,
        local_path: str | None = None,
        chunks: Iterable[bytes] = (),
        spooled: bool = False,
        held: bool = False,
        replay: Callable[[], Iterable[bytes]] | None = None,
    ) -> ContentInfo:
        """Upload once; against a remote CAS that lost data hf-xet's shard cache still
        remembers, clear that cache and upload again (``replay`` gives the chunks anew; a
        stream that cannot be re-read raises, and the caller's retry then succeeds)."""
        try:
            return self._upload_once(local_path=local_path, chunks=chunks, spooled=spooled, held=held)
        except OSError as exc:
            if self.endpoint.local_dir is not None or exc.__cause__ is None or not is_stale_shard_cache(exc.__cause__):
                raise
            clear_shard_cache(self.endpoint.url)
            forget_sessions()  # a session keeps the shards it loaded: the next one reads the cleared cache
            if local_path is None and replay is None:
                raise OSError(
                    errno.EIO,
                    f"the Xet CAS {self.endpoint.url} refused the upload because it no longer holds chunks that "
                    "hf-xet's local shard cache listed (the server lost data); the cache was cleared, nothing "
                    "was committed: retry the write",
                ) from exc
            log.warning("uploading again to %s without the stale shard cache", self.endpoint.url)
            again = replay() if replay is not None else ()
            return self._upload_once(local_path=local_path, chunks=again, spooled=spooled, held=held)

    def _upload_once(
        self,
        *,
        local_path: str | None = None,
        chunks: Iterable[bytes] = (),
        spooled: bool = False,
        held: bool = False,
    ) -> ContentInfo:
        session = get_session(self.compression)
        hook = self._progress_hook("upload")
        kwargs = self.endpoint.connect_kwargs()
        if hook is not None:
            kwargs["progress_callback"] = hook
        local = self.endpoint.local_dir
        what = f"content from {os.path.abspath(local_path)}" if local_path is not None else "streamed content"
        where = str(local) if local is not None else self.endpoint.url

        def failure(exc: BaseException) -> Exception:
            return write_failure(exc, what=what, where=where)

        with upload_slot(), contextlib.nullcontext() if held else self._hold():
            started = time.time()
            upload = self._open(lambda: session.new_upload_commit(**kwargs), what="upload", failure=failure)
            try:
                if local_path is not None:
                    # Waiting for the commit first lets ingestion and finalization overlap
                    # (measured ~2 ms per upload faster than waiting for the file first).
                    with translated(what=what, where=where):
                        handle = upload.start_upload_file(os.fspath(local_path))
                        upload.wait_to_finish()
                        meta = handle.result()
                        del handle
                else:
                    meta = _upload_stream(upload, chunks, what=what, where=where)
                    with translated(what=what, where=where):
                        upload.wait_to_finish()  # finish() must precede wait_to_finish()
            except BaseException:
                with contextlib.suppress(Exception):
                    upload.abort()
                raise
            finally:
                # Dropping the last hf-xet handle closes the CAS database; only then may
                # another process open it, so this happens before the lock is released.
                del upload
            if spooled and local_path is not None:
                # hf-xet has read the spool: removed now, its dirty pages are dropped instead of
                # being written back by the barrier below (a second disk write of the content).
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(local_path)
            info = _content_info(meta)
            known = self.index.get(info.sha256)
            repeat = known is not None and known.xet_hash == info.extra[XET_HASH_KEY] and info.new_bytes == 0
            # A repeated upload adds only a redundant shard: the first one was made durable.
            if self.fsync and local is not None and not repeat:
                with translated(what=f"content {info.sha256[:8]}", where=where):
                    _make_durable(local, since=started)
            self.index.put(info.sha256, info.extra[XET_HASH_KEY], info.size, info.new_bytes)
        log.debug("stored %s (%d bytes, %d new) in the Xet CAS", info.sha256, info.size, info.new_bytes)
        return info

    def _open(self, opener: Callable[[], T], *, what: str, failure: Callable[[BaseException], Exception]) -> T:
        """Open an hf-xet transfer; repair a CAS database that a full disk left unreadable.

        The caller holds the CAS lock, so no other process has the database open; no thread
        of this one has either (hf-xet would have shared its open handle instead of failing).
        """
        try:
            return open_retrying(opener, what=what)
        except RuntimeError as exc:
            if not is_open_failure(exc) or self.endpoint.local_dir is None:
                raise failure(exc) from exc
            cause: RuntimeError = exc
        with _repair_guard:
            for _attempt in range(3):
                # Open again first: another thread of this process may have repaired the
                # database meanwhile, and may hold it open now.
                try:
                    return open_retrying(opener, what=what)
                except RuntimeError as exc:
                    if not is_open_failure(exc):
                        raise failure(exc) from exc
                    cause = exc
                # Returns only when a damaged, empty database was removed; raises otherwise
                # (on a full disk after removing the partial database the failed open left).
                self._repair_database(cause, failure)
        raise failure(cause) from cause

    def _repair_database(self, exc: RuntimeError, failure: Callable[[BaseException], Exception]) -> None:
        """Remove a damaged database that holds nothing (see :mod:`.cas_database`), or raise.

        Returns only when the database was damaged and is gone, so that opening again may work.
        """
        local = self.endpoint.local_dir
        assert local is not None
        database = find_database(local)
        code = os_errno(exc)
        if database is None or (code is not None and code not in DISK_FULL):
            raise failure(exc) from exc  # not damage a full disk leaves (permissions...): not ours to fix
        if holds_content(database):
            if code is not None:
                raise failure(exc) from exc  # the disk is still full; the database itself is intact
            raise IntegrityError(
                f"the Xet CAS database {database} of store {self.directory.parent} cannot be opened "
                f"({exc}) and the CAS holds content that is read through it; it was left untouched: "
                f"back up {local}, then run 'artifactstore fsck'"
            ) from exc
        discard_empty(database, store=self.directory.parent, cause=exc, disk_full=code is not None)
        if code is not None:
            raise failure(exc) from exc  # still full: the partial database is gone, retry later

    # ------------------------------------------------------------------ reads
    def open(self, info: ContentInfo) -> BinaryIO:
        xet_hash = self._xet_hash(info)

        def fetch(start: int, end: int) -> list[bytes]:
            return self._fetch(xet_hash, info.size, start, end, info.sha256)

        reader = XetRangeReader(
            fetch, info.size, min_window=self.min_window, max_window=self.max_window, prefetch=self.prefetch
        )
        return reader  # type: ignore[return-value]

    def _xet_hash(self, info: ContentInfo) -> str:
        xet_hash = info.extra.get(XET_HASH_KEY)
        if xet_hash:
            return xet_hash
        entry = self.index.get(info.sha256)
        if entry is None:
            raise IntegrityError(
                f"content {info.sha256} has no Xet file hash in its pointer and is not in the Xet index; "
                "the store is damaged (run 'artifactstore fsck')"
            )
        return entry.xet_hash

    def _fetch(self, xet_hash: str, size: int, start: int, end: int, sha256: str) -> list[bytes]:
        import hf_xet

        session = get_session(self.compression)
        file_info = hf_xet.XetFileInfo(xet_hash, size)
        kwargs = self.endpoint.connect_kwargs()

        def failure(exc: BaseException) -> Exception:
            if self.endpoint.local_dir is None:
                return read_failure(exc, sha256=sha256, xet_hash=xet_hash, endpoint=self.endpoint.url)
            return OSError(
                os_errno(exc) or errno.EIO,
                f"reading content {sha256} from the Xet CAS {self.endpoint.local_dir or self.endpoint.url} failed "
                f"(hf-xet: {type(exc).__name__}: {exc}); retry, and run 'artifactstore fsck' if it persists",
            )

        with self._hold():
            group = self._open(lambda: session.new_download_stream_group(**kwargs), what="download", failure=failure)
            try:
                # The pieces are kept as hf-xet hands them over: joining them would hold a
                # window twice.
                pieces = list(group.download_stream(file_info, start=start, end=end))
                group.finish()
            except hf_xet.XetObjectNotFoundError as exc:
                raise IntegrityError(
                    f"content {sha256} (Xet hash {xet_hash}) is missing from the Xet CAS "
                    f"{self.endpoint.url}: {exc}; run 'artifactstore fsck'"
                ) from exc
            except (RuntimeError, OSError, ValueError) as exc:
                # hf-xet reports a damaged xorb as RuntimeError, OSError or ValueError; on a
                # local CAS that is damage, on a remote one it may be the network.
                if self.endpoint.local_dir is None:
                    raise read_failure(exc, sha256=sha256, xet_hash=xet_hash, endpoint=self.endpoint.url) from exc
                raise IntegrityError(
                    f"content {sha256} cannot be reconstructed from the local Xet CAS "
                    f"({type(exc).__name__}: {exc}); run 'artifactstore fsck'"
                ) from exc
            finally:
                del group
        got = sum(len(piece) for piece in pieces)
        if got != end - start and self.endpoint.local_dir is None:
            status = probe_reconstruction(self.endpoint, xet_hash)
            raise short_read(status, sha256=sha256, xet_hash=xet_hash, endpoint=self.endpoint.url, got=got, wanted=end - start)
        if got != end - start:
            raise IntegrityError(
                f"content {sha256} (Xet hash {xet_hash}) came back with {got} bytes for range {start}-{end}; "
                "run 'artifactstore fsck'"
            )
        if self.progress is not None:
            self.progress("download", end, size)
        return pieces

    # ------------------------------------------------------------------ inventory
    def sweep_staging(self, older_than: float) -> int:
        """Remove the spool files of uploads that were killed (none younger than ``older_than``)."""
        return remove_files_older_than(self.directory.glob("spool-*"), older_than)

    def contains(self, info: ContentInfo) -> bool:
        entry = self.index.get(info.sha256)
        if entry is None:
            return False
        wanted = info.extra.get(XET_HASH_KEY)
        return wanted is None or wanted == entry.xet_hash

    def iter_ids(self) -> Iterator[tuple[str, int, float]]:
        """Yield ``(sha256, new bytes it added when first stored, index mtime)``.

        A chunk CAS has no per-file stored size; the bytes a file added to the CAS when it
        was first written are the closest figure (gc reports them as freed).
        """
        for entry in self.index:
            yield entry.sha256, entry.new_bytes, entry.mtime

    def entries(self) -> Iterator[IndexEntry]:
        """Every indexed content with its Xet hash."""
        return iter(self.index)

    def stored_bytes(self) -> int:
        """Bytes on disk of the embedded or local CAS (xorbs, shards, dedup tables, caches).

        For a remote CAS, the sum of the new bytes each indexed file added when written.
        """
        local = self.endpoint.local_dir
        if local is None:
            return sum(entry.new_bytes for entry in self.index)
        return _disk_usage(local)

    # ------------------------------------------------------------------ gc
    def delete(self, sha256s: Iterable[str]) -> None:
        """Forget ``sha256s`` and, for the embedded CAS, rebuild it without them."""
        wanted = list(sha256s)
        if not wanted:
            return
        with self._hold(exclusive=True):
            removed = self.index.remove(wanted)
            if not removed:
                return
            if not self.rebuildable:
                log.warning(
                    "forgot %d files, but the Xet CAS %s is not embedded in the store, so gc cannot reclaim its space",
                    len(removed),
                    self.endpoint.url,
                )
                return
            from .rebuild import rebuild_cas

            rebuild_cas(self.embedded_dir, list(self.index), compression=self.compression)

    def _recover_interrupted_rebuild(self) -> None:
        if not self.rebuildable or not self.directory.is_dir():
            return
        from .rebuild import interrupted, recover

        if not interrupted(self.embedded_dir):
            return  # the usual case: no lock taken just to open a store

        with self._hold(exclusive=True):
            recover(self.embedded_dir)


def check_compression(compression: str | None, *, where: str) -> None:
    """Refuse a ``compression`` that is not one of :data:`COMPRESSION_POLICIES` (``None``: the default)."""
    if compression is not None and compression not in COMPRESSION_POLICIES:
        raise InvalidInput(f"compression {compression!r} for xet store {where!r} is not one of {', '.join(COMPRESSION_POLICIES)}")


def default_compression(endpoint: XetEndpoint) -> str | None:
    """The policy a port on ``endpoint`` uses unless told: "none" for a local CAS, else hf-xet's."""
    if endpoint.local_dir is not None and not os.environ.get(ENV_COMPRESSION):
        return "none"
    return None


def _chunks(stream: BinaryIO, head: bytes = b"") -> Iterator[bytes]:
    """``head``, then the rest of ``stream`` in :data:`UPLOAD_CHUNK` reads."""
    if head:
        yield head
    while chunk := stream.read(UPLOAD_CHUNK):
        yield chunk


def _upload_stream(upload: Any, chunks: Iterable[bytes], *, what: str, where: str) -> Any:
    # hf-xet computes the SHA-256 on its own threads while it chunks; hashing here as
    # well would put a second pass on the caller's thread.
    with translated(what=what, where=where):
        channel = upload.start_upload_stream()
    try:
        for chunk in chunks:  # the caller's stream: its errors pass unchanged
            with translated(what=what, where=where):
                channel.write(chunk)
        with translated(what=what, where=where):
            return channel.finish()
    except BaseException:
        with contextlib.suppress(Exception):
            channel.abort()
        raise


def _content_info(meta: Any) -> ContentInfo:
    xet_info = meta.xet_info
    if not xet_info.sha256:
        raise InvalidInput("hf-xet returned no SHA-256 for an upload; the xet backend needs hf-xet>=1.8")
    return ContentInfo(
        sha256=xet_info.sha256,
        size=int(xet_info.file_size),
        extra={XET_HASH_KEY: xet_info.hash},
        new_bytes=int(meta.dedup_metrics.new_bytes),
    )


def _make_durable(cas: Path, *, since: float) -> None:
    """Flush what hf-xet wrote (it does not fsync): one ``syncfs``, else fsync each new file."""
    if filesystem_barrier(cas):
        return
    for dirpath, _dirs, files in os.walk(cas):
        for name in files:
            path = os.path.join(dirpath, name)
            with contextlib.suppress(FileNotFoundError, PermissionError):
                if os.stat(path).st_mtime >= since - 1:
                    fsync_path(Path(path))
        fsync_path(Path(dirpath))


def _disk_usage(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


__all__ = [
    "COMPRESSION_POLICIES",
    "XET_HASH_KEY",
    "ProgressCallback",
    "SpoolStreams",
    "XetContentPort",
    "check_compression",
    "default_compression",
]
