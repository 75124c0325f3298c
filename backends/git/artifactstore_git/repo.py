"""Finding, opening and creating the git repository a store lives in.

A location is a repository when it is a git directory (``HEAD``, ``objects/``, ``refs/``:
a bare repository, or the ``.git`` directory of a working tree) or a directory holding
``.git`` (a directory, or a file ``gitdir: ...`` for a linked worktree). Objects, refs and
LFS content live in the *common* directory, which differs from the git directory only in
a linked worktree.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from artifactstore.errors import AlreadyExists, InvalidInput, NotADirectory, WriteRefused

log = logging.getLogger(__name__)

SYMREF_PREFIX = b"ref: "


@dataclass(frozen=True, slots=True)
class RepoLayout:
    """Where the parts of one repository are on disk.

    ``root`` is what the store URI names; ``worktree`` is ``None`` for a bare repository.
    """

    root: Path
    gitdir: Path
    commondir: Path
    worktree: Path | None

    @property
    def bare(self) -> bool:
        return self.worktree is None


def _is_gitdir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _read_gitfile(dotgit: Path) -> Path | None:
    try:
        text = dotgit.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return target if target.is_absolute() else (dotgit.parent / target).resolve()


def _commondir(gitdir: Path) -> Path:
    try:
        text = (gitdir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return gitdir
    target = Path(text)
    return target if target.is_absolute() else (gitdir / target).resolve()


def _config_says_bare(commondir: Path) -> bool | None:
    from dulwich.config import ConfigFile

    try:
        config = ConfigFile.from_path(str(commondir / "config"))
    except (OSError, ValueError):
        return None
    try:
        value: bool | None = config.get_boolean((b"core",), b"bare")
        return value
    except (KeyError, ValueError):
        return None


def find_repository(path: Path) -> RepoLayout | None:
    """Describe the repository at exactly ``path``, or ``None`` if ``path`` is not one."""
    dotgit = path / ".git"
    if dotgit.is_dir() and _is_gitdir(dotgit):
        return RepoLayout(path, dotgit, _commondir(dotgit), path)
    if dotgit.is_file():
        gitdir = _read_gitfile(dotgit)
        if gitdir is not None and gitdir.is_dir():
            return RepoLayout(path, gitdir, _commondir(gitdir), path)
    if path.is_dir() and _is_gitdir(path):
        commondir = _commondir(path)
        worktree: Path | None = None
        if _config_says_bare(commondir) is False and path.name == ".git":
            # The .git directory of a working tree, named directly: the tree is its parent.
            worktree = path.parent
        return RepoLayout(path, path, commondir, worktree)
    return None


def split_repository_path(path: str) -> tuple[str, str]:
    """Split ``path`` into ``(repository, path inside it)`` by walking up to the nearest repository.

    When no prefix of ``path`` is a repository (the store is about to be created) the whole
    path is the repository.
    """
    absolute = path.startswith("/")
    parts = [p for p in path.split("/") if p]
    base = Path("/") if absolute else Path.cwd()
    for end in range(len(parts), 0, -1):
        candidate = base.joinpath(*parts[:end])
        if find_repository(candidate) is not None:
            prefix = "/".join(parts[:end])
            return ("/" + prefix) if absolute else prefix, "/".join(parts[end:])
    return ("/" if absolute else "") + "/".join(parts), ""


def create_bare_repository(path: Path, branch: str) -> RepoLayout:
    """Create a bare repository at ``path`` whose HEAD names ``refs/heads/<branch>``.

    ``path`` may be missing or an empty directory; anything else is refused before a file
    is written.
    """
    from dulwich.repo import Repo

    if path.exists() and not path.is_dir():
        raise NotADirectory(f"cannot create a store at {str(path)!r}: it is a file; choose a directory path")
    if path.is_dir() and any(path.iterdir()):
        raise AlreadyExists(
            f"cannot create a store at {str(path)!r}: the directory is not empty and is not a git repository; "
            "choose a new or empty directory"
        )
    path.mkdir(parents=True, exist_ok=True)
    try:
        Repo.init_bare(str(path), default_branch=branch.encode("utf-8")).close()
    except OSError as exc:
        raise InvalidInput(f"cannot create a git repository at {str(path)!r}: {exc}") from exc
    for sub in ("lfs/objects", "lfs/tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    log.info("created bare git repository %s with HEAD -> refs/heads/%s", path, branch)
    layout = find_repository(path)
    assert layout is not None
    return layout


def head_target(gitdir: Path) -> str | None:
    """The ref ``gitdir/HEAD`` points to (``refs/heads/main``), or ``None`` when detached or unreadable."""
    try:
        data = (gitdir / "HEAD").read_bytes()
    except OSError:
        return None
    if data.startswith(SYMREF_PREFIX):
        return data[len(SYMREF_PREFIX) :].strip().decode("utf-8", "replace")
    return None


def checked_out_branches(layout: RepoLayout) -> dict[str, Path]:
    """Map each branch checked out in a working tree of this repository to that tree.

    The main working tree (when the repository is not bare) and every linked worktree
    (``git worktree add``) count; read fresh on every call because ``git checkout`` may
    move HEAD at any time.
    """
    result: dict[str, Path] = {}
    if layout.worktree is not None:
        main_gitdir = layout.commondir
        target = head_target(main_gitdir)
        if target is not None:
            main_tree = layout.worktree if layout.gitdir == layout.commondir else _worktree_of(main_gitdir)
            result[target] = main_tree or layout.worktree
    worktrees = layout.commondir / "worktrees"
    try:
        entries = list(os.scandir(worktrees))
    except OSError:
        entries = []
    for entry in entries:
        wt_gitdir = Path(entry.path)
        target = head_target(wt_gitdir)
        if target is None:
            continue
        tree = _worktree_of(wt_gitdir) or wt_gitdir
        result.setdefault(target, tree)
    return result


def _worktree_of(gitdir: Path) -> Path | None:
    try:
        text = (gitdir / "gitdir").read_text(encoding="utf-8").strip()
    except OSError:
        return gitdir.parent if gitdir.name == ".git" else None
    return Path(text).parent


__all__ = [
    "RepoLayout",
    "checked_out_branches",
    "create_bare_repository",
    "find_repository",
    "head_target",
    "split_repository_path",
]


def refuse_checked_out(layout: RepoLayout, ref: str) -> None:
    """Raise ``WriteRefused`` when ``ref`` is the branch checked out in one of the repository's
    working trees: writing it would leave that tree's files and index stale."""
    if not ref.startswith("refs/heads/"):
        return
    trees = checked_out_branches(layout)
    if ref in trees:
        branch = ref[len("refs/heads/") :]
        raise WriteRefused(
            f"branch {branch!r} is checked out in the working tree {str(trees[ref])!r}, and writing to it "
            f"would leave that tree's files and index stale; write to another branch "
            f"(append @<branch> to the store URI) or use a bare repository"
        )
