"""Segmentation loss: sigmoid focal loss with label smoothing plus soft Dice.

Weak labels. Tile labels are in {0, 0.5, 1}: 0.5 marks "uncertain" pixels (for example the
buffer around a known-site point whose footprint is not drawn). Those pixels are **ignored**:
masked out of both the focal and the Dice term, and out of the metrics (see
:mod:`models.lightning_module`). Using them as soft 0.5 targets would pull every boundary
prediction towards 0.5 and blur object outlines, and would make the loss disagree with the
metrics, which can only be computed on pixels whose class is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from cube.errors import InvalidInputError

__all__ = ["IGNORE_VALUE", "FocalDiceLoss", "LossConfig", "valid_mask"]

IGNORE_VALUE = 0.5


def valid_mask(target: torch.Tensor) -> torch.Tensor:
    """Boolean mask of pixels whose label is known (not the 0.5 weak value)."""
    return (target - IGNORE_VALUE).abs() > 0.25


@dataclass(frozen=True)
class LossConfig:
    """Hyper-parameters of :class:`FocalDiceLoss`.

    Attributes:
        alpha: Focal weight of the positive class.
        gamma: Focal focusing exponent.
        label_smoothing: Targets become ``t * (1 - s) + s / 2``.
        dice_weight: Weight of the Dice term added to the focal term.
    """

    alpha: float = 0.25
    gamma: float = 2.0
    label_smoothing: float = 0.05
    dice_weight: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise InvalidInputError(f"focal alpha must be in [0, 1], got {self.alpha}")
        if self.gamma < 0:
            raise InvalidInputError(f"focal gamma must be >= 0, got {self.gamma}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InvalidInputError(
                f"label smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        if self.dice_weight < 0:
            raise InvalidInputError(f"dice weight must be >= 0, got {self.dice_weight}")


class FocalDiceLoss(nn.Module):
    """Focal + ``dice_weight`` x Dice on logits, ignoring 0.5 (weak) label pixels.

    Args:
        config: Loss hyper-parameters.
    """

    def __init__(self, config: LossConfig | None = None) -> None:
        super().__init__()
        self.config = config or LossConfig()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the scalar loss.

        Args:
            logits: (B, 1, H, W) or (B, H, W) raw model output.
            target: Labels of the same shape in {0, 0.5, 1}.
        """
        cfg = self.config
        logits = logits.float().reshape(target.shape)
        mask = valid_mask(target).float()
        hard = (target > IGNORE_VALUE).float()
        n_valid = mask.sum().clamp_min(1.0)

        smooth = hard * (1.0 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
        bce = F.binary_cross_entropy_with_logits(logits, smooth, reduction="none")
        prob = torch.sigmoid(logits)
        p_t = prob * hard + (1.0 - prob) * (1.0 - hard)
        alpha_t = cfg.alpha * hard + (1.0 - cfg.alpha) * (1.0 - hard)
        focal = (alpha_t * (1.0 - p_t).pow(cfg.gamma) * bce * mask).sum() / n_valid

        inter = (prob * hard * mask).sum()
        denom = (prob * mask).sum() + (hard * mask).sum()
        dice = 1.0 - (2.0 * inter + 1.0) / (denom + 1.0)
        return focal + cfg.dice_weight * dice
