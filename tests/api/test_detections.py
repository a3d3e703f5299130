import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import insert_detection, square


@pytest.fixture
def ids(pg_dsn: str) -> dict[str, int]:
    """Five detections: two AOIs, two model versions, two dates, tied scores."""
    return {
        "a": insert_detection(pg_dsn, square(10.01, 50.01), 0.9),
        "b": insert_detection(pg_dsn, square(10.02, 50.01), 0.5),
        "c": insert_detection(pg_dsn, square(10.02, 50.015), 0.5),
        "d": insert_detection(
            pg_dsn,
            square(30.0, -20.0),
            0.05,
            aoi="far",
            model_version="unet/2",
            detected_at=datetime(2020, 1, 1, tzinfo=UTC),
        ),
        "e": insert_detection(pg_dsn, square(-70.0, 40.0), 0.7, model_version="unet/2"),
    }


def _ids(body: dict) -> list[int]:
    return [f["id"] for f in body["features"]]


def test_list_is_ordered_by_score_then_id(client: TestClient, ids: dict[str, int]) -> None:
    body = client.get("/detections").json()
    assert body["type"] == "FeatureCollection"
    assert body["total"] == 5
    assert _ids(body) == [ids["a"], ids["e"], ids["b"], ids["c"], ids["d"]]
    first = body["features"][0]
    assert first["geometry"]["type"] == "Polygon"
    assert first["properties"]["aoi"] == "demo"
    assert first["properties"]["score"] == pytest.approx(0.9)


def test_paging_is_stable(client: TestClient, ids: dict[str, int]) -> None:
    pages = [client.get("/detections", params={"limit": 2, "offset": o}).json() for o in (0, 2, 4)]
    assert [len(p["features"]) for p in pages] == [2, 2, 1]
    assert all(p["total"] == 5 for p in pages)
    seen = [i for p in pages for i in _ids(p)]
    assert seen == _ids(client.get("/detections").json())


def test_filters(client: TestClient, ids: dict[str, int]) -> None:
    def get(**params: Any) -> list[int]:
        r = client.get("/detections", params=params)
        assert r.status_code == 200, r.text
        return sorted(_ids(r.json()))

    assert get(min_score=0.6) == sorted([ids["a"], ids["e"]])
    assert get(bbox="10.0,50.0,10.03,50.02") == sorted([ids["a"], ids["b"], ids["c"]])
    assert get(bbox="10.0,50.0,10.015,50.02", min_score=0.1) == [ids["a"]]
    assert get(aoi="far") == [ids["d"]]
    assert get(model_version="unet/2") == sorted([ids["d"], ids["e"]])
    assert ids["d"] not in get(since="2021-01-01T00:00:00Z")
    assert len(get(since="2019-01-01T00:00:00Z")) == 5
    assert get(aoi="nowhere") == []


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "a,b,c,d"},
        {"bbox": "10,50,9,51"},
        {"bbox": "-200,0,10,10"},
        {"bbox": "0,-95,10,10"},
        {"bbox": "nan,0,1,1"},
        {"min_score": 1.5},
        {"min_score": -0.1},
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"since": "yesterday"},
        {"since": "2024-01-01T00:00:00"},
    ],
)
def test_bad_query_is_422(client: TestClient, params: dict[str, Any]) -> None:
    r = client.get("/detections", params=params)
    assert r.status_code == 422, r.text
    assert "detail" in r.json()


def test_one_detection_and_404(client: TestClient, ids: dict[str, int]) -> None:
    r = client.get(f"/detections/{ids['b']}")
    assert r.status_code == 200
    feature = r.json()
    assert feature["id"] == ids["b"]
    assert feature["properties"]["reviews"] == []
    assert len(feature["geometry"]["coordinates"][0]) == 5
    assert client.get("/detections/999999").status_code == 404
    assert client.get("/detections/0").status_code == 422
    assert client.get(f"/detections/{2**63}").status_code == 422


@pytest.mark.parametrize(
    "evil",
    ["demo' OR '1'='1", "demo; DROP TABLE detections; --", "\\x00", "%' --", "' UNION SELECT 1 --"],
)
def test_injection_strings_are_harmless(client: TestClient, ids: dict[str, int], evil: str) -> None:
    for param in ("aoi", "model_version", "epoch"):
        r = client.get("/detections", params={param: evil})
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            assert r.json()["total"] == 0
    assert client.get("/detections", params={"bbox": evil}).status_code == 422
    assert client.get("/detections").json()["total"] == 5


def test_exports(client: TestClient, ids: dict[str, int]) -> None:
    params: dict[str, Any] = {"min_score": 0.4, "bbox": "10.0,50.0,10.03,50.02"}
    expected = {ids["a"], ids["b"], ids["c"]}

    r = client.get("/detections.geojson", params=params)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert {f["id"] for f in r.json()["features"]} == expected

    r = client.get("/detections.gpkg", params=params)
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    frame = gpd.read_file(io.BytesIO(r.content), layer="detections")
    assert set(frame["id"]) == expected
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.geom_type.eq("Polygon").all()

    r = client.get("/detections.kml", params=params)
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    names = {p.findtext("k:name", namespaces=ns) for p in root.iter(f"{{{ns['k']}}}Placemark")}
    assert names == {f"detection {i}" for i in expected}

    assert client.get("/detections.shp").status_code == 422
    assert client.get("/detections.kml", params={"bbox": "1,1,0,0"}).status_code == 422


def test_empty_exports_are_valid(client: TestClient) -> None:
    r = client.get("/detections.gpkg")
    assert r.status_code == 200
    assert len(gpd.read_file(io.BytesIO(r.content))) == 0
    assert client.get("/detections.geojson").json()["features"] == []
