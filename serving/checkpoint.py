"""Load a segmentation network from a Lightning checkpoint or a plain state dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cube.errors import InvalidInputError, NotFoundError

__all__ = ["load_torch_model"]


def load_torch_model(path: str | Path, model_name: str | None = None) -> nn.Module:
    """Rebuild the network stored in ``path`` in eval mode on the CPU.

    Args:
        path: A Lightning ``.ckpt`` of :class:`models.lightning_module.SegmentationModule`
            (model name and options come from its hyper-parameters) or a ``.pt`` state dict.
        model_name: Registry name; required for a plain state dict, overrides the checkpoint's.

    Returns:
        The ``torch.nn.Module`` producing (B, 1, H, W) logits.

    Raises:
        NotFoundError: ``path`` does not exist.
        InvalidInputError: Not a checkpoint/state dict, or weights that do not fit the model.
    """
    from models.registry import create_model

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"model checkpoint {path} does not exist")
    try:
        blob: Any = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt files
        raise InvalidInputError(f"cannot read model checkpoint {path}: {exc}") from exc
    if isinstance(blob, nn.Module):
        return blob.eval()
    if not isinstance(blob, dict):
        raise InvalidInputError(f"{path} is neither a checkpoint nor a state dict")
    kwargs: dict[str, Any] = {}
    if "state_dict" in blob:
        hparams = blob.get("hyper_parameters", {})
        model_name = model_name or hparams.get("model_name")
        kwargs = dict(hparams.get("model_kwargs") or {})
        state = {
            k.removeprefix("model."): v
            for k, v in blob["state_dict"].items()
            if k.startswith("model.")
        }
    else:
        state = blob
    if model_name is None:
        raise InvalidInputError(f"{path} is a plain state dict: pass the model name too")
    kwargs["encoder_weights"] = None
    net = create_model(model_name, **kwargs)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise InvalidInputError(
            f"weights in {path} do not fit model {model_name!r}: {exc}"
        ) from exc
    return net.eval()
