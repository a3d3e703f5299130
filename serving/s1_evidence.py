"""Sentinel-1 persistence evidence under detection candidates, and its score fusion rule.

Launch infrastructure (pads, towers, hangars, rail) is made of metal and concrete: it returns
**bright** radar backscatter that is **stable** over time, unlike sand, vegetation or water,
whose backscatter is weaker and fluctuates. For an S1 RTC cube over the epoch
(``("time", "band", "y", "x")``, bands ``VV``/``VH`` in dB or linear power):

1. :func:`s1_persistence` (lazy) averages each pixel over time in linear power and returns the
   temporal mean (as dB) and the coefficient of variation (std / mean, linear) per band,
   with the number of valid looks. Nodata (NaN, the nodata value, non-positive power) is
   skipped.
2. :func:`candidate_evidence` summarises the pixels under one polygon: the fraction of
   *stable bright* pixels (VV mean ≥ ``bright_db`` and VV CV ≤ ``max_cv``), the median VV/VH
   means and CVs and the median looks.
3. :func:`fuse_score` applies the fusion rule (:class:`FusionRule`):

   - no S1, or fewer than ``min_looks`` looks: the optical score is kept;
   - stable-bright fraction ≥ ``support_fraction``: ``score + boost · (1 − score)``
     (radar corroborates: move ``boost`` of the way to 1);
   - stable-bright fraction ≤ ``contradict_fraction``: ``score · (1 − penalty)``
     (radar sees nothing built);
   - otherwise the score is kept. The result stays in [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio.features
import xarray as xr
from shapely.geometry.base import BaseGeometry

from cube.errors import DataError, InvalidInputError

__all__ = [
    "FusionRule",
    "apply_s1_evidence",
    "candidate_evidence",
    "fuse_score",
    "s1_persistence",
]

_DIMS = ("time", "band", "y", "x")


@dataclass(frozen=True)
class FusionRule:
    """Thresholds of the S1 evidence and of the score fusion.

    Attributes:
        bright_db: VV temporal mean (dB) at or above which a pixel is bright.
        max_cv: VV coefficient of variation at or below which a pixel is stable.
        min_looks: Valid S1 acquisitions needed before S1 may change a score.
        support_fraction: Stable-bright fraction that raises the score.
        contradict_fraction: Stable-bright fraction at or below which the score is lowered.
        boost: Share of the distance to 1 added when S1 supports the candidate.
        penalty: Share of the score removed when S1 contradicts it.
    """

    bright_db: float = -8.0
    max_cv: float = 0.5
    min_looks: int = 3
    support_fraction: float = 0.2
    contradict_fraction: float = 0.02
    boost: float = 0.25
    penalty: float = 0.2

    def __post_init__(self) -> None:
        """Validate ranges."""
        if not 0.0 <= self.contradict_fraction < self.support_fraction <= 1.0:
            raise InvalidInputError(
                "need 0 <= contradict_fraction < support_fraction <= 1 in the S1 fusion rule"
            )
        if not (0.0 <= self.boost <= 1.0 and 0.0 <= self.penalty <= 1.0):
            raise InvalidInputError("S1 boost and penalty must lie in [0, 1]")
        if self.max_cv <= 0 or self.min_looks < 1:
            raise InvalidInputError("S1 max_cv must be > 0 and min_looks >= 1")


def s1_persistence(
    cube: xr.DataArray, *, in_db: bool = True, nodata: float | None = -32768.0
) -> xr.Dataset:
    """Per-pixel temporal mean (dB) and coefficient of variation of each S1 band (lazy).

    Args:
        cube: S1 backscatter ``("time", "band", "y", "x")`` with a ``band`` coordinate
            holding ``VV`` and/or ``VH`` (any case), georeferenced through rioxarray.
        in_db: Values are dB (else linear power).
        nodata: Value marking missing pixels (besides NaN), or ``None``.

    Returns:
        Dataset with ``mean_db``, ``cv`` (``("band", "y", "x")`` float32) and ``looks``
        (valid acquisitions per band and pixel), carrying the cube's CRS.

    Raises:
        InvalidInputError: Wrong dims or no VV/VH band.
    """
    if tuple(cube.dims) != _DIMS:
        raise InvalidInputError(f"S1 cube dims must be {_DIMS}, got {tuple(cube.dims)}")
    bands = [str(b).upper() for b in cube["band"].values]
    if "VV" not in bands and "VH" not in bands:
        raise InvalidInputError(f"S1 cube has no VV/VH band (bands: {bands})")
    data = cube.astype("float32").assign_coords(band=bands)
    valid = data.notnull()
    if nodata is not None:
        valid &= data != nodata
    power = 10.0 ** (data / 10.0) if in_db else data
    valid &= power > 0
    power = power.where(valid)
    mean = power.mean("time", skipna=True)
    std = power.std("time", skipna=True)
    out = xr.Dataset(
        {
            "mean_db": (10.0 * np.log10(mean)).astype("float32"),
            "cv": (std / mean).astype("float32"),
            "looks": valid.sum("time").astype("int16"),
        }
    )
    if cube.rio.crs is not None:
        out = out.rio.write_crs(cube.rio.crs)
    return out


def _window(stats: xr.Dataset, local: BaseGeometry) -> xr.Dataset | None:
    minx, miny, maxx, maxy = local.bounds
    xs, ys = stats["x"].to_numpy(), stats["y"].to_numpy()
    res = max(abs(float(xs[1] - xs[0])) if len(xs) > 1 else 0.0, 1e-9)
    ix = np.nonzero((xs >= minx - res) & (xs <= maxx + res))[0]
    iy = np.nonzero((ys >= miny - res) & (ys <= maxy + res))[0]
    if not len(ix) or not len(iy):
        return None
    return stats.isel(x=slice(ix[0], ix[-1] + 1), y=slice(iy[0], iy[-1] + 1))


def candidate_evidence(
    stats: xr.Dataset, geometry: BaseGeometry, rule: FusionRule | None = None
) -> dict[str, Any] | None:
    """Summarise :func:`s1_persistence` under one polygon (EPSG:4326).

    Computes only the small window around the polygon.

    Returns:
        ``{"stable_bright_fraction", "vv_mean_db", "vh_mean_db", "vv_cv", "vh_cv",
        "looks", "pixels", "rule"}`` (medians over the pixels; ``None`` where a band is
        missing), or ``None`` when the polygon lies outside the S1 raster.

    Raises:
        DataError: The statistics carry no CRS.
    """
    cfg = rule or FusionRule()
    if stats.rio.crs is None:
        raise DataError("S1 statistics have no CRS")
    local = gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(stats.rio.crs).iloc[0]
    win = _window(stats, local)
    if win is None:
        return None
    win = win.compute()
    shape = (win.sizes["y"], win.sizes["x"])
    transform = win.rio.transform(recalc=True)
    inside = np.zeros(shape, dtype=bool)
    for all_touched in (False, True):
        inside = rasterio.features.geometry_mask(
            [local], shape, transform, invert=True, all_touched=all_touched
        )
        if inside.any():
            break
    if not inside.any():
        return None
    bands = [str(b) for b in win["band"].values]

    def median(var: str, band: str) -> float | None:
        if band not in bands:
            return None
        values = win[var].sel(band=band).to_numpy()[inside].astype("float64")
        values = values[np.isfinite(values)]
        return float(np.median(values)) if len(values) else None

    main = "VV" if "VV" in bands else "VH"
    mean_db = win["mean_db"].sel(band=main).to_numpy()[inside]
    cv = win["cv"].sel(band=main).to_numpy()[inside]
    stable_bright = np.isfinite(mean_db) & (mean_db >= cfg.bright_db) & (cv <= cfg.max_cv)
    looks = win["looks"].sel(band=main).to_numpy()[inside]
    return {
        "stable_bright_fraction": float(stable_bright.mean()),
        "vv_mean_db": median("mean_db", "VV"),
        "vh_mean_db": median("mean_db", "VH"),
        "vv_cv": median("cv", "VV"),
        "vh_cv": median("cv", "VH"),
        "looks": int(np.median(looks)),
        "pixels": int(inside.sum()),
        "rule": asdict(cfg),
    }


def fuse_score(
    score: float, evidence: dict[str, Any] | None, rule: FusionRule | None = None
) -> float:
    """Optical score adjusted by S1 evidence (rule in the module docstring)."""
    cfg = rule or FusionRule()
    if not 0.0 <= score <= 1.0:
        raise InvalidInputError(f"score {score} outside [0, 1]")
    if evidence is None or int(evidence.get("looks", 0)) < cfg.min_looks:
        return float(score)
    fraction = float(evidence["stable_bright_fraction"])
    if fraction >= cfg.support_fraction:
        fused = score + cfg.boost * (1.0 - score)
    elif fraction <= cfg.contradict_fraction:
        fused = score * (1.0 - cfg.penalty)
    else:
        fused = score
    return float(min(1.0, max(0.0, fused)))


def apply_s1_evidence(
    detections: gpd.GeoDataFrame, stats: xr.Dataset, rule: FusionRule | None = None
) -> gpd.GeoDataFrame:
    """Record S1 evidence in each detection's ``evidence`` and fuse its ``score``.

    The optical score is kept as ``evidence["score_optical"]``; ``evidence["s1"]`` holds
    :func:`candidate_evidence` (``None`` outside the S1 raster).
    """
    out = detections.copy()
    evidence, scores = [], []
    for geom, score, ev in zip(out.geometry, out["score"], out["evidence"], strict=True):
        s1 = candidate_evidence(stats, geom, rule)
        scores.append(fuse_score(float(score), s1, rule))
        evidence.append({**dict(ev or {}), "score_optical": float(score), "s1": s1})
    out["score"] = scores
    out["evidence"] = evidence
    return out
