"""Lightning DataModule over the tiles Zarr (``image``/``label``/``split`` per tile).

Tiles are read lazily, one per ``__getitem__``, from the (dask/Zarr-backed) ``xr.Dataset``
returned by ``cube.tiles.open_tiles``; nothing is loaded up front. A tile once read is kept in
memory while the loader process's cache stays under ``cache_mb``, so later epochs do not read
the store again (from an S3 endpoint that is most of a CPU training step). The split is the
one stored in the Zarr (stratified 70/15/15 by the tiler). Training tiles get random 90°
rotations and flips (and optionally a random crop to ``crop_size`` for fast CPU training);
val/test tiles are used as stored.

Class balance: launch complexes cover ~1 % of the pixels, and with the focal + Dice loss a
model trained from scratch on such batches sits for hundreds of steps predicting nothing.
With ``positive_fraction`` set, that share of training draws comes from tiles holding label-1
pixels (a ``WeightedRandomSampler``; the per-tile "has positives" flags are the one eager
read, a reduction over the training labels) and their crops are centred on a random positive
pixel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import lightning as L  # noqa: N812
import numpy as np
import torch
import xarray as xr
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from cube.errors import DataError, InvalidInputError

__all__ = ["SPLITS", "TileDataModule", "TileDataset", "TileLoaderConfig", "default_num_workers"]

SPLITS = ("train", "val", "test")
REQUIRED_VARS = ("image", "label", "split")


def default_num_workers(cpus: int | None = None) -> int:
    """DataLoader workers sized to the machine.

    On small machines (<= 2 cores) loading runs in the main process (0 workers): a worker
    process would compete with the training step for the same two cores. Above that, one
    core is left to the training loop, up to 8 workers.
    """
    n = cpus if cpus is not None else (os.cpu_count() or 1)
    return 0 if n <= 2 else min(8, n - 1)


def check_tiles(tiles: xr.Dataset) -> None:
    """Raise :class:`DataError` unless ``tiles`` follows the tiles-Zarr contract."""
    missing = [v for v in REQUIRED_VARS if v not in tiles.variables]
    if missing:
        have = sorted(map(str, tiles.data_vars))
        raise DataError(f"tiles dataset lacks variables {missing}; has {have}")
    if tiles["image"].dims != ("tile", "band", "y", "x"):
        raise DataError(f"tiles image dims must be (tile, band, y, x), got {tiles['image'].dims}")
    if tiles["label"].dims != ("tile", "y", "x"):
        raise DataError(f"tiles label dims must be (tile, y, x), got {tiles['label'].dims}")


class TileDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Tiles of one split, read lazily; returns ``(image (C,H,W), label (1,H,W))`` float32.

    Args:
        tiles: The tiles dataset.
        indices: Positions along ``tile`` that belong to this split.
        augment: Apply random 90° rotations and flips.
        crop_size: Random square crop (training speed-up); ``None`` keeps whole tiles.
        positive_crop: Crop windows contain a random label-1 pixel when the tile has one.
        seed: Seed of the augmentation generator.
        cache_bytes: Keep tiles read in memory up to this many bytes (0: no cache).
    """

    def __init__(
        self,
        tiles: xr.Dataset,
        indices: np.ndarray,
        augment: bool = False,
        crop_size: int | None = None,
        positive_crop: bool = False,
        seed: int = 0,
        cache_bytes: int = 0,
    ) -> None:
        self.positive_crop = positive_crop
        self.cache_bytes = cache_bytes
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached_bytes = 0
        self.image = tiles["image"]
        self.label = tiles["label"]
        self.indices = np.asarray(indices, dtype=np.int64)
        self.augment = augment
        self.crop_size = crop_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self._read(int(self.indices[i]))
        if self.crop_size is not None and self.crop_size < image.shape[-1]:
            y0, x0 = self._crop_origin(label[0], self.crop_size)
            window = (..., slice(y0, y0 + self.crop_size), slice(x0, x0 + self.crop_size))
            image, label = image[window], label[window]
        if self.augment:
            k = int(self.rng.integers(0, 4))
            image, label = np.rot90(image, k, axes=(-2, -1)), np.rot90(label, k, axes=(-2, -1))
            if self.rng.random() < 0.5:
                image, label = image[..., ::-1], label[..., ::-1]
            if self.rng.random() < 0.5:
                image, label = image[..., ::-1, :], label[..., ::-1, :]
        return torch.from_numpy(image.copy()), torch.from_numpy(label.copy())

    def _read(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Tile ``t`` as (image (C,H,W) without NaN, label (1,H,W)), from the cache if there."""
        if t in self._cache:
            return self._cache[t]
        image = np.nan_to_num(np.asarray(self.image.isel(tile=t).values, dtype=np.float32))
        label = np.asarray(self.label.isel(tile=t).values, dtype=np.float32)[None]
        size = image.nbytes + label.nbytes
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[t] = (image, label)
            self._cached_bytes += size
        return image, label

    def _crop_origin(self, label: np.ndarray, size: int) -> tuple[int, int]:
        height, width = label.shape
        positives = np.argwhere(label == 1.0) if self.positive_crop else np.empty((0, 2))
        if not len(positives):
            return (
                int(self.rng.integers(0, height - size + 1)),
                int(self.rng.integers(0, width - size + 1)),
            )
        py, px = positives[int(self.rng.integers(0, len(positives)))]
        y0 = int(self.rng.integers(max(0, py - size + 1), min(py, height - size) + 1))
        x0 = int(self.rng.integers(max(0, px - size + 1), min(px, width - size) + 1))
        return y0, x0


@dataclass(frozen=True)
class TileLoaderConfig:
    """How tiles are batched.

    Attributes:
        batch_size: Tiles per batch.
        num_workers: DataLoader workers; ``None`` sizes them to the machine.
        crop_size: Random training crop (multiple of 32) or ``None`` for whole tiles.
        seed: Augmentation seed.
        positive_fraction: Share of training draws from tiles with positives (and
            positive-centred crops); ``None`` samples tiles uniformly.
        cache_mb: In-memory tile cache per split and loader process (0: read every draw).
    """

    batch_size: int = 16
    num_workers: int | None = None
    crop_size: int | None = None
    seed: int = 0
    positive_fraction: float | None = None
    cache_mb: float = 2048.0

    def __post_init__(self) -> None:
        if self.cache_mb < 0:
            raise InvalidInputError(f"cache_mb must be >= 0, got {self.cache_mb}")
        if self.batch_size <= 0:
            raise InvalidInputError(f"batch size must be > 0, got {self.batch_size}")
        if self.num_workers is not None and self.num_workers < 0:
            raise InvalidInputError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.crop_size is not None and (self.crop_size <= 0 or self.crop_size % 32):
            raise InvalidInputError(
                f"crop size must be a positive multiple of 32, got {self.crop_size}"
            )
        if self.positive_fraction is not None and not 0 < self.positive_fraction < 1:
            raise InvalidInputError(
                f"positive_fraction must be in (0, 1), got {self.positive_fraction}"
            )


class TileDataModule(L.LightningDataModule):
    """Train/val/test loaders over a tiles dataset.

    Args:
        tiles: Dataset following the tiles-Zarr contract (may be lazy).
        config: Batching options.

    Raises:
        DataError: The dataset does not follow the contract.
        InvalidInputError: No training or no validation tiles.
    """

    def __init__(self, tiles: xr.Dataset, config: TileLoaderConfig | None = None) -> None:
        super().__init__()
        check_tiles(tiles)
        self.tiles = tiles
        self.config = config or TileLoaderConfig()
        split = np.array(tiles["split"].values.tolist(), dtype=str)  # StringDType from Zarr v3
        self.indices = {name: np.flatnonzero(split == name) for name in SPLITS}
        for name in ("train", "val"):
            if self.indices[name].size == 0:
                raise InvalidInputError(
                    f"tiles dataset has no {name!r} tiles (splits present: {sorted(set(split))})"
                )
        size = int(tiles.sizes["y"])
        if size % 32 or int(tiles.sizes["x"]) % 32:
            raise InvalidInputError(f"tile size must be a multiple of 32, got {size}")

    @property
    def in_channels(self) -> int:
        """Number of image bands."""
        return int(self.tiles.sizes["band"])

    def _sampler(self) -> WeightedRandomSampler | None:
        fraction = self.config.positive_fraction
        if fraction is None:
            return None
        label = self.tiles["label"].isel(tile=self.indices["train"])
        has_pos = np.asarray((label == 1.0).any(dim=("y", "x")).values, dtype=bool)
        n_pos = int(has_pos.sum())
        if n_pos in (0, has_pos.size):
            return None
        weights = np.where(has_pos, fraction / n_pos, (1 - fraction) / (has_pos.size - n_pos))
        return WeightedRandomSampler(
            weights.tolist(),
            num_samples=has_pos.size,
            replacement=True,
            generator=torch.Generator().manual_seed(self.config.seed),
        )

    def _loader(self, split: str, train: bool) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
        cfg = self.config
        workers = default_num_workers() if cfg.num_workers is None else cfg.num_workers
        ds = TileDataset(
            self.tiles,
            self.indices[split],
            augment=train,
            crop_size=cfg.crop_size if train else None,
            positive_crop=train and cfg.positive_fraction is not None,
            seed=cfg.seed,
            cache_bytes=int(cfg.cache_mb * 2**20),
        )
        sampler = self._sampler() if train else None
        return DataLoader(
            ds,
            batch_size=cfg.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(cfg.seed) if train else None,
        )

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled, augmented training tiles."""
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
        """Validation tiles in stored order."""
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
        """Test tiles in stored order."""
        return self._loader("test", train=False)

    @property
    def has_test(self) -> bool:
        """Whether the dataset holds any test tiles."""
        return bool(self.indices["test"].size)
