from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cube.run import main

from .conftest import make_tiles


@pytest.fixture
def store(tmp_path: Path) -> Path:
    make_tiles(n=12).chunk({"tile": 1}).to_zarr(tmp_path / "store" / "demo" / "tiles.zarr")
    return tmp_path / "store"


def test_train_command_prints_run_checkpoint_and_version(
    store: Path,
    tmp_path: Path,
    mlflow_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    out = tmp_path / "ckpt"
    args = ["train", "--aoi", "demo", "--store", str(store), "--preset", "demo"]
    args += ["--epochs", "1", "--batch-size", "4", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    run_id = printed.split("MLflow run id:")[1].split()[0]
    assert MlflowClient(mlflow_uri).get_run(run_id).data.params["model"] == "unet_mini"
    assert "launchwatch-unet/" in printed
    assert list((out / "checkpoints").glob("*.ckpt"))


def test_train_command_bad_input_exits_2_and_writes_nothing(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ckpt"
    args = ["train", "--aoi", "demo", "--store", str(store), "--epochs", "0", "--out", str(out)]
    assert main(args) == 2
    assert "epochs must be > 0" in capsys.readouterr().err
    assert not out.exists()


def test_train_command_missing_tiles_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--aoi", "nowhere", "--store", str(tmp_path)]) == 1
    assert "no tiles Zarr" in capsys.readouterr().err
