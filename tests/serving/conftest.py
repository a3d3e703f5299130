"""Fixtures of the serving tests: tiny models (ONNX + state dict) and a real tritonserver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from deploy.local.triton import TritonService
from models.registry import create_model
from serving.export import export_onnx
from serving.triton_repo import local_config, write_model_repository

TINY_MODEL = "unet_mini"


def pointwise_onnx(path: Path, bands: int = 10) -> Path:
    """A 1x1-conv ONNX model (logit = Σ wᵢ·xᵢ + b): its output does not depend on tiling."""
    w = helper.make_tensor(
        "W", onnx.TensorProto.FLOAT, [1, bands, 1, 1], np.linspace(-2, 2, bands).tolist()
    )
    b = helper.make_tensor("B", onnx.TensorProto.FLOAT, [1], [0.1])
    node = helper.make_node("Conv", ["input", "W", "B"], ["logits"])
    graph = helper.make_graph(
        [node],
        "pointwise",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", bands, None, None])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", 1, None, None])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_state_dict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``.pt`` state dict of a calibrated ``unet_mini`` (BN stats from random batches)."""
    torch.manual_seed(0)
    net = create_model(TINY_MODEL)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(2, 10, 64, 64))
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    torch.save(net.eval().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tiny_state_dict: Path) -> Path:
    """The tiny UNet exported to ONNX for 64-px tiles (validated for batch sizes 1 and 2)."""
    from serving.checkpoint import load_torch_model

    out = tiny_state_dict.with_name("tiny.onnx")
    export_onnx(load_torch_model(tiny_state_dict, TINY_MODEL), out, batch_sizes=(1, 2), tile=64)
    return out


@pytest.fixture(scope="session")
def pointwise_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the 1x1-conv ONNX model."""
    return pointwise_onnx(tmp_path_factory.mktemp("pointwise") / "model.onnx")


@pytest.fixture(scope="session")
def triton_server(
    tmp_path_factory: pytest.TempPathFactory,
    pointwise_model: Path,
    triton_factory: Callable[[Path], TritonService],
) -> TritonService:
    """A real tritonserver serving the pointwise model as ``unet_seg`` (production batching)."""
    repo = tmp_path_factory.mktemp("triton") / "model_repository"
    write_model_repository(pointwise_model, repo, local_config())
    return triton_factory(repo)
