"""Search (ItemCollection, real STAC API), asset checks, lazy loading and bounded graphs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import dask.array as da
import numpy as np
import psycopg
import pystac
import pytest

from cube.aoi import AOI, parse_aoi
from cube.catalog_db import upsert_scenes
from cube.composite import composite
from cube.errors import DataError, EmptySearchError, InvalidInputError
from cube.features import make_features
from cube.load import OPTICAL_BANDS, check_assets, chunk_edge, load_cube
from cube.mask import apply_mask
from cube.search import (
    ItemCollectionSource,
    SearchRequest,
    StacApiSource,
    harmonize_assets,
    scene_source,
    search_scenes,
)
from cube.synthetic import SceneSpec, SyntheticCatalog, generate_scenes

SPEC = SceneSpec(name="sl", seed=5, size_px=256, n_dates=3, n_complexes=1, n_confusers=0)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCatalog:
    return generate_scenes([SPEC], tmp_path_factory.mktemp("search-load"))


def _aoi(cat: SyntheticCatalog, start: str = "2024-01-01", end: str = "2024-12-31") -> AOI:
    footprint = json.loads(cat.scenes.read_text())["features"][0]["geometry"]
    path = cat.root / "sl_aoi.geojson"
    path.write_text(json.dumps(footprint))
    return parse_aoi(str(path), start, end, 100)


def test_item_collection_filters_dates_and_clouds(catalog: SyntheticCatalog):
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(_aoi(catalog)))
    assert [i.id for i in items] == [f"SYN_sl_{d}" for d in ("20240305", "20240317", "20240329")]
    late = _aoi(catalog, "2024-03-10", "2024-03-20")
    assert [i.id for i in search_scenes(scene_source(str(catalog.items)), SearchRequest(late))] == [
        "SYN_sl_20240317"
    ]


def test_empty_search_names_aoi_dates_and_collection(catalog: SyntheticCatalog):
    aoi = _aoi(catalog, "2020-01-01", "2020-06-30")
    with pytest.raises(EmptySearchError, match=r"sentinel-2-l2a.*sl_aoi.*2020-01-01.*2020-06-30"):
        search_scenes(ItemCollectionSource(catalog.items), SearchRequest(aoi))
    far = parse_aoi("10,10,10.1,10.1", "2024-01-01", "2024-12-31")
    with pytest.raises(EmptySearchError):
        search_scenes(ItemCollectionSource(catalog.items), SearchRequest(far))
    with pytest.raises(InvalidInputError, match="unknown collection"):
        SearchRequest(aoi, collection="landsat")


def test_real_stac_api(catalog: SyntheticCatalog, stac_api: Callable[[Path], str]):
    url = stac_api(catalog.items)
    source = scene_source(url)
    assert isinstance(source, StacApiSource) and not source.signed
    items = search_scenes(source, SearchRequest(_aoi(catalog)))
    assert len(items) == 3 and items[0].assets["B04"].href.startswith("file://")
    assert StacApiSource("https://planetarycomputer.microsoft.com/api/stac/v1").signed


def test_missing_band_and_corrupt_cog_are_named(catalog: SyntheticCatalog, tmp_path: Path):
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(_aoi(catalog)))
    broken = [pystac.Item.from_dict(i.to_dict()) for i in items]
    del broken[1].assets["B11"]
    with pytest.raises(DataError, match=r"SYN_sl_20240317 lacks bands \['B11'\]"):
        check_assets(broken, [*OPTICAL_BANDS, "SCL"])
    bad = tmp_path / "B04.tif"
    bad.write_bytes(b"not a tiff at all")
    corrupt = [pystac.Item.from_dict(i.to_dict()) for i in items]
    corrupt[2].assets["B04"].href = str(bad)
    with pytest.raises(DataError, match=r"SYN_sl_20240329 band B04: cannot read .*B04.tif"):
        check_assets(corrupt, [*OPTICAL_BANDS, "SCL"])


@pytest.mark.parametrize("loader", ["odc", "stackstac"])
def test_load_is_lazy_on_one_grid(catalog: SyntheticCatalog, loader: str):
    aoi = _aoi(catalog)
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(aoi))
    cube = load_cube(items, aoi, memory_budget_mb=8, loader=loader)  # type: ignore[arg-type]
    assert isinstance(cube.data.data, da.Array)
    assert cube.data.dims == ("time", "band", "y", "x") and cube.data.dtype == np.uint16
    assert list(cube.data["band"].values) == list(OPTICAL_BANDS)
    assert cube.data.sizes["time"] == 3 and abs(cube.data.sizes["y"] - 256) <= 1
    assert cube.data.data.chunksize[0] == 1  # one date per chunk
    assert cube.data.rio.crs.to_epsg() == 32641 and cube.scl.dtype == np.uint8
    values = cube.data.isel(time=0, band=2).values
    assert (values > 0).mean() > 0.9  # reflectance read
    assert set(np.unique(cube.scl.values)) <= set(range(12))


def test_loaders_agree_on_the_composite(catalog: SyntheticCatalog):
    aoi = _aoi(catalog)
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(aoi))
    odc = load_cube(items, aoi, loader="odc")
    ss = load_cube(items, aoi, loader="stackstac")
    a = composite(apply_mask(odc.data, odc.scl))["composite"]
    b = composite(apply_mask(ss.data, ss.scl))["composite"]
    b = b.sel(x=a["x"], y=a["y"], method="nearest")
    agree = (a.values == b.values).mean()
    assert agree > 0.95


def test_realdata_l2a_tile(realdata: Path, tmp_path: Path):
    src = realdata / "riotilerpds_s2_l2a_29RKH_100m"
    doc = json.loads((src / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item = harmonize_assets(pystac.Item.from_dict(doc))  # Earth Search names: red, nir...
    for key, asset in item.assets.items():
        local = src / Path(asset.href.split("?")[0]).name
        if local.exists():
            item.assets[key].href = local.as_uri()
    check_assets([item], [*OPTICAL_BANDS, "SCL"])
    bounds = item.bbox
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    aoi = parse_aoi(f"{cx - 0.1},{cy - 0.1},{cx + 0.1},{cy + 0.1}", "2020-02-01", "2020-02-28", 50)
    cube = load_cube([item], aoi, resolution=100.0)
    comp = composite(apply_mask(cube.data, cube.scl))
    values = comp["composite"].values
    assert cube.data.rio.crs.to_epsg() == 32629
    assert (comp["clear_count"].values > 0).mean() > 0.9  # 4 % cloud, desert
    assert 500 < float(np.median(values[2][values[2] > 0])) < 6000  # B04 desert reflectance
    feats = make_features(comp["composite"], [[1, 2]] * 6)
    assert feats.sizes["band"] == 10


def test_catalog_upsert(catalog: SyntheticCatalog, pg_dsn: str):
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(_aoi(catalog)))
    assert upsert_scenes(pg_dsn, items) == 3
    assert upsert_scenes(pg_dsn, items) == 3  # idempotent
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT scene_id, sensor, cloud_cover_pct, assets->>'B04', ST_SRID(bbox) "
            "FROM imagery_catalog ORDER BY acquired_at"
        ).fetchall()
    assert [r[0] for r in rows] == [i.id for i in items]
    assert all(r[1] == "sentinel-2" and r[4] == 4326 for r in rows)
    assert rows[0][3].startswith("file://")


def _fake_items(aoi: AOI, n: int) -> list[pystac.Item]:
    minx, miny, maxx, maxy = aoi.bbox
    geom = {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
    }
    items = []
    for k in range(n):
        item = pystac.Item(
            f"fake_{k}",
            geom,
            [minx, miny, maxx, maxy],
            datetime.combine(aoi.start + timedelta(days=3 * k), time(6), tzinfo=UTC),
            {},
            collection="sentinel-2-l2a",
        )
        for band in (*OPTICAL_BANDS, "SCL"):
            item.add_asset(band, pystac.Asset(f"/nonexistent/{k}/{band}.tif", roles=["data"]))
        items.append(item)
    return items


@pytest.mark.parametrize("name", ["baikonur", "plesetsk", "vostochny", "jiuquan"])
def test_graph_size_of_default_aois_stays_bounded(name: str):
    """Graphs of a 6-month, 50-scene ingest of each default AOI, built but never run."""
    aoi = parse_aoi(name)
    cube = load_cube(_fake_items(aoi, 50), aoi, memory_budget_mb=4096)
    comp = composite(apply_mask(cube.data, cube.scl))["composite"]
    feats = make_features(comp, [[100, 3000]] * 6)
    tasks = len(feats.data.__dask_graph__())
    print(f"{name}: {dict(cube.data.sizes)} → {tasks} tasks")
    assert tasks < 100_000


def test_chunk_edge_from_memory_budget():
    assert chunk_edge(4096, 50) % 256 == 0
    assert chunk_edge(256, 10) < chunk_edge(2048, 10) <= 2048
    with pytest.raises(InvalidInputError, match="memory budget"):
        chunk_edge(1, 100)
