"""Argument checks of ``cube.run full`` (before any service is touched)."""

from pathlib import Path

import pytest

from cube.run import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--aoi", "demo_train", "--train-aoi", "demo_heldout"], "--train-aoi demo_heldout"),
        (["--aoi", "demo_train", "demo_train"], "repeat"),
        (["--aoi", "demo_train", "--skip-training"], "--skip-training needs --model"),
        (["--aoi", "demo_train", "--truth", "nowhere.geojson"], "truth file nowhere.geojson"),
        (["--aoi", "demo_train", "--scenes", "nowhere.geojson"], "scenes file nowhere.geojson"),
        (["--aoi", "atlantis"], "unknown AOI 'atlantis'"),
    ],
)
def test_bad_arguments_exit_2_with_reason(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert main(["full", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not any(tmp_path.iterdir())  # no run folder, no report


def test_publish_lays_out_every_new_version_for_the_python_backend(tmp_path: Path):
    """A retrained model (registry version 2) gets its own model.py next to its ONNX."""
    from cube.commands.full import _publish

    for version in (1, 2):
        onnx = tmp_path / "unet_seg" / str(version) / "model.onnx"
        onnx.parent.mkdir(parents=True)
        onnx.write_bytes(b"exported")  # present: _publish does not export again
        model = {"model_version": f"launchwatch-unet/{version}", "checkpoint_path": "x.ckpt"}
        record = _publish(model, tmp_path, "unet_seg", None)
        assert record["triton_version"] == version
        assert (tmp_path / "unet_seg" / str(version) / "model.py").is_file()
    assert (tmp_path / "unet_seg" / "config.pbtxt").is_file()
