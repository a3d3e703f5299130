import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.conftest import insert_detection, square


@pytest.fixture
def det(pg_dsn: str) -> int:
    return insert_detection(
        pg_dsn, square(10.015, 50.01), 0.85, evidence={"scenes": ["S2B_X"], "mean_prob": 0.7}
    )


def test_evidence(client: TestClient, det: int) -> None:
    r = client.get(f"/evidence/{det}")
    assert r.status_code == 200
    body = r.json()
    assert body["evidence"] == {"scenes": ["S2B_X"], "mean_prob": 0.7}
    assert body["score"] == pytest.approx(0.85)
    assert body["model_version"] == "unet/1"
    assert body["geometry"]["type"] == "Polygon"
    assert body["thumbnail_url"] == f"/evidence/{det}/thumbnail?size=256"
    assert client.get("/evidence/424242").status_code == 404


@pytest.mark.parametrize("size", [64, 300])
def test_thumbnail_png(client: TestClient, det: int, size: int) -> None:
    r = client.get(f"/evidence/{det}/thumbnail", params={"size": size})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (size, size)
    rgb = np.asarray(img)[..., :3]
    assert rgb.std() > 5  # real imagery, not a blank tile


@pytest.mark.parametrize("size", [63, 1025, -1])
def test_thumbnail_size_bounds(client: TestClient, det: int, size: int) -> None:
    assert client.get(f"/evidence/{det}/thumbnail", params={"size": size}).status_code == 422


def test_thumbnail_without_composite_is_404(client: TestClient, pg_dsn: str) -> None:
    other = insert_detection(pg_dsn, square(10.015, 50.01), 0.85, aoi="nostore")
    r = client.get(f"/evidence/{other}/thumbnail")
    assert r.status_code == 404
    assert "nostore" in r.json()["detail"]
    outside = insert_detection(pg_dsn, square(20.0, 10.0), 0.85)
    assert client.get(f"/evidence/{outside}/thumbnail").status_code == 404
    assert client.get("/evidence/424242/thumbnail").status_code == 404
