"""Detection exports: GeoJSON, GeoPackage and KML bytes from detection features."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import simplekml
from shapely.geometry import shape

from api.schemas import DetectionCollection, DetectionFeature

__all__ = ["EXPORT_MEDIA_TYPES", "to_geojson", "to_gpkg", "to_kml"]

EXPORT_MEDIA_TYPES = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "kml": "application/vnd.google-earth.kml+xml",
}

_COLUMNS = ("id", "score", "area_km2", "compactness", "model_version", "aoi", "detected_at")


def to_geojson(features: Sequence[DetectionFeature]) -> bytes:
    """A GeoJSON FeatureCollection (UTF-8)."""
    body = DetectionCollection(
        features=list(features), total=len(features), limit=len(features), offset=0
    )
    return body.model_dump_json(exclude_none=True).encode()


def _frame(features: Sequence[DetectionFeature]) -> gpd.GeoDataFrame:
    records = [
        {c: getattr(f.properties, c) for c in _COLUMNS} | {"geometry": shape(f.geometry)}
        for f in features
    ]
    frame = gpd.GeoDataFrame(
        records or None, columns=[*_COLUMNS, "geometry"], geometry="geometry", crs="EPSG:4326"
    )
    frame["detected_at"] = frame["detected_at"].astype(str)
    return frame


def to_gpkg(features: Sequence[DetectionFeature], layer: str = "detections") -> bytes:
    """A GeoPackage with one polygon layer (EPSG:4326)."""
    with tempfile.TemporaryDirectory(prefix="lw-export-") as tmp:
        path = Path(tmp) / "detections.gpkg"
        _frame(features).to_file(path, driver="GPKG", layer=layer)
        return path.read_bytes()


def to_kml(features: Sequence[DetectionFeature]) -> bytes:
    """A KML document with one placemark polygon per detection."""
    kml = simplekml.Kml(name="launchwatch detections")
    for f in features:
        p = f.properties
        rings = f.geometry["coordinates"]
        poly = kml.newpolygon(
            name=f"detection {p.id}",
            description=f"score {p.score:.3f}, {p.area_km2:.3f} km², model {p.model_version}",
            outerboundaryis=[tuple(c) for c in rings[0]],
            innerboundaryis=[[tuple(c) for c in ring] for ring in rings[1:]],
        )
        for key in _COLUMNS:
            poly.extendeddata.newdata(name=key, value=str(getattr(p, key)))
    return kml.kml().encode()
