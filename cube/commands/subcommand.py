"""Run one subcommand from another with the callee's own parser defaults."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["sub_args"]


def sub_args(module: Any, name: str, argv: list[str], **values: Any) -> argparse.Namespace:
    """Parse ``argv`` with subcommand ``name``'s own parser, then override ``values``.

    ``module`` is the subcommand module (``add_parser``/``run``); every option it defines
    gets its default, so callers only set what they decide.
    """
    parser = argparse.ArgumentParser(prog=f"cube.run {name}")
    module.add_parser(parser.add_subparsers())
    ns = parser.parse_args([name, *argv])
    for key, value in values.items():
        setattr(ns, key, value)
    return ns
