"""The commit engine: git's object model (via dulwich) over three backend ports.

This is the whole surface a backend author needs: subclass :class:`EngineStore`, supply
an :class:`ObjectPort`, a :class:`RefPort` and a :class:`ContentPort`, and list the
mixins of the optional protocols the backend honours (:class:`LocalFiles`,
:class:`QuickCommits`). Option parsing (:func:`as_bool`, :func:`as_int`) and
:func:`validate_ref_name` are here for backends too. Backends import from here, never from the engine's submodules.
"""

from __future__ import annotations

from ..options import as_bool, as_int
from ..validation import validate_ref_name
from .commits import CommitMessage
from .gcguard import may_wait
from .maintenance import remove_files_older_than
from .pointer import encode_pointer, parse_pointer
from .ports import ContentInfo, ContentPort, ObjectPort, RefPort, StoredObject
from .rewrite import TreeEditor
from .serving import LocalFiles, QuickCommits
from .store import DEFAULT_INLINE_THRESHOLD, EngineStore
from .streams import PrefixedReader, SeekableReader, VerifiedReader, read_at_most
from .tree import LEAF_MAX, TreeItem

__all__ = [
    "DEFAULT_INLINE_THRESHOLD",
    "LEAF_MAX",
    "CommitMessage",
    "ContentInfo",
    "ContentPort",
    "EngineStore",
    "LocalFiles",
    "ObjectPort",
    "PrefixedReader",
    "QuickCommits",
    "RefPort",
    "SeekableReader",
    "StoredObject",
    "TreeEditor",
    "TreeItem",
    "VerifiedReader",
    "as_bool",
    "as_int",
    "encode_pointer",
    "may_wait",
    "parse_pointer",
    "read_at_most",
    "remove_files_older_than",
    "validate_ref_name",
]
