"""``python -m benchmarks.composite_benchmark``: uint16 numba median vs ``numpy.nanmedian``.

A realistic cloudy stack (default 30 dates x 6 bands x 1024² uint16, ~35 % of the
observations masked) is composited by :func:`cube.composite.median_kernel` and by the float
routes (a float32 or float64 copy with NaN for masked, then ``numpy.nanmedian``; float64 is
what ``xarray``'s ``median(skipna=True)`` computes). Each route runs in its own fresh process
on the same generated stack (with the same imports), so its peak RSS (``ru_maxrss``) is its
own: the stack itself is in every figure (``stack_mb``); ``extra_rss_mb`` is what the route
added on top of it. The results are checked equal (after the documented rounding
of even counts) and the speed-up and memory of each route are written as JSON
(default ``benchmarks/results/composite.json``).

Second part (``--aoi-size``, default 3072 px; the Baikonur AOI is ~12,000 px): a lazily
generated cloudy cube of ``--aoi-dates`` dates is median-composited chunk by chunk (chunk
edge from ``--memory-budget-mb``) into a local Zarr by :func:`cube.store.write_dataset`, in a
fresh process whose peak RSS is reported: it stays near the chunk budget x threads, not the
cube size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "run_benchmark"]

RESULTS = Path(__file__).resolve().parent / "results" / "composite.json"
ROUTES = ("numba uint16 median", "float32 numpy.nanmedian", "float64 numpy.nanmedian")


def _stack(dates: int, bands: int, size: int, cloud: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(200, 6000, (dates, bands, size, size), dtype=np.uint16)
    clouds = rng.random((dates, 1, size, size)) < cloud
    data[np.broadcast_to(clouds, data.shape)] = 0
    return data


def _route(name: str, stack: np.ndarray) -> np.ndarray:
    if name == ROUTES[0]:
        from cube.composite import median_kernel

        out: np.ndarray = median_kernel(stack)
        return out
    dtype = np.float32 if name == ROUTES[1] else np.float64
    as_float = np.where(stack == 0, dtype(np.nan), stack.astype(dtype))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN (all-cloud) pixels
        out = np.nanmedian(as_float, axis=0)
    return np.nan_to_num(np.round(out)).astype(np.uint16)


def _child(name: str, shape: tuple[int, int, int, float], conn: Any) -> None:
    """One route in a fresh process: (seconds, peak RSS MB, RSS MB before, result)."""
    from cube.composite import median_kernel  # every route: same interpreter baseline

    median_kernel(np.ones((3, 1, 4, 4), np.uint16))  # compile outside the timing
    stack = _stack(*shape)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    out = _route(name, stack)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((seconds, peak, before, out))
    conn.close()


def _run(name: str, shape: tuple[int, int, int, float]) -> tuple[float, float, float, np.ndarray]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(name, shape, child))
    proc.start()
    result: tuple[float, float, float, np.ndarray] = parent.recv()
    proc.join()
    return result


def run_benchmark(dates: int, bands: int, size: int, cloud: float) -> dict[str, Any]:
    """Time every route on the same stack, each in its own process; return the JSON record."""
    shape = (dates, bands, size, cloud)
    runs = {name: _run(name, shape) for name in ROUTES}
    fast = runs[ROUTES[0]]
    mismatches = {name: int((fast[3] != runs[name][3]).sum()) for name in ROUTES[1:]}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "config": {"dates": dates, "bands": bands, "size": size, "cloud_fraction": cloud},
        "stack_mb": dates * bands * size * size * 2 / 2**20,
        "summary": {
            "speedup_vs_float64_nanmedian": runs[ROUTES[2]][0] / fast[0],
            "speedup_vs_float32_nanmedian": runs[ROUTES[1]][0] / fast[0],
            "peak_rss_ratio_float64_vs_numba": runs[ROUTES[2]][1] / fast[1],
            "extra_rss_mb_float64_vs_numba": [
                round(runs[ROUTES[2]][1] - runs[ROUTES[2]][2], 1),
                round(fast[1] - fast[2], 1),
            ],
            "mismatched_pixels": mismatches,
        },
        "results": [
            {
                "route": name,
                "seconds": round(run[0], 3),
                "peak_rss_mb": round(run[1], 1),
                "rss_before_mb": round(run[2], 1),
                "extra_rss_mb": round(run[1] - run[2], 1),
            }
            for name, run in runs.items()
        ],
    }


def _lazy_cube(dates: int, bands: int, size: int, cloud: float, edge: int) -> Any:
    """A lazily generated cloudy ("time", "band", "y", "x") uint16 cube, one date per chunk."""
    import dask.array as da
    import xarray as xr

    def block(block_id: tuple[int, int, int, int] | None = None) -> np.ndarray:
        t, _, i, j = block_id or (0, 0, 0, 0)
        rng = np.random.default_rng((t, i, j))
        h = min(edge, size - i * edge)
        w = min(edge, size - j * edge)
        data = rng.integers(200, 6000, (1, bands, h, w), dtype=np.uint16)
        data[np.broadcast_to(rng.random((1, 1, h, w)) < cloud, data.shape)] = 0
        return data

    chunks = (
        (1,) * dates,
        (bands,),
        *(((edge,) * (size // edge) + ((size % edge,) if size % edge else ())),) * 2,
    )
    arr = da.map_blocks(block, chunks=chunks, dtype=np.uint16)
    res = 10.0
    return xr.DataArray(
        arr,
        dims=("time", "band", "y", "x"),
        coords={
            "time": np.datetime64("2024-01-01") + np.arange(dates) * np.timedelta64(3, "D"),
            "band": ["B02", "B03", "B04", "B08", "B11", "B12"][:bands],
            "y": 5_000_000.0 - res * (np.arange(size) + 0.5),
            "x": 400_000.0 + res * (np.arange(size) + 0.5),
        },
    ).rio.write_crs("EPSG:32641")


def _aoi_child(shape: tuple[int, int, int, float], budget_mb: float, out: str, conn: Any) -> None:
    """Composite a lazily generated AOI-size cube to Zarr in a fresh process."""
    import dask

    from cube.composite import composite
    from cube.load import chunk_edge
    from cube.store import StoreLocation, write_dataset

    dates, bands, size, cloud = shape
    edge = chunk_edge(budget_mb, dates, bands)
    ds = composite(_lazy_cube(dates, bands, size, cloud, edge))
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        write_dataset(ds, StoreLocation(out, "benchmark"), "composite.zarr", "composite")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tasks = len(ds["composite"].data.__dask_graph__())
    conn.send(
        {
            "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak, 1),
            "chunk_edge": edge,
            "tasks": tasks,
        }
    )
    conn.close()


def run_aoi_benchmark(
    dates: int, bands: int, size: int, cloud: float, budget_mb: float
) -> dict[str, Any]:
    """Lazily generated ``size``² cube → median composite → local Zarr: time and peak RSS."""
    import tempfile

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="composite-bench-") as out:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_aoi_child, args=((dates, bands, size, cloud), budget_mb, out, child)
        )
        proc.start()
        result: dict[str, Any] = parent.recv()
        proc.join()
    return {
        "config": {
            "dates": dates,
            "bands": bands,
            "size": size,
            "cloud_fraction": cloud,
            "memory_budget_mb": budget_mb,
        },
        "cube_gb": dates * bands * size * size * 2 / 2**30,
        **result,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit 1 if the numba median differs from ``numpy.nanmedian``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.composite_benchmark")
    parser.add_argument("--dates", type=int, default=30)
    parser.add_argument("--bands", type=int, default=6)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--cloud", type=float, default=0.35)
    parser.add_argument("--json", "--output", dest="output", type=Path, default=RESULTS)
    parser.add_argument(
        "--aoi-size", type=int, default=3072, help="px edge of the lazy AOI cube (0: skip)"
    )
    parser.add_argument("--aoi-dates", type=int, default=50)
    parser.add_argument("--memory-budget-mb", type=float, default=1024.0)
    args = parser.parse_args(argv)
    record = run_benchmark(args.dates, args.bands, args.size, args.cloud)
    if args.aoi_size:
        record["aoi_cube_to_zarr"] = run_aoi_benchmark(
            args.aoi_dates, args.bands, args.aoi_size, args.cloud, args.memory_budget_mb
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(
        json.dumps({k: record[k] for k in ("summary", "aoi_cube_to_zarr") if k in record}, indent=2)
    )
    return 0 if not any(record["summary"]["mismatched_pixels"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
