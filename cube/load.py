"""Lazy, chunked spectral cubes from STAC items (odc-stac by default, stackstac optional).

:func:`load_cube` returns a :class:`Cube`: the reflectance cube ``("time", "band", "y",
"x")`` uint16 (nodata 0) and the SCL layer ``("time", "y", "x")`` uint8 on ONE grid (the
AOI's UTM zone, or the items' own CRS when they share one; 10 m by default; 20 m bands and
SCL resampled, SCL by nearest neighbour). Nothing is read: every array is a Dask graph whose
chunks come from :func:`chunk_edge` (a memory budget per worker), one date per chunk while
loading. :func:`check_assets` opens the header of every asset first, so a corrupt or missing
COG is reported by name before any graph runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import pystac
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from pyproj import CRS

from cube.aoi import AOI
from cube.errors import DataError, InvalidInputError

__all__ = [
    "OPTICAL_BANDS",
    "SAR_BANDS",
    "Cube",
    "check_assets",
    "chunk_edge",
    "grid_crs",
    "load_cube",
    "load_sar",
]

OPTICAL_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")
#: Sentinel-1 RTC backscatter assets (float32; dB in the demo scenes, nodata -32768).
SAR_BANDS: tuple[str, ...] = ("vv", "vh")
Loader = Literal["odc", "stackstac"]


@dataclass(frozen=True)
class Cube:
    """A lazy spectral cube and its scene classification on the same grid."""

    data: xr.DataArray
    scl: xr.DataArray

    @property
    def n_tasks(self) -> int:
        """Tasks in both graphs (kept bounded by the chunk size)."""
        return len(self.data.data.__dask_graph__()) + len(self.scl.data.__dask_graph__())


def chunk_edge(
    memory_budget_mb: float,
    n_times: int,
    n_bands: int = len(OPTICAL_BANDS),
    multiple: int = 256,
    largest: int = 2048,
) -> int:
    """Spatial chunk edge (px) whose full time stack fits ``memory_budget_mb`` per worker.

    The composite holds every date of a chunk at once (uint16, plus the SCL byte and a working
    copy), about ``n_times * (2 * n_bands * 2 + 1)`` bytes per pixel.

    Raises:
        InvalidInputError: The budget cannot hold one ``multiple`` x ``multiple`` chunk.
    """
    per_px = max(n_times, 1) * (4 * n_bands + 1)
    edge = int(math.sqrt(memory_budget_mb * 2**20 / per_px)) // multiple * multiple
    if edge < multiple:
        raise InvalidInputError(
            f"memory budget {memory_budget_mb} MB is too small for {n_times} dates of "
            f"{multiple} px chunks; raise --memory-budget-mb"
        )
    return min(edge, largest)


def _epsg(item: pystac.Item) -> int | None:
    """``proj:epsg``, or the EPSG number of ``proj:code`` (projection extension v2)."""
    epsg = item.properties.get("proj:epsg")
    code = str(item.properties.get("proj:code") or "")
    if epsg is None and code.upper().startswith("EPSG:"):
        epsg = code.split(":", 1)[1]
    return int(epsg) if epsg is not None else None


def grid_crs(items: Sequence[pystac.Item], aoi: AOI) -> CRS:
    """The items' CRS when most share one (``proj:epsg``), else the AOI's UTM zone."""
    codes = Counter(_epsg(i) for i in items)
    code, n = codes.most_common(1)[0] if codes else (None, 0)
    if code is not None and n == len(items):
        return CRS.from_epsg(int(code))
    lon, lat = aoi.geometry.centroid.x, aoi.geometry.centroid.y
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _open_header(href: str) -> None:
    import rasterio

    with rasterio.open(href) as src:
        src.profile  # noqa: B018  (reading the header is the check)


def check_assets(items: Sequence[pystac.Item], bands: Sequence[str], workers: int = 16) -> None:
    """Open every asset's header in parallel.

    Raises:
        DataError: A band is missing from an item, or a file cannot be opened (named).
    """
    jobs: list[tuple[str, str, str]] = []
    for item in items:
        missing = [b for b in bands if b not in item.assets]
        if missing:
            raise DataError(f"scene {item.id} lacks bands {missing} (has {sorted(item.assets)})")
        jobs += [(item.id, b, item.assets[b].href) for b in bands]

    def probe(job: tuple[str, str, str]) -> str | None:
        try:
            _open_header(job[2])
        except Exception as exc:  # rasterio raises several types for bad files
            return f"scene {job[0]} band {job[1]}: cannot read {job[2].split('?', 1)[0]} ({exc})"
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(probe, jobs) if e]
    if errors:
        raise DataError(f"{len(errors)} unreadable asset(s); first: {errors[0]}")


def _odc(
    items: Sequence[pystac.Item], bands: list[str], aoi: AOI, crs: CRS, res: float, edge: int
) -> xr.Dataset:
    import odc.stac

    return odc.stac.load(
        items,
        bands=bands,
        geopolygon=aoi.geometry,
        crs=crs,
        resolution=res,
        chunks={"time": 1, "y": edge, "x": edge},
        groupby="solar_day",
        resampling={"SCL": "nearest", "*": "bilinear"},
        fail_on_error=True,
    )


def _stackstac(
    items: Sequence[pystac.Item], bands: list[str], aoi: AOI, crs: CRS, res: float, edge: int
) -> xr.Dataset:
    import numpy as np
    import stackstac
    from pyproj import Transformer
    from rasterio.enums import Resampling
    from shapely.ops import transform

    to_grid = Transformer.from_crs(4326, crs, always_xy=True).transform
    minx, miny, maxx, maxy = transform(to_grid, aoi.geometry).bounds
    bounds = (
        math.floor(minx / res) * res,
        math.floor(miny / res) * res,
        math.ceil(maxx / res) * res,
        math.ceil(maxy / res) * res,
    )
    stack = stackstac.stack(
        [i.to_dict() for i in items],
        assets=bands,
        epsg=crs.to_epsg(),
        resolution=res,
        bounds=bounds,
        chunksize=(1, 1, edge, edge),
        dtype=np.dtype("uint16"),
        fill_value=np.uint16(0),
        rescale=False,
        resampling=Resampling.nearest,
        xy_coords="center",
    )
    stack = stack.groupby("time").first() if stack.indexes["time"].has_duplicates else stack
    ds = stack.to_dataset("band")
    return ds.drop_vars([c for c in ds.coords if c not in ("time", "x", "y", "spatial_ref")])


def load_cube(
    items: Sequence[pystac.Item],
    aoi: AOI,
    bands: Sequence[str] = OPTICAL_BANDS,
    resolution: float = 10.0,
    memory_budget_mb: float = 1024.0,
    loader: Loader = "odc",
) -> Cube:
    """Build the lazy cube of ``items`` over ``aoi``.

    Args:
        items: Sentinel-2 L2A items (checked with :func:`check_assets` beforehand).
        aoi: Area of interest (geometry in EPSG:4326).
        bands: Reflectance assets, in output order.
        resolution: Pixel size in metres of the output grid.
        memory_budget_mb: Memory per worker; sets the spatial chunk edge.
        loader: ``odc`` (odc-stac) or ``stackstac``.

    Returns:
        The lazy :class:`Cube`.

    Raises:
        InvalidInputError: No items, an unknown loader or a non-positive resolution.
    """
    if not items:
        raise InvalidInputError(f"no scenes to load for AOI {aoi.name}")
    if resolution <= 0:
        raise InvalidInputError(f"resolution must be positive, got {resolution}")
    if loader not in ("odc", "stackstac"):
        raise InvalidInputError(f"unknown loader {loader!r}; use odc or stackstac")
    crs = grid_crs(items, aoi)
    edge = chunk_edge(memory_budget_mb, len(items), len(bands))
    load = _odc if loader == "odc" else _stackstac
    ds = load(items, [*bands, "SCL"], aoi, crs, resolution, edge)
    data = ds[list(bands)].to_array("band").transpose("time", "band", "y", "x")
    data = data.astype("uint16").rename("reflectance")
    data.attrs.update(scale=1e-4, nodata=0, loader=loader)
    scl = ds["SCL"].astype("uint8").rename("scl")
    data = data.rio.write_crs(crs).rio.write_nodata(0)
    scl = scl.rio.write_crs(crs)
    return Cube(data=data, scl=scl)


def load_sar(
    items: Sequence[pystac.Item],
    aoi: AOI,
    crs: CRS,
    resolution: float = 10.0,
    memory_budget_mb: float = 1024.0,
    nodata: float = -32768.0,
) -> xr.DataArray:
    """Lazy Sentinel-1 backscatter ("time", "band", "y", "x") float32 on the optical grid.

    Pass the CRS and resolution of the optical cube (:func:`grid_crs`) so both share one
    grid; missing pixels hold ``nodata``.

    Raises:
        InvalidInputError: No items.
    """
    import odc.stac

    if not items:
        raise InvalidInputError(f"no Sentinel-1 scenes to load for AOI {aoi.name}")
    edge = chunk_edge(memory_budget_mb, len(items), len(SAR_BANDS))
    ds = odc.stac.load(
        items,
        bands=list(SAR_BANDS),
        geopolygon=aoi.geometry,
        crs=crs,
        resolution=resolution,
        chunks={"time": 1, "y": edge, "x": edge},
        groupby="solar_day",
        resampling="bilinear",
        dtype="float32",
        nodata=nodata,
        fail_on_error=True,
    )
    data = ds[list(SAR_BANDS)].to_array("band").transpose("time", "band", "y", "x")
    data = data.rename("backscatter")
    data.attrs.update(nodata=nodata, bands=list(SAR_BANDS))
    return data.rio.write_crs(crs).rio.write_nodata(nodata)
