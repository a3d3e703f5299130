"""Command-line conductor: ``python -m cube.run {ingest,train,detect,evaluate,full,labels} ...``.

Reads settings, dispatches to one subcommand module from :mod:`cube.commands` and maps errors
to exit codes: 0 success, 2 bad input (one-line reason on stderr), 1 failed stage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cube.commands import COMMANDS
from cube.errors import InvalidInputError, LaunchwatchError
from cube.settings import get_settings

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m cube.run",
        description="launchwatch: find launch sites in Sentinel-2/Sentinel-1 imagery.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"cube.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, get_settings()))
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LaunchwatchError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
