"""What the API needs from the settings, read once in :func:`api.main.create_app`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cube.settings import Settings

__all__ = ["ApiConfig", "api_version"]


@dataclass(frozen=True)
class ApiConfig:
    """Frozen view of the settings used by the routers.

    Attributes:
        database_url: SQLAlchemy URL of the PostGIS database.
        store_root: Root URL of the AOI stores (local path or ``s3://bucket``).
        storage_options: fsspec options for ``s3://`` roots (key, secret, client_kwargs).
        review_token: Bearer token that analyst reviews must carry; ``None`` disables reviews.
        triton_health_url: Triton HTTP readiness URL, ``None`` when no Triton is configured.
        cors_origins: Allowed CORS origins.
    """

    database_url: str
    store_root: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    review_token: str | None = None
    triton_health_url: str | None = None
    cors_origins: tuple[str, ...] = ("*",)

    @classmethod
    def from_settings(cls, settings: Settings, store_root: str | None = None) -> ApiConfig:
        """Build the config from settings; ``store_root`` overrides ``settings.store_root``."""
        token = settings.api_review_token
        return cls(
            database_url=settings.database_url,
            store_root=(store_root or settings.store_root).rstrip("/"),
            storage_options=dict(settings.storage_options),
            review_token=token.get_secret_value() if token and token.get_secret_value() else None,
            triton_health_url=_triton_health_url(settings.triton_url, settings.triton_http_port),
            cors_origins=tuple(settings.cors_origins),
        )


def _triton_health_url(triton_url: str | None, http_port: int) -> str | None:
    """``http://HOST:HTTP_PORT/v2/health/ready`` from a gRPC or HTTP Triton URL."""
    if not triton_url:
        return None
    host = triton_url.split("://", 1)[-1].split("/", 1)[0]
    # drop the port (an IPv6 literal keeps its brackets)
    host = host.split("]", 1)[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    return f"http://{host}:{http_port}/v2/health/ready"


def api_version() -> str:
    """Installed launchwatch version (``unknown`` when not installed)."""
    try:
        return version("launchwatch")
    except PackageNotFoundError:
        return "unknown"
