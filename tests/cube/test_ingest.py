"""``cube.run ingest`` on tiny synthetic scenes: stages, resume, PostGIS rows, bad inputs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr
from pydantic import SecretStr

from cube.aoi import parse_aoi
from cube.commands import ingest
from cube.features import FEATURE_BANDS
from cube.run import main
from cube.settings import Settings
from cube.store import StoreLocation, open_dataset, open_fs, read_manifest
from cube.synthetic import SceneSpec, SyntheticCatalog, generate_scenes
from tests.conftest import S3Endpoint

SPEC = SceneSpec(
    name="ing", seed=11, size_px=512, n_dates=3, n_complexes=1, n_confusers=1, with_s1=True
)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCatalog:
    cat = generate_scenes([SPEC], tmp_path_factory.mktemp("ingest"))
    footprint = json.loads(cat.scenes.read_text())["features"][0]["geometry"]
    (cat.root / "ing_aoi.geojson").write_text(json.dumps(footprint))
    return cat


def _argv(scenes: SyntheticCatalog, store: Path, *extra: str) -> list[str]:
    return [
        "ingest",
        "--aoi",
        str(scenes.root / "ing_aoi.geojson"),
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--max-cloud",
        "100",
        "--catalog",
        str(scenes.items),
        "--store",
        str(store),
        "--known-sites",
        str(scenes.known_sites),
        "--scheduler",
        "threads",
        "--tile",
        "128",
        *extra,
    ]


@pytest.fixture
def db_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from urllib.parse import urlparse

    dsn = urlparse(pg_dsn)
    monkeypatch.setenv("POSTGRES_PORT", str(dsn.port))
    monkeypatch.setenv("POSTGRES_DB", dsn.path.lstrip("/"))
    monkeypatch.setenv("POSTGRES_USER", dsn.username or "postgres")
    monkeypatch.setenv("POSTGRES_PASSWORD", dsn.password or "")
    return pg_dsn


def test_ingest_writes_every_stage_and_catalog_rows(
    scenes: SyntheticCatalog, tmp_path: Path, db_env: str
):
    argv = _argv(scenes, tmp_path, "--collections", "sentinel-2-l2a", "sentinel-1-rtc")
    assert main(argv) == 0
    loc = StoreLocation(str(tmp_path), "ing_aoi")
    manifest = read_manifest(loc)
    assert manifest["stages"] == {
        "composite": "done",
        "s1": "done",
        "features": "done",
        "tiles": "done",
    }
    assert len(manifest["scenes"]) == 3 and len(manifest["stretch_low"]) == 6
    assert len(manifest["s1_scenes"]) == 3
    sar = open_dataset(loc, "s1.zarr", "s1")["backscatter"]
    assert sar.dims == ("time", "band", "y", "x") and list(sar["band"].values) == ["vv", "vh"]
    assert sar.dtype == np.float32 and sar.rio.crs.to_epsg() == 32641
    grid = open_dataset(loc, "composite.zarr", "composite")
    np.testing.assert_array_equal(sar["x"].values, grid["x"].values)  # the optical grid
    valid = sar.values[sar.values != -32768]
    assert valid.size and -40 < float(np.median(valid)) < 10  # dB backscatter
    comp = open_dataset(loc, "composite.zarr", "composite")
    assert comp["composite"].dtype == np.uint16 and comp["clear_count"].max() <= 3
    feats = open_dataset(loc, "features.zarr", "features")["features"]
    assert feats.sizes["band"] == 10 and feats.rio.crs.to_epsg() == 32641
    assert (tmp_path / "ing_aoi" / "composite.tif").is_file()
    with rasterio.open(tmp_path / "ing_aoi" / "coverage.tif") as cov:  # data-gap layer
        np.testing.assert_array_equal(cov.read(1), comp["clear_count"].values)
    tiles = xr.open_zarr(tmp_path / "ing_aoi" / "tiles.zarr")
    assert float(tiles["label"].max()) == 1.0  # the planted complex is a positive
    with psycopg.connect(db_env) as conn:
        sensors = conn.execute(
            "SELECT sensor, count(*) FROM imagery_catalog GROUP BY sensor ORDER BY sensor"
        ).fetchall()
        n_tiles = conn.execute("SELECT count(*) FROM tiles WHERE aoi = 'ing_aoi'").fetchone()
    assert sensors == [("sentinel-1", 3), ("sentinel-2", 3)]
    assert n_tiles == (tiles.sizes["tile"],)


def test_interrupted_ingest_resumes_from_the_done_stages(
    scenes: SyntheticCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import cube.features

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("worker lost")

    monkeypatch.setattr(cube.features, "make_features", broken)
    with pytest.raises(RuntimeError, match="worker lost"):
        main(_argv(scenes, tmp_path, "--no-db"))
    loc = StoreLocation(str(tmp_path), "ing_aoi")
    assert read_manifest(loc)["stages"] == {"composite": "done"}
    assert not (tmp_path / "ing_aoi" / "features.zarr").exists()
    before = (tmp_path / "ing_aoi" / "composite.zarr").stat().st_mtime_ns
    monkeypatch.undo()
    assert main(_argv(scenes, tmp_path, "--no-db")) == 0
    assert (tmp_path / "ing_aoi" / "composite.zarr").stat().st_mtime_ns == before  # reused
    assert read_manifest(loc)["stages"]["features"] == "done"


def test_empty_search_and_corrupt_cog_fail_cleanly(
    scenes: SyntheticCatalog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = _argv(scenes, tmp_path, "--no-db")
    argv[argv.index("--start") + 1], argv[argv.index("--end") + 1] = "2019-01-01", "2019-06-30"
    assert main(argv) == 1
    assert "no sentinel-2-l2a scenes for AOI ing_aoi between 2019-01-01" in capsys.readouterr().err
    items = json.loads(scenes.items.read_text())
    bad = tmp_path / "B08.tif"
    bad.write_bytes(b"\x00" * 64)
    second = next(f for f in items["features"] if f["id"] == "SYN_ing_20240317")
    second["assets"]["B08"]["href"] = str(bad)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(items))
    argv = _argv(scenes, tmp_path / "store", "--no-db")
    argv[argv.index("--catalog") + 1] = str(broken)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "SYN_ing_20240317 band B08: cannot read" in err
    assert not (tmp_path / "store" / "ing_aoi" / "composite.zarr").exists()


def test_reversed_dates_and_missing_scl_fail_cleanly(
    scenes: SyntheticCatalog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = _argv(scenes, tmp_path, "--no-db")
    argv[argv.index("--start") + 1], argv[argv.index("--end") + 1] = "2024-12-31", "2024-01-01"
    assert main(argv) == 2  # bad input
    assert "2024-12-31" in capsys.readouterr().err
    items = json.loads(scenes.items.read_text())
    first = next(f for f in items["features"] if f["id"] == "SYN_ing_20240305")
    del first["assets"]["SCL"]
    broken = tmp_path / "no_scl.json"
    broken.write_text(json.dumps(items))
    argv = _argv(scenes, tmp_path, "--no-db")
    argv[argv.index("--catalog") + 1] = str(broken)
    assert main(argv) == 1
    assert "SYN_ing_20240305 lacks bands ['SCL']" in capsys.readouterr().err
    assert not (tmp_path / "ing_aoi" / "composite.zarr").exists()


def test_ingest_needs_the_optical_collection(scenes: SyntheticCatalog, tmp_path: Path):
    argv = _argv(scenes, tmp_path, "--no-db", "--collections", "sentinel-1-rtc")
    assert main(argv) == 2
    assert not (tmp_path / "ing_aoi").exists()


def test_realdata_tile_through_the_stac_api_to_s3(
    realdata: Path,
    stac_api: Callable[[Sequence[Mapping[str, Any]]], str],
    s3: S3Endpoint,
    s3_root: str,
    tmp_path: Path,
):
    """Real L2A COGs served by a loopback STAC API → ingest → Zarr + COG on the S3 endpoint."""
    src = realdata / "riotilerpds_s2_l2a_29RKH_100m"
    item = json.loads((src / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item["collection"], item["links"] = "sentinel-2-l2a", []
    for asset in item["assets"].values():
        local = src / Path(asset["href"].split("?")[0]).name
        if local.exists():
            asset["href"] = local.as_uri()
    url = stac_api([item])
    minx, miny, maxx, maxy = item["bbox"]
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    parser = argparse.ArgumentParser()
    ingest.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "ingest",
            f"--aoi={cx - 0.08},{cy - 0.08},{cx + 0.08},{cy + 0.08}",  # west: starts with -
            "--start",
            "2020-02-01",
            "--end",
            "2020-02-29",
            "--max-cloud",
            "50",
            "--catalog",
            url,
            "--store",
            s3_root,
            "--resolution",
            "100",
            "--scheduler",
            "threads",
            "--no-db",
            "--known-sites",
            str(tmp_path / "none.geojson"),
        ]
    )
    (tmp_path / "none.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    settings = Settings(
        minio_endpoint=s3.endpoint_url,
        minio_access_key="testing",
        minio_secret_key=SecretStr("testing"),
    )
    assert ingest.run(args, settings) == 0
    loc = StoreLocation(s3_root, parse_aoi(args.aoi).name, s3.storage_options)
    manifest = read_manifest(loc)
    assert manifest["scenes"] == ["S2A_29RKH_20200219_0_L2A"]
    assert manifest["stages"] == {"composite": "done", "features": "done"}  # no sites: no tiles
    feats = xr.open_zarr(
        loc.url("features.zarr"), storage_options=s3.storage_options, decode_coords="all"
    )["features"]
    assert feats.rio.crs.to_epsg() == 32629  # georeferencing survives the round trip
    assert feats.rio.resolution() == (100.0, -100.0)
    assert list(feats["band"].values) == list(FEATURE_BANDS)
    v = feats.values
    assert np.isfinite(v).mean() > 0.9  # desert, 4 % cloud
    assert np.nanmin(v[:6]) == 0.0 and np.nanmax(v[:6]) == 1.0
    comp = open_dataset(loc, "composite.zarr", "composite")
    b04 = comp["composite"].sel(band="B04").values
    assert 500 < float(np.median(b04[b04 > 0])) < 6000
    cog = tmp_path / "composite.tif"
    open_fs(loc).get_file(loc.url("composite.tif"), str(cog))
    with rasterio.open(cog) as tif:
        assert tif.crs.to_epsg() == 32629 and tif.count == 6 and tif.dtypes[0] == "uint16"


def test_features_reuse_the_stretch_of_another_aoi(scenes: SyntheticCatalog, tmp_path: Path):
    """``--stretch-from``: the model's training stretch applied to the AOI it scans."""
    from cube.store import write_dataset

    low, high = [100.0, 200.0, 300.0, 400.0, 500.0, 600.0], [3000.0] * 6
    source = xr.DataArray(
        np.zeros((10, 2, 2), np.float32),
        dims=("band", "y", "x"),
        coords={"band": list(FEATURE_BANDS), "y": [1.5, 0.5], "x": [0.5, 1.5]},
        attrs={"stretch_low": low, "stretch_high": high},
    )
    write_dataset(
        source.to_dataset(name="features"),
        StoreLocation(str(tmp_path), "src"),
        "features.zarr",
        "features",
    )
    assert main(_argv(scenes, tmp_path, "--no-db", "--stretch-from", "src")) == 0
    loc = StoreLocation(str(tmp_path), "ing_aoi")
    manifest = read_manifest(loc)
    assert manifest["stretch_from"] == "src"
    assert manifest["stretch_low"] == low and manifest["stretch_high"] == high
    feats = open_dataset(loc, "features.zarr", "features")["features"]
    comp = open_dataset(loc, "composite.zarr", "composite")["composite"]
    b02 = comp.sel(band="B02").values.astype(np.float64)
    expected = np.clip((b02 - 100.0) / 2900.0, 0, 1)[b02 > 0]
    got = feats.sel(band="B02").values[b02 > 0]
    np.testing.assert_allclose(got[np.isfinite(got)], expected[np.isfinite(got)], atol=1e-5)


def test_stretch_from_an_aoi_without_features_fails_cleanly(
    scenes: SyntheticCatalog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(_argv(scenes, tmp_path, "--no-db", "--stretch-from", "nowhere")) != 0
    assert "nowhere/features.zarr of AOI nowhere is not complete" in capsys.readouterr().err
    assert not (tmp_path / "ing_aoi" / "features.zarr").exists()
    assert (
        read_manifest(StoreLocation(str(tmp_path), "ing_aoi"))["stages"].get("features") != "done"
    )
