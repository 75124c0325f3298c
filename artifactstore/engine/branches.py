"""The engine's branches and tags, and merge."""

from __future__ import annotations

from dulwich.objects import Commit as GitCommit

from ..errors import AlreadyExists, Conflict, InvalidPath, NotADirectory, NotFound
from ..validation import validate_ref_name
from ..values import Commit
from .commits import author_line, commit_value, make_commit
from .diff import diff_dirs
from .history import is_ancestor, merge_base
from .reads import HEADS, TAGS
from .rewrite import TreeEditor
from .writes import MAX_ATTEMPTS, EngineWrites


class EngineBranches(EngineWrites):
    """Branches, tags and merge of :class:`~artifactstore.engine.EngineStore`, moved by compare-and-swap."""

    def branches(self) -> dict[str, str]:
        return {k[len(HEADS) :]: v.decode() for k, v in sorted(self.refs.list(HEADS).items())}

    def tags(self) -> dict[str, str]:
        return {k[len(TAGS) :]: self.reader.commit(v).id.decode() for k, v in sorted(self.refs.list(TAGS).items())}

    def _create_ref(self, kind: str, name: str, rev: str | None) -> str:
        with self.writing():  # the revision may be one gc found unreachable
            return self._create_ref_to(kind, name, rev)

    def _create_ref_to(self, kind: str, name: str, rev: str | None) -> str:
        prefix, other = (HEADS, TAGS) if kind == "branch" else (TAGS, HEADS)
        validate_ref_name(name, what=f"{kind} name")
        target = self.resolve_id(rev)
        if self.refs.get(other + name) is not None:
            what = "tag" if kind == "branch" else "branch"
            raise AlreadyExists(f"a {what} named {name!r} exists; {kind} and {what} names must differ")
        if not self.refs.compare_and_swap(prefix + name, None, target):
            raise AlreadyExists(f"{kind} {name!r} already exists")
        return target.decode()

    def _delete_ref(self, kind: str, name: str) -> None:
        prefix = HEADS if kind == "branch" else TAGS
        validate_ref_name(name, what=f"{kind} name")
        current = self.refs.get(prefix + name)
        if current is None or not self.refs.compare_and_swap(prefix + name, current, None):
            raise NotFound(f"{kind} {name!r} does not exist")

    def create_branch(self, name: str, *, rev: str | None = None) -> str:
        return self._create_ref("branch", name, rev)

    def delete_branch(self, name: str) -> None:
        self._delete_ref("branch", name)

    def create_tag(self, name: str, *, rev: str | None = None) -> str:
        return self._create_ref("tag", name, rev)

    def delete_tag(self, name: str) -> None:
        self._delete_ref("tag", name)

    def merge(self, source: str, *, into: str | None = None, message: str | None = None) -> Commit:
        with self.writing():
            return self._merge(source, into=into, message=message)

    def _merge(self, source: str, *, into: str | None, message: str | None) -> Commit:
        into = validate_ref_name(into or self.default_branch)
        self._check_branch_writable(into)
        source_id = self.resolve_id(source)
        ref = HEADS + into
        for _attempt in range(MAX_ATTEMPTS):
            head = self.refs.get(ref)
            if head is None:
                raise NotFound(f"branch {into!r} does not exist")
            if is_ancestor(self.reader, source_id, head):
                return commit_value(self.reader.commit(head))
            if is_ancestor(self.reader, head, source_id):
                if self.refs.compare_and_swap(ref, head, source_id):
                    return commit_value(self.reader.commit(source_id))
                continue
            commit = self._three_way(source, source_id, into, head, message)
            if self.refs.compare_and_swap(ref, head, commit.id):
                return commit_value(commit)
        raise Conflict(f"gave up merging into {into!r}: other writers keep moving it")

    def _three_way(self, source: str, source_id: bytes, into: str, head: bytes, message: str | None) -> GitCommit:
        base = merge_base(self.reader, source_id, head)
        base_tree = self.reader.commit(base).tree if base else None
        src_tree = self.reader.commit(source_id).tree
        head_tree = self.reader.commit(head).tree
        ops = self.tree_ops()
        theirs = {p: new for p, _, new in diff_dirs(ops, base_tree, src_tree)}
        ours = {p: new for p, _, new in diff_dirs(ops, base_tree, head_tree)}
        conflicts = sorted(p for p, new in theirs.items() if p in ours and ours[p] != new)
        if conflicts:
            raise Conflict(
                f"cannot merge {source!r} into {into!r}: {len(conflicts)} path(s) changed on both sides: "
                + ", ".join(repr(p) for p in conflicts[:10]),
                conflicts,
            )
        editor = TreeEditor(self.reader)
        todo = {p: new for p, new in theirs.items() if p not in ours}
        try:
            tree_id = editor.apply(head_tree, todo)
        except (InvalidPath, NotFound, NotADirectory) as exc:
            raise Conflict(f"cannot merge {source!r} into {into!r}: {exc}", list(todo)) from None
        text = message or f"merge {source} into {into}"
        commit = make_commit(tree_id, [head, source_id], author_line(None), text)
        editor.add(commit)
        editor.flush()
        return commit

__all__ = ["EngineBranches"]
