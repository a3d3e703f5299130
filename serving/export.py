"""Export a segmentation network to ONNX with a dynamic batch axis and validate it.

``python -m serving.export --checkpoint CKPT --output model_repository/unet_seg/1/model.onnx``

Tolerance: raw logits of an (untrained or trained) UNet reach |logit| ~ 10-150 and
onnxruntime differs from PyTorch by about 1e-5 x max|logit| (float32 re-association), so an
absolute 1e-5 on raw logits is not attainable. The check is *relative*:
``max|onnx - torch| <= rtol * max(1, max|torch|)`` with ``rtol = 1e-5`` scaled by a safety
factor of 10 (default ``rtol=1e-4``), plus ``max|sigmoid(onnx) - sigmoid(torch)| <=
max(1e-4, 0.25 * rtol * max|torch|)`` (sigmoid's slope is at most 1/4, so a logit error the
first check allows moves a probability by at most a quarter of it: for a model with large
logits the probability check cannot be stricter than the logit check).
Both limits and the measured errors are written to an export report JSON next to the model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cube.errors import DataError, InvalidInputError, LaunchwatchError

__all__ = ["ExportReport", "export_onnx", "main", "validate_onnx"]

BANDS = 10
TILE = 256
VALIDATION_BATCHES: tuple[int, ...] = (1, 2, 8, 16, 32)


@dataclass(frozen=True)
class ExportReport:
    """Outcome of an export: the file, the tolerances and the worst errors per batch size."""

    onnx_path: str
    opset: int
    batch_sizes: tuple[int, ...]
    rtol: float
    sigmoid_atol: float
    max_abs_logit: float
    max_abs_error: dict[str, float]
    max_sigmoid_error: dict[str, float]
    passed: bool


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def validate_onnx(
    net: nn.Module,
    onnx_path: str | Path,
    batch_sizes: Sequence[int] = VALIDATION_BATCHES,
    tile: int = TILE,
    rtol: float = 1e-4,
    sigmoid_atol: float = 1e-4,
    seed: int = 0,
) -> ExportReport:
    """Compare onnxruntime with PyTorch on random batches of each size.

    Raises:
        DataError: The largest error exceeds the tolerance (message names it).
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    errs: dict[str, float] = {}
    sig_errs: dict[str, float] = {}
    max_logit = 0.0
    failures: list[str] = []
    for b in batch_sizes:
        x = rng.random((b, BANDS, tile, tile), dtype=np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        got = sess.run(["logits"], {"input": x})[0]
        scale = max(1.0, float(np.abs(ref).max()))
        max_logit = max(max_logit, float(np.abs(ref).max()))
        err = float(np.abs(got - ref).max())
        serr = float(np.abs(_sigmoid(got) - _sigmoid(ref)).max())
        errs[str(b)], sig_errs[str(b)] = err, serr
        sig_limit = max(sigmoid_atol, 0.25 * rtol * scale)
        if got.shape != ref.shape or err > rtol * scale or serr > sig_limit:
            failures.append(
                f"batch {b}: max |logit error| {err:.3g} (limit {rtol * scale:.3g}), "
                f"max |sigmoid error| {serr:.3g} (limit {sig_limit:.3g})"
            )
    report = ExportReport(
        str(onnx_path),
        17,
        tuple(batch_sizes),
        rtol,
        sigmoid_atol,
        max_logit,
        errs,
        sig_errs,
        not failures,
    )
    if failures:
        raise DataError(f"ONNX model {onnx_path} disagrees with PyTorch: " + "; ".join(failures))
    return report


def export_onnx(
    net: nn.Module,
    output: str | Path,
    batch_sizes: Sequence[int] = VALIDATION_BATCHES,
    tile: int = TILE,
) -> ExportReport:
    """Export ``net`` to ONNX (opset 17, dynamic batch), validate it and write the report.

    The report goes to ``<output>.report.json``. A failed validation removes the ONNX file.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    tmp = output.with_suffix(".tmp.onnx")
    torch.onnx.export(
        net,
        (torch.zeros(2, BANDS, tile, tile),),
        str(tmp),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    try:
        report = validate_onnx(net, tmp, batch_sizes, tile)
    except DataError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(output)
    report = ExportReport(**{**asdict(report), "onnx_path": str(output)})
    output.with_suffix(".report.json").write_text(json.dumps(asdict(report), indent=2))
    return report


def _write_triton_config(onnx_path: Path, variant: str) -> None:
    """Write the Triton config of ``variant`` for ``{repo}/{model}/{version}/model.onnx``."""
    from serving.triton_repo import local_config, production_config, write_model_repository

    if not onnx_path.parent.name.isdigit():
        raise InvalidInputError(
            f"{onnx_path} is not inside a Triton version dir ({{repo}}/{{model}}/{{version}}/)"
        )
    cfg = (
        local_config()
        if variant == "python"
        else production_config("KIND_GPU" if variant == "gpu" else "KIND_CPU")
    )
    cfg = replace(cfg, name=onnx_path.parent.parent.name)
    write_model_repository(onnx_path, onnx_path.parents[2], cfg, int(onnx_path.parent.name))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    from serving.checkpoint import load_torch_model

    parser = argparse.ArgumentParser(prog="python -m serving.export", description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="Lightning .ckpt or .pt state dict")
    parser.add_argument("--model-name", default=None, help="registry name for a .pt state dict")
    parser.add_argument("--output", default="model_repository/unet_seg/1/model.onnx")
    parser.add_argument(
        "--batch-sizes", default=",".join(map(str, VALIDATION_BATCHES)), help="validated sizes"
    )
    parser.add_argument(
        "--triton-config",
        choices=("none", "gpu", "cpu", "python"),
        default="none",
        help="also write config.pbtxt for Triton next to the version dir "
        "(onnxruntime on KIND_GPU/KIND_CPU, or the local python backend + model.py)",
    )
    args = parser.parse_args(argv)
    try:
        net = load_torch_model(args.checkpoint, args.model_name)
        report = export_onnx(net, args.output, [int(b) for b in args.batch_sizes.split(",")])
        if args.triton_config != "none":
            _write_triton_config(Path(args.output), args.triton_config)
    except LaunchwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
