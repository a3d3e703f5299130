"""``--model`` resolution: ONNX file, checkpoint exported on demand, MLflow run artifact."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from cube.errors import InvalidInputError, NotFoundError
from serving.model_source import model_version, resolve_model
from tests.serving.conftest import TINY_MODEL


def test_onnx_and_checkpoint(tmp_path: Path, tiny_onnx: Path, tiny_state_dict: Path) -> None:
    spec = resolve_model(str(tiny_onnx), "openvino", tmp_path)
    assert (spec.backend, spec.model) == ("openvino", str(tiny_onnx))
    torch_spec = resolve_model(str(tiny_state_dict), "torch", tmp_path, TINY_MODEL)
    assert torch_spec.model_name == TINY_MODEL
    with pytest.raises(InvalidInputError, match="is ONNX"):
        resolve_model(str(tiny_onnx), "torch", tmp_path)
    with pytest.raises(NotFoundError):
        resolve_model(str(tmp_path / "none.ckpt"), "onnxruntime", tmp_path)
    assert model_version(tiny_onnx).startswith("tiny@")


def test_mlflow_run_artifact(tmp_path: Path, tiny_onnx: Path, mlflow_uri: str) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    exp_id = mlflow.create_experiment(
        f"serving-{tmp_path.name}", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_artifact(str(tiny_onnx), artifact_path="model")
    spec = resolve_model(
        f"runs:/{run.info.run_id}/model", "onnxruntime", tmp_path / "dl", tracking_uri=mlflow_uri
    )
    assert spec.backend == "onnxruntime" and Path(spec.model).name == "tiny.onnx"
