"""The web map in headless Chromium against the real API on loopback (PostGIS + tiny COGs)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from shapely.geometry import Polygon

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _insert_site_with_alert(dsn: str, geom: Polygon, detection_id: int) -> int:
    """A site seen in two epochs (thumbnail from the detection) with a new-construction alert."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO sites (site_key, aoi, geom, centroid, status, novelty, first_seen,"
            " last_seen, n_epochs, best_score) VALUES ('demo:2024H1:0', 'demo',"
            " ST_GeomFromText(%s, 4326), ST_Centroid(ST_GeomFromText(%s, 4326)), 'persistent',"
            " 'novel', '2024H1', '2024H2', 2, 0.95) RETURNING id",
            (geom.wkt, geom.wkt),
        ).fetchone()
        assert row is not None
        site = int(row[0])
        for epoch, start, end, score, det in (
            ("2024H1", "2024-01-01", "2024-06-30", 0.7, None),
            ("2024H2", "2024-07-01", "2024-12-31", 0.95, detection_id),
        ):
            conn.execute(
                "INSERT INTO site_observations (site_id, epoch, epoch_start, epoch_end, score,"
                " clear_looks, detection_id, geom) VALUES (%s, %s, %s, %s, %s, 6, %s,"
                " ST_GeomFromText(%s, 4326))",
                (site, epoch, start, end, score, det, geom.wkt),
            )
        conn.execute(
            "INSERT INTO alerts (site_id, kind, epoch, previous_epoch, score, clear_looks, geom)"
            " VALUES (%s, 'new_construction', '2024H2', '2024H1', 0.95, 6,"
            " ST_GeomFromText(%s, 4326))",
            (site, geom.wkt),
        )
    return site


@pytest.fixture
def api_url(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    """The API app (serving ``web/dist``) on a free loopback port, seeded with four detections."""
    pytest.importorskip("api.main", reason="api package not available")
    import uvicorn

    from api.main import WEB_DIST, create_app
    from tests.api.conftest import (
        TOKEN,
        insert_detection,
        insert_known_site,
        make_store,
        settings_for,
        square,
    )

    if not (WEB_DIST / "index.html").exists():
        pytest.fail("web/dist is missing: run `make web` (cd web && npm ci && npm run build)")
    high_center = (10.012, 50.010)
    expect: dict[str, object] = {
        "high": insert_detection(pg_dsn, square(*high_center), 0.95),
        "mid": insert_detection(pg_dsn, square(10.022, 50.005), 0.6),
        "low": insert_detection(pg_dsn, square(10.004, 50.015), 0.2),
        "other": insert_detection(pg_dsn, square(10.026, 50.016), 0.8, model_version="unet/2"),
        "site": insert_known_site(pg_dsn, "Test Pad", 10.017, 50.0185),
        "token": TOKEN,
        "highCenter": list(high_center),
    }
    expect["alertSite"] = _insert_site_with_alert(pg_dsn, square(*high_center), int(expect["high"]))
    app = create_app(
        settings_for(pg_dsn), store_root=str(make_store(tmp_path / "stores")), web_dist=WEB_DIST
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", expect
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()


def test_map_end_to_end(api_url: tuple[str, dict[str, object]]) -> None:
    """Map loads, detections render and filter, panel shows evidence, layers toggle, no errors."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "playwright-core").exists():
        pytest.fail("node or web/node_modules missing: run `cd web && npm ci`")
    base, expect = api_url
    artifacts = REPO / "tests" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    shots = [artifacts / "map.png"]
    if os.environ.get("LAUNCHWATCH_UPDATE_DOCS") == "1":  # refresh the committed screenshot
        shots.append(REPO / "docs" / "map.png")
    proc = subprocess.run(
        [node, str(WEB / "e2e" / "map.e2e.mjs")],
        cwd=WEB,
        env=os.environ
        | {
            "BASE_URL": base,
            "EXPECT": json.dumps(expect),
            "SCREENSHOTS": ",".join(map(str, shots)),
            "CHROMIUM": CHROMIUM,
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output from the e2e script; stderr:\n{proc.stderr}"
    summary = json.loads(lines[-1])
    assert summary["ok"], f"{summary.get('error')}\nsteps done: {summary['steps']}\n{proc.stderr}"
    assert proc.returncode == 0
    assert summary["consoleErrors"] == []
    assert "click opens evidence panel with thumbnail" in summary["steps"]
    assert "alert opens the site timeline with a thumbnail" in summary["steps"]
    assert '"new since" filters the alerts' in summary["steps"]
    assert all(p.stat().st_size > 10_000 for p in shots)
