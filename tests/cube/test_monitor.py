"""``cube.run monitor``: argument checks, and two synthetic epochs end to end.

The end-to-end test ingests one tiny forest scene seen in 2023H1 (one launch complex) and in
2023H2 (a second complex built), detects with a 1x1-conv ONNX model (low NDVI = built
ground), tracks sites in a real PostGIS and exports STAC.
"""

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


def _ndvi_model(path: Path) -> Path:
    """A 1x1-conv ONNX 'detector': logit = 30 * (0.3 - NDVI) (built ground in forest)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.zeros((1, 10, 1, 1), np.float32)
    weight[0, 6] = -30.0  # NDVI is feature band 6
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "W", "B"], ["logits"])],
        "ndvi",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 10, 256, 256])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, 256, 256])],
        [
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(np.array([9.0], np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One forest scene seen in 2023H1 (one complex) and 2023H2 (a second one built)."""
    import json
    from datetime import date

    import geopandas as gpd
    from shapely.geometry import box

    from cube.synthetic import SceneSpec, generate_scenes

    out = tmp_path_factory.mktemp("monitor-scenes")
    base = {
        "name": "mon",
        "seed": 5,
        "size_px": 512,
        "n_dates": 2,
        "terrain": "forest",
        "n_confusers": 0,
        "cloud_fraction": 0.0,
    }
    first = SceneSpec(**base, n_complexes=1, start=date(2023, 3, 5))
    second = SceneSpec(**base, n_complexes=2, start=date(2023, 9, 5), split="heldout")
    generate_scenes([first], out / "e1")
    generate_scenes([second], out / "e2")
    items = [
        f
        for e in ("e1", "e2")
        for f in json.loads((out / e / "items.json").read_text())["features"]
    ]
    catalog = out / "items.json"
    catalog.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    footprint = gpd.GeoSeries([box(*first.bounds)], crs=first.epsg).to_crs(4326).iloc[0]
    aoi = out / "mon.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "geometry": footprint.__geo_interface__}))
    return {
        "catalog": catalog,
        "aoi": aoi,
        "known": out / "e1" / "known_sites.geojson",
        "truth": out / "e2" / "truth.geojson",
        "model": _ndvi_model(out / "ndvi.onnx"),
    }


def _settings(dsn: str) -> Settings:
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    return Settings(
        postgres_host=parts.hostname or "127.0.0.1",
        postgres_port=parts.port or 5432,
        postgres_db=parts.path.lstrip("/"),
        postgres_user=parts.username or "postgres",
        postgres_password=parts.password or "",
        triton_url=None,
    )


def test_monitor_two_epochs_end_to_end(two_epochs, pg_dsn, tmp_path: Path):
    import geopandas as gpd
    import pystac
    import xarray as xr

    from serving.sites_db import read_alerts, read_sites, tracked_epochs

    store = tmp_path / "stores"
    argv = [
        "--aoi", str(two_epochs["aoi"]),
        "--epochs", "2023H1,2023H2",
        "--catalog", str(two_epochs["catalog"]),
        "--store", str(store),
        "--model", str(two_epochs["model"]),
        "--backend", "onnxruntime",
        "--known-sites", str(two_epochs["known"]),
        "--min-area-km2", "0.05",
        "--dedup-eps-m", "800",
        "--min-clear-looks", "2",
        "--known-buffer-m", "500",
    ]  # fmt: skip
    settings = _settings(pg_dsn)
    assert monitor.run(_args(*argv), settings) == 0

    truth = gpd.read_file(two_epochs["truth"])
    built = truth.geometry.iloc[1]  # the complex added in 2023H2
    alerts = read_alerts(pg_dsn, "mon")
    assert list(alerts["kind"]) == ["new_construction"]
    assert alerts.iloc[0]["epoch"] == "2023H2"
    assert alerts.geometry.iloc[0].intersects(built)
    sites = read_sites(pg_dsn, "mon").set_index("status")
    assert sorted(sites.index) == ["candidate", "persistent"]
    assert sites.loc["persistent", "novelty"] == "known"
    assert sites.loc["persistent"].geometry.intersects(truth.geometry.iloc[0])
    assert sites.loc["candidate", "novelty"] == "novel"
    assert tracked_epochs(pg_dsn, "mon") == ["2023H1", "2023H2"]
    for epoch in ("2023H1", "2023H2"):
        assert (store / f"mon_{epoch}" / "probability.tif").is_file()
    change = xr.open_zarr(store / "mon_2023H2" / "change.zarr")
    assert change.attrs["previous_epoch"] == "2023H1"
    x, y = gpd.GeoSeries([built.centroid], crs=4326).to_crs(32641).iloc[0].coords[0]
    assert float(change["d_probability"].sel(x=x, y=y, method="nearest")) > 0.5
    assert (store / "mon_2023H2" / "change.tif").is_file()

    collection = pystac.Collection.from_file(str(store / "mon" / "stac" / "collection.json"))
    assert collection.validate_all() >= 3
    kinds = [i.properties["launchwatch:type"] for i in collection.get_items(recursive=True)]
    assert kinds.count("site") == 2 and kinds.count("detection") == 3
    second = [i for i in collection.get_items(recursive=True) if "change" in i.assets]
    assert {i.properties["launchwatch:epoch"] for i in second} == {"2023H2"}

    # a second run finds both epochs tracked: nothing is detected or alerted again
    assert monitor.run(_args(*argv), settings) == 0
    assert len(read_alerts(pg_dsn, "mon")) == 1
    assert len(read_sites(pg_dsn, "mon")) == 2
