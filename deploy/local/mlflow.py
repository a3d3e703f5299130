"""MLflow tracking server on loopback: sqlite backend store + local artifact root."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.local.process import ManagedProcess, http_ok, port_in_use
from deploy.local.service import ServiceError, ServiceStatus

__all__ = ["MLflowService"]


@dataclass(frozen=True)
class MLflowService:
    """``mlflow server --workers 1`` with its database and artifacts under ``state_dir``."""

    state_dir: Path
    port: int = 5000
    name: str = "mlflow"

    @property
    def url(self) -> str:
        """Tracking URI clients use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        """The tracked server process (job execution disabled: 2 processes, ~0.5 GB)."""
        return ManagedProcess(
            self.name, self.state_dir, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        )

    def _healthy(self) -> bool:
        return http_ok(f"{self.url}/health")

    def start(self) -> None:
        """Start the server and wait for ``/health``."""
        if self.process.pid() is not None:
            return
        if port_in_use(self.port):
            raise ServiceError(
                f"port {self.port} is already in use by another program: "
                "set MLFLOW_PORT (and MLFLOW_TRACKING_URI) to a free port"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
        db = (self.state_dir / "mlflow.db").resolve()
        self.process.spawn(
            [
                exe,
                "server",
                "--backend-store-uri",
                f"sqlite:///{db}",
                "--artifacts-destination",
                str((self.state_dir / "artifacts").resolve()),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ]
        )
        self.process.wait_ready(self._healthy, 90, "MLflow server", interval=0.5)

    def stop(self) -> None:
        """Stop the server; runs and artifacts stay on disk."""
        self.process.terminate()

    def status(self) -> ServiceStatus:
        """Report whether the server runs and answers ``/health``."""
        return self.process.status(self.name, self._healthy, self.url)
