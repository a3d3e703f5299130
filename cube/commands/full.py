"""``python -m cube.run full``: ingest → train → export → detect → evaluate, for several AOIs.

The stages are the other subcommands, called in order with their own defaults:

1. ``ingest`` every AOI (search → cube → mask → composite → features → tiles + weak labels);
   stages already complete in the store are reused (``--force`` starts the AOI afresh).
2. ``train`` on the tiles of ``--train-aoi`` (default: the first AOI whose store has tiles);
   the model recorded in that AOI's manifest is reused unless ``--force``. ``--skip-training``
   takes ``--model`` instead.
3. Export the checkpoint to ONNX (validated against PyTorch) into a Triton model repository
   (python-backend variant for the local CPU Triton) and ask Triton to load it, when serving
   through Triton.
4. ``detect`` every AOI (Triton when ``TRITON_URL``/``--triton-url`` is set, else the fastest
   local backend) → probability Zarr + COG → polygons in PostGIS and a GeoJSON per AOI.
5. With ``--truth``: object-level precision/recall/F1 per AOI (held-out AOIs are the ones
   that did not train the model) and false alarms per 1,000 km² on confuser-only scenes
   (``--scenes``), written with per-stage timings and peak RSS to a JSON report (with the
   per-GPU metrics of each ``detect`` on a GPU run under ``gpu``).

A failing AOI is reported and the others go on; the exit code is 1 when any stage failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cube.aoi import AOI, parse_aoi
from cube.commands.subcommand import sub_args
from cube.errors import InvalidInputError, LaunchwatchError
from cube.settings import Settings

__all__ = ["StageTiming", "add_parser", "run"]

_console = Console()


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``full`` and its options."""
    p = subparsers.add_parser(
        "full", help="ingest → train → export → detect → evaluate for one or more AOIs"
    )
    p.add_argument("--aoi", nargs="+", required=True, help="AOI names, GeoJSON files or bboxes")
    p.add_argument("--train-aoi", default=None, help="AOI whose tiles train the model")
    p.add_argument("--start", default=None, help="ISO start date (default: the AOI's)")
    p.add_argument("--end", default=None, help="ISO end date (default: the AOI's)")
    p.add_argument("--catalog", default=None, help="STAC API URL or ItemCollection path")
    p.add_argument("--max-cloud", type=float, default=None, help="scene cloud cover limit (%%)")
    p.add_argument("--known-sites", default=None, help="GeoJSON of known sites (weak labels)")
    p.add_argument("--store", default=None, help="store root URL (default: the S3 bucket)")
    p.add_argument("--skip-ingest", action="store_true", help="use the existing stores")
    p.add_argument("--skip-training", action="store_true", help="detect with --model")
    p.add_argument("--model", default=None, help="checkpoint, .onnx or MLflow URI")
    p.add_argument("--preset", default="default", help="training preset: default or demo")
    p.add_argument("--epochs", type=int, default=None, help="maximum training epochs")
    p.add_argument("--max-minutes", type=float, default=None, help="training time limit")
    p.add_argument("--serving-mode", choices=("local", "triton"), default=None)
    p.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"), default=None)
    p.add_argument("--triton-url", default=None, help="Triton gRPC HOST:PORT")
    p.add_argument("--triton-model", default="unet_seg", help="model name in Triton")
    p.add_argument(
        "--model-repository",
        type=Path,
        default=None,
        help="Triton model repository (default: STATE_DIR/triton/model_repository)",
    )
    p.add_argument(
        "--triton-config",
        choices=("python", "gpu", "cpu"),
        default="python",
        help="model config published: python backend + onnxruntime (the embedded CPU Triton) "
        "or the stock onnxruntime backend on KIND_GPU / KIND_CPU (compose, Kubernetes)",
    )
    p.add_argument("--threshold", type=float, default=0.5, help="probability threshold")
    p.add_argument("--truth", type=Path, default=None, help="truth polygons (kind property)")
    p.add_argument("--scenes", type=Path, default=None, help="scene footprints (false alarms)")
    p.add_argument("--report", type=Path, default=None, help="evaluation/timing JSON path")
    p.add_argument("--memory-budget-mb", type=float, default=1024.0, help="sets chunk sizes")
    p.add_argument("--scheduler", default=None, help="threads|synchronous|tcp://HOST:PORT|cuda")
    p.add_argument("--no-db", action="store_true", help="do not write to PostGIS")
    p.add_argument("--force", action="store_true", help="redo stages that already exist")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class StageTiming:
    """Wall time and peak resident memory of one stage."""

    stage: str
    aoi: str
    seconds: float
    peak_rss_mib: float
    ok: bool
    error: str | None = None


@dataclass
class _Run:
    """Timings and failures of one ``full`` run."""

    timings: list[StageTiming] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def attempt(self, name: str, aoi: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run stage ``fn``; record its timing; a failure is recorded, not raised."""
        _reset_peak_rss()
        _console.rule(f"[bold]{name}[/bold] {aoi}")
        t0 = time.perf_counter()
        error: str | None = None
        value: Any = None
        try:
            value = fn()
        except (LaunchwatchError, OSError, RuntimeError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
            _console.print(f"[red]{name} {aoi} failed:[/red] {error}")
            if not isinstance(exc, LaunchwatchError):
                _console.print(traceback.format_exc(), style="dim")
            self.failed.append(f"{name} {aoi}: {error}")
        self.timings.append(
            StageTiming(name, aoi, time.perf_counter() - t0, _peak_rss_mib(), error is None, error)
        )
        return error is None, value


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs`` 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mib() -> float:
    """Peak RSS since the last reset (``VmHWM``), else the process maximum."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _location(root: str, aoi: str, settings: Settings) -> Any:
    from cube.store import StoreLocation

    return StoreLocation(root, aoi, settings.storage_options if root.startswith("s3://") else None)


def _forget(loc: Any) -> None:
    """Remove everything stored for the AOI (``--force``)."""
    from cube.store import open_fs

    fs = open_fs(loc)
    prefix = loc.url("").rstrip("/")
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)


def _train(args: argparse.Namespace, settings: Settings, root: str, aoi: str) -> dict[str, Any]:
    """Train on ``aoi`` (or reuse the model its manifest records) → model record."""
    from cube.commands import train as train_cmd
    from cube.store import read_manifest, update_manifest

    loc = _location(root, aoi, settings)
    known = read_manifest(loc).get("model")
    if known and not args.force and Path(known["checkpoint_path"]).is_file():
        _console.print(f"reusing model {known['model_version']} ({known['checkpoint_path']})")
        return dict(known)
    ns = sub_args(
        train_cmd,
        "train",
        ["--aoi", aoi, "--preset", args.preset],
        store=root,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
    )
    result = train_cmd.train(ns, settings)
    record = {
        "run_id": result.run_id,
        "checkpoint_path": str(result.checkpoint_path),
        "model_version": result.model_version,
        "best_score": result.best_score,
        "epochs_run": result.epochs_run,
    }
    update_manifest(loc, model=record)
    _console.print(f"MLflow run {result.run_id} → {result.model_version}")
    return record


def _publish(
    model: dict[str, Any],
    repo: Path,
    triton_model: str,
    triton_url: str | None,
    variant: str = "python",
) -> dict[str, Any]:
    """Export to ONNX in the Triton repository (validated) and load it in Triton."""
    from serving.checkpoint import load_torch_model
    from serving.export import export_onnx
    from serving.triton_repo import local_config, production_config, write_model_repository

    tail = str(model["model_version"]).rsplit("/", 1)[-1]
    version = int(tail) if tail.isdigit() else 1
    onnx_path = repo / triton_model / str(version) / "model.onnx"
    if not onnx_path.is_file():
        export_onnx(load_torch_model(model["checkpoint_path"]), onnx_path)
    config = (
        local_config()
        if variant == "python"
        else production_config("KIND_GPU" if variant == "gpu" else "KIND_CPU")
    )
    write_model_repository(onnx_path, repo, replace(config, name=triton_model), version)
    if triton_url:
        from serving.triton_client import TritonSegClient

        client = TritonSegClient(triton_url, triton_model)
        try:
            client.load()
        finally:
            client.close()
        _console.print(f"Triton at {triton_url} serves {triton_model} version {version}")
    return {**model, "onnx_path": str(onnx_path), "triton_version": version}


def _detect(
    args: argparse.Namespace,
    settings: Settings,
    root: str,
    aoi: str,
    spec: str,
    model: dict[str, Any],
    out: Path,
) -> tuple[Path, list[dict[str, Any]]]:
    """Detect on one AOI → its detections file and per-GPU metrics (empty off the GPU)."""
    from cube.commands import detect as detect_cmd
    from cube.store import read_manifest, update_manifest

    loc = _location(root, aoi, settings)
    done = read_manifest(loc).get("detected") or {}
    if (
        not args.force
        and done.get("model_version") == model["model_version"]
        and Path(done.get("output", "")).is_file()
    ):  # a second run must not store the same detections twice
        _console.print(f"reusing the detections of {aoi} by {model['model_version']}")
        return Path(done["output"]), []
    triton_url = args.triton_url or settings.triton_url
    mode = args.serving_mode or ("triton" if triton_url else "local")
    output = out / f"{aoi}.detections.geojson"
    ns = sub_args(
        detect_cmd,
        "detect",
        ["--aoi", spec],
        store=root,
        catalog=args.catalog,
        start=args.start,
        end=args.end,
        model=model.get("onnx_path") or model["checkpoint_path"],
        model_version=model["model_version"],
        serving_mode=mode,
        backend=args.backend or ("onnxruntime" if model.get("onnx_path") else None),
        triton_url=triton_url,
        triton_model=args.triton_model,
        output=output,
        threshold=args.threshold,
        memory_budget_mb=args.memory_budget_mb,
        scheduler=args.scheduler,
        no_db=args.no_db,
    )
    result = detect_cmd.detect(ns, settings)
    update_manifest(
        loc, detected={"model_version": model["model_version"], "output": str(output.resolve())}
    )
    return output, [g.to_dict() for g in result.gpu]


def _evaluate(
    detections: dict[str, Path],
    aois: dict[str, AOI],
    train_aoi: str | None,
    truth: Path,
    scenes: Path | None,
) -> list[dict[str, Any]]:
    """Score each AOI's detections against the truth polygons inside the AOI."""
    import geopandas as gpd

    from models.evaluate import confuser_false_alarms, evaluate, read_polygons

    truth_gdf = gpd.read_file(truth).to_crs(4326)
    scenes_gdf = gpd.read_file(scenes).to_crs(4326) if scenes else None
    rows = []
    for name, path in detections.items():
        aoi = aois[name]
        inside = truth_gdf[truth_gdf.intersects(aoi.geometry)]
        pred = read_polygons(path, f"detections of {name}")
        row: dict[str, Any] = {"aoi": name, "split": "train" if name == train_aoi else "heldout"}
        if len(inside):
            row.update(evaluate(pred, inside).to_dict())
        if scenes_gdf is not None:
            footprints = scenes_gdf[scenes_gdf.intersects(aoi.geometry)]
            row.update(confuser_false_alarms(pred, footprints).to_dict())
        rows.append(row)
    return rows


def _print_report(rows: list[dict[str, Any]], timings: list[StageTiming]) -> None:
    if rows:
        table = Table(title="evaluation (object level, IoU ≥ 0.3)")
        for col in ("aoi", "split", "precision", "recall", "f1", "fa_per_1000km2"):
            table.add_column(col, justify="right")
        for r in rows:
            table.add_row(
                r["aoi"],
                r["split"],
                *(
                    f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "-"))
                    for k in ("precision", "recall", "f1", "fa_per_1000km2")
                ),
            )
        _console.print(table)
    table = Table(title="stages")
    for col in ("stage", "aoi", "seconds", "peak RSS MiB", "ok"):
        table.add_column(col, justify="right")
    for t in timings:
        table.add_row(
            t.stage, t.aoi, f"{t.seconds:.1f}", f"{t.peak_rss_mib:.0f}", "yes" if t.ok else "NO"
        )
    _console.print(table)


def _ingest(
    args: argparse.Namespace, settings: Settings, root: str, spec: str, stretch_from: str | None
) -> None:
    from cube.commands import ingest as ingest_cmd

    name = parse_aoi(spec, args.start, args.end, args.max_cloud).name
    if args.force:
        _forget(_location(root, name, settings))
    ns = sub_args(
        ingest_cmd,
        "ingest",
        ["--aoi", spec],
        store=root,
        catalog=args.catalog,
        start=args.start,
        end=args.end,
        max_cloud=args.max_cloud,
        memory_budget_mb=args.memory_budget_mb,
        scheduler=args.scheduler,
        no_db=args.no_db,
        stretch_from=stretch_from,
        **({"known_sites": args.known_sites} if args.known_sites else {}),
    )
    if ingest_cmd.run(ns, settings) != 0:
        raise LaunchwatchError(f"ingest {name} returned a non-zero exit code")


def _check(args: argparse.Namespace) -> dict[str, AOI]:
    aois = {a.name: a for a in (parse_aoi(spec, args.start, args.end) for spec in args.aoi)}
    names = list(aois)
    if len(names) != len(args.aoi):
        raise InvalidInputError(f"--aoi names repeat: {args.aoi}")
    if args.train_aoi and parse_aoi(args.train_aoi).name not in names:
        raise InvalidInputError(f"--train-aoi {args.train_aoi} is not one of --aoi {names}")
    if args.skip_training and not args.model:
        raise InvalidInputError("--skip-training needs --model (checkpoint, .onnx or MLflow URI)")
    if args.truth is not None and not args.truth.is_file():
        raise InvalidInputError(f"truth file {args.truth} does not exist")
    if args.scenes is not None and not args.scenes.is_file():
        raise InvalidInputError(f"scenes file {args.scenes} does not exist")
    return aois


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every stage for every AOI; print and write the report; 1 if anything failed."""
    aois = _check(args)
    names = list(aois)
    root = args.store or settings.store_root
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = Path(settings.data_dir) / "runs" / stamp
    out.mkdir(parents=True, exist_ok=True)
    state = _Run()
    # the training AOI first: the others reuse its stretch, so the model sees the feature
    # values it was trained on wherever it scans
    train_name = (
        parse_aoi(args.train_aoi).name if args.train_aoi and not args.skip_training else None
    )
    order = sorted(zip(names, args.aoi, strict=True), key=lambda pair: pair[0] != train_name)
    ingested = {
        name
        for name, spec in order
        if args.skip_ingest
        or state.attempt(
            "ingest",
            name,
            partial(
                _ingest, args, settings, root, spec, None if name == train_name else train_name
            ),
        )[0]
    }
    ready = [name for name in names if name in ingested]

    model: dict[str, Any] | None = None
    train_aoi: str | None = None
    if args.skip_training:
        model = {"checkpoint_path": args.model, "model_version": Path(args.model).stem}
    else:
        candidates = [parse_aoi(args.train_aoi).name] if args.train_aoi else ready
        from cube.store import stage_done

        train_aoi = next(
            (a for a in candidates if stage_done(_location(root, a, settings), "tiles")), None
        )
        if train_aoi is None:
            state.failed.append(f"train: no AOI among {candidates} has tiles (no known sites)")
        else:
            aoi = train_aoi
            model = state.attempt("train", aoi, lambda: _train(args, settings, root, aoi))[1]

    triton_url = args.triton_url or settings.triton_url
    mode = args.serving_mode or ("triton" if triton_url else "local")
    if model is not None and str(model["checkpoint_path"]).endswith(".ckpt"):
        repo = args.model_repository or Path(settings.state_dir) / "triton" / "model_repository"
        trained = model
        model = state.attempt(
            "export",
            train_aoi or "-",
            lambda: _publish(
                trained,
                repo,
                args.triton_model,
                triton_url if mode == "triton" else None,
                args.triton_config,
            ),
        )[1]

    detections: dict[str, Path] = {}
    gpu: dict[str, list[dict[str, Any]]] = {}
    specs = dict(zip(names, args.aoi, strict=True))
    if model is not None:
        chosen = model
        for name in ready:
            ok, value = state.attempt(
                "detect",
                name,
                partial(_detect, args, settings, root, name, specs[name], chosen, out),
            )
            if ok:
                detections[name], metrics = value
                if metrics:
                    gpu[name] = metrics

    rows: list[dict[str, Any]] = []
    if args.truth is not None and detections:
        truth = args.truth
        rows = (
            state.attempt(
                "evaluate",
                ",".join(detections),
                lambda: _evaluate(detections, aois, train_aoi, truth, args.scenes),
            )[1]
            or []
        )
    _print_report(rows, state.timings)
    report = {
        "created": stamp,
        "aois": names,
        "train_aoi": train_aoi,
        "model": model,
        "serving_mode": mode,
        "evaluation": rows,
        "stages": [asdict(t) for t in state.timings],
        "failed": state.failed,
        "detections": {k: str(v) for k, v in detections.items()},
        "gpu": gpu,
    }
    path = args.report or out / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    _console.print(f"report: {path}")
    for failure in state.failed:
        _console.print(f"[red]failed:[/red] {failure}")
    return 1 if state.failed else 0
