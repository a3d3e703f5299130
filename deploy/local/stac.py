"""A STAC API on loopback (``rustac serve``, memory backend) over an ItemCollection file."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.local.process import ManagedProcess, http_ok, port_in_use
from deploy.local.service import ServiceError, ServiceStatus

__all__ = ["StacService"]


@dataclass(frozen=True)
class StacService:
    """``rustac serve --create-collections ITEMS`` on ``127.0.0.1:port``.

    The memory backend supports collections, bbox, intersects, datetime, ids and paging, but
    not ``query``/``filter``: cloud-cover filtering happens client-side in ``cube.search``.
    """

    state_dir: Path
    items: Path
    port: int = 8081
    name: str = "stac"

    @property
    def url(self) -> str:
        """Root URL of the API."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def process(self) -> ManagedProcess:
        """The tracked server process."""
        return ManagedProcess(self.name, self.state_dir)

    def _healthy(self) -> bool:
        return http_ok(f"{self.url}collections")

    def start(self) -> None:
        """Serve ``items`` (restarting the server if it serves an older file)."""
        if not self.items.exists():
            raise ServiceError(f"STAC items file {self.items} does not exist")
        marker = self.state_dir / f"{self.name}.items"
        if self.process.pid() is not None:
            if marker.exists() and marker.read_text() == str(self.items.resolve()):
                return
            self.process.terminate()
        if port_in_use(self.port):
            raise ServiceError(
                f"port {self.port} is already in use by another program: "
                "set STAC_PORT to a free port"
            )
        exe = shutil.which("rustac") or str(Path(sys.executable).with_name("rustac"))
        self.process.spawn(
            [
                exe,
                "serve",
                "--create-collections",
                "-a",
                f"127.0.0.1:{self.port}",
                str(self.items.resolve()),
            ]
        )
        marker.write_text(str(self.items.resolve()))
        self.process.wait_ready(self._healthy, 30, "STAC API (rustac)")

    def stop(self) -> None:
        """Stop the server."""
        self.process.terminate()

    def status(self) -> ServiceStatus:
        """Report whether the API runs and lists collections."""
        return self.process.status(self.name, self._healthy, self.url)
