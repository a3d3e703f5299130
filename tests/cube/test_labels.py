import json

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr
from pyproj import Transformer
from rasterio.features import rasterize
from shapely import ops
from shapely.geometry import Point, shape

from cube.errors import InvalidInputError
from cube.known_sites import buffer_sites, load_known_sites
from cube.labels import LABEL_RULE, weak_labels
from cube.synthetic import SceneSpec, SyntheticCatalog, generate_scenes

FEATURES = ["B02", "B03", "B04", "B08", "B11", "B12", "NDVI", "NDWI", "NDBI", "BSI"]


def features_from_scene(catalog: SyntheticCatalog, scene: str) -> xr.DataArray:
    """Features of the first date of a clear synthetic scene (stretch: reflectance / 0.5)."""
    folder = sorted((catalog.root / scene).iterdir())[0]
    refl = {}
    for band in FEATURES[:6]:
        with rasterio.open(folder / f"{band}.tif") as src:
            refl[band] = src.read(1).astype(np.float32) / 1e4
            transform, crs = src.transform, src.crs

    def nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a - b) / (a + b)

    indices = [
        nd(refl["B08"], refl["B04"]),
        nd(refl["B03"], refl["B08"]),
        nd(refl["B11"], refl["B08"]),
        nd(refl["B11"] + refl["B04"], refl["B08"] + refl["B02"]),
    ]
    data = np.stack([np.clip(v / 0.5, 0, 1) for v in refl.values()] + indices)
    n = data.shape[1]
    x = transform.c + (np.arange(n) + 0.5) * transform.a
    y = transform.f + (np.arange(n) + 0.5) * transform.e
    da = xr.DataArray(
        data.astype(np.float32), dims=("band", "y", "x"), coords={"band": FEATURES, "y": y, "x": x}
    )
    return da.rio.write_crs(crs).rio.write_transform(transform).chunk({"y": 256, "x": 256})


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCatalog:
    spec = SceneSpec(
        name="lab",
        seed=21,
        size_px=512,
        n_dates=1,
        terrain="steppe",
        n_complexes=1,
        n_confusers=1,
        cloud_fraction=0.0,
    )
    return generate_scenes([spec], tmp_path_factory.mktemp("labels"))


def _distance(features: xr.DataArray, site: Point) -> np.ndarray:
    sx, sy = Transformer.from_crs(4326, features.rio.crs, always_xy=True).transform(site.x, site.y)
    return np.hypot(features.x.values[None, :] - sx, features.y.values[:, None] - sy)


def test_labels_follow_the_rule(scene: SyntheticCatalog):
    features = features_from_scene(scene, "lab")
    sites = load_known_sites(scene.known_sites)
    labels = weak_labels(features, buffer_sites(sites), core_radius_m=800, buffer_radius_m=2000)
    assert labels.dims == ("y", "x") and labels.dtype == np.float32
    assert labels.chunks == ((256, 256), (256, 256))  # lazy, on the features chunks
    assert labels.rio.crs == features.rio.crs
    assert labels.rio.transform() == features.rio.transform()
    assert labels.attrs["label_rule"] == LABEL_RULE
    values = labels.values
    assert set(np.unique(values).tolist()) <= {0.0, 0.5, 1.0}
    dist = _distance(features, sites[0].point)
    assert (values[dist > 2000] == 0).all()
    assert (values[dist <= 2000] > 0).all()
    assert (values[dist > 800] < 1).all()
    ndvi = features.sel(band="NDVI").values
    assert (values[ndvi >= 0.3] < 1).all()
    # positives are structures, not a disc: most sit on the planted complex
    truth = json.loads(scene.truth.read_text())["features"]
    poly = next(shape(f["geometry"]) for f in truth if f["properties"]["kind"] == "launch_complex")
    to_grid = Transformer.from_crs(4326, features.rio.crs, always_xy=True).transform
    inside = rasterize(
        [ops.transform(to_grid, poly)], out_shape=values.shape, transform=features.rio.transform()
    ).astype(bool)
    positive = values == 1
    assert positive.sum() > 200
    assert (positive & inside).sum() / positive.sum() > 0.8
    assert positive.sum() < 0.8 * (dist <= 800).sum()


def test_labels_survive_nodata(scene: SyntheticCatalog):
    features = features_from_scene(scene, "lab")
    sites = load_known_sites(scene.known_sites)
    clean = weak_labels(features, sites).values
    holed = features.where(features.x > features.x[40])  # a nodata strip on the west edge
    labels = weak_labels(holed, sites).values
    assert (labels[:, :40] < 1).all()
    # NaN must not leak through the context mean into the rest of the grid
    np.testing.assert_array_equal(labels[:, 200:], clean[:, 200:])


def test_labels_accept_points_and_no_sites(scene: SyntheticCatalog):
    features = features_from_scene(scene, "lab")
    sites = load_known_sites(scene.known_sites)
    from_points = weak_labels(features, [s.point for s in sites]).values
    np.testing.assert_array_equal(from_points, weak_labels(features, sites).values)
    far = weak_labels(features, [Point(100.0, 40.0)])
    assert float(far.max()) == 0.0


def test_label_bad_inputs(scene: SyntheticCatalog):
    features = features_from_scene(scene, "lab")
    sites = load_known_sites(scene.known_sites)
    with pytest.raises(InvalidInputError, match="core_radius_m"):
        weak_labels(features, sites, core_radius_m=3000, buffer_radius_m=2000)
    with pytest.raises(InvalidInputError, match="BSI"):
        weak_labels(features.sel(band=FEATURES[:9]), sites)
    with pytest.raises(InvalidInputError, match="projected"):
        weak_labels(features.rio.write_crs("EPSG:4326"), sites)


@pytest.mark.parametrize("terrain", ["desert", "rocky"])
def test_labels_trace_the_footprint_on_textured_ground(
    terrain: str, tmp_path_factory: pytest.TempPathFactory
):
    """No halo of textured ground around a bright complex: positives fill its footprint."""
    spec = SceneSpec(
        name=terrain,
        seed=5,
        size_px=512,
        n_dates=1,
        terrain=terrain,  # type: ignore[arg-type]
        n_complexes=1,
        n_confusers=0,
        cloud_fraction=0.0,
    )
    catalog = generate_scenes([spec], tmp_path_factory.mktemp(terrain))
    features = features_from_scene(catalog, terrain).load()
    for band in FEATURES[:6]:  # the pipeline's 2-98 % stretch, as cube.features applies it
        layer = features.sel(band=band)
        lo, hi = np.percentile(layer.values, [2, 98])
        features.loc[{"band": band}] = ((layer - lo) / (hi - lo)).clip(0, 1)
    features = features.chunk({"y": 256, "x": 256})
    values = weak_labels(features, load_known_sites(catalog.known_sites)).values
    truth = json.loads(catalog.truth.read_text())["features"]
    to_grid = Transformer.from_crs(4326, features.rio.crs, always_xy=True).transform
    inside = rasterize(
        [ops.transform(to_grid, shape(truth[0]["geometry"]))],
        out_shape=values.shape,
        transform=features.rio.transform(),
    ).astype(bool)
    positive = values == 1
    assert (positive & inside).sum() / positive.sum() > 0.8  # no halo (1 km context: 0.5-0.7)
    assert (positive & inside).sum() / inside.sum() > 0.6  # the footprint, not its pads only
