"""Deployment: the embedded local service manager and production deployment files."""

__all__: list[str] = []
