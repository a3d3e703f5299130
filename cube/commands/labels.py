"""``python -m cube.run labels --from-reviews --aoi NAME``: analyst reviews → training labels.

The latest review of each detection of the AOI decides: ``confirmed`` → a positive polygon
(``label`` 1), ``rejected`` → a hard negative (``label`` 0); ``unsure`` is left out. The result
is ``{store}/{aoi}/review_labels.geojson`` (EPSG:4326): its positives can be passed as extra
sites to :func:`cube.labels.weak_labels` (their centroids), its negatives mark areas whose
tiles must be labelled 0.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import geopandas as gpd
from rich.console import Console
from shapely import wkb

from cube.errors import InvalidInputError, ServiceUnavailableError
from cube.settings import Settings
from cube.store import StoreLocation, open_fs

__all__ = ["LABEL_FILE", "add_parser", "review_labels", "run"]

#: File name of the review labels inside ``{store}/{aoi}/``.
LABEL_FILE = "review_labels.geojson"
_LABELS = {"confirmed": 1, "rejected": 0}
_console = Console(stderr=True)

_LATEST_REVIEWS = """
SELECT DISTINCT ON (r.detection_id)
       r.detection_id, r.verdict, r.reason, r.reviewer, r.created_at,
       d.score, d.model_version, ST_AsBinary(d.geom) AS geom
FROM reviews r JOIN detections d ON d.id = r.detection_id
WHERE d.aoi = %s
ORDER BY r.detection_id, r.created_at DESC, r.id DESC
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``labels`` and its options."""
    p = subparsers.add_parser("labels", help="turn analyst reviews into training labels")
    p.add_argument(
        "--from-reviews",
        action="store_true",
        required=True,
        help="use the confirmed/rejected reviews in PostGIS (the only source for now)",
    )
    p.add_argument("--aoi", required=True, help="AOI name (detections.aoi and store folder)")
    p.add_argument("--store", default=None, help="store root URL (default: settings)")
    p.set_defaults(func=run)


def review_labels(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Labels from the latest review of each detection (``unsure`` dropped).

    Args:
        rows: One dict per detection with ``detection_id``, ``verdict``, ``reason``,
            ``reviewer``, ``created_at``, ``score``, ``model_version`` and ``geom`` (WKB).

    Returns:
        GeoDataFrame (EPSG:4326) with ``detection_id``, ``label`` (1 positive, 0 hard
        negative), ``verdict``, ``reason``, ``reviewer``, ``reviewed_at``, ``score``,
        ``model_version``, ordered by detection id.
    """
    kept = [r for r in rows if r["verdict"] in _LABELS]
    columns = [
        "detection_id",
        "label",
        "verdict",
        "reason",
        "reviewer",
        "reviewed_at",
        "score",
        "model_version",
    ]
    records = [
        {
            "detection_id": int(r["detection_id"]),
            "label": _LABELS[r["verdict"]],
            "verdict": r["verdict"],
            "reason": r["reason"],
            "reviewer": r["reviewer"],
            "reviewed_at": r["created_at"].isoformat(),
            "score": float(r["score"]),
            "model_version": r["model_version"],
            "geometry": wkb.loads(bytes(r["geom"])),
        }
        for r in sorted(kept, key=lambda r: int(r["detection_id"]))
    ]
    return gpd.GeoDataFrame(
        records or None, columns=[*columns, "geometry"], geometry="geometry", crs="EPSG:4326"
    )


def _fetch_reviews(dsn: str, aoi: str) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    try:
        conn = psycopg.connect(dsn, row_factory=dict_row, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(f"cannot reach PostGIS to read reviews: {exc}") from exc
    with conn:
        return list(conn.execute(_LATEST_REVIEWS, (aoi,)).fetchall())


def _write(frame: gpd.GeoDataFrame, loc: StoreLocation) -> str:
    """Write the GeoJSON in one piece (one PUT on S3; temp file + rename locally)."""
    fs = open_fs(loc)
    fs.makedirs(loc.url(), exist_ok=True)
    data = frame.to_json(drop_id=True).encode()
    url = loc.url(LABEL_FILE)
    if loc.is_remote:
        fs.pipe_file(url, data)
    else:
        tmp = loc.url(f".{LABEL_FILE}.{uuid.uuid4().hex}.tmp")
        fs.pipe_file(tmp, data)
        fs.mv(tmp, url)
    return url


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write ``{store}/{aoi}/review_labels.geojson`` from the latest reviews of the AOI."""
    aoi = str(args.aoi)
    loc = StoreLocation(args.store or settings.store_root, aoi, settings.storage_options)
    dsn = settings.postgres_dsn
    frame = review_labels(_fetch_reviews(dsn, aoi))
    if frame.empty:
        raise InvalidInputError(f"no confirmed or rejected reviews for detections of AOI {aoi!r}")
    url = _write(frame, loc)
    positives = int((frame["label"] == 1).sum())
    _console.print(
        f"[green]{positives} positives, {len(frame) - positives} hard negatives[/] → {url}"
    )
    return 0
