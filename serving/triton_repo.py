"""Triton model repository generator: one frozen config rendered to ``config.pbtxt``.

Three variants come from the same :class:`TritonModelConfig`: production (``onnxruntime``
backend, ``KIND_GPU``), a ``KIND_CPU`` variant, and the local python-backend variant whose
``model.py`` (``deploy/triton/model.py``) runs the ONNX file with onnxruntime.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from cube.errors import InvalidInputError, NotFoundError

__all__ = [
    "MODEL_PY",
    "TritonModelConfig",
    "local_config",
    "production_config",
    "render_pbtxt",
    "write_model_repository",
]

MODEL_PY = Path(__file__).resolve().parents[1] / "deploy" / "triton" / "model.py"


@dataclass(frozen=True)
class TritonModelConfig:
    """Everything ``config.pbtxt`` says about the segmentation model."""

    name: str = "unet_seg"
    backend: Literal["onnxruntime", "python"] = "onnxruntime"
    max_batch_size: int = 32
    bands: int = 10
    tile: int = 256
    preferred_batch_sizes: tuple[int, ...] = (8, 16, 32)
    max_queue_delay_us: int = 50_000
    kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU"
    instance_count: int = 1

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.bands < 1 or self.tile < 1:
            raise InvalidInputError("max_batch_size, bands and tile must be positive")
        if any(b > self.max_batch_size or b < 1 for b in self.preferred_batch_sizes):
            raise InvalidInputError(
                f"preferred batch sizes {self.preferred_batch_sizes} must lie in "
                f"1..{self.max_batch_size}"
            )
        if self.backend == "python" and self.kind != "KIND_CPU":
            raise InvalidInputError("the python-backend variant runs on KIND_CPU only")


def production_config(kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU") -> TritonModelConfig:
    """The production config (onnxruntime backend) on GPU or CPU."""
    return TritonModelConfig(kind=kind)


def local_config(base: TritonModelConfig | None = None) -> TritonModelConfig:
    """The local CPU variant of ``base``: python backend running onnxruntime."""
    return replace(base or TritonModelConfig(), backend="python", kind="KIND_CPU")


def render_pbtxt(cfg: TritonModelConfig) -> str:
    """Render ``cfg`` as Triton's protobuf text format."""
    preferred = ", ".join(str(b) for b in cfg.preferred_batch_sizes)
    return (
        f'name: "{cfg.name}"\n'
        f'backend: "{cfg.backend}"\n'
        f"max_batch_size: {cfg.max_batch_size}\n"
        f'input [ {{ name: "input" data_type: TYPE_FP32 dims: [ {cfg.bands}, {cfg.tile}, '
        f"{cfg.tile} ] }} ]\n"
        f'output [ {{ name: "logits" data_type: TYPE_FP32 dims: [ 1, {cfg.tile}, '
        f"{cfg.tile} ] }} ]\n"
        f"dynamic_batching {{ preferred_batch_size: [ {preferred} ] "
        f"max_queue_delay_microseconds: {cfg.max_queue_delay_us} }}\n"
        f"instance_group [ {{ count: {cfg.instance_count} kind: {cfg.kind} }} ]\n"
    )


def write_model_repository(
    onnx_path: str | Path, repo: str | Path, cfg: TritonModelConfig, version: int = 1
) -> Path:
    """Lay out ``{repo}/{name}/config.pbtxt`` and ``{repo}/{name}/{version}/model.onnx``.

    The python-backend variant also gets ``model.py``. Returns the model directory.

    Raises:
        NotFoundError: ``onnx_path`` does not exist.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise NotFoundError(f"ONNX model {onnx_path} does not exist")
    model_dir = Path(repo) / cfg.name
    vdir = model_dir / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    if onnx_path.resolve() != (vdir / "model.onnx").resolve():
        shutil.copyfile(onnx_path, vdir / "model.onnx")
    if cfg.backend == "python":
        shutil.copyfile(MODEL_PY, vdir / "model.py")
    (model_dir / "config.pbtxt").write_text(render_pbtxt(cfg))
    return model_dir
