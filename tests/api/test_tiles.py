import mapbox_vector_tile
import morecantile
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import insert_detection, insert_known_site, square

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture
def seeded(pg_dsn: str) -> dict[str, int]:
    return {
        "high": insert_detection(pg_dsn, square(10.01, 50.01), 0.8),
        "low": insert_detection(pg_dsn, square(10.012, 50.012, 0.0005), 0.05),
        "site": insert_known_site(pg_dsn, "Test Pad", 10.015, 50.008),
    }


def _url(lon: float, lat: float, z: int) -> str:
    t = TMS.tile(lon, lat, z)
    return f"/tiles/{t.z}/{t.x}/{t.y}.pbf"


def test_tile_has_both_layers_and_score_filter(client: TestClient, seeded: dict[str, int]) -> None:
    r = client.get(_url(10.01, 50.01, 12))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"] == "public, max-age=3600"
    layers = mapbox_vector_tile.decode(r.content)
    assert set(layers) == {"detections", "known_sites"}
    detections = layers["detections"]["features"]
    assert [f["id"] for f in detections] == [seeded["high"]]  # score 0.05 < 0.1 left out
    props = detections[0]["properties"]
    assert props["score"] == pytest.approx(0.8)
    assert props["aoi"] == "demo" and props["model_version"] == "unet/1"
    assert detections[0]["geometry"]["type"] == "Polygon"
    sites = layers["known_sites"]["features"]
    assert [f["properties"]["name"] for f in sites] == ["Test Pad"]
    assert sites[0]["geometry"]["type"] == "Point"


def test_world_tile_and_empty_tile(client: TestClient, seeded: dict[str, int]) -> None:
    assert client.get("/tiles/0/0/0.pbf").status_code == 200
    empty = client.get(_url(-120.0, -40.0, 10))
    assert empty.status_code == 204
    assert empty.content == b""


def test_etag_gives_304_until_data_changes(
    client: TestClient, pg_dsn: str, seeded: dict[str, int]
) -> None:
    url = _url(10.01, 50.01, 12)
    first = client.get(url)
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    insert_detection(pg_dsn, square(10.011, 50.009, 0.001), 0.6)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(mapbox_vector_tile.decode(changed.content)["detections"]["features"]) == 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/23/0/0.pbf", 400),
        ("/tiles/-1/0/0.pbf", 400),
        ("/tiles/2/4/0.pbf", 404),
        ("/tiles/2/0/4.pbf", 404),
        ("/tiles/2/-1/0.pbf", 404),
        ("/tiles/a/0/0.pbf", 422),
    ],
)
def test_bad_tile_coordinates(client: TestClient, path: str, status: int) -> None:
    assert client.get(path).status_code == status
