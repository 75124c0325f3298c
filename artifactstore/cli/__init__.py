"""The ``artifactstore`` command line.

Every module in this package defines its commands on :data:`main` (``@main.command()``);
they are all imported here, so adding a command is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._app import main

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["main"]
