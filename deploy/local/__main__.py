"""``python -m deploy.local up|down|status [--only postgres,s3,...]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from cube.settings import get_settings
from deploy.local.service import ServiceError
from deploy.local.stack import SERVICE_NAMES, build_stack

console = Console(stderr=True)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local",
        description="Start, check or stop the embedded local services on loopback.",
    )
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument(
        "--only",
        default=",".join(SERVICE_NAMES),
        help=f"comma-separated subset of {', '.join(SERVICE_NAMES)}",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service manager CLI; exit 1 when a service fails to start."""
    args = _parse(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SERVICE_NAMES))
    if unknown:
        console.print(f"error: unknown service(s) {unknown}; choose from {SERVICE_NAMES}")
        return 2
    services = build_stack(get_settings(), only)
    if args.action == "up":
        for svc in services:
            with console.status(f"starting {svc.name} ..."):
                try:
                    svc.start()
                except ServiceError as exc:
                    console.print(f"[red]{svc.name}: {exc}[/red]")
                    return 1
            console.print(f"[green]{svc.name}[/green] up at {svc.status().url}")
    elif args.action == "down":
        for svc in reversed(services):
            svc.stop()
            console.print(f"{svc.name} stopped")
    table = Table("service", "running", "healthy", "url", "pid", "detail")
    for svc in services:
        st = svc.status()
        pid = str(st.pid or "")
        table.add_row(st.name, str(st.running), str(st.healthy), st.url, pid, st.detail)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
