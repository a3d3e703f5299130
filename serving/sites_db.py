"""PostGIS persistence of tracked sites: ``sites``, ``site_observations``, ``alerts``.

:func:`write_epoch` stores one :class:`serving.sites.TrackResult` (the epoch's detections,
the register, the observations and the alerts) in ONE transaction: on any error nothing of
the epoch is stored. :func:`read_sites` gives the register back in the shape
:func:`serving.sites.track_epoch` takes, so monitoring resumes across runs;
:func:`apply_reviews` moves site status from analysts' review verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb
from shapely import wkb

from cube.epochs import Epoch
from cube.errors import InvalidInputError, ServiceUnavailableError
from serving.sites import SITE_COLUMNS, TrackResult

__all__ = [
    "EpochIds",
    "apply_reviews",
    "read_alerts",
    "read_epoch_detections",
    "read_sites",
    "tracked_epochs",
    "write_epoch",
]

_KNOWN_ID = "(SELECT id FROM known_sites WHERE name = %(known_site)s)"

_INSERT_DETECTION = f"""
INSERT INTO detections (geom, centroid, score, area_km2, compactness, model_version, aoi,
                        evidence, epoch, flags, novelty, known_site_id)
VALUES (ST_GeomFromWKB(%(wkb)s, 4326), ST_Centroid(ST_GeomFromWKB(%(wkb)s, 4326)), %(score)s,
        %(area_km2)s, %(compactness)s, %(model_version)s, %(aoi)s, %(evidence)s, %(epoch)s,
        %(flags)s::text[], %(novelty)s, {_KNOWN_ID})
RETURNING id
"""

_UPDATE_DETECTION = f"""
UPDATE detections SET epoch = %(epoch)s, flags = %(flags)s::text[], novelty = %(novelty)s,
       known_site_id = {_KNOWN_ID}
WHERE id = %(id)s
"""

_UPSERT_SITE = f"""
INSERT INTO sites (site_key, aoi, geom, centroid, status, novelty, known_site_id, first_seen,
                   last_seen, n_epochs, best_score, flags)
VALUES (%(site_key)s, %(aoi)s, ST_GeomFromWKB(%(wkb)s, 4326),
        ST_Centroid(ST_GeomFromWKB(%(wkb)s, 4326)), %(status)s, %(novelty)s, {_KNOWN_ID},
        %(first_seen)s, %(last_seen)s, %(n_epochs)s, %(best_score)s, %(flags)s::text[])
ON CONFLICT (site_key) DO UPDATE SET
    geom = EXCLUDED.geom, centroid = EXCLUDED.centroid,
    status = CASE WHEN sites.status IN ('confirmed', 'rejected')
                  AND EXCLUDED.status <> 'inactive' THEN sites.status ELSE EXCLUDED.status END,
    novelty = EXCLUDED.novelty, known_site_id = EXCLUDED.known_site_id,
    last_seen = EXCLUDED.last_seen, n_epochs = EXCLUDED.n_epochs,
    best_score = EXCLUDED.best_score, flags = EXCLUDED.flags, updated_at = now()
RETURNING id
"""

_UPSERT_OBSERVATION = """
INSERT INTO site_observations (site_id, epoch, epoch_start, epoch_end, score, clear_looks,
                               detection_id, geom, flags)
VALUES (%(site_id)s, %(epoch)s, %(epoch_start)s, %(epoch_end)s, %(score)s, %(clear_looks)s,
        %(detection_id)s, ST_GeomFromWKB(%(wkb)s, 4326), %(flags)s::text[])
ON CONFLICT (site_id, epoch) DO UPDATE SET
    score = EXCLUDED.score, clear_looks = EXCLUDED.clear_looks,
    detection_id = EXCLUDED.detection_id, geom = EXCLUDED.geom, flags = EXCLUDED.flags
"""

_INSERT_ALERT = """
INSERT INTO alerts (site_id, kind, epoch, previous_epoch, score, clear_looks, geom)
VALUES (%(site_id)s, %(kind)s, %(epoch)s, %(previous_epoch)s, %(score)s, %(clear_looks)s,
        ST_GeomFromWKB(%(wkb)s, 4326))
ON CONFLICT (site_id, kind) DO NOTHING
RETURNING id
"""

_READ_SITES = """
SELECT s.site_key, s.aoi, ST_AsBinary(s.geom) AS wkb, s.status, s.novelty,
       k.name AS known_site, s.first_seen, s.last_seen, s.n_epochs, s.best_score,
       (SELECT o.score FROM site_observations o WHERE o.site_id = s.id
        ORDER BY o.epoch_start DESC LIMIT 1) AS last_score,
       s.flags,
       ARRAY(SELECT a.kind FROM alerts a WHERE a.site_id = s.id ORDER BY a.id) AS alerted
FROM sites s LEFT JOIN known_sites k ON k.id = s.known_site_id
WHERE s.aoi = %(aoi)s
ORDER BY s.id
"""

_READ_ALERTS = """
SELECT a.id, s.id AS site_id, s.site_key, s.aoi, a.kind, a.epoch, a.previous_epoch, a.score,
       a.clear_looks, a.created_at, ST_AsBinary(a.geom) AS wkb
FROM alerts a JOIN sites s ON s.id = a.site_id
WHERE (%(aoi)s::text IS NULL OR s.aoi = %(aoi)s)
  AND (%(epoch)s::text IS NULL OR a.epoch = %(epoch)s)
ORDER BY a.id
"""

_APPLY_REVIEWS = """
WITH latest AS (
    SELECT DISTINCT ON (o.site_id) o.site_id, r.verdict
    FROM site_observations o JOIN reviews r ON r.detection_id = o.detection_id
    WHERE r.verdict IN ('confirmed', 'rejected')
    ORDER BY o.site_id, r.created_at DESC, r.id DESC
)
UPDATE sites s SET status = latest.verdict, updated_at = now()
FROM latest
WHERE s.id = latest.site_id AND s.status <> latest.verdict
  AND (%(aoi)s::text IS NULL OR s.aoi = %(aoi)s)
"""


@dataclass(frozen=True)
class EpochIds:
    """Database ids written by :func:`write_epoch`.

    Attributes:
        detections: ``detections.id`` per detection row, in row order.
        sites: ``site_key`` → ``sites.id`` of every site of the register.
        alerts: ``alerts.id`` of the alerts stored (an alert already stored is not repeated).
    """

    detections: list[int]
    sites: dict[str, int]
    alerts: list[int]


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(f"cannot reach PostGIS for sites: {exc}") from exc


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _evidence(value: Any) -> Jsonb:
    if isinstance(value, str):
        value = json.loads(value)
    return Jsonb(dict(value) if isinstance(value, Mapping) else {})


def _detection_params(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "wkb": row["geometry"].wkb,
        "score": float(row["score"]),
        "area_km2": float(row["area_km2"]),
        "compactness": float(row["compactness"]),
        "model_version": str(row["model_version"]),
        "aoi": str(row["aoi"]),
        "evidence": _evidence(row.get("evidence")),
        "epoch": str(row["epoch"]),
        "flags": list(row["flags"]),
        "novelty": row["novelty"],
        "known_site": row["known_site"],
    }


def write_epoch(
    dsn: str, result: TrackResult, epoch: Epoch, store_aoi: str | None = None
) -> EpochIds:
    """Store an epoch's detections, sites, observations and alerts in one transaction.

    ``store_aoi`` (e.g. the epoch's store name ``{aoi}_{epoch}``) replaces the ``aoi`` of the
    detection rows, so the map layers and thumbnails of a detection come from the store of
    its own epoch; sites keep the AOI they were tracked under.

    Detections without an ``id`` column are inserted (with ``epoch``, ``flags``,
    ``novelty`` and ``known_site_id``); detections that carry an ``id`` are already stored
    and only get those columns set. Sites are upserted by ``site_key`` (a ``confirmed`` or
    ``rejected`` status set by review is kept); observations are upserted per site and epoch;
    alerts are stored once per site and kind.

    Raises:
        InvalidInputError: Detections of another epoch, or observations/alerts naming a site
            missing from the register.
        ServiceUnavailableError: PostGIS unreachable.
    """
    det = result.detections
    if len(det) and set(det["epoch"]) != {epoch.name}:
        raise InvalidInputError(f"detections are not all of epoch {epoch.name}")
    keys = set(result.sites["site_key"])
    unknown = (set(result.observations["site_key"]) | set(result.alerts["site_key"])) - keys
    if unknown:
        raise InvalidInputError(f"observations/alerts name sites not in the register: {unknown}")
    conn = _connect(dsn)
    with conn, conn.transaction(), conn.cursor() as cur:
        det_ids: list[int] = []
        for row in det.to_dict("records"):
            params = _detection_params(row)
            if store_aoi is not None:
                params["aoi"] = store_aoi
            if "id" in det.columns and not pd.isna(row["id"]):
                cur.execute(_UPDATE_DETECTION, {**params, "id": int(row["id"])})
                det_ids.append(int(row["id"]))
            else:
                fetched = cur.execute(_INSERT_DETECTION, params).fetchone()
                assert fetched is not None
                det_ids.append(int(fetched[0]))
        site_ids: dict[str, int] = {}
        for row in result.sites.to_dict("records"):
            fetched = cur.execute(
                _UPSERT_SITE,
                {
                    **{c: row[c] for c in SITE_COLUMNS if c != "geometry"},
                    "wkb": row["geometry"].wkb,
                    "n_epochs": int(row["n_epochs"]),
                    "best_score": float(row["best_score"]),
                    "flags": list(row["flags"] or []),
                },
            ).fetchone()
            assert fetched is not None
            site_ids[str(row["site_key"])] = int(fetched[0])
        for row in result.observations.to_dict("records"):
            ref = int(row["detection"])
            detection_id = ref if "id" in det.columns else det_ids[ref]
            cur.execute(
                _UPSERT_OBSERVATION,
                {
                    **row,
                    "site_id": site_ids[row["site_key"]],
                    "score": float(row["score"]),
                    "clear_looks": _num(row["clear_looks"]),
                    "detection_id": detection_id,
                    "wkb": row["geometry"].wkb,
                    "flags": list(row["flags"]),
                },
            )
        alert_ids: list[int] = []
        for row in result.alerts.to_dict("records"):
            fetched = cur.execute(
                _INSERT_ALERT,
                {
                    **row,
                    "site_id": site_ids[row["site_key"]],
                    "score": float(row["score"]),
                    "clear_looks": _num(row["clear_looks"]),
                    "wkb": row["geometry"].wkb,
                },
            ).fetchone()
            if fetched is not None:
                alert_ids.append(int(fetched[0]))
    return EpochIds(det_ids, site_ids, alert_ids)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> gpd.GeoDataFrame:
    geoms = [wkb.loads(bytes(r.pop("wkb"))) for r in rows]
    return gpd.GeoDataFrame(rows, columns=columns, geometry=geoms, crs="EPSG:4326")


def read_sites(dsn: str, aoi: str) -> gpd.GeoDataFrame:
    """The stored register of ``aoi`` in :data:`serving.sites.SITE_COLUMNS` (EPSG:4326)."""
    conn = _connect(dsn)
    with conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(_READ_SITES, {"aoi": aoi}).fetchall()
    for r in rows:
        r["flags"] = list(r["flags"] or [])
        r["alerted"] = tuple(r["alerted"] or ())
    frame = _frame(rows, [c for c in SITE_COLUMNS if c != "geometry"])
    return gpd.GeoDataFrame(frame[SITE_COLUMNS], geometry="geometry", crs="EPSG:4326")


def read_alerts(dsn: str, aoi: str | None = None, epoch: str | None = None) -> gpd.GeoDataFrame:
    """Stored alerts (optionally of one AOI and/or epoch), oldest first."""
    conn = _connect(dsn)
    with conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(_READ_ALERTS, {"aoi": aoi, "epoch": epoch}).fetchall()
    columns = [
        "id",
        "site_id",
        "site_key",
        "aoi",
        "kind",
        "epoch",
        "previous_epoch",
        "score",
        "clear_looks",
        "created_at",
    ]
    return _frame(rows, columns)


_READ_DETECTIONS = """
SELECT d.id, d.score, d.area_km2, d.compactness, d.model_version, d.aoi, d.evidence, d.epoch,
       COALESCE(d.flags, '{}') AS flags, d.novelty, k.name AS known_site,
       (SELECT s.site_key FROM site_observations o JOIN sites s ON s.id = o.site_id
        WHERE o.detection_id = d.id LIMIT 1) AS site_key,
       ST_AsBinary(d.geom) AS wkb
FROM detections d LEFT JOIN known_sites k ON k.id = d.known_site_id
WHERE d.aoi = %(aoi)s AND d.epoch = %(epoch)s
ORDER BY d.id
"""


def read_epoch_detections(dsn: str, aoi: str, epoch: str) -> gpd.GeoDataFrame:
    """Stored detections of one epoch (``aoi`` as stored on the rows), with their site key."""
    conn = _connect(dsn)
    with conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(_READ_DETECTIONS, {"aoi": aoi, "epoch": epoch}).fetchall()
    for r in rows:
        r["flags"] = list(r["flags"] or [])
    columns = [
        "id",
        "score",
        "area_km2",
        "compactness",
        "model_version",
        "aoi",
        "evidence",
        "epoch",
        "flags",
        "novelty",
        "known_site",
        "site_key",
    ]
    return _frame(rows, columns)


def tracked_epochs(dsn: str, aoi: str) -> list[str]:
    """Epochs of ``aoi`` with stored observations, oldest first (the tracked epochs)."""
    conn = _connect(dsn)
    with conn, conn.cursor() as cur:
        rows = cur.execute(
            "SELECT o.epoch FROM site_observations o JOIN sites s ON s.id = o.site_id"
            " WHERE s.aoi = %s GROUP BY o.epoch ORDER BY min(o.epoch_start)",
            (aoi,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def apply_reviews(dsn: str, aoi: str | None = None) -> int:
    """Set site status from the latest ``confirmed``/``rejected`` review of its detections.

    A review counts for a site when its detection is one of the site's observations;
    ``unsure`` verdicts leave the status as it is.

    Returns:
        Number of sites whose status changed.
    """
    conn = _connect(dsn)
    with conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(_APPLY_REVIEWS, {"aoi": aoi})
        return int(cur.rowcount)
