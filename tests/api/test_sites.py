"""``/sites`` and ``/alerts`` (api.routers.sites) over a real PostGIS with three tracked epochs."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routers import sites as sites_router
from serving.sites import empty_sites
from serving.sites_db import read_sites
from tests.api.conftest import settings_for
from tests.serving.test_sites import E1, E2, E3, A, B, C
from tests.serving.test_sites_db import _detections, _epoch, _known


@pytest.fixture
def tracked(pg_dsn: str) -> str:
    _known(pg_dsn)
    _epoch(pg_dsn, empty_sites(), _detections((A, 0.9), (C, 0.8)), E1, None)
    _epoch(pg_dsn, read_sites(pg_dsn, "demo"), _detections((A, 0.92), (B, 0.85)), E2, E1)
    _epoch(pg_dsn, read_sites(pg_dsn, "demo"), _detections((A, 0.9), (B, 0.88)), E3, E2)
    return pg_dsn


@pytest.fixture
def client(tracked: str, store_root: str) -> Iterator[TestClient]:
    app = create_app(settings_for(tracked), store_root=store_root, web_dist=None)
    app.include_router(sites_router.router)
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def test_sites_novel_first_with_filters(client):
    body = client.get("/sites").json()
    assert body["total"] == 3
    props = [f["properties"] for f in body["features"]]
    assert [p["novelty"] for p in props] == ["novel", "novel", "known"]
    assert props[-1]["known_site"] == "Pad A" and props[-1]["n_epochs"] == 3
    assert props[0]["best_score"] >= props[1]["best_score"]
    inactive = client.get("/sites", params={"status": "inactive"}).json()
    assert [f["properties"]["alerts"] for f in inactive["features"]] == [["decommissioned"]]
    both = client.get("/sites", params=[("status", "inactive"), ("status", "persistent")])
    assert both.json()["total"] == 3
    assert client.get("/sites", params={"min_score": 0.89}).json()["total"] == 1
    assert client.get("/sites", params={"novelty": "known"}).json()["total"] == 1
    assert client.get("/sites", params={"bbox": "0,0,1,1"}).json()["total"] == 0
    assert client.get("/sites", params={"bbox": "62,44,64,46"}).json()["total"] == 3
    assert client.get("/sites", params={"bbox": "1,2,3"}).status_code == 422
    assert client.get("/sites", params={"status": "bogus"}).status_code == 422


def test_site_timeline(client):
    known = client.get("/sites", params={"novelty": "known"}).json()["features"][0]
    detail = client.get(f"/sites/{known['id']}").json()
    assert [o["epoch"] for o in detail["timeline"]] == [E1.name, E2.name, E3.name]
    first = detail["timeline"][0]
    assert first["thumbnail_url"] == f"/evidence/{first['detection_id']}/thumbnail?size=256"
    assert first["clear_looks"] == 6
    assert detail["geometry"]["type"] == "Polygon"
    assert client.get("/sites/999999").status_code == 404
    assert client.get("/sites/0").status_code == 422


def test_alerts_since_and_filters(client):
    body = client.get("/alerts").json()
    assert body["total"] == 2
    assert {f["properties"]["kind"] for f in body["features"]} == {
        "new_construction",
        "decommissioned",
    }
    assert all(f["properties"]["epoch"] == E2.name for f in body["features"])
    new = client.get("/alerts", params={"kind": "new_construction"}).json()
    assert new["features"][0]["properties"]["novelty"] == "novel"
    assert new["features"][0]["properties"]["site_status"] == "persistent"
    assert client.get("/alerts", params={"since": "2999-01-01T00:00:00Z"}).json()["total"] == 0
    assert client.get("/alerts", params={"since": "2000-01-01T00:00:00Z"}).json()["total"] == 2
    assert client.get("/alerts", params={"since": "2000-01-01T00:00:00"}).status_code == 422
    assert client.get("/alerts", params={"status": "inactive"}).json()["total"] == 1
    assert client.get("/alerts", params={"epoch": E3.name}).json()["total"] == 0


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_site_vector_tiles(client):
    import mapbox_vector_tile

    site = client.get("/sites", params={"novelty": "known"}).json()["features"][0]
    lon, lat = site["geometry"]["coordinates"][0][0]
    x, y = _tile_of(lon, lat, 12)
    res = client.get(f"/sites/tiles/12/{x}/{y}.pbf")
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(res.content)["sites"]
    props = {f["id"]: f["properties"] for f in layer["features"]}
    assert props[site["id"]]["status"] == "persistent"
    assert any(p["new_construction"] for p in props.values())
    assert client.get("/sites/tiles/12/0/0.pbf").status_code == 204
    assert client.get("/sites/tiles/23/0/0.pbf").status_code == 400
    assert client.get("/sites/tiles/1/2/0.pbf").status_code == 404
