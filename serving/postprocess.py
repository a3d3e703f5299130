"""Probability raster → deduplicated detection polygons in EPSG:4326.

Connected components are labelled per chunk (4-connectivity), made globally unique by a
per-chunk offset, and merged across chunk borders through the equivalences found on the
touching rows/columns (a union-find over a sparse graph). Polygons come from each chunk
separately (``rasterio.features.shapes``) and pieces of one component are unioned, so memory
stays bounded by one chunk plus the vector output.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
import xarray as xr
from affine import Affine
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import shape

from cube.errors import InvalidInputError

__all__ = ["PostprocessConfig", "detections_frame", "label_components", "polygonize"]

COLUMNS = ["geometry", "score", "area_km2", "compactness", "model_version", "aoi", "evidence"]


@dataclass(frozen=True)
class PostprocessConfig:
    """Thresholds of the vectorisation."""

    threshold: float = 0.5
    min_area_km2: float = 0.0
    dedup_eps_m: float = 250.0
    #: Larger than any launch complex (Baikonur's largest pad areas are a few km²): such
    #: blobs are terrain the model misreads, not candidates.
    max_area_km2: float = 25.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise InvalidInputError(f"threshold {self.threshold} must lie in (0, 1)")
        if self.min_area_km2 < 0 or self.dedup_eps_m <= 0:
            raise InvalidInputError("min_area_km2 must be >= 0 and dedup_eps_m > 0")
        if self.max_area_km2 <= self.min_area_km2:
            raise InvalidInputError(
                f"max_area_km2 {self.max_area_km2} must exceed min_area_km2 {self.min_area_km2}"
            )


def _label_block(
    block: np.ndarray, nx: int, size: int, block_id: tuple[int, int] = (0, 0)
) -> np.ndarray:
    lab, _ = ndimage.label(block)
    offset = (block_id[0] * nx + block_id[1]) * size
    out: np.ndarray = np.where(lab > 0, lab.astype(np.int64) + offset, 0)
    return out


def _pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    keep = (a > 0) & (b > 0)
    return np.stack([a[keep], b[keep]], axis=1)


def label_components(mask: da.Array) -> da.Array:
    """Globally consistent connected-component labels (int64, 0 = background) of a 2-D mask.

    Computes only the border rows/columns of the per-chunk labels to find equivalences; the
    returned array stays lazy.
    """
    _ny, nx = mask.numblocks
    size = int(max(mask.chunks[0])) * int(max(mask.chunks[1])) + 1
    local = da.map_blocks(functools.partial(_label_block, nx=nx, size=size), mask, dtype=np.int64)
    ys, xs = np.cumsum(mask.chunks[0]), np.cumsum(mask.chunks[1])
    borders = [_pairs_lazy(local[y - 1], local[y]) for y in ys[:-1]]
    borders += [_pairs_lazy(local[:, x - 1], local[:, x]) for x in xs[:-1]]
    (pairs,) = dask.compute(borders) if borders else ([],)
    edges = np.concatenate(pairs) if pairs else np.empty((0, 2), np.int64)
    if not len(edges):
        return local
    keys, inv = np.unique(edges, return_inverse=True)
    inv = inv.reshape(-1, 2)
    graph = coo_matrix((np.ones(len(inv)), (inv[:, 0], inv[:, 1])), shape=(len(keys),) * 2)
    _, comp = connected_components(graph, directed=False)
    first = np.full(comp.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, comp, keys)
    target = first[comp]

    def relabel(block: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(keys, block), 0, len(keys) - 1)
        hit = keys[idx] == block
        out: np.ndarray = np.where(hit, target[idx], block)
        return out

    return local.map_blocks(relabel, dtype=np.int64)


def _pairs_lazy(a: da.Array, b: da.Array) -> Any:
    return dask.delayed(_pairs)(a, b)


def _block_polygons(
    labels: np.ndarray, prob: np.ndarray, transform: Affine
) -> list[tuple[int, Any, float, int]]:
    """(label, polygon, probability sum, pixel count) of every component piece in a chunk."""
    if not labels.any():
        return []
    uniq, inv = np.unique(labels, return_inverse=True)
    small = inv.reshape(labels.shape).astype(np.int32)
    sums = np.bincount(small.ravel(), weights=prob.ravel().astype(np.float64))
    counts = np.bincount(small.ravel())
    out: list[tuple[int, Any, float, int]] = []
    seen: set[int] = set()
    for geom, value in rasterio.features.shapes(small, mask=small > 0, transform=transform):
        k = int(value)
        first = k not in seen
        seen.add(k)
        out.append(
            (
                int(uniq[k]),
                shape(geom),
                float(sums[k]) if first else 0.0,
                int(counts[k]) if first else 0,
            )
        )
    return out


def polygonize(prob: xr.DataArray, config: PostprocessConfig | None = None) -> gpd.GeoDataFrame:
    """Vectorise a probability raster into scored, deduplicated polygons in EPSG:4326.

    Computes the (lazy) raster chunk by chunk; pass a probability read back from
    ``probability.zarr`` so inference does not run twice.

    Returns:
        GeoDataFrame with geometry, score (mean probability), area_km2 and compactness
        (Polsby-Popper 4πA/P², in [0, 1]), sorted by score.

    Raises:
        InvalidInputError: Raster without CRS or with wrong dims.
    """
    cfg = config or PostprocessConfig()
    if prob.dims != ("y", "x") or prob.rio.crs is None:
        raise InvalidInputError("probability must be a (y, x) raster with a CRS")
    data = prob.data if isinstance(prob.data, da.Array) else da.asarray(prob.data)
    labels = label_components(data >= cfg.threshold)
    base = prob.rio.transform()
    ys = np.concatenate([[0], np.cumsum(data.chunks[0])])
    xs = np.concatenate([[0], np.cumsum(data.chunks[1])])
    tasks = []
    for (i, j), lab in np.ndenumerate(labels.to_delayed()):
        t = base * Affine.translation(int(xs[j]), int(ys[i]))
        tasks.append(dask.delayed(_block_polygons)(lab, data.blocks[i, j], t))
    pieces = [p for block in dask.compute(*tasks) for p in block]
    empty = gpd.GeoDataFrame(
        {"score": [], "area_km2": [], "compactness": []}, geometry=[], crs="EPSG:4326"
    )
    if not pieces:
        return empty
    frame = pd.DataFrame(pieces, columns=["label", "geometry", "psum", "count"])
    grouped = frame.groupby("label").agg(
        geometry=("geometry", lambda g: shapely.union_all(list(g))),
        psum=("psum", "sum"),
        count=("count", "sum"),
    )
    gdf = gpd.GeoDataFrame(
        {"score": (grouped["psum"] / grouped["count"]).clip(0, 1).to_numpy()},
        geometry=gpd.GeoSeries(grouped["geometry"].to_numpy(), crs=prob.rio.crs),
    )
    gdf["geometry"] = gdf.geometry.buffer(0)
    gdf = gdf[gdf.geom_type == "Polygon"].reset_index(drop=True)  # drop degenerate unions
    metric = gdf.to_crs(gdf.estimate_utm_crs()) if not gdf.crs.is_projected else gdf
    area = metric.geometry.area
    gdf["area_km2"] = (area / 1e6).to_numpy()
    gdf["compactness"] = np.clip(4 * np.pi * area / metric.geometry.length**2, 0, 1).to_numpy()
    gdf = gdf[(gdf["area_km2"] >= cfg.min_area_km2) & (gdf["area_km2"] <= cfg.max_area_km2)]
    gdf = _dedup(gdf, metric.loc[gdf.index], cfg.dedup_eps_m)
    if gdf.empty:
        return empty
    return gdf.to_crs("EPSG:4326").sort_values("score", ascending=False).reset_index(drop=True)


def _dedup(gdf: gpd.GeoDataFrame, metric: gpd.GeoDataFrame, eps_m: float) -> gpd.GeoDataFrame:
    """DBSCAN (min_samples 1) on centroids in metres; keep the best-scoring polygon per cluster."""
    if len(gdf) < 2:
        return gdf
    from sklearn.cluster import DBSCAN

    c = metric.geometry.centroid
    labels = DBSCAN(eps=eps_m, min_samples=1).fit_predict(np.column_stack([c.x, c.y]))
    keep = gdf.assign(_cluster=labels).sort_values("score", ascending=False)
    out: gpd.GeoDataFrame = keep.drop_duplicates("_cluster").drop(columns="_cluster")
    return out


def detections_frame(
    polygons: gpd.GeoDataFrame, model_version: str, aoi: str, evidence: Mapping[str, Any]
) -> gpd.GeoDataFrame:
    """Give :func:`polygonize`'s output the detections contract columns.

    Adds ``model_version``, ``aoi`` and ``evidence`` (the provenance dict) to every row.
    """
    out = polygons.copy()
    out["model_version"] = model_version
    out["aoi"] = aoi
    out["evidence"] = [dict(evidence) for _ in range(len(out))]
    result: gpd.GeoDataFrame = out[COLUMNS]
    return result
