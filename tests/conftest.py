"""Project-wide test setup.

Only our own backends are loaded: a plugin that happens to be installed on the machine
must not change what the suite tests (``ARTIFACTSTORE_PLUGINS`` limits the entry points).
"""

from __future__ import annotations

import os

os.environ["ARTIFACTSTORE_PLUGINS"] = "git,s3,xet"
os.environ.setdefault("ARTIFACTSTORE_AUTHOR", "Test Suite <tests@artifactstore.invalid>")
