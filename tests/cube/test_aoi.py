import json
from datetime import date
from pathlib import Path

import pytest
from shapely.geometry import Polygon, box

from cube.aoi import AOI, area_km2, default_aois, list_aois, parse_aoi
from cube.errors import InvalidInputError
from cube.synthetic import DEMO_SCENES
from cube.synthetic.publish import to_wgs84


def test_default_aois_total_and_baikonur_area():
    assert set(default_aois()) == {"baikonur", "plesetsk", "vostochny", "jiuquan"}
    total = sum(area_km2(parse_aoi(n)) for n in default_aois())
    assert total == pytest.approx(33_000, rel=0.10)
    assert area_km2(parse_aoi("baikonur")) == pytest.approx(12_700, rel=0.10)


def test_default_aoi_has_six_month_window_and_cloud():
    for name in default_aois():
        aoi = parse_aoi(name)
        assert 170 <= (aoi.end - aoi.start).days <= 190
        assert 0 < aoi.max_cloud <= 100


def test_default_aois_contain_their_launch_site():
    points = {
        "baikonur": (63.342, 45.920),
        "plesetsk": (40.577, 62.925),
        "vostochny": (128.334, 51.884),
        "jiuquan": (100.292, 40.958),
    }
    for name, (lon, lat) in points.items():
        assert parse_aoi(name).geometry.contains(Polygon.from_bounds(lon, lat, lon, lat).centroid)


def test_demo_aoi_covers_demo_scenes():
    demo = parse_aoi("demo")
    for spec in DEMO_SCENES:
        footprint = to_wgs84(box(*spec.bounds), spec.epsg)
        assert demo.geometry.contains(footprint), spec.name
    train, heldout = parse_aoi("demo_train"), parse_aoi("demo_heldout")
    for spec in DEMO_SCENES:
        centre = to_wgs84(box(*spec.bounds), spec.epsg).centroid
        assert (train if spec.split == "train" else heldout).geometry.contains(centre)


def test_bbox_and_overrides():
    aoi = parse_aoi("63.0,45.5,63.5,46.0", start="2024-01-01", end="2024-06-30", max_cloud=15)
    assert aoi.bbox == (63.0, 45.5, 63.5, 46.0)
    assert aoi.start == date(2024, 1, 1) and aoi.end == date(2024, 6, 30)
    assert aoi.max_cloud == 15.0
    assert "/" not in aoi.name
    assert area_km2(aoi) == pytest.approx(39.0 * 55.6, rel=0.05)


def test_named_aoi_with_overridden_dates():
    aoi = parse_aoi("plesetsk", start="2023-05-01", end="2023-10-31")
    assert (aoi.start, aoi.end) == (date(2023, 5, 1), date(2023, 10, 31))


def test_geojson_file(tmp_path: Path):
    path = tmp_path / "site.geojson"
    ring = [[10, 10], [10.2, 10], [10.2, 10.1], [10, 10.1], [10, 10]]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    aoi = parse_aoi(str(path), end="2024-06-30")
    assert aoi.name == "site"
    assert aoi.geometry.equals(Polygon(ring))
    assert aoi.start < aoi.end


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("10,20,11,95", {}, "latitude"),
        ("10,-95,11,20", {}, "latitude"),
        ("200,20,201,21", {}, "longitude"),
        ("11,20,10,21", {}, "inverted"),
        ("10,21,11,20", {}, "inverted"),
        ("10,20,11", {}, "four numbers"),
        ("a,b,c,d", {}, "four numbers"),
        ("atlantis", {}, "baikonur"),
        ("baikonur", {"start": "2024-06-01", "end": "2024-01-01"}, "before start"),
        ("baikonur", {"start": "June"}, "ISO date"),
        ("baikonur", {"max_cloud": 150}, "max_cloud"),
        ("/nonexistent/aoi.geojson", {}, "cannot read"),
    ],
)
def test_bad_inputs(spec: str, kwargs: dict, message: str):
    with pytest.raises(InvalidInputError, match=message):
        parse_aoi(spec, **kwargs)


def test_unknown_name_lists_every_valid_name():
    with pytest.raises(InvalidInputError) as err:
        parse_aoi("atlantis")
    for name in list_aois():
        assert name in str(err.value)


def test_self_intersecting_polygon_file(tmp_path: Path):
    bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    path = tmp_path / "bowtie.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [bowtie]}))
    with pytest.raises(InvalidInputError, match="Self-intersection"):
        parse_aoi(str(path))


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"type": "Point", "coordinates": [1, 2]}),
        json.dumps({"type": "FeatureCollection", "features": []}),
        json.dumps([1, 2]),
    ],
)
def test_unusable_geojson_files(tmp_path: Path, content: str):
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=r"bad\.geojson"):
        parse_aoi(str(path))


def test_aoi_dataclass_validates_directly():
    square = Polygon.from_bounds(0, 0, 1, 1)
    with pytest.raises(InvalidInputError, match="before start"):
        AOI("x", square, date(2024, 2, 1), date(2024, 1, 1), 10.0)
    with pytest.raises(InvalidInputError, match="name"):
        AOI("a/b", square, date(2024, 1, 1), date(2024, 2, 1), 10.0)
    with pytest.raises(InvalidInputError, match="Polygon"):
        AOI("x", Polygon(), date(2024, 1, 1), date(2024, 2, 1), 10.0)
