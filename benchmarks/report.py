"""``python -m benchmarks.report``: render ``benchmarks/results/*.json`` into the README.

Each results file holds ``machine`` (platform, cpus), optionally ``date``/``created`` and
``summary`` (the goal ratios measured in one run), and ``results``: a list of flat records.
The tables replace the block between ``<!-- benchmarks:start -->`` and
``<!-- benchmarks:end -->`` of the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["main", "render", "update_readme"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
MAX_COLUMNS = 12


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if value is None:
        return "-"
    return str(value)


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in cols and not isinstance(value, dict | list):
                cols.append(key)
    return [c for c in cols if any(r.get(c) is not None for r in rows)][:MAX_COLUMNS]


def _table(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return lines


def render(path: Path) -> str:
    """Markdown section for one results file."""
    doc = json.loads(path.read_text())
    machine = doc.get("machine", {})
    when = doc.get("date") or doc.get("created")
    if not when:
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")
    lines = [
        f"**{path.stem}** ({when}; {machine.get('cpus', '?')} CPU cores, "
        f"{machine.get('platform', 'unknown machine')})",
        "",
    ]
    summary = doc.get("summary")
    if isinstance(summary, dict) and summary:
        lines += [f"- {k}: {_cell(v)}" for k, v in summary.items()] + [""]
    if doc.get("notes"):
        lines += [f"_{doc['notes']}_", ""]
    rows = [r for r in doc.get("results", []) if isinstance(r, dict)]
    if rows:
        lines += [*_table(rows), ""]
    return "\n".join(lines)


def update_readme(readme: Path, results: Path = RESULTS) -> str:
    """Replace the benchmarks block of ``readme``; return the new block."""
    sections = [render(p) for p in sorted(results.glob("*.json"))]
    block = "\n".join([START, "", *sections, END])
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + block + tail)
    return block


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    print(update_readme(args.readme, args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
