"""Real tritonserver on loopback: config rendering, dynamic batching, retries, clear errors."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from cube.errors import InvalidInputError, ServiceUnavailableError
from deploy.local.process import free_port, wait_until
from deploy.local.service import LocalService
from deploy.local.triton import TritonService
from serving.detections_db import insert_detections
from serving.postprocess import detections_frame, polygonize
from serving.predict import predict
from serving.predictors import PredictorSpec, clear_predictors, get_predictor
from serving.triton_client import AsyncTritonSegClient, RetryPolicy, TritonSegClient
from serving.triton_repo import (
    TritonModelConfig,
    local_config,
    production_config,
    render_pbtxt,
    write_model_repository,
)


def _expected(x: np.ndarray) -> np.ndarray:
    w = np.linspace(-2, 2, 10, dtype=np.float32)
    return np.tensordot(w, x, axes=([0], [1]))[:, None] + np.float32(0.1)


def _metric(svc: TritonService, name: str) -> float:
    text = urllib.request.urlopen(svc.metrics_url, timeout=5).read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.M))


def test_configs_come_from_one_source(tmp_path: Path, pointwise_model: Path) -> None:
    prod = render_pbtxt(production_config())
    assert 'backend: "onnxruntime"' in prod and "KIND_GPU" in prod
    assert "max_batch_size: 32" in prod
    assert "preferred_batch_size: [ 8, 16, 32 ] max_queue_delay_microseconds: 50000" in prod
    assert "dims: [ 10, 256, 256 ]" in prod and "dims: [ 1, 256, 256 ]" in prod
    assert "KIND_CPU" in render_pbtxt(production_config("KIND_CPU"))
    local = render_pbtxt(local_config())
    assert local.replace('"python"', '"onnxruntime"').replace("KIND_CPU", "KIND_GPU") == prod
    model_dir = write_model_repository(pointwise_model, tmp_path / "repo", local_config())
    assert (model_dir / "1" / "model.py").exists() and (model_dir / "1" / "model.onnx").exists()
    with pytest.raises(InvalidInputError):
        TritonModelConfig(preferred_batch_sizes=(64,))


def test_service_protocol_and_status(triton_server: TritonService) -> None:
    assert isinstance(triton_server, LocalService)
    st = triton_server.status()
    assert st.running and st.healthy
    triton_server.start()  # idempotent


def test_client_matches_model_and_batches_dynamically(triton_server: TritonService) -> None:
    rng = np.random.default_rng(0)
    client = TritonSegClient(triton_server.grpc_url)
    x = rng.random((3, 10, 256, 256), dtype=np.float32)
    np.testing.assert_allclose(client.predict(x), _expected(x), atol=1e-4)
    before_req = _metric(triton_server, "nv_inference_request_success")
    before_exec = _metric(triton_server, "nv_inference_exec_count")
    tiles = [rng.random((1, 10, 256, 256), dtype=np.float32) for _ in range(48)]

    def one(t: np.ndarray) -> np.ndarray:
        return TritonSegClient(triton_server.grpc_url).predict(t)

    with ThreadPoolExecutor(24) as pool:
        outs = list(pool.map(one, tiles))
    for t, y in zip(tiles, outs, strict=True):
        np.testing.assert_allclose(y, _expected(t), atol=1e-4)
    # Triton refreshes its metrics every couple of seconds: wait until all requests show.
    wait_until(
        lambda: _metric(triton_server, "nv_inference_request_success") - before_req >= 48,
        30,
        "Triton metrics",
    )
    requests = _metric(triton_server, "nv_inference_request_success") - before_req
    execs = _metric(triton_server, "nv_inference_exec_count") - before_exec
    assert requests == 48
    assert execs < requests  # the dynamic batcher merged requests


def test_async_client_bounded_concurrency(triton_server: TritonService) -> None:
    rng = np.random.default_rng(1)
    batches = [rng.random((2, 10, 256, 256), dtype=np.float32) for _ in range(6)]

    async def run() -> list[np.ndarray]:
        async with AsyncTritonSegClient(triton_server.grpc_url, concurrency=3) as client:
            return await client.predict_many(batches)

    for x, y in zip(batches, asyncio.run(run()), strict=True):
        np.testing.assert_allclose(y, _expected(x), atol=1e-4)


def test_wrong_channels_is_clear_error(triton_server: TritonService) -> None:
    client = TritonSegClient(triton_server.grpc_url)
    with pytest.raises(InvalidInputError, match=r"\(B, 10, H, W\)"):
        client.predict(np.zeros((1, 6, 256, 256), np.float32))


def test_server_stopped_mid_run_fails_clearly_and_stores_nothing(
    tmp_path: Path, pointwise_model: Path, pg_dsn: str
) -> None:
    """A dedicated server stopped after the first batch of a run: clear error, nothing stored.

    The client retries with backoff and jitter, then raises ServiceUnavailableError; the
    pipeline never reaches the (single-transaction) insert, so ``detections`` stays empty.
    """
    write_model_repository(pointwise_model, tmp_path / "repo", local_config())
    svc = TritonService(tmp_path, tmp_path / "repo", free_port(), free_port(), free_port())
    svc.start()
    feats = xr.DataArray(
        np.random.default_rng(0).random((10, 512, 512), dtype=np.float32),
        dims=("band", "y", "x"),
        coords={"y": 3_100_000.0 - 10 * np.arange(512), "x": 500_000.0 + 10 * np.arange(512)},
    ).rio.write_crs("EPSG:32617")
    clear_predictors()
    spec = PredictorSpec("triton", "unet_seg", triton_url=svc.grpc_url)
    client = get_predictor(spec)
    assert isinstance(client, TritonSegClient)
    client.retry = RetryPolicy(attempts=3, base_s=0.2, timeout_s=5)
    done: list[int] = []
    real_predict = client.predict

    def predict_then_stop(batch: np.ndarray) -> np.ndarray:
        out = real_predict(batch)
        if not done:  # the first batch got through: now take the server away
            done.append(len(batch))
            svc.stop()
        return out

    object.__setattr__(client, "predict", predict_then_stop)
    prob = predict(feats, spec, tile=256, overlap=64, batch=4, chunk=256)
    with pytest.raises(ServiceUnavailableError, match="after 3 attempts"):
        polygons = polygonize(prob.compute(scheduler="synchronous"))
        insert_detections(pg_dsn, detections_frame(polygons, "m@1", "aoi", {}))
    assert done and not svc.status().running
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM detections").fetchone() == (0,)
    clear_predictors()
