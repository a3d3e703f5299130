"""Model registry in the style of segmentation-models-pytorch: ``create_model(name, **kw)``.

Every registered model maps (B, 10, H, W) float32 features to (B, 1, H, W) logits, with H and
W divisible by 32. ``unet_r34`` is the default for real runs; ``unet_r18`` and ``unet_mini``
are lighter encoders for CPU training (see :mod:`models.presets`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import segmentation_models_pytorch as smp
from torch import nn

from cube.errors import InvalidInputError
from models.dual_encoder import OPTICAL_CHANNELS, DualEncoderUnet

__all__ = ["DEFAULT_MODEL", "MODELS", "create_model"]

DEFAULT_MODEL = "unet_r34"


def _unet(encoder: str, decoder_channels: tuple[int, ...]) -> Callable[..., nn.Module]:
    def build(
        in_channels: int = OPTICAL_CHANNELS,
        encoder_weights: str | None = None,
        classes: int = 1,
    ) -> nn.Module:
        return smp.Unet(
            encoder_name=encoder,
            encoder_weights=encoder_weights,
            in_channels=in_channels,
            classes=classes,
            decoder_channels=decoder_channels,
        )

    return build


def _deeplabv3plus_r50(
    in_channels: int = OPTICAL_CHANNELS, encoder_weights: str | None = None, classes: int = 1
) -> nn.Module:
    return smp.DeepLabV3Plus(
        encoder_name="resnet50",
        encoder_weights=encoder_weights,
        in_channels=in_channels,
        classes=classes,
    )


def _dual_encoder_unet(encoder_weights: str | None = None, classes: int = 1) -> nn.Module:
    return DualEncoderUnet(encoder_weights=encoder_weights, classes=classes)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "deeplabv3plus_r50": _deeplabv3plus_r50,
    "dual_encoder_unet": _dual_encoder_unet,
    "unet_mini": _unet("resnet18", (64, 32, 16, 16, 8)),
    "unet_r18": _unet("resnet18", (256, 128, 64, 32, 16)),
    "unet_r34": _unet("resnet34", (256, 128, 64, 32, 16)),
}


def create_model(name: str = DEFAULT_MODEL, **kwargs: Any) -> nn.Module:
    """Build a registered segmentation model with freshly initialised (or pretrained) weights.

    Args:
        name: Registry name (see :data:`MODELS`).
        **kwargs: Builder options: ``encoder_weights`` (``None`` offline, ``"imagenet"``
            online), ``classes``, and ``in_channels`` for the single-encoder models.

    Returns:
        The ``torch.nn.Module`` producing logits.

    Raises:
        InvalidInputError: Unknown name or options the builder does not take.
    """
    if name not in MODELS:
        raise InvalidInputError(
            f"unknown model {name!r}; registered models: {', '.join(sorted(MODELS))}"
        )
    try:
        return MODELS[name](**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"bad options for model {name!r}: {exc}") from exc
