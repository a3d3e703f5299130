"""``python -m cube.run train``: train a segmentation model on ``{store}/{aoi}/tiles.zarr``.

The torch/Lightning/MLflow stack is imported inside :func:`run` so that building the CLI
parser (and every other command) does not pay for it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from cube.settings import Settings

if TYPE_CHECKING:
    from models.train import TrainResult

__all__ = ["add_parser", "run", "train"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``train`` and its options."""
    p = subparsers.add_parser("train", help="train a segmentation model on an AOI's tiles")
    p.add_argument("--aoi", required=True, help="AOI name (folder under the store root)")
    p.add_argument("--store", default=None, help="store root URL (default: the S3 bucket)")
    p.add_argument("--preset", default="default", help="training preset: default or demo")
    p.add_argument("--model", default=None, help="registered model name (default per preset)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock limit")
    p.add_argument("--batch-size", type=int, default=None, help="tiles per batch")
    p.add_argument("--out", type=Path, default=None, help="checkpoint folder")
    p.set_defaults(func=run)


def train(args: argparse.Namespace, settings: Settings) -> TrainResult:
    """Open the AOI's tiles and train with the preset and overrides of ``args``."""
    from cube.tiles import open_tiles
    from models.presets import preset_config
    from models.train import train_model

    config = preset_config(
        args.preset,
        model=args.model,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        batch_size=args.batch_size,
    )
    root = args.store or settings.store_root
    url = f"{root.rstrip('/')}/{args.aoi}/tiles.zarr"
    storage_options = settings.storage_options if url.startswith("s3://") else None
    tiles = open_tiles(url, storage_options)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out or settings.data_dir / "checkpoints" / args.aoi / stamp
    return train_model(config, tiles, settings.effective_mlflow_uri, out)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Train, then print the MLflow run id, checkpoint and model version."""
    result = train(args, settings)
    console = Console()
    console.print(f"MLflow run id:  [bold]{result.run_id}[/bold]")
    console.print(f"checkpoint:     {result.checkpoint_path}")
    console.print(f"model version:  [bold]{result.model_version}[/bold]")
    console.print(f"best val_iou:   {result.best_score:.4f} after {result.epochs_run} epochs")
    return 0
