"""Trees the engine writes are byte-for-byte the trees git and dulwich write."""

from __future__ import annotations

import hashlib

from dulwich.objects import ObjectID, Tree
from hypothesis import given
from hypothesis import strategies as st

from artifactstore.engine.tree import DIR_MODE, FILE_MODE, make_tree, tree_entries

# Names that probe git's order: a directory sorts as if its name ended in "/", so "a" the
# directory comes after "a-b" and "a.b" ("/" is 0x2f, after "-" and "."), a file "a" before them.
_names = st.sampled_from([b"a", b"a-b", b"a.b", b"a0", b"ab", b"b", b"\xc3\xa9", b":0", b"Z"]) | st.binary(
    min_size=1, max_size=12
).filter(lambda n: b"/" not in n and b"\0" not in n)
_entries = st.dictionaries(
    _names,
    st.tuples(st.sampled_from([FILE_MODE, DIR_MODE, 0o100755, 0o120000]), st.integers(0, 10**6)),
    max_size=40,
)


def _sha(n: int) -> bytes:
    return hashlib.sha1(str(n).encode()).hexdigest().encode()


@given(_entries)
def test_make_tree_matches_dulwich(raw: dict[bytes, tuple[int, int]]) -> None:
    entries = {name: (mode, _sha(n)) for name, (mode, n) in raw.items()}
    reference = Tree()
    for name, (mode, sha) in entries.items():
        reference.add(name, mode, ObjectID(sha))
    built = make_tree(entries)
    assert built.as_raw_string() == reference.as_raw_string()
    assert built.id == reference.id
    assert tree_entries(built) == entries


def test_empty_tree_is_gits_empty_tree() -> None:
    assert make_tree({}).id == b"4b825dc642cb6eb9a060e54bf8d69288fbee4904"
