"""uint16 median/mean kernels against numpy (every T up to 70, any layout), lazily over Dask."""

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

import cube.composite as composite_module
from cube.composite import (
    BLOCK,
    composite,
    mean_kernel,
    median_kernel,
    median_network,
)
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


def _mean_reference(data: np.ndarray) -> np.ndarray:
    ref = np.where(data == 0, np.nan, data.astype(np.float64))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.asarray(np.nanmean(ref, axis=0))
    return np.nan_to_num(np.round(mean)).astype(np.uint16)


def _random(t: int, width: int, seed: int, cloud: float, full_range: bool = True) -> np.ndarray:
    """Random uint16 values (any, or only the extremes 1 and 65535) with random masks."""
    rng = np.random.default_rng(seed)
    if full_range:
        data = rng.integers(0, 65536, (t, 2, 3, width), dtype=np.uint16)
    else:
        data = rng.choice(np.array([1, 65535], np.uint16), (t, 2, 3, width))
    data[rng.random(data.shape) < cloud] = 0
    data[:, :, 0, :7] = 0  # all-masked pixels
    return data


@pytest.mark.parametrize("t", range(1, 71))
def test_median_equals_nanmedian_for_every_t(t: int):
    """Odd and even T, rows wider than a sorting block, random masks, all-masked pixels."""
    data = _random(t, BLOCK + 77, seed=t, cloud=(t % 10) / 10)
    out = median_kernel(data)
    np.testing.assert_array_equal(out, _reference(data))
    assert (out[:, 0, :7] == 0).all()


@pytest.mark.parametrize("t", [1, 2, 3, 4, 9, 10, 50])
def test_median_at_the_uint16_extremes(t: int):
    """1 and 65535 survive the ``v - 1`` wrap (65535 is valid, only 0 is masked)."""
    data = _random(t, 40, seed=100 + t, cloud=0.3, full_range=False)
    np.testing.assert_array_equal(median_kernel(data), _reference(data))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70), st.integers(1, 1100), st.floats(0.0, 1.0), st.integers(0, 2**32))
def test_median_property_any_t_width_and_cloud(t: int, width: int, cloud: float, seed: int):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 65536, (t, 1, 2, width), dtype=np.uint16)
    data[rng.random(data.shape) < cloud] = 0
    np.testing.assert_array_equal(median_kernel(data), _reference(data))


@pytest.mark.parametrize("t", range(1, 13))
def test_network_places_every_median_position(t: int):
    """0-1 principle: positions 0 .. t // 2 come out sorted for every 0/1 input."""
    pairs = median_network(t)
    assert (pairs[:, 0] < pairs[:, 1]).all() and (pairs < t).all()
    bits = (np.arange(2**t)[None, :] >> np.arange(t)[:, None]) & 1
    work = bits.copy()
    for a, b in pairs:
        work[a], work[b] = np.minimum(work[a], work[b]), np.maximum(work[a], work[b])
    np.testing.assert_array_equal(work[: t // 2 + 1], np.sort(bits, axis=0)[: t // 2 + 1])
    assert median_network(t) is pairs  # cached per T
    assert not pairs.flags.writeable


def test_network_is_pruned_for_the_median():
    assert len(median_network(50)) < 403  # Batcher on 64 pruned to 50 values has 403
    assert len(median_network(0)) == len(median_network(1)) == 0


def test_kernels_on_views_and_threads_equal_the_reference():
    """Spatial windows (gaps between rows), reversed and broadcast axes, 1-3 threads."""
    base = _random(23, 300, seed=7, cloud=0.4)
    views = [
        base[:, :, :, 10:250],  # a Dask-like spatial window: rows contiguous, gaps between
        base[::-1, ::-1],  # negative strides: copied
        base[:, :, :, ::2],  # non-contiguous rows: copied
        np.broadcast_to(base[:1], base.shape),  # stride 0 in time
    ]
    for view in views:
        for threads in (1, 2, 3):
            np.testing.assert_array_equal(median_kernel(view, threads), _reference(view))
            np.testing.assert_array_equal(mean_kernel(view, threads), _mean_reference(view))


@pytest.mark.parametrize("t", [1, 2, 3, 7, 8, 40])
def test_mean_equals_nanmean_rounded_half_to_even(t: int):
    data = _random(t, 90, seed=t, cloud=0.5)
    np.testing.assert_array_equal(mean_kernel(data), _mean_reference(data))


def test_mean_rounds_half_to_even():
    stack = np.zeros((3, 1, 1, 4), np.uint16)  # the third date is masked everywhere
    stack[:2, 0, 0] = [[1, 3, 4, 7], [2, 3, 5, 8]]  # 1.5, 3, 4.5, 7.5
    assert mean_kernel(stack)[0, 0].tolist() == [2, 3, 4, 8]


def test_kernels_reject_bad_stacks_and_handle_empty_ones():
    with pytest.raises(InvalidInputError, match="uint16"):
        median_kernel(np.zeros((2, 1, 2, 2), np.int32))
    with pytest.raises(InvalidInputError, match="uint16"):
        mean_kernel(np.zeros((2, 2, 2), np.uint16))
    assert median_kernel(np.zeros((0, 2, 3, 4), np.uint16)).shape == (2, 3, 4)
    assert not mean_kernel(np.zeros((0, 2, 3, 4), np.uint16)).any()


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
    ds = composite(_cube(data), "mean")
    mean = ds["composite"].values
    np.testing.assert_array_equal(ds["clear_count"].values, (data[:, 0] != 0).sum(0))
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


def test_composite_hands_dask_blocks_to_the_kernel_without_a_copy(monkeypatch: pytest.MonkeyPatch):
    """The spatial blocks reach the kernel as they are (views of the source here)."""
    data = _stack(9)
    name, edge = "stack-views", 16
    starts = range(0, 40, edge)
    graph = {
        (name, 0, 0, i, j): data[:, :, y : y + edge, x : x + edge]
        for i, y in enumerate(starts)
        for j, x in enumerate(starts)
    }
    arr = da.Array(graph, name, ((9,), (3,), (16, 16, 8), (16, 16, 8)), dtype=np.uint16)
    shares: list[bool] = []
    run = composite_module._run

    def spy(stack: np.ndarray, method: composite_module.Method, threads: int) -> np.ndarray:
        shares.append(np.shares_memory(stack, data))
        return run(stack, method, threads)

    monkeypatch.setattr(composite_module, "_run", spy)
    ds = composite(xr.DataArray(arr, dims=("time", "band", "y", "x"))).compute(scheduler="sync")
    np.testing.assert_array_equal(ds["composite"].values, _reference(data))
    np.testing.assert_array_equal(ds["clear_count"].values, (data[:, 0] != 0).sum(0))
    assert len(shares) == 9 and all(shares)  # one pass per block for the bands and the count
