"""Named training presets: ``default`` (real runs) and ``demo`` (CPU, ~10 minutes).

``default`` is the issue's recipe: UNet-ResNet34, batch 16, up to 50 epochs, whole tiles.
``demo`` trains the light ``unet_mini`` (ResNet-18 encoder, slim decoder) on random 128-px
crops (35 % of them centred on a positive) for at most 10 minutes and 80 epochs so the offline
synthetic demo fits a 2-core CPU, with an EMA of the weights (decay 0.99) because batches of
eight crops make the raw weights and BatchNorm statistics jumpy; its early-stopping/LR
schedule are the default ones, scaled down.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cube.errors import InvalidInputError
from models.train import TrainConfig

__all__ = ["PRESETS", "preset_config"]

PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    "demo": TrainConfig(
        model="unet_mini",
        epochs=80,
        batch_size=8,
        max_minutes=10.0,
        crop_size=128,
        lr=3e-3,
        lr_patience=5,
        early_stop_patience=15,
        positive_fraction=0.35,
        ema_decay=0.99,
    ),
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """Return preset ``name`` with the non-``None`` ``overrides`` applied.

    Raises:
        InvalidInputError: Unknown preset or an invalid override.
    """
    if name not in PRESETS:
        raise InvalidInputError(f"unknown preset {name!r}; presets: {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
