"""AOI raster locations (composite / probability COGs), GDAL S3 environment, thumbnails."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.session import AWSSession
from rio_tiler.io import Reader

from cube.errors import InvalidInputError, NotFoundError

__all__ = [
    "AOI_PATTERN",
    "COMPOSITE_BANDS",
    "Layer",
    "gdal_env",
    "raster_url",
    "thumbnail_png",
]

Layer = Literal["composite", "probability", "change", "coverage"]
#: Band order of ``composite.tif`` (uint16, scale 1e-4, nodata 0).
COMPOSITE_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
#: AOI names are store folder names: no slashes, dots first or URL tricks.
AOI_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_AOI_RE = re.compile(AOI_PATTERN)
#: False colour (SWIR2, NIR, red) as 1-based band indexes of ``composite.tif``.
FALSE_COLOUR = tuple(COMPOSITE_BANDS.index(b) + 1 for b in ("B12", "B08", "B04"))
WGS84 = CRS.from_epsg(4326)
WEB_MERCATOR = CRS.from_epsg(3857)
#: Reflectance x 1e4 mapped to 0-255 in thumbnails.
REFLECTANCE_RANGE = (0.0, 4000.0)


def raster_url(store_root: str, aoi: str, layer: Layer) -> str:
    """URL of an AOI's COG: ``{store_root}/{aoi}/{layer}.tif``.

    Raises:
        InvalidInputError: AOI name that cannot be a store folder.
    """
    if not _AOI_RE.match(aoi):
        raise InvalidInputError(f"AOI name {aoi!r} is not a valid store name")
    return f"{store_root.rstrip('/')}/{aoi}/{layer}.tif"


def gdal_env(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """``rasterio.Env`` keyword arguments so ``s3://`` URLs read from the configured endpoint.

    GDAL gets ``AWS_S3_ENDPOINT`` (host:port), ``AWS_HTTPS`` and ``AWS_VIRTUAL_HOSTING=FALSE``
    (path-style, as MinIO and moto want); the credentials travel in a rasterio
    ``AWSSession`` (rasterio refuses them as plain config options).
    """
    env: dict[str, Any] = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
    }
    client_kwargs = storage_options.get("client_kwargs") or {}
    endpoint = storage_options.get("endpoint_url") or client_kwargs.get("endpoint_url")
    netloc = None
    if endpoint:
        parts = urlsplit(str(endpoint))
        netloc = parts.netloc
        env["AWS_S3_ENDPOINT"] = netloc
        env["AWS_HTTPS"] = "YES" if parts.scheme == "https" else "NO"
        env["AWS_VIRTUAL_HOSTING"] = "FALSE"
    if storage_options.get("key"):
        env["session"] = AWSSession(
            aws_access_key_id=str(storage_options["key"]),
            aws_secret_access_key=str(storage_options.get("secret", "")),
            endpoint_url=netloc,
        )
    return env


def _padded_bounds(
    bounds: tuple[float, float, float, float], pad_fraction: float = 0.5, min_deg: float = 0.005
) -> tuple[float, float, float, float]:
    """An EPSG:4326 window around ``bounds``, square on the ground, with a margin of context."""
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_h = max((maxy - miny) * (1 + pad_fraction) / 2, min_deg)
    coslat = max(math.cos(math.radians(cy)), 0.1)
    half_w = max((maxx - minx) * (1 + pad_fraction) / 2, half_h / coslat)
    half_h = max(half_h, half_w * coslat)
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def thumbnail_png(
    url: str,
    bounds: tuple[float, float, float, float],
    size: int,
    env: Mapping[str, Any],
) -> bytes:
    """Square false-colour (B12/B08/B04) PNG of the composite around ``bounds`` (EPSG:4326).

    Args:
        url: ``composite.tif`` URL (local path or ``s3://``).
        bounds: Detection bounds, minx, miny, maxx, maxy in degrees.
        size: Side of the (Web Mercator) PNG in pixels.
        env: GDAL config (see :func:`gdal_env`).

    Raises:
        NotFoundError: No composite at ``url`` or the window lies outside it.
    """
    window = _padded_bounds(bounds)
    try:
        with rasterio.Env(**env), Reader(url) as src:
            minx, miny, maxx, maxy = src.get_geographic_bounds(WGS84)
            if window[0] >= maxx or window[2] <= minx or window[1] >= maxy or window[3] <= miny:
                raise NotFoundError(f"detection window {window} lies outside {url}")
            img = src.part(
                window,
                dst_crs=WEB_MERCATOR,
                bounds_crs=WGS84,
                indexes=FALSE_COLOUR,
                width=size,
                height=size,
                resampling_method="bilinear",
            )
    except RasterioIOError as exc:
        raise NotFoundError(f"no composite COG at {url}: {exc}") from exc
    img = img.rescale(in_range=(REFLECTANCE_RANGE,) * len(FALSE_COLOUR))
    return img.render(img_format="PNG")
