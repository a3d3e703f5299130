"""``/tiles/{z}/{x}/{y}.pbf``: Mapbox Vector Tiles straight from PostGIS ``ST_AsMVT``."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import Response
from sqlalchemy import text

from api.db import SessionDep

__all__ = ["MAX_ZOOM", "MIN_TILE_SCORE", "router"]

router = APIRouter(tags=["tiles"])

MAX_ZOOM = 22
#: Detections below this score are left out of the tiles.
MIN_TILE_SCORE = 0.1
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "public, max-age=3600"

# Two layers concatenated (MVT layers are independent protobuf messages).
_MVT_SQL = text(
    """
WITH env AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS e,
           ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) AS e4326
),
det AS (
    SELECT d.id, d.score, d.aoi, d.model_version, d.area_km2, d.epoch, d.novelty,
           ST_AsMVTGeom(ST_Transform(d.geom, 3857), env.e, 4096, 64, true) AS geom
    FROM detections d, env
    WHERE d.score >= :min_score AND d.geom && env.e4326
),
site AS (
    SELECT s.id, s.name, s.country, s.operator, s.status,
           ST_AsMVTGeom(ST_Transform(s.geom, 3857), env.e, 4096, 64, true) AS geom
    FROM known_sites s, env
    WHERE s.geom && env.e4326
)
SELECT
    coalesce((SELECT ST_AsMVT(det.*, 'detections', 4096, 'geom', 'id') FROM det
              WHERE det.geom IS NOT NULL), ''::bytea)
    || coalesce((SELECT ST_AsMVT(site.*, 'known_sites', 4096, 'geom', 'id') FROM site
                 WHERE site.geom IS NOT NULL), ''::bytea)
"""
)


def _check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise HTTPException(400, f"zoom {z} outside 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise HTTPException(404, f"tile {z}/{x}/{y} does not exist (x, y must be in 0..{n - 1})")


@router.get(
    "/tiles/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={
        200: {
            "content": {MVT_MEDIA_TYPE: {}},
            "description": "layers detections (id, score, aoi, model_version, area_km2, epoch, "
            "novelty) and known_sites (id, name, country, operator, status)",
        },
        204: {"description": "nothing in this tile"},
        304: {"description": "unchanged (If-None-Match)"},
        400: {"description": "zoom out of range"},
        404: {"description": "x or y out of range for the zoom"},
    },
)
def vector_tile(
    session: SessionDep,
    z: int,
    x: int,
    y: int,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Detections (score ≥ 0.1) and known sites in Web Mercator tile z/x/y."""
    _check_tile(z, x, y)
    body = session.execute(
        _MVT_SQL, {"z": z, "x": x, "y": y, "min_score": MIN_TILE_SCORE}
    ).scalar_one()
    data = bytes(body) if body else b""
    headers = {"Cache-Control": CACHE_CONTROL}
    if not data:
        return Response(status_code=204, headers=headers)
    etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
    headers["ETag"] = etag
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MVT_MEDIA_TYPE, headers=headers)
