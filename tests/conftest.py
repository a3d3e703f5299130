"""Session-scoped real services on free loopback ports, shared by every test package.

Each service starts once per test session (PostGIS, S3 endpoint, MLflow store, STAC API
servers on demand) through the same ``deploy.local`` classes that ``make demo`` uses.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask
import psycopg
import pytest

from deploy.local.postgres import PGBIN, PostgresService, apply_schema
from deploy.local.process import free_port
from deploy.local.s3 import S3Service
from deploy.local.stac import StacService

if TYPE_CHECKING:
    from deploy.local.triton import TritonService

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


def _service_dir(prefix: str) -> Path:
    """A fresh temp dir that the postgres user can traverse (system temp is o+x)."""
    path = Path(tempfile.mkdtemp(prefix=f"lw-{prefix}-"))
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def _dask_config_isolated() -> Iterator[None]:
    """Restore Dask's default scheduler after each test.

    A distributed Client sets ``scheduler`` globally and leaves it set after closing.
    """
    saved = dask.config.get("scheduler", None)
    yield
    if saved is None:
        dask.config.config.pop("scheduler", None)
    else:
        dask.config.set(scheduler=saved)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Root of the real Sentinel data shared beside the repository."""
    if not REALDATA.exists():
        pytest.skip(f"real data not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Superuser DSN of a throwaway PostGIS cluster whose ``tmpl_launchwatch`` has the schema.

    Set ``PG_TEST_DSN`` (a superuser DSN) to use an external server instead.
    """
    external = os.environ.get("PG_TEST_DSN")
    if external:
        base_dsn = external
        service = None
    else:
        if not (PGBIN / "initdb").exists():
            pytest.fail(f"PostgreSQL not installed in {PGBIN}: run .ci/run or make test")
        base = _service_dir("pg")
        service = PostgresService(base / "pg", port=free_port(), fast_unsafe=True)
        service.start()
        base_dsn = service.superuser_dsn
    try:
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS tmpl_launchwatch")
            conn.execute("CREATE DATABASE tmpl_launchwatch")
        apply_schema(base_dsn.rsplit("/", 1)[0] + "/tmpl_launchwatch")
        yield base_dsn
    finally:
        if service is not None:
            service.stop()
            shutil.rmtree(service.state_dir.parent, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """DSN of a fresh database (cloned from the schema template) for one test."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE tmpl_launchwatch")
    yield pg_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@dataclass(frozen=True)
class S3Endpoint:
    """A running S3 endpoint with its bucket and fsspec storage options."""

    endpoint_url: str
    bucket: str
    storage_options: Mapping[str, Any]


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """A real S3 HTTP endpoint (moto server) on loopback with bucket ``imagery``."""
    base = _service_dir("s3")
    service = S3Service(base, port=free_port(), access_key="testing", secret_key="testing")
    service.start()
    try:
        yield S3Endpoint(
            endpoint_url=service.endpoint_url,
            bucket=service.bucket,
            storage_options={
                "key": "testing",
                "secret": "testing",
                "client_kwargs": {"endpoint_url": service.endpoint_url},
            },
        )
    finally:
        service.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def s3_root(s3: S3Endpoint) -> str:
    """A unique ``s3://imagery/<uuid>`` prefix for one test."""
    return f"s3://{s3.bucket}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sqlite MLflow tracking URI (artifacts next to it) for the session."""
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture(scope="session")
def stac_api() -> Iterator[Callable[[Path | Sequence[Mapping[str, Any]]], str]]:
    """Factory: serve an ItemCollection (file or list of item dicts) with ``rustac serve``.

    Returns the API root URL. Every server started is stopped at the end of the session.
    """
    started: list[StacService] = []
    base = _service_dir("stac")

    def serve(items: Path | Sequence[Mapping[str, Any]]) -> str:
        state = base / f"s{len(started)}"
        state.mkdir()
        if isinstance(items, Path):
            path = items
        else:
            path = state / "items.json"
            path.write_text(json.dumps({"type": "FeatureCollection", "features": list(items)}))
        service = StacService(state, path, port=free_port())
        service.start()
        started.append(service)
        return service.url

    try:
        yield serve
    finally:
        for service in started:
            service.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def triton_factory() -> Iterator[Callable[[Path], TritonService]]:
    """Factory: a real tritonserver (CPU, python backend) over a model repository.

    The server runs in explicit model-control mode on free loopback ports and loads what the
    repository holds at start. Every server is stopped at the end of the session. The Triton
    venv is built once into ``.local/tritonvenv`` (~40 s) when missing.
    """
    from deploy.local.triton import TritonService

    started: list[TritonService] = []

    def start(repo: Path) -> TritonService:
        repo.mkdir(parents=True, exist_ok=True)
        svc = TritonService(
            repo.parent / f"triton-{len(started)}",
            repo,
            http_port=free_port(),
            grpc_port=free_port(),
            metrics_port=free_port(),
        )
        svc.start()
        started.append(svc)
        return svc

    try:
        yield start
    finally:
        for svc in started:
            svc.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn "no tests collected" into a failure: a green run must have run tests."""
    if session.testscollected == 0 and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
