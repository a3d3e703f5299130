"""One table from error classes to HTTP status codes, and the handlers that apply it.

Routers raise :mod:`cube.errors` classes; TiTiler/rio-tiler and SQLAlchemy raise their own.
Starlette picks the handler of the most specific class in the exception's MRO, so e.g.
:class:`~cube.errors.StoreIncompleteError` (409) wins over its base
:class:`~cube.errors.DataError` (500). Every response is ``{"detail": "<message>"}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from rasterio.errors import RasterioIOError
from rio_tiler.errors import (
    InvalidBandName,
    InvalidColorFormat,
    InvalidExpression,
    InvalidFormat,
    MissingBands,
    TileOutsideBounds,
)
from sqlalchemy.exc import OperationalError
from titiler.core.errors import BadRequestError, TileNotFoundError

from cube.errors import (
    DataError,
    EmptySearchError,
    InvalidInputError,
    LaunchwatchError,
    NotFoundError,
    ServiceUnavailableError,
    StoreIncompleteError,
)

__all__ = ["STATUS_BY_ERROR", "add_error_handlers", "status_for"]

STATUS_BY_ERROR: dict[type[Exception], int] = {
    # launchwatch domain errors
    InvalidInputError: 422,
    NotFoundError: 404,
    EmptySearchError: 404,
    StoreIncompleteError: 409,
    DataError: 500,
    ServiceUnavailableError: 503,
    LaunchwatchError: 500,
    # database down
    OperationalError: 503,
    # rasters (TiTiler / rio-tiler)
    RasterioIOError: 404,  # no COG at the AOI's URL
    TileOutsideBounds: 404,
    TileNotFoundError: 404,
    BadRequestError: 400,
    MissingBands: 400,
    InvalidColorFormat: 400,
    InvalidExpression: 400,
    InvalidFormat: 400,
    InvalidBandName: 404,
    # absurd numeric query values (e.g. a TiTiler tile buffer of 1e308) overflow in the reader
    OverflowError: 400,
}

#: Messages not passed through to clients (they may carry connection strings).
_HIDDEN: dict[type[Exception], str] = {OperationalError: "PostGIS unavailable"}


def status_for(exc: Exception) -> int:
    """HTTP status of an exception: the entry of its most specific mapped class, else 500."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _handler(cls: type[Exception]) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        detail = _HIDDEN.get(cls, str(exc))
        return JSONResponse({"detail": detail}, status_code=status_for(exc))

    return handle


def add_error_handlers(app: FastAPI) -> None:
    """Register one handler per class of :data:`STATUS_BY_ERROR`."""
    for cls in STATUS_BY_ERROR:
        app.add_exception_handler(cls, _handler(cls))
