"""SQLAlchemy 2 / GeoAlchemy2 tables mirroring ``deploy/postgres-init/001_schema.sql``.

The SQL file is the single source of truth (it creates the tables); these classes only
describe them for queries. ``tests/api/test_models.py`` checks both agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Date, DateTime, Float, ForeignKey, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Alert",
    "Base",
    "Detection",
    "ImageryScene",
    "KnownSite",
    "Review",
    "Site",
    "SiteObservation",
    "Tile",
]


class Base(DeclarativeBase):
    """Declarative base of the launchwatch tables."""


class KnownSite(Base):
    """A reference launch site (point plus its buffer polygon)."""

    __tablename__ = "known_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    country: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="active")
    source: Mapped[str] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    buffer_geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))


class Detection(Base):
    """A candidate site found by the model."""

    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    centroid: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    score: Mapped[float] = mapped_column(Float)
    area_km2: Mapped[float] = mapped_column(Float)
    compactness: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(Text)
    aoi: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    epoch: Mapped[str | None] = mapped_column(Text, nullable=True)
    flags: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)
    novelty: Mapped[str | None] = mapped_column(Text, nullable=True)
    known_site_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("known_sites.id", ondelete="SET NULL"), nullable=True
    )


class ImageryScene(Base):
    """One scene in the imagery catalog."""

    __tablename__ = "imagery_catalog"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scene_id: Mapped[str] = mapped_column(Text, unique=True)
    collection: Mapped[str] = mapped_column(Text)
    sensor: Mapped[str] = mapped_column(Text)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bbox: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    cloud_cover_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    assets: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    ingested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Tile(Base):
    """One training tile of an AOI."""

    __tablename__ = "tiles"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    aoi: Mapped[str] = mapped_column(Text)
    row: Mapped[int] = mapped_column(Integer)
    col: Mapped[int] = mapped_column(Integer)
    bbox: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    split: Mapped[str] = mapped_column(Text)
    positive_fraction: Mapped[float] = mapped_column(Float)
    zarr_path: Mapped[str] = mapped_column(Text)


class Review(Base):
    """An analyst's verdict on a detection."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    detection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("detections.id", ondelete="CASCADE")
    )
    verdict: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, server_default="")
    reviewer: Mapped[str] = mapped_column(Text, server_default="analyst")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Site(Base):
    """A site tracked across epochs by ``cube.run monitor``."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site_key: Mapped[str] = mapped_column(Text, unique=True)
    aoi: Mapped[str] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    centroid: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    status: Mapped[str] = mapped_column(Text, server_default="candidate")
    novelty: Mapped[str] = mapped_column(Text)
    known_site_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("known_sites.id", ondelete="SET NULL"), nullable=True
    )
    first_seen: Mapped[str] = mapped_column(Text)
    last_seen: Mapped[str] = mapped_column(Text)
    n_epochs: Mapped[int] = mapped_column(Integer)
    best_score: Mapped[float] = mapped_column(Float)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SiteObservation(Base):
    """A site seen in one epoch."""

    __tablename__ = "site_observations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sites.id", ondelete="CASCADE"))
    epoch: Mapped[str] = mapped_column(Text)
    epoch_start: Mapped[date] = mapped_column(Date)
    epoch_end: Mapped[date] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float)
    clear_looks: Mapped[float | None] = mapped_column(Float, nullable=True)
    detection_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("detections.id", ondelete="SET NULL"), nullable=True
    )
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))


class Alert(Base):
    """A change alert (new construction, decommissioned) raised once per site and kind."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sites.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    epoch: Mapped[str] = mapped_column(Text)
    previous_epoch: Mapped[str | None] = mapped_column(Text, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    clear_looks: Mapped[float | None] = mapped_column(Float, nullable=True)
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
