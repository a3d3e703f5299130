import json
import shutil
import tempfile
import uuid
from pathlib import Path

import boto3
import mlflow
import psycopg
import pytest
import s3fs

from deploy.local import S3Service, ServiceError, StacService, free_port
from deploy.local.postgres import PostgresService

TABLES = {"detections", "known_sites", "imagery_catalog", "tiles", "reviews"}


def test_schema_tables_and_gist_indexes(pg_dsn):
    with psycopg.connect(pg_dsn) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
        assert tables >= TABLES
        gist = conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE indexdef LIKE '%USING gist%'"
        ).fetchall()
        gist_tables = {t for t, _ in gist}
        assert {"detections", "known_sites", "imagery_catalog", "tiles"} <= gist_tables
        srids = conn.execute(
            "SELECT DISTINCT srid FROM geometry_columns WHERE f_table_schema='public'"
        ).fetchall()
        assert srids == [(4326,)]


@pytest.mark.parametrize(
    ("score", "geom"),
    [
        (1.5, "POLYGON((0 0,1 0,1 1,0 1,0 0))"),
        (-0.1, "POLYGON((0 0,1 0,1 1,0 1,0 0))"),
        (0.5, "POLYGON((0 0,1 1,1 0,0 1,0 0))"),  # self-intersecting bow tie
    ],
)
def test_bad_detection_rows_are_rejected(pg_dsn, score, geom):
    with psycopg.connect(pg_dsn) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO detections (geom, centroid, score, area_km2, compactness,"
            " model_version, aoi) VALUES (ST_GeomFromText(%s, 4326),"
            " ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326), %s, 1, 0.5, 'm/1', 'demo')",
            (geom, score),
        )


def test_good_detection_row_is_accepted(pg_dsn):
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "INSERT INTO detections (geom, centroid, score, area_km2, compactness, model_version,"
            " aoi) VALUES (ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326),"
            " ST_SetSRID(ST_MakePoint(0.5, 0.5), 4326), 0.9, 1, 0.8, 'm/1', 'demo')"
        )
        assert conn.execute("SELECT count(*) FROM detections").fetchone() == (1,)


def test_postgres_service_lifecycle_keeps_data():
    base = Path(tempfile.mkdtemp(prefix="lw-pgsvc-"))
    base.chmod(0o755)
    svc = PostgresService(base / "pg", port=free_port(), fast_unsafe=True)
    svc.start()
    try:
        svc.start()  # second start is harmless
        assert svc.status().healthy
        with psycopg.connect(svc.dsn) as conn:  # application role, password auth
            conn.execute(
                "INSERT INTO known_sites (name, country, operator, source, geom, buffer_geom)"
                " VALUES ('x', 'y', 'z', 'test', ST_SetSRID(ST_MakePoint(1, 1), 4326),"
                " ST_Buffer(ST_SetSRID(ST_MakePoint(1, 1), 4326), 0.01))"
            )
        svc.stop()
        assert not svc.status().running
        svc.start()
        with psycopg.connect(svc.dsn) as conn:
            assert conn.execute("SELECT name FROM known_sites").fetchall() == [("x",)]
    finally:
        svc.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_busy_port_gives_clear_error(tmp_path, s3):
    busy = int(s3.endpoint_url.rsplit(":", 1)[1])
    with pytest.raises(ServiceError, match=f"port {busy} is already in use"):
        S3Service(tmp_path, port=busy).start()


def test_s3_endpoint_write_read(s3):
    fs = s3fs.S3FileSystem(**s3.storage_options)
    key = f"{s3.bucket}/probe/{uuid.uuid4().hex}.txt"
    with fs.open(key, "wb") as fh:
        fh.write(b"launchwatch")
    assert fs.cat(key) == b"launchwatch"
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    assert s3.bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}


def test_mlflow_store_records_run(mlflow_uri, tmp_path):
    mlflow.set_tracking_uri(mlflow_uri)
    exp = mlflow.create_experiment(f"probe-{uuid.uuid4().hex[:6]}", tmp_path.as_uri())
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_param("p", 1)
        mlflow.log_metric("m", 0.5)
    got = mlflow.get_run(run.info.run_id)
    assert got.data.params == {"p": "1"}
    assert got.data.metrics == {"m": 0.5}


def test_stac_service_serves_items(stac_api, tmp_path):
    import pystac_client

    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "a",
        "collection": "sentinel-2-l2a",
        "geometry": {"type": "Point", "coordinates": [10, 50]},
        "bbox": [10, 50, 10, 50],
        "properties": {"datetime": "2024-06-01T00:00:00Z"},
        "links": [],
        "assets": {},
    }
    url = stac_api([item])
    found = list(pystac_client.Client.open(url).search(bbox=[9, 49, 11, 51]).items())
    assert [i.id for i in found] == ["a"]
    missing = tmp_path / "nope.json"
    with pytest.raises(ServiceError, match="does not exist"):
        StacService(tmp_path, missing, port=free_port()).start()
    assert json.loads(json.dumps(item))["id"] == "a"
