import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from cube.errors import InvalidInputError, NotFoundError
from cube.run import main
from models.evaluate import evaluate

UTM = 32633  # metres; 1 km boxes in a 10 km x 10 km scene
KM = 1000.0


def _truth() -> gpd.GeoDataFrame:
    geoms = [
        box(0, 0, KM, KM),  # launch complex A
        box(3 * KM, 0, 4 * KM, KM),  # launch complex B
        box(6 * KM, 6 * KM, 7 * KM, 7 * KM),  # launch complex C (missed)
        box(9 * KM, 9 * KM, 10 * KM, 10 * KM),  # quarry (confuser)
    ]
    kinds = ["launch_complex"] * 3 + ["quarry"]
    return gpd.GeoDataFrame({"kind": kinds}, geometry=geoms, crs=UTM).to_crs(4326)


def _predictions() -> gpd.GeoDataFrame:
    geoms = [
        box(0, 0, KM, 0.8 * KM),  # IoU 0.8 with A -> TP
        box(0, 0, KM, 0.5 * KM),  # second hit on A -> FP (one-to-one)
        box(3.8 * KM, 0.8 * KM, 4.8 * KM, 1.8 * KM),  # IoU 0.02 with B -> FP, point outside
        box(9 * KM, 9 * KM, 10 * KM, 10 * KM),  # on the quarry -> FP, confuser hit
    ]
    return gpd.GeoDataFrame({"score": [0.9, 0.8, 0.7, 0.6]}, geometry=geoms, crs=UTM).to_crs(4326)


def test_object_level_scores_on_hand_built_polygons() -> None:
    report = evaluate(_predictions(), _truth(), iou=0.3, area_km2=50.0)
    assert (report.true_positives, report.false_positives, report.false_negatives) == (1, 3, 2)
    assert report.precision == pytest.approx(1 / 4)
    assert report.recall == pytest.approx(1 / 3)
    assert report.f1 == pytest.approx(2 * (1 / 4) * (1 / 3) / (1 / 4 + 1 / 3))
    assert report.point_hit_rate == pytest.approx(1 / 3)
    assert report.confuser_false_alarms == 1
    assert report.false_alarms_per_1000_km2 == pytest.approx(3 / 50 * 1000)


def test_lower_iou_threshold_matches_more() -> None:
    report = evaluate(_predictions(), _truth(), iou=0.01)
    assert report.true_positives == 2
    assert report.recall == pytest.approx(2 / 3)
    assert report.area_km2 == pytest.approx(100.0, rel=1e-2)  # truth bounding box


def test_perfect_predictions() -> None:
    truth = _truth()
    positives = truth[truth["kind"] == "launch_complex"][["geometry"]]
    report = evaluate(positives, truth)
    assert (report.precision, report.recall, report.f1, report.point_hit_rate) == (1, 1, 1, 1)
    assert report.false_alarms_per_1000_km2 == 0


def test_no_predictions() -> None:
    report = evaluate(_predictions().iloc[:0], _truth())
    assert (report.precision, report.recall, report.f1) == (1.0, 0.0, 0.0)


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="iou threshold"):
        evaluate(_predictions(), _truth(), iou=0.0)
    with pytest.raises(InvalidInputError, match="'kind'"):
        evaluate(_predictions(), _truth().drop(columns="kind"))
    with pytest.raises(NotFoundError, match="truth file"):
        evaluate(_predictions(), tmp_path / "missing.geojson")
    points = gpd.GeoDataFrame(geometry=_truth().centroid, crs=4326)
    with pytest.raises(InvalidInputError, match="polygons only"):
        evaluate(points, _truth())


def test_evaluate_command_prints_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth, out = tmp_path / "pred.geojson", tmp_path / "truth.geojson", tmp_path / "r.json"
    _predictions().to_file(pred, driver="GeoJSON")
    _truth().to_file(truth, driver="GeoJSON")
    code = main(["evaluate", "--predictions", str(pred), "--truth", str(truth), "--json", str(out)])
    assert code == 0
    assert "precision" in capsys.readouterr().out
    assert json.loads(out.read_text())["true_positives"] == 1


def test_evaluate_command_bad_input_exits_2(tmp_path: Path) -> None:
    truth = tmp_path / "truth.geojson"
    _truth().to_file(truth, driver="GeoJSON")
    args = ["evaluate", "--predictions", str(truth), "--truth", str(truth), "--iou", "2"]
    assert main(args) == 2
