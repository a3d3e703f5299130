"""Predictor protocol and its backends: torch (eager), onnxruntime, openvino, triton.

A :class:`PredictorSpec` is a small frozen (picklable, hashable) description that travels
through the Dask graph; :func:`get_predictor` turns it into the heavy model/session/client
once per worker process (an ``lru_cache``), never per chunk, and the model itself is never
pickled.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from cube.errors import InvalidInputError, NotFoundError

__all__ = [
    "BACKENDS",
    "OnnxRuntimePredictor",
    "OpenVinoPredictor",
    "Predictor",
    "PredictorSpec",
    "TorchPredictor",
    "clear_predictors",
    "fastest_local_backend",
    "get_predictor",
]

Backend = Literal["torch", "onnxruntime", "openvino", "triton"]
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime", "openvino", "triton")


@runtime_checkable
class Predictor(Protocol):
    """Maps a float32 batch (B, 10, H, W) to raw logits (B, 1, H, W)."""

    name: str
    max_batch: int

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return logits for ``batch``."""
        ...


@dataclass(frozen=True)
class PredictorSpec:
    """What to load: backend + model file (or Triton URL). Cheap to pickle.

    Args:
        backend: One of :data:`BACKENDS`.
        model: ``.onnx`` for onnxruntime/openvino; ``.ckpt``/``.pt`` for torch; Triton's
            model name for triton.
        model_name: Registry name for a plain ``.pt`` state dict (torch only).
        triton_url: ``HOST:PORT`` (triton only).
        bands: Input channels the model must take.
        threads: Intra-op threads of local backends.
        max_batch: Largest batch passed to one call.
        device: torch only: ``cpu``, ``cuda`` or ``auto`` (CUDA when available). On CUDA the
            whole chunk goes to the GPU once; tiles are cut, cleaned and blended there and
            the model runs under bf16/fp16 autocast (see :func:`serving.predict.predict_block`).
    """

    backend: Backend
    model: str
    model_name: str | None = None
    triton_url: str | None = None
    bands: int = 10
    threads: int = 2
    max_batch: int = 32
    device: Literal["cpu", "cuda", "auto"] = "auto"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InvalidInputError(
                f"unknown backend {self.backend!r}; choose from {', '.join(BACKENDS)}"
            )
        if self.backend == "triton" and not self.triton_url:
            raise InvalidInputError("the triton backend needs triton_url HOST:PORT")
        if self.device not in ("cpu", "cuda", "auto"):
            raise InvalidInputError(f"device must be cpu, cuda or auto; got {self.device!r}")


def _check_batch(batch: np.ndarray, bands: int, name: str) -> np.ndarray:
    if batch.ndim != 4 or batch.shape[1] != bands:
        raise InvalidInputError(
            f"{name} expects input (B, {bands}, H, W); got shape {tuple(batch.shape)}"
        )
    return np.ascontiguousarray(batch, dtype=np.float32)


def _onnx_path(model: str) -> Path:
    path = Path(model)
    if not path.is_file():
        raise NotFoundError(f"ONNX model {path} does not exist")
    if path.suffix != ".onnx":
        raise InvalidInputError(f"{path} is not an .onnx file (export it with serving.export)")
    return path


class TorchPredictor:
    """Eager PyTorch (the baseline on CPU; the GPU path on CUDA).

    Besides :meth:`predict` (host arrays in and out) it offers :meth:`logits`, which takes and
    returns tensors on :attr:`device`, so a whole chunk can be tiled and blended on the GPU
    without a host round-trip per tile.
    """

    def __init__(self, spec: PredictorSpec) -> None:
        import torch

        from serving.checkpoint import load_torch_model

        if spec.device == "cuda" and not torch.cuda.is_available():
            raise InvalidInputError("device 'cuda' asked for, but torch sees no CUDA GPU")
        cuda = spec.device == "cuda" or (spec.device == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda" if cuda else "cpu")
        torch.set_num_threads(spec.threads)
        self.net = load_torch_model(spec.model, spec.model_name).to(self.device)
        self.bands, self.max_batch, self.name = spec.bands, spec.max_batch, "torch"

    def logits(self, x: Any) -> Any:
        """Logits of a float32 tensor (B, bands, H, W) on :attr:`device` (autocast on CUDA)."""
        import torch

        with torch.inference_mode():
            if self.device.type == "cuda":
                dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
                with torch.autocast("cuda", dtype=dtype):
                    return self.net(x).float()
            return self.net(x)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return logits."""
        import torch

        x = _check_batch(batch, self.bands, f"model {self.name}")
        out: np.ndarray = self.logits(torch.from_numpy(x).to(self.device)).cpu().numpy()
        return out


class OnnxRuntimePredictor:
    """onnxruntime CPU execution provider."""

    def __init__(self, spec: PredictorSpec) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = spec.threads
        path = _onnx_path(spec.model)
        try:
            self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InvalidInputError(f"onnxruntime cannot load {path}: {exc}") from exc
        shape = self.sess.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] != spec.bands:
            raise InvalidInputError(f"{path} takes input {shape}, not (B, {spec.bands}, H, W)")
        self.bands, self.max_batch, self.name = spec.bands, spec.max_batch, "onnxruntime"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return logits."""
        x = _check_batch(batch, self.bands, f"model {self.name}")
        out: np.ndarray = self.sess.run(["logits"], {"input": x})[0]
        return out


class OpenVinoPredictor:
    """OpenVINO CPU plugin reading the ONNX file directly (fp32: no implicit bf16 on AMX CPUs)."""

    def __init__(self, spec: PredictorSpec) -> None:
        import openvino as ov

        path = _onnx_path(spec.model)
        core = ov.Core()
        try:
            self.compiled = core.compile_model(
                str(path),
                "CPU",
                {"INFERENCE_NUM_THREADS": spec.threads, "INFERENCE_PRECISION_HINT": "f32"},
            )
        except Exception as exc:
            raise InvalidInputError(f"OpenVINO cannot load {path}: {exc}") from exc
        self.bands, self.max_batch, self.name = spec.bands, spec.max_batch, "openvino"
        self._local = threading.local()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return logits (one infer request per thread: requests are not thread-safe)."""
        x = _check_batch(batch, self.bands, f"model {self.name}")
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        out: np.ndarray = np.array(request.infer([x])[0], copy=True)
        return out


_BUILD_LOCK = threading.Lock()


def get_predictor(spec: PredictorSpec) -> Predictor:
    """Return the predictor ``spec`` describes, built once per process (thread-safe).

    Dask's threaded workers share it; :func:`clear_predictors` drops the cache.
    """
    with _BUILD_LOCK:
        return _build(spec)


def clear_predictors() -> None:
    """Forget every built predictor (e.g. after the model file changed)."""
    with _BUILD_LOCK:
        _build.cache_clear()


@functools.lru_cache(maxsize=4)
def _build(spec: PredictorSpec) -> Predictor:
    if spec.backend == "torch":
        return TorchPredictor(spec)
    if spec.backend == "onnxruntime":
        return OnnxRuntimePredictor(spec)
    if spec.backend == "openvino":
        return OpenVinoPredictor(spec)
    from serving.triton_client import TritonSegClient

    assert spec.triton_url is not None
    return TritonSegClient(spec.triton_url, spec.model, bands=spec.bands, max_batch=spec.max_batch)


def fastest_local_backend() -> Backend:
    """The fastest installed local backend: openvino > onnxruntime > torch."""
    candidates: tuple[Backend, ...] = ("openvino", "onnxruntime")
    for name in candidates:
        if importlib.util.find_spec(name) is not None:
            return name
    return "torch"
