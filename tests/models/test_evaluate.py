import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from cube.errors import InvalidInputError, NotFoundError
from cube.run import main
from models.evaluate import confuser_false_alarms, evaluate

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


def test_confuser_false_alarms_counts_only_confuser_only_scenes():
    scenes = gpd.GeoDataFrame(
        {"scene": ["a", "b"], "n_complexes": [0, 2]},
        geometry=[box(63.0, 45.0, 63.1, 45.1), box(63.1, 45.0, 63.2, 45.1)],
        crs=4326,
    )
    pred = gpd.GeoDataFrame(
        geometry=[
            box(63.01, 45.01, 63.02, 45.02),  # confuser-only scene: a false alarm
            box(63.03, 45.03, 63.04, 45.04),  # same scene
            box(63.15, 45.05, 63.16, 45.06),  # scene with complexes: not counted here
        ],
        crs=4326,
    )
    report = confuser_false_alarms(pred, scenes)
    assert report.confuser_scenes == 1
    assert report.confuser_scene_detections == 2
    assert 80 < report.confuser_area_km2 < 95  # 0.1 deg x 0.1 deg at 45 N
    assert report.fa_per_1000km2 == pytest.approx(2 / report.confuser_area_km2 * 1000)
    empty = confuser_false_alarms(gpd.GeoDataFrame(geometry=[], crs=4326), scenes)
    assert empty.confuser_scene_detections == 0 and empty.fa_per_1000km2 == 0.0
    with pytest.raises(InvalidInputError, match="n_complexes"):
        confuser_false_alarms(pred, scenes.drop(columns="n_complexes"))
