"""``python -m deploy.demo`` (``make demo``): the whole product on embedded defaults, offline.

1. Start the embedded services (PostGIS, S3 endpoint, MLflow) on loopback.
2. Generate the synthetic demo scenes (launch complexes and confusers on synthetic ground,
   five dates each, clouds) into ``DATA_DIR/synthetic`` and serve their STAC items with a
   local STAC API; load the real and the synthetic known sites into PostGIS.
3. Start a real ``tritonserver`` (CPU, python backend running onnxruntime) on the model
   repository ``STATE_DIR/triton/model_repository``.
4. Start a Dask ``LocalCluster`` (dashboard URL printed) and run
   ``python -m cube.run full --aoi demo_train demo_heldout --train-aoi demo_train
   --preset demo --truth ... --scenes ...`` against all of them: ingest → tiles + weak labels
   → train (MLflow) → ONNX → Triton → detect → PostGIS → evaluation.
5. Serve the API and the web map on ``API_PORT`` until Ctrl-C.

A second run reuses the stores, the trained model and the services that still run
(``--force`` redoes everything). Ctrl-C stops the map server and the Dask cluster; the
embedded services keep running for the next run (``python -m deploy.local down`` stops them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from cube.settings import Settings, get_settings
from deploy.local.service import ServiceError
from deploy.local.stack import build_stack

__all__ = ["DEMO_AOIS", "main"]

#: Training AOI (top row of the demo grid) and held-out AOI (bottom row).
DEMO_AOIS: tuple[str, str] = ("demo_train", "demo_heldout")

console = Console()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__)
    parser.add_argument("--force", action="store_true", help="redo every stage")
    parser.add_argument("--no-serve", action="store_true", help="stop after the pipeline")
    parser.add_argument("--max-minutes", type=float, default=None, help="training time limit")
    parser.add_argument("--workers", type=int, default=None, help="Dask workers")
    return parser.parse_args(argv)


def _start(settings: Settings, names: Sequence[str]) -> None:
    for svc in build_stack(settings, names):
        with console.status(f"starting {svc.name} ..."):
            svc.start()
        console.print(f"[green]{svc.name}[/green] up at {svc.status().url}")


def _scenes(settings: Settings, force: bool) -> Path:
    """Generate the demo scenes once; publish their items to the local STAC API's folder."""
    from cube.synthetic import DEMO_SCENES, generate_scenes

    out = Path(settings.data_dir).resolve() / "synthetic"
    done = out / "scenes.geojson"
    if force or not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        with console.status(f"generating {len(DEMO_SCENES)} synthetic scenes into {out}"):
            generate_scenes(DEMO_SCENES, out)
    stac_dir = Path(settings.state_dir).resolve() / "stac"
    stac_dir.mkdir(parents=True, exist_ok=True)
    items = json.loads((out / "items.json").read_text())
    (stac_dir / "items.json").write_text(json.dumps(items))
    return out


def _known_sites(settings: Settings, synthetic: Path) -> int:
    """Upsert the packaged real sites and the synthetic training sites into PostGIS."""
    from cube.known_sites import load_known_sites, write_known_sites

    sites = load_known_sites() + load_known_sites(synthetic / "known_sites.geojson")
    dsn = settings.postgres_dsn
    write_known_sites(dsn, sites)
    return len(sites)


def _serve(settings: Settings) -> None:
    import uvicorn

    uvicorn.run("api.main:app", host=settings.api_host, port=settings.api_port, log_level="info")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the exit code of the pipeline (0 when everything worked)."""
    args = _parse(argv)
    settings = get_settings()
    try:
        _start(settings, ("postgres", "s3", "mlflow"))
        synthetic = _scenes(settings, args.force)
        (Path(settings.state_dir).resolve() / "triton" / "model_repository").mkdir(
            parents=True, exist_ok=True
        )
        _start(settings, ("stac", "triton"))
    except ServiceError as exc:
        console.print(f"[red]could not start the embedded services:[/red] {exc}")
        return 1
    console.print(f"{_known_sites(settings, synthetic)} known sites in PostGIS")

    from distributed import Client, LocalCluster

    from cube.run import main as cube_main

    triton = f"127.0.0.1:{settings.triton_grpc_port}"
    os.environ.setdefault("TRITON_URL", triton)  # the map server's /health reports Triton too
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, dashboard_address=":8787"
        ) as cluster,
        Client(cluster) as client,
    ):
        console.print(f"Dask dashboard: [bold]{client.dashboard_link}[/bold]")
        full = [
            "full",
            "--aoi",
            *DEMO_AOIS,
            "--train-aoi",
            DEMO_AOIS[0],
            "--catalog",
            f"http://127.0.0.1:{settings.stac_port}",
            "--known-sites",
            str(synthetic / "known_sites.geojson"),
            "--preset",
            "demo",
            "--truth",
            str(synthetic / "truth.geojson"),
            "--scenes",
            str(synthetic / "scenes.geojson"),
            "--triton-url",
            triton,
            "--scheduler",
            cluster.scheduler_address,
            *(["--force"] if args.force else []),
            *(["--max-minutes", str(args.max_minutes)] if args.max_minutes else []),
        ]
        console.print("python -m cube.run " + " ".join(full), style="dim")
        code = cube_main(full)
        url = f"http://{settings.api_host}:{settings.api_port}/"
        console.print(f"MLflow:          [bold]{settings.effective_mlflow_uri}[/bold]")
        console.print(f"Dask dashboard:  [bold]{client.dashboard_link}[/bold]")
        console.print(f"Map:             [bold]{url}[/bold]  (Ctrl-C to stop)")
        if args.no_serve:
            return code
        with contextlib.suppress(KeyboardInterrupt):
            _serve(settings)
    console.print("map server stopped; services keep running (`python -m deploy.local down`)")
    return code


if __name__ == "__main__":
    sys.exit(main())
