"""Change layers between two epochs on a tiny 32 x 32 px grid."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from cube.errors import DataError, InvalidInputError
from serving.change import CHANGE_BANDS, change_layers, change_stack

BANDS = ["B02", "B03", "B04", "B08", "B11", "B12", "NDVI", "NDWI", "NDBI", "BSI"]
COORDS = {"y": 4990000.0 - 5 - 10 * np.arange(32), "x": 470000.0 + 5 + 10 * np.arange(32)}


def _features(ndbi: float, built: float | None = None) -> xr.DataArray:
    data = np.zeros((10, 32, 32), np.float32)
    data[8] = ndbi
    data[9] = ndbi / 2
    if built is not None:
        data[8, 8:16, 8:16] = built
        data[9, 8:16, 8:16] = built / 2
    arr = xr.DataArray(
        da.from_array(data, chunks=(10, 16, 16)),
        dims=("band", "y", "x"),
        coords={"band": BANDS, **COORDS},
    )
    return arr.rio.write_crs(32641)


def _prob(value: float, built: float | None = None) -> xr.DataArray:
    data = np.full((32, 32), value, np.float32)
    if built is not None:
        data[8:16, 8:16] = built
    return xr.DataArray(data, dims=("y", "x"), coords=COORDS).rio.write_crs(32641)


def test_built_block_shows_positive_change():
    layers = change_layers(_features(-0.2), _features(-0.2, 0.1), _prob(0.05), _prob(0.05, 0.95))
    assert isinstance(layers["d_ndbi"].data, da.Array)  # lazy
    out = layers.compute()
    assert float(out["d_probability"][10, 10]) == pytest.approx(0.9)
    assert float(out["d_ndbi"][10, 10]) == pytest.approx(0.3)
    assert float(out["d_bsi"][10, 10]) == pytest.approx(0.15)
    assert float(abs(out["d_ndbi"][20:, 20:]).max()) == 0.0
    assert layers.rio.crs.to_epsg() == 32641
    stack = change_stack(layers)
    assert stack.dims == ("band", "y", "x")
    assert list(stack["band"].values) == list(CHANGE_BANDS)
    assert stack.rio.crs.to_epsg() == 32641


def test_mismatched_inputs_are_rejected():
    with pytest.raises(DataError, match="grids differ"):
        change_layers(_features(0), _features(0).isel(x=slice(0, 16)), _prob(0), _prob(0))
    shifted = _features(0).assign_coords(x=COORDS["x"] + 10)
    with pytest.raises(DataError, match="x coordinates differ"):
        change_layers(_features(0), shifted, _prob(0), _prob(0))
    with pytest.raises(InvalidInputError, match="lack bands"):
        change_layers(_features(0).isel(band=slice(0, 6)), _features(0), _prob(0), _prob(0))
    with pytest.raises(InvalidInputError, match="probability dims"):
        change_layers(_features(0), _features(0), _prob(0).T, _prob(0))
