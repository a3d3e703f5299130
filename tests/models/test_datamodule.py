import numpy as np
import pytest
import xarray as xr

from cube.errors import DataError, InvalidInputError
from models.datamodule import (
    TileDataModule,
    TileDataset,
    TileLoaderConfig,
    default_num_workers,
)
from tests.conftest import S3Endpoint

from .conftest import make_tiles


def test_augmentation_moves_image_and_label_together(tiles: xr.Dataset) -> None:
    ds = TileDataset(tiles, np.arange(8), augment=True, crop_size=32, seed=3)
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.shape == (10, 32, 32)
        assert label.shape == (1, 32, 32)
        bright = image.mean(0) > 0.55
        assert bool((bright == (label[0] == 1.0)).float().mean() > 0.97)


def test_tiles_are_read_once_within_the_cache_budget(tiles: xr.Dataset) -> None:
    tile_bytes = (10 + 1) * 64 * 64 * 4
    ds = TileDataset(tiles, np.arange(8), cache_bytes=5 * tile_bytes)
    first = [ds[i] for i in range(8)]
    reads: list[int] = []
    image = ds.image

    class Counting:
        def isel(self, tile: int) -> xr.DataArray:
            reads.append(tile)
            return image.isel(tile=tile)

    ds.image = Counting()  # type: ignore[assignment]
    again = [ds[i] for i in range(8)]
    assert reads == [5, 6, 7]  # the first five tiles fit the budget and come from memory
    for (a, b), (c, d) in zip(first, again, strict=True):
        assert bool((a == c).all()) and bool((b == d).all())
    uncached = TileDataset(tiles, np.arange(8), cache_bytes=0)
    uncached[0]
    assert not uncached._cache


def test_datamodule_uses_stored_split_lazily(tiles: xr.Dataset) -> None:
    assert tiles["image"].chunks is not None  # dask-backed: read per tile
    dm = TileDataModule(tiles, TileLoaderConfig(batch_size=4, num_workers=0))
    assert [len(dm.indices[s]) for s in ("train", "val", "test")] == [16, 4, 4]
    assert dm.train_dataloader().dataset.cache_bytes == 2048 * 2**20  # type: ignore[attr-defined]
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (4, 10, 64, 64)
    np.testing.assert_array_equal(y[:, 0].numpy(), tiles["label"].values[16:20])


def test_workers_sized_to_machine() -> None:
    assert default_num_workers(2) == 0
    assert default_num_workers(4) == 3
    assert default_num_workers(64) == 8


def test_missing_validation_split_is_invalid() -> None:
    ds = make_tiles(n=6)
    ds["split"] = ("tile", np.array(["train"] * 6))
    with pytest.raises(InvalidInputError, match="no 'val' tiles"):
        TileDataModule(ds)


def test_contract_violations_are_data_errors() -> None:
    with pytest.raises(DataError, match="lacks variables"):
        TileDataModule(make_tiles(n=6).drop_vars("label"))
    with pytest.raises(DataError, match="image dims"):
        TileDataModule(make_tiles(n=6).transpose("tile", "y", "x", "band"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch size"),
        ({"crop_size": 40}, "multiple of 32"),
        ({"cache_mb": -1}, "cache_mb"),
    ],
)
def test_bad_loader_config(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        TileLoaderConfig(**kwargs)


def test_positive_crops_contain_positives(tiles: xr.Dataset) -> None:
    with_pos = np.flatnonzero((tiles["label"] == 1).any(("y", "x")).values)
    ds = TileDataset(tiles, with_pos, augment=True, crop_size=32, positive_crop=True, seed=1)
    for i in range(len(ds)):
        assert bool((ds[i][1] == 1.0).any())


def test_positive_fraction_oversamples_positive_tiles() -> None:
    ds = make_tiles(n=40)
    has_pos = (ds["label"] == 1).any(("y", "x")).values
    config = TileLoaderConfig(batch_size=4, num_workers=0, positive_fraction=0.9)
    sampler = TileDataModule(ds, config)._sampler()
    assert sampler is not None
    train = TileDataModule(ds).indices["train"]
    drawn = [bool(has_pos[train[i]]) for _ in range(20) for i in sampler]
    assert np.mean(drawn) > 0.8 > np.mean(has_pos[train])
    with pytest.raises(InvalidInputError, match="positive_fraction"):
        TileLoaderConfig(positive_fraction=1.0)


def test_tiles_read_from_s3(s3: S3Endpoint, s3_root: str) -> None:
    from cube.tiles import open_tiles

    url = f"{s3_root}/demo/tiles.zarr"
    local = make_tiles(n=12)
    local.chunk({"tile": 1}).to_zarr(url, storage_options=dict(s3.storage_options))
    remote = open_tiles(url, s3.storage_options)
    dm = TileDataModule(remote, TileLoaderConfig(batch_size=2, num_workers=0))
    x, y = next(iter(dm.test_dataloader()))
    test = dm.indices["test"][:2]
    np.testing.assert_array_equal(x.numpy(), local["image"].values[test])
    np.testing.assert_array_equal(y[:, 0].numpy(), local["label"].values[test])
