"""Lazy odc-stac / stackstac cubes on one grid, the real L2A tile, memory-budget chunks.

Also: graphs of the default AOIs stay bounded (built, never run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import dask.array as da
import numpy as np
import pystac
import pytest

from cube.aoi import AOI, parse_aoi
from cube.composite import composite
from cube.errors import InvalidInputError
from cube.features import make_features
from cube.load import OPTICAL_BANDS, check_assets, chunk_edge, load_cube
from cube.mask import apply_mask
from cube.search import (
    ItemCollectionSource,
    SearchRequest,
    harmonize_assets,
    search_scenes,
)
from cube.synthetic import SyntheticCatalog


@pytest.mark.parametrize("loader", ["odc", "stackstac"])
def test_load_is_lazy_on_one_grid(
    catalog: SyntheticCatalog, loader: str, catalog_aoi: Callable[..., AOI]
):
    aoi = catalog_aoi()
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


def test_loaders_agree_on_the_composite(catalog: SyntheticCatalog, catalog_aoi: Callable[..., AOI]):
    aoi = catalog_aoi()
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
    assert bounds is not None
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


def test_chunk_edge_from_memory_budget():
    assert chunk_edge(4096, 50) % 256 == 0
    assert chunk_edge(256, 10) < chunk_edge(2048, 10) <= 2048
    with pytest.raises(InvalidInputError, match="memory budget"):
        chunk_edge(1, 100)


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
