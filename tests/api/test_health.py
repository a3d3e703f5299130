import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import insert_detection, settings_for, square


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_ok(client: TestClient, pg_dsn: str) -> None:
    insert_detection(pg_dsn, square(10.0, 50.0), 0.5)
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["database"] is True
    assert body["detections"] == 1
    assert body["triton"] is None
    assert body["version"]


def test_health_degraded_when_triton_and_db_down(store_root: str) -> None:
    port = _free_port()
    settings = settings_for(
        f"postgresql://postgres@127.0.0.1:{port}/nothing",
        triton_url=f"127.0.0.1:{port}",
        triton_http_port=port,
    )
    app = create_app(settings, store_root=store_root, web_dist=None)
    with TestClient(app) as c:
        body = c.get("/health").json()
        assert c.get("/detections").status_code == 503
    assert body["status"] == "degraded"
    assert body["database"] is False and body["detections"] is None
    assert body["triton"] is False


def test_index_json_or_web_app(pg_dsn: str, store_root: str, tmp_path: Path) -> None:
    app = create_app(settings_for(pg_dsn), store_root=store_root, web_dist=tmp_path / "none")
    with TestClient(app) as c:
        assert c.get("/").json()["docs"] == "/docs"
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<html>launchwatch map</html>")
    app = create_app(settings_for(pg_dsn), store_root=store_root, web_dist=dist)
    with TestClient(app) as c:
        assert "launchwatch map" in c.get("/").text
        assert c.get("/health").status_code == 200
        assert c.get("/openapi.json").status_code == 200


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/v2/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def triton_http() -> Iterator[int]:
    """A loopback HTTP server answering Triton's readiness route."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


def test_health_with_ready_triton(pg_dsn: str, store_root: str, triton_http: int) -> None:
    settings = settings_for(pg_dsn, triton_url="127.0.0.1:8001", triton_http_port=triton_http)
    app = create_app(settings, store_root=store_root, web_dist=None)
    with TestClient(app) as c:
        body = c.get("/health").json()
    app.state.engine.dispose()
    assert body["status"] == "ok"
    assert body["triton"] is True
