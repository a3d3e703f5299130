"""Detections and sites as a STAC Collection, written next to the stores through fsspec.

One Collection per AOI (``{root}/{aoi}/stac/collection.json``) holds an Item per detection
(``detection-…``: its epoch as ``start_datetime``/``end_datetime``, score, geometry, flags,
known/novel, provenance, and assets pointing at that epoch's probability and composite COGs)
and an Item per site (``site-…``: first to last epoch seen, status, best score, alerts raised,
``related`` links to its detections). Only core STAC fields are used (custom properties are
``launchwatch:``-prefixed), so the output validates offline against pystac's bundled core
schemas; other tools (pystac, rustac, QGIS' STAC browser) read it as a static catalog.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import fsspec
import geopandas as gpd
import pandas as pd
import pystac
from shapely.geometry import mapping

from cube.epochs import Epoch
from cube.errors import DataError, InvalidInputError

__all__ = ["FsspecStacIO", "build_collection", "validate_collection", "write_collection"]

_PREFIX = "launchwatch"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class FsspecStacIO(pystac.StacIO):
    """pystac I/O through fsspec, so catalogs can live on ``s3://`` as well as on disk."""

    def __init__(self, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._options = dict(storage_options or {})

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        """Read a JSON document from a local path or URL."""
        with fsspec.open(str(source), "r", encoding="utf-8", **self._options) as f:
            return str(f.read())

    def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
        """Write a JSON document, creating parent folders."""
        fs, path = fsspec.core.url_to_fs(str(dest), **self._options)
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(path, "w", encoding="utf-8") as f:
            f.write(txt)


def _safe(text: str) -> str:
    return _SAFE.sub("_", text)


def _day(d: date, end: bool = False) -> datetime:
    return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)


def _plain(value: Any) -> Any:
    """JSON-safe copy of a property value (numpy scalars, NaN, tuples, dates)."""
    return json.loads(json.dumps(value, default=str).replace("NaN", "null"))


def _detection_item(
    row: Mapping[str, Any],
    n: int,
    epoch: Epoch,
    assets: Mapping[str, str],
) -> pystac.Item:
    geom = row["geometry"]
    key = f"{row['aoi']}-{epoch.name}-{row['id'] if pd.notna(row.get('id')) else n}"
    evidence = row.get("evidence") or {}
    if isinstance(evidence, str):
        evidence = json.loads(evidence)
    props = {
        "start_datetime": _day(epoch.start).isoformat(),
        "end_datetime": _day(epoch.end, True).isoformat(),
        f"{_PREFIX}:type": "detection",
        f"{_PREFIX}:score": float(row["score"]),
        f"{_PREFIX}:area_km2": float(row.get("area_km2", 0.0)),
        f"{_PREFIX}:aoi": str(row["aoi"]),
        f"{_PREFIX}:epoch": epoch.name,
        f"{_PREFIX}:site": row.get("site_key"),
        f"{_PREFIX}:novelty": row.get("novelty"),
        f"{_PREFIX}:known_site": row.get("known_site"),
        f"{_PREFIX}:flags": list(row.get("flags") or []),
        f"{_PREFIX}:model_version": str(row.get("model_version", "")),
        f"{_PREFIX}:provenance": _plain(dict(evidence)),
    }
    if pd.notna(row.get("id")):
        props[f"{_PREFIX}:detection_id"] = int(row["id"])
    item = pystac.Item(
        id=f"detection-{_safe(key)}",
        geometry=mapping(geom),
        bbox=list(geom.bounds),
        datetime=None,
        properties=_plain(props),
    )
    for name, href in assets.items():
        item.add_asset(
            name,
            pystac.Asset(
                href,
                title=f"{name} of {row['aoi']} {epoch.name}",
                media_type=pystac.MediaType.COG,
                roles=["data"],
            ),
        )
    return item


def _site_item(row: Mapping[str, Any], epochs: Mapping[str, Epoch]) -> pystac.Item:
    geom = row["geometry"]
    first, last = epochs.get(str(row["first_seen"])), epochs.get(str(row["last_seen"]))
    if first is None or last is None:
        raise InvalidInputError(
            f"site {row['site_key']}: epochs {row['first_seen']}/{row['last_seen']} unknown"
        )
    props = {
        "start_datetime": _day(first.start).isoformat(),
        "end_datetime": _day(last.end, True).isoformat(),
        f"{_PREFIX}:type": "site",
        f"{_PREFIX}:site": str(row["site_key"]),
        f"{_PREFIX}:aoi": str(row["aoi"]),
        f"{_PREFIX}:status": str(row["status"]),
        f"{_PREFIX}:score": float(row["best_score"]),
        f"{_PREFIX}:novelty": row.get("novelty"),
        f"{_PREFIX}:known_site": row.get("known_site"),
        f"{_PREFIX}:first_seen": first.name,
        f"{_PREFIX}:last_seen": last.name,
        f"{_PREFIX}:n_epochs": int(row["n_epochs"]),
        f"{_PREFIX}:alerts": list(row.get("alerted") or ()),
        f"{_PREFIX}:flags": list(row.get("flags") or []),
    }
    return pystac.Item(
        id=f"site-{_safe(str(row['site_key']))}",
        geometry=mapping(geom),
        bbox=list(geom.bounds),
        datetime=None,
        properties=_plain(props),
    )


def build_collection(
    aoi: str,
    detections: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    epochs: Sequence[Epoch],
    assets: Mapping[str, Mapping[str, str]],
    stores: Mapping[str, str] | None = None,
) -> pystac.Collection:
    """Build the Collection of one AOI's detections and sites (nothing is written).

    Args:
        aoi: AOI name (the Collection id is ``launchwatch-{aoi}``).
        detections: Detections with an ``epoch`` column (EPSG:4326), e.g.
            :attr:`serving.sites.TrackResult.detections` of every epoch concatenated; an
            ``id`` column (database id) is recorded when present.
        sites: The site register (:data:`serving.sites.SITE_COLUMNS`).
        epochs: Every epoch the detections and sites refer to.
        assets: Epoch name → asset name → href (e.g. ``probability``/``composite`` COGs).
        stores: Epoch name → store URL, linked from the detection items as ``derived_from``.

    Returns:
        The Collection, its items added (self hrefs are set by :func:`write_collection`).

    Raises:
        InvalidInputError: Wrong CRS, detections without ``epoch`` or of an unknown epoch.
    """
    for frame, what in ((detections, "detections"), (sites, "sites")):
        if len(frame) and (frame.crs is None or frame.crs.to_epsg() != 4326):
            raise InvalidInputError(f"{what} must be in EPSG:4326, not {frame.crs}")
    if len(detections) and "epoch" not in detections.columns:
        raise InvalidInputError("detections lack the epoch column")
    by_name = {e.name: e for e in epochs}
    if not by_name:
        raise InvalidInputError("no epochs given for the STAC export")
    items: list[pystac.Item] = []
    by_site: dict[str, list[pystac.Item]] = {}
    for n, row in enumerate(detections.to_dict("records")):
        epoch = by_name.get(str(row["epoch"]))
        if epoch is None:
            raise InvalidInputError(f"detection {n} has unknown epoch {row['epoch']!r}")
        item = _detection_item(row, n, epoch, assets.get(epoch.name, {}))
        if stores and epoch.name in stores:
            item.add_link(pystac.Link("derived_from", stores[epoch.name], title="store"))
        items.append(item)
        if row.get("site_key"):
            by_site.setdefault(str(row["site_key"]), []).append(item)
    for row in sites.to_dict("records"):
        item = _site_item(row, by_name)
        for det in by_site.get(str(row["site_key"]), []):
            item.add_link(pystac.Link("related", det, title="detection"))
        items.append(item)
    starts = [_day(min(e.start for e in epochs))]
    ends = [_day(max(e.end for e in epochs), True)]
    bounds = [list(i.bbox) for i in items if i.bbox] or [[-180.0, -90.0, 180.0, 90.0]]
    union = [
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    ]
    collection = pystac.Collection(
        id=f"launchwatch-{_safe(aoi)}",
        description=(
            f"launchwatch detections and tracked sites of AOI {aoi} over epochs "
            f"{', '.join(e.name for e in epochs)}"
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([union]), pystac.TemporalExtent([[starts[0], ends[0]]])
        ),
        license="other",
        title=f"launchwatch {aoi}",
    )
    collection.add_items(items)
    return collection


def validate_collection(collection: pystac.Collection) -> int:
    """Validate every object against the core STAC schemas (pystac's bundled copies).

    Falls back to a dict round trip when ``jsonschema`` is not installed.

    Returns:
        Number of objects validated.

    Raises:
        DataError: An item or the collection does not validate.
    """
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        items = list(collection.get_items(recursive=True))
        for obj in [collection, *items]:
            again = type(obj).from_dict(obj.to_dict(include_self_link=False))
            if again.to_dict(include_self_link=False) != obj.to_dict(include_self_link=False):
                raise DataError(f"STAC object {obj.id} does not round-trip") from None
        return 1 + len(items)
    try:
        return 1 + int(collection.validate_all())
    except pystac.STACValidationError as exc:
        raise DataError(f"STAC export of {collection.id} is invalid: {exc}") from exc


def write_collection(
    collection: pystac.Collection,
    dest: str,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Validate, then write the Collection as a self-contained catalog under ``dest``.

    Args:
        collection: From :func:`build_collection`.
        dest: Folder URL (local path or ``s3://…``), e.g. ``{root}/{aoi}/stac``.
        storage_options: fsspec options for ``dest``.

    Returns:
        The href of ``collection.json``.

    Raises:
        DataError: Invalid STAC (nothing is written then).
    """
    collection.normalize_hrefs(dest.rstrip("/"))
    validate_collection(collection)
    collection.save(
        catalog_type=pystac.CatalogType.SELF_CONTAINED, stac_io=FsspecStacIO(storage_options)
    )
    return str(collection.get_self_href())
