"""Fixtures of the cube tests: a tiny synthetic Sentinel-2 catalog and an AOI over it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cube.aoi import AOI, parse_aoi
from cube.synthetic import SceneSpec, SyntheticCatalog, generate_scenes

SPEC = SceneSpec(name="sl", seed=5, size_px=256, n_dates=3, n_complexes=1, n_confusers=0)


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCatalog:
    """Three dates of one 256 px synthetic scene (ItemCollection of local COGs)."""
    return generate_scenes([SPEC], tmp_path_factory.mktemp("search-load"))


@pytest.fixture(scope="session")
def catalog_aoi(catalog: SyntheticCatalog) -> Callable[..., AOI]:
    """Factory: the AOI ``sl_aoi`` (the scene footprint) between two dates, any cloud cover."""
    footprint = json.loads(catalog.scenes.read_text())["features"][0]["geometry"]
    path = catalog.root / "sl_aoi.geojson"
    path.write_text(json.dumps(footprint))

    def make(start: str = "2024-01-01", end: str = "2024-12-31") -> AOI:
        return parse_aoi(str(path), start, end, 100)

    return make
