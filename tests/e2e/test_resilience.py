"""A real ``dask scheduler`` and two ``dask worker`` processes on loopback; one is killed.

``ingest`` (composite → features → Zarr) and ``detect`` run against the cluster while a
worker holding tasks is SIGKILLed; both finish, and their stores equal a threaded run's.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import dask
import numpy as np
import pytest

from cube.run import main
from cube.store import StoreLocation, open_dataset
from cube.synthetic import SceneSpec, SyntheticCatalog, generate_scenes
from tests.e2e.conftest import Cluster
from tests.serving.conftest import pointwise_onnx

pytestmark = pytest.mark.slow

SPEC = SceneSpec(name="res", seed=21, size_px=768, n_dates=4, n_complexes=1, n_confusers=2)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCatalog:
    cat = generate_scenes([SPEC], tmp_path_factory.mktemp("resilience"))
    footprint = json.loads(cat.scenes.read_text())["features"][0]["geometry"]
    (cat.root / "res_aoi.geojson").write_text(json.dumps(footprint))
    return cat


def _kill_busy_worker(address: str, cluster: Cluster, killed: list[str]) -> None:
    """Wait until a worker processes tasks, then SIGKILL its process."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        pids = client.run(os.getpid)  # worker address → pid
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            for worker in busy:
                pid = pids.get(worker)
                if pid in {p.pid for p in cluster.workers}:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(worker)
                    return
            time.sleep(0.05)


def _run(argv: list[str], scheduler: str, cluster: Cluster | None) -> list[str]:
    killed: list[str] = []
    killer = None
    if cluster is not None:
        killer = threading.Thread(target=_kill_busy_worker, args=(scheduler, cluster, killed))
        killer.start()
    try:
        assert main([*argv, "--scheduler", scheduler]) == 0
    finally:
        if killer is not None:
            killer.join()
    return killed


def _argvs(scenes: SyntheticCatalog, store: Path, model: Path) -> tuple[list[str], list[str]]:
    common = ["--aoi", str(scenes.root / "res_aoi.geojson"), "--store", str(store)]
    ingest = [
        "ingest",
        *common,
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--max-cloud",
        "100",
        "--catalog",
        str(scenes.items),
        "--memory-budget-mb",
        "64",
        "--no-db",
    ]
    detect = [
        "detect",
        *common,
        "--model",
        str(model),
        "--backend",
        "onnxruntime",
        "--memory-budget-mb",
        "128",
        "--no-db",
    ]
    return ingest, detect


def test_killed_worker_does_not_change_the_result(
    cluster: Cluster, scenes: SyntheticCatalog, tmp_path: Path
):
    model = pointwise_onnx(tmp_path / "pointwise.onnx")
    ingest, detect = _argvs(scenes, tmp_path / "distributed", model)
    killed = _run(ingest, cluster.address, cluster)
    assert killed, "no worker was killed during ingest"
    _run(detect, cluster.address, None)
    ref_ingest, ref_detect = _argvs(scenes, tmp_path / "threads", model)
    _run(ref_ingest, "threads", None)
    _run(ref_detect, "threads", None)
    with dask.config.set(scheduler="threads"):  # the test's own Clients set "distributed"
        for stage, name, var in (
            ("composite", "composite.zarr", "composite"),
            ("features", "features.zarr", "features"),
            ("probability", "probability.zarr", "probability"),
        ):
            got = open_dataset(StoreLocation(str(tmp_path / "distributed"), "res_aoi"), name, stage)
            ref = open_dataset(StoreLocation(str(tmp_path / "threads"), "res_aoi"), name, stage)
            np.testing.assert_array_equal(got[var].values, ref[var].values)
    # the model is part of the probability store (and of its resume fingerprint)
    assert got["probability"].attrs["model_version"] == ref["probability"].attrs["model_version"]
    assert got["probability"].attrs["model_version"]
