"""Tiny tiles datasets in the tiles-Zarr layout for the models tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

BANDS = ["B02", "B03", "B04", "B08", "B11", "B12", "NDVI", "NDWI", "NDBI", "BSI"]


def make_tiles(n: int = 24, size: int = 64, seed: int = 0, bands: int = 10) -> xr.Dataset:
    """Bright rectangles (label 1, 0.5 rim) on a noisy background; splits 70/15/15-ish."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.3, 0.05, (n, bands, size, size)).astype(np.float32)
    label = np.zeros((n, size, size), np.float32)
    for t in range(n):
        if t % 3 == 2:
            continue  # some tiles without any structure
        h, w = rng.integers(8, size // 3, 2)
        y0, x0 = rng.integers(2, size - max(h, w) - 2, 2)
        label[t, y0 - 1 : y0 + h + 1, x0 - 1 : x0 + w + 1] = 0.5
        label[t, y0 : y0 + h, x0 : x0 + w] = 1.0
        image[t, :, y0 : y0 + h, x0 : x0 + w] += 0.5
    split = np.array(["train"] * n, dtype=object)
    split[int(n * 0.7) : int(n * 0.85)] = "val"
    split[int(n * 0.85) :] = "test"
    return xr.Dataset(
        {
            "image": (("tile", "band", "y", "x"), image),
            "label": (("tile", "y", "x"), label),
            "split": (("tile",), split.astype(str)),
            "row": (("tile",), np.arange(n, dtype=np.int32) * size),
            "col": (("tile",), np.zeros(n, np.int32)),
        },
        coords={"band": BANDS[:bands] + [f"S{i}" for i in range(bands - 10)]},
        attrs={"tile_size": size, "overlap": 0, "bands": BANDS, "label_rule": "test"},
    )


@pytest.fixture(scope="session")
def tiles_zarr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny tiles Zarr on disk (the layout cube.tiles writes)."""
    path = tmp_path_factory.mktemp("tiles") / "tiles.zarr"
    make_tiles().chunk({"tile": 1}).to_zarr(path, mode="w")
    return path


@pytest.fixture
def tiles(tiles_zarr: Path) -> xr.Dataset:
    """The tiny tiles Zarr opened lazily."""
    return xr.open_zarr(tiles_zarr)
