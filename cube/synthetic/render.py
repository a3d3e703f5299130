"""Per-date rendering: surface reflectance, clouds and shadows, SCL, Sentinel-1 backscatter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.features import rasterize

from cube.synthetic import spectra
from cube.synthetic.structures import Structure
from cube.synthetic.terrain import Background, smooth_noise

__all__ = ["Acquisition", "burn_materials", "render_date"]

#: Reflectance of an opaque cloud top (B02 B03 B04 B08 B11 B12).
CLOUD = np.array([0.55, 0.55, 0.56, 0.58, 0.40, 0.30], np.float32)
#: Share of the material signature in a ``CLEARED`` pixel (the rest is natural background).
CLEARED_WEIGHT = 0.7


@dataclass(frozen=True)
class Acquisition:
    """One rendered date.

    Attributes:
        bands: (6, H, W) uint16 reflectance x 1e4 (B02 B03 B04 B08 B11 B12), no zeros.
        scl: (H/2, W/2) uint8 scene classification at 20 m.
        cloud_cover: Percent of pixels in SCL classes 8, 9, 10.
        s1: (2, H, W) float32 VV/VH dB, or None.
    """

    bands: np.ndarray
    scl: np.ndarray
    cloud_cover: float
    s1: np.ndarray | None


def burn_materials(structures: Sequence[Structure], size: int) -> np.ndarray:
    """Material map (size, size) uint8: each structure's parts burnt in order, 0 elsewhere."""
    shapes = [(geom, int(mat)) for s in structures for mat, geom in s.parts if not geom.is_empty]
    if not shapes:
        return np.zeros((size, size), np.uint8)
    return rasterize(shapes, out_shape=(size, size), fill=0, dtype="uint8", all_touched=False)


def _surface(
    bg: Background, materials: np.ndarray, season: float, rng: np.random.Generator
) -> np.ndarray:
    veg = (bg.veg * season)[None]
    surf = bg.soil * (1.0 - veg) + bg.vegetation[:, None, None] * veg
    surf[:, bg.water] = spectra.WATER[:, None]
    for mat, sig in spectra.MATERIALS.items():
        sel = materials == mat
        if not sel.any():
            continue
        texture = 1.0 + 0.04 * rng.standard_normal(int(sel.sum()), dtype=np.float32)
        value = np.asarray(sig, np.float32)[:, None] * texture[None]
        if mat == spectra.Material.CLEARED:
            value = CLEARED_WEIGHT * value + (1.0 - CLEARED_WEIGHT) * surf[:, sel]
        surf[:, sel] = value
    return surf


def _scl_clear(surf: np.ndarray, water: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ndvi = (surf[3] - surf[2]) / np.maximum(surf[3] + surf[2], 1e-6)
    scl = np.where(ndvi > 0.4, 4, 5).astype(np.uint8)
    scl[water] = 6
    scl[rng.random(scl.shape) < 0.005] = 7
    return scl


def _s1(
    bg: Background, materials: np.ndarray, season: float, rng: np.random.Generator
) -> np.ndarray:
    veg = bg.veg * season
    out = np.empty((2, *materials.shape), np.float32)
    for k in range(2):
        db = spectra.BARE_DB[k] * (1 - veg) + spectra.VEG_DB[k] * veg
        db[bg.water] = spectra.WATER_DB[k]
        for mat, values in spectra.S1_DB.items():
            db[materials == mat] = values[k]
        speckle = rng.gamma(4.4, 1 / 4.4, materials.shape).astype(np.float32)
        out[k] = 10 * np.log10(10 ** (db / 10) * speckle)
    return out


def render_date(
    bg: Background,
    materials: np.ndarray,
    season: float,
    cloud_fraction: float,
    rng: np.random.Generator,
    with_s1: bool,
) -> Acquisition:
    """Render one acquisition.

    Clouds come from a thresholded smooth field with this date's cover drawn around
    ``cloud_fraction``; opacity ``a`` mixes cloud-top reflectance in. SCL: ``a >= 0.6`` -> 9
    (high probability), ``0.3-0.6`` -> 8 (medium), ``0.05-0.3`` -> 10 (thin cirrus); the cloud
    field shifted by the sun geometry darkens the ground (x 0.4) and is labelled 3 (shadow);
    clear pixels are 4 (NDVI > 0.4), 5, 6 (water) or 7 (0.5 % unclassified).
    """
    size = materials.shape[0]
    surf = _surface(bg, materials, season, rng)
    gain = 1.0 + 0.03 * rng.standard_normal(6).astype(np.float32)
    surf = surf * gain[:, None, None]
    scl = _scl_clear(surf, bg.water, rng)
    frac = float(np.clip(rng.normal(cloud_fraction, cloud_fraction / 2), 0.0, 0.95))
    if frac > 0.005:
        field = 0.7 * smooth_noise(rng, size, 120) + 0.3 * smooth_noise(rng, size, 25)
        thresh = float(np.quantile(field, 1.0 - frac))
        alpha = np.clip((field - thresh) / 0.12, 0.0, 1.0).astype(np.float32)
        dy, dx = (int(v) for v in rng.integers(8, 25, 2))
        shadow = (np.roll(alpha, (dy, dx), axis=(0, 1)) > 0.3) & (alpha < 0.05)
        surf[:, shadow] *= 0.4
        scl[shadow] = 3
        surf = surf * (1.0 - alpha[None]) + CLOUD[:, None, None] * alpha[None]
        scl[alpha > 0.05] = 10
        scl[alpha >= 0.3] = 8
        scl[alpha >= 0.6] = 9
    surf += rng.normal(0.0, 0.004, surf.shape).astype(np.float32)
    bands = np.clip(np.rint(surf * 1e4), 1, 65535).astype(np.uint16)
    scl20 = np.ascontiguousarray(scl[::2, ::2])
    cover = float(np.isin(scl20, (8, 9, 10)).mean() * 100.0)
    s1 = _s1(bg, materials, season, rng) if with_s1 else None
    return Acquisition(bands=bands, scl=scl20, cloud_cover=cover, s1=s1)
