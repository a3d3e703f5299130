"""Known launch sites: packaged reference points, metric buffers and the PostGIS loader.

The packaged file ``cube/data/known_sites.geojson`` holds real orbital and missile launch
sites (point = main pad area, EPSG:4326) with name, country, operator, status and the public
reference the coordinates come from. Synthetic scenes write the same schema for their planted
complexes (``cube.synthetic``), so both load through :func:`load_known_sites`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import psycopg
from pyproj import CRS, Transformer
from shapely.geometry import Point, Polygon
from shapely.ops import transform

from cube.errors import InvalidInputError, ServiceUnavailableError

__all__ = ["KnownSite", "buffer_sites", "load_known_sites", "write_known_sites"]

#: Status values accepted by the ``known_sites`` table.
STATUSES = frozenset({"active", "inactive", "under_construction", "planned"})
#: Default buffer radius around a site point, in metres.
DEFAULT_BUFFER_M = 2000.0


@dataclass(frozen=True)
class KnownSite:
    """One launch site (a point at the main pad area).

    Attributes:
        name: Unique site name.
        country: Country (or territory) the site is in.
        operator: Operating agency or company.
        status: One of ``active``, ``inactive``, ``under_construction``, ``planned``.
        lon: Longitude in degrees, [-180, 180].
        lat: Latitude in degrees, [-90, 90].
        source: Public reference of the coordinates (e.g. ``"Wikipedia: Esrange"``).
    """

    name: str
    country: str
    operator: str
    status: str
    lon: float
    lat: float
    source: str

    def __post_init__(self) -> None:
        """Reject empty fields, unknown status and out-of-range coordinates."""
        for field in ("name", "country", "operator", "source"):
            if not str(getattr(self, field)).strip():
                raise InvalidInputError(f"known site {self.name!r}: field {field!r} is empty")
        if self.status not in STATUSES:
            raise InvalidInputError(
                f"known site {self.name!r}: status {self.status!r} not in {sorted(STATUSES)}"
            )
        if not -180.0 <= self.lon <= 180.0:
            raise InvalidInputError(f"known site {self.name!r}: longitude {self.lon} out of range")
        if not -90.0 <= self.lat <= 90.0:
            raise InvalidInputError(f"known site {self.name!r}: latitude {self.lat} out of range")

    @property
    def point(self) -> Point:
        """The site as a shapely point (lon, lat)."""
        return Point(self.lon, self.lat)


def _site_from_feature(feature: dict[str, Any], path: object) -> KnownSite:
    props = feature.get("properties") or {}
    geom = feature.get("geometry") or {}
    if geom.get("type") != "Point":
        raise InvalidInputError(f"{path}: site {props.get('name')!r} geometry must be a Point")
    missing = [k for k in ("name", "country", "operator", "source") if not props.get(k)]
    if missing:
        raise InvalidInputError(f"{path}: site {props.get('name')!r} lacks {', '.join(missing)}")
    lon, lat = (float(v) for v in geom["coordinates"][:2])
    return KnownSite(
        name=str(props["name"]),
        country=str(props["country"]),
        operator=str(props["operator"]),
        status=str(props.get("status", "active")),
        lon=lon,
        lat=lat,
        source=str(props["source"]),
    )


def load_known_sites(path: str | Path | None = None) -> tuple[KnownSite, ...]:
    """Load and validate a known-sites GeoJSON (the packaged one by default).

    Args:
        path: A GeoJSON FeatureCollection of Point features; ``None`` for the packaged file.

    Returns:
        The sites in file order.

    Raises:
        InvalidInputError: Unreadable file, missing fields, bad coordinates or duplicate names.
    """
    try:
        if path is None:
            text = resources.files("cube").joinpath("data/known_sites.geojson").read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = path or "package data"
        raise InvalidInputError(f"cannot read known sites {where}: {exc}") from None
    sites = tuple(_site_from_feature(f, path or "known_sites.geojson") for f in doc["features"])
    names = [s.name for s in sites]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(f"known sites: duplicate names {dupes}")
    return sites


def _local_buffer(site: KnownSite, radius_m: float) -> Polygon:
    """Buffer a point in an azimuthal equidistant CRS centred on it, back to EPSG:4326."""
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={site.lat} +lon_0={site.lon} +datum=WGS84 +units=m")
    to_wgs84 = Transformer.from_crs(local, "EPSG:4326", always_xy=True).transform
    return Polygon(transform(to_wgs84, Point(0.0, 0.0).buffer(radius_m, quad_segs=16)))


def buffer_sites(
    sites: Iterable[KnownSite], radius_m: float = DEFAULT_BUFFER_M
) -> gpd.GeoDataFrame:
    """Metric buffers around sites, computed in a local azimuthal equidistant CRS per site.

    Args:
        sites: Sites to buffer.
        radius_m: Buffer radius in metres (> 0).

    Returns:
        GeoDataFrame in EPSG:4326 with the site fields, ``geometry`` (buffer polygon) and
        ``point`` (the site point).
    """
    if radius_m <= 0:
        raise InvalidInputError(f"buffer radius must be positive, got {radius_m} m")
    sites = tuple(sites)
    rows = [
        {
            "name": s.name,
            "country": s.country,
            "operator": s.operator,
            "status": s.status,
            "source": s.source,
            "point": s.point,
            "geometry": _local_buffer(s, radius_m),
        }
        for s in sites
    ]
    columns = ["name", "country", "operator", "status", "source", "point", "geometry"]
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs="EPSG:4326")
    frame["point"] = gpd.GeoSeries(frame["point"], crs="EPSG:4326")
    return frame


_UPSERT = """
INSERT INTO known_sites (name, country, operator, status, source, geom, buffer_geom)
VALUES (%s, %s, %s, %s, %s, ST_GeomFromText(%s, 4326), ST_GeomFromText(%s, 4326))
ON CONFLICT (name) DO UPDATE SET
    country = EXCLUDED.country, operator = EXCLUDED.operator, status = EXCLUDED.status,
    source = EXCLUDED.source, geom = EXCLUDED.geom, buffer_geom = EXCLUDED.buffer_geom
"""


def write_known_sites(
    dsn: str, sites: Sequence[KnownSite], radius_m: float = DEFAULT_BUFFER_M
) -> int:
    """Upsert sites (point + metric buffer) into the PostGIS ``known_sites`` table.

    All rows go in one transaction: a failure leaves the table unchanged.

    Args:
        dsn: PostgreSQL connection string.
        sites: Sites to write; rows with the same ``name`` are updated.
        radius_m: Buffer radius in metres.

    Returns:
        Number of sites written.

    Raises:
        ServiceUnavailableError: The database cannot be reached.
    """
    frame = buffer_sites(sites, radius_m)
    params = [
        (r.name, r.country, r.operator, r.status, r.source, r.point.wkt, r.geometry.wkt)
        for r in frame.itertuples()
    ]
    try:
        conn = psycopg.connect(dsn)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(f"cannot connect to PostGIS for known_sites: {exc}") from exc
    with conn, conn.cursor() as cur:
        cur.executemany(_UPSERT, params)
    return len(params)
