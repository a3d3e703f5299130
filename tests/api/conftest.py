"""API fixtures: an app on a fresh PostGIS database and a local store with tiny COGs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
import rasterio
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from api.main import create_app
from cube.settings import Settings

TOKEN = "review-secret"
#: The demo AOI's COGs cover 10.0-10.03 E, 50.0-50.02 N (UTM 32N, 10 m pixels).
AOI = "demo"
AOI_LONLAT = (10.0, 50.0)


def settings_for(dsn: str, **overrides: Any) -> Settings:
    """Settings whose database is ``dsn`` (``postgresql://user@host:port/db``)."""
    parts = urlsplit(dsn)
    fields: dict[str, Any] = {
        "postgres_host": parts.hostname,
        "postgres_port": parts.port,
        "postgres_db": parts.path.lstrip("/"),
        "postgres_user": parts.username or "postgres",
        "postgres_password": parts.password or "",
        "api_review_token": TOKEN,
        "triton_url": None,
    }
    return Settings(**(fields | overrides))


def insert_detection(
    dsn: str,
    geom: Polygon,
    score: float,
    aoi: str = AOI,
    model_version: str = "unet/1",
    detected_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
) -> int:
    """Insert one detection row; returns its id."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """INSERT INTO detections (geom, centroid, score, area_km2, compactness,
                   model_version, aoi, detected_at, evidence)
               VALUES (ST_GeomFromText(%s, 4326), ST_Centroid(ST_GeomFromText(%s, 4326)),
                   %s, %s, 0.5, %s, %s, coalesce(%s, now()), %s) RETURNING id""",
            (
                geom.wkt,
                geom.wkt,
                score,
                geom.area * 7000.0,
                model_version,
                aoi,
                detected_at,
                Jsonb(evidence or {"scenes": ["S2A_TEST"]}),
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


def insert_known_site(dsn: str, name: str, lon: float, lat: float) -> int:
    """Insert one known site (point + small buffer)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """INSERT INTO known_sites (name, country, operator, source, geom, buffer_geom)
               VALUES (%s, 'Testland', 'Test Agency', 'test',
                       ST_SetSRID(ST_MakePoint(%s, %s), 4326),
                       ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 0.01))
               RETURNING id""",
            (name, lon, lat, lon, lat),
        ).fetchone()
    assert row is not None
    return int(row[0])


def square(lon: float, lat: float, half: float = 0.002) -> Polygon:
    """A small square polygon around lon/lat."""
    return box(lon - half, lat - half, lon + half, lat + half)


def write_cog(path: Path, data: np.ndarray, crs: str, transform: Any, nodata: float) -> None:
    """Write ``data`` (bands, y, x) as a tiled COG with overviews."""
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        blocksize=128,
        compress="deflate",
    ) as dst:
        dst.write(data)


def make_store(root: Path, aoi: str = AOI) -> Path:
    """A store with ``{aoi}/composite.tif`` (6 bands uint16), ``probability.tif``, manifest."""
    folder = root / aoi
    folder.mkdir(parents=True)
    x0, y0 = Transformer.from_crs(4326, 32632, always_xy=True).transform(
        AOI_LONLAT[0], AOI_LONLAT[1] + 0.02
    )
    transform = from_origin(round(x0), round(y0), 10.0, 10.0)
    rng = np.random.default_rng(0)
    size = 256
    composite = rng.integers(200, 3000, size=(6, size, size), dtype=np.uint16)
    write_cog(folder / "composite.tif", composite, "EPSG:32632", transform, 0)
    yy, xx = np.mgrid[0:size, 0:size]
    prob = np.exp(-((yy - 128) ** 2 + (xx - 128) ** 2) / 800.0).astype(np.float32)[None]
    write_cog(folder / "probability.tif", prob, "EPSG:32632", transform, -1)
    (folder / "manifest.json").write_text(
        json.dumps({"aoi": aoi, "stages": {"composite": "done", "probability": "done"}})
    )
    return root


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Local store root with the demo AOI (read-only, shared by the session)."""
    return str(make_store(tmp_path_factory.mktemp("stores")))


@pytest.fixture
def client(pg_dsn: str, store_root: str) -> Iterator[TestClient]:
    """A TestClient of the app on a fresh database and the demo store."""
    app = create_app(settings_for(pg_dsn), store_root=store_root, web_dist=None)
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()
