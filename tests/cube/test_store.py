"""AOI stores: atomic stage writes, manifest, COGs, on a local path and on the S3 endpoint."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr

from cube.errors import InvalidInputError, StoreIncompleteError
from cube.store import (
    StoreLocation,
    open_dataset,
    open_fs,
    read_manifest,
    stage_done,
    update_manifest,
    write_cog,
    write_dataset,
)
from tests.conftest import S3Endpoint


def _raster(fail: bool = False) -> xr.Dataset:
    data = da.arange(2 * 64 * 64, dtype=np.float32).reshape(2, 64, 64).rechunk((1, 32, 32))
    if fail:

        def boom(block: np.ndarray) -> np.ndarray:
            if block.sum() > 1e5:
                raise RuntimeError("corrupt chunk")
            return block

        data = data.map_blocks(boom, dtype=np.float32)
    arr = xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={
            "band": ["B04", "B08"],
            "y": 5_000_005.0 - 10 * np.arange(64),
            "x": 400_005.0 + 10 * np.arange(64),
        },
    ).rio.write_crs("EPSG:32641")
    return arr.to_dataset(name="features")


@pytest.fixture(params=["local", "s3"])
def loc(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    if request.param == "local":
        return StoreLocation(str(tmp_path / "store"), "aoi_a")
    s3: S3Endpoint = request.getfixturevalue("s3")
    root: str = request.getfixturevalue("s3_root")
    return StoreLocation(root, "aoi_a", s3.storage_options)


def test_write_then_open_round_trip(loc: StoreLocation):
    ds = _raster()
    write_dataset(ds, loc, "features.zarr", "features")
    assert stage_done(loc, "features")
    back = open_dataset(loc, "features.zarr", "features")
    assert isinstance(back["features"].data, da.Array)  # lazy
    np.testing.assert_array_equal(back["features"].values, ds["features"].values)
    assert list(back["band"].values) == ["B04", "B08"]
    manifest = read_manifest(loc)
    assert manifest["aoi"] == "aoi_a" and manifest["stages"] == {"features": "done"}


def test_irregular_dask_chunks_are_made_zarr_compatible(loc: StoreLocation):
    ds = _raster()
    ds["features"] = ds["features"].chunk({"y": (16, 16, 32), "x": (20, 44)})  # last larger
    write_dataset(ds, loc, "features.zarr", "features")
    back = open_dataset(loc, "features.zarr", "features")
    np.testing.assert_array_equal(back["features"].values, ds["features"].values)


def test_incomplete_stage_is_refused(loc: StoreLocation):
    with pytest.raises(StoreIncompleteError, match=r"aoi_a.*'composite' not done"):
        open_dataset(loc, "composite.zarr", "composite")


def test_failed_write_leaves_no_partial_store(loc: StoreLocation):
    with pytest.raises(RuntimeError, match="corrupt chunk"):
        write_dataset(_raster(fail=True), loc, "features.zarr", "features")
    assert not open_fs(loc).exists(loc.url("features.zarr"))
    assert read_manifest(loc)["stages"]["features"] == "failed"
    with pytest.raises(StoreIncompleteError):
        open_dataset(loc, "features.zarr", "features")


def test_manifest_merges_stages_and_fields(loc: StoreLocation):
    update_manifest(loc, stages={"composite": "done"}, scenes=["a", "b"])
    doc = update_manifest(loc, stages={"features": "done"}, stretch={"B04": [1, 2]})
    assert doc["stages"] == {"composite": "done", "features": "done"}
    assert read_manifest(loc)["scenes"] == ["a", "b"]
    assert read_manifest(loc)["stretch"] == {"B04": [1, 2]}


def test_write_cog_with_overviews(loc: StoreLocation, tmp_path: Path):
    arr = xr.DataArray(
        np.random.default_rng(0).random((1024, 1024), dtype=np.float32),
        dims=("y", "x"),
        coords={"y": 5_000_005.0 - 10 * np.arange(1024), "x": 400_005.0 + 10 * np.arange(1024)},
    ).rio.write_crs("EPSG:32641")
    url = write_cog(arr, loc, "probability.tif")
    assert url == loc.url("probability.tif")
    local = tmp_path / "copy.tif"
    open_fs(loc).get_file(url, str(local))
    with rasterio.open(local) as src:
        assert src.crs.to_epsg() == 32641
        assert src.overviews(1)  # a real COG with overviews
        assert src.profile["compress"].lower() == "deflate"
        np.testing.assert_allclose(src.read(1), arr.values)
    with pytest.raises(InvalidInputError, match="no CRS"):
        write_cog(xr.DataArray(np.zeros((4, 4)), dims=("y", "x")), loc, "x.tif")


@pytest.mark.parametrize("aoi", ["", "a/b", ".."])
def test_bad_aoi_names(aoi: str):
    with pytest.raises(InvalidInputError, match="AOI name"):
        StoreLocation("/tmp/x", aoi)
