"""The suite against whichever backend ``--artifactstore-backend NAME`` names.

``artifactstore conformance --backend NAME [--uri URI]`` runs::

    python -m pytest -p artifactstore_conformance.plugin --pyargs artifactstore_conformance.generic \
        --artifactstore-backend NAME [--artifactstore-uri URI]
"""

from __future__ import annotations

from .backend import BackendSuite


class TestConformance(BackendSuite):
    """Every conformance test, for the backend given on the command line."""


__all__ = ["TestConformance"]
