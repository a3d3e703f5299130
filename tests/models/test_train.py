from pathlib import Path

import mlflow
import pytest
import torch
import xarray as xr
from mlflow.tracking import MlflowClient

from cube.errors import InvalidInputError
from models.lightning_module import SegmentationModule
from models.losses import FocalDiceLoss
from models.presets import PRESETS, preset_config
from models.registry import create_model
from models.train import TrainConfig, train_model, training_precision

from .conftest import make_tiles


def test_loss_decreases_on_learnable_task() -> None:
    torch.manual_seed(0)
    ds = make_tiles(n=8, size=64, seed=1)
    x = torch.from_numpy(ds["image"].values)
    y = torch.from_numpy(ds["label"].values)[:, None]
    model = create_model("unet_mini")
    loss_fn = FocalDiceLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.4 * sum(losses[:3]) / 3


def test_train_model_records_mlflow_run_and_reloads(
    tiles: xr.Dataset, mlflow_uri: str, tmp_path: Path
) -> None:
    config = TrainConfig(model="unet_mini", epochs=2, batch_size=4, experiment="t-train")
    result = train_model(config, tiles, mlflow_uri, tmp_path, progress=False)

    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    run = client.get_run(result.run_id)
    assert run.data.params["model"] == "unet_mini"
    assert run.data.params["loss_gamma"] == "2.0"
    assert run.data.params["lr"] == "0.001"
    history = client.get_metric_history(result.run_id, "val_iou")
    assert [m.step for m in history] == [0, 1]
    assert max(m.value for m in history) == pytest.approx(result.best_score)
    assert [m.step for m in client.get_metric_history(result.run_id, "train_loss")] == [0, 1]
    assert {"val_f1", "val_auroc", "val_precision", "val_recall", "test_iou"} <= set(
        run.data.metrics
    )
    checkpoints = [a.path for a in client.list_artifacts(result.run_id, "checkpoints")]
    assert checkpoints == [f"checkpoints/{Path(result.checkpoint_path).name}"]

    name, version = result.model_version.split("/")
    assert name == "launchwatch-unet"
    registered = client.get_model_version(name, version)
    assert registered.run_id == result.run_id
    model_dir = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    assert [p.name for p in model_dir.rglob("*.ckpt")] == [Path(result.checkpoint_path).name]

    x = torch.from_numpy(tiles["image"].values[:2])
    reloaded = SegmentationModule.load_from_checkpoint(result.checkpoint_path).eval()
    again = SegmentationModule.load_from_checkpoint(result.checkpoint_path).eval()
    served = mlflow.pytorch.load_model(f"models:/{name}/{version}").eval()
    with torch.no_grad():
        out = reloaded(x)
        torch.testing.assert_close(out, again(x), rtol=0, atol=0)
        torch.testing.assert_close(out, served(x), rtol=0, atol=0)
    assert out.shape == (2, 1, 64, 64)


def test_ema_weights_are_checkpointed(tiles: xr.Dataset, mlflow_uri: str, tmp_path: Path) -> None:
    config = TrainConfig(
        model="unet_mini", epochs=2, batch_size=4, experiment="t-ema", ema_decay=0.5
    )
    result = train_model(config, tiles, mlflow_uri, tmp_path, progress=False)
    ckpt = torch.load(result.checkpoint_path, map_location="cpu", weights_only=False)
    averaged, raw = ckpt["state_dict"], ckpt["current_model_state"]
    assert averaged.keys() == raw.keys()
    assert any(not torch.equal(averaged[k], raw[k]) for k in averaged)  # EMA, not raw weights
    reloaded = SegmentationModule.load_from_checkpoint(result.checkpoint_path)
    for key, value in reloaded.state_dict().items():
        torch.testing.assert_close(value, averaged[key])


def test_precision_is_32_on_cpu() -> None:
    if torch.cuda.is_available():
        assert training_precision() in ("bf16-mixed", "16-mixed")
    else:
        assert training_precision() == "32-true"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "resnet9000"}, "unknown model 'resnet9000'.*unet_r34"),
        ({"epochs": 0}, "epochs must be > 0"),
        ({"batch_size": -1}, "batch_size must be > 0"),
        ({"max_minutes": 0.0}, "max_minutes"),
        ({"lr_factor": 1.5}, "lr_factor"),
        ({"crop_size": 100}, "multiple of 32"),
        ({"ema_decay": 1.0}, "ema_decay"),
    ],
)
def test_bad_train_config(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_wrong_channel_count_is_rejected(mlflow_uri: str, tmp_path: Path) -> None:
    ds = make_tiles(n=8, bands=12)
    with pytest.raises(InvalidInputError, match="12 bands"):
        train_model(TrainConfig(model="unet_mini"), ds, mlflow_uri, tmp_path)


def test_presets() -> None:
    assert PRESETS["default"].model == "unet_r34"
    assert PRESETS["default"].batch_size == 16
    assert PRESETS["default"].epochs == 50
    demo = preset_config("demo", epochs=3, batch_size=None)
    assert demo.epochs == 3
    assert demo.batch_size == PRESETS["demo"].batch_size
    with pytest.raises(InvalidInputError, match="unknown preset 'fast'"):
        preset_config("fast")


def test_dual_encoder_trains_on_optical_plus_sar_tiles(mlflow_uri: str, tmp_path: Path) -> None:
    ds = make_tiles(n=8, bands=12)
    config = TrainConfig(
        model="dual_encoder_unet",
        epochs=1,
        batch_size=4,
        experiment="t-dual",
        limit_train_batches=1,
    )
    result = train_model(config, ds, mlflow_uri, tmp_path, progress=False)
    net = SegmentationModule.load_from_checkpoint(result.checkpoint_path).eval()
    with torch.no_grad():
        out = net(torch.from_numpy(ds["image"].values[:1]))
    assert out.shape == (1, 1, 64, 64)
