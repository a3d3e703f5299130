import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api.conftest import AOI, AOI_LONLAT

#: 2.56 km x 2.56 km from (10.0 E, 50.02 N) down and right.
BOUNDS = (10.0, 50.02 - 2560 / 111_200, 10.0 + 2560 / (111_320 * 0.6428), 50.02)
TILE = "/raster/tiles/WebMercatorQuad/14/{x}/{y}.png"


def _tile_xy(z: int = 14) -> tuple[int, int]:
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(AOI_LONLAT[0] + 0.01, AOI_LONLAT[1] + 0.01, z)
    return t.x, t.y


def test_composite_tile_png(client: TestClient) -> None:
    x, y = _tile_xy()
    r = client.get(
        TILE.format(x=x, y=y),
        params={"aoi": AOI, "layer": "composite", "bidx": [6, 4, 3], "rescale": "0,3000"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.content)))
    assert img.shape[:2] == (256, 256)
    assert img[..., :3].std() > 5


def test_probability_tile_with_colormap(client: TestClient) -> None:
    x, y = _tile_xy()
    r = client.get(
        TILE.format(x=x, y=y),
        params={"aoi": AOI, "layer": "probability", "rescale": "0,1", "colormap_name": "inferno"},
    )
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).mode == "RGBA"


def test_tilejson_and_info(client: TestClient) -> None:
    r = client.get(
        "/raster/WebMercatorQuad/tilejson.json", params={"aoi": AOI, "layer": "probability"}
    )
    assert r.status_code == 200
    tj = r.json()
    assert "aoi=demo" in tj["tiles"][0] and "layer=probability" in tj["tiles"][0]
    assert tj["bounds"] == pytest.approx(BOUNDS, abs=0.002)
    info = client.get("/raster/info", params={"aoi": AOI}).json()
    assert info["count"] == 6 and info["dtype"] == "uint16"


@pytest.mark.parametrize(
    "params",
    [
        {"aoi": "../etc", "layer": "composite"},
        {"aoi": "demo", "layer": "features"},
        {"aoi": "s3://other/x", "layer": "composite"},
        {"url": "/etc/passwd"},
    ],
)
def test_raster_rejects_other_paths(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/raster/info", params=params).status_code == 422


def test_unknown_aoi_is_404(client: TestClient) -> None:
    assert client.get("/raster/info", params={"aoi": "nowhere"}).status_code == 404
    x, y = _tile_xy()
    assert client.get(TILE.format(x=x, y=y), params={"aoi": "nowhere"}).status_code == 404


def test_aois(client: TestClient, store_root: str) -> None:
    body = client.get("/aois").json()
    assert [a["name"] for a in body] == [AOI]
    demo = body[0]
    assert demo["layers"] == ["composite", "probability"]
    assert demo["stages"] == {"composite": "done", "probability": "done"}
    assert demo["bounds"] == pytest.approx(BOUNDS, abs=0.002)
    assert Path(store_root, AOI, "manifest.json").exists()


def test_aois_bounds_from_manifest_and_skips_folders_without_manifest(
    pg_dsn: str, tmp_path: Path
) -> None:
    from api.main import create_app
    from tests.api.conftest import settings_for

    (tmp_path / "half").mkdir()
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "manifest.json").write_text(json.dumps({"bounds": [1, 2, 3, 4]}))
    app = create_app(settings_for(pg_dsn), store_root=str(tmp_path), web_dist=None)
    with TestClient(app) as c:
        body = c.get("/aois").json()
    app.state.engine.dispose()
    assert body == [{"name": "done", "bounds": [1.0, 2.0, 3.0, 4.0], "layers": [], "stages": {}}]
