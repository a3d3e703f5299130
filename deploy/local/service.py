"""The protocol every embedded service implements, and its status record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cube.errors import ServiceUnavailableError

__all__ = ["LocalService", "ServiceError", "ServiceStatus"]


class ServiceError(ServiceUnavailableError):
    """A local service could not be started, reached or stopped (busy port, failed start)."""


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    name: str
    running: bool
    healthy: bool
    url: str
    pid: int | None = None
    detail: str = ""


@runtime_checkable
class LocalService(Protocol):
    """A service started on loopback by the embedded service manager.

    ``start`` is idempotent (a second call on a healthy service does nothing) and raises
    :class:`ServiceError` with a clear message when the port is taken by something else.
    ``stop`` never deletes persistent data.
    """

    @property
    def name(self) -> str:
        """Short service name (``postgres``, ``s3``, ``mlflow``, ``stac``, ``triton``)."""
        ...

    def start(self) -> None:
        """Start the service (if not already running) and wait until it is healthy."""
        ...

    def stop(self) -> None:
        """Stop the service if it runs; keep its data."""
        ...

    def status(self) -> ServiceStatus:
        """Report whether the service runs and answers its health check."""
        ...
