"""``python -m benchmarks.composite_benchmark``: uint16 numba median vs ``numpy.nanmedian``.

A realistic cloudy stack (default 30 dates x 6 bands x 1024² uint16, ~35 % of the
observations masked) is composited by :func:`cube.composite.median_kernel` and by the float
routes (a float32 or float64 copy with NaN for masked, then ``numpy.nanmedian``; float64 is
what ``xarray``'s ``median(skipna=True)`` computes). Both run in one process,
one after the other, on the same array; the results are checked equal (after the documented
rounding) and the speed-up and the extra memory of each route (``tracemalloc`` peak of
Python/numpy allocations) are written to ``benchmarks/results/composite.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cube.composite import median_kernel

__all__ = ["main", "run_benchmark"]

RESULTS = Path(__file__).resolve().parent / "results" / "composite.json"


def _stack(dates: int, bands: int, size: int, cloud: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.integers(200, 6000, (dates, bands, size, size), dtype=np.uint16)
    clouds = rng.random((dates, 1, size, size)) < cloud
    data[np.broadcast_to(clouds, data.shape)] = 0
    return data


def _float32_route(stack: np.ndarray) -> np.ndarray:
    as_float = np.where(stack == 0, np.float32(np.nan), stack.astype(np.float32))
    out: np.ndarray = np.nanmedian(as_float, axis=0)
    return out


def _float64_route(stack: np.ndarray) -> np.ndarray:
    """What ``xarray``'s ``.where(valid).median("time")`` does: float64 + nanmedian."""
    as_float = np.where(stack == 0, np.nan, stack.astype(np.float64))
    out: np.ndarray = np.nanmedian(as_float, axis=0)
    return out


def _measure(fn: Callable[[np.ndarray], np.ndarray], stack: np.ndarray) -> tuple[Any, float, float]:
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn(stack)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def run_benchmark(dates: int, bands: int, size: int, cloud: float) -> dict[str, Any]:
    """Time both routes on one stack; return the JSON record."""
    stack = _stack(dates, bands, size, cloud)
    median_kernel(np.ascontiguousarray(stack[:, :, :8, :8]))  # compile outside the timing
    fast, t_fast, mem_fast = _measure(median_kernel, stack)
    f32, t_f32, mem_f32 = _measure(_float32_route, stack)
    f64, t_f64, mem_f64 = _measure(_float64_route, stack)
    mismatches = sum(
        int((fast != np.nan_to_num(np.round(ref)).astype(np.uint16)).sum()) for ref in (f32, f64)
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "config": {"dates": dates, "bands": bands, "size": size, "cloud_fraction": cloud},
        "summary": {
            "speedup_vs_float64_nanmedian": t_f64 / t_fast,
            "speedup_vs_float32_nanmedian": t_f32 / t_fast,
            "memory_ratio_float64_vs_numba": mem_f64 / max(mem_fast, 1e-6),
            "mismatched_pixels": mismatches,
        },
        "results": [
            {"route": "numba uint16 median", "seconds": t_fast, "peak_alloc_mb": mem_fast},
            {"route": "float32 numpy.nanmedian", "seconds": t_f32, "peak_alloc_mb": mem_f32},
            {"route": "float64 numpy.nanmedian", "seconds": t_f64, "peak_alloc_mb": mem_f64},
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.composite_benchmark")
    parser.add_argument("--dates", type=int, default=30)
    parser.add_argument("--bands", type=int, default=6)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--cloud", type=float, default=0.35)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    record = run_benchmark(args.dates, args.bands, args.size, args.cloud)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2))
    print(json.dumps(record["summary"], indent=2))
    return 0 if record["summary"]["mismatched_pixels"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
