"""Sentinel-2 L2A scene-classification (SCL) cloud mask."""

from __future__ import annotations

import xarray as xr

__all__ = ["CLEAR_CLASSES", "apply_mask", "clear_mask"]

#: SCL classes kept: 4 vegetation, 5 not vegetated, 6 water, 7 unclassified. Everything else
#: (0 no data, 1 saturated, 2 dark/shadow-like, 3 cloud shadow, 8-10 clouds/cirrus, 11 snow)
#: is masked.
CLEAR_CLASSES: tuple[int, ...] = (4, 5, 6, 7)


def clear_mask(scl: xr.DataArray) -> xr.DataArray:
    """Lazy boolean mask: True where SCL is one of :data:`CLEAR_CLASSES`."""
    return scl.isin(list(CLEAR_CLASSES)).rename("clear")


def apply_mask(data: xr.DataArray, scl: xr.DataArray) -> xr.DataArray:
    """Set masked observations to 0 (the nodata value), keeping uint16."""
    out = data.where(clear_mask(scl), 0).astype(data.dtype)
    out.attrs = dict(data.attrs)
    return out.rio.write_crs(data.rio.crs) if data.rio.crs is not None else out
