"""Pydantic request/response models (with OpenAPI examples)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AoiInfo",
    "DetectionCollection",
    "DetectionFeature",
    "DetectionProperties",
    "Evidence",
    "Health",
    "KnownSiteCollection",
    "KnownSiteFeature",
    "KnownSiteProperties",
    "ReviewIn",
    "ReviewOut",
]

_POLYGON_EXAMPLE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[10.0, 50.0], [10.01, 50.0], [10.01, 50.01], [10.0, 50.01], [10.0, 50.0]]],
}


class Health(BaseModel):
    """Service health; ``degraded`` when a backing service is down."""

    status: Literal["ok", "degraded"] = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])
    database: bool = Field(description="PostGIS answered", examples=[True])
    detections: int | None = Field(description="rows in detections", examples=[42])
    triton: bool | None = Field(
        description="Triton ready (null when no TRITON_URL is configured)", examples=[None]
    )


class AoiInfo(BaseModel):
    """An AOI that has a store, with what the map can show of it."""

    name: str = Field(examples=["baikonur"])
    bounds: tuple[float, float, float, float] | None = Field(
        description="minx, miny, maxx, maxy in EPSG:4326", examples=[[63.2, 45.8, 63.5, 46.1]]
    )
    layers: list[Literal["composite", "probability", "change", "coverage"]] = Field(
        examples=[["composite", "probability"]]
    )
    stages: dict[str, Any] = Field(default_factory=dict, examples=[{"composite": "done"}])


class ReviewIn(BaseModel):
    """An analyst's verdict on a detection."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"verdict": "confirmed", "reason": "launch_pad", "note": "pad + tower"}]
        },
    )

    verdict: Literal["confirmed", "rejected", "unsure"]
    reason: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$", description="reason code"
    )
    note: str = Field(default="", max_length=2000)
    reviewer: str = Field(default="analyst", min_length=1, max_length=64)


class ReviewOut(BaseModel):
    """A stored review."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(examples=[1])
    detection_id: int = Field(examples=[42])
    verdict: Literal["confirmed", "rejected", "unsure"] = Field(examples=["confirmed"])
    reason: str = Field(examples=["launch_pad"])
    note: str = Field(examples=["pad + tower"])
    reviewer: str = Field(examples=["analyst"])
    created_at: datetime


class DetectionProperties(BaseModel):
    """Attributes of a detection."""

    id: int = Field(examples=[42])
    score: float = Field(ge=0, le=1, examples=[0.93])
    area_km2: float = Field(examples=[0.41])
    compactness: float = Field(examples=[0.72])
    model_version: str = Field(examples=["unet_seg/3"])
    aoi: str = Field(examples=["baikonur"])
    detected_at: datetime
    epoch: str | None = Field(default=None, description="monitoring epoch", examples=["2024H1"])
    novelty: Literal["known", "novel"] | None = Field(default=None, examples=["novel"])
    flags: list[str] | None = Field(default=None, examples=[["cloudy"]])
    reviews: list[ReviewOut] | None = Field(
        default=None, description="analyst reviews, newest first (single-detection routes)"
    )


class DetectionFeature(BaseModel):
    """A detection as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    id: int = Field(examples=[42])
    geometry: dict[str, Any] = Field(examples=[_POLYGON_EXAMPLE])
    properties: DetectionProperties


class DetectionCollection(BaseModel):
    """A page of detections (ordered by score desc, then id) with the total match count."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[DetectionFeature]
    total: int = Field(description="rows matching the filters", examples=[1234])
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])


class KnownSiteProperties(BaseModel):
    """Attributes of a reference launch site."""

    id: int = Field(examples=[1])
    name: str = Field(examples=["Baikonur Cosmodrome"])
    country: str = Field(examples=["Kazakhstan"])
    operator: str = Field(examples=["Roscosmos"])
    status: str = Field(examples=["active"])
    source: str = Field(examples=["Wikipedia: Baikonur Cosmodrome"])


class KnownSiteFeature(BaseModel):
    """A known site as a GeoJSON Point Feature."""

    type: Literal["Feature"] = "Feature"
    id: int = Field(examples=[1])
    geometry: dict[str, Any] = Field(examples=[{"type": "Point", "coordinates": [63.305, 45.965]}])
    properties: KnownSiteProperties


class KnownSiteCollection(BaseModel):
    """All known sites."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[KnownSiteFeature]


class Evidence(BaseModel):
    """Why a detection was made: score, model, geometry and provenance."""

    id: int = Field(examples=[42])
    score: float = Field(examples=[0.93])
    area_km2: float = Field(examples=[0.41])
    compactness: float = Field(examples=[0.72])
    model_version: str = Field(examples=["unet_seg/3"])
    aoi: str = Field(examples=["baikonur"])
    detected_at: datetime
    geometry: dict[str, Any] = Field(examples=[_POLYGON_EXAMPLE])
    evidence: dict[str, Any] = Field(
        description="provenance JSON (scenes, stretch, mean probability ...)",
        examples=[{"scenes": ["S2A_..."], "mean_probability": 0.81}],
    )
    reviews: list[ReviewOut]
    thumbnail_url: str = Field(examples=["/evidence/42/thumbnail?size=256"])
