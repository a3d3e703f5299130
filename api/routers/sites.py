"""``/sites`` and ``/alerts``: sites tracked over monitoring epochs and their change alerts.

``/sites/tiles/{z}/{x}/{y}.pbf`` serves the sites as a Mapbox Vector Tile layer ``sites``
(status, novelty, best score, whether an alert was raised) for the map.

Sites list novel candidates first (then best score, then id); ``/sites/{id}`` adds the
timeline of per-epoch observations, each with the thumbnail URL of its detection (from the
composite of that epoch's store). Response models live here with the routes.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.db import SessionDep
from api.queries import MAX_ID, Bbox, parse_bbox
from cube.errors import InvalidInputError, NotFoundError

__all__ = [
    "AlertCollection",
    "AlertFeature",
    "SiteCollection",
    "SiteDetail",
    "SiteFeature",
    "router",
]

router = APIRouter(tags=["sites"])

Status = Literal["candidate", "persistent", "confirmed", "rejected", "inactive"]
Novelty = Literal["known", "novel"]
AlertKind = Literal["new_construction", "decommissioned"]
_DIGITS = 7
_MAX_ZOOM = 22
_MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_MVT_SQL = text(
    """
WITH env AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS e,
           ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) AS e4326
),
site AS (
    SELECT s.id, s.aoi, s.status, s.novelty, s.best_score, s.first_seen, s.last_seen,
           EXISTS (SELECT 1 FROM alerts a WHERE a.site_id = s.id
                   AND a.kind = 'new_construction') AS new_construction,
           ST_AsMVTGeom(ST_Transform(s.geom, 3857), env.e, 4096, 64, true) AS geom
    FROM sites s, env
    WHERE s.geom && env.e4326
)
SELECT ST_AsMVT(site.*, 'sites', 4096, 'geom', 'id') FROM site WHERE site.geom IS NOT NULL
"""
)


class SiteProperties(BaseModel):
    """Attributes of a tracked site."""

    id: int = Field(examples=[7])
    site_key: str = Field(examples=["baikonur:2024H1:3"])
    aoi: str = Field(examples=["baikonur"])
    status: Status = Field(examples=["persistent"])
    novelty: Novelty = Field(examples=["novel"])
    known_site: str | None = Field(default=None, examples=["Baikonur Cosmodrome"])
    first_seen: str = Field(description="epoch first seen", examples=["2023H2"])
    last_seen: str = Field(description="epoch last seen", examples=["2024H1"])
    n_epochs: int = Field(ge=1, examples=[2])
    best_score: float = Field(ge=0, le=1, examples=[0.91])
    flags: list[str] = Field(default_factory=list, examples=[["low_coverage"]])
    alerts: list[AlertKind] = Field(default_factory=list, examples=[["new_construction"]])
    updated_at: datetime


class SiteFeature(BaseModel):
    """A site as a GeoJSON Feature (its latest footprint)."""

    type: Literal["Feature"] = "Feature"
    id: int = Field(examples=[7])
    geometry: dict[str, Any]
    properties: SiteProperties


class SiteCollection(BaseModel):
    """A page of sites (novel first, then best score, then id) with the total count."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SiteFeature]
    total: int = Field(examples=[12])
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])


class Observation(BaseModel):
    """A site seen in one epoch."""

    epoch: str = Field(examples=["2024H1"])
    epoch_start: date
    epoch_end: date
    score: float = Field(ge=0, le=1, examples=[0.88])
    clear_looks: float | None = Field(default=None, examples=[7.0])
    flags: list[str] = Field(default_factory=list)
    detection_id: int | None = Field(default=None, examples=[42])
    thumbnail_url: str | None = Field(default=None, examples=["/evidence/42/thumbnail?size=256"])
    geometry: dict[str, Any]


class SiteDetail(SiteFeature):
    """A site with its timeline of observations (oldest first)."""

    timeline: list[Observation]


class AlertProperties(BaseModel):
    """Attributes of a change alert."""

    id: int = Field(examples=[3])
    site_id: int = Field(examples=[7])
    kind: AlertKind = Field(examples=["new_construction"])
    epoch: str = Field(examples=["2024H1"])
    previous_epoch: str | None = Field(default=None, examples=["2023H2"])
    score: float = Field(ge=0, le=1, examples=[0.9])
    clear_looks: float | None = Field(default=None, examples=[6.0])
    created_at: datetime
    aoi: str = Field(examples=["baikonur"])
    site_status: Status = Field(examples=["candidate"])
    novelty: Novelty = Field(examples=["novel"])


class AlertFeature(BaseModel):
    """An alert as a GeoJSON Feature (the site footprint when it was raised)."""

    type: Literal["Feature"] = "Feature"
    id: int = Field(examples=[3])
    geometry: dict[str, Any]
    properties: AlertProperties


class AlertCollection(BaseModel):
    """Alerts, newest first."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AlertFeature]
    total: int = Field(examples=[2])


def _bbox(
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in EPSG:4326 degrees", max_length=200),
    ] = None,
) -> Bbox | None:
    return parse_bbox(bbox) if bbox is not None else None


BboxDep = Annotated[Bbox | None, Depends(_bbox)]


def _where(conds: list[str], params: dict[str, Any], bbox: Bbox | None, geom: str) -> str:
    if bbox is not None:
        conds.append(f"ST_Intersects({geom}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
        params.update(minx=bbox.minx, miny=bbox.miny, maxx=bbox.maxx, maxy=bbox.maxy)
    return " AND ".join(conds) if conds else "TRUE"


_SITE_COLUMNS = f"""
    s.id, s.site_key, s.aoi, s.status, s.novelty, k.name AS known_site, s.first_seen,
    s.last_seen, s.n_epochs, s.best_score, s.flags, s.updated_at,
    ARRAY(SELECT a.kind FROM alerts a WHERE a.site_id = s.id ORDER BY a.id) AS alerts,
    ST_AsGeoJSON(s.geom, {_DIGITS}) AS geojson
FROM sites s LEFT JOIN known_sites k ON k.id = s.known_site_id
"""


def _site(row: Any) -> SiteFeature:
    return SiteFeature(
        id=row.id,
        geometry=json.loads(row.geojson),
        properties=SiteProperties(
            id=row.id,
            site_key=row.site_key,
            aoi=row.aoi,
            status=row.status,
            novelty=row.novelty,
            known_site=row.known_site,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            n_epochs=row.n_epochs,
            best_score=row.best_score,
            flags=list(row.flags or []),
            alerts=list(row.alerts or []),
            updated_at=row.updated_at,
        ),
    )


@router.get("/sites", response_model=SiteCollection)
def list_sites(
    session: SessionDep,
    bbox: BboxDep,
    min_score: Annotated[float, Query(ge=0, le=1, description="lowest best score")] = 0.0,
    status: Annotated[list[Status] | None, Query(description="keep these statuses")] = None,
    novelty: Annotated[Novelty | None, Query()] = None,
    aoi: Annotated[str | None, Query(max_length=200, examples=["baikonur"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> SiteCollection:
    """Tracked sites matching the filters: novel first, then best score, then id."""
    params: dict[str, Any] = {"min_score": min_score, "limit": limit, "offset": offset}
    conds = ["s.best_score >= :min_score"]
    if status:
        conds.append("s.status = ANY(:status)")
        params["status"] = list(status)
    if novelty is not None:
        conds.append("s.novelty = :novelty")
        params["novelty"] = novelty
    if aoi is not None:
        conds.append("s.aoi = :aoi")
        params["aoi"] = aoi
    where = _where(conds, params, bbox, "s.geom")
    total = session.execute(
        text(f"SELECT count(*) FROM sites s WHERE {where}"), params
    ).scalar_one()
    rows = session.execute(
        text(
            f"SELECT {_SITE_COLUMNS} WHERE {where}"
            " ORDER BY (s.novelty = 'novel') DESC, s.best_score DESC, s.id"
            " LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    return SiteCollection(
        features=[_site(r) for r in rows], total=int(total), limit=limit, offset=offset
    )


def _timeline(session: Session, site_id: int) -> list[Observation]:
    rows = session.execute(
        text(
            "SELECT epoch, epoch_start, epoch_end, score, clear_looks, flags, detection_id,"
            f" ST_AsGeoJSON(geom, {_DIGITS}) AS geojson FROM site_observations"
            " WHERE site_id = :id ORDER BY epoch_start, id"
        ),
        {"id": site_id},
    )
    return [
        Observation(
            epoch=r.epoch,
            epoch_start=r.epoch_start,
            epoch_end=r.epoch_end,
            score=r.score,
            clear_looks=r.clear_looks,
            flags=list(r.flags or []),
            detection_id=r.detection_id,
            thumbnail_url=(
                f"/evidence/{r.detection_id}/thumbnail?size=256" if r.detection_id else None
            ),
            geometry=json.loads(r.geojson),
        )
        for r in rows
    ]


@router.get(
    "/sites/{site_id}", response_model=SiteDetail, responses={404: {"description": "no such site"}}
)
def read_site(session: SessionDep, site_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> SiteDetail:
    """One site with its timeline: score, clear looks and thumbnail per epoch."""
    row = session.execute(text(f"SELECT {_SITE_COLUMNS} WHERE s.id = :id"), {"id": site_id})
    found = row.first()
    if found is None:
        raise NotFoundError(f"site {site_id} does not exist")
    site = _site(found)
    return SiteDetail(**site.model_dump(), timeline=_timeline(session, site_id))


@router.get("/alerts", response_model=AlertCollection)
def list_alerts(
    session: SessionDep,
    bbox: BboxDep,
    since: Annotated[
        datetime | None, Query(description="raised at or after (ISO 8601 with zone)")
    ] = None,
    kind: Annotated[AlertKind | None, Query()] = None,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
    status: Annotated[list[Status] | None, Query(description="site statuses kept")] = None,
    aoi: Annotated[str | None, Query(max_length=200)] = None,
    epoch: Annotated[str | None, Query(max_length=64, examples=["2024H1"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertCollection:
    """Change alerts matching the filters, newest first."""
    if since is not None and since.tzinfo is None:
        raise InvalidInputError(f"since {since.isoformat()} needs a time zone (e.g. Z)")
    params: dict[str, Any] = {"min_score": min_score, "limit": limit}
    conds = ["a.score >= :min_score"]
    for name, value, column in (
        ("since", since, "a.created_at >= :since"),
        ("kind", kind, "a.kind = :kind"),
        ("aoi", aoi, "s.aoi = :aoi"),
        ("epoch", epoch, "a.epoch = :epoch"),
    ):
        if value is not None:
            conds.append(column)
            params[name] = value
    if status:
        conds.append("s.status = ANY(:status)")
        params["status"] = list(status)
    where = _where(conds, params, bbox, "a.geom")
    base = f"FROM alerts a JOIN sites s ON s.id = a.site_id WHERE {where}"
    total = session.execute(text(f"SELECT count(*) {base}"), params).scalar_one()
    rows = session.execute(
        text(
            "SELECT a.id, a.site_id, a.kind, a.epoch, a.previous_epoch, a.score, a.clear_looks,"
            " a.created_at, s.aoi, s.status AS site_status, s.novelty,"
            f" ST_AsGeoJSON(a.geom, {_DIGITS}) AS geojson {base}"
            " ORDER BY a.created_at DESC, a.id DESC LIMIT :limit"
        ),
        params,
    )
    features = [
        AlertFeature(
            id=r.id,
            geometry=json.loads(r.geojson),
            properties=AlertProperties(
                id=r.id,
                site_id=r.site_id,
                kind=r.kind,
                epoch=r.epoch,
                previous_epoch=r.previous_epoch,
                score=r.score,
                clear_looks=r.clear_looks,
                created_at=r.created_at,
                aoi=r.aoi,
                site_status=r.site_status,
                novelty=r.novelty,
            ),
        )
        for r in rows
    ]
    return AlertCollection(features=features, total=int(total))


@router.get(
    "/sites/tiles/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={
        200: {"content": {_MVT_MEDIA_TYPE: {}}, "description": "layer sites"},
        204: {"description": "no site in this tile"},
        400: {"description": "zoom out of range"},
        404: {"description": "x or y out of range for the zoom"},
    },
)
def site_tile(session: SessionDep, z: int, x: int, y: int) -> Response:
    """Tracked sites in Web Mercator tile z/x/y (layer ``sites``)."""
    if not 0 <= z <= _MAX_ZOOM:
        raise HTTPException(400, f"zoom {z} outside 0..{_MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise HTTPException(404, f"tile {z}/{x}/{y} does not exist (x, y must be in 0..{n - 1})")
    body = session.execute(_MVT_SQL, {"z": z, "x": x, "y": y}).scalar_one_or_none()
    data = bytes(body) if body else b""
    headers = {"Cache-Control": "public, max-age=600"}
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=_MVT_MEDIA_TYPE, headers=headers)
