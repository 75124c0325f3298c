"""MLflow tests: helper modules beside this file are imported by plain name.

This directory has no ``__init__.py`` on purpose: as a package it would be called
``mlflow`` and hide the real MLflow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'mlflow>=3,<4')")
