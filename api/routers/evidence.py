"""``/evidence/{id}``: provenance of a detection and a false-colour thumbnail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from shapely.geometry import shape

from api.db import ConfigDep, SessionDep
from api.queries import MAX_ID, get_detection
from api.rasters import gdal_env, raster_url, thumbnail_png
from api.schemas import Evidence

__all__ = ["router"]

router = APIRouter(tags=["evidence"])

DetectionId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/evidence/{detection_id}", response_model=Evidence, responses={404: {}})
def read_evidence(session: SessionDep, detection_id: DetectionId) -> Evidence:
    """Score, model version, geometry, reviews and the provenance JSON of a detection."""
    feature, evidence = get_detection(session, detection_id)
    p = feature.properties
    return Evidence(
        id=p.id,
        score=p.score,
        area_km2=p.area_km2,
        compactness=p.compactness,
        model_version=p.model_version,
        aoi=p.aoi,
        detected_at=p.detected_at,
        geometry=feature.geometry,
        evidence=evidence,
        reviews=p.reviews or [],
        thumbnail_url=f"/evidence/{p.id}/thumbnail?size=256",
    )


@router.get(
    "/evidence/{detection_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "false colour B12/B08/B04"},
        404: {"description": "no such detection, or no composite for its AOI"},
    },
)
def read_thumbnail(
    session: SessionDep,
    config: ConfigDep,
    detection_id: DetectionId,
    size: Annotated[int, Query(ge=64, le=1024, description="longest side, px")] = 256,
) -> Response:
    """False-colour PNG (SWIR2/NIR/red) of the AOI composite around the detection."""
    feature, _ = get_detection(session, detection_id)
    bounds = shape(feature.geometry).bounds
    url = raster_url(config.store_root, feature.properties.aoi, "composite")
    png = thumbnail_png(url, bounds, size, gdal_env(config.storage_options))
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})
