"""Track detections across monitoring epochs into sites; raise change alerts.

Pure functions on GeoDataFrames (EPSG:4326 in and out; matching happens in a metric CRS).
One call of :func:`track_epoch` folds one epoch's detections into the site register:

- **Matching**: a detection belongs to the site its polygon overlaps, or lies within
  ``match_distance_m`` of (the largest overlap, then the nearest, wins). Unmatched detections
  start new sites (``candidate``); the site takes the geometry of its latest sighting.
- **Status**: ``candidate`` → ``persistent`` once seen in two or more epochs; analysts' review
  verdicts (:func:`serving.sites_db.apply_reviews`) set ``confirmed`` or ``rejected``, which
  tracking never overrides; a decommissioned site becomes ``inactive`` (and comes back as
  ``persistent`` if it is seen again).
- **Alerts** (each kind at most once per site; never for ``rejected`` sites):
  ``new_construction`` when a site is seen in epoch N with score ≥ ``alert_threshold`` on
  well-observed pixels, and in N-1 it was absent (or below ``absent_score``) while N-1 had at
  least ``min_clear_looks`` clear observations there — no alert when N-1 had no coverage or
  there is no N-1 (the first epoch is the baseline); ``decommissioned`` when a site that once
  scored ≥ ``alert_threshold``, and was last seen on well-observed pixels, is not seen in N
  although N had enough clear looks there.
- **Coverage**: a :class:`Coverage` callable gives the clear looks of an epoch under a
  geometry (:class:`RasterCoverage` reads the composite's ``clear_count``); detections over
  fewer than ``min_clear_looks`` get the ``low_coverage`` flag.
- **Known register**: detections and sites within a known site's buffer are ``known`` (with
  the register name), all others ``novel``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import xarray as xr
from shapely.geometry.base import BaseGeometry

from cube.epochs import Epoch
from cube.errors import InvalidInputError

__all__ = [
    "ALERT_KINDS",
    "SITE_COLUMNS",
    "STATUSES",
    "Coverage",
    "RasterCoverage",
    "TrackConfig",
    "TrackResult",
    "classify_known",
    "clear_looks",
    "empty_sites",
    "track_epoch",
]

STATUSES = ("candidate", "persistent", "confirmed", "rejected", "inactive")
ALERT_KINDS = ("new_construction", "decommissioned")
LOW_COVERAGE = "low_coverage"
SITE_COLUMNS = [
    "site_key",
    "aoi",
    "geometry",
    "status",
    "novelty",
    "known_site",
    "first_seen",
    "last_seen",
    "n_epochs",
    "best_score",
    "last_score",
    "flags",
    "alerted",
]
OBSERVATION_COLUMNS = [
    "site_key",
    "epoch",
    "epoch_start",
    "epoch_end",
    "score",
    "clear_looks",
    "detection",
    "flags",
    "geometry",
]
ALERT_COLUMNS = [
    "site_key",
    "kind",
    "epoch",
    "previous_epoch",
    "score",
    "clear_looks",
    "geometry",
]
_DETECTION_COLUMNS = {"score", "aoi"}


class Coverage(Protocol):
    """Clear observations of ``epoch`` under ``geometry`` (EPSG:4326); ``None``: no data."""

    def __call__(self, epoch: Epoch, geometry: BaseGeometry) -> float | None:
        """Return the clear looks (e.g. the median ``clear_count``) under the geometry."""
        ...


@dataclass(frozen=True)
class TrackConfig:
    """Thresholds of tracking and alerting.

    Attributes:
        alert_threshold: Minimum detection score for a ``new_construction`` alert (and the
            best score a site needs before its disappearance is alerted).
        absent_score: A site observed in N-1 below this score counts as absent there.
        min_clear_looks: Clear observations needed to trust presence or absence; fewer
            flag detections ``low_coverage``.
        match_distance_m: Detections within this distance of a site's polygon match it.
    """

    alert_threshold: float = 0.6
    absent_score: float = 0.3
    min_clear_looks: float = 3.0
    match_distance_m: float = 100.0

    def __post_init__(self) -> None:
        """Validate ranges."""
        if not 0.0 <= self.absent_score <= self.alert_threshold <= 1.0:
            raise InvalidInputError(
                f"need 0 <= absent_score ({self.absent_score}) <= alert_threshold "
                f"({self.alert_threshold}) <= 1"
            )
        if self.min_clear_looks < 0 or self.match_distance_m < 0:
            raise InvalidInputError("min_clear_looks and match_distance_m must be >= 0")


@dataclass(frozen=True)
class TrackResult:
    """Outcome of one epoch.

    Attributes:
        sites: The whole register after the epoch (:data:`SITE_COLUMNS`).
        observations: One row per site seen in the epoch (:data:`OBSERVATION_COLUMNS`);
            ``detection`` is the detection's ``id`` when the input has one, else its row.
        alerts: Alerts raised in this epoch (:data:`ALERT_COLUMNS`).
        detections: The input detections with ``epoch``, ``site_key``, ``clear_looks``,
            ``flags``, ``novelty`` and ``known_site`` added.
    """

    sites: gpd.GeoDataFrame
    observations: gpd.GeoDataFrame
    alerts: gpd.GeoDataFrame
    detections: gpd.GeoDataFrame


def _frame(columns: list[str], rows: list[dict[str, Any]] | None = None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows or [], columns=columns, geometry="geometry", crs="EPSG:4326")


def empty_sites() -> gpd.GeoDataFrame:
    """An empty site register (EPSG:4326, :data:`SITE_COLUMNS`)."""
    return _frame(SITE_COLUMNS)


def _check_4326(frame: gpd.GeoDataFrame, what: str) -> None:
    if len(frame) and (frame.crs is None or frame.crs.to_epsg() != 4326):
        raise InvalidInputError(f"{what} must be in EPSG:4326, not {frame.crs}")


def classify_known(
    frame: gpd.GeoDataFrame, known: gpd.GeoDataFrame | None
) -> tuple[list[str], list[str | None]]:
    """Novelty and matched register name of every row of ``frame``.

    Args:
        frame: Polygons in EPSG:4326.
        known: Known-site buffers with a ``name`` column (:func:`cube.known_sites.buffer_sites`)
            or ``None`` (then every row is novel).

    Returns:
        ``(novelty, known_site)``: ``"known"``/``"novel"`` and the name (or ``None``) per row;
        a row in several buffers takes the site whose point is nearest.
    """
    names: list[str | None] = [None] * len(frame)
    if known is not None and len(known) and len(frame):
        _check_4326(known, "known sites")
        metric = frame.geometry.estimate_utm_crs()
        left = gpd.GeoDataFrame(geometry=frame.geometry.to_crs(metric).reset_index(drop=True))
        right = gpd.GeoDataFrame({"name": known["name"].to_numpy()}, geometry=known.geometry)
        right = right.to_crs(metric)
        hits = gpd.sjoin(left, right, predicate="intersects")
        if len(hits):
            centres = right.geometry.centroid
            hits["d"] = [
                left.geometry.iloc[i].centroid.distance(centres.iloc[j])
                for i, j in zip(hits.index, hits["index_right"], strict=True)
            ]
            best = hits.sort_values("d").groupby(level=0)["name"].first()
            for i, name in best.items():
                names[int(i)] = str(name)
    return ["known" if n else "novel" for n in names], names


def clear_looks(clear_count: xr.DataArray, geometry: BaseGeometry) -> float | None:
    """Median clear-observation count of the pixels under ``geometry`` (EPSG:4326).

    Reads only the window around the geometry. Pixels are those whose centre lies inside
    the polygon (all touched pixels for polygons smaller than a pixel).

    Returns:
        The median count, or ``None`` when the geometry lies outside the raster.
    """
    if clear_count.rio.crs is None:
        raise InvalidInputError("clear_count has no CRS")
    local = gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(clear_count.rio.crs).iloc[0]
    minx, miny, maxx, maxy = local.bounds
    res_x, res_y = (abs(v) for v in clear_count.rio.resolution())
    xs, ys = clear_count["x"].to_numpy(), clear_count["y"].to_numpy()
    ix = np.nonzero((xs >= minx - res_x) & (xs <= maxx + res_x))[0]
    iy = np.nonzero((ys >= miny - res_y) & (ys <= maxy + res_y))[0]
    if not len(ix) or not len(iy):
        return None
    window = clear_count.isel(x=slice(ix[0], ix[-1] + 1), y=slice(iy[0], iy[-1] + 1))
    values = np.asarray(window.values, dtype=np.float64)
    transform = window.rio.transform(recalc=True)
    for all_touched in (False, True):
        inside = rasterio.features.geometry_mask(
            [local], values.shape, transform, invert=True, all_touched=all_touched
        )
        if inside.any():
            return float(np.median(values[inside]))
    return None


@dataclass(frozen=True)
class RasterCoverage:
    """:class:`Coverage` from each epoch's composite ``clear_count`` layer.

    Attributes:
        layers: Epoch name → ``clear_count`` raster (``("y","x")`` with a CRS).
    """

    layers: Mapping[str, xr.DataArray]

    def __call__(self, epoch: Epoch, geometry: BaseGeometry) -> float | None:
        """Median clear looks under ``geometry`` in ``epoch``; ``None`` without a layer."""
        layer = self.layers.get(epoch.name)
        return None if layer is None else clear_looks(layer, geometry)


def _match(
    detections: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, distance_m: float
) -> dict[int, int]:
    """Detection row → site row (largest overlap, then nearest within ``distance_m``)."""
    if not len(detections) or not len(sites):
        return {}
    both = gpd.GeoSeries(pd.concat([detections.geometry, sites.geometry]), crs="EPSG:4326")
    crs = both.estimate_utm_crs()
    det = detections.geometry.to_crs(crs).reset_index(drop=True)
    site = sites.geometry.to_crs(crs).reset_index(drop=True)
    left = gpd.GeoDataFrame(geometry=det.buffer(distance_m) if distance_m else det)
    hits = gpd.sjoin(left, gpd.GeoDataFrame(geometry=site), predicate="intersects")
    out: dict[int, int] = {}
    for i, group in hits.groupby(level=0):
        ranked = sorted(
            (
                -det.iloc[int(i)].intersection(site.iloc[int(j)]).area,
                det.iloc[int(i)].distance(site.iloc[int(j)]),
                int(j),
            )
            for j in group["index_right"]
        )
        out[int(i)] = ranked[0][2]
    return out


def _looks(coverage: Coverage, epoch: Epoch | None, geometry: BaseGeometry) -> float:
    if epoch is None:
        return 0.0
    value = coverage(epoch, geometry)
    return 0.0 if value is None else float(value)


def _prepare(
    detections: gpd.GeoDataFrame,
    epoch: Epoch,
    coverage: Coverage,
    config: TrackConfig,
    known: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    missing = _DETECTION_COLUMNS - set(detections.columns)
    if missing:
        raise InvalidInputError(f"detections lack columns {sorted(missing)}")
    _check_4326(detections, "detections")
    det = detections.reset_index(drop=True).copy()
    looks = [coverage(epoch, g) for g in det.geometry]
    det["epoch"] = epoch.name
    det["clear_looks"] = [np.nan if v is None else float(v) for v in looks]
    det["flags"] = [
        [LOW_COVERAGE] if v is None or v < config.min_clear_looks else [] for v in looks
    ]
    det["novelty"], det["known_site"] = classify_known(det, known)
    det["site_key"] = None
    return det


def track_epoch(
    sites: gpd.GeoDataFrame,
    detections: gpd.GeoDataFrame,
    epoch: Epoch,
    coverage: Coverage,
    config: TrackConfig | None = None,
    *,
    previous: Epoch | None = None,
    known: gpd.GeoDataFrame | None = None,
) -> TrackResult:
    """Fold one epoch's detections into the site register.

    Args:
        sites: Register before this epoch (:func:`empty_sites` at the start, or read back
            with :func:`serving.sites_db.read_sites`).
        detections: This epoch's detections (EPSG:4326; ``score``, ``aoi``, optional ``id``).
        epoch: The epoch the detections belong to.
        coverage: Clear looks per epoch and geometry.
        config: Thresholds (defaults: :class:`TrackConfig`).
        previous: Epoch N-1, or ``None`` for the first (baseline) epoch.
        known: Known-site buffers (``name`` column) for the known/novel classification.

    Returns:
        The updated register, this epoch's observations and alerts, and the annotated
        detections.

    Raises:
        InvalidInputError: Wrong CRS, missing columns, or ``previous`` not before ``epoch``.
    """
    cfg = config or TrackConfig()
    if previous is not None and previous.end >= epoch.start:
        raise InvalidInputError(f"previous epoch {previous.name} does not precede {epoch.name}")
    _check_4326(sites, "sites")
    det = _prepare(detections, epoch, coverage, cfg, known)
    base = sites.reset_index(drop=True)
    matches = _match(det, base, cfg.match_distance_m)
    reg: list[dict[str, Any]] = [
        {c: row.get(c) for c in SITE_COLUMNS} for row in base.to_dict("records")
    ]
    by_site: dict[int, list[int]] = {}
    n_new = 0
    for i in range(len(det)):
        if i in matches:
            by_site.setdefault(matches[i], []).append(i)
            continue
        by_site[len(reg)] = [i]
        n_new += 1
        reg.append(
            {
                "site_key": f"{det.at[i, 'aoi']}:{epoch.name}:{n_new}",
                "aoi": det.at[i, "aoi"],
                "status": "candidate",
                "known_site": None,
                "first_seen": epoch.name,
                "last_seen": None,
                "n_epochs": 0,
                "best_score": 0.0,
                "last_score": None,
                "alerted": (),
            }
        )

    observations: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for s, rows in by_site.items():
        site = reg[s]
        best = max(rows, key=lambda r: float(det.at[r, "score"]))
        score = float(det.at[best, "score"])
        geom = det.geometry.iloc[best]
        flags = list(det.at[best, "flags"])
        det.loc[rows, "site_key"] = site["site_key"]
        seen_prev = previous is not None and site["last_seen"] == previous.name
        prev_score = site["last_score"]
        absent_prev = not seen_prev or (
            prev_score is not None and float(prev_score) < cfg.absent_score
        )
        alerted = tuple(site["alerted"] or ())
        if (
            previous is not None
            and site["status"] != "rejected"
            and "new_construction" not in alerted
            and score >= cfg.alert_threshold
            and LOW_COVERAGE not in flags
            and absent_prev
        ):
            prev_looks = _looks(coverage, previous, geom)
            if prev_looks >= cfg.min_clear_looks:
                alerts.append(
                    {
                        "site_key": site["site_key"],
                        "kind": "new_construction",
                        "epoch": epoch.name,
                        "previous_epoch": previous.name,
                        "score": score,
                        "clear_looks": prev_looks,
                        "geometry": geom,
                    }
                )
                alerted = (*alerted, "new_construction")
        n_epochs = int(site["n_epochs"]) + 1
        if site["status"] in ("candidate", "inactive"):
            site["status"] = "persistent" if n_epochs >= 2 else "candidate"
        known_name = site["known_site"] or det.at[best, "known_site"]
        site.update(
            geometry=geom,
            known_site=known_name,
            novelty="known" if known_name else "novel",
            last_seen=epoch.name,
            n_epochs=n_epochs,
            best_score=max(float(site["best_score"]), score),
            last_score=score,
            flags=flags,
            alerted=alerted,
        )
        observations.append(
            {
                "site_key": site["site_key"],
                "epoch": epoch.name,
                "epoch_start": epoch.start,
                "epoch_end": epoch.end,
                "score": score,
                "clear_looks": det.at[best, "clear_looks"],
                "detection": int(det.at[best, "id"]) if "id" in det.columns else best,
                "flags": flags,
                "geometry": geom,
            }
        )

    for s, site in enumerate(reg):
        if s in by_site or site["status"] in ("inactive", "rejected"):
            continue
        if float(site["best_score"]) < cfg.alert_threshold or LOW_COVERAGE in (site["flags"] or ()):
            continue
        looks = _looks(coverage, epoch, site["geometry"])
        if looks < cfg.min_clear_looks:
            continue
        alerted = tuple(site["alerted"] or ())
        if "decommissioned" not in alerted:
            alerts.append(
                {
                    "site_key": site["site_key"],
                    "kind": "decommissioned",
                    "epoch": epoch.name,
                    "previous_epoch": previous.name if previous else None,
                    "score": float(site["last_score"] or 0.0),
                    "clear_looks": looks,
                    "geometry": site["geometry"],
                }
            )
            site["alerted"] = (*alerted, "decommissioned")
        site["status"] = "inactive"

    return TrackResult(
        sites=_frame(SITE_COLUMNS, reg),
        observations=_frame(OBSERVATION_COLUMNS, observations),
        alerts=_frame(ALERT_COLUMNS, alerts),
        detections=gpd.GeoDataFrame(det, geometry="geometry", crs="EPSG:4326"),
    )
