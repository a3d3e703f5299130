"""``python -m cube.run synth``: write the synthetic demo scenes, STAC items and truth."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from rich.console import Console

from cube.settings import Settings
from cube.synthetic import DEMO_SCENES, generate_scenes

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``synth`` and its options."""
    p = subparsers.add_parser("synth", help="generate the synthetic Sentinel demo scenes")
    p.add_argument("--out", type=Path, default=None, help="output folder (DATA_DIR/synthetic)")
    p.add_argument("--seed", type=int, default=0, help="added to every preset scene's seed")
    p.add_argument("--s1", action="store_true", help="also write Sentinel-1 VV/VH items")
    p.add_argument("--base-url", default=None, help="HTTP base URL for asset hrefs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Generate :data:`DEMO_SCENES` (seeds shifted by ``--seed``) into ``--out``."""
    out = args.out if args.out is not None else Path(settings.data_dir) / "synthetic"
    specs = [dataclasses.replace(s, seed=s.seed + args.seed, with_s1=args.s1) for s in DEMO_SCENES]
    console = Console()
    with console.status(f"generating {len(specs)} synthetic scenes into {out}"):
        catalog = generate_scenes(specs, out, base_url=args.base_url)
    console.print(f"{catalog.n_items} STAC items in {catalog.items}; truth {catalog.truth}")
    return 0
