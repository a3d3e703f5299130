"""Store detections in PostGIS ``detections`` (one transaction) and as GeoJSON/GPKG files."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd

from cube.errors import InvalidInputError, ServiceUnavailableError

__all__ = ["insert_detections", "write_detections_file"]

_INSERT = """
INSERT INTO detections (geom, centroid, score, area_km2, compactness, model_version, aoi, evidence)
VALUES (ST_GeomFromWKB(%s, 4326), ST_Centroid(ST_GeomFromWKB(%s, 4326)), %s, %s, %s, %s, %s, %s)
RETURNING id
"""


def insert_detections(dsn: str, detections: gpd.GeoDataFrame) -> list[int]:
    """Insert all rows in ONE transaction; on any error nothing is stored.

    Args:
        dsn: PostgreSQL DSN.
        detections: Output of :func:`serving.postprocess.detections_frame` (EPSG:4326).

    Returns:
        The new ``detections.id`` values, in row order.

    Raises:
        InvalidInputError: Wrong CRS or missing columns.
        ServiceUnavailableError: Database unreachable.
    """
    import psycopg
    from psycopg.types.json import Jsonb

    missing = {"score", "area_km2", "compactness", "model_version", "aoi", "evidence"} - set(
        detections.columns
    )
    if missing:
        raise InvalidInputError(f"detections lack columns {sorted(missing)}")
    if detections.crs is None or detections.crs.to_epsg() != 4326:
        raise InvalidInputError(f"detections must be in EPSG:4326, not {detections.crs}")
    try:
        conn = psycopg.connect(dsn)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(f"cannot reach PostGIS to store detections: {exc}") from exc
    ids: list[int] = []
    with conn, conn.transaction(), conn.cursor() as cur:
        for row in detections.itertuples(index=False):
            wkb = row.geometry.wkb
            cur.execute(
                _INSERT,
                (
                    wkb,
                    wkb,
                    float(row.score),
                    float(row.area_km2),
                    float(row.compactness),
                    str(row.model_version),
                    str(row.aoi),
                    Jsonb(row.evidence),
                ),
            )
            fetched = cur.fetchone()
            assert fetched is not None
            ids.append(int(fetched[0]))
    return ids


def write_detections_file(detections: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write ``.geojson`` or ``.gpkg`` (evidence serialised as JSON text), atomically."""
    path = Path(path)
    drivers = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
    if path.suffix.lower() not in drivers:
        raise InvalidInputError(f"output {path} must end in .geojson or .gpkg")
    out = detections.copy()
    out["evidence"] = [json.dumps(e, default=str) for e in out["evidence"]]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    out.to_file(tmp, driver=drivers[path.suffix.lower()])
    tmp.replace(path)
    return path
