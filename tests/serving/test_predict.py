"""Blending: chunked == single-window, no seams, and errors on bad input."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from cube.errors import InvalidInputError
from serving.predict import blend_window, chunk_size_for_budget, predict
from serving.predictors import Backend, PredictorSpec


def _features(size: int = 320, seed: int = 1) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    data = rng.random((10, size, size), dtype=np.float32)
    feats = xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={"y": 500_005.0 - 10 * np.arange(size), "x": 300_005.0 + 10 * np.arange(size)},
    )
    return feats.rio.write_crs("EPSG:32633")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_chunked_run_equals_single_window(backend: Backend, tiny_onnx: Path) -> None:
    """Chunks computed by dask's threaded scheduler share one predictor per process."""
    feats = _features(320)
    spec = PredictorSpec(backend, str(tiny_onnx))
    single = predict(feats, spec, tile=64, overlap=16, batch=4, chunk=320)
    assert single.data.numblocks == (1, 1)
    chunked = predict(feats, spec, tile=64, overlap=16, batch=4, chunk=96)
    assert chunked.data.numblocks == (3, 3)
    a, b = single.values, chunked.values
    assert a.dtype == np.float32 and a.shape == (320, 320)
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)
    assert chunked.rio.crs == feats.rio.crs


def test_device_path_equals_host_path(tiny_state_dict: Path, tiny_onnx: Path) -> None:
    """torch blends on its device (the GPU path, here on the CPU device) like the host path."""
    feats = _features(320)
    feats[:, 5:9, 5:9] = np.nan  # cleaned on the device as on the host
    on_device = predict(
        feats,
        PredictorSpec("torch", str(tiny_state_dict), "unet_mini", device="cpu"),
        tile=64,
        overlap=16,
        batch=4,
        chunk=96,
    ).values
    on_host = predict(
        feats, PredictorSpec("onnxruntime", str(tiny_onnx)), tile=64, overlap=16, batch=4, chunk=96
    ).values
    assert np.isfinite(on_device).all()
    np.testing.assert_allclose(on_device, on_host, atol=1e-5, rtol=0)


def test_no_data_pixels_get_zero_probability(pointwise_model: Path) -> None:
    feats = _features(192)
    feats[:, 40:80, :] = np.nan  # a gap between scenes
    feats[3, 100:110, 100:110] = np.nan  # one band missing: still predicted
    spec = PredictorSpec("onnxruntime", str(pointwise_model))
    prob = predict(feats, spec, tile=64, overlap=16).values
    assert (prob[40:80] == 0).all()
    assert (prob[100:110, 100:110] > 0).all() and (prob[:40] > 0).all()


def test_cuda_device_without_gpu_is_a_clear_error(tiny_state_dict: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    spec = PredictorSpec("torch", str(tiny_state_dict), "unet_mini", device="cuda")
    with pytest.raises(InvalidInputError, match="no CUDA GPU"):
        predict(_features(128), spec, tile=64, overlap=16).compute()
    with pytest.raises(InvalidInputError, match="device must be"):
        PredictorSpec("torch", str(tiny_state_dict), device="tpu")  # type: ignore[arg-type]


def test_blended_pointwise_model_has_no_seams(pointwise_model: Path) -> None:
    """A 1x1 conv is tiling-independent: the blend must reproduce it everywhere, edges too."""
    feats = _features(300)
    spec = PredictorSpec("onnxruntime", str(pointwise_model))
    prob = predict(feats.chunk({"y": 128, "x": 128}), spec, tile=64, overlap=16, batch=8).values
    w = np.linspace(-2, 2, 10)
    expected = 1 / (1 + np.exp(-(np.tensordot(w, feats.values, axes=1) + 0.1)))
    np.testing.assert_allclose(prob, expected, atol=1e-5)


def test_blend_window_is_smooth_and_positive() -> None:
    w = blend_window(64)
    assert w.min() > 0 and w[32, 32] == w.max()
    np.testing.assert_allclose(w, w.T)


def test_bad_inputs_are_rejected(pointwise_model: Path) -> None:
    spec = PredictorSpec("onnxruntime", str(pointwise_model))
    with pytest.raises(InvalidInputError, match="10 feature bands"):
        predict(_features(128).isel(band=slice(0, 6)), spec, tile=64)
    with pytest.raises(InvalidInputError, match="overlap"):
        predict(_features(128), spec, tile=64, overlap=64)
    with pytest.raises(InvalidInputError, match="smaller than one"):
        predict(_features(128), spec, tile=256)
    with pytest.raises(InvalidInputError, match="too small"):
        chunk_size_for_budget(1, tile=256)
    assert chunk_size_for_budget(2048, tile=256) % 256 == 0
    assert isinstance(predict(_features(128), spec, tile=64, overlap=16).data, da.Array)
