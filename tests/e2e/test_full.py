"""``cube.run full`` end to end on a tiny synthetic AOI pair against the real services.

PostGIS, the S3 endpoint, MLflow, a STAC API (rustac) and a real tritonserver (explicit model
control, empty repository at start) run on loopback; the pipeline ingests two AOIs, trains on
one, publishes the model to Triton, detects on both through Triton and evaluates against the
planted truth. A second run reuses the stores and the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import fsspec
import mlflow
import psycopg
import pytest

from cube.run import main
from cube.synthetic import SceneSpec, generate_scenes
from deploy.local.triton import TritonService
from tests.conftest import S3Endpoint

pytestmark = [pytest.mark.slow, pytest.mark.triton]

X0, Y0 = 470000.0, 4990000.0
SCENES = [
    SceneSpec(name="e2e_a", seed=7, size_px=512, n_dates=3, n_complexes=2, n_confusers=1),
    SceneSpec(
        name="e2e_b",
        seed=8,
        size_px=512,
        n_dates=3,
        terrain="steppe",
        n_complexes=2,
        n_confusers=1,
        origin=(X0 + 5120.0, Y0),
    ),
    SceneSpec(
        name="e2e_held",
        seed=9,
        size_px=512,
        n_dates=3,
        terrain="rocky",
        n_complexes=1,
        n_confusers=2,
        split="heldout",
        origin=(X0, Y0 - 5120.0),
    ),
]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e-scenes")
    generate_scenes(SCENES, out)
    scenes = json.loads((out / "scenes.geojson").read_text())["features"]
    by_split: dict[str, list] = {"train": [], "heldout": []}
    for f in scenes:
        by_split[f["properties"]["split"]].append(f["geometry"]["coordinates"][0])
    for split, rings in by_split.items():
        xs = [x for ring in rings for x, _ in ring]
        ys = [y for ring in rings for _, y in ring]
        pad = 0.002  # a little beyond the footprints
        minx, miny, maxx, maxy = min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad
        ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
        (out / f"e2e_{split}.geojson").write_text(
            json.dumps({"type": "Polygon", "coordinates": [ring]})
        )
    return out


@pytest.fixture(scope="module")
def triton(
    tmp_path_factory: pytest.TempPathFactory, triton_factory: Callable[[Path], TritonService]
) -> TritonService:
    """tritonserver with an empty repository: ``full`` publishes and loads the model."""
    return triton_factory(tmp_path_factory.mktemp("e2e-triton") / "model_repository")


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pg_dsn: str,
    s3: S3Endpoint,
    mlflow_uri: str,
    triton: TritonService,
) -> dict[str, str]:
    dsn = urlparse(pg_dsn)
    values = {
        "POSTGRES_HOST": dsn.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(dsn.port),
        "POSTGRES_DB": dsn.path.lstrip("/"),
        "POSTGRES_USER": dsn.username or "postgres",
        "POSTGRES_PASSWORD": dsn.password or "",
        "MINIO_ENDPOINT": s3.endpoint_url,
        "MINIO_BUCKET": s3.bucket,
        "MINIO_ACCESS_KEY": "testing",
        "MINIO_SECRET_KEY": "testing",
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "TRITON_URL": triton.grpc_url,
        "DATA_DIR": str(tmp_path / "data"),
        "STATE_DIR": str(tmp_path / "state"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    return values


def test_full_pipeline_through_triton(
    env: dict[str, str],
    synthetic: Path,
    s3_root: str,
    pg_dsn: str,
    triton: TritonService,
    stac_api: Callable[[Path], str],
    tmp_path: Path,
) -> None:
    catalog = stac_api(synthetic / "items.json")
    repo = triton.model_repository
    argv = [
        "full",
        "--aoi",
        str(synthetic / "e2e_train.geojson"),
        str(synthetic / "e2e_heldout.geojson"),
        "--train-aoi",
        str(synthetic / "e2e_train.geojson"),
        "--start",
        "2024-03-01",
        "--end",
        "2024-08-31",
        "--max-cloud",
        "100",
        "--catalog",
        catalog,
        "--known-sites",
        str(synthetic / "known_sites.geojson"),
        "--store",
        s3_root,
        "--preset",
        "demo",
        "--epochs",
        "2",
        "--max-minutes",
        "1",
        "--truth",
        str(synthetic / "truth.geojson"),
        "--scenes",
        str(synthetic / "scenes.geojson"),
        "--model-repository",
        str(repo),
        "--scheduler",
        "threads",
        "--report",
        str(tmp_path / "report.json"),
    ]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failed"] == []
    assert report["serving_mode"] == "triton"
    assert {s["stage"] for s in report["stages"]} == {
        "ingest",
        "train",
        "export",
        "detect",
        "evaluate",
    }
    assert all(s["peak_rss_mib"] > 0 and s["seconds"] > 0 for s in report["stages"])
    splits = {row["aoi"]: row for row in report["evaluation"]}
    assert splits["e2e_train"]["split"] == "train"
    assert splits["e2e_heldout"]["split"] == "heldout"
    assert splits["e2e_heldout"]["n_positives"] == 1
    assert "fa_per_1000km2" in splits["e2e_heldout"]

    # the model: an MLflow run with a registered version, exported into the Triton repo
    model = report["model"]
    run = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"]).get_run(model["run_id"])
    assert run.info.status == "FINISHED"
    assert Path(model["onnx_path"]).is_file()
    assert Path(model["onnx_path"]).parent.parent == repo / "unet_seg"

    # the stores on S3, complete per the manifest
    s3fs = fsspec.filesystem("s3", **_storage(env))
    bucket_root = s3_root.removeprefix("s3://")
    for aoi in ("e2e_train", "e2e_heldout"):
        manifest = json.loads(s3fs.cat(f"{bucket_root}/{aoi}/manifest.json"))
        for stage in ("composite", "features", "probability"):
            assert manifest["stages"][stage] == "done", (aoi, stage)
        assert s3fs.exists(f"{bucket_root}/{aoi}/probability.tif")
    assert json.loads(s3fs.cat(f"{bucket_root}/e2e_train/manifest.json"))["stages"]["tiles"]
    # the held-out AOI is stretched like the training AOI (the model's input scale)
    train_m, held_m = (
        json.loads(s3fs.cat(f"{bucket_root}/{aoi}/manifest.json"))
        for aoi in ("e2e_train", "e2e_heldout")
    )
    assert held_m["stretch_from"] == train_m["stretch_from"] == "e2e_train"
    assert held_m["stretch_low"] == train_m["stretch_low"]

    # detections in PostGIS agree with the GeoJSON files and carry the registered version
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT aoi, model_version, count(*) FROM detections GROUP BY aoi, model_version"
        ).fetchall()
        scenes = conn.execute("SELECT count(*) FROM imagery_catalog").fetchone()
    assert scenes is not None and scenes[0] == 9
    for aoi, version, count in rows:
        assert version == model["model_version"]
        features = json.loads(Path(report["detections"][aoi]).read_text())["features"]
        assert count == len(features)

    # the API answers for the new detections and lists both AOI stores
    from fastapi.testclient import TestClient

    from api.main import create_app
    from cube.settings import Settings

    with TestClient(create_app(Settings(), store_root=s3_root)) as client:
        assert {"e2e_train", "e2e_heldout"} <= {a["name"] for a in client.get("/aois").json()}
        for aoi, _, count in rows:
            body = client.get("/detections", params={"aoi": aoi, "limit": 1000}).json()
            assert body["total"] == count
        assert client.get("/health").json()["database"] is True

    # a second run reuses the stores and the model (no new MLflow run)
    assert main([*argv[:-1], str(tmp_path / "again.json"), "--skip-ingest"]) == 0
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["model"]["run_id"] == model["run_id"]
    assert "ingest" not in {s["stage"] for s in again["stages"]}
    with psycopg.connect(pg_dsn) as conn:  # the detections are reused, not stored twice
        total = conn.execute("SELECT count(*) FROM detections").fetchone()
    assert total == (sum(count for _, _, count in rows),)


def _storage(env: dict[str, str]) -> dict[str, object]:
    return {
        "key": env["MINIO_ACCESS_KEY"],
        "secret": env["MINIO_SECRET_KEY"],
        "client_kwargs": {"endpoint_url": env["MINIO_ENDPOINT"]},
    }
