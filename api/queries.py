"""Detection filters and the SQL that reads detections, reviews and known sites."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from api.models import Detection, KnownSite, Review
from api.schemas import (
    DetectionFeature,
    DetectionProperties,
    KnownSiteFeature,
    KnownSiteProperties,
    ReviewOut,
)
from cube.errors import InvalidInputError, NotFoundError

__all__ = [
    "Bbox",
    "DetectionFilters",
    "FiltersDep",
    "count_detections",
    "detection_features",
    "get_detection",
    "known_site_features",
    "parse_bbox",
    "reviews_of",
]

#: Largest value of a PostgreSQL BIGINT (detection ids).
MAX_ID = 2**63 - 1
#: Coordinates are rounded to 1e-7 degrees (~1 cm) in GeoJSON output.
_DIGITS = 7


@dataclass(frozen=True)
class Bbox:
    """A validated EPSG:4326 bounding box."""

    minx: float
    miny: float
    maxx: float
    maxy: float

    def __post_init__(self) -> None:
        """Reject non-finite, out-of-range or inverted boxes."""
        values = (self.minx, self.miny, self.maxx, self.maxy)
        if not all(math.isfinite(v) for v in values):
            raise InvalidInputError(f"bbox {values} has non-finite values")
        if not (-180 <= self.minx < self.maxx <= 180):
            raise InvalidInputError(f"bbox needs -180 <= minx < maxx <= 180, got {values}")
        if not (-90 <= self.miny < self.maxy <= 90):
            raise InvalidInputError(f"bbox needs -90 <= miny < maxy <= 90, got {values}")


def parse_bbox(text: str) -> Bbox:
    """Parse ``minx,miny,maxx,maxy`` (EPSG:4326 degrees).

    Raises:
        InvalidInputError: Not four numbers, or not a valid box.
    """
    parts = text.split(",")
    if len(parts) != 4:
        raise InvalidInputError(f"bbox must be minx,miny,maxx,maxy, got {text!r}")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError as exc:
        raise InvalidInputError(f"bbox must be four numbers, got {text!r}") from exc
    return Bbox(minx, miny, maxx, maxy)


@dataclass(frozen=True)
class DetectionFilters:
    """Filters shared by the list and export routes."""

    bbox: Bbox | None = None
    min_score: float = 0.0
    aoi: str | None = None
    model_version: str | None = None
    since: datetime | None = None
    epoch: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """SQL conditions for these filters."""
        conds: list[ColumnElement[bool]] = [Detection.score >= self.min_score]
        if self.bbox is not None:
            b = self.bbox
            env = func.ST_MakeEnvelope(b.minx, b.miny, b.maxx, b.maxy, 4326)
            conds.append(func.ST_Intersects(Detection.geom, env))
        if self.aoi is not None:
            conds.append(Detection.aoi == self.aoi)
        if self.model_version is not None:
            conds.append(Detection.model_version == self.model_version)
        if self.since is not None:
            conds.append(Detection.detected_at >= self.since)
        if self.epoch is not None:
            conds.append(Detection.epoch == self.epoch)
        return conds


def detection_filters(
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy in EPSG:4326 degrees",
            examples=["63.0,45.5,64.0,46.5"],
            max_length=200,
        ),
    ] = None,
    min_score: Annotated[float, Query(ge=0, le=1, description="lowest score kept")] = 0.0,
    aoi: Annotated[str | None, Query(max_length=200, examples=["baikonur"])] = None,
    model_version: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="detected at or after (ISO 8601)")] = None,
    epoch: Annotated[str | None, Query(max_length=64, examples=["2024H1"])] = None,
) -> DetectionFilters:
    """Query-string dependency building :class:`DetectionFilters`."""
    if since is not None and since.tzinfo is None:
        raise InvalidInputError(f"since {since.isoformat()} needs a time zone (e.g. Z)")
    return DetectionFilters(
        bbox=parse_bbox(bbox) if bbox is not None else None,
        min_score=min_score,
        aoi=aoi,
        model_version=model_version,
        since=since,
        epoch=epoch,
    )


FiltersDep = Annotated[DetectionFilters, Depends(detection_filters)]


def _detection_select() -> Select[Any]:
    return select(
        Detection.id,
        Detection.score,
        Detection.area_km2,
        Detection.compactness,
        Detection.model_version,
        Detection.aoi,
        Detection.detected_at,
        Detection.evidence,
        Detection.epoch,
        Detection.novelty,
        Detection.flags,
        func.ST_AsGeoJSON(Detection.geom, _DIGITS).label("geojson"),
    )


def _feature(row: Any, reviews: list[ReviewOut] | None = None) -> DetectionFeature:
    return DetectionFeature(
        id=row.id,
        geometry=json.loads(row.geojson),
        properties=DetectionProperties(
            id=row.id,
            score=row.score,
            area_km2=row.area_km2,
            compactness=row.compactness,
            model_version=row.model_version,
            aoi=row.aoi,
            detected_at=row.detected_at,
            epoch=row.epoch,
            novelty=row.novelty,
            flags=row.flags,
            reviews=reviews,
        ),
    )


def count_detections(session: Session, filters: DetectionFilters) -> int:
    """Number of detections matching ``filters``."""
    stmt = select(func.count()).select_from(Detection).where(*filters.where())
    return int(session.execute(stmt).scalar_one())


def detection_features(
    session: Session, filters: DetectionFilters, limit: int, offset: int = 0
) -> list[DetectionFeature]:
    """A page of matching detections, ordered by score (desc) then id (stable)."""
    stmt = (
        _detection_select()
        .where(*filters.where())
        .order_by(Detection.score.desc(), Detection.id)
        .limit(limit)
        .offset(offset)
    )
    return [_feature(row) for row in session.execute(stmt)]


def reviews_of(session: Session, detection_id: int) -> list[ReviewOut]:
    """Reviews of one detection, newest first."""
    stmt = (
        select(Review)
        .where(Review.detection_id == detection_id)
        .order_by(Review.created_at.desc(), Review.id.desc())
    )
    return [ReviewOut.model_validate(r) for r in session.scalars(stmt)]


def get_detection(session: Session, detection_id: int) -> tuple[DetectionFeature, dict[str, Any]]:
    """One detection (with its reviews) and its evidence JSON.

    Raises:
        NotFoundError: No detection with that id.
    """
    row = session.execute(_detection_select().where(Detection.id == detection_id)).first()
    if row is None:
        raise NotFoundError(f"detection {detection_id} not found")
    return _feature(row, reviews_of(session, detection_id)), dict(row.evidence)


def known_site_features(session: Session) -> list[KnownSiteFeature]:
    """Every known site as a Point feature, ordered by name."""
    stmt = select(
        KnownSite.id,
        KnownSite.name,
        KnownSite.country,
        KnownSite.operator,
        KnownSite.status,
        KnownSite.source,
        func.ST_AsGeoJSON(KnownSite.geom, _DIGITS).label("geojson"),
    ).order_by(KnownSite.name)
    return [
        KnownSiteFeature(
            id=r.id,
            geometry=json.loads(r.geojson),
            properties=KnownSiteProperties(
                id=r.id,
                name=r.name,
                country=r.country,
                operator=r.operator,
                status=r.status,
                source=r.source,
            ),
        )
        for r in session.execute(stmt)
    ]
