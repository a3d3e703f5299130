"""Inference benchmark: ``python -m benchmarks.inference_benchmark``.

Modes: ``baseline`` (torch eager), ``onnxruntime``, ``openvino``, ``triton`` (local CPU
tritonserver, python backend + onnxruntime, dynamic batching) and ``triton_memopt`` (Triton with
the smallest chunks the tile allows: lowest memory). For each raster size / batch size /
overlap it runs the full lazy blended :func:`serving.predict.predict` over a synthetic
10-band GeoTIFF (unless ``--raster``) and reports tiles/s, per-batch latency p50/p95/p99
(a separate loop of ``--latency-batches`` predictor calls), peak RSS (``getrusage``, process
high-water mark, so monotone across runs), peak Python allocations (``tracemalloc``) and GPU
utilisation when ``pynvml`` finds a GPU. Results go to ``benchmarks/results/inference.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rioxarray
import torch
import xarray as xr
from rasterio.transform import from_origin
from rich.console import Console
from rich.table import Table

from deploy.local.process import free_port
from deploy.local.triton import TritonService
from models.registry import create_model
from serving.export import export_onnx
from serving.predict import predict
from serving.predictors import PredictorSpec, get_predictor
from serving.triton_repo import local_config, write_model_repository

MODES = ("baseline", "onnxruntime", "openvino", "triton", "triton_memopt")
RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _json_default(value: object) -> float | str:
    return float(value) if isinstance(value, np.floating) else str(value)


def synthetic_raster(path: Path, size: int, seed: int = 0) -> Path:
    """Write a 10-band float32 GeoTIFF (UTM, 10 m) of ``size`` x ``size`` px in 512-px strips."""
    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 10,
        "dtype": "float32",
        "crs": "EPSG:32617",
        "transform": from_origin(500_000, 3_100_000, 10, 10),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, size, 512):
            h = min(512, size - y)
            dst.write(
                rng.random((10, h, size), dtype=np.float32),
                window=rasterio.windows.Window(0, y, size, h),
            )
    return path


def _calibrated_model(name: str, dest: Path) -> Path:
    """A ``name`` model with BN statistics from random batches, saved as a state dict."""
    torch.manual_seed(0)
    net = create_model(name).train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.rand(2, 10, 256, 256))
    path = dest / f"{name}.pt"
    torch.save(net.eval().state_dict(), path)
    return path


def _latency(spec: PredictorSpec, batch: int, n: int) -> dict[str, float]:
    pred = get_predictor(spec)
    x = np.random.default_rng(1).random((batch, 10, 256, 256), dtype=np.float32)
    pred.predict(x)  # warm-up
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        pred.predict(x)
        times.append(time.perf_counter() - t0)
    p = np.percentile(times, [50, 95, 99]) * 1000
    return {"latency_ms_p50": p[0], "latency_ms_p95": p[1], "latency_ms_p99": p[2]}


def _gpu_util() -> float | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:
        return None


def run_case(
    spec: PredictorSpec, raster: Path, batch: int, overlap: int, chunk: int, latency_batches: int
) -> dict[str, Any]:
    """Benchmark one configuration (latency loop first: it also warms the predictor up)."""
    latency = _latency(spec, batch, latency_batches)
    opened = rioxarray.open_rasterio(raster, chunks={"y": chunk, "x": chunk})
    assert isinstance(opened, xr.DataArray)
    feats = opened.assign_coords(band=np.arange(10))
    stride = 256 - overlap
    n_tiles = int(np.ceil(feats.sizes["y"] / stride) * np.ceil(feats.sizes["x"] / stride))
    tracemalloc.start()
    t0 = time.perf_counter()
    predict(feats, spec, 256, overlap, batch, chunk).compute(scheduler="synchronous")
    wall = time.perf_counter() - t0
    _, peak_py = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out: dict[str, Any] = {
        "wall_s": wall,
        "tiles": n_tiles,
        "tiles_per_s": n_tiles / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_python_alloc_mb": peak_py / 2**20,
        "gpu_util_pct": _gpu_util(),
    }
    out.update(latency)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark grid and write JSON + a table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference_benchmark")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--raster", type=Path, default=None, help="10-band GeoTIFF")
    parser.add_argument("--raster-sizes", default="1024,4096,11000")
    parser.add_argument("--batch-sizes", default="1,8,16,32")
    parser.add_argument("--overlaps", default="0,32,64")
    parser.add_argument("--model-name", default="unet_r34")
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--latency-batches", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_s:
        tmp = Path(tmp_s)
        ckpt = _calibrated_model(args.model_name, tmp)
        from serving.checkpoint import load_torch_model

        onnx_path = tmp / "model.onnx"
        export_onnx(load_torch_model(ckpt, args.model_name), onnx_path, batch_sizes=(1, 8))
        triton: TritonService | None = None
        if {"triton", "triton_memopt"} & set(modes):
            write_model_repository(onnx_path, tmp / "repo", local_config())
            triton = TritonService(
                tmp / "triton", tmp / "repo", free_port(), free_port(), free_port()
            )
            triton.start()
        try:
            rasters = (
                {0: args.raster}
                if args.raster
                else {s: synthetic_raster(tmp / f"r{s}.tif", s) for s in _ints(args.raster_sizes)}
            )
            for size, raster in rasters.items():
                for mode in modes:
                    for batch in _ints(args.batch_sizes):
                        for overlap in _ints(args.overlaps):
                            if mode == "baseline":
                                spec = PredictorSpec("torch", str(ckpt), args.model_name)
                            elif mode in ("onnxruntime", "openvino"):
                                spec = PredictorSpec(mode, str(onnx_path))
                            else:
                                assert triton is not None
                                spec = PredictorSpec(
                                    "triton", "unet_seg", triton_url=triton.grpc_url
                                )
                            chunk = 512 if mode == "triton_memopt" else args.chunk
                            res = run_case(
                                spec, raster, batch, overlap, chunk, args.latency_batches
                            )
                            rows.append(
                                {
                                    "mode": mode,
                                    "raster": size,
                                    "batch": batch,
                                    "overlap": overlap,
                                    "chunk": chunk,
                                    **res,
                                }
                            )
                            Console().print(rows[-1])
        finally:
            if triton is not None:
                triton.stop()
    report = {
        "machine": {"platform": platform.platform(), "cpus": torch.get_num_threads()},
        "model": args.model_name,
        "config": {k: str(v) for k, v in vars(args).items()},
        "notes": (
            "peak_rss_mb is the process high-water mark (getrusage), so it only grows across "
            "the runs in the order listed; tiles counts the global-grid tiles of the raster; "
            "latency is one predictor call on a batch after one warm-up call; the raster run "
            "is timed after the latency loop (warm predictor)"
        ),
        "tile": 256,
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=_json_default))
    table = Table(title=f"inference benchmark ({args.model_name}, 256-px tiles)")
    for col in (
        "mode",
        "raster",
        "batch",
        "overlap",
        "tiles/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "peak RSS MB",
        "py peak MB",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["mode"],
            str(r["raster"]),
            str(r["batch"]),
            str(r["overlap"]),
            f"{r['tiles_per_s']:.2f}",
            f"{r['latency_ms_p50']:.0f}",
            f"{r['latency_ms_p95']:.0f}",
            f"{r['latency_ms_p99']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['peak_python_alloc_mb']:.0f}",
        )
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
