"""LightningModule: a registered model, the focal + Dice loss, AdamW and pixel metrics.

Metrics (torchmetrics, binary, threshold 0.5) are F1, IoU (Jaccard), AUROC, precision and
recall on val and test, computed only on pixels whose label is known (label != 0.5), the
same pixels the loss sees.
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L  # noqa: N812
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
)

from models.losses import IGNORE_VALUE, FocalDiceLoss, LossConfig, valid_mask
from models.registry import create_model

__all__ = ["MONITOR", "MONITOR_MODE", "SegmentationModule"]

MONITOR = "val_iou"
MONITOR_MODE: Literal["max"] = "max"


def _metrics(prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "f1": BinaryF1Score(),
            "iou": BinaryJaccardIndex(),
            "auroc": BinaryAUROC(thresholds=200),
            "precision": BinaryPrecision(),
            "recall": BinaryRecall(),
        },
        prefix=prefix,
    )


class SegmentationModule(L.LightningModule):
    """Binary segmentation of launch complexes.

    Args:
        model_name: Registry name (see :func:`models.registry.create_model`).
        model_kwargs: Extra builder options (e.g. ``encoder_weights``).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        lr_patience: ReduceLROnPlateau patience (epochs) on :data:`MONITOR`.
        lr_factor: ReduceLROnPlateau factor.
        loss: Loss hyper-parameters as a dict of :class:`LossConfig` fields.
    """

    def __init__(
        self,
        model_name: str = "unet_r34",
        model_kwargs: dict[str, Any] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        lr_patience: int = 5,
        lr_factor: float = 0.5,
        loss: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(model_name, **(model_kwargs or {}))
        self.loss_fn = FocalDiceLoss(LossConfig(**(loss or {})))
        self.val_metrics = _metrics("val_")
        self.test_metrics = _metrics("test_")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (B, 1, H, W)."""
        out: torch.Tensor = self.model(x)
        return out

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        """One optimisation step; logs ``train_loss``."""
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        logits = self(x).float()
        loss = self.loss_fn(logits, y)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        mask = valid_mask(y)
        if mask.any():
            metrics.update(torch.sigmoid(logits)[mask], (y[mask] > IGNORE_VALUE).int())
        self.log(f"{stage}_loss", loss, on_epoch=True, prog_bar=True, batch_size=len(x))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate validation metrics."""
        self._eval_step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate test metrics."""
        self._eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        """Log and reset the validation metrics."""
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()

    def on_test_epoch_end(self) -> None:
        """Log and reset the test metrics."""
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()

    def configure_optimizers(self) -> Any:
        """AdamW with ReduceLROnPlateau on :data:`MONITOR`."""
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode=MONITOR_MODE, patience=hp["lr_patience"], factor=hp["lr_factor"]
        )
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "monitor": MONITOR, "interval": "epoch"},
        }
