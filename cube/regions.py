"""Chunk-aligned regions for writing a dataset to Zarr piece by piece, and its fingerprint.

:func:`cube.store.write_dataset` writes a store's template (metadata, coordinates, in-memory
variables) first and then its dask-backed variables one region at a time, recording every
region written, so that an interrupted write resumes where it stopped. This module holds the
pure part of that: which dimension the regions cut (:func:`plan_regions`), which regions are
still to write (:meth:`RegionPlan.pending`), and a fingerprint that tells whether a partial
store was written from the same dataset (:func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.local
import numpy as np
import xarray as xr
from dask.system import CPU_COUNT

__all__ = ["RegionPlan", "fingerprint", "plan_regions", "scheduler_threads"]

FORMAT = 1
"""Version of the region layout and fingerprint; a change makes old partial stores start over."""

SPATIAL_DIMS = ("y", "x")
"""Dimensions regions cut first, in this order (the spatial dims of the array contract)."""


@dataclass(frozen=True)
class RegionPlan:
    """How a dataset's dask-backed variables are written region by region.

    Attributes:
        dim: Dimension the regions cut (``""`` when no variable is dask-backed).
        variables: Data variables written region by region (dask-backed, with ``dim``).
        rows: ``[start, stop)`` index ranges along ``dim`` that start and stop on a chunk
            boundary of every variable: the smallest pieces a region is made of.
        rows_per_region: Consecutive rows grouped into one region.
    """

    dim: str
    variables: tuple[str, ...]
    rows: tuple[tuple[int, int], ...]
    rows_per_region: int

    def pending(self, written: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
        """Regions still to write: rows not inside a written range, grouped consecutively.

        Args:
            written: ``[start, stop)`` ranges along :attr:`dim` already written.

        Returns:
            ``[start, stop)`` ranges along :attr:`dim`, each of at most
            :attr:`rows_per_region` consecutive rows; a written row splits a group.
        """
        done = list(written)
        regions: list[tuple[int, int]] = []
        group: list[tuple[int, int]] = []
        for row in self.rows:
            if not _inside(row, done):
                group.append(row)
            if group and (_inside(row, done) or len(group) == self.rows_per_region):
                regions.append((group[0][0], group[-1][1]))
                group = []
        if group:
            regions.append((group[0][0], group[-1][1]))
        return regions

    def covered(self, written: Iterable[Sequence[int]]) -> int:
        """How many rows lie inside the ``written`` ranges."""
        done = list(written)
        return sum(_inside(row, done) for row in self.rows)


def _inside(row: tuple[int, int], ranges: Sequence[Sequence[int]]) -> bool:
    return any(a <= row[0] and row[1] <= b for a, b in ranges)


def _region_variables(ds: xr.Dataset) -> list[str]:
    """Names of the dask-backed data variables of ``ds`` that have at least one dimension."""
    return [str(k) for k, v in ds.data_vars.items() if v.chunks is not None and v.ndim > 0]


def _boundaries(chunks: Sequence[int]) -> set[int]:
    return {0, *(int(b) for b in np.cumsum(chunks))}


def _common_rows(ds: xr.Dataset, names: Sequence[str], dim: Hashable) -> list[tuple[int, int]]:
    bounds = set.intersection(*(_boundaries(ds[n].chunksizes[dim]) for n in names))
    edges = sorted(bounds)
    return list(itertools.pairwise(edges))


def plan_regions(ds: xr.Dataset, chunks_per_region: int) -> RegionPlan:
    """Plan region writes along ``y`` (or ``x``), else along the dimension with most rows.

    The candidates are the dimensions every dask-backed data variable has, cut into rows at
    the chunk boundaries they all share. A spatial dimension (``y``, then ``x``) with more than
    one row wins: regions of whole spatial chunks never split the work of one chunk (band
    indices, a median over time). Otherwise (tiles, one spatial chunk) the candidate with the
    most rows wins, the outermost on a tie. Dask-backed variables without the chosen dimension
    are not part of the plan (the caller loads them with the template).

    Args:
        ds: Dataset with Zarr-compatible (equal, last smaller) dask chunks.
        chunks_per_region: Chunks of the largest variable that a region should hold at least,
            so that every worker of the scheduler has work during a region.

    Returns:
        The plan; without rows when ``ds`` has no dask-backed data variable.
    """
    lazy = _region_variables(ds)
    if not lazy:
        return RegionPlan("", (), (), 1)
    common = [d for d in ds[lazy[0]].dims if all(d in ds[n].dims for n in lazy)]
    if not common:  # no shared dimension: cut the first variable's outer one
        common = [ds[lazy[0]].dims[0]]
    rows = {d: _common_rows(ds, [n for n in lazy if d in ds[n].dims], d) for d in common}
    spatial = [d for d in SPATIAL_DIMS if len(rows.get(d, ())) > 1]
    dim = spatial[0] if spatial else max(common, key=lambda d: len(rows[d]))
    names = tuple(n for n in lazy if dim in ds[n].dims)
    chunks = max(math.prod(len(c) for c in ds[n].chunks or ()) for n in names)
    per_row = chunks / max(1, len(rows[dim]))  # no rows: an empty array, nothing to compute
    return RegionPlan(
        str(dim), names, tuple(rows[dim]), max(1, math.ceil(chunks_per_region / per_row))
    )


def scheduler_threads() -> int:
    """Threads of the Dask scheduler a compute would use now (a distributed Client's, or local)."""
    get = dask.base.get_scheduler()
    client = getattr(get, "__self__", None)
    if client is not None and hasattr(client, "nthreads"):
        return max(1, sum(client.nthreads().values()))
    if get is dask.local.get_sync:
        return 1
    return int(dask.config.get("num_workers", None) or CPU_COUNT)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars in attrs/encodings
        return obj.tolist()
    return repr(obj)


def _values_digest(values: np.ndarray) -> str:
    h = hashlib.sha256(f"{values.dtype.str}{values.shape}".encode())
    if values.dtype.kind in "OUS":
        h.update(json.dumps([str(v) for v in values.ravel()]).encode())
    else:
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def _describe(name: Hashable, var: xr.Variable) -> dict[str, Any]:
    return {
        "name": str(name),
        "dims": [str(d) for d in var.dims],
        "shape": list(var.shape),
        "dtype": var.dtype.str,
        "chunks": [list(c) for c in var.chunks] if var.chunks is not None else None,
        "attrs": var.attrs,
        "encoding": var.encoding,
        "values": None if var.chunks is not None else _values_digest(var.values),
    }


def _by_name(item: tuple[Hashable, Any]) -> str:
    return str(item[0])


def fingerprint(ds: xr.Dataset) -> str:
    """A digest that is equal for the same dataset built in another process.

    It covers every variable's name, dims, shape, dtype, chunks, attributes and encoding, the
    values of every in-memory variable (coordinates included), the dataset's attributes and
    which variables are coordinates; not the values of dask-backed variables (dask graph
    names are not stable across processes). Put what lazy data is computed from and that its
    structure does not show (dates, model version) into attributes.

    Args:
        ds: The dataset as it will be written.

    Returns:
        Hex SHA-256 digest.
    """
    doc = {
        "format": FORMAT,
        "attrs": ds.attrs,
        "coords": sorted(str(c) for c in ds.coords),
        "variables": [_describe(k, v) for k, v in sorted(ds.variables.items(), key=_by_name)],
    }
    text = json.dumps(doc, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()
