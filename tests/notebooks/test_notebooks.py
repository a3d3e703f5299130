"""The notebooks run top to bottom against real services started by fixtures.

A tiny synthetic scene (512 px, 3 dates) is served by a real STAC API (rustac), ingested with
``cube.run ingest`` into the S3 endpoint (moto), and each notebook is executed with nbclient in a
kernel of this venv, its settings passed through the ``Settings`` environment variables
(plus ``LAUNCHWATCH_*`` notebook parameters). A failing cell fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from nbclient import NotebookClient
from shapely.geometry import box

from cube.synthetic import SceneSpec, generate_scenes
from cube.synthetic.publish import to_wgs84

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
START, END = "2024-03-01", "2024-04-30"


@dataclass(frozen=True)
class NotebookEnv:
    """Environment shared by the notebook runs."""

    variables: dict[str, str]
    truth: Path


@pytest.fixture(scope="module")
def notebook_env(
    tmp_path_factory: pytest.TempPathFactory, stac_api, s3, mlflow_uri: str
) -> Iterator[NotebookEnv]:
    root = tmp_path_factory.mktemp("nb")
    spec = SceneSpec(name="nb_desert", seed=7, size_px=512, n_dates=3, n_complexes=1)
    catalog = generate_scenes([spec], root / "scenes")
    minx, miny, maxx, maxy = to_wgs84(box(*spec.bounds), spec.epsg).bounds
    # an AOI well inside the scene
    aoi = f"{minx + 0.002:.4f},{miny + 0.002:.4f},{maxx - 0.002:.4f},{maxy - 0.002:.4f}"
    store = f"s3://{s3.bucket}/notebooks"
    endpoint = urlsplit(s3.endpoint_url)
    variables = {
        "STAC_API_URL": stac_api(catalog.items),
        "MINIO_ENDPOINT": f"http://{endpoint.netloc}",
        "MINIO_BUCKET": s3.bucket,
        "MINIO_ACCESS_KEY": s3.storage_options["key"],
        "MINIO_SECRET_KEY": s3.storage_options["secret"],
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "DATA_DIR": str(root / "data"),
        "LAUNCHWATCH_AOI": aoi,
        "LAUNCHWATCH_START": START,
        "LAUNCHWATCH_END": END,
        "LAUNCHWATCH_STORE": store,
    }
    ingest = [
        sys.executable, "-m", "cube.run", "ingest", "--aoi", aoi, "--start", START, "--end", END,
        "--catalog", variables["STAC_API_URL"], "--store", store,
        "--known-sites", str(catalog.known_sites), "--tile", "128", "--overlap", "0",
        "--no-db", "--scheduler", "synchronous",
    ]  # fmt: skip
    res = subprocess.run(
        ingest, env={**os.environ, **variables}, cwd=root, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    yield NotebookEnv(variables, catalog.truth)


def _postgres_env(dsn: str) -> dict[str, str]:
    url = urlsplit(dsn)
    return {
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port),
        "POSTGRES_DB": url.path.lstrip("/"),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
    }


def _execute(name: str, env: dict[str, str], cwd: Path, monkeypatch) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows figures
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # outputs are stripped in the repository: the notebooks are run, never replayed
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), name
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    nbformat.write(nb, cwd / name)  # the executed copy, for a look after a failure
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def _figures(nb: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_01_cube_exploration(notebook_env, tmp_path, monkeypatch):
    nb = _execute("01_cube_exploration.ipynb", notebook_env.variables, tmp_path, monkeypatch)
    text = _text(nb)
    assert "clear fraction per date" in text
    assert "('time', 'band', 'y', 'x')" in text
    assert _figures(nb) >= 1


def test_02_training_and_metrics(notebook_env, tmp_path, monkeypatch):
    nb = _execute("02_training_and_metrics.ipynb", notebook_env.variables, tmp_path, monkeypatch)
    text = _text(nb)
    assert "best val_iou" in text
    assert _figures(nb) >= 2


def test_03_detections(notebook_env, pg_dsn, tmp_path, monkeypatch):
    env = {
        **notebook_env.variables,
        **_postgres_env(pg_dsn),
        "LAUNCHWATCH_TRUTH": str(notebook_env.truth),
    }
    nb = _execute("03_detections.ipynb", env, tmp_path, monkeypatch)
    assert "stored detections [1" in _text(nb)
    assert _figures(nb) == 1
