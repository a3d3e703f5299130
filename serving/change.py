"""Change layers between two monitoring epochs of one AOI (lazy).

For epochs N-1 → N on the same grid: the probability difference (``d_probability``, in
[-1, 1]: positive where the model now sees a launch site), and the spectral change of the
built-up and bare-soil indices (``d_ndbi``, ``d_bsi``, in [-2, 2]: positive where ground was
built on or cleared). :func:`change_stack` gives the ``("band", "y", "x")`` array written as
the ``change.tif`` COG so TiTiler can serve it next to the composite and probability.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from cube.errors import DataError, InvalidInputError

__all__ = ["CHANGE_BANDS", "change_layers", "change_stack"]

CHANGE_BANDS = ("d_probability", "d_ndbi", "d_bsi")


def _same_grid(a: xr.DataArray, b: xr.DataArray, what: str) -> None:
    if a.sizes["y"] != b.sizes["y"] or a.sizes["x"] != b.sizes["x"]:
        raise DataError(
            f"{what}: grids differ ({a.sizes['y']}x{a.sizes['x']} vs "
            f"{b.sizes['y']}x{b.sizes['x']} px); ingest both epochs over the same AOI"
        )
    for dim in ("y", "x"):
        if not np.allclose(a[dim].to_numpy(), b[dim].to_numpy()):
            raise DataError(f"{what}: {dim} coordinates differ between the epochs")


def change_layers(
    features_before: xr.DataArray,
    features_after: xr.DataArray,
    probability_before: xr.DataArray,
    probability_after: xr.DataArray,
) -> xr.Dataset:
    """Probability and index differences ``after - before`` (lazy, float32).

    Args:
        features_before: ``("band", "y", "x")`` features of epoch N-1 (bands incl. NDBI, BSI).
        features_after: Features of epoch N on the same grid.
        probability_before: ``("y", "x")`` probability of epoch N-1.
        probability_after: Probability of epoch N.

    Returns:
        Dataset with :data:`CHANGE_BANDS` as ``("y", "x")`` variables, with the CRS of
        ``features_after``; NaN where either epoch has no data.

    Raises:
        InvalidInputError: Missing NDBI/BSI bands or wrong dims.
        DataError: The epochs are on different grids.
    """
    for feats in (features_before, features_after):
        if tuple(feats.dims) != ("band", "y", "x"):
            raise InvalidInputError(f"features dims must be (band, y, x), got {feats.dims}")
        missing = {"NDBI", "BSI"} - {str(b) for b in feats["band"].values}
        if missing:
            raise InvalidInputError(f"features lack bands {sorted(missing)}")
    for prob in (probability_before, probability_after):
        if tuple(prob.dims) != ("y", "x"):
            raise InvalidInputError(f"probability dims must be (y, x), got {prob.dims}")
    _same_grid(features_before, features_after, "features")
    _same_grid(probability_before, features_after, "probability (before)")
    _same_grid(probability_after, features_after, "probability (after)")
    coords = {"y": features_after["y"], "x": features_after["x"]}

    def diff(after: xr.DataArray, before: xr.DataArray) -> xr.DataArray:
        a, b = (
            v.drop_vars(["band", "spatial_ref"], errors="ignore").assign_coords(coords)
            for v in (after, before)
        )
        return (a - b).astype(np.float32)

    ds = xr.Dataset(
        {
            "d_probability": diff(probability_after, probability_before),
            "d_ndbi": diff(features_after.sel(band="NDBI"), features_before.sel(band="NDBI")),
            "d_bsi": diff(features_after.sel(band="BSI"), features_before.sel(band="BSI")),
        }
    )
    crs = features_after.rio.crs
    return ds.rio.write_crs(crs) if crs is not None else ds


def change_stack(layers: xr.Dataset) -> xr.DataArray:
    """The change layers as one ``("band", "y", "x")`` array (band order :data:`CHANGE_BANDS`)."""
    stack = layers[list(CHANGE_BANDS)].to_dataarray("band").transpose("band", "y", "x")
    stack = stack.assign_coords(band=list(CHANGE_BANDS))
    crs = layers.rio.crs
    return stack.rio.write_crs(crs) if crs is not None else stack
