"""AOI stores: atomic stage writes, manifest, COGs, on a local path and on the S3 endpoint."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr
from rich.console import Console

from cube.errors import InvalidInputError, StoreIncompleteError
from cube.store import (
    REGIONS_SUFFIX,
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
        write_dataset(_raster(fail=True), loc, "features.zarr", "features", chunks_per_region=1)
    assert not open_fs(loc).exists(loc.url("features.zarr"))
    assert not open_fs(loc).exists(loc.url(f"features.zarr{REGIONS_SUFFIX}"))
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


class _Blocks:
    """Counts the blocks of ``features`` a write computes; raises from a row on if asked."""

    def __init__(
        self, raise_at: int | None = None, error: type[BaseException] = KeyboardInterrupt
    ) -> None:
        self.rows: list[int] = []
        self.raise_at = raise_at
        self.error = error
        self._lock = threading.Lock()

    def __call__(self, block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        y0 = block_info[None]["array-location"][1][0]
        if self.raise_at is not None and y0 >= self.raise_at:
            raise self.error(f"block at row {y0}")
        with self._lock:
            self.rows.append(y0)
        return block


def _grid(blocks: _Blocks | None = None, method: str = "median") -> xr.Dataset:
    """8 chunk rows of 16 px along y; ``features`` has 4 chunks per row."""
    data = da.arange(2 * 128 * 32, dtype=np.float32).reshape(2, 128, 32).rechunk((1, 16, 16))
    if blocks is not None:
        data = data.map_blocks(blocks, dtype=np.float32)
    ds = xr.Dataset(
        {
            "features": (("band", "y", "x"), data),
            "clear_count": (("y", "x"), da.ones((128, 32), chunks=16, dtype=np.uint8)),
            "label": (("band",), np.array(["red", "nir"], dtype=object)),
        },
        coords={
            "band": ["B04", "B08"],
            "y": 5_000_005.0 - 10 * np.arange(128),
            "x": 400_005.0 + 10 * np.arange(32),
        },
        attrs={"method": method},
    ).rio.write_crs("EPSG:32641")
    return ds.assign_coords(spatial_ref=ds["spatial_ref"].chunk())  # lazy, as read from Zarr


def _plain(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """``ds`` written by one plain ``to_zarr`` and read back as :func:`open_dataset` reads."""
    ds.to_zarr(path, mode="w", consolidated=False)
    return xr.open_zarr(path, consolidated=False).set_coords("spatial_ref").load()


def _interrupt(loc: StoreLocation) -> None:
    """A write of ``_grid`` interrupted in its third region (rows 64-96)."""
    with pytest.raises(KeyboardInterrupt):
        write_dataset(_grid(_Blocks(raise_at=64)), loc, "f.zarr", "features", chunks_per_region=8)


def test_region_writes_equal_a_plain_to_zarr(loc: StoreLocation, tmp_path: Path):
    out = io.StringIO()
    write_dataset(
        _grid(), loc, "f.zarr", "features", chunks_per_region=4, console=Console(file=out)
    )
    assert "8 regions along y" in out.getvalue()
    assert not open_fs(loc).exists(loc.url(f"f.zarr{REGIONS_SUFFIX}"))
    back = open_dataset(loc, "f.zarr", "features").load()
    xr.testing.assert_identical(back, _plain(_grid(), tmp_path / "plain.zarr"))


def test_interrupted_write_resumes_from_recorded_regions(loc: StoreLocation, tmp_path: Path):
    _interrupt(loc)
    marker = json.loads(open_fs(loc).cat_file(loc.url(f"f.zarr{REGIONS_SUFFIX}")))
    assert marker["written"] == [[0, 32], [32, 64]]
    assert read_manifest(loc)["stages"]["features"] == "running"
    with pytest.raises(StoreIncompleteError):
        open_dataset(loc, "f.zarr", "features")
    with pytest.raises(ValueError, match="Consolidated metadata"):  # not complete to Zarr either
        xr.open_zarr(loc.url("f.zarr"), consolidated=True, storage_options=loc.options)

    blocks, out = _Blocks(), io.StringIO()
    write_dataset(
        _grid(blocks), loc, "f.zarr", "features", chunks_per_region=8, console=Console(file=out)
    )
    assert sorted(blocks.rows) == sorted(4 * [64, 80, 96, 112])  # 2 bands x 2 columns per row
    assert "2 regions along y, resuming: 4 of 8 chunk rows written" in out.getvalue()
    assert stage_done(loc, "features")
    back = open_dataset(loc, "f.zarr", "features").load()
    xr.testing.assert_identical(back, _plain(_grid(), tmp_path / "plain.zarr"))


def test_a_different_dataset_starts_over(tmp_path: Path):
    loc = StoreLocation(str(tmp_path / "store"), "aoi_a")
    _interrupt(loc)
    blocks = _Blocks()
    write_dataset(_grid(blocks, "mean"), loc, "f.zarr", "features", chunks_per_region=8)
    assert len(blocks.rows) == 32  # every block again
    back = open_dataset(loc, "f.zarr", "features").load()
    xr.testing.assert_identical(back, _plain(_grid(method="mean"), tmp_path / "plain.zarr"))


def test_a_done_stage_is_written_afresh(tmp_path: Path):
    loc = StoreLocation(str(tmp_path / "store"), "aoi_a")
    write_dataset(_grid(), loc, "f.zarr", "features", chunks_per_region=8)
    blocks = _Blocks()
    write_dataset(_grid(blocks), loc, "f.zarr", "features", chunks_per_region=8)
    assert len(blocks.rows) == 32


def test_failed_resume_removes_the_partial_store(tmp_path: Path):
    loc = StoreLocation(str(tmp_path / "store"), "aoi_a")
    _interrupt(loc)
    corrupt = _grid(_Blocks(raise_at=96, error=RuntimeError))  # the same dataset, to Zarr
    with pytest.raises(RuntimeError, match="block at row"):
        write_dataset(corrupt, loc, "f.zarr", "features", chunks_per_region=8)
    assert not open_fs(loc).exists(loc.url("f.zarr"))
    assert not open_fs(loc).exists(loc.url(f"f.zarr{REGIONS_SUFFIX}"))
    assert read_manifest(loc)["stages"]["features"] == "failed"
