"""Build the embedded service stack from settings (the edge where settings are read)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlparse

from cube.settings import Settings
from deploy.local.mlflow import MLflowService
from deploy.local.postgres import PostgresService
from deploy.local.s3 import S3Service
from deploy.local.service import LocalService
from deploy.local.stac import StacService

__all__ = ["SERVICE_NAMES", "build_stack"]

SERVICE_NAMES: tuple[str, ...] = ("postgres", "s3", "mlflow", "stac", "triton")


def _port_of(url: str, default: int) -> int:
    return urlparse(url).port or default


def build_stack(settings: Settings, only: Sequence[str] = SERVICE_NAMES) -> list[LocalService]:
    """Return the services named in ``only`` configured from ``settings``.

    The STAC API is included only when ``{state_dir}/stac/items.json`` exists (the demo
    writes its synthetic catalog there) and Triton only when a model repository exists at
    ``{state_dir}/triton/model_repository``.
    """
    state = settings.state_dir.resolve()
    services: list[LocalService] = []
    for name in only:
        if name == "postgres":
            services.append(
                PostgresService(
                    state / "postgres",
                    port=settings.postgres_port,
                    app_user=settings.postgres_user,
                    app_password=settings.postgres_password.get_secret_value(),
                    database=settings.postgres_db,
                )
            )
        elif name == "s3":
            services.append(
                S3Service(
                    state / "s3",
                    port=_port_of(settings.minio_endpoint, 9000),
                    bucket=settings.minio_bucket,
                    access_key=settings.minio_access_key,
                    secret_key=settings.minio_secret_key.get_secret_value(),
                )
            )
        elif name == "mlflow":
            services.append(MLflowService(state / "mlflow", port=settings.mlflow_port))
        elif name == "stac":
            items = state / "stac" / "items.json"
            if items.exists():
                services.append(StacService(state / "stac", items, port=settings.stac_port))
        elif name == "triton":
            repo = state / "triton" / "model_repository"
            if repo.exists():
                from deploy.local.triton import TritonService

                services.append(
                    TritonService(
                        state / "triton",
                        repo,
                        http_port=settings.triton_http_port,
                        grpc_port=settings.triton_grpc_port,
                        metrics_port=settings.triton_metrics_port,
                    )
                )
        else:
            raise ValueError(f"unknown service {name!r}; choose from {', '.join(SERVICE_NAMES)}")
    return services
