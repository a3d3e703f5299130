"""Embedded local services (PostGIS, S3 endpoint, MLflow, STAC API, Triton) on loopback.

``python -m deploy.local up|down|status`` starts, health-checks and stops them under a state
directory; tests start the same classes on free ports.
"""

from deploy.local.mlflow import MLflowService
from deploy.local.postgres import PostgresService
from deploy.local.process import ManagedProcess, free_port, port_in_use, wait_until
from deploy.local.s3 import S3Service
from deploy.local.service import LocalService, ServiceError, ServiceStatus
from deploy.local.stac import StacService

__all__ = [
    "LocalService",
    "MLflowService",
    "ManagedProcess",
    "PostgresService",
    "S3Service",
    "ServiceError",
    "ServiceStatus",
    "StacService",
    "free_port",
    "port_in_use",
    "wait_until",
]
