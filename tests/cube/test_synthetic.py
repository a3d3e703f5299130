import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from pyproj import Transformer
from pystac.extensions.eo import EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from rasterio.features import rasterize
from shapely import ops
from shapely.geometry import box, shape

from cube.errors import InvalidInputError
from cube.known_sites import load_known_sites
from cube.synthetic import DEMO_SCENES, SceneSpec, SyntheticCatalog, generate_scenes

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
TRAIN = SceneSpec(
    name="tiny_train",
    seed=3,
    size_px=256,
    n_dates=2,
    terrain="forest",
    n_complexes=1,
    n_confusers=0,
    cloud_fraction=0.35,
    with_s1=True,
)
HELDOUT = SceneSpec(
    name="tiny_heldout",
    seed=4,
    size_px=512,
    n_dates=2,
    terrain="desert",
    n_complexes=1,
    n_confusers=1,
    cloud_fraction=0.35,
    split="heldout",
    origin=(472560.0, 4990000.0),
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCatalog:
    return generate_scenes([TRAIN, HELDOUT], tmp_path_factory.mktemp("synth"))


def _items(catalog: SyntheticCatalog) -> list[pystac.Item]:
    return list(pystac.ItemCollection.from_file(str(catalog.items)))


def _read(href: str) -> tuple[np.ndarray, rasterio.profiles.Profile]:
    with rasterio.open(href) as src:
        return src.read(1), src.profile


def test_items_are_s2_l2a_like(catalog: SyntheticCatalog):
    items = _items(catalog)
    s2 = [i for i in items if i.collection_id == "sentinel-2-l2a"]
    s1 = [i for i in items if i.collection_id == "sentinel-1-rtc"]
    assert len(s2) == 4 and len(s1) == 2 and catalog.n_items == 6
    for item in s2:
        assert set(item.assets) == {*BANDS, "SCL"}
        assert ProjectionExtension.ext(item).epsg == 32641
        assert 0 <= EOExtension.ext(item).cloud_cover <= 100
        for key, asset in item.assets.items():
            assert asset.href.startswith("file://") and Path(asset.href[7:]).exists()
            band = RasterExtension.ext(asset).bands[0]
            assert band.nodata == 0
            assert band.data_type == ("uint8" if key == "SCL" else "uint16")
        footprint = shape(item.geometry)
        assert footprint.is_valid and footprint.bounds[1] > 44.9 and footprint.bounds[3] < 45.1
    for item in s1:
        assert set(item.assets) == {"vv", "vh"}


def test_assets_are_cogs_on_the_grid(catalog: SyntheticCatalog):
    item = _items(catalog)[0]
    data, profile = _read(item.assets["B04"].href)
    assert profile["dtype"] == "uint16" and profile["nodata"] == 0
    assert profile["blockxsize"] == 256 and profile["compress"] == "deflate"
    assert profile["crs"].to_epsg() == 32641 and profile["transform"].a == 10.0
    assert data.shape == (256, 256) and data.min() >= 1 and 300 < np.median(data) < 6000
    with rasterio.open(item.assets["B04"].href) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    scl, scl_profile = _read(item.assets["SCL"].href)
    assert scl.shape == (128, 128) and scl_profile["transform"].a == 20.0
    vv, vv_profile = _read(_items(catalog)[1].assets["vv"].href)
    assert vv_profile["dtype"] == "float32" and -40 < float(np.median(vv)) < 10


def test_scl_has_clouds_shadows_and_clear_classes(catalog: SyntheticCatalog):
    classes: set[int] = set()
    for item in _items(catalog):
        if item.collection_id != "sentinel-2-l2a":
            continue
        scl, _ = _read(item.assets["SCL"].href)
        blue, _ = _read(item.assets["B02"].href)
        classes |= set(np.unique(scl).tolist())
        cloudy = scl == 9
        if cloudy.any():  # opaque clouds brighten the visible bands
            clear = np.isin(scl, (4, 5))
            assert blue[::2, ::2][cloudy].mean() > 1.5 * blue[::2, ::2][clear].mean()
        pct = np.isin(scl, (8, 9, 10)).mean() * 100
        assert EOExtension.ext(item).cloud_cover == pytest.approx(pct, abs=0.01)
    assert {3, 8, 9, 10} <= classes
    assert {4, 5} <= classes
    assert 0 not in classes


def test_truth_and_known_sites(catalog: SyntheticCatalog):
    truth = json.loads(catalog.truth.read_text())["features"]
    kinds = [(f["properties"]["kind"], f["properties"]["scene_split"]) for f in truth]
    assert ("launch_complex", "heldout") in kinds
    assert ("launch_complex", "train") in kinds
    assert any(k not in ("launch_complex",) for k, _ in kinds)
    assert all(shape(f["geometry"]).is_valid for f in truth)
    sites = load_known_sites(catalog.known_sites)
    assert len(sites) == 1 and sites[0].name.startswith("tiny_train")
    complex_poly = next(
        shape(f["geometry"]) for f in truth if f["properties"]["scene"] == "tiny_train"
    )
    assert complex_poly.contains(sites[0].point)
    across = Transformer.from_crs(4326, 32641, always_xy=True).transform
    minx, miny, maxx, maxy = ops.transform(across, complex_poly).bounds
    assert 300 <= max(maxx - minx, maxy - miny) <= 1600


def test_scene_footprints(catalog: SyntheticCatalog):
    scenes = {
        f["properties"]["scene"]: f for f in json.loads(catalog.scenes.read_text())["features"]
    }
    assert set(scenes) == {"tiny_train", "tiny_heldout"}
    assert scenes["tiny_heldout"]["properties"]["split"] == "heldout"
    assert scenes["tiny_heldout"]["properties"]["n_confusers"] == 1
    across = Transformer.from_crs(4326, 32641, always_xy=True).transform
    footprint = ops.transform(across, shape(scenes["tiny_heldout"]["geometry"]))
    assert footprint.area == pytest.approx(5120.0**2, rel=1e-3)
    truth = json.loads(catalog.truth.read_text())["features"]
    for f in truth:
        assert shape(scenes[f["properties"]["scene"]]["geometry"]).contains(shape(f["geometry"]))


def test_structures_stand_out_at_truth(catalog: SyntheticCatalog):
    truth = json.loads(catalog.truth.read_text())["features"]
    poly = next(shape(f["geometry"]) for f in truth if f["properties"]["scene"] == "tiny_train")
    item = next(i for i in _items(catalog) if i.id.startswith("SYN_tiny_train"))
    bands = {b: _read(item.assets[b].href)[0].astype(np.float32) for b in BANDS}
    scl, _ = _read(item.assets["SCL"].href)
    clear = np.repeat(np.repeat(np.isin(scl, (4, 5, 6)), 2, 0), 2, 1)
    with rasterio.open(item.assets["B02"].href) as src:
        across = Transformer.from_crs(4326, src.crs, always_xy=True).transform
        inside = rasterize(
            [ops.transform(across, poly)], out_shape=src.shape, transform=src.transform
        ).astype(bool)
    bsi = ((bands["B11"] + bands["B04"]) - (bands["B08"] + bands["B02"])) / (
        (bands["B11"] + bands["B04"]) + (bands["B08"] + bands["B02"])
    )
    ndvi = (bands["B08"] - bands["B04"]) / (bands["B08"] + bands["B04"])
    assert (inside & clear).sum() > 100
    assert bsi[inside & clear].mean() > bsi[~inside & clear].mean() + 0.1
    assert ndvi[inside & clear].mean() < ndvi[~inside & clear].mean() - 0.2


def test_generation_is_deterministic(tmp_path: Path):
    spec = SceneSpec(name="d", seed=9, size_px=256, n_dates=1, n_complexes=0, n_confusers=1)
    a = generate_scenes([spec], tmp_path / "a")
    b = generate_scenes([spec], tmp_path / "b", base_url="http://127.0.0.1:9999/data")
    href_a = _items(a)[0].assets["B11"].href
    href_b = _items(b)[0].assets["B11"].href
    assert href_b == "http://127.0.0.1:9999/data/d/20240305/B11.tif"
    np.testing.assert_array_equal(
        _read(href_a)[0], _read(str(tmp_path / "b/d/20240305/B11.tif"))[0]
    )


def test_real_background(tmp_path: Path, realdata: Path):
    tile = realdata / "riotilerpds_s2_l2a_29RKH_100m"
    spec = SceneSpec(
        name="real",
        seed=1,
        size_px=256,
        n_dates=1,
        terrain="real",
        background=str(tile),
        n_complexes=1,
        n_confusers=0,
        cloud_fraction=0.0,
    )
    item = _items(generate_scenes([spec], tmp_path))[0]
    with rasterio.open(tile / "B04.tif") as src:
        real = src.read(1)
    red = _read(item.assets["B04"].href)[0]
    assert 0.5 < np.median(red) / np.median(real[real > 0]) < 2.0
    assert red.std() > 50  # real texture, not a flat fill


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size_px": 300}, "size_px"),
        ({"terrain": "moon"}, "terrain"),
        ({"terrain": "real"}, "background"),
        ({"cloud_fraction": 1.5}, "cloud_fraction"),
        ({"size_px": 256, "n_complexes": 1, "n_confusers": 1}, "too many"),
        ({"n_dates": 0}, "n_dates"),
    ],
)
def test_scene_spec_validation(kwargs: dict, message: str):
    with pytest.raises(InvalidInputError, match=message):
        SceneSpec(name="x", seed=1, **kwargs)


def test_duplicate_names_rejected(tmp_path: Path):
    spec = SceneSpec(name="x", seed=1, size_px=256, n_dates=1, n_complexes=0, n_confusers=0)
    with pytest.raises(InvalidInputError, match="unique"):
        generate_scenes([spec, spec], tmp_path)
    assert not (tmp_path / "items.json").exists()


def test_failed_generation_leaves_no_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from cube.synthetic import generate as generate_module

    real_place = generate_module.place_structures

    def place(rng, size, water, n_complexes, n_confusers):  # the 2nd scene has no room
        if n_confusers == 1:
            raise InvalidInputError("no room for another quarry")
        return real_place(rng, size, water, n_complexes, n_confusers)

    monkeypatch.setattr(generate_module, "place_structures", place)
    ok = SceneSpec(name="ok", seed=1, size_px=256, n_dates=1, n_complexes=1, n_confusers=0)
    bad = SceneSpec(name="bad", seed=2, size_px=256, n_dates=1, n_complexes=0, n_confusers=1)
    with pytest.raises(InvalidInputError, match="no room"):
        generate_scenes([ok, bad], tmp_path)
    assert not (tmp_path / "ok").exists() and not (tmp_path / "items.json").exists()


def test_demo_presets():
    boxes = [box(*s.bounds) for s in DEMO_SCENES]
    assert all(a.intersection(b).area == 0 for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    train = {s.terrain for s in DEMO_SCENES if s.split == "train"}
    heldout = {s.terrain for s in DEMO_SCENES if s.split == "heldout"}
    assert heldout <= train and len(train) == 5  # every terrain is trained; held-out is new ground
    assert len({s.seed for s in DEMO_SCENES}) == len(DEMO_SCENES)
    assert any(s.n_complexes == 0 for s in DEMO_SCENES if s.split == "train")
    assert any(s.n_complexes == 0 for s in DEMO_SCENES if s.split == "heldout")
    assert 8 <= len(DEMO_SCENES) <= 12 and all(s.size_px == 1024 for s in DEMO_SCENES)


def test_items_served_by_stac_api(catalog: SyntheticCatalog, stac_api: Callable[[Path], str]):
    pystac_client = pytest.importorskip("pystac_client")
    url = stac_api(catalog.items)
    client = pystac_client.Client.open(url)
    found = list(
        client.search(
            collections=["sentinel-2-l2a"],
            bbox=[62.5, 44.9, 63.2, 45.1],
            datetime="2024-03-01/2024-03-10",
        ).items()
    )
    assert {i.id for i in found} == {"SYN_tiny_train_20240305", "SYN_tiny_heldout_20240305"}


def test_synth_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import argparse

    from cube.commands import synth
    from cube.settings import Settings

    tiny = (SceneSpec(name="cmd", seed=5, size_px=256, n_dates=1, n_complexes=1, n_confusers=0),)
    monkeypatch.setattr(synth, "DEMO_SCENES", tiny)
    parser = argparse.ArgumentParser()
    synth.add_parser(parser.add_subparsers())
    args = parser.parse_args(["synth", "--out", str(tmp_path), "--seed", "2", "--s1"])
    assert args.func(args, Settings()) == 0
    items = json.loads((tmp_path / "items.json").read_text())["features"]
    assert {i["collection"] for i in items} == {"sentinel-2-l2a", "sentinel-1-rtc"}
    assert "seed 7" in load_known_sites(tmp_path / "known_sites.geojson")[0].source
