from pathlib import Path

import numpy as np
import psycopg
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from affine import Affine

from cube.errors import DataError, InvalidInputError, NotFoundError
from cube.tiles import make_tiles, open_tiles, tile_origins, write_tiles

BANDS = ["B02", "B03", "B04", "B08", "B11", "B12", "NDVI", "NDWI", "NDBI", "BSI"]
TRANSFORM = Affine(10.0, 0.0, 470000.0, 0.0, -10.0, 4990000.0)


def grid(size: int = 1024, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    """Random features and a label mask with eight small positive blobs."""
    rng = np.random.default_rng(seed)
    data = rng.random((10, size, size), dtype=np.float32)
    label = np.zeros((size, size), np.float32)
    for r, c in rng.integers(40, size - 40, (8, 2)):
        label[r - 30 : r + 30, c - 30 : c + 30] = 0.5
        label[r - 5 : r + 5, c - 5 : c + 5] = 1.0
    x = TRANSFORM.c + (np.arange(size) + 0.5) * 10.0
    y = TRANSFORM.f - (np.arange(size) + 0.5) * 10.0
    features = xr.DataArray(
        data, dims=("band", "y", "x"), coords={"band": BANDS, "y": y, "x": x}
    ).chunk({"y": 512, "x": 512})
    features = features.rio.write_crs("EPSG:32641").rio.write_transform(TRANSFORM)
    labels = xr.DataArray(
        label, dims=("y", "x"), coords={"y": y, "x": x}, attrs={"label_rule": "test rule"}
    ).chunk({"y": 512, "x": 512})
    return features, labels


def test_tile_origins_cover_the_grid():
    assert tile_origins(256, 256, 32) == [0]
    assert tile_origins(1024, 256, 32) == [0, 224, 448, 672, 768]
    assert tile_origins(480, 256, 32) == [0, 224]
    with pytest.raises(InvalidInputError, match="smaller"):
        tile_origins(200, 256, 32)


def test_make_tiles_layout_and_content():
    features, labels = grid()
    ds = make_tiles(features, labels, tile=128, overlap=32, seed=1)
    assert ds["image"].dims == ("tile", "band", "y", "x") and ds["image"].dtype == np.float32
    assert ds["label"].dims == ("tile", "y", "x")
    assert ds["image"].chunks is not None and ds["image"].chunks[2] == (128,)  # lazy
    assert list(ds["band"].values) == BANDS
    assert ds.attrs["tile_size"] == 128 and ds.attrs["overlap"] == 32
    assert ds.attrs["crs"] == "EPSG:32641" and ds.attrs["label_rule"] == "test rule"
    assert Affine(*ds.attrs["transform"]) == TRANSFORM
    for t in (0, ds.sizes["tile"] - 1):
        r, c = int(ds["row"][t]), int(ds["col"][t])
        np.testing.assert_array_equal(
            ds["image"][t].values, features.values[:, r : r + 128, c : c + 128]
        )
        np.testing.assert_array_equal(
            ds["label"][t].values, labels.values[r : r + 128, c : c + 128]
        )
    fraction = (ds["label"] == 1).mean(("y", "x")).values
    np.testing.assert_allclose(ds["positive_fraction"].values, fraction, rtol=1e-6)


def test_split_is_stratified_deterministic_and_subsampled():
    features, labels = grid()
    ds = make_tiles(features, labels, tile=128, overlap=32, seed=7, negative_ratio=2.0)
    positive = ds["positive_fraction"].values > 0
    split = ds["split"].values
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    assert n_pos >= 8
    n_all = len(tile_origins(1024, 128, 32)) ** 2
    assert n_neg == min(n_all - n_pos, 2 * n_pos)
    for stratum in (positive, ~positive):
        n = int(stratum.sum())
        counts = {s: int((split[stratum] == s).sum()) for s in ("train", "val", "test")}
        assert counts["train"] == round(0.7 * n)
        assert counts["val"] == round(0.15 * n)
        assert sum(counts.values()) == n
        assert counts["val"] > 0 and counts["test"] > 0
    again = make_tiles(features, labels, tile=128, overlap=32, seed=7, negative_ratio=2.0)
    np.testing.assert_array_equal(again["split"].values, split)
    np.testing.assert_array_equal(again["row"].values, ds["row"].values)
    other = make_tiles(features, labels, tile=128, overlap=32, seed=8, negative_ratio=2.0)
    assert not np.array_equal(other["split"].values, split)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"overlap": 128}, "overlap"), ({"overlap": -1}, "overlap"), ({"tile": 2048}, "smaller")],
)
def test_make_tiles_bad_inputs(kwargs: dict, message: str):
    features, labels = grid(256)
    with pytest.raises(InvalidInputError, match=message):
        make_tiles(features, labels, **{"tile": 128, **kwargs})
    with pytest.raises(InvalidInputError, match="do not match"):
        make_tiles(features, labels[:100], tile=128)


def test_open_tiles_from_s3(s3, s3_root: str):
    features, labels = grid(512)
    ds = make_tiles(features, labels, tile=128, overlap=32, seed=1)
    url = f"{s3_root}/demo/tiles.zarr"
    ds.to_zarr(url, storage_options=dict(s3.storage_options), mode="w")
    back = open_tiles(url, storage_options=s3.storage_options)
    assert back["image"].chunks is not None
    xr.testing.assert_equal(back["label"].load(), ds["label"].compute())
    assert list(back["split"].values) == list(ds["split"].values)
    assert back.attrs["tile_size"] == 128


def test_open_tiles_errors(tmp_path: Path):
    with pytest.raises(NotFoundError, match="no tiles"):
        open_tiles(str(tmp_path / "missing.zarr"))
    xr.Dataset({"image": ("tile", np.zeros(2))}).to_zarr(tmp_path / "bad.zarr")
    with pytest.raises(DataError, match="label"):
        open_tiles(str(tmp_path / "bad.zarr"))


def test_write_tiles_round_trip_s3_and_postgis(s3, s3_root: str, pg_dsn: str):
    store = pytest.importorskip("cube.store")
    features, labels = grid(512)
    ds = make_tiles(features, labels, tile=128, overlap=32, seed=1)
    loc = store.StoreLocation(root=s3_root, aoi="demo", storage_options=s3.storage_options)
    url = write_tiles(ds, loc, dsn=pg_dsn)
    assert url == loc.url("tiles.zarr")
    back = open_tiles(url, storage_options=s3.storage_options)
    xr.testing.assert_equal(back["image"].load(), ds["image"].compute())
    assert store.read_manifest(loc)["stages"]["tiles"] == "done"
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            'SELECT "row", col, split, positive_fraction, ST_XMin(bbox), ST_YMax(bbox) '
            'FROM tiles WHERE aoi = %s ORDER BY "row", col',
            ("demo",),
        ).fetchall()
    assert len(rows) == ds.sizes["tile"]
    first = rows[0]
    assert (first[0], first[1]) == (int(ds["row"][0]), int(ds["col"][0]))
    assert 62.5 < first[4] < 63.0 and 44.9 < first[5] < 45.1
    write_tiles(ds, loc, dsn=pg_dsn)  # re-run replaces, no duplicates
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM tiles").fetchone()[0] == ds.sizes["tile"]


def test_write_tiles_rejects_non_tiles_dataset(tmp_path: Path):
    store = pytest.importorskip("cube.store")
    loc = store.StoreLocation(root=str(tmp_path), aoi="demo", storage_options=None)
    with pytest.raises(InvalidInputError, match="not a tiles dataset"):
        write_tiles(xr.Dataset({"image": ("tile", np.zeros(2))}), loc)
    assert not (tmp_path / "demo" / "tiles.zarr").exists()
