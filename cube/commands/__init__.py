"""Subcommands of ``python -m cube.run``: one module each, registered in :data:`COMMANDS`.

Each module exposes ``add_parser(subparsers)`` (registers the subcommand, its options and
``func=run``) and ``run(args, settings) -> int``.
"""

from __future__ import annotations

COMMANDS: tuple[str, ...] = (
    "detect",
    "evaluate",
    "full",
    "ingest",
    "labels",
    "monitor",
    "synth",
    "train",
)

__all__ = ["COMMANDS"]
