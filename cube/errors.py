"""The error hierarchy shared by every launchwatch package.

Each error subclasses a built-in so callers that do not know launchwatch still catch it
naturally (``ValueError`` for bad input, ``LookupError`` for missing things). The API maps
these classes to HTTP status codes in one table (``api.errors``); the CLI maps
:class:`InvalidInputError` to exit code 2 and everything else to exit code 1.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "EmptySearchError",
    "InvalidInputError",
    "LaunchwatchError",
    "NotFoundError",
    "ServiceUnavailableError",
    "StoreIncompleteError",
]


class LaunchwatchError(Exception):
    """Base class of every error raised on purpose by launchwatch."""


class InvalidInputError(LaunchwatchError, ValueError):
    """The caller gave input that can never work (bad bbox, unknown name, reversed dates)."""


class NotFoundError(LaunchwatchError, LookupError):
    """A named thing (detection, AOI, model, store) does not exist."""


class EmptySearchError(NotFoundError):
    """A catalog search returned no scenes for the AOI, dates and collection asked for."""


class DataError(LaunchwatchError, RuntimeError):
    """Input data exists but is unusable (corrupt COG, missing band or SCL asset)."""


class StoreIncompleteError(DataError):
    """A Zarr store exists but its manifest does not mark the stage as done."""


class ServiceUnavailableError(LaunchwatchError, ConnectionError):
    """A backing service (PostGIS, S3, Triton, MLflow, STAC API) cannot be reached."""
