"""Artifact paths as MLflow hands them to a repository, and what commit messages say about them.

MLflow has already percent-decoded every path it passes (``validate_path_is_safe`` decodes
before it checks); a ``%2F`` that reaches us is three literal characters and stays so.
MLflow's own check lets ``a/./b``, ``..\\..\\x``, ``.git/config``, ``C:foo`` and over-long
names through on POSIX servers; :func:`artifactstore.validation.validate_path` rejects them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..validation import validate_path

# MLflow lays artifacts out as <experiment>/<run id>/artifacts/..., LoggedModels as
# <experiment>/models/m-<hex>/artifacts/... and traces as <experiment>/traces/tr-<hex>/artifacts/...
# Anything may precede the experiment (a sub-path of the store, a workspace prefix).
_OWNER = re.compile(
    r"(?:^|/)(?P<experiment>[^/]+)/"
    r"(?:(?P<run>[0-9a-f]{32})|models/(?P<model>m-[0-9a-f]+)|traces/(?P<trace>tr-[0-9a-f]+))"
    r"/artifacts(?:/(?P<rest>.*))?$"
)


def join(*parts: str | None) -> str:
    """Join non-empty parts with ``/`` without normalising anything (validation judges the result)."""
    return "/".join(p for p in parts if p)


def directory_arg(directory: str | None) -> str | None:
    """An ``artifact_path`` directory argument with one trailing ``/`` dropped (``"model/"`` is ``"model"``)."""
    if directory and directory.endswith("/") and not directory.endswith("//"):
        return directory[:-1]
    return directory


def store_path(root: str, relative: str | None, *, allow_root: bool = False) -> str:
    """The path inside the store of ``relative`` (a path MLflow gave us) below ``root``.

    ``relative`` must be canonical: ``validate_path`` rejects ``.`` and ``..`` segments,
    backslashes, ``:``, ``.git`` in any disguise, control characters and over-long names.
    With ``allow_root`` (reads and listings) an empty path means ``root`` itself, and one
    trailing ``/`` is tolerated because MLflow's own clients send ``dir/`` for directories.
    """
    if allow_root:
        relative = directory_arg(relative)
    if relative:
        # Validate the part MLflow gave us on its own first: an absolute or empty-segment
        # path would otherwise be hidden by the join.
        validate_path(relative, what="artifact path")
    full = join(root, relative)
    return validate_path(full, allow_root=allow_root, what="artifact path")


@dataclass(frozen=True, slots=True)
class Owner:
    """What a store path belongs to in MLflow's layout (all ``None`` when it is not MLflow's)."""

    experiment: str | None = None
    run: str | None = None
    model: str | None = None
    trace: str | None = None
    relative: str = ""

    def describe(self) -> str:
        """``experiment 1, run 0123...`` (or ``model m-...`` / ``trace tr-...``); "" when unknown."""
        if self.experiment is None:
            return ""
        if self.run:
            return f"experiment {self.experiment}, run {self.run}"
        if self.model:
            return f"experiment {self.experiment}, model {self.model}"
        return f"experiment {self.experiment}, trace {self.trace}"


def owner_of(path: str) -> Owner:
    """Find the experiment and the run, LoggedModel or trace a store path belongs to."""
    match = _OWNER.search(path)
    if not match:
        return Owner(relative=path)
    return Owner(
        experiment=match["experiment"],
        run=match["run"],
        model=match["model"],
        trace=match["trace"],
        relative=match["rest"] or "",
    )


def commit_message(action: str, path: str, *, count: int | None = None) -> str:
    """A commit message naming the experiment, the run (or model, or trace) and the path.

    ``mlflow: log model/MLmodel (experiment 1, run 5f0e...)``; with ``count``,
    ``mlflow: log 7 files to model (experiment 1, run 5f0e...)``. At the owner's root (what
    ``mlflow gc`` deletes): ``mlflow: delete all artifacts (...)``, ``mlflow: log 7 files (...)``.
    """
    owner = owner_of(path)
    shown = owner.relative if owner.experiment else path
    if count is not None:
        what = f"{count} file{'s' if count != 1 else ''}" + (f" to {shown}" if shown else "")
    else:
        what = shown or "all artifacts"
    context = owner.describe()
    return f"mlflow: {action} {what}" + (f" ({context})" if context else "")


__all__ = ["Owner", "commit_message", "directory_arg", "join", "owner_of", "store_path"]
