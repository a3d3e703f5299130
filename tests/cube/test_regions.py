"""Region plans and dataset fingerprints (the pure part of resumable Zarr writes)."""

from __future__ import annotations

import subprocess
import sys

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from cube.regions import RegionPlan, fingerprint, plan_regions, scheduler_threads

_DATASET = """
import dask.array as da, numpy as np, xarray as xr
ds = xr.Dataset(
    {
        "composite": (("band", "y", "x"), da.ones((2, 64, 48), chunks=(2, 16, 16), dtype="u2")),
        "clear_count": (("y", "x"), da.zeros((64, 48), chunks=(32, 16), dtype="u1")),
        "name": (("band",), np.array(["a", "bb"], dtype=object)),
    },
    coords={"band": ["B04", "B08"], "y": 5e6 - 10 * np.arange(64), "x": 4e5 + np.arange(48.0)},
    attrs={"method": "median", "dates": ["2024-05-01", "2024-06-01"]},
)
"""


def _dataset() -> xr.Dataset:
    scope: dict[str, xr.Dataset] = {}
    exec(_DATASET, scope)
    return scope["ds"]


def test_plan_cuts_y_at_the_chunk_boundaries_every_variable_shares():
    plan = plan_regions(_dataset(), chunks_per_region=6)
    assert plan.dim == "y"  # before x, though x has 3 columns
    assert plan.variables == ("composite", "clear_count")  # not the in-memory "name"
    assert plan.rows == ((0, 32), (32, 64))
    assert plan.rows_per_region == 1  # a row holds 6 composite chunks (2 × 3)
    assert plan_regions(_dataset(), chunks_per_region=7).rows_per_region == 2


def test_plan_without_spatial_rows_cuts_the_dimension_with_most_rows():
    ds = xr.Dataset(
        {
            "image": (("tile", "band", "y", "x"), da.zeros((5, 3, 8, 8), chunks=(1, 1, 8, 8))),
            "label": (("tile", "y", "x"), da.zeros((5, 8, 8), chunks=(1, 8, 8))),
        }
    )
    plan = plan_regions(ds, chunks_per_region=6)
    assert (plan.dim, len(plan.rows), plan.rows_per_region) == ("tile", 5, 2)


def test_plan_without_dask_variables_is_empty():
    plan = plan_regions(_dataset().compute(), chunks_per_region=4)
    assert plan == RegionPlan("", (), (), 1)
    assert plan.pending([]) == []


def test_plan_cuts_the_first_variables_outer_dim_when_none_is_shared():
    ds = xr.Dataset(
        {
            "a": (("t",), da.zeros(8, chunks=2)),
            "b": (("y", "x"), da.zeros((4, 4), chunks=2)),
        }
    )
    plan = plan_regions(ds, chunks_per_region=2)
    assert (plan.dim, plan.variables, len(plan.rows), plan.rows_per_region) == ("t", ("a",), 4, 2)


def test_pending_groups_unwritten_rows_and_a_written_row_splits_groups():
    plan = RegionPlan("y", ("v",), tuple((k, k + 10) for k in range(0, 80, 10)), 3)
    assert plan.pending([]) == [(0, 30), (30, 60), (60, 80)]
    written = [(0, 20), (40, 50)]
    assert plan.pending(written) == [(20, 40), (50, 80)]
    assert plan.covered(written) == 3
    assert plan.pending([(0, 80)]) == []


def test_fingerprint_sees_structure_coordinates_and_attributes():
    ref = fingerprint(_dataset())
    assert fingerprint(_dataset()) == ref
    changed = [
        _dataset().assign_attrs(dates=["2024-05-01"]),
        _dataset().assign_coords(x=_dataset()["x"] + 10),
        _dataset().chunk({"x": 24}),
        _dataset().assign(composite=_dataset()["composite"].astype("float32")),
        _dataset().assign(name=("band", np.array(["a", "b"], dtype=object))),
        _dataset().drop_vars("clear_count"),
        _dataset().set_coords("name"),
    ]
    for ds in changed:
        assert fingerprint(ds) != ref


def test_fingerprint_ignores_lazy_values_and_is_stable_across_processes():
    ds = _dataset()
    ds["composite"] = ds["composite"] + 1  # other values (and graph), same structure
    here = fingerprint(ds)
    code = f"{_DATASET}\nfrom cube.regions import fingerprint\nprint(fingerprint(ds))"
    there = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert there == here


@pytest.mark.parametrize(("scheduler", "threads"), [("synchronous", 1), ("threads", 3)])
def test_scheduler_threads_of_local_schedulers(scheduler: str, threads: int):
    with dask.config.set(scheduler=scheduler, num_workers=3):
        assert scheduler_threads() == threads
