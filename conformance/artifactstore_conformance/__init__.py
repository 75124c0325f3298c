"""The artifactstore conformance suite: the tests every backend, ours or a third party's, runs.

A backend's test file is one class::

    from artifactstore_conformance import BackendSuite

    class TestGitConformance(BackendSuite):
        backend_name = "git"

or, for a store that is not registered as a plugin, subclass :class:`ConformanceSuite` and
provide the ``store_factory``, ``corrupt_content`` and ``corrupt_object`` fixtures.

:func:`check_invariants` is the oracle the fault-injection tests assert after a crash, a full
disk or damaged bytes (see :mod:`artifactstore_conformance.invariants`).
"""

from __future__ import annotations

from .backend import BackendSuite
from .bad_input import BAD_INPUTS, BadInputTests
from .commits import CommitTests
from .concurrency import ConcurrencyTests
from .diff_merge import DiffTests, MergeTests
from .fixtures import StoreFixtures
from .history import HistoryTests, TimeTravelTests
from .integrity import IntegrityTests, MaintenanceTests
from .invariants import InvariantReport, check_invariants, inspect_store
from .large import LargeDirectoryTests, LargeFileTests
from .reads import ReadTests
from .refs import BranchTests, TagTests
from .state_machine import StateMachineTests
from .suite import AREAS, ConformanceSuite

__version__ = "0.1.0"

__all__ = [
    "AREAS",
    "BAD_INPUTS",
    "BackendSuite",
    "BadInputTests",
    "BranchTests",
    "CommitTests",
    "ConcurrencyTests",
    "ConformanceSuite",
    "DiffTests",
    "HistoryTests",
    "IntegrityTests",
    "InvariantReport",
    "LargeDirectoryTests",
    "LargeFileTests",
    "MaintenanceTests",
    "MergeTests",
    "ReadTests",
    "StateMachineTests",
    "StoreFixtures",
    "TagTests",
    "TimeTravelTests",
    "check_invariants",
    "inspect_store",
]
