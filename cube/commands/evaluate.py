"""``python -m cube.run evaluate``: object-level scores of detections against truth polygons."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cube.settings import Settings
from models.evaluate import evaluate

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evaluate`` and its options."""
    p = subparsers.add_parser("evaluate", help="score detection polygons against truth")
    p.add_argument("--predictions", type=Path, required=True, help="detections GeoJSON")
    p.add_argument("--truth", type=Path, required=True, help="truth GeoJSON (property kind)")
    p.add_argument("--iou", type=float, default=0.3, help="IoU threshold of a match")
    p.add_argument("--area-km2", type=float, default=None, help="area for the false-alarm rate")
    p.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate, print a table, optionally write JSON."""
    report = evaluate(args.predictions, args.truth, iou=args.iou, area_km2=args.area_km2)
    table = Table(title=f"object-level evaluation (IoU >= {report.iou_threshold})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.to_dict().items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(report.to_json())
    return 0
