"""Rasters, thumbnails and AOIs read from an S3 store (moto server) through GDAL /vsis3."""

import io
from pathlib import Path

import pytest
import s3fs
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from tests.api.conftest import AOI, AOI_LONLAT, insert_detection, make_store, settings_for, square
from tests.conftest import S3Endpoint


def test_s3_store(pg_dsn: str, s3: S3Endpoint, s3_root: str, tmp_path: Path) -> None:
    local = make_store(tmp_path / "stores")
    fs = s3fs.S3FileSystem(**s3.storage_options)
    fs.put(str(local / AOI), f"{s3_root.removeprefix('s3://')}/{AOI}", recursive=True)
    settings = settings_for(
        pg_dsn,
        minio_endpoint=s3.endpoint_url,
        minio_access_key="testing",
        minio_secret_key="testing",
    )
    det = insert_detection(pg_dsn, square(10.015, 50.01), 0.9)
    app = create_app(settings, store_root=s3_root, web_dist=None)
    with TestClient(app) as c:
        aois = c.get("/aois").json()
        assert [(a["name"], a["layers"]) for a in aois] == [(AOI, ["composite", "probability"])]
        assert aois[0]["bounds"][0] == pytest.approx(AOI_LONLAT[0], abs=0.002)
        thumb = c.get(f"/evidence/{det}/thumbnail", params={"size": 128})
        assert thumb.status_code == 200, thumb.text
        assert Image.open(io.BytesIO(thumb.content)).size == (128, 128)
        info = c.get("/raster/info", params={"aoi": AOI, "layer": "probability"})
        assert info.status_code == 200, info.text
        assert info.json()["dtype"] == "float32"
        assert c.get("/raster/info", params={"aoi": "missing"}).status_code == 404
    app.state.engine.dispose()
