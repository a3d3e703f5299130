"""``cube.run monitor``: argument checks (before any store, table or file is touched)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cube.commands import monitor
from cube.errors import InvalidInputError
from cube.settings import Settings


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    monitor.add_parser(parser.add_subparsers())
    return parser.parse_args(["monitor", *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--aoi", "demo_train", "--epochs", "2023H3", "--model", "m.onnx"], "H1 to H2"),
        (["--aoi", "demo_train", "--epochs", "2024H1,2023H2", "--model", "m.onnx"], "time order"),
        (["--aoi", "atlantis", "--epochs", "2023H1", "--model", "m.onnx"], "unknown AOI"),
        (["--aoi", "demo_train", "--epochs", "2023H1,2023H2"], "--model is required"),
        (
            [
                "--aoi",
                "demo_train",
                "--epochs",
                "2023H1",
                "--model",
                "m.onnx",
                "--alert-threshold",
                "1.5",
            ],
            "alert_threshold",
        ),
    ],
)
def test_bad_arguments_are_rejected_before_any_work(argv, message, tmp_path: Path):
    args = _args(*argv, "--store", str(tmp_path))
    settings = Settings(triton_url=None, postgres_port=1)  # unreachable: must not be used
    with pytest.raises(InvalidInputError, match=message):
        monitor.run(args, settings)
    assert not any(tmp_path.iterdir())


def test_parser_defaults():
    args = _args("--aoi", "demo_train", "--epochs", "2023H1,2023H2")
    assert args.func is monitor.run
    assert (args.alert_threshold, args.min_clear_looks, args.no_db) == (0.6, 3.0, False)
