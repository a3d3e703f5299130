"""uint16 median/mean kernels against numpy, lazily over Dask blocks."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from cube.composite import composite, median_kernel
from cube.errors import InvalidInputError
from cube.mask import CLEAR_CLASSES, apply_mask, clear_mask


def _stack(t: int, seed: int = 0, cloud: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 10_000, (t, 3, 40, 40), dtype=np.uint16)
    data[rng.random(data.shape) < cloud] = 0
    data[:, :, :3, :3] = 0  # never clear
    return data


def _reference(data: np.ndarray) -> np.ndarray:
    ref = np.where(data == 0, np.nan, data.astype(np.float64))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        med = np.nanmedian(ref, axis=0)
    return np.nan_to_num(np.round(med)).astype(np.uint16)


@pytest.mark.parametrize("t", [1, 2, 5, 8, 31])
def test_median_equals_nanmedian(t: int):
    data = _stack(t, seed=t)
    np.testing.assert_array_equal(median_kernel(data), _reference(data))


def test_even_count_rounds_half_to_even():
    stack = np.zeros((2, 1, 1, 3), np.uint16)
    stack[:, 0, 0, 0] = (1, 2)  # 1.5 -> 2
    stack[:, 0, 0, 1] = (2, 3)  # 2.5 -> 2
    stack[:, 0, 0, 2] = (3, 6)  # 4.5 -> 4
    assert median_kernel(stack)[0, 0].tolist() == [2, 2, 4]


def _cube(data: np.ndarray) -> xr.DataArray:
    t = data.shape[0]
    return xr.DataArray(
        da.from_array(data, chunks=(1, 3, 16, 16)),
        dims=("time", "band", "y", "x"),
        coords={
            "time": np.arange(t).astype("datetime64[D]"),
            "band": ["B02", "B03", "B04"],
            "y": np.arange(40) * -10.0,
            "x": np.arange(40) * 10.0,
        },
    ).rio.write_crs("EPSG:32641")


def test_composite_is_lazy_blockwise_and_counts_clear_looks():
    data = _stack(7)
    ds = composite(_cube(data))
    assert isinstance(ds["composite"].data, da.Array)
    assert ds["composite"].data.chunks[1] == (16, 16, 8)  # spatial chunks kept
    np.testing.assert_array_equal(ds["composite"].values, _reference(data))
    np.testing.assert_array_equal(ds["clear_count"].values, (data[:, 0] != 0).sum(0))
    assert (ds["clear_count"].values[:3, :3] == 0).all()
    assert (ds["composite"].values[:, :3, :3] == 0).all()  # all-cloud → nodata
    assert ds.rio.crs.to_epsg() == 32641
    assert ds["composite"].dtype == np.uint16


def test_mean_composite():
    data = _stack(4)
    mean = composite(_cube(data), "mean")["composite"].values
    ref = np.where(data == 0, np.nan, data.astype(float))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nan_to_num(np.round(np.nanmean(ref, axis=0)))
    np.testing.assert_array_equal(mean, expected.astype(np.uint16))


def test_scl_mask_keeps_classes_4_to_7():
    scl = xr.DataArray(np.arange(12, dtype=np.uint8).reshape(1, 3, 4), dims=("time", "y", "x"))
    keep = clear_mask(scl).values.ravel()
    assert [i for i, k in enumerate(keep) if k] == list(CLEAR_CLASSES)
    data = xr.DataArray(np.full((1, 2, 3, 4), 500, np.uint16), dims=("time", "band", "y", "x"))
    masked = apply_mask(data, scl)
    assert masked.dtype == np.uint16
    assert (masked.values[0, :].reshape(2, -1)[:, list(CLEAR_CLASSES)] == 500).all()
    assert masked.values.sum() == 500 * 2 * len(CLEAR_CLASSES)


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="dims"):
        composite(_cube(_stack(2)).transpose("band", "time", "y", "x"))
    with pytest.raises(InvalidInputError, match="uint16"):
        composite(_cube(_stack(2)).astype(np.float32))
    with pytest.raises(InvalidInputError, match="method"):
        composite(_cube(_stack(2)), "mode")  # type: ignore[arg-type]
