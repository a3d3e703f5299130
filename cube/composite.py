"""Per-pixel temporal composite on uint16 with a numba selection kernel (no float stack).

The median is taken over the valid (non-zero) observations of each pixel and band:

* odd count ``n``: the middle value — exactly ``numpy.nanmedian``;
* even count: the mean of the two middle values rounded half to even — exactly
  ``numpy.round(numpy.nanmedian(...))`` (the rule for uint16 output);
* no valid observation: 0 (nodata), counted in ``clear_count == 0``.

The kernel gathers each image row's valid values date by date (contiguous reads) and sorts
each pixel's few values in place (``T`` is tens of dates). It needs no float copy of the
stack; ``benchmarks/composite_benchmark.py`` measures speed and memory against
``numpy.nanmedian`` on a float copy.
Dask runs the kernel per spatial block with the whole time axis in one chunk.
"""

from __future__ import annotations

from typing import Literal

import dask.array as da
import numba
import numpy as np
import xarray as xr

from cube.errors import InvalidInputError

__all__ = ["composite", "mean_kernel", "median_kernel"]

Method = Literal["median", "mean"]


@numba.njit(nogil=True, cache=True, inline="always")
def _sort_small(vals: np.ndarray, n: int) -> None:  # pragma: no cover - compiled
    """In-place insertion sort of ``vals[:n]`` (n is the number of dates: tens)."""
    for a in range(1, n):
        x = vals[a]
        c = a - 1
        while c >= 0 and vals[c] > x:
            vals[c + 1] = vals[c]
            c -= 1
        vals[c + 1] = x


@numba.njit(nogil=True, cache=True)
def median_kernel(stack: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Median over axis 0 of a (T, B, Y, X) uint16 stack ignoring zeros → (B, Y, X) uint16.

    Works one image row at a time: the row's valid values are gathered date by date
    (contiguous reads) into a (X, T) buffer, then each pixel's few values are sorted in place.
    """
    t, b, h, w = stack.shape
    out = np.zeros((b, h, w), np.uint16)
    row = np.empty((w, t), np.uint16)
    count = np.empty(w, np.int64)
    for k in range(b):
        for i in range(h):
            count[:] = 0
            for s in range(t):
                for j in range(w):
                    v = stack[s, k, i, j]
                    if v != 0:
                        row[j, count[j]] = v
                        count[j] += 1
            for j in range(w):
                n = count[j]
                if n == 0:
                    continue
                vals = row[j]
                _sort_small(vals, n)
                m = n // 2
                if n % 2 == 1:
                    out[k, i, j] = vals[m]
                else:
                    total = np.int64(vals[m - 1]) + np.int64(vals[m])
                    q = total // 2
                    if total % 2 == 1 and q % 2 == 1:  # exact .5: round half to even
                        q += 1
                    out[k, i, j] = q
    return out


@numba.njit(nogil=True, cache=True)
def mean_kernel(stack: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Mean over axis 0 ignoring zeros, rounded half to even → (B, Y, X) uint16."""
    t, b, h, w = stack.shape
    out = np.zeros((b, h, w), np.uint16)
    for k in range(b):
        for i in range(h):
            for j in range(w):
                total = 0.0
                n = 0
                for s in range(t):
                    v = stack[s, k, i, j]
                    if v != 0:
                        total += v
                        n += 1
                if n:
                    out[k, i, j] = np.uint16(np.round(total / n))
    return out


def composite(data: xr.DataArray, method: Method = "median") -> xr.Dataset:
    """Lazy composite of a masked ("time", "band", "y", "x") uint16 cube.

    Args:
        data: Masked reflectance (0 = nodata/cloud), Dask-backed or not.
        method: ``median`` (default) or ``mean``.

    Returns:
        Dataset with ``composite`` ("band", "y", "x") uint16 and ``clear_count`` ("y", "x")
        uint16 (valid observations of the first band), CRS kept.

    Raises:
        InvalidInputError: Wrong dims/dtype or an unknown method.
    """
    if data.dims != ("time", "band", "y", "x"):
        raise InvalidInputError(f"cube must have dims (time, band, y, x), got {data.dims}")
    if data.dtype != np.uint16:
        raise InvalidInputError(f"composite works on uint16 reflectance, got {data.dtype}")
    if method not in ("median", "mean"):
        raise InvalidInputError(f"unknown composite method {method!r}; use median or mean")
    kernel = median_kernel if method == "median" else mean_kernel
    arr = data.data if isinstance(data.data, da.Array) else da.asarray(data.data)
    arr = arr.rechunk({0: -1, 1: -1})
    comp = da.map_blocks(kernel, arr, drop_axis=0, dtype=np.uint16)
    count = (arr[:, 0] != 0).sum(axis=0, dtype=np.uint16)
    coords = {k: v for k, v in data.coords.items() if k != "time" and "time" not in v.dims}
    ds = xr.Dataset(
        {
            "composite": (("band", "y", "x"), comp),
            "clear_count": (("y", "x"), count),
        },
        coords=coords,
    )
    ds["composite"].attrs.update(scale=1e-4, nodata=0, method=method)
    ds["clear_count"].attrs.update(description="valid (clear, non-nodata) observations")
    ds.attrs.update(method=method, dates=[str(t)[:10] for t in data["time"].values])
    if data.rio.crs is not None:
        ds = ds.rio.write_crs(data.rio.crs)
    return ds
