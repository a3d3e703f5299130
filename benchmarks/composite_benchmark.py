"""``python -m benchmarks.composite_benchmark``: the project's composite vs ``numpy.nanmedian``.

Part 1, same run and same data: a cloudy uint16 stack (default 50 dates x 6 bands x 2048²,
30 % cloud) is composited by

* :func:`cube.composite.composite`, the project's route: its Dask graph over zero-copy views
  of the in-memory stack in the pipeline's spatial chunks (edge from ``--memory-budget-mb``,
  every date and band in a chunk; ``dask.array.from_array`` would copy the stack), computed
  by the threads scheduler with one worker per CPU core;
* :func:`cube.composite.median_kernel` called directly, on 1 thread and on all cores;
* the baselines: a float32 or float64 copy with NaN for masked, then ``numpy.nanmedian``
  over time (float64 is what ``xarray``'s ``median(skipna=True)`` computes; numpy is single
  threaded). The float copy of the whole stack and ``nanmedian``'s working copies (about
  20 bytes per value) do not fit this machine's memory at the default size, so the
  baselines run strip by strip over ``--baseline-rows`` image rows (every band and date):
  the same work per pixel, with the memory of one strip.

Each route runs in its own fresh process that generates the same stack (with the same
imports), so its peak RSS (``ru_maxrss``) is its own; the stack itself is in every figure
(``stack_mb``) and ``extra_rss_mb`` is what the route added on top of it. Seconds cover the
route only, not the generation: the median of ``--repeats`` runs for the numba routes (each
under a second), one run for the baselines (minutes). All results are checked equal to the
float64 baseline (after the documented rounding of even counts). The 1-minute load average
before and after is recorded: the machine is shared, and other load slows every route.

Part 2 (``--aoi-size``, default 12,000 px, the size of the Baikonur AOI): a lazily generated
cloudy cube of ``--aoi-dates`` dates, one date per chunk as the loader makes it, is
median-composited chunk by chunk (rechunked to all dates per chunk) into a local Zarr by
:func:`cube.store.write_dataset` with the threads scheduler, in a fresh process whose peak
RSS is reported: it stays near the chunk budget x threads, not the cube size.

The synthetic data is a fast deterministic hash of (date, band, row, column): reflectance
uniform in 200..5999, and clouds in 32 px cells, each cloudy on a date with probability
``--cloud``, masking every band (0 = nodata).
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
import uuid
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numba
import numpy as np

__all__ = ["fill_block", "main", "run_aoi_benchmark", "run_benchmark", "synthetic_stack"]

RESULTS = Path(__file__).resolve().parent / "results" / "composite.json"
CPUS = os.cpu_count() or 1
COMPOSITE = f"cube.composite.composite (Dask threads scheduler, {CPUS} workers)"
KERNEL_1 = "median_kernel (numba uint16, 1 thread)"
KERNEL_N = f"median_kernel (numba uint16, {CPUS} threads)"
FLOAT32 = "float32 numpy.nanmedian"
FLOAT64 = "float64 numpy.nanmedian"
ROUTES = (COMPOSITE, KERNEL_1, KERNEL_N, FLOAT32, FLOAT64)
CLOUD_CELL_SHIFT = 5  # clouds in 2**5 = 32 px cells

Shape = tuple[int, int, int, float]  # dates, bands, size (px edge), cloud fraction


@numba.njit(nogil=True, cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64 finaliser: a well-mixed 64-bit hash of ``z``."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(nogil=True, cache=True)
def fill_block(
    out: np.ndarray, date: int, y0: int, x0: int, size: int, cloud: float
) -> None:  # pragma: no cover - compiled
    """Fill ``out`` (bands, h, w) with date ``date`` of the synthetic cube at (``y0``, ``x0``).

    Deterministic: any block of any date is the same wherever and however it is generated.
    One 64-bit hash per pixel gives four bands (16 bits each, scaled to 200..5999); one hash
    per 32 px cell and date decides the cloud.

    Args:
        out: uint16 (bands, h, w) array to fill.
        date: Date index.
        y0: First row of the block in the ``size``² cube.
        x0: First column of the block.
        size: Edge of the cube (px), part of the hash key.
        cloud: Probability that a 32 px cell is cloudy on this date.
    """
    bands, h, w = out.shape
    threshold = np.uint64(cloud * 2.0**32)
    first_cell = x0 >> CLOUD_CELL_SHIFT
    cells = np.empty(((x0 + w - 1) >> CLOUD_CELL_SHIFT) - first_cell + 1, np.bool_)
    clear = np.empty(w, np.bool_)
    hashes = np.empty(w, np.uint64)
    for y in range(h):
        cell_row = (
            np.uint64(date) << np.uint64(24) | np.uint64((y0 + y) >> CLOUD_CELL_SHIFT)
        ) << np.uint64(32)
        for c in range(cells.size):
            cell = cell_row + np.uint64(first_cell + c)
            cells[c] = _mix(cell ^ np.uint64(0xC10D)) >> np.uint64(32) >= threshold
        for x in range(w):
            clear[x] = cells[((x0 + x) >> CLOUD_CELL_SHIFT) - first_cell]
        pixel = (np.uint64(date) * np.uint64(size) + np.uint64(y0 + y)) * np.uint64(size)
        pixel += np.uint64(x0)
        for b in range(bands):
            if b % 4 == 0:
                group = np.uint64(b // 4)
                for x in range(w):
                    hashes[x] = _mix((pixel + np.uint64(x)) << np.uint64(2) | group)
            shift = np.uint64(16 * (b % 4))
            row = out[b, y]
            for x in range(w):
                bits = (hashes[x] >> shift) & np.uint64(0xFFFF)
                value = np.uint64(200) + ((bits * np.uint64(5800)) >> np.uint64(16))
                row[x] = value if clear[x] else np.uint64(0)


def synthetic_stack(dates: int, bands: int, size: int, cloud: float) -> np.ndarray:
    """The in-memory (dates, bands, size, size) uint16 stack, filled date by date."""
    stack = np.empty((dates, bands, size, size), np.uint16)
    for t in range(dates):
        fill_block(stack[t], t, 0, 0, size, cloud)
    return stack


def _nanmedian_strips(stack: np.ndarray, dtype: type[np.floating[Any]], rows: int) -> np.ndarray:
    """The baseline: float copy with NaN for masked, ``numpy.nanmedian``, strip by strip."""
    out = np.empty(stack.shape[1:], np.uint16)
    for r0 in range(0, stack.shape[2], rows):
        part = stack[:, :, r0 : r0 + rows]
        as_float = np.where(part == 0, dtype(np.nan), part.astype(dtype))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN (all-cloud) pixels
            med = np.nanmedian(as_float, axis=0)
        del as_float
        out[:, r0 : r0 + rows] = np.nan_to_num(np.round(med))
    return out


def _views(stack: np.ndarray, edge: int) -> Any:
    """Dask array of zero-copy views of ``stack`` in (T, B, ``edge``, ``edge``) chunks.

    ``dask.array.from_array`` would copy the whole stack first.
    """
    import dask.array as da

    t, b, h, w = stack.shape
    name = f"stack-{uuid.uuid4().hex}"
    ys, xs = range(0, h, edge), range(0, w, edge)
    dsk = {
        (name, 0, 0, i, j): stack[:, :, y : y + edge, x : x + edge]
        for i, y in enumerate(ys)
        for j, x in enumerate(xs)
    }
    chunks = ((t,), (b,), tuple(min(edge, h - y) for y in ys), tuple(min(edge, w - x) for x in xs))
    return da.Array(dsk, name, chunks, dtype=stack.dtype)


def _composite(stack: np.ndarray, edge: int) -> np.ndarray:
    """The project's route: :func:`cube.composite.composite` as a Dask graph, computed."""
    import xarray as xr

    from cube.composite import composite

    cube = xr.DataArray(_views(stack, edge), dims=("time", "band", "y", "x"))
    ds = composite(cube).compute(scheduler="threads", num_workers=CPUS)
    out: np.ndarray = ds["composite"].values
    return out


def _route(name: str, stack: np.ndarray, edge: int, baseline_rows: int) -> np.ndarray:
    from cube.composite import median_kernel

    if name == COMPOSITE:
        return _composite(stack, edge)
    if name in (KERNEL_1, KERNEL_N):
        return median_kernel(stack, threads=1 if name == KERNEL_1 else CPUS)
    return _nanmedian_strips(stack, np.float32 if name == FLOAT32 else np.float64, baseline_rows)


def _child(name: str, shape: Shape, edge: int, baseline_rows: int, repeats: int, conn: Any) -> None:
    """One route in a fresh process: (median seconds, peak RSS MB, RSS MB before, result)."""
    import dask.array  # noqa: F401 - every route: the same imports in its baseline
    import xarray  # noqa: F401

    from cube.composite import median_kernel

    warm = synthetic_stack(shape[0], shape[1], 8, shape[3])
    median_kernel(warm)  # compile (or load from cache) outside the timing
    if name == COMPOSITE:
        _composite(warm, 4)
    stack = synthetic_stack(*shape)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def timed() -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        result = _route(name, stack, edge, baseline_rows)
        return time.perf_counter() - t0, result

    seconds = [timed()[0] for _ in range(repeats - 1)]  # each result freed at once
    last, out = timed()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send((float(np.median([*seconds, last])), peak, before, out))
    conn.close()


def _spawn(target: Any, *args: Any) -> Any:
    """Run ``target(*args, conn)`` in a fresh (spawned) process; return what it sends."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run_benchmark(
    dates: int,
    bands: int,
    size: int,
    cloud: float,
    budget_mb: float,
    baseline_rows: int,
    repeats: int = 3,
) -> dict[str, Any]:
    """Time every route on the same stack, each in its own process; return the JSON record.

    The numba routes (under a second) run ``repeats`` times and report the median; the
    baselines (minutes) run once.
    """
    from cube.load import chunk_edge

    shape = (dates, bands, size, cloud)
    edge = chunk_edge(budget_mb, dates, bands)
    counts = {name: 1 if name in (FLOAT32, FLOAT64) else repeats for name in ROUTES}
    load_before = _load()
    runs = {name: _spawn(_child, name, shape, edge, baseline_rows, counts[name]) for name in ROUTES}
    base = runs[FLOAT64]
    mismatches = {name: int((runs[name][3] != base[3]).sum()) for name in ROUTES[:-1]}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {
            "platform": platform.platform(),
            "cpus": CPUS,
            "loadavg_1min_before_after": [load_before, _load()],
        },
        "config": {
            "dates": dates,
            "bands": bands,
            "size": size,
            "cloud_fraction": cloud,
            "composite_chunk_edge": edge,
            "baseline_strip_rows": baseline_rows,
        },
        "stack_mb": dates * bands * size * size * 2 / 2**20,
        "nodata_pixels": int((base[3] == 0).all(axis=0).sum()),
        "summary": {
            "speedup_composite_vs_float64_nanmedian": base[0] / runs[COMPOSITE][0],
            "speedup_composite_vs_float32_nanmedian": runs[FLOAT32][0] / runs[COMPOSITE][0],
            "speedup_kernel_1_thread_vs_float64_nanmedian": base[0] / runs[KERNEL_1][0],
            f"speedup_kernel_{CPUS}_threads_vs_float64_nanmedian": base[0] / runs[KERNEL_N][0],
            "composite_peak_rss_mb": round(runs[COMPOSITE][1], 1),
            "mismatched_pixels": sum(mismatches.values()),
        },
        "mismatched_pixels": mismatches,
        "notes": (
            f"{dates} dates x {bands} bands x {size}² uint16, {cloud:.0%} cloud; each route in "
            f"its own process on the same generated stack; nanmedian baselines run in "
            f"{baseline_rows}-row strips (at 50 x 6 x 2048² the whole float copy does not fit "
            "this machine's memory), "
            "their peak RSS is the stack plus one strip's float copies; the numba routes need "
            f"no float copy; seconds: median of {repeats} runs for the numba routes, one run "
            "for the baselines"
        ),
        "results": [
            {
                "route": name,
                "seconds": round(run[0], 3),
                "repeats": counts[name],
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
        h = min(edge, size - i * edge)
        w = min(edge, size - j * edge)
        data = np.empty((1, bands, h, w), np.uint16)
        fill_block(data[0], t, i * edge, j * edge, size, cloud)
        return data

    spatial = (edge,) * (size // edge) + ((size % edge,) if size % edge else ())
    arr = da.map_blocks(block, chunks=((1,) * dates, (bands,), spatial, spatial), dtype=np.uint16)
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


def _aoi_child(shape: Shape, budget_mb: float, out: str, conn: Any) -> None:
    """Composite a lazily generated AOI-size cube to Zarr in a fresh process."""
    import dask

    from cube.composite import composite
    from cube.load import chunk_edge
    from cube.store import StoreLocation, write_dataset

    dates, bands, size, cloud = shape
    edge = chunk_edge(budget_mb, dates, bands)
    ds = composite(_lazy_cube(dates, bands, size, cloud, edge))
    tasks = len(ds.__dask_graph__())
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=CPUS):
        write_dataset(ds, StoreLocation(out, "benchmark"), "composite.zarr", "composite")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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

    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="composite-bench-") as out:
        result: dict[str, Any] = _spawn(_aoi_child, (dates, bands, size, cloud), budget_mb, out)
    return {
        "config": {
            "dates": dates,
            "bands": bands,
            "size": size,
            "cloud_fraction": cloud,
            "memory_budget_mb": budget_mb,
            "scheduler": f"threads, {CPUS} workers",
        },
        "cube_gb": dates * bands * size * size * 2 / 2**30,
        "loadavg_1min_before_after": [load_before, _load()],
        **result,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exit 1 if a numba route differs from ``numpy.nanmedian``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.composite_benchmark")
    parser.add_argument("--dates", type=int, default=50)
    parser.add_argument("--bands", type=int, default=6)
    parser.add_argument("--size", type=int, default=2048, help="px edge of the in-memory stack")
    parser.add_argument("--cloud", type=float, default=0.3)
    parser.add_argument(
        "--baseline-rows", type=int, default=256, help="image rows per nanmedian strip"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each numba route")
    parser.add_argument("--json", "--output", dest="output", type=Path, default=RESULTS)
    parser.add_argument(
        "--aoi-size", type=int, default=12_000, help="px edge of the lazy AOI cube (0: skip)"
    )
    parser.add_argument("--aoi-dates", type=int, default=50)
    parser.add_argument("--memory-budget-mb", type=float, default=1024.0)
    args = parser.parse_args(argv)
    record = run_benchmark(
        args.dates,
        args.bands,
        args.size,
        args.cloud,
        args.memory_budget_mb,
        args.baseline_rows,
        args.repeats,
    )
    if args.aoi_size:
        aoi = run_aoi_benchmark(
            args.aoi_dates, args.bands, args.aoi_size, args.cloud, args.memory_budget_mb
        )
        record["aoi_cube_to_zarr"] = aoi
        record["summary"].update(
            {
                f"aoi_{args.aoi_size}px_{args.aoi_dates}_dates_seconds": aoi["seconds"],
                f"aoi_{args.aoi_size}px_{args.aoi_dates}_dates_peak_rss_mb": aoi["peak_rss_mb"],
            }
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(
        json.dumps({k: record[k] for k in ("summary", "aoi_cube_to_zarr") if k in record}, indent=2)
    )
    return 0 if not record["summary"]["mismatched_pixels"] else 1


if __name__ == "__main__":
    sys.exit(main())
