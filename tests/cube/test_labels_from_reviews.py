import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import psycopg
import pytest
import s3fs

from cube.commands import labels
from cube.errors import InvalidInputError
from cube.settings import Settings
from tests.conftest import S3Endpoint


def _settings(dsn: str, **extra: Any) -> Settings:
    parts = urlsplit(dsn)
    fields: dict[str, Any] = {
        "postgres_host": parts.hostname,
        "postgres_port": parts.port,
        "postgres_db": parts.path.lstrip("/"),
        "postgres_user": parts.username or "postgres",
        "postgres_password": parts.password or "",
    }
    return Settings(**(fields | extra))


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    labels.add_parser(parser.add_subparsers())
    return parser.parse_args(["labels", *argv])


def _detection(conn: psycopg.Connection, lon: float, aoi: str = "demo") -> int:
    wkt = f"POLYGON(({lon} 50,{lon + 0.01} 50,{lon + 0.01} 50.01,{lon} 50.01,{lon} 50))"
    row = conn.execute(
        "INSERT INTO detections (geom, centroid, score, area_km2, compactness, model_version, aoi)"
        " VALUES (ST_GeomFromText(%s, 4326), ST_Centroid(ST_GeomFromText(%s, 4326)),"
        " 0.8, 0.7, 0.5, 'unet/1', %s) RETURNING id",
        (wkt, wkt, aoi),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _review(conn: psycopg.Connection, det: int, verdict: str, at: str) -> None:
    conn.execute(
        "INSERT INTO reviews (detection_id, verdict, reason, created_at) VALUES (%s, %s, 'x', %s)",
        (det, verdict, at),
    )


@pytest.fixture
def reviewed(pg_dsn: str) -> dict[str, int]:
    with psycopg.connect(pg_dsn) as conn:
        ids = {k: _detection(conn, lon) for k, lon in zip("abcd", (10, 11, 12, 13), strict=True)}
        ids["other"] = _detection(conn, 14, aoi="elsewhere")
        _review(conn, ids["a"], "confirmed", "2026-01-01T00:00Z")
        _review(conn, ids["b"], "rejected", "2026-01-01T00:00Z")
        _review(conn, ids["c"], "unsure", "2026-01-01T00:00Z")
        _review(conn, ids["d"], "rejected", "2026-01-02T00:00Z")
        _review(conn, ids["d"], "confirmed", "2026-01-03T00:00Z")  # latest wins
        _review(conn, ids["d"], "unsure", "2025-12-31T00:00Z")
        _review(conn, ids["other"], "confirmed", "2026-01-01T00:00Z")
    return ids


def test_labels_from_reviews_local_store(
    pg_dsn: str, reviewed: dict[str, int], tmp_path: Path
) -> None:
    args = _parse("--from-reviews", "--aoi", "demo", "--store", str(tmp_path))
    assert args.func(args, _settings(pg_dsn)) == 0
    out = tmp_path / "demo" / labels.LABEL_FILE
    frame = gpd.read_file(out)
    assert frame.crs.to_epsg() == 4326
    got = dict(zip(frame["detection_id"], frame["label"], strict=True))
    assert got == {reviewed["a"]: 1, reviewed["b"]: 0, reviewed["d"]: 1}
    assert frame.geometry.geom_type.eq("Polygon").all()
    assert [p.name for p in out.parent.iterdir()] == [labels.LABEL_FILE]  # no temp files left


def test_labels_to_s3_store(
    pg_dsn: str, reviewed: dict[str, int], s3: S3Endpoint, s3_root: str
) -> None:
    settings = _settings(
        pg_dsn,
        minio_endpoint=s3.endpoint_url,
        minio_access_key="testing",
        minio_secret_key="testing",
    )
    args = _parse("--from-reviews", "--aoi", "demo", "--store", s3_root)
    assert labels.run(args, settings) == 0
    fs = s3fs.S3FileSystem(**s3.storage_options)
    body = json.loads(fs.cat(f"{s3_root}/demo/{labels.LABEL_FILE}"))
    assert sorted(f["properties"]["label"] for f in body["features"]) == [0, 1, 1]


def test_no_reviews_is_bad_input_and_writes_nothing(
    pg_dsn: str, reviewed: dict[str, int], tmp_path: Path
) -> None:
    args = _parse("--from-reviews", "--aoi", "empty", "--store", str(tmp_path))
    with pytest.raises(InvalidInputError, match="empty"):
        labels.run(args, _settings(pg_dsn))
    assert not any(tmp_path.iterdir())
    with pytest.raises(SystemExit):
        _parse("--aoi", "demo")  # --from-reviews is required
