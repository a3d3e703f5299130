import numpy as np
import xarray as xr

from benchmarks.composite_benchmark import _lazy_cube, _views, fill_block, synthetic_stack
from cube.composite import composite, median_kernel


def test_synthetic_data_is_deterministic_cloudy_and_in_range():
    stack = synthetic_stack(12, 6, 200, 0.3)
    block = np.empty((6, 50, 70), np.uint16)
    fill_block(block, 5, 100, 90, 200, 0.3)
    np.testing.assert_array_equal(block, stack[5, :, 100:150, 90:160])
    masked = stack == 0
    assert (masked.all(axis=1) == masked.any(axis=1)).all()  # clouds mask every band
    assert 0.25 < masked[:, 0].mean() < 0.35
    assert stack[~masked].min() >= 200 and stack.max() <= 5999
    cells = masked[:, 0, :192, :192].reshape(12, 6, 32, 6, 32)  # 32 px cloud cells
    assert (cells.min(axis=(2, 4)) == cells.max(axis=(2, 4))).all()


def test_lazy_cube_and_views_are_the_same_stack():
    stack = synthetic_stack(7, 6, 100, 0.3)
    lazy = _lazy_cube(7, 6, 100, 0.3, edge=64)
    assert lazy.data.chunks[0] == (1,) * 7  # one date per chunk, as the loader makes it
    np.testing.assert_array_equal(lazy.values, stack)
    views = _views(stack, 64)
    assert views.chunks == ((7,), (6,), (64, 36), (64, 36))
    assert all(np.shares_memory(v, stack) for v in views.__dask_graph__().values())
    ds = composite(xr.DataArray(views, dims=("time", "band", "y", "x")))
    np.testing.assert_array_equal(ds["composite"].values, median_kernel(stack))
