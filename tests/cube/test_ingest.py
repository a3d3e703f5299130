"""``cube.run ingest`` on tiny synthetic scenes: stages, resume, PostGIS rows, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
import xarray as xr

from cube.run import main
from cube.store import StoreLocation, open_dataset, read_manifest
from cube.synthetic import SceneSpec, SyntheticCatalog, generate_scenes

SPEC = SceneSpec(name="ing", seed=11, size_px=512, n_dates=3, n_complexes=1, n_confusers=1)


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
    assert main(_argv(scenes, tmp_path)) == 0
    loc = StoreLocation(str(tmp_path), "ing_aoi")
    manifest = read_manifest(loc)
    assert manifest["stages"] == {"composite": "done", "features": "done", "tiles": "done"}
    assert len(manifest["scenes"]) == 3 and len(manifest["stretch_low"]) == 6
    comp = open_dataset(loc, "composite.zarr", "composite")
    assert comp["composite"].dtype == np.uint16 and comp["clear_count"].max() <= 3
    feats = open_dataset(loc, "features.zarr", "features")["features"]
    assert feats.sizes["band"] == 10 and feats.rio.crs.to_epsg() == 32641
    assert (tmp_path / "ing_aoi" / "composite.tif").is_file()
    tiles = xr.open_zarr(tmp_path / "ing_aoi" / "tiles.zarr")
    assert float(tiles["label"].max()) == 1.0  # the planted complex is a positive
    with psycopg.connect(db_env) as conn:
        n_scenes = conn.execute("SELECT count(*) FROM imagery_catalog").fetchone()
        n_tiles = conn.execute("SELECT count(*) FROM tiles WHERE aoi = 'ing_aoi'").fetchone()
    assert n_scenes == (3,) and n_tiles == (tiles.sizes["tile"],)


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
    items["features"][1]["assets"]["B08"]["href"] = str(bad)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(items))
    argv = _argv(scenes, tmp_path / "store", "--no-db")
    argv[argv.index("--catalog") + 1] = str(broken)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "SYN_ing_20240317 band B08: cannot read" in err
    assert not (tmp_path / "store" / "ing_aoi" / "composite.zarr").exists()
