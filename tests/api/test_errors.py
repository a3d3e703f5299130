import pytest
from rasterio.errors import RasterioIOError
from sqlalchemy.exc import OperationalError

from api.errors import status_for
from cube.errors import (
    DataError,
    EmptySearchError,
    InvalidInputError,
    LaunchwatchError,
    NotFoundError,
    ServiceUnavailableError,
    StoreIncompleteError,
)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InvalidInputError("bad bbox"), 422),
        (NotFoundError("no detection 3"), 404),
        (EmptySearchError("no scenes"), 404),
        (StoreIncompleteError("features not done"), 409),
        (DataError("corrupt COG"), 500),
        (ServiceUnavailableError("PostGIS down"), 503),
        (LaunchwatchError("other"), 500),
        (OperationalError("SELECT 1", {}, Exception("refused")), 503),
        (RasterioIOError("no such file"), 404),
        (OverflowError("cannot convert float infinity to integer"), 400),
        (RuntimeError("bug"), 500),
    ],
)
def test_status_table(exc: Exception, status: int) -> None:
    assert status_for(exc) == status
