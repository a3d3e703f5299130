"""``python -m cube.run detect``: features → probability (Zarr + COG) → polygons → PostGIS."""

from __future__ import annotations

import argparse
import importlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import xarray as xr
from dask.diagnostics import ProgressBar
from rich.console import Console
from rich.table import Table

from cube.aoi import parse_aoi
from cube.errors import DataError, InvalidInputError, StoreIncompleteError
from cube.gpu_metrics import GpuStats, gpu_metrics, gpu_table
from cube.provenance import code_version
from cube.settings import Settings
from serving.detections_db import insert_detections, write_detections_file
from serving.model_source import model_version, resolve_model
from serving.postprocess import PostprocessConfig, detections_frame, polygonize
from serving.predict import chunk_size_for_budget, predict
from serving.predictors import PredictorSpec, fastest_local_backend

__all__ = ["DetectResult", "add_min_area_option", "add_parser", "detect", "run"]


def add_min_area_option(p: argparse.ArgumentParser) -> None:
    """``--min-area-km2`` (default 5 ha), shared by the commands that polygonise."""
    p.add_argument(
        "--min-area-km2",
        type=float,
        default=0.05,
        help="smaller blobs are dropped (5 ha: less than any launch complex with its pad area)",
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``detect`` and its options."""
    p = subparsers.add_parser("detect", help="scan an AOI with the model and store detections")
    p.add_argument("--aoi", required=True, help="AOI name, GeoJSON file or minx,miny,maxx,maxy")
    p.add_argument("--catalog", default=None, help="STAC API URL or ItemCollection path (ingest)")
    p.add_argument("--start", default=None, help="ISO start date (ingest)")
    p.add_argument("--end", default=None, help="ISO end date (ingest)")
    p.add_argument("--store", default=None, help="store root URL (default: settings)")
    p.add_argument("--model", default=None, help="checkpoint (.ckpt/.pt), .onnx or MLflow URI")
    p.add_argument("--model-name", default=None, help="registry name for a plain .pt state dict")
    p.add_argument("--serving-mode", choices=("local", "triton"), default=None)
    p.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default=None)
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="torch backend: tile, infer and blend on this device (auto: CUDA when present)",
    )
    p.add_argument("--triton-url", default=None, help="Triton gRPC HOST:PORT")
    p.add_argument("--triton-model", default="unet_seg", help="model name in Triton")
    p.add_argument(
        "--model-version",
        default=None,
        help="version recorded with the detections (default: file hash, or triton:<model>)",
    )
    p.add_argument("--output", type=Path, default=None, help="detections .geojson or .gpkg")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--dedup-eps-m", type=float, default=250.0, help="DBSCAN radius (metres)")
    add_min_area_option(p)
    p.add_argument("--max-area-km2", type=float, default=25.0, help="larger blobs are dropped")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--memory-budget-mb", type=float, default=1024.0, help="sets chunk sizes")
    p.add_argument("--scheduler", default=None, help="threads|synchronous|tcp://HOST:PORT|cuda")
    p.add_argument("--no-db", action="store_true", help="do not write to PostGIS")
    p.set_defaults(func=run)


def _features(args: argparse.Namespace, settings: Settings, loc: Any) -> xr.DataArray:
    """Open ``features.zarr``, running the ingest stage first when it is missing."""
    from cube.store import open_dataset

    try:
        ds = open_dataset(loc, "features.zarr", "features")
    except (StoreIncompleteError, FileNotFoundError, KeyError):
        try:
            ingest = importlib.import_module("cube.commands.ingest")
        except ImportError as exc:
            raise DataError(
                f"features.zarr of AOI {loc.aoi} is missing and no ingest stage is available: "
                f"run `python -m cube.run ingest --aoi {args.aoi}` first"
            ) from exc
        if ingest.run(args, settings) != 0:
            raise DataError(f"ingest of AOI {loc.aoi} failed") from None
        ds = open_dataset(loc, "features.zarr", "features")
    name = "features" if "features" in ds else next(iter(ds.data_vars))
    return ds[name]


@dataclass(frozen=True)
class DetectResult:
    """What one ``detect`` did; ``gpu``: per-GPU metrics of a GPU run (else empty)."""

    aoi: str
    detections: int
    stored: int
    output: Path | None
    gpu: list[GpuStats]


def _torch_on_cuda(device: str, scheduler: str | None) -> bool:
    """The torch backend computes on CUDA (``auto``: a GPU on this machine, local run)."""
    if device == "cuda":
        return True
    if device != "auto" or (scheduler is not None and "://" in scheduler):
        return False
    import torch

    return bool(torch.cuda.is_available())


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run detection for one AOI and print a summary table."""
    detect(args, settings)
    return 0


def detect(args: argparse.Namespace, settings: Settings) -> DetectResult:
    """Run detection for one AOI; print the summary table, and per-GPU metrics on a GPU run.

    On the GPU path (``--scheduler cuda``, or the torch backend on CUDA) NVML is sampled
    while the Dask work runs (:func:`cube.gpu_metrics.gpu_metrics`).
    """
    from cube.cluster import make_client
    from cube.store import StoreLocation, open_dataset, read_manifest, write_cog, write_dataset

    aoi = parse_aoi(args.aoi, args.start, args.end)
    root = args.store or settings.store_root
    opts = settings.storage_options if root.startswith("s3://") else None
    loc = StoreLocation(root, aoi.name, opts)
    triton_url = args.triton_url or settings.triton_url
    mode = args.serving_mode or ("triton" if triton_url else "local")
    chunk = chunk_size_for_budget(args.memory_budget_mb, args.tile)
    config = PostprocessConfig(
        args.threshold, args.min_area_km2, args.dedup_eps_m, args.max_area_km2
    )
    with tempfile.TemporaryDirectory(prefix="detect-") as tmp:
        if mode == "triton":
            if not triton_url:
                raise InvalidInputError("--serving-mode triton needs --triton-url or TRITON_URL")
            spec = PredictorSpec("triton", args.triton_model, triton_url=triton_url)
            version = args.model_version or f"triton:{args.triton_model}"
        else:
            if not args.model:
                raise InvalidInputError("--model is required with --serving-mode local")
            backend = args.backend or fastest_local_backend()
            spec = resolve_model(
                args.model, backend, Path(tmp), args.model_name, settings.effective_mlflow_uri
            )
            if spec.backend == "torch":
                spec = replace(spec, device=getattr(args, "device", "auto"))
            version = args.model_version or model_version(spec.model)
        features = _features(args, settings, loc)
        on_gpu = spec.backend == "torch" and _torch_on_cuda(spec.device, args.scheduler)
        with make_client(args.scheduler), gpu_metrics(args.scheduler, on_gpu) as gpu:
            with ProgressBar():
                prob = predict(features, spec, args.tile, args.overlap, args.batch, chunk)
                # the model version is part of the store's fingerprint: an interrupted run
                # resumes its regions only with the same model
                layer = prob.assign_attrs(model_version=version).to_dataset(name="probability")
                write_dataset(layer, loc, "probability.zarr", "probability")
            prob = open_dataset(loc, "probability.zarr", "probability")["probability"]
            cog = write_cog(prob, loc, "probability.tif")
            polygons = polygonize(prob, config)
    manifest = read_manifest(loc)
    evidence = {
        "scenes": manifest.get("scenes", []),
        "dates": manifest.get("dates", [aoi.start.isoformat(), aoi.end.isoformat()]),
        "features": loc.url("features.zarr"),
        "probability": loc.url("probability.zarr"),
        "probability_cog": cog,
        "backend": spec.backend,
        "serving_mode": mode,
        "model_version": version,
        "code_version": code_version(),
        "threshold": config.threshold,
        "dedup_eps_m": config.dedup_eps_m,
        "tile": args.tile,
        "overlap": args.overlap,
    }
    det = detections_frame(polygons, version, aoi.name, evidence)
    ids = [] if args.no_db else insert_detections(settings.postgres_dsn, det)
    if args.output is not None:
        write_detections_file(det, args.output)
    table = Table(title=f"detect {aoi.name}")
    table.add_column("item")
    table.add_column("value", justify="right")
    for key, value in (
        ("serving", f"{mode} / {spec.backend}"),
        ("model", version),
        ("raster", f"{features.sizes['y']} x {features.sizes['x']} px"),
        ("chunk", f"{chunk} px"),
        ("detections", str(len(det))),
        ("stored in PostGIS", str(len(ids))),
        ("probability", loc.url("probability.zarr")),
        ("output", str(args.output or "-")),
    ):
        table.add_row(key, value)
    console = Console()
    console.print(table)
    if gpu:
        console.print(gpu_table(gpu, title=f"GPUs during detect {aoi.name}"))
    return DetectResult(aoi.name, len(det), len(ids), args.output, gpu)
