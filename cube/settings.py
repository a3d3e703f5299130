"""Settings read from the environment (and ``.env``), only at the edges (CLI, API app).

Defaults point at the embedded services started by ``python -m deploy.local up``.
Library functions never import this module; they take explicit arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]

PLANETARY_COMPUTER_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"


class Settings(BaseSettings):
    """Every environment variable launchwatch reads, with the embedded-service defaults."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    postgres_host: str = "127.0.0.1"
    postgres_port: int = 55432
    postgres_db: str = "launchsite"
    postgres_user: str = "launchwatch"
    postgres_password: SecretStr = SecretStr("launchwatch")

    minio_endpoint: str = "http://127.0.0.1:9000"
    minio_bucket: str = "imagery"
    minio_access_key: str = "launchwatch"
    minio_secret_key: SecretStr = SecretStr("launchwatch-secret")

    mlflow_tracking_uri: str | None = None
    triton_url: str | None = None
    stac_api_url: str = PLANETARY_COMPUTER_STAC
    data_dir: Path = Path(".local/data")
    state_dir: Path = Path(".local/services")

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_review_token: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])

    stac_port: int = 8081
    mlflow_port: int = 5000
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002

    @property
    def database_url(self) -> str:
        """SQLAlchemy/psycopg URL of the PostGIS database."""
        pw = self.postgres_password.get_secret_value()
        return (
            f"postgresql+psycopg://{self.postgres_user}:{pw}@"
            f"{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
        )

    @property
    def postgres_dsn(self) -> str:
        """libpq/psycopg DSN of the same database (``postgresql://...``)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    @property
    def storage_options(self) -> dict[str, object]:
        """fsspec/s3fs storage options for ``s3://`` store URLs on the configured endpoint."""
        return {
            "key": self.minio_access_key,
            "secret": self.minio_secret_key.get_secret_value(),
            "client_kwargs": {"endpoint_url": self.minio_endpoint},
        }

    @property
    def store_root(self) -> str:
        """Root URL of all Zarr/COG stores: the S3 bucket."""
        return f"s3://{self.minio_bucket}"

    @property
    def effective_mlflow_uri(self) -> str:
        """Tracking URI: the configured one, else the embedded MLflow server.

        The embedded server (sqlite + local artifacts under the state dir) is started by
        ``python -m deploy.local up`` and by ``make demo``.
        """
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"http://127.0.0.1:{self.mlflow_port}"


def get_settings() -> Settings:
    """Read settings from the environment and ``.env`` (call only at the edges)."""
    return Settings()
