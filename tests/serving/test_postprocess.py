"""Postprocess: planted square at the right place, components across chunk borders, PostGIS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from pyproj import Transformer

from cube.errors import InvalidInputError, ServiceUnavailableError
from serving.detections_db import insert_detections, write_detections_file
from serving.postprocess import PostprocessConfig, detections_frame, polygonize

X0, Y0, RES = 500_000.0, 3_100_000.0, 10.0  # UTM 17N near Cape Canaveral latitude


def _raster(size: int = 200) -> xr.DataArray:
    prob = np.full((size, size), 0.05, np.float32)
    da_ = xr.DataArray(
        prob,
        dims=("y", "x"),
        coords={"y": Y0 - RES * (np.arange(size) + 0.5), "x": X0 + RES * (np.arange(size) + 0.5)},
    )
    return da_.rio.write_crs("EPSG:32617")


def test_planted_square_lands_in_epsg4326() -> None:
    prob = _raster()
    prob[40:80, 90:130] = 0.9  # crosses the 64-px chunk borders at row 64 and col 128
    gdf = polygonize(prob.chunk({"y": 64, "x": 64}), PostprocessConfig(threshold=0.5))
    assert len(gdf) == 1 and gdf.crs.to_epsg() == 4326
    row = gdf.iloc[0]
    assert row.score == pytest.approx(0.9, abs=1e-6)
    assert row.area_km2 == pytest.approx(0.16, rel=1e-6)  # 400 m x 400 m
    assert row.compactness == pytest.approx(np.pi / 4, rel=1e-3)
    to_ll = Transformer.from_crs("EPSG:32617", "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(X0 + RES * 110, Y0 - RES * 60)
    c = row.geometry.centroid
    assert c.x == pytest.approx(lon, abs=1e-6) and c.y == pytest.approx(lat, abs=1e-6)


def test_u_shape_merges_across_chunks_and_dbscan_dedups() -> None:
    prob = _raster()
    prob[10:60, 10:20] = 0.8  # left arm in chunk (0, 0)
    prob[10:60, 70:80] = 0.8  # right arm in chunk (0, 1)
    prob[50:60, 10:80] = 0.8  # base joins them across the x=64 border
    prob[150:160, 150:160] = 0.7  # a separate blob
    prob[150:160, 163:166] = 0.6  # 30 m away from the blob: deduplicated by DBSCAN
    chunked = polygonize(prob.chunk({"y": 64, "x": 64}), PostprocessConfig(dedup_eps_m=200))
    single = polygonize(prob, PostprocessConfig(dedup_eps_m=200))
    assert len(chunked) == len(single) == 2
    assert chunked.area_km2.sum() == pytest.approx(single.area_km2.sum())
    assert len(polygonize(prob, PostprocessConfig(dedup_eps_m=1))) == 3


def test_area_limits() -> None:
    prob = _raster()
    prob[40:80, 90:130] = 0.9  # 0.16 km²
    prob[150:155, 150:155] = 0.9  # 0.0025 km²
    assert len(polygonize(prob)) == 2
    assert len(polygonize(prob, PostprocessConfig(min_area_km2=0.01))) == 1
    assert len(polygonize(prob, PostprocessConfig(max_area_km2=0.1))) == 1
    prob[:, :] = 0.9  # 4 km² of "launch complex": terrain, not a candidate
    assert polygonize(prob, PostprocessConfig(max_area_km2=3.0)).empty


def test_bad_config_and_raster() -> None:
    with pytest.raises(InvalidInputError):
        PostprocessConfig(threshold=1.5)
    with pytest.raises(InvalidInputError, match="max_area_km2"):
        PostprocessConfig(min_area_km2=2.0, max_area_km2=1.0)
    with pytest.raises(InvalidInputError, match="CRS"):
        polygonize(xr.DataArray(np.zeros((4, 4), np.float32), dims=("y", "x")))
    assert polygonize(_raster()).empty


def _detections() -> gpd.GeoDataFrame:
    prob = _raster()
    prob[40:80, 90:130] = 0.9
    prob[150:170, 150:170] = 0.7
    evidence = {"scenes": ["S2A_1"], "backend": "onnxruntime", "threshold": 0.5}
    return detections_frame(polygonize(prob), "unet@1", "test_aoi", evidence)


def test_insert_detections_into_postgis(pg_dsn: str, tmp_path: Path) -> None:
    det = _detections()
    ids = insert_detections(pg_dsn, det)
    assert len(ids) == 2
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT aoi, model_version, evidence->>'backend', ST_Area(geom::geography) / 1e6 "
            "FROM detections ORDER BY score DESC"
        ).fetchall()
    assert rows[0][:3] == ("test_aoi", "unet@1", "onnxruntime")
    assert rows[0][3] == pytest.approx(0.16, rel=1e-2)
    out = write_detections_file(det, tmp_path / "d.geojson")
    assert len(gpd.read_file(out)) == 2


def test_failed_insert_leaves_nothing(pg_dsn: str) -> None:
    det = _detections()
    det.loc[1, "score"] = 2.0  # violates the CHECK on the second row
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_detections(pg_dsn, det)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM detections").fetchone() == (0,)
    with pytest.raises(ServiceUnavailableError):
        insert_detections("postgresql://postgres@127.0.0.1:1/none", det)
