"""Files MLflow's server sends straight from disk (``ArtifactRepository.get_local_path``).

MLflow's download routes send a file directly when the repository names a local file for
it, and otherwise download the artifact whole into a temporary directory first. Git keeps
each file above its inline threshold as one Git LFS object, so the adapter names that file:
no temporary copy (a 10 GB model needs no 10 GB of ``$TMPDIR``), and the client gets its
first byte at once instead of after the copy.

MLflow guesses the response's ``Content-Type`` from the name of the file it sends, and an
LFS object is named by its SHA-256. So the adapter hands MLflow a symbolic link named like
the artifact, ``$TMPDIR/artifactstore-serve-<uid>/<key of the target>/<artifact name>``, so
that the headers are the built-in's. The directory belongs to the server's user (made with
mode 0700; refused, on every use, when anyone else may write to it) and holds one link per
file and name served, reused by every process and restart. A link is followed only after
the store found its file for the requested revision. Where links cannot be made (Windows
without the privilege), the download goes through a temporary copy as before.

Such a download is not re-hashed: the file's name is the SHA-256 computed when it was
written and its size is checked per request, but hashing a 10 GB file before each download
would hold up the server's event loop, which calls ``get_local_path``. Set
``ARTIFACTSTORE_MLFLOW_VERIFY_DOWNLOADS=1`` in the server's environment to have every
download go through a temporary copy that is checked against its SHA-256 as it is made.
(The ``artifactstore`` app, :mod:`.app`, streams every download and checks it as it goes;
it does not use this module.)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

#: Environment variable: "1" (or "true", "yes") makes every download a verified temporary copy.
ENV_VERIFY_DOWNLOADS = "ARTIFACTSTORE_MLFLOW_VERIFY_DOWNLOADS"
_TRUE = {"1", "true", "yes", "on"}


def verify_every_download() -> bool:
    """True when the server's environment asks for every download to be verified."""
    return os.environ.get(ENV_VERIFY_DOWNLOADS, "").strip().lower() in _TRUE


def served_name(target: Path, name: str) -> str:
    """A path named ``name`` that leads to ``target``: a symbolic link in the user's link directory.

    Links are keyed by their target, so serving one file again reuses its link; they are
    replaced atomically, so concurrent requests for one file never see a missing link.
    Raises :class:`OSError` when no link can be made.
    """
    target = target.absolute()
    directory = _private_dir(_links_root() / hashlib.sha256(os.fsencode(target)).hexdigest()[:32])
    link = directory / name
    try:
        if os.readlink(link) == os.fspath(target):
            return os.fspath(link)
    except OSError:
        pass  # not linked yet (or linked elsewhere): (re)link below
    staging = directory / f".link-{secrets.token_hex(8)}"
    os.symlink(target, staging)
    os.replace(staging, link)
    return os.fspath(link)


def _links_root() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return _private_dir(Path(tempfile.gettempdir()) / f"artifactstore-serve-{uid}")


def _private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can change: made with mode 0700, else checked."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    owner = os.getuid() if hasattr(os, "getuid") else st.st_uid
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != owner or st.st_mode & 0o022:
        raise PermissionError(
            f"{str(path)!r} is not a directory that only this user can change; remove it, or set TMPDIR elsewhere"
        )
    return path


__all__ = ["ENV_VERIFY_DOWNLOADS", "served_name", "verify_every_download"]
