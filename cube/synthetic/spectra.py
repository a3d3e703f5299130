"""Surface materials: Sentinel-2 L2A reflectance signatures and Sentinel-1 backscatter.

Reflectances are surface reflectance (0-1) for B02 B03 B04 B08 B11 B12, typical of published
spectral-library values (USGS splib07, ASTER/ECOSTRESS) convolved to Sentinel-2 bands; S1
values are VV/VH gamma0 in dB for C band. Built materials overlap natural bare soil in
NDBI/BSI on purpose, so that the detector must use shape and context, not one index.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BANDS", "MATERIALS", "S1_DB", "Material"]

#: Sentinel-2 bands written by the generator, in contract order.
BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11", "B12")


class Material:
    """Integer ids of the materials in a scene's material map (0 = natural background)."""

    BACKGROUND = 0
    CONCRETE = 1
    ASPHALT = 2
    METAL_ROOF = 3
    WHITE_TANK = 4
    SCORCHED = 5
    CLEARED = 6
    GRAVEL = 7
    CROP = 8
    FALLOW = 9
    WATER = 10
    QUARRY_FLOOR = 11


#: Reflectance per material id (B02 B03 B04 B08 B11 B12).
MATERIALS: dict[int, tuple[float, ...]] = {
    Material.CONCRETE: (0.19, 0.21, 0.23, 0.26, 0.30, 0.27),
    Material.ASPHALT: (0.07, 0.08, 0.09, 0.11, 0.15, 0.14),
    Material.METAL_ROOF: (0.26, 0.27, 0.28, 0.29, 0.27, 0.23),
    Material.WHITE_TANK: (0.38, 0.39, 0.40, 0.41, 0.37, 0.32),
    Material.SCORCHED: (0.04, 0.045, 0.05, 0.06, 0.08, 0.07),
    Material.CLEARED: (0.16, 0.20, 0.24, 0.27, 0.35, 0.31),
    Material.GRAVEL: (0.15, 0.17, 0.19, 0.22, 0.27, 0.25),
    Material.CROP: (0.04, 0.08, 0.05, 0.42, 0.22, 0.10),
    Material.FALLOW: (0.09, 0.12, 0.15, 0.22, 0.30, 0.25),
    Material.WATER: (0.06, 0.07, 0.05, 0.03, 0.01, 0.008),
    Material.QUARRY_FLOOR: (0.22, 0.25, 0.28, 0.31, 0.36, 0.30),
}

#: Natural cover signatures used by the terrain generator.
SAND = np.array([0.14, 0.19, 0.25, 0.30, 0.38, 0.33], np.float32)
ROCK = np.array([0.10, 0.13, 0.16, 0.20, 0.27, 0.24], np.float32)
STEPPE_SOIL = np.array([0.08, 0.11, 0.14, 0.20, 0.28, 0.22], np.float32)
DRY_GRASS = np.array([0.06, 0.09, 0.12, 0.24, 0.30, 0.20], np.float32)
VEGETATION = np.array([0.03, 0.06, 0.035, 0.38, 0.18, 0.08], np.float32)
FOREST = np.array([0.02, 0.04, 0.025, 0.30, 0.14, 0.06], np.float32)
WATER = np.array(MATERIALS[Material.WATER], np.float32)

#: Sentinel-1 (VV, VH) dB per material; natural background uses BARE_DB/VEG_DB/WATER_DB.
S1_DB: dict[int, tuple[float, float]] = {
    Material.CONCRETE: (-6.0, -16.0),
    Material.ASPHALT: (-18.0, -26.0),
    Material.METAL_ROOF: (2.0, -8.0),
    Material.WHITE_TANK: (4.0, -6.0),
    Material.SCORCHED: (-8.0, -17.0),
    Material.CLEARED: (-15.0, -23.0),
    Material.GRAVEL: (-12.0, -20.0),
    Material.CROP: (-9.0, -15.0),
    Material.FALLOW: (-13.0, -21.0),
    Material.WATER: (-22.0, -28.0),
    Material.QUARRY_FLOOR: (-11.0, -19.0),
}
BARE_DB = (-14.0, -22.0)
VEG_DB = (-8.0, -14.0)
WATER_DB = (-22.0, -28.0)
