"""MLflow tracking: one run per training, per-epoch metrics, checkpoint and registered model.

The tracking URI is always an explicit argument (commands pass
``Settings.effective_mlflow_uri``). For ``sqlite:///`` and ``file:`` stores, artifacts go to
an ``artifacts/`` folder next to the store rather than to the working directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import lightning as L  # noqa: N812
import mlflow
import mlflow.pytorch
import segmentation_models_pytorch as smp
import torch
from mlflow.exceptions import MlflowException
from torch import nn

from cube.errors import ServiceUnavailableError

__all__ = ["MlflowEpochMetrics", "log_checkpoint", "log_registered_model", "mlflow_run"]


def _artifact_location(tracking_uri: str, experiment: str) -> str | None:
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db.parent / "artifacts" / experiment).resolve().as_uri()
    if parsed.scheme in ("", "file"):
        return None  # file stores keep artifacts inside the store
    return None  # servers decide (mlflow-artifacts:/)


@contextmanager
def mlflow_run(
    tracking_uri: str, experiment: str, params: Mapping[str, Any], run_name: str | None = None
) -> Iterator[str]:
    """Start an MLflow run on ``tracking_uri`` with ``params`` logged; yield its run id.

    Raises:
        ServiceUnavailableError: The tracking store cannot be reached.
    """
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        exp = mlflow.get_experiment_by_name(experiment)
        exp_id = (
            exp.experiment_id
            if exp is not None
            else mlflow.create_experiment(
                experiment, artifact_location=_artifact_location(tracking_uri, experiment)
            )
        )
    except (MlflowException, OSError) as exc:
        raise ServiceUnavailableError(f"MLflow at {tracking_uri} unavailable: {exc}") from exc
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        yield run.info.run_id


class MlflowEpochMetrics(L.Callback):
    """Log each epoch's ``val_*`` and ``train_*`` scalars to the active MLflow run.

    Validation metrics are final in ``on_validation_end``; epoch-reduced training metrics
    in ``on_train_epoch_end``. Both are logged with ``step`` = epoch.
    """

    @staticmethod
    def _log(trainer: L.Trainer, prefix: str) -> None:
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith(prefix) and v.numel() == 1
        }
        if metrics:
            mlflow.log_metrics(metrics, step=trainer.current_epoch)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log this epoch's validation metrics (not during the sanity check)."""
        if not trainer.sanity_checking:
            self._log(trainer, "val_")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log this epoch's training metrics."""
        self._log(trainer, "train_")


def log_checkpoint(path: str | Path) -> None:
    """Attach a checkpoint file to the active run under ``checkpoints/``."""
    mlflow.log_artifact(str(path), artifact_path="checkpoints")


def log_registered_model(
    model: nn.Module, registered_name: str, checkpoint: str | Path | None = None
) -> str:
    """Log ``model`` as the run's ``model`` artifact, register it, return ``name/version``.

    The model is pickled (it needs ``models`` and smp importable to load) and its pip
    requirements are given explicitly, which skips MLflow's slow requirement inference.
    ``checkpoint`` (the Lightning ``.ckpt``) travels inside the model artifact as an extra
    file, so ``models:/{name}/{version}`` also resolves to a checkpoint for serving.
    """
    info = mlflow.pytorch.log_model(
        model,
        name="model",
        registered_model_name=registered_name,
        serialization_format="pickle",
        extra_files=[str(checkpoint)] if checkpoint is not None else None,
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"segmentation-models-pytorch=={smp.__version__}",
        ],
    )
    return f"{registered_name}/{info.registered_model_version}"
