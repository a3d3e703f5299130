"""``/detections``: list with filters and paging, one detection, exports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.db import SessionDep
from api.exports import EXPORT_MEDIA_TYPES, to_geojson, to_gpkg, to_kml
from api.queries import (
    MAX_ID,
    FiltersDep,
    count_detections,
    detection_features,
    get_detection,
)
from api.schemas import DetectionCollection, DetectionFeature

__all__ = ["router"]

router = APIRouter(tags=["detections"])

#: Most detections one export returns.
MAX_EXPORT = 50_000


@router.get("/detections", response_model=DetectionCollection, response_model_exclude_none=True)
def list_detections(
    session: SessionDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DetectionCollection:
    """Detections matching the filters, best score first (ties by id), with the total count."""
    return DetectionCollection(
        features=detection_features(session, filters, limit, offset),
        total=count_detections(session, filters),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/detections.{fmt}",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in EXPORT_MEDIA_TYPES.values()},
            "description": "the matching detections as a file",
        }
    },
)
def export_detections(
    session: SessionDep,
    filters: FiltersDep,
    fmt: Literal["geojson", "gpkg", "kml"],
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = MAX_EXPORT,
) -> Response:
    """Download the matching detections as GeoJSON, GeoPackage or KML."""
    features = detection_features(session, filters, limit)
    writers = {"geojson": to_geojson, "gpkg": to_gpkg, "kml": to_kml}
    return Response(
        writers[fmt](features),
        media_type=EXPORT_MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="detections.{fmt}"'},
    )


@router.get(
    "/detections/{detection_id}",
    response_model=DetectionFeature,
    responses={404: {"description": "no such detection"}},
)
def read_detection(
    session: SessionDep, detection_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> DetectionFeature:
    """One detection with its full geometry and its reviews (newest first)."""
    feature, _ = get_detection(session, detection_id)
    return feature
