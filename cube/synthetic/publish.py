"""Writing synthetic acquisitions as COGs, STAC items and GeoJSON truth."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine
from shapely.geometry import Polygon, box, mapping
from shapely.ops import transform

__all__ = ["asset_href", "s1_item", "s2_item", "to_wgs84", "write_cog", "write_geojson"]

_EXT = (
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
)
_SAR_EXT = "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
_COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
_EO = {
    "B02": ("blue", 0.49),
    "B03": ("green", 0.56),
    "B04": ("red", 0.665),
    "B08": ("nir", 0.842),
    "B11": ("swir16", 1.61),
    "B12": ("swir22", 2.19),
}


def write_cog(path: Path, data: np.ndarray, transform_: Affine, epsg: int, nodata: float) -> None:
    """Write one band as a COG (256 px blocks, deflate level 1 for speed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{epsg}",
        "transform": transform_,
        "nodata": nodata,
        "blocksize": 256,
        "compress": "DEFLATE",
        "level": 1,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def to_wgs84(geom: Any, epsg: int) -> Any:
    """Reproject a shapely geometry from ``EPSG:{epsg}`` to EPSG:4326."""
    return transform(Transformer.from_crs(epsg, 4326, always_xy=True).transform, geom)


def asset_href(path: Path, root: Path, base_url: str | None) -> str:
    """``file://`` URI of ``path``, or ``{base_url}/{path relative to root}``."""
    if base_url is None:
        return path.resolve().as_uri()
    return f"{base_url.rstrip('/')}/{path.relative_to(root).as_posix()}"


def _footprint(bounds: tuple[float, float, float, float], epsg: int) -> Polygon:
    return to_wgs84(box(*bounds).segmentize(1000.0), epsg)


def _asset(
    href: str, band: str, shape: tuple[int, int], tr: Affine, dtype: str, nodata: float, res: float
) -> dict[str, Any]:
    asset: dict[str, Any] = {
        "href": href,
        "type": _COG_TYPE,
        "roles": ["data"],
        "title": band,
        "proj:shape": list(shape),
        "proj:transform": list(tr)[:6],
        "raster:bands": [{"data_type": dtype, "nodata": nodata, "spatial_resolution": res}],
    }
    if band in _EO:
        name, wl = _EO[band]
        asset["eo:bands"] = [{"name": band, "common_name": name, "center_wavelength": wl}]
    return asset


def _base_item(
    item_id: str,
    collection: str,
    day: date,
    epsg: int,
    bounds: tuple[float, float, float, float],
    props: Mapping[str, Any],
) -> dict:
    geom = _footprint(bounds, epsg)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": collection,
        "geometry": mapping(geom),
        "bbox": list(geom.bounds),
        "properties": {
            "datetime": f"{day.isoformat()}T06:30:00Z",
            "proj:epsg": epsg,
            "proj:bbox": list(bounds),
            **props,
        },
        "links": [],
        "assets": {},
    }


def s2_item(
    item_id: str,
    day: date,
    epsg: int,
    bounds: tuple[float, float, float, float],
    hrefs: Mapping[str, str],
    size: int,
    cloud_cover: float,
    props: Mapping[str, Any],
) -> dict[str, Any]:
    """A Sentinel-2 L2A-like STAC item (eo/proj/raster extensions)."""
    item = _base_item(
        item_id,
        "sentinel-2-l2a",
        day,
        epsg,
        bounds,
        {
            "platform": "sentinel-2a",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": round(cloud_cover, 2),
            "s2:processing_baseline": "05.10",
            **props,
        },
    )
    item["stac_extensions"] = list(_EXT)
    x0, y1 = bounds[0], bounds[3]
    for band, href in hrefs.items():
        scl = band == "SCL"
        res = 20.0 if scl else 10.0
        n = size // 2 if scl else size
        item["assets"][band] = _asset(
            href,
            band,
            (n, n),
            Affine(res, 0, x0, 0, -res, y1),
            "uint8" if scl else "uint16",
            0,
            res,
        )
    return item


def s1_item(
    item_id: str,
    day: date,
    epsg: int,
    bounds: tuple[float, float, float, float],
    hrefs: Mapping[str, str],
    size: int,
    props: Mapping[str, Any],
) -> dict[str, Any]:
    """A Sentinel-1 RTC-like STAC item: ``vv``/``vh`` float32 dB assets."""
    item = _base_item(
        item_id,
        "sentinel-1-rtc",
        day,
        epsg,
        bounds,
        {
            "platform": "sentinel-1a",
            "constellation": "sentinel-1",
            "instruments": ["c-sar"],
            "sar:instrument_mode": "IW",
            "sar:polarizations": ["VV", "VH"],
            "sar:frequency_band": "C",
            "sar:product_type": "GRD",
            "sat:orbit_state": "ascending",
            **props,
        },
    )
    item["stac_extensions"] = [*_EXT, _SAR_EXT]
    tr = Affine(10.0, 0, bounds[0], 0, -10.0, bounds[3])
    for band, href in hrefs.items():
        item["assets"][band] = _asset(href, band, (size, size), tr, "float32", -32768.0, 10.0)
    return item


def write_geojson(path: Path, features: Sequence[Mapping[str, Any]]) -> None:
    """Write a GeoJSON FeatureCollection (EPSG:4326)."""
    doc = {"type": "FeatureCollection", "features": list(features)}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
