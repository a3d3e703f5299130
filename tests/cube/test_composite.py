"""uint16 median/mean kernels against numpy, lazily over Dask blocks."""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cube.composite import composite, median_kernel
from cube.errors import InvalidInputError
from cube.mask import CLEAR_CLASSES, apply_mask, clear_mask


def _stack(t: int, seed: int = 0, cloud: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 10_000, (t, 3, 40, 40), dtype=np.uint16)
    data[rng.random(data.shape) < cloud] = 0
    data[:, :, :3, :3] = 0  # never clear
    return data


def _reference(data: np.ndarray, warn: bool = True) -> np.ndarray:
    """``numpy.nanmedian`` of the non-zero values, rounded half to even (0 where none)."""
    ref = np.where(data == 0, np.nan, data.astype(np.float64))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        med = np.nanmedian(ref, axis=0)
    return np.nan_to_num(np.round(med)).astype(np.uint16)


@pytest.mark.parametrize("t", [1, 2, 5, 8, 31])
def test_median_equals_nanmedian(t: int):
    data = _stack(t, seed=t)
    np.testing.assert_array_equal(median_kernel(data), _reference(data))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.uint16,
        hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=9),
        elements=st.integers(0, 65535),
    ),
    st.floats(0.0, 1.0),
)
def test_median_property_random_stacks_and_masks(stack: np.ndarray, cloud: float):
    rng = np.random.default_rng(stack.size)
    stack = stack.copy()
    stack[rng.random(stack.shape) < cloud] = 0
    np.testing.assert_array_equal(median_kernel(stack), _reference(stack, warn=False))


@pytest.mark.parametrize("dates", [36, 6])
def test_real_slovenia_scl_series(realdata: Path, dates: int):
    """Real L2A SCL layers mask a stack built from the real L1C reference scenes."""
    src = realdata / "eolearn_reference_scenes_slovenia"
    scl = np.load(src / "SCL.npy")[:dates, ..., 0].astype(np.uint8)  # (T, 101, 100)
    scenes = np.load(src / "REFERENCE_SCENES.npy")[..., [1, 2, 3, 7, 11, 12]]  # B02..B12
    refl = np.stack([scenes[k % len(scenes)] for k in range(dates)])  # (T, 101, 100, 6)
    refl = (refl * 10_000 + 1 + np.arange(dates)[:, None, None, None] * 7).astype(np.uint16)
    cube = xr.DataArray(
        da.from_array(refl.transpose(0, 3, 1, 2), chunks=(1, 6, 64, 64)),
        dims=("time", "band", "y", "x"),
    )
    masked = apply_mask(cube, xr.DataArray(scl, dims=("time", "y", "x")))
    ds = composite(masked)
    np.testing.assert_array_equal(ds["composite"].values, _reference(masked.values))
    clear = np.isin(scl, CLEAR_CLASSES).sum(0)
    np.testing.assert_array_equal(ds["clear_count"].values, clear)
    assert set((clear % 2).ravel()) == {0, 1}  # odd and even counts both exercised
    if dates == 6:  # all-cloud pixels: nodata
        assert (clear == 0).sum() > 1000
        assert (ds["composite"].values[:, clear == 0] == 0).all()


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
