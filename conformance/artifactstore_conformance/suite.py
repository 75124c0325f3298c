"""``ConformanceSuite``: every capability area in one class for a backend's tests to subclass."""

from __future__ import annotations

from .bad_input import BadInputTests
from .commits import CommitTests
from .concurrency import ConcurrencyTests
from .diff_merge import DiffTests, MergeTests
from .history import HistoryTests, TimeTravelTests
from .integrity import IntegrityTests, MaintenanceTests
from .large import LargeDirectoryTests, LargeFileTests
from .reads import ReadTests
from .refs import BranchTests, TagTests
from .state_machine import StateMachineTests

#: The capability areas, in the order a report lists them.
AREAS = (
    ReadTests,
    TimeTravelTests,
    CommitTests,
    HistoryTests,
    BranchTests,
    TagTests,
    DiffTests,
    MergeTests,
    LargeFileTests,
    LargeDirectoryTests,
    IntegrityTests,
    MaintenanceTests,
    ConcurrencyTests,
    BadInputTests,
    StateMachineTests,
)


class ConformanceSuite(
    ReadTests,
    TimeTravelTests,
    CommitTests,
    HistoryTests,
    BranchTests,
    TagTests,
    DiffTests,
    MergeTests,
    LargeFileTests,
    LargeDirectoryTests,
    IntegrityTests,
    MaintenanceTests,
    ConcurrencyTests,
    BadInputTests,
    StateMachineTests,
):
    """Every test area. Subclass it as ``Test<Backend>Conformance`` and provide the fixtures
    ``store_factory``, ``corrupt_content`` and ``corrupt_object`` (or subclass
    :class:`~artifactstore_conformance.BackendSuite`, which provides them from the backend's
    registered conformance target)."""


__all__ = ["AREAS", "ConformanceSuite"]
