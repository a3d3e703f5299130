"""Scene search (ItemCollection file, real loopback STAC API), asset checks, catalog rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pystac
import pytest

from cube.aoi import AOI, parse_aoi
from cube.catalog_db import upsert_scenes
from cube.errors import DataError, EmptySearchError, InvalidInputError
from cube.load import OPTICAL_BANDS, check_assets
from cube.search import (
    ItemCollectionSource,
    SearchRequest,
    StacApiSource,
    scene_source,
    search_scenes,
)
from cube.synthetic import SyntheticCatalog


def test_item_collection_filters_dates_and_clouds(
    catalog: SyntheticCatalog, catalog_aoi: Callable[..., AOI]
):
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(catalog_aoi()))
    assert [i.id for i in items] == [f"SYN_sl_{d}" for d in ("20240305", "20240317", "20240329")]
    late = catalog_aoi("2024-03-10", "2024-03-20")
    assert [i.id for i in search_scenes(scene_source(str(catalog.items)), SearchRequest(late))] == [
        "SYN_sl_20240317"
    ]


def test_empty_search_names_aoi_dates_and_collection(
    catalog: SyntheticCatalog, catalog_aoi: Callable[..., AOI]
):
    aoi = catalog_aoi("2020-01-01", "2020-06-30")
    with pytest.raises(EmptySearchError, match=r"sentinel-2-l2a.*sl_aoi.*2020-01-01.*2020-06-30"):
        search_scenes(ItemCollectionSource(catalog.items), SearchRequest(aoi))
    far = parse_aoi("10,10,10.1,10.1", "2024-01-01", "2024-12-31")
    with pytest.raises(EmptySearchError):
        search_scenes(ItemCollectionSource(catalog.items), SearchRequest(far))
    with pytest.raises(InvalidInputError, match="unknown collection"):
        SearchRequest(aoi, collection="landsat")


def test_real_stac_api(
    catalog: SyntheticCatalog, stac_api: Callable[[Path], str], catalog_aoi: Callable[..., AOI]
):
    url = stac_api(catalog.items)
    source = scene_source(url)
    assert isinstance(source, StacApiSource) and not source.signed
    items = search_scenes(source, SearchRequest(catalog_aoi()))
    assert len(items) == 3 and items[0].assets["B04"].href.startswith("file://")
    assert StacApiSource("https://planetarycomputer.microsoft.com/api/stac/v1").signed


def test_missing_band_and_corrupt_cog_are_named(
    catalog: SyntheticCatalog, tmp_path: Path, catalog_aoi: Callable[..., AOI]
):
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(catalog_aoi()))
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


def test_catalog_upsert(catalog: SyntheticCatalog, pg_dsn: str, catalog_aoi: Callable[..., AOI]):
    items = search_scenes(ItemCollectionSource(catalog.items), SearchRequest(catalog_aoi()))
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
