"""AOIs that have stores under the store root, with their bounds and map layers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import fsspec
import rasterio
from rasterio.crs import CRS
from rio_tiler.io import Reader

from api.rasters import AOI_PATTERN, Layer, raster_url
from api.schemas import AoiInfo
from cube.store import StoreLocation, read_manifest

__all__ = ["list_aois"]

_LAYERS: tuple[Layer, ...] = ("composite", "probability", "change", "coverage")


def _bounds(
    manifest: Mapping[str, Any], urls: list[str], env: Mapping[str, Any]
) -> tuple[float, float, float, float] | None:
    """Bounds from the manifest (``bounds``/``bbox``), else from the first COG."""
    for key in ("bounds", "bbox"):
        value = manifest.get(key)
        if isinstance(value, list | tuple) and len(value) == 4:
            minx, miny, maxx, maxy = (float(v) for v in value)
            return (minx, miny, maxx, maxy)
    for url in urls:
        with rasterio.Env(**env), Reader(url) as src:
            minx, miny, maxx, maxy = src.get_geographic_bounds(CRS.from_epsg(4326))
            return (minx, miny, maxx, maxy)
    return None


def list_aois(
    store_root: str, storage_options: Mapping[str, Any], env: Mapping[str, Any]
) -> list[AoiInfo]:
    """Every ``{store_root}/{aoi}/`` that has a ``manifest.json``, sorted by name.

    Args:
        store_root: Root URL of the stores (local path or ``s3://bucket[/prefix]``).
        storage_options: fsspec options for the root.
        env: GDAL config used to read COG bounds.
    """
    fs, root = fsspec.core.url_to_fs(store_root, **dict(storage_options))
    if not fs.exists(root):
        return []
    aois: list[AoiInfo] = []
    for entry in sorted(fs.ls(root, detail=True), key=lambda e: str(e["name"])):
        name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "directory" or not re.match(AOI_PATTERN, name):
            continue
        loc = StoreLocation(store_root, name, storage_options)
        manifest = read_manifest(loc)
        if not manifest:
            continue
        layers = [layer for layer in _LAYERS if fs.exists(loc.url(f"{layer}.tif"))]
        urls = [raster_url(store_root, name, layer) for layer in layers]
        stages = manifest.get("stages")
        aois.append(
            AoiInfo(
                name=name,
                bounds=_bounds(manifest, urls, env),
                layers=layers,
                stages=dict(stages) if isinstance(stages, Mapping) else {},
            )
        )
    return aois
