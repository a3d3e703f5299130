"""Local CPU Triton: the ``tritonserver`` binary of the ``nvidia-pytriton`` wheel on loopback.

Triton needs ``numpy<2``, so it lives in its own venv (``.local/tritonvenv`` by default),
created on first start (~40 s of pip). The python backend and its stub are copied from the
wheel into ``{state_dir}/backends`` (RECIPES.md §2); the venv's ``bin`` goes first on PATH so
the stub's ``model.py`` finds numpy and onnxruntime.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.local.process import ManagedProcess, http_ok, port_in_use
from deploy.local.service import ServiceError, ServiceStatus

__all__ = ["DEFAULT_VENV", "TRITON_REQUIREMENTS", "TritonService", "ensure_triton_venv"]

DEFAULT_VENV = Path(__file__).resolve().parents[2] / ".local" / "tritonvenv"
TRITON_REQUIREMENTS: tuple[str, ...] = ("nvidia-pytriton==0.7.*", "numpy<2", "onnxruntime")
_PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _query(venv: Path, expr: str) -> str:
    out = subprocess.run(
        [str(_venv_python(venv)), "-c", f"import sysconfig;print({expr})"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def ensure_triton_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create the Triton venv with :data:`TRITON_REQUIREMENTS` unless it already works.

    Returns the venv's ``site-packages``.

    Raises:
        ServiceError: pip failed (message carries pip's last lines).
    """
    marker = venv / ".launchwatch-ready"
    if not marker.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(_venv_python(venv)), "-m", "pip", "install", "-q", *TRITON_REQUIREMENTS],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            tail = "\n".join(str(exc.stderr or "").splitlines()[-10:])
            raise ServiceError(f"could not build the Triton venv {venv}: {tail}") from exc
        marker.write_text("ok\n")
    return Path(_query(venv, 'sysconfig.get_paths()["purelib"]'))


@dataclass(frozen=True)
class TritonService:
    """tritonserver serving ``model_repository`` on 127.0.0.1 (HTTP, gRPC, metrics ports)."""

    state_dir: Path
    model_repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    venv: Path = DEFAULT_VENV
    start_timeout_s: float = 120.0
    name: str = "triton"

    @property
    def url(self) -> str:
        """Base HTTP URL (health, metadata)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``HOST:PORT`` for :class:`serving.triton_client.TritonSegClient`."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """Prometheus metrics endpoint."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _healthy(self) -> bool:
        return http_ok(f"{self.url}/v2/health/ready")

    def _process(self, env: dict[str, str] | None = None) -> ManagedProcess:
        return ManagedProcess(self.name, self.state_dir, env=env or {})

    def _prepare(self) -> tuple[list[str], dict[str, str]]:
        """Build the venv and backend dir; return the command line and environment."""
        site = Path(ensure_triton_venv(self.venv))
        pylib = _query(self.venv, 'sysconfig.get_config_var("LIBDIR")')
        wheel = site / "pytriton" / "tritonserver"
        backends = self.state_dir / "backends"
        if not (backends / "python" / "triton_python_backend_stub").exists():
            shutil.copytree(wheel / "backends", backends, dirs_exist_ok=True)
            shutil.copy2(
                wheel / "python_backend_stubs" / _PY / "triton_python_backend_stub",
                backends / "python",
            )
        env = {
            "LD_LIBRARY_PATH": f"{site / 'nvidia_pytriton.libs'}:{pylib}",
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        }
        cmd = [
            str(wheel / "bin" / "tritonserver"),
            f"--model-repository={Path(self.model_repository).resolve()}",
            f"--backend-directory={backends.resolve()}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            # explicit control: load what the repository holds now, reload on request
            # (TritonSegClient.load) when `cube.run full` publishes a new version
            "--model-control-mode=explicit",
            "--load-model=*",
            "--exit-timeout-secs=5",
        ]
        return cmd, env

    def start(self) -> None:
        """Start tritonserver and wait for ``/v2/health/ready``."""
        if self._process().pid() is not None:
            return
        for port in (self.http_port, self.grpc_port, self.metrics_port):
            if port_in_use(port):
                raise ServiceError(
                    f"port {port} is already in use by another program: set "
                    "TRITON_HTTP_PORT / TRITON_GRPC_PORT / TRITON_METRICS_PORT to free ports"
                )
        if not Path(self.model_repository).is_dir():
            raise ServiceError(f"Triton model repository {self.model_repository} does not exist")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self._prepare()
        proc = self._process(env)
        proc.spawn(cmd)

        def ready() -> bool:
            if proc.exited_early():
                raise ServiceError(f"tritonserver exited during start: {proc.log_tail()}")
            return self._healthy()

        try:
            proc.wait_ready(ready, self.start_timeout_s, "tritonserver", interval=0.5)
        except ServiceError:
            proc.terminate()
            raise

    def stop(self) -> None:
        """SIGTERM tritonserver and wait for it to exit."""
        self._process().terminate()

    def status(self) -> ServiceStatus:
        """Report whether tritonserver runs and is ready."""
        return self._process().status(self.name, self._healthy, self.grpc_url)
