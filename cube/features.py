"""Ten feature channels from a uint16 composite: stretched reflectance + four indices.

Stretch: each band is mapped linearly from its 2nd..98th percentile to [0, 1] and clipped.
The percentiles are exact over the whole AOI composite: :func:`band_histograms` sums one
65,536-bin histogram per band over every chunk (a Dask reduction of a few MB, nodata 0
excluded) and :func:`percentiles_from_histograms` reads the percentiles off the cumulative
counts. They are stored in the features' attributes (``stretch_low``/``stretch_high``) so
new data can be stretched the same way (:func:`stored_percentiles` reads them back for
:func:`make_features`).

Indices (from reflectance, scale 1e-4; nodata → NaN):
NDVI = (B08 − B04)/(B08 + B04), NDWI = (B03 − B08)/(B03 + B08),
NDBI = (B11 − B08)/(B11 + B08), BSI = ((B11 + B04) − (B08 + B02))/((B11 + B04) + (B08 + B02)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from cube.errors import InvalidInputError

__all__ = [
    "FEATURE_BANDS",
    "band_histograms",
    "make_features",
    "percentiles_from_histograms",
    "stored_percentiles",
]

FEATURE_BANDS: tuple[str, ...] = (
    "B02",
    "B03",
    "B04",
    "B08",
    "B11",
    "B12",
    "NDVI",
    "NDWI",
    "NDBI",
    "BSI",
)
_REFLECTANCE = FEATURE_BANDS[:6]
_BINS = 65536


def _check(comp: xr.DataArray) -> None:
    if comp.dims != ("band", "y", "x") or comp.dtype != np.uint16:
        raise InvalidInputError(
            f"composite must be (band, y, x) uint16, got {comp.dims} {comp.dtype}"
        )
    missing = [b for b in _REFLECTANCE if b not in set(map(str, comp["band"].values))]
    if missing:
        raise InvalidInputError(f"composite lacks bands {missing} needed for the features")


def _block_hist(block: np.ndarray) -> np.ndarray:
    out = np.zeros((block.shape[0], 1, 1, _BINS), np.int64)
    for k in range(block.shape[0]):
        out[k, 0, 0] = np.bincount(block[k].ravel(), minlength=_BINS)
    out[:, 0, 0, 0] = 0  # nodata
    return out


def band_histograms(comp: xr.DataArray) -> da.Array:
    """Lazy (bands, 65536) int64 histograms of the composite's values (0 excluded)."""
    _check(comp)
    arr = comp.data if isinstance(comp.data, da.Array) else da.asarray(comp.data)
    arr = arr.rechunk({0: -1})
    blocks = da.map_blocks(
        _block_hist,
        arr,
        new_axis=3,
        chunks=((arr.shape[0],), (1,) * arr.numblocks[1], (1,) * arr.numblocks[2], (_BINS,)),
        dtype=np.int64,
    )
    return blocks.sum(axis=(1, 2))


def percentiles_from_histograms(
    hist: np.ndarray, low: float = 2.0, high: float = 98.0
) -> np.ndarray:
    """(bands, 2) uint16 low/high percentiles from (bands, 65536) histograms.

    The q-th percentile is the smallest value whose cumulative count reaches q % of the valid
    pixels (``numpy.percentile(..., method="inverted_cdf")``). A band without valid pixels
    gets (0, 1).

    Raises:
        InvalidInputError: ``low``/``high`` outside 0 <= low < high <= 100.
    """
    if not 0.0 <= low < high <= 100.0:
        raise InvalidInputError(f"need 0 <= low ({low}) < high ({high}) <= 100")
    out = np.zeros((hist.shape[0], 2), np.uint16)
    for k, h in enumerate(np.asarray(hist)):
        cdf = np.cumsum(h)
        total = cdf[-1]
        if total == 0:
            out[k] = (0, 1)
            continue
        for j, q in enumerate((low, high)):
            out[k, j] = np.searchsorted(cdf, max(q / 100.0 * total, 1), side="left")
    return out


def stored_percentiles(attrs: Mapping[str, Any]) -> np.ndarray:
    """The (6, 2) stretch values kept in a features array's attrs, to reuse on new data.

    ``make_features(new_composite, stored_percentiles(features.attrs))`` stretches new data
    exactly like the training AOI.

    Raises:
        InvalidInputError: The attrs carry no (or malformed) ``stretch_low``/``stretch_high``.
    """
    try:
        pct = np.column_stack([attrs["stretch_low"], attrs["stretch_high"]]).astype(np.float64)
    except (KeyError, ValueError) as exc:
        raise InvalidInputError(f"features attrs carry no stretch percentiles: {exc}") from exc
    if pct.shape != (len(_REFLECTANCE), 2):
        raise InvalidInputError(f"need 6 stretch percentile pairs, got {pct.tolist()}")
    return pct


def _ratio(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    den = a + b
    return xr.where(den != 0, (a - b) / den, np.nan)


def make_features(
    comp: xr.DataArray, percentiles: np.ndarray | Sequence[Sequence[float]]
) -> xr.DataArray:
    """Lazy ("band", "y", "x") float32 features (order :data:`FEATURE_BANDS`).

    Args:
        comp: ("band", "y", "x") uint16 composite with the six reflectance bands.
        percentiles: (6, 2) low/high stretch values per reflectance band, in band order.

    Returns:
        Features with band coordinates, CRS/transform of the composite and the stretch
        values in ``attrs``; NaN where the composite has no data.

    Raises:
        InvalidInputError: Wrong composite layout or percentile shape.
    """
    _check(comp)
    pct = np.asarray(percentiles, dtype=np.float64)
    if pct.shape != (len(_REFLECTANCE), 2) or np.any(pct[:, 1] < pct[:, 0]):
        raise InvalidInputError(f"need (6, 2) low <= high percentiles, got {pct.tolist()}")
    refl = comp.sel(band=list(_REFLECTANCE)).astype(np.float32)
    valid = (refl != 0).all("band")
    refl = refl.where(valid) * np.float32(1e-4)
    lo = xr.DataArray(pct[:, 0] * 1e-4, dims="band", coords={"band": list(_REFLECTANCE)})
    span = xr.DataArray(
        np.maximum(pct[:, 1] - pct[:, 0], 1.0) * 1e-4,
        dims="band",
        coords={"band": list(_REFLECTANCE)},
    )
    stretched = ((refl - lo) / span).clip(0.0, 1.0)
    b = {name: refl.sel(band=name, drop=True) for name in _REFLECTANCE}
    indices = [
        _ratio(b["B08"], b["B04"]),
        _ratio(b["B03"], b["B08"]),
        _ratio(b["B11"], b["B08"]),
        _ratio(b["B11"] + b["B04"], b["B08"] + b["B02"]),
    ]
    idx = xr.concat(indices, dim="band").assign_coords(band=list(FEATURE_BANDS[6:]))
    feats = xr.concat([stretched, idx.where(valid)], dim="band").astype(np.float32)
    feats = feats.transpose("band", "y", "x").rename("features")
    if feats.chunks is not None:
        feats = feats.chunk({"band": -1})
    feats.attrs = {
        "bands": list(FEATURE_BANDS),
        "stretch_low": pct[:, 0].tolist(),
        "stretch_high": pct[:, 1].tolist(),
        "stretch_percentiles": [2, 98],
    }
    if comp.rio.crs is not None:
        feats = feats.rio.write_crs(comp.rio.crs)
    return feats
