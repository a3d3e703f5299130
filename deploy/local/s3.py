"""An S3-compatible endpoint on loopback (moto server) standing in for MinIO."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.local.process import ManagedProcess, http_ok, port_in_use
from deploy.local.service import ServiceError, ServiceStatus

__all__ = ["S3Service", "ensure_bucket"]


def ensure_bucket(endpoint_url: str, bucket: str, access_key: str, secret_key: str) -> None:
    """Create ``bucket`` on the endpoint unless it exists."""
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


@dataclass(frozen=True)
class S3Service:
    """``moto_server`` on ``127.0.0.1:port`` with ``bucket`` created.

    moto keeps objects in memory: stopping the endpoint drops them (MinIO in docker compose
    persists to a volume). Stages re-create missing stores from their manifest state.
    """

    state_dir: Path
    port: int = 9000
    bucket: str = "imagery"
    access_key: str = "launchwatch"
    secret_key: str = "launchwatch-secret"
    name: str = "s3"

    @property
    def endpoint_url(self) -> str:
        """HTTP endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        """The tracked moto process."""
        return ManagedProcess(self.name, self.state_dir)

    def _healthy(self) -> bool:
        return http_ok(f"{self.endpoint_url}/moto-api/data.json")

    def start(self) -> None:
        """Start moto (if needed), wait for it and create the bucket."""
        if self.process.pid() is None:
            if port_in_use(self.port):
                raise ServiceError(
                    f"port {self.port} is already in use by another program: "
                    "set MINIO_ENDPOINT to a free port"
                )
            exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
            self.process.spawn([exe, "-H", "127.0.0.1", "-p", str(self.port)])
            self.process.wait_ready(self._healthy, 30, "S3 endpoint (moto)")
        ensure_bucket(self.endpoint_url, self.bucket, self.access_key, self.secret_key)

    def stop(self) -> None:
        """Stop moto."""
        self.process.terminate()

    def status(self) -> ServiceStatus:
        """Report whether moto runs and answers."""
        return self.process.status(self.name, self._healthy, self.endpoint_url)
