"""``train_model``: fit a registered model on a tiles dataset, tracked in MLflow.

Callers (the ``train`` and ``full`` commands) open the tiles Zarr with
``cube.tiles.open_tiles`` and pass the lazy dataset, the tracking URI and an output folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L  # noqa: N812
import mlflow
import torch
import xarray as xr
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint

from cube.errors import InvalidInputError
from models.datamodule import TileDataModule, TileLoaderConfig
from models.dual_encoder import OPTICAL_CHANNELS, SAR_CHANNELS
from models.lightning_module import MONITOR, MONITOR_MODE, SegmentationModule
from models.losses import LossConfig
from models.registry import MODELS
from models.tracking import MlflowEpochMetrics, log_checkpoint, log_registered_model, mlflow_run

__all__ = ["TrainConfig", "TrainResult", "train_model", "training_precision"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        model: Registry name.
        encoder_weights: ``None`` (offline) or e.g. ``"imagenet"``.
        epochs: Maximum epochs.
        batch_size: Tiles per batch.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        lr_patience: ReduceLROnPlateau patience (epochs).
        lr_factor: ReduceLROnPlateau factor.
        early_stop_patience: EarlyStopping patience (epochs) on ``val_iou``.
        save_top_k: Checkpoints kept.
        max_minutes: Wall-clock limit of the fit (Lightning ``max_time``), ``None`` for none.
        crop_size: Random training crop (multiple of 32) or ``None`` for whole tiles.
        num_workers: DataLoader workers, ``None`` sized to the machine.
        seed: Global seed.
        loss: Loss hyper-parameters.
        experiment: MLflow experiment name.
        registered_model_name: MLflow registered model name.
        limit_train_batches: Fraction or count of training batches per epoch (Lightning).
        positive_fraction: Oversampling of tiles with positives (see
            :mod:`models.datamodule`); ``None`` samples uniformly.
        ema_decay: Keep an exponential moving average of the weights and BatchNorm
            statistics (validated, checkpointed and exported instead of the raw weights);
            ``None`` for none. Small CPU batches make the raw weights and statistics jumpy.
    """

    model: str = "unet_r34"
    encoder_weights: str | None = None
    epochs: int = 50
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_patience: int = 5
    lr_factor: float = 0.5
    early_stop_patience: int = 10
    save_top_k: int = 3
    max_minutes: float | None = None
    crop_size: int | None = None
    num_workers: int | None = None
    seed: int = 0
    loss: LossConfig = field(default_factory=LossConfig)
    experiment: str = "launchwatch"
    registered_model_name: str = "launchwatch-unet"
    limit_train_batches: int | float = 1.0
    positive_fraction: float | None = None
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InvalidInputError(
                f"unknown model {self.model!r}; registered models: {', '.join(sorted(MODELS))}"
            )
        for name in ("epochs", "batch_size", "save_top_k", "early_stop_patience"):
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise InvalidInputError(
                f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if not 0 < self.lr_factor < 1:
            raise InvalidInputError(f"lr_factor must be in (0, 1), got {self.lr_factor}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise InvalidInputError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise InvalidInputError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        self.loader_config()

    def loader_config(self) -> TileLoaderConfig:
        """The DataModule options of this run."""
        return TileLoaderConfig(
            self.batch_size,
            self.num_workers,
            self.crop_size,
            self.seed,
            self.positive_fraction,
        )

    def params(self) -> dict[str, Any]:
        """Flat parameters for MLflow."""
        flat = {k: v for k, v in asdict(self).items() if k != "loss"}
        flat.update({f"loss_{k}": v for k, v in asdict(self.loss).items()})
        return flat


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_model`.

    Attributes:
        run_id: MLflow run id.
        checkpoint_path: Best checkpoint (by ``val_iou``).
        model_version: Registered model as ``name/version`` (goes to detections.model_version).
        best_score: Best ``val_iou``.
        epochs_run: Epochs completed.
        metrics: Final validation and test metrics.
    """

    run_id: str
    checkpoint_path: str
    model_version: str
    best_score: float
    epochs_run: int
    metrics: dict[str, float]


def training_precision() -> str:
    """Lightning precision: bf16/16 mixed on GPU, 32 on CPU."""
    if not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def _averaging(config: TrainConfig) -> list[L.Callback]:
    """The EMA weight-averaging callback when ``config.ema_decay`` is set."""
    if config.ema_decay is None:
        return []
    return [EMAWeightAveraging(decay=config.ema_decay)]


def train_model(
    config: TrainConfig,
    tiles: xr.Dataset,
    tracking_uri: str,
    out_dir: str | Path,
    progress: bool = True,
) -> TrainResult:
    """Train ``config.model`` on ``tiles`` and record it in MLflow.

    Logs the config as params, every epoch's metrics, the best checkpoint and the model
    (registered as ``config.registered_model_name``); evaluates the best checkpoint on the
    test split when there is one.

    Args:
        config: Run definition.
        tiles: Tiles dataset (lazy) following the tiles-Zarr contract.
        tracking_uri: MLflow tracking (and registry) URI.
        out_dir: Folder for checkpoints.
        progress: Show Lightning's progress bar.

    Returns:
        Run id, best checkpoint, registered version and final metrics.

    Raises:
        InvalidInputError: Tiles unusable for training (no train/val tiles, wrong channels).
        DataError: Tiles dataset does not follow the contract.
    """
    dm = TileDataModule(tiles, config.loader_config())
    allowed = (OPTICAL_CHANNELS, OPTICAL_CHANNELS + SAR_CHANNELS)
    if dm.in_channels not in (allowed if config.model == "dual_encoder_unet" else allowed[:1]):
        raise InvalidInputError(
            f"model {config.model!r} cannot take tiles with {dm.in_channels} bands "
            f"(10 feature bands{', or 10 + VV, VH' if config.model == 'dual_encoder_unet' else ''})"
        )
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = SegmentationModule(
        model_name=config.model,
        model_kwargs={"encoder_weights": config.encoder_weights},
        lr=config.lr,
        weight_decay=config.weight_decay,
        lr_patience=config.lr_patience,
        lr_factor=config.lr_factor,
        loss=asdict(config.loss),
    )
    ckpt = ModelCheckpoint(
        dirpath=Path(out_dir) / "checkpoints",
        filename="{epoch:03d}-{val_iou:.4f}",
        monitor=MONITOR,
        mode=MONITOR_MODE,
        save_top_k=config.save_top_k,
    )
    stop = EarlyStopping(monitor=MONITOR, mode=MONITOR_MODE, patience=config.early_stop_patience)
    trainer = L.Trainer(
        max_epochs=config.epochs,
        max_time=timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        accelerator="auto",
        devices=1,
        precision=training_precision(),  # type: ignore[arg-type]
        callbacks=[ckpt, stop, MlflowEpochMetrics(), *_averaging(config)],
        logger=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        limit_train_batches=config.limit_train_batches,
        deterministic=False,
        default_root_dir=str(out_dir),
    )
    with mlflow_run(tracking_uri, config.experiment, config.params()) as run_id:
        trainer.fit(module, datamodule=dm)
        best_path = ckpt.best_model_path
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        best = SegmentationModule.load_from_checkpoint(best_path, map_location="cpu")
        if dm.has_test:
            results = trainer.test(best, datamodule=dm, verbose=False)
            metrics.update({k: float(v) for k, v in results[0].items()})
            mlflow.log_metrics({k: v for k, v in metrics.items() if k.startswith("test_")})
        log_checkpoint(best_path)
        version = log_registered_model(best.model.eval(), config.registered_model_name, best_path)
    best_score = ckpt.best_model_score
    return TrainResult(
        run_id=run_id,
        checkpoint_path=str(best_path),
        model_version=version,
        best_score=float(best_score) if best_score is not None else float("nan"),
        epochs_run=int(trainer.current_epoch),
        metrics=metrics,
    )
