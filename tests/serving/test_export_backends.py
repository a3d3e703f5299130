"""ONNX export validation and agreement of every backend with torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cube.errors import DataError, InvalidInputError, NotFoundError
from deploy.local.triton import TritonService
from models.lightning_module import SegmentationModule
from serving.checkpoint import load_torch_model
from serving.export import main, validate_onnx
from serving.predictors import Backend, PredictorSpec, fastest_local_backend, get_predictor
from serving.triton_client import TritonSegClient
from tests.serving.conftest import TINY_MODEL


def _batch(b: int = 2, tile: int = 64) -> np.ndarray:
    return np.random.default_rng(3).random((b, 10, tile, tile), dtype=np.float32)


def test_export_report_and_cli(tiny_state_dict: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    report = json.loads(tiny_onnx.with_suffix(".report.json").read_text())
    assert report["passed"] and report["batch_sizes"] == [1, 2]
    assert report["rtol"] == 1e-4 and set(report["max_abs_error"]) == {"1", "2"}
    out = tmp_path / "repo" / "unet_seg" / "1" / "model.onnx"
    rc = main(
        [
            "--checkpoint",
            str(tiny_state_dict),
            "--model-name",
            TINY_MODEL,
            "--output",
            str(out),
            "--batch-sizes",
            "1,2",
            "--triton-config",
            "python",
        ]
    )
    assert rc == 0 and out.exists()
    assert 'backend: "python"' in (out.parents[1] / "config.pbtxt").read_text()
    assert (out.parent / "model.py").exists()
    bad = ["--checkpoint", str(tmp_path / "missing.ckpt"), "--output", str(out)]
    assert main(bad) == 1  # NotFoundError: a clear one-line message, exit code 1


def test_lightning_checkpoint_loads(tmp_path: Path, tiny_state_dict: Path) -> None:
    module = SegmentationModule(model_name=TINY_MODEL)
    module.model.load_state_dict(torch.load(tiny_state_dict))
    ckpt = tmp_path / "m.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, ckpt)
    net = load_torch_model(ckpt)
    x = torch.from_numpy(_batch(1))
    with torch.no_grad():
        torch.testing.assert_close(net(x), module.model.eval()(x))


def test_mismatch_fails_loudly(tiny_state_dict: Path, tiny_onnx: Path) -> None:
    other = load_torch_model(tiny_state_dict, TINY_MODEL)
    with torch.no_grad():
        other.segmentation_head[0].bias.add_(0.5)  # type: ignore[index,union-attr]
    with pytest.raises(DataError, match=r"max \|logit error\|"):
        validate_onnx(other, tiny_onnx, batch_sizes=(1,), tile=64)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backends_agree_with_torch(
    backend: Backend, tiny_state_dict: Path, tiny_onnx: Path
) -> None:
    x = _batch(3)
    ref = get_predictor(PredictorSpec("torch", str(tiny_state_dict), TINY_MODEL)).predict(x)
    got = get_predictor(PredictorSpec(backend, str(tiny_onnx))).predict(x)
    assert got.shape == ref.shape == (3, 1, 64, 64)
    scale = max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(got - ref).max()) <= 1e-4 * scale


def test_triton_backend_agrees_with_onnxruntime(
    triton_server: TritonService, pointwise_model: Path
) -> None:
    x = _batch(2, 256)
    ref = get_predictor(PredictorSpec("onnxruntime", str(pointwise_model))).predict(x)
    spec = PredictorSpec("triton", "unet_seg", triton_url=triton_server.grpc_url)
    client = get_predictor(spec)
    assert isinstance(client, TritonSegClient)
    np.testing.assert_allclose(client.predict(x), ref, atol=1e-4)
    assert get_predictor(spec) is client  # created once per process


def test_clear_errors(tmp_path: Path, tiny_onnx: Path, tiny_state_dict: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        get_predictor(PredictorSpec("onnxruntime", str(tmp_path / "nope.onnx")))
    with pytest.raises(NotFoundError, match="does not exist"):
        load_torch_model(tmp_path / "missing.ckpt")
    with pytest.raises(InvalidInputError, match="model name"):
        load_torch_model(tiny_state_dict)
    with pytest.raises(InvalidInputError, match="do not fit"):
        load_torch_model(tiny_state_dict, "unet_r18")
    with pytest.raises(InvalidInputError, match="unknown backend"):
        PredictorSpec("tensorrt", "x")  # type: ignore[arg-type]
    for backend in ("onnxruntime", "openvino"):
        pred = get_predictor(PredictorSpec(backend, str(tiny_onnx)))
        with pytest.raises(InvalidInputError, match=r"\(B, 10, H, W\)"):
            pred.predict(np.zeros((1, 6, 64, 64), np.float32))
    assert fastest_local_backend() == "openvino"
