"""``python -m cube.run monitor``: detections per epoch → tracked sites → alerts → STAC.

For each epoch (``--epochs 2023H1,2023H2`` or ``2024-01-01/2024-06-30,...``) in time order:

1. ``ingest`` the AOI over the epoch's dates into its own store ``{aoi}_{epoch}`` (stages
   already complete there are reused);
2. ``detect`` on that store (probability Zarr + COG, polygons);
3. add Sentinel-1 persistence evidence and fuse the score when the store holds an S1 cube
   (``s1.zarr``);
4. fold the detections into the AOI's site register (:func:`serving.sites.track_epoch`):
   coverage from each epoch's composite ``clear_count``, known/novel against the known-site
   register, ``new_construction`` / ``decommissioned`` alerts;
5. store detections, sites, observations and alerts in PostGIS in one transaction per epoch;
6. from the second epoch on, write change layers N-1 → N (probability difference, ΔNDBI,
   ΔBSI: ``change.zarr`` + the ``change.tif`` COG) into the store of epoch N.

Epochs already tracked in PostGIS are not run again (their detections are read back), so a
second call with one more epoch only processes the new one. Review verdicts are applied to
site status first, and the known-site register (``--known-sites`` or the packaged one) is
upserted into ``known_sites`` so detections and sites link to it. Finally detections and
sites are exported as a STAC Collection at ``{store}/{aoi}/stac/collection.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import xarray as xr
from rich.console import Console
from rich.table import Table
from shapely.geometry import mapping

from cube.aoi import AOI, parse_aoi
from cube.commands.detect import add_min_area_option
from cube.commands.subcommand import sub_args
from cube.epochs import Epoch, parse_epochs
from cube.errors import DataError, InvalidInputError, LaunchwatchError, StoreIncompleteError
from cube.known_sites import buffer_sites, load_known_sites, write_known_sites
from cube.settings import Settings

__all__ = ["add_parser", "run"]

_console = Console()
_DETECTION_COLUMNS = [
    "geometry",
    "score",
    "area_km2",
    "compactness",
    "model_version",
    "aoi",
    "evidence",
]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``monitor`` and its options."""
    p = subparsers.add_parser(
        "monitor", help="detect per epoch, track sites over time, raise change alerts"
    )
    p.add_argument("--aoi", required=True, help="AOI name, GeoJSON file or minx,miny,maxx,maxy")
    p.add_argument(
        "--epochs",
        required=True,
        help="comma-separated epochs in time order: 2023H1, 2024Q2, 2024 or START/END dates",
    )
    p.add_argument("--model", default=None, help="checkpoint (.ckpt/.pt), .onnx or MLflow URI")
    p.add_argument("--catalog", default=None, help="STAC API URL or ItemCollection path")
    p.add_argument("--store", default=None, help="store root URL (default: settings)")
    p.add_argument("--known-sites", default=None, help="known-sites GeoJSON (default: packaged)")
    p.add_argument("--known-buffer-m", type=float, default=2000.0, help="known-site radius")
    p.add_argument("--serving-mode", choices=("local", "triton"), default=None)
    p.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default=None)
    p.add_argument("--triton-url", default=None, help="Triton gRPC HOST:PORT")
    p.add_argument("--triton-model", default="unet_seg", help="model name in Triton")
    p.add_argument("--model-version", default=None, help="version recorded with detections")
    p.add_argument("--threshold", type=float, default=0.5, help="probability threshold")
    add_min_area_option(p)
    p.add_argument("--dedup-eps-m", type=float, default=250.0, help="DBSCAN radius (metres)")
    p.add_argument("--alert-threshold", type=float, default=0.6, help="score for alerts")
    p.add_argument("--min-clear-looks", type=float, default=3.0, help="trusted coverage")
    p.add_argument("--match-distance-m", type=float, default=100.0, help="site matching")
    p.add_argument("--memory-budget-mb", type=float, default=1024.0, help="sets chunk sizes")
    p.add_argument("--scheduler", default=None, help="threads|synchronous|tcp://HOST:PORT")
    p.add_argument("--no-db", action="store_true", help="track in memory, store nothing")
    p.add_argument("--no-stac", action="store_true", help="skip the STAC export")
    p.add_argument(
        "--s1",
        action="store_true",
        help="also ingest Sentinel-1 RTC per epoch (s1.zarr) for backscatter evidence",
    )
    p.set_defaults(func=run)


def _epoch_aoi(aoi: AOI, epoch: Epoch, folder: Path) -> str:
    """A GeoJSON AOI file named ``{aoi}_{epoch}`` (its stem becomes the store name)."""
    path = folder / f"{aoi.name}_{epoch.name}.geojson"
    path.write_text(json.dumps({"type": "Feature", "geometry": mapping(aoi.geometry)}))
    return str(path)


def _ingest(
    args: argparse.Namespace, settings: Settings, root: str, spec: str, epoch: Epoch
) -> None:
    import importlib

    try:
        ingest = importlib.import_module("cube.commands.ingest")
    except ImportError as exc:
        raise DataError("no ingest stage is available to build the epoch stores") from exc
    ns = sub_args(
        ingest,
        "ingest",
        ["--aoi", spec],
        store=root,
        catalog=args.catalog,
        start=epoch.start.isoformat(),
        end=epoch.end.isoformat(),
        memory_budget_mb=args.memory_budget_mb,
        scheduler=args.scheduler,
        no_db=args.no_db,
        collections=["sentinel-2-l2a", *(["sentinel-1-rtc"] if args.s1 else [])],
    )
    if ingest.run(ns, settings) != 0:
        raise DataError(f"ingest of {Path(spec).stem} failed")


def _detect(
    args: argparse.Namespace, settings: Settings, root: str, spec: str, epoch: Epoch, out: Path
) -> gpd.GeoDataFrame:
    from cube.commands import detect as detect_cmd

    output = out / f"{Path(spec).stem}.detections.geojson"
    ns = sub_args(
        detect_cmd,
        "detect",
        ["--aoi", spec],
        store=root,
        catalog=args.catalog,
        start=epoch.start.isoformat(),
        end=epoch.end.isoformat(),
        model=args.model,
        serving_mode=args.serving_mode,
        backend=args.backend,
        triton_url=args.triton_url,
        triton_model=args.triton_model,
        model_version=args.model_version,
        output=output,
        threshold=args.threshold,
        min_area_km2=args.min_area_km2,
        dedup_eps_m=args.dedup_eps_m,
        memory_budget_mb=args.memory_budget_mb,
        scheduler=args.scheduler,
        no_db=True,
    )
    if detect_cmd.run(ns, settings) != 0:
        raise DataError(f"detect of {Path(spec).stem} failed")
    det = gpd.read_file(output)
    if det.empty:
        return gpd.GeoDataFrame(
            {c: [] for c in _DETECTION_COLUMNS[1:]}, geometry=[], crs="EPSG:4326"
        )
    det["evidence"] = [json.loads(e) if isinstance(e, str) else dict(e) for e in det["evidence"]]
    return det.to_crs(4326)


def _georeferenced(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]`` with the dataset's CRS (a ``spatial_ref`` read back as a data variable)."""
    if "spatial_ref" in ds.data_vars:
        ds = ds.set_coords("spatial_ref")
    layer = ds[name]
    if layer.rio.crs is None and ds.rio.crs is not None:
        layer = layer.rio.write_crs(ds.rio.crs)
    return layer


def _clear_count(loc: Any) -> xr.DataArray | None:
    """The composite's ``clear_count`` layer (lazy), or ``None`` when not stored."""
    from cube.store import open_dataset

    try:
        ds = open_dataset(loc, "composite.zarr", "composite")
    except (StoreIncompleteError, FileNotFoundError, KeyError):
        return None
    return _georeferenced(ds, "clear_count") if "clear_count" in ds else None


def _s1_fused(det: gpd.GeoDataFrame, loc: Any) -> gpd.GeoDataFrame:
    """Detections with S1 evidence and fused scores when the store has ``s1.zarr``."""
    from cube.store import open_dataset
    from serving.s1_evidence import apply_s1_evidence, s1_persistence

    if det.empty:
        return det
    try:
        ds = open_dataset(loc, "s1.zarr", "s1")
    except (StoreIncompleteError, FileNotFoundError, KeyError):
        return det
    name = next(v for v in ds.data_vars if v != "spatial_ref")
    stats = s1_persistence(_georeferenced(ds, str(name))).persist()
    return apply_s1_evidence(det, stats)


def _write_change(before: Any, after: Any, previous: Epoch) -> str:
    """Write ``change.zarr`` + ``change.tif`` (N-1 → N) into the store of epoch N."""
    from cube.store import open_dataset, write_cog, write_dataset
    from serving.change import change_layers, change_stack

    def layer(loc: Any, name: str, stage: str) -> xr.DataArray:
        return _georeferenced(open_dataset(loc, f"{name}.zarr", stage), name)

    layers = change_layers(
        layer(before, "features", "features"),
        layer(after, "features", "features"),
        layer(before, "probability", "probability"),
        layer(after, "probability", "probability"),
    ).assign_attrs(previous_epoch=previous.name, previous_store=before.url())
    write_dataset(layers, after, "change.zarr", "change")
    stored = open_dataset(after, "change.zarr", "change")
    crs = layers.rio.crs
    return str(write_cog(change_stack(stored).rio.write_crs(crs), after, "change.tif"))


def _assets(loc: Any) -> dict[str, str]:
    return {"probability": loc.url("probability.tif"), "composite": loc.url("composite.tif")}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every epoch, track sites, store alerts, export STAC; print a summary table."""
    from cube.store import StoreLocation, stage_done
    from serving.sites import RasterCoverage, TrackConfig, empty_sites, track_epoch
    from serving.sites_db import (
        apply_reviews,
        read_epoch_detections,
        read_sites,
        tracked_epochs,
        write_epoch,
    )
    from serving.stac_export import build_collection, write_collection

    aoi = parse_aoi(args.aoi)
    epochs = parse_epochs(args.epochs)
    config = TrackConfig(
        alert_threshold=args.alert_threshold,
        min_clear_looks=args.min_clear_looks,
        match_distance_m=args.match_distance_m,
    )
    mode = args.serving_mode or ("triton" if args.triton_url or settings.triton_url else "local")
    if mode == "local" and not args.model:
        raise InvalidInputError("--model is required with --serving-mode local")
    register = load_known_sites(args.known_sites)
    known = buffer_sites(register, args.known_buffer_m)
    root = (args.store or settings.store_root).rstrip("/")
    opts = settings.storage_options if root.startswith("s3://") else None
    dsn = settings.postgres_dsn
    done: list[str] = []
    sites = empty_sites()
    if not args.no_db:
        write_known_sites(dsn, register, args.known_buffer_m)
        apply_reviews(dsn, aoi.name)
        done = tracked_epochs(dsn, aoi.name)
        sites = read_sites(dsn, aoi.name)

    layers: dict[str, xr.DataArray] = {}
    coverage = RasterCoverage(layers)
    frames: list[gpd.GeoDataFrame] = []
    assets: dict[str, dict[str, str]] = {}
    stores: dict[str, str] = {}
    table = Table(title=f"monitor {aoi.name}")
    for col in ("epoch", "store", "detections", "low coverage", "new sites", "alerts"):
        table.add_column(col, justify="right")
    previous: Epoch | None = None
    with tempfile.TemporaryDirectory(prefix="monitor-") as tmp:
        folder = Path(tmp)
        for epoch in epochs:
            store = f"{aoi.name}_{epoch.name}"
            loc = StoreLocation(root, store, opts)
            assets[epoch.name], stores[epoch.name] = _assets(loc), loc.url("").rstrip("/")
            if epoch.name in done:
                layer = _clear_count(loc)
                if layer is not None:
                    layers[epoch.name] = layer
                frames.append(read_epoch_detections(dsn, store, epoch.name))
                table.add_row(epoch.name, store, "(tracked)", "-", "-", "-")
                previous = epoch
                continue
            _console.rule(f"[bold]{epoch.name}[/bold] {store}")
            spec = _epoch_aoi(aoi, epoch, folder)
            if not stage_done(loc, "features"):
                _ingest(args, settings, root, spec, epoch)
            det = _detect(args, settings, root, spec, epoch, folder)
            det = _s1_fused(det, loc).assign(aoi=aoi.name)
            layer = _clear_count(loc)
            if layer is not None:
                layers[epoch.name] = layer
            if previous is not None:
                before_loc = StoreLocation(root, f"{aoi.name}_{previous.name}", opts)
                assets[epoch.name]["change"] = _write_change(before_loc, loc, previous)
            before = set(sites["site_key"])
            result = track_epoch(
                sites, det, epoch, coverage, config, previous=previous, known=known
            )
            annotated = result.detections
            if not args.no_db:
                ids = write_epoch(dsn, result, epoch, store_aoi=store)
                annotated = annotated.assign(id=ids.detections, aoi=store)
                sites = read_sites(dsn, aoi.name)
            else:
                sites = result.sites
            frames.append(annotated)
            low = sum("low_coverage" in f for f in annotated["flags"])
            new = len(set(result.sites["site_key"]) - before)
            kinds = ", ".join(f"{k}:{n}" for k, n in result.alerts["kind"].value_counts().items())
            table.add_row(epoch.name, store, str(len(annotated)), str(low), str(new), kinds or "0")
            previous = epoch
    _console.print(table)
    if not args.no_stac:
        detections = gpd.GeoDataFrame(
            pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326"
        )
        try:
            collection = build_collection(aoi.name, detections, sites, epochs, assets, stores)
            href = write_collection(collection, f"{root}/{aoi.name}/stac", opts)
        except LaunchwatchError as exc:
            _console.print(f"[red]STAC export failed:[/red] {exc}")
            return 1
        _console.print(f"STAC collection: {href}")
    return 0
