"""Upsert searched scenes into PostGIS ``imagery_catalog`` (one transaction)."""

from __future__ import annotations

from collections.abc import Sequence

import pystac
from shapely.geometry import box, shape

from cube.errors import ServiceUnavailableError

__all__ = ["upsert_scenes"]

_UPSERT = """
INSERT INTO imagery_catalog
    (scene_id, collection, sensor, acquired_at, bbox, cloud_cover_pct, assets)
VALUES (%s, %s, %s, %s, ST_GeomFromText(%s, 4326), %s, %s)
ON CONFLICT (scene_id) DO UPDATE SET
    collection = EXCLUDED.collection,
    sensor = EXCLUDED.sensor,
    acquired_at = EXCLUDED.acquired_at,
    bbox = EXCLUDED.bbox,
    cloud_cover_pct = EXCLUDED.cloud_cover_pct,
    assets = EXCLUDED.assets,
    ingested_at = now()
"""


def _row(item: pystac.Item) -> tuple[object, ...]:
    from psycopg.types.json import Jsonb

    collection = item.collection_id or "unknown"
    sensor = "sentinel-1" if "sentinel-1" in collection else "sentinel-2"
    footprint = box(*item.bbox) if item.bbox else shape(item.geometry).envelope
    cloud = item.properties.get("eo:cloud_cover")
    assets = {k: a.href.split("?", 1)[0] for k, a in item.assets.items()}  # no SAS tokens
    return (
        item.id,
        collection,
        sensor,
        item.datetime,
        footprint.wkt,
        None if cloud is None else float(cloud),
        Jsonb(assets),
    )


def upsert_scenes(dsn: str, items: Sequence[pystac.Item]) -> int:
    """Insert or refresh one row per item (``scene_id`` unique); return the row count.

    Raises:
        ServiceUnavailableError: PostGIS cannot be reached.
    """
    import psycopg

    rows = [_row(i) for i in items]
    try:
        conn = psycopg.connect(dsn)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(f"cannot reach PostGIS for imagery_catalog: {exc}") from exc
    with conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(_UPSERT, rows)
    return len(rows)
