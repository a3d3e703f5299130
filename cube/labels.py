"""Weak labels from known-site points on the features grid.

Rule (``LABEL_RULE``), per pixel at distance ``d`` from the nearest site point:

* ``1.0``: ``d <= core_radius_m`` **and** the pixel looks built, i.e. it is not vegetation
  (``NDVI < ndvi_max``, default 0.3) and it stands out from its natural surroundings: NDBI, BSI
  or visible brightness (mean of the stretched B02, B03, B04) differs from its mean over a
  ``context_m`` window (default 1 km) by more than ``contrast_min`` (default 0.08). Absolute
  NDBI/BSI thresholds would mark all arid ground (SWIR > NIR) as built; the contrast keeps
  concrete, asphalt, tanks, roofs and cleared ground of the complex and drops the plain
  desert or steppe inside the core circle;
* ``0.5``: the rest of the ``buffer_radius_m`` buffer (vegetation or water in the core, and
  everything between core and buffer edge): ambiguous, the trainer ignores or down-weights it;
* ``0.0``: outside every buffer.

The built/bare test keeps the model from learning circles: inside the core only the surfaces a
launch complex is made of are positive. Distances are Euclidean in the features' projected CRS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dask.array as dsa
import geopandas as gpd
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from pyproj import Transformer
from scipy.ndimage import binary_opening, uniform_filter
from shapely.geometry import Point

from cube.errors import InvalidInputError
from cube.known_sites import KnownSite

__all__ = ["LABEL_RULE", "site_points", "weak_labels"]

LABEL_RULE = (
    "1 if dist<=core_radius_m and open3x3(NDVI<ndvi_max and max(|NDBI-mean_ctx|, "
    "|BSI-mean_ctx|, |VIS-mean_ctx|)>contrast_min); 0.5 if dist<=buffer_radius_m otherwise; "
    "0 outside"
)


def site_points(sites: gpd.GeoDataFrame | Iterable[KnownSite | Point]) -> list[Point]:
    """Site points in EPSG:4326.

    Accepts a GeoDataFrame (points, or buffers with a ``point`` column such as
    ``cube.known_sites.buffer_sites`` returns), :class:`KnownSite` objects or shapely points.
    """
    if isinstance(sites, gpd.GeoDataFrame):
        frame = sites.to_crs(4326) if sites.crs is not None else sites
        if "point" in frame.columns:
            return [Point(p) for p in frame["point"]]
        return [g if isinstance(g, Point) else g.centroid for g in frame.geometry]
    return [s.point if isinstance(s, KnownSite) else s for s in sites]


def _nan_uniform_mean(block: np.ndarray, size: int) -> np.ndarray:
    """Mean over a ``size`` square ignoring NaN (a running-sum filter would smear NaN)."""
    valid = np.isfinite(block)
    total = uniform_filter(np.where(valid, block, 0.0).astype(np.float64), size, mode="nearest")
    count = uniform_filter(valid.astype(np.float64), size, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)


def _open_block(block: np.ndarray) -> np.ndarray:
    return binary_opening(block, structure=np.ones((3, 3), bool))


def _open(mask: xr.DataArray) -> xr.DataArray:
    """Lazy 3x3 morphological opening: drops isolated pixels and one-pixel lines."""
    data = dsa.asarray(mask.data)
    opened = data.map_overlap(_open_block, depth=2, boundary="none", dtype=bool)
    return mask.copy(data=opened)


def _context_mean(layer: xr.DataArray, window: int) -> xr.DataArray:
    """Lazy NaN-aware mean over a ``window`` square (edges repeat), same chunks as ``layer``."""
    data = dsa.asarray(layer.data)
    mean = data.map_overlap(
        _nan_uniform_mean,
        depth=window // 2,
        boundary="nearest",
        allow_rechunk=True,  # chunks thinner than the window (a grid's last row) get merged
        size=window,
        dtype=np.float32,
    )
    return layer.copy(data=mean)


def weak_labels(
    features: xr.DataArray,
    sites: gpd.GeoDataFrame | Iterable[KnownSite | Point],
    core_radius_m: float = 800.0,
    buffer_radius_m: float = 2000.0,
    contrast_min: float = 0.08,
    ndvi_max: float = 0.3,
    context_m: float = 3000.0,
) -> xr.DataArray:
    """Lazy weak-label mask {0, 0.5, 1} on the features grid (see the module rule).

    Args:
        features: ("band", "y", "x") features with bands NDVI, NDBI, BSI, a projected CRS
            (rioxarray) and pixel-centre x/y coordinates.
        sites: Known-site points in EPSG:4326 (GeoDataFrame, KnownSite or shapely points).
        core_radius_m: Radius of the pad core in metres.
        buffer_radius_m: Radius of the ambiguous buffer in metres (>= core).
        contrast_min: Difference from the context mean (in index / stretched units) above
            which a pixel stands out as built.
        ndvi_max: NDVI at or above which a pixel is vegetation (never positive).
        context_m: Side of the square window of the context mean, in metres.

    Returns:
        ("y", "x") float32 DataArray, chunked like ``features``, CRS and transform kept, the
        rule and its parameters in ``attrs``.

    Raises:
        InvalidInputError: Radii out of order, missing bands, or no projected CRS.
    """
    if not 0 < core_radius_m <= buffer_radius_m:
        raise InvalidInputError(
            f"need 0 < core_radius_m ({core_radius_m}) <= buffer_radius_m ({buffer_radius_m})"
        )
    missing = {"B02", "B03", "B04", "NDVI", "NDBI", "BSI"} - {
        str(b) for b in features["band"].values
    }
    if missing:
        raise InvalidInputError(f"features lack bands {sorted(missing)} needed for labels")
    crs = features.rio.crs
    if crs is None or not crs.is_projected:
        raise InvalidInputError(f"features need a projected (metric) CRS for labels, got {crs}")
    to_grid = Transformer.from_crs(4326, crs, always_xy=True)
    xy = [to_grid.transform(p.x, p.y) for p in site_points(sites)]
    x = features["x"]
    y = features["y"]
    minx, maxx = float(x.values.min()), float(x.values.max())
    miny, maxy = float(y.values.min()), float(y.values.max())
    chunks: Any = features.chunksizes
    if chunks:  # index coordinates cannot be chunked: wrap their values as dask arrays, so
        # the distance grid is built per chunk instead of embedded whole in the graph
        x = xr.DataArray(dsa.from_array(x.values, chunks=(chunks["x"],)), dims="x", coords=x.coords)
        y = xr.DataArray(dsa.from_array(y.values, chunks=(chunks["y"],)), dims="y", coords=y.coords)
    near = [
        (sx, sy)
        for sx, sy in xy
        if minx - buffer_radius_m <= sx <= maxx + buffer_radius_m
        and miny - buffer_radius_m <= sy <= maxy + buffer_radius_m
    ]
    if near:
        dist2 = xr.concat([(x - sx) ** 2 + (y - sy) ** 2 for sx, sy in near], "site").min("site")
    else:
        dist2 = xr.zeros_like(y) + xr.zeros_like(x) + np.inf
    dist2 = dist2.transpose("y", "x")
    window = max(3, round(context_m / abs(features.rio.resolution()[0])) | 1)
    ndvi = features.sel(band="NDVI", drop=True)
    vis = features.sel(band=["B02", "B03", "B04"]).mean("band")
    stands_out = xr.zeros_like(ndvi, dtype=bool)
    for layer in (features.sel(band="NDBI", drop=True), features.sel(band="BSI", drop=True), vis):
        stands_out = stands_out | (abs(layer - _context_mean(layer, window)) > contrast_min)
    built = _open(stands_out & (ndvi < ndvi_max))
    core = dist2 <= core_radius_m**2
    ring = dist2 <= buffer_radius_m**2
    label = xr.where(core & built, np.float32(1.0), xr.where(ring, np.float32(0.5), np.float32(0)))
    label = label.astype(np.float32).rename("label")
    if isinstance(label.data, dsa.Array) and chunks:
        label = label.chunk({"y": chunks["y"], "x": chunks["x"]})
    label.attrs = {
        "label_rule": LABEL_RULE,
        "core_radius_m": core_radius_m,
        "buffer_radius_m": buffer_radius_m,
        "contrast_min": contrast_min,
        "ndvi_max": ndvi_max,
        "context_m": context_m,
    }
    return label.rio.write_crs(crs).rio.write_transform(features.rio.transform())
