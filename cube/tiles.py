"""Training tiles cut from the features cube, their stratified split, and the tiles store.

:func:`make_tiles` cuts ``tile`` x ``tile`` windows with ``overlap`` pixels of overlap (the last
row/column of windows is aligned to the grid edge) and keeps every *positive* tile (at least one
label-1 pixel) plus at most ``negative_ratio`` negatives per positive (at least
``min_negatives``), drawn at random with ``seed``. Each stratum (positive / negative) is split
70/15/15 into train/val/test independently, so every split gets its share of positives.
:func:`write_tiles` stores the dataset as ``{aoi}/tiles.zarr`` through ``cube.store`` and lists
the tiles in the PostGIS ``tiles`` table; :func:`open_tiles` is what models read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dask
import dask.array as dsa
import numpy as np
import psycopg
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from pyproj import Transformer
from rasterio.transform import Affine
from shapely import affinity
from shapely.geometry import box
from shapely.ops import transform

from cube.errors import DataError, InvalidInputError, NotFoundError, ServiceUnavailableError

if TYPE_CHECKING:
    from cube.store import StoreLocation

__all__ = ["SPLITS", "make_tiles", "open_tiles", "tile_origins", "write_tiles"]

#: Split names and their shares.
SPLITS: tuple[tuple[str, float], ...] = (("train", 0.70), ("val", 0.15), ("test", 0.15))
_VARS = ("image", "label", "split", "row", "col")


def tile_origins(size: int, tile: int, overlap: int) -> list[int]:
    """Offsets of windows of ``tile`` px with ``overlap`` px overlap covering ``size`` px."""
    if size < tile:
        raise InvalidInputError(f"grid of {size} px is smaller than one {tile} px tile")
    stride = tile - overlap
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def _split(n: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled split names for ``n`` tiles of one stratum: 70 % train, 15 % val, rest test."""
    n_train = round(n * SPLITS[0][1])
    n_val = round(n * SPLITS[1][1])
    names = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val))
    return names[rng.permutation(n)]


def make_tiles(
    features: xr.DataArray,
    labels: xr.DataArray,
    tile: int = 256,
    overlap: int = 32,
    seed: int = 0,
    negative_ratio: float = 3.0,
    min_negatives: int = 8,
) -> xr.Dataset:
    """Cut tiles lazily and assign a stratified, deterministic 70/15/15 split.

    The one eager step is the per-tile count of label-1 pixels (a vector of n_tiles numbers,
    read from the labels graph only), needed to stratify and subsample; images and labels stay
    lazy dask slices of the inputs.

    Args:
        features: ("band", "y", "x") float32 features (rioxarray CRS + transform).
        labels: ("y", "x") weak labels on the same grid (see ``cube.labels``).
        tile: Tile size in pixels.
        overlap: Overlap between neighbouring tiles in pixels (< tile).
        seed: Seed of the negative subsample and of the split.
        negative_ratio: Negatives kept per positive tile.
        min_negatives: Negatives kept at least (all when fewer exist).

    Returns:
        Dataset in the tiles-Zarr layout (``image``, ``label``, ``split``, ``row``, ``col``,
        ``positive_fraction``) with attrs tile_size, overlap, bands, label_rule, crs, transform.

    Raises:
        InvalidInputError: Bad tile/overlap, grids that differ, or a grid smaller than a tile.
    """
    if not 0 <= overlap < tile:
        raise InvalidInputError(f"need 0 <= overlap ({overlap}) < tile ({tile})")
    if labels.shape != features.shape[1:] or labels.dims != ("y", "x"):
        raise InvalidInputError(
            f"labels {labels.dims}{labels.shape} do not match features grid {features.shape[1:]}"
        )
    rows = tile_origins(features.sizes["y"], tile, overlap)
    cols = tile_origins(features.sizes["x"], tile, overlap)
    origins = [(r, c) for r in rows for c in cols]
    lab = dsa.asarray(labels.data)
    img = dsa.asarray(features.data)
    counts = dsa.stack([(lab[r : r + tile, c : c + tile] == 1).sum() for r, c in origins])
    (pos_counts,) = dask.compute(counts)
    fraction = np.asarray(pos_counts, np.float64) / tile**2
    rng = np.random.default_rng(seed)
    positive = np.flatnonzero(fraction > 0)
    negative = np.flatnonzero(fraction == 0)
    n_neg = min(len(negative), max(int(negative_ratio * len(positive)), min_negatives))
    negative = np.sort(rng.choice(negative, n_neg, replace=False))
    keep = np.concatenate([positive, negative])
    split = np.concatenate([_split(len(positive), rng), _split(len(negative), rng)])
    order = np.argsort(keep, kind="stable")
    keep, split = keep[order], split[order]
    image = dsa.stack([img[:, r : r + tile, c : c + tile] for r, c in (origins[i] for i in keep)])
    label = dsa.stack([lab[r : r + tile, c : c + tile] for r, c in (origins[i] for i in keep)])
    crs = features.rio.crs
    ds = xr.Dataset(
        {
            "image": (
                ("tile", "band", "y", "x"),
                image.astype(np.float32).rechunk((1, -1, -1, -1)),
            ),
            "label": (("tile", "y", "x"), label.astype(np.float32).rechunk((1, -1, -1))),
            "split": (("tile",), split.astype(object)),  # vlen strings: a Zarr v3 dtype
            "row": (("tile",), np.array([origins[i][0] for i in keep], np.int32)),
            "col": (("tile",), np.array([origins[i][1] for i in keep], np.int32)),
            "positive_fraction": (("tile",), fraction[keep].astype(np.float32)),
        },
        coords={"band": np.array([str(b) for b in features["band"].values], dtype=object)},
        attrs={
            "tile_size": tile,
            "overlap": overlap,
            "bands": [str(b) for b in features["band"].values],
            "label_rule": str(labels.attrs.get("label_rule", "unspecified")),
            "crs": crs.to_string() if crs is not None else "",
            "transform": list(features.rio.transform())[:6],
            "seed": seed,
            "negative_ratio": negative_ratio,
        },
    )
    return ds


def _tile_bboxes(ds: xr.Dataset) -> list[str]:
    tr = Affine(*ds.attrs["transform"])
    to_wgs84 = Transformer.from_crs(ds.attrs["crs"], 4326, always_xy=True).transform
    size = int(ds.attrs["tile_size"])
    coeffs = (tr.a, tr.b, tr.d, tr.e, tr.xoff, tr.yoff)
    out = []
    for r, c in zip(ds["row"].values, ds["col"].values, strict=True):
        pix = box(float(c), float(r), float(c) + size, float(r) + size).segmentize(size / 4)
        out.append(transform(to_wgs84, affinity.affine_transform(pix, coeffs)).wkt)
    return out


_INSERT = """
INSERT INTO tiles (aoi, "row", col, bbox, split, positive_fraction, zarr_path)
VALUES (%s, %s, %s, ST_GeomFromText(%s, 4326), %s, %s, %s)
"""


def write_tiles(ds: xr.Dataset, loc: StoreLocation, dsn: str | None = None) -> str:
    """Store tiles as ``{aoi}/tiles.zarr`` (stage ``tiles``) and list them in PostGIS.

    The rows for ``loc.aoi`` are replaced in one transaction after the Zarr is complete.

    Args:
        ds: Dataset from :func:`make_tiles`.
        loc: Store location (root + AOI).
        dsn: PostgreSQL DSN; ``None`` skips the ``tiles`` table.

    Returns:
        URL of the tiles Zarr.

    Raises:
        InvalidInputError: ``ds`` lacks the tiles layout.
        ServiceUnavailableError: PostGIS cannot be reached (the Zarr is already complete).
    """
    missing = [v for v in (*_VARS, "positive_fraction") if v not in ds]
    if missing or not {"crs", "transform", "tile_size"} <= set(ds.attrs):
        raise InvalidInputError(f"not a tiles dataset for AOI {loc.aoi}: missing {missing}")
    from cube.store import write_dataset  # deferred: models import this module for open_tiles

    bboxes = _tile_bboxes(ds)
    write_dataset(ds, loc, "tiles.zarr", stage="tiles")
    url = loc.url("tiles.zarr")
    if dsn is None:
        return url
    params = [
        (loc.aoi, int(r), int(c), wkt, str(s), float(f), url)
        for r, c, wkt, s, f in zip(
            ds["row"].values,
            ds["col"].values,
            bboxes,
            ds["split"].values,
            ds["positive_fraction"].values,
            strict=True,
        )
    ]
    try:
        conn = psycopg.connect(dsn)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailableError(f"cannot connect to PostGIS for tiles: {exc}") from exc
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM tiles WHERE aoi = %s", (loc.aoi,))
        cur.executemany(_INSERT, params)
    return url


def open_tiles(url: str, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Open a tiles Zarr lazily (the only cube function models import).

    Args:
        url: ``{root}/{aoi}/tiles.zarr`` (local path or ``s3://``).
        storage_options: fsspec options (S3 endpoint, credentials).

    Returns:
        The tiles dataset (dask-backed).

    Raises:
        NotFoundError: Nothing at ``url``.
        DataError: The store lacks the tiles variables.
    """
    try:
        ds = xr.open_zarr(url, storage_options=dict(storage_options or {}) or None)
    except (FileNotFoundError, KeyError) as exc:
        raise NotFoundError(f"no tiles Zarr at {url}: {exc}") from exc
    missing = [v for v in _VARS if v not in ds]
    if missing:
        raise DataError(f"tiles Zarr {url} lacks variables {missing}")
    return ds
