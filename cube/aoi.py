"""Areas of interest: named defaults from ``cube/data/aois.yaml``, GeoJSON files or bboxes.

``parse_aoi`` is the single entry point used by the CLI (``--aoi``) and the API: it accepts a
default AOI name, the path of a GeoJSON file (Polygon, Feature or FeatureCollection with one
polygon) or ``minx,miny,maxx,maxy`` in degrees, and returns a validated, frozen :class:`AOI`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pyproj import Geod
from shapely.geometry import Polygon, box, shape
from shapely.validation import explain_validity

from cube.errors import InvalidInputError

__all__ = ["AOI", "area_km2", "default_aois", "list_aois", "parse_aoi"]

#: Date window used for bbox/GeoJSON AOIs when no dates are given: the last six months.
DEFAULT_WINDOW_DAYS = 182
#: Maximum scene cloud cover (percent) used for bbox/GeoJSON AOIs when none is given.
DEFAULT_MAX_CLOUD = 20.0

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class AOI:
    """A validated area of interest.

    Attributes:
        name: Identifier used in store paths (``{root}/{name}/...``) and database rows.
        geometry: Valid polygon in EPSG:4326 (lon, lat).
        start: First acquisition day (inclusive).
        end: Last acquisition day (inclusive), not before ``start``.
        max_cloud: Maximum scene cloud cover in percent, in [0, 100].
    """

    name: str
    geometry: Polygon
    start: date
    end: date
    max_cloud: float

    def __post_init__(self) -> None:
        """Validate name, geometry, dates and cloud cover."""
        if not self.name or any(c in self.name for c in "/\\ "):
            raise InvalidInputError(
                f"AOI name {self.name!r} must be non-empty, without '/' or spaces"
            )
        _check_polygon(self.geometry, self.name)
        if self.end < self.start:
            raise InvalidInputError(
                f"AOI {self.name!r}: end date {self.end} is before start date {self.start}"
            )
        if not 0.0 <= self.max_cloud <= 100.0:
            raise InvalidInputError(
                f"AOI {self.name!r}: max_cloud {self.max_cloud} is outside [0, 100] percent"
            )

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in degrees."""
        minx, miny, maxx, maxy = self.geometry.bounds
        return (float(minx), float(miny), float(maxx), float(maxy))


def _check_polygon(geom: Any, name: str) -> None:
    if not isinstance(geom, Polygon) or geom.is_empty:
        kind = getattr(geom, "geom_type", type(geom).__name__)
        raise InvalidInputError(f"AOI {name!r}: geometry must be a non-empty Polygon, got {kind}")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180.0 or maxx > 180.0:
        raise InvalidInputError(f"AOI {name!r}: longitude outside [-180, 180] ({geom.bounds})")
    if miny < -90.0 or maxy > 90.0:
        raise InvalidInputError(f"AOI {name!r}: latitude outside [-90, 90] ({geom.bounds})")
    if not geom.is_valid:
        raise InvalidInputError(f"AOI {name!r}: invalid polygon ({explain_validity(geom)})")
    if geom.area == 0:
        raise InvalidInputError(f"AOI {name!r}: polygon has zero area")


def area_km2(aoi: AOI) -> float:
    """Geodesic area of the AOI polygon on the WGS84 ellipsoid, in km²."""
    area, _ = _GEOD.geometry_area_perimeter(aoi.geometry)
    return abs(area) / 1e6


@cache
def _defaults() -> dict[str, dict[str, Any]]:
    text = resources.files("cube").joinpath("data/aois.yaml").read_text(encoding="utf-8")
    aois = yaml.safe_load(text)["aois"]
    return {str(k): dict(v) for k, v in aois.items()}


def list_aois() -> tuple[str, ...]:
    """Names of every packaged AOI (the four defaults and the ``demo*`` AOIs), sorted."""
    return tuple(sorted(_defaults()))


def default_aois() -> tuple[str, ...]:
    """Names of the default (real launch-site) AOIs, i.e. those not flagged ``default: false``."""
    return tuple(sorted(k for k, v in _defaults().items() if v.get("default", True)))


def _parse_date(value: str | date, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInputError(f"{what} date {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _parse_bbox(spec: str) -> Polygon:
    parts = spec.split(",")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidInputError(
            f"bbox {spec!r} must be four numbers minx,miny,maxx,maxy in degrees"
        ) from None
    for lat in (miny, maxy):
        if not -90.0 <= lat <= 90.0:
            raise InvalidInputError(f"bbox {spec!r}: latitude {lat} is outside [-90, 90]")
    for lon in (minx, maxx):
        if not -180.0 <= lon <= 180.0:
            raise InvalidInputError(f"bbox {spec!r}: longitude {lon} is outside [-180, 180]")
    if minx >= maxx or miny >= maxy:
        raise InvalidInputError(
            f"bbox {spec!r} is inverted or empty: need minx < maxx and miny < maxy"
        )
    return box(minx, miny, maxx, maxy)


def _parse_geojson(path: Path) -> Polygon:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read AOI GeoJSON {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"AOI GeoJSON {path} is not a GeoJSON object")
    if doc.get("type") == "FeatureCollection":
        feats = doc.get("features") or []
        if len(feats) != 1:
            raise InvalidInputError(
                f"AOI GeoJSON {path} must hold exactly one feature, found {len(feats)}"
            )
        doc = feats[0]
    if doc.get("type") == "Feature":
        doc = doc.get("geometry") or {}
    try:
        geom = shape(doc)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise InvalidInputError(f"AOI GeoJSON {path} has no readable geometry: {exc}") from None
    if not isinstance(geom, Polygon):
        raise InvalidInputError(f"AOI GeoJSON {path} must be a Polygon, got {geom.geom_type}")
    return geom


def parse_aoi(
    spec: str,
    start: str | None = None,
    end: str | None = None,
    max_cloud: float | None = None,
) -> AOI:
    """Build a validated AOI from a default name, a GeoJSON path or a bbox.

    Args:
        spec: A packaged AOI name (see :func:`list_aois`), a path to a ``.geojson``/``.json``
            file, or ``minx,miny,maxx,maxy`` in degrees.
        start: ISO start date; overrides the packaged window. Defaults to 6 months before
            ``end`` for files and bboxes.
        end: ISO end date; overrides the packaged window. Defaults to today for files/bboxes.
        max_cloud: Maximum scene cloud cover in percent; overrides the packaged value.

    Returns:
        The validated AOI.

    Raises:
        InvalidInputError: Unknown name (the message lists valid names), unreadable file,
            bad bbox (latitude beyond ±90, inverted), invalid polygon or reversed dates.
    """
    spec = spec.strip()
    defaults = _defaults()
    cfg: dict[str, Any] = {}
    if spec in defaults:
        cfg = defaults[spec]
        name, geom = spec, Polygon(cfg["polygon"])
    elif "," in spec:
        name, geom = "bbox_" + "_".join(p.strip() for p in spec.split(",")), _parse_bbox(spec)
        name = name.replace(".", "p").replace("-", "m")
    elif spec.lower().endswith((".geojson", ".json")) or Path(spec).exists():
        path = Path(spec)
        name, geom = path.stem.split(".")[0].replace(" ", "_"), _parse_geojson(path)
    else:
        raise InvalidInputError(
            f"unknown AOI {spec!r}: use one of {', '.join(list_aois())}, "
            "a GeoJSON file path or minx,miny,maxx,maxy"
        )
    end_d = _parse_date(end if end is not None else cfg.get("end", date.today()), "end")
    if start is not None:
        start_d = _parse_date(start, "start")
    elif "start" in cfg and end is None:
        start_d = _parse_date(cfg["start"], "start")
    else:
        start_d = end_d - timedelta(days=DEFAULT_WINDOW_DAYS)
    cloud = max_cloud if max_cloud is not None else cfg.get("max_cloud", DEFAULT_MAX_CLOUD)
    return AOI(name=name, geometry=geom, start=start_d, end=end_d, max_cloud=float(cloud))
