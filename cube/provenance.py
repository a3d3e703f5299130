"""Provenance recorded with stores and detections."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

__all__ = ["code_version"]


@cache
def code_version() -> str:
    """Short git commit of the running code, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
