"""Translate artifactstore errors into the MLflow exceptions its server maps to HTTP statuses.

MLflow's handlers turn an :class:`~mlflow.exceptions.MlflowException` into a JSON error
with the status its error code names (``INVALID_PARAMETER_VALUE`` is 400,
``RESOURCE_DOES_NOT_EXIST`` 404, ``RESOURCE_CONFLICT`` 409); any other exception becomes a
500 with a traceback in the server log. Bad input must read as the client's fault.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    DATA_LOSS,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_CONFLICT,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)

from .. import errors

# Most specific first: the first matching class decides the code.
_CODES: tuple[tuple[type[errors.ArtifactStoreError], int], ...] = (
    (errors.InvalidInput, INVALID_PARAMETER_VALUE),
    (errors.NotFound, RESOURCE_DOES_NOT_EXIST),
    (errors.AlreadyExists, RESOURCE_ALREADY_EXISTS),
    (errors.IsADirectory, INVALID_PARAMETER_VALUE),
    (errors.NotADirectory, INVALID_PARAMETER_VALUE),
    (errors.Conflict, RESOURCE_CONFLICT),
    (errors.WriteRefused, PERMISSION_DENIED),
    (errors.LockTimeout, TEMPORARILY_UNAVAILABLE),
    (errors.IntegrityError, DATA_LOSS),
    (errors.UnknownBackend, INVALID_PARAMETER_VALUE),
    (errors.BackendUnavailable, INVALID_PARAMETER_VALUE),
)


def to_mlflow_exception(exc: errors.ArtifactStoreError) -> MlflowException:
    """The :class:`MlflowException` that reports ``exc`` with the matching error code."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return MlflowException(str(exc), error_code=code)
    return MlflowException(str(exc), error_code=INTERNAL_ERROR)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise any artifactstore error inside the block as an :class:`MlflowException`."""
    try:
        yield
    except errors.ArtifactStoreError as exc:
        raise to_mlflow_exception(exc) from exc


__all__ = ["to_mlflow_exception", "translated"]
