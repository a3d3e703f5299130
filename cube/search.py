"""Scene search: a STAC API (Planetary Computer signed, any other unsigned) or a local file.

A :class:`SceneSource` turns a :class:`SearchRequest` into STAC items. :func:`scene_source`
picks the implementation from a catalog string: an ``http(s)://`` URL is a STAC API (items of
Planetary Computer are signed with ``planetary-computer``), anything else is a path to an
ItemCollection / FeatureCollection JSON file. :func:`search_scenes` raises
:class:`~cube.errors.EmptySearchError` naming the AOI, the dates and the collection when
nothing matches, and :func:`require_assets` checks the bands the cube needs are present.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Protocol

import pystac
from shapely.geometry import Polygon, box, shape

from cube.aoi import AOI
from cube.errors import DataError, EmptySearchError, InvalidInputError, NotFoundError

__all__ = [
    "ASSET_ALIASES",
    "COLLECTION_ASSETS",
    "S1_COLLECTION",
    "S2_COLLECTION",
    "ItemCollectionSource",
    "SceneSource",
    "SearchRequest",
    "StacApiSource",
    "harmonize_assets",
    "require_assets",
    "scene_source",
    "search_scenes",
]

S2_COLLECTION = "sentinel-2-l2a"
S1_COLLECTION = "sentinel-1-rtc"
#: Assets the cube reads per collection (S2 reflectance + SCL; S1 RTC backscatter).
COLLECTION_ASSETS: dict[str, tuple[str, ...]] = {
    S2_COLLECTION: ("B02", "B03", "B04", "B08", "B11", "B12", "SCL"),
    S1_COLLECTION: ("vv", "vh"),
}
_PC_HOST = "planetarycomputer.microsoft.com"
#: Earth Search (element84) common-name assets → the band codes the cube uses.
ASSET_ALIASES: dict[str, str] = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}


@dataclass(frozen=True)
class SearchRequest:
    """What to search: an AOI (geometry + window + cloud limit) and one collection."""

    aoi: AOI
    collection: str = S2_COLLECTION
    limit: int = 500

    def __post_init__(self) -> None:
        """Validate the collection and the limit."""
        if self.collection not in COLLECTION_ASSETS:
            raise InvalidInputError(
                f"unknown collection {self.collection!r}; use one of {sorted(COLLECTION_ASSETS)}"
            )
        if self.limit < 1:
            raise InvalidInputError(f"search limit must be >= 1, got {self.limit}")

    @property
    def datetime_range(self) -> str:
        """``start/end`` in RFC 3339 (whole days, UTC)."""
        return f"{_utc(self.aoi.start, time.min)}/{_utc(self.aoi.end, time.max)}"


def _utc(day: date, at: time) -> str:
    return datetime.combine(day, at, tzinfo=UTC).isoformat().replace("+00:00", "Z")


class SceneSource(Protocol):
    """Anything that finds STAC items for a request."""

    def search(self, request: SearchRequest) -> list[pystac.Item]:
        """Return the items of ``request.collection`` over the AOI in its window."""
        ...


def _keep(item: pystac.Item, request: SearchRequest, footprint: Polygon) -> bool:
    """Client-side filter: collection, footprint, dates and cloud cover."""
    if item.collection_id not in (None, request.collection):
        return False
    geom = shape(item.geometry) if item.geometry else box(*(item.bbox or (0, 0, 0, 0)))
    if not geom.intersects(footprint):
        return False
    when = item.datetime or item.common_metadata.start_datetime
    if when is None or not (request.aoi.start <= when.date() <= request.aoi.end):
        return False
    cloud = item.properties.get("eo:cloud_cover")
    return cloud is None or float(cloud) <= request.aoi.max_cloud


@dataclass(frozen=True)
class StacApiSource:
    """A STAC API; Planetary Computer items are signed (SAS tokens) on the way out."""

    url: str

    @property
    def signed(self) -> bool:
        """True for Planetary Computer."""
        return _PC_HOST in self.url

    def search(self, request: SearchRequest) -> list[pystac.Item]:
        """Search ``/search`` by intersects + datetime; filter cloud cover client-side too."""
        from pystac_client import Client
        from pystac_client.exceptions import APIError

        modifier = None
        if self.signed:
            import planetary_computer

            modifier = planetary_computer.sign_inplace
        try:
            client = Client.open(self.url, modifier=modifier)
            query = (
                {"eo:cloud_cover": {"lte": request.aoi.max_cloud}}
                if self.signed and request.collection == S2_COLLECTION
                else None
            )
            search = client.search(
                collections=[request.collection],
                intersects=request.aoi.geometry.__geo_interface__,
                datetime=request.datetime_range,
                max_items=request.limit,
                query=query,
            )
            items = list(search.items())
        except (APIError, OSError) as exc:
            raise DataError(f"STAC API {self.url} search failed: {exc}") from exc
        return [i for i in items if _keep(i, request, request.aoi.geometry)]


@dataclass(frozen=True)
class ItemCollectionSource:
    """A local ItemCollection / FeatureCollection of STAC items (relative hrefs resolved)."""

    path: Path

    def search(self, request: SearchRequest) -> list[pystac.Item]:
        """Filter the file's items like a STAC API would."""
        if not self.path.is_file():
            raise NotFoundError(f"STAC item collection {self.path} does not exist")
        try:
            doc = json.loads(self.path.read_text())
            items = [pystac.Item.from_dict(f) for f in doc.get("features", [])]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{self.path} is not a STAC ItemCollection: {exc}") from exc
        base = self.path.resolve().parent
        for item in items:
            for asset in item.assets.values():
                if "://" not in asset.href and not Path(asset.href).is_absolute():
                    asset.href = str(base / asset.href)
        return [i for i in items if _keep(i, request, request.aoi.geometry)][: request.limit]


def harmonize_assets(item: pystac.Item) -> pystac.Item:
    """Add band-code keys (``B04``...) for catalogs that name assets by common name (``red``)."""
    for alias, code in ASSET_ALIASES.items():
        if code not in item.assets and alias in item.assets:
            item.assets[code] = item.assets[alias]
    return item


def scene_source(catalog: str) -> SceneSource:
    """A STAC API for ``http(s)://`` URLs, else a local ItemCollection file."""
    if catalog.startswith(("http://", "https://")):
        return StacApiSource(catalog)
    return ItemCollectionSource(Path(catalog))


def search_scenes(source: SceneSource, request: SearchRequest) -> list[pystac.Item]:
    """Run the search, sorted by time then id.

    Raises:
        EmptySearchError: Nothing matched (message names AOI, dates, collection, cloud limit).
    """
    found = [harmonize_assets(i) for i in source.search(request)]
    items = sorted(found, key=lambda i: (i.datetime or datetime.min, i.id))
    if not items:
        aoi = request.aoi
        raise EmptySearchError(
            f"no {request.collection} scenes for AOI {aoi.name} between {aoi.start} and "
            f"{aoi.end} with cloud cover <= {aoi.max_cloud:g} %"
        )
    return items


def require_assets(items: Sequence[pystac.Item], assets: Sequence[str]) -> None:
    """Check every item carries ``assets``.

    Raises:
        DataError: The first item missing one (named with the missing bands).
    """
    for item in items:
        missing = [a for a in assets if a not in item.assets]
        if missing:
            raise DataError(f"scene {item.id} lacks bands {missing} (has {sorted(item.assets)})")
