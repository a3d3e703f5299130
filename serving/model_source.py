"""Resolve ``--model`` (checkpoint, ONNX file or MLflow URI) into a :class:`PredictorSpec`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cube.errors import InvalidInputError, NotFoundError
from serving.predictors import Backend, PredictorSpec

__all__ = ["model_version", "resolve_model"]


def model_version(path: str | Path) -> str:
    """``<file stem>@<first 12 hex of its sha256>``: identifies the weights in provenance."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{path.stem}@{digest.hexdigest()[:12]}"


def _download(uri: str, dest: Path, tracking_uri: str | None) -> Path:
    import mlflow

    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(dest), tracking_uri=tracking_uri
        )
    )
    if local.is_dir():
        found = sorted(local.rglob("*.onnx")) or sorted(local.rglob("*.ckpt"))
        if not found:
            raise NotFoundError(f"MLflow artifact {uri} holds no .onnx or .ckpt file")
        local = found[0]
    return local


def resolve_model(
    model: str,
    backend: Backend,
    work_dir: Path,
    model_name: str | None = None,
    tracking_uri: str | None = None,
) -> PredictorSpec:
    """Return the spec running ``model`` on a local ``backend``.

    ``model`` may be an MLflow URI (``runs:/…``, ``models:/…``) resolved against
    ``tracking_uri``; the first ``.onnx`` (else ``.ckpt``) in the artifact is used. A
    checkpoint used with onnxruntime/openvino is exported (and validated) to
    ``{work_dir}/<stem>.onnx`` first; an ONNX file cannot run on the torch backend.

    Raises:
        NotFoundError: The file does not exist.
        InvalidInputError: ONNX with the torch backend, or an unknown file type.
    """
    path = _download(model, work_dir, tracking_uri) if ":/" in model else Path(model)
    if not path.is_file():
        raise NotFoundError(f"model {path} does not exist")
    if path.suffix == ".onnx":
        if backend == "torch":
            raise InvalidInputError(f"{path} is ONNX: use --backend onnxruntime or openvino")
        return PredictorSpec(backend, str(path))
    if path.suffix not in {".ckpt", ".pt", ".pth"}:
        raise InvalidInputError(f"model {path} must be .ckpt, .pt or .onnx")
    if backend == "torch":
        return PredictorSpec("torch", str(path), model_name)
    from serving.checkpoint import load_torch_model
    from serving.export import export_onnx

    onnx_path = work_dir / f"{path.stem}.onnx"
    if not onnx_path.exists():
        export_onnx(load_torch_model(path, model_name), onnx_path, batch_sizes=(1, 8))
    return PredictorSpec(backend, str(onnx_path))
