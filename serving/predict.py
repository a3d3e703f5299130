"""Lazy, seamless sliding-window inference over a feature cube of any size.

Tiles lie on ONE global grid (stride ``tile - overlap``, origin ``-overlap // 2``) whatever
the chunking, and every tile touching a chunk is evaluated from that chunk's halo
(``map_overlap`` depth = ``tile``, reflected at the raster edges so border pixels get full
context). Tile probabilities are blended with a strictly positive 2-D Hann (sin²) window:
``p = Σ wᵢ·σ(logitᵢ) / Σ wᵢ``. Because each pixel sees exactly the same tiles and weights in
a chunked run as in a single-window run, the two agree to float rounding and no seam appears
at chunk borders; the smooth window removes seams at tile borders.

With the torch backend the same blending runs on the predictor's device
(:func:`_blend_on_device`): the haloed chunk is copied to the GPU once, tiles are cut and
NaNs cleaned there, the model runs under autocast and only the blended chunk comes back.
On a CPU device that path is exercised by the tests through the same interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from cube.errors import InvalidInputError
from serving.predictors import PredictorSpec, TorchPredictor, get_predictor

__all__ = ["blend_window", "chunk_size_for_budget", "predict", "predict_block"]


def blend_window(tile: int) -> np.ndarray:
    """2-D Hann-type weights ``sin²(π(i+½)/tile)``: smooth, > 0 everywhere, peak in the centre."""
    w = np.sin(np.pi * (np.arange(tile) + 0.5) / tile) ** 2
    out: np.ndarray = np.outer(w, w).astype(np.float64)
    return out


def chunk_size_for_budget(memory_budget_mb: float, tile: int = 256, bands: int = 10) -> int:
    """Chunk edge (pixels, a multiple of ``tile``) whose working set fits the budget per worker.

    The working set of one chunk is its haloed float32 features (``bands`` planes) plus
    float64 accumulators and one batch of tiles; ~4 copies of the haloed features bound it.
    """
    per_px = bands * 4 * 4
    edge = int(math.sqrt(memory_budget_mb * 2**20 / per_px)) - 2 * tile
    if edge < tile:
        raise InvalidInputError(
            f"memory budget {memory_budget_mb} MB is too small for {tile}-px tiles"
        )
    return max(tile, (edge // tile) * tile)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x.astype(np.float64)))
    return out


def _grid(lo: int, hi: int, tile: int, stride: int, origin: int) -> list[int]:
    """Global tile starts ``o`` on the grid with ``[o, o + tile)`` touching ``[lo, hi)``."""
    k0 = math.floor((lo - tile - origin) / stride) + 1
    k1 = math.ceil((hi - origin) / stride)
    return [origin + k * stride for k in range(k0, k1)]


@dataclass(frozen=True)
class _Placement:
    """Where one global-grid tile is cut from a haloed chunk and where it lands in the core."""

    cut_y: slice
    cut_x: slice
    win: tuple[slice, slice]
    out: tuple[slice, slice]

    @classmethod
    def of(cls, oy: int, ox: int, core: tuple[int, int, int, int], tile: int) -> _Placement:
        y0, y1, x0, x1 = core
        ty0, ty1 = max(oy, y0), min(oy + tile, y1)
        tx0, tx1 = max(ox, x0), min(ox + tile, x1)
        return cls(
            cut_y=slice(oy - y0 + tile, oy - y0 + 2 * tile),
            cut_x=slice(ox - x0 + tile, ox - x0 + 2 * tile),
            win=(slice(ty0 - oy, ty1 - oy), slice(tx0 - ox, tx1 - ox)),
            out=(slice(ty0 - y0, ty1 - y0), slice(tx0 - x0, tx1 - x0)),
        )


def predict_block(
    block: np.ndarray,
    core: tuple[int, int, int, int],
    spec: PredictorSpec,
    tile: int,
    overlap: int,
    batch: int,
) -> np.ndarray:
    """Blend predictions of all global-grid tiles touching one chunk.

    Args:
        block: Haloed features (bands, h + 2·tile, w + 2·tile).
        core: Global ``(y0, y1, x0, x1)`` of the chunk without halo.
        spec: Predictor to use (built once per process).
        tile: Tile edge.
        overlap: Overlap between neighbouring tiles.
        batch: Tiles per predictor call.

    Returns:
        float32 probabilities (h, w) of the chunk core.
    """
    y0, y1, x0, x1 = core
    stride, origin = tile - overlap, -(overlap // 2)
    window = blend_window(tile)
    starts = [
        (oy, ox)
        for oy in _grid(y0, y1, tile, stride, origin)
        for ox in _grid(x0, x1, tile, stride, origin)
    ]
    predictor = get_predictor(spec)
    if isinstance(predictor, TorchPredictor):
        return _blend_on_device(predictor, block, core, starts, window, batch)
    acc = np.zeros((y1 - y0, x1 - x0))
    wsum = np.zeros_like(acc)
    data = np.nan_to_num(np.asarray(block, dtype=np.float32))
    for i in range(0, len(starts), batch):
        group = [_Placement.of(oy, ox, core, tile) for oy, ox in starts[i : i + batch]]
        tiles = np.stack([data[:, pl.cut_y, pl.cut_x] for pl in group])
        probs = _sigmoid(predictor.predict(tiles)[:, 0])
        for pl, p in zip(group, probs, strict=True):
            acc[pl.out] += window[pl.win] * p[pl.win]
            wsum[pl.out] += window[pl.win]
    out: np.ndarray = (acc / wsum).astype(np.float32)
    return out


def _blend_on_device(
    predictor: TorchPredictor,
    block: np.ndarray,
    core: tuple[int, int, int, int],
    starts: list[tuple[int, int]],
    window: np.ndarray,
    batch: int,
) -> np.ndarray:
    """:func:`predict_block` for torch: cut, clean, infer and blend on the model's device."""
    import torch

    y0, y1, x0, x1 = core
    tile = window.shape[0]
    dev = predictor.device
    acc_dtype = torch.float64 if dev.type == "cpu" else torch.float32
    data = torch.nan_to_num(torch.as_tensor(np.asarray(block, np.float32)).to(dev), nan=0.0)
    w = torch.as_tensor(window, dtype=acc_dtype, device=dev)
    acc = torch.zeros((y1 - y0, x1 - x0), dtype=acc_dtype, device=dev)
    wsum = torch.zeros_like(acc)
    for i in range(0, len(starts), batch):
        group = [_Placement.of(oy, ox, core, tile) for oy, ox in starts[i : i + batch]]
        tiles = torch.stack([data[:, pl.cut_y, pl.cut_x] for pl in group])
        probs = torch.sigmoid(predictor.logits(tiles)[:, 0].to(acc_dtype))
        for pl, p in zip(group, probs, strict=True):
            acc[pl.out] += w[pl.win] * p[pl.win]
            wsum[pl.out] += w[pl.win]
    out: np.ndarray = (acc / wsum).float().cpu().numpy()
    return out


def _axis_chunks(size: int, chunk: int, tile: int) -> tuple[int, ...]:
    """Chunks of ``chunk`` px along an axis; a remainder < ``tile`` joins the last chunk."""
    sizes = [chunk] * (size // chunk)
    rest = size - chunk * len(sizes)
    if rest >= tile or not sizes:
        sizes.append(rest)
    else:
        sizes[-1] += rest
    return tuple(s for s in sizes if s)


def predict(
    features: xr.DataArray,
    spec: PredictorSpec,
    tile: int = 256,
    overlap: int = 64,
    batch: int = 8,
    chunk: int | None = None,
) -> xr.DataArray:
    """Lazy probability raster of ``features`` ("band", "y", "x") float32.

    Args:
        features: Feature cube (10 bands), dask-backed or not; CRS/transform via rioxarray.
        spec: Which predictor (built once per worker; not pickled through the graph).
        tile: Tile edge fed to the model.
        overlap: Overlap of neighbouring tiles (< tile).
        batch: Tiles per predictor call.
        chunk: Chunk edge in pixels (default: the features' chunks, at least ``tile``).

    Returns:
        Lazy ("y", "x") float32 probabilities in [0, 1] named ``probability``; 0 where every
        feature is NaN (no clear observation: the model is not asked to guess there).

    Raises:
        InvalidInputError: Wrong dims/bands, or overlap not in [0, tile).
    """
    if features.dims != ("band", "y", "x"):
        raise InvalidInputError(f"features must have dims (band, y, x); got {features.dims}")
    if features.sizes["band"] != spec.bands:
        raise InvalidInputError(
            f"model takes {spec.bands} feature bands; features have {features.sizes['band']}"
        )
    if not 0 <= overlap < tile:
        raise InvalidInputError(f"overlap {overlap} must lie in [0, tile={tile})")
    arr = features.data if isinstance(features.data, da.Array) else da.asarray(features.data)
    arr = arr.astype(np.float32)
    if chunk is None:
        chunk = max(tile, int(max(max(arr.chunks[1]), max(arr.chunks[2]))))
    if min(arr.shape[1:]) < tile:
        raise InvalidInputError(
            f"raster {arr.shape[1]}x{arr.shape[2]} px is smaller than one {tile}-px tile"
        )
    chunk = max(chunk, tile)
    arr = arr.rechunk(
        (
            (arr.shape[0],),
            _axis_chunks(arr.shape[1], chunk, tile),
            _axis_chunks(arr.shape[2], chunk, tile),
        )
    )
    ys = np.concatenate([[0], np.cumsum(arr.chunks[1])])
    xs = np.concatenate([[0], np.cumsum(arr.chunks[2])])

    def run(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        if block_info is None or None not in block_info:  # dask meta inference
            return np.zeros((1, *block.shape[1:]), np.float32)
        _, i, j = block_info[None]["chunk-location"]
        core = (int(ys[i]), int(ys[i + 1]), int(xs[j]), int(xs[j + 1]))
        out = np.zeros((1, *block.shape[1:]), np.float32)
        prob = predict_block(block, core, spec, tile, overlap, batch)
        prob[np.isnan(block[:, tile:-tile, tile:-tile]).all(axis=0)] = 0.0  # no data: no claim
        out[0, tile:-tile, tile:-tile] = prob
        return out

    prob = da.map_overlap(
        run,
        arr,
        depth={0: 0, 1: tile, 2: tile},
        boundary="reflect",
        dtype=np.float32,
        chunks=(
            (1,),
            tuple(c + 2 * tile for c in arr.chunks[1]),
            tuple(c + 2 * tile for c in arr.chunks[2]),
        ),
        allow_rechunk=False,
    )[0]
    coords = {k: features.coords[k] for k in ("y", "x") if k in features.coords}
    out = xr.DataArray(prob, dims=("y", "x"), coords=coords, name="probability")
    out.attrs.update(backend=spec.backend, tile=tile, overlap=overlap)
    if features.rio.crs is not None:
        out = out.rio.write_crs(features.rio.crs).rio.write_transform(features.rio.transform())
    return out
