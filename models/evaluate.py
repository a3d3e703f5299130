"""Object-level evaluation of detection polygons against truth polygons.

Truth is a GeoJSON/GeoDataFrame of polygons with property ``kind``: ``launch_complex`` rows
are positives, every other kind (quarry, airport, industrial, farm) is a confuser.
Predictions are polygons (e.g. the detections GeoJSON). Both are projected to one metric
(UTM) CRS before any area or IoU is computed.

Definitions:
    * A true positive is a prediction matched one-to-one to a positive truth polygon with
      IoU >= ``iou``; matching is optimal (Hungarian, maximising total IoU).
    * precision = TP / predictions (1.0 when there are no predictions: nothing was claimed),
      recall = TP / positives (1.0 when there are no positives), F1 their harmonic mean.
    * point hit rate = share of positive truth polygons containing the representative point
      of at least one prediction (a looser, location-only score).
    * false alarms = unmatched predictions; ``confuser_false_alarms`` = those intersecting a
      confuser polygon. The rate per 1,000 km² divides false alarms by ``area_km2`` (for
      example the confuser-only area of a scene); without it, by the area of the bounding box
      of all truth polygons.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
from scipy.optimize import linear_sum_assignment

from cube.errors import InvalidInputError, NotFoundError

__all__ = [
    "POSITIVE_KIND",
    "EvaluationReport",
    "FalseAlarmReport",
    "confuser_false_alarms",
    "evaluate",
    "read_polygons",
]

POSITIVE_KIND = "launch_complex"


@dataclass(frozen=True)
class EvaluationReport:
    """Object-level scores (see module docstring for definitions)."""

    iou_threshold: float
    n_predictions: int
    n_positives: int
    n_confusers: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    point_hit_rate: float
    confuser_false_alarms: int
    area_km2: float
    false_alarms_per_1000_km2: float

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2)


def read_polygons(source: gpd.GeoDataFrame | str | Path, what: str) -> gpd.GeoDataFrame:
    """Return ``source`` as a GeoDataFrame of polygons with a CRS.

    Raises:
        NotFoundError: The file does not exist.
        InvalidInputError: No CRS, or non-polygon geometries.
    """
    if isinstance(source, gpd.GeoDataFrame):
        gdf = source
    else:
        path = Path(source)
        if not path.exists():
            raise NotFoundError(f"{what} file {path} does not exist")
        gdf = gpd.read_file(path)
    if gdf.crs is None and len(gdf):
        raise InvalidInputError(f"{what} polygons have no CRS")
    gdf = gdf[~gdf.geometry.is_empty & gdf.geometry.notna()]
    bad = sorted(set(gdf.geom_type) - {"Polygon", "MultiPolygon"})
    if bad:
        raise InvalidInputError(f"{what} must contain polygons only, found {bad}")
    return gdf


def _iou_matrix(pred: gpd.GeoSeries, truth: gpd.GeoSeries) -> np.ndarray:
    iou = np.zeros((len(pred), len(truth)))
    if not len(pred) or not len(truth):
        return iou
    pi, ti = truth.sindex.query(pred, predicate="intersects")
    for p, t in zip(pi, ti, strict=True):
        a, b = pred.iloc[p], truth.iloc[t]
        union = a.union(b).area
        iou[p, t] = a.intersection(b).area / union if union > 0 else 0.0
    return iou


def evaluate(
    predictions: gpd.GeoDataFrame | str | Path,
    truth: gpd.GeoDataFrame | str | Path,
    iou: float = 0.3,
    area_km2: float | None = None,
) -> EvaluationReport:
    """Score predicted polygons against truth polygons at IoU >= ``iou``.

    Args:
        predictions: Detection polygons (GeoDataFrame or GeoJSON path).
        truth: Truth polygons with a ``kind`` column (GeoDataFrame or GeoJSON path).
        iou: IoU threshold for a match, in (0, 1].
        area_km2: Area the false-alarm rate refers to; default the truth bounding box area.

    Returns:
        The report.

    Raises:
        InvalidInputError: Bad threshold/area, truth without ``kind``, non-polygon input.
        NotFoundError: A path does not exist.
    """
    if not 0.0 < iou <= 1.0:
        raise InvalidInputError(f"iou threshold must be in (0, 1], got {iou}")
    if area_km2 is not None and area_km2 <= 0:
        raise InvalidInputError(f"area_km2 must be > 0, got {area_km2}")
    truth_gdf = read_polygons(truth, "truth")
    pred_gdf = read_polygons(predictions, "predictions")
    if "kind" not in truth_gdf.columns:
        raise InvalidInputError("truth polygons need a 'kind' property (launch_complex, ...)")
    if not len(truth_gdf):
        raise InvalidInputError("truth has no polygons")
    metric_crs = truth_gdf.to_crs(4326).estimate_utm_crs()
    truth_m = truth_gdf.to_crs(metric_crs)
    pred_m = (
        pred_gdf.to_crs(metric_crs).geometry.reset_index(drop=True)
        if len(pred_gdf)
        else (gpd.GeoSeries([], crs=metric_crs))
    )
    is_pos = (truth_m["kind"] == POSITIVE_KIND).to_numpy()
    pos = truth_m.geometry[is_pos].reset_index(drop=True)
    conf = truth_m.geometry[~is_pos].reset_index(drop=True)

    ious = _iou_matrix(pred_m, pos)
    rows, cols = linear_sum_assignment(-ious) if ious.size else (np.array([]), np.array([]))
    keep = ious[rows, cols] >= iou if ious.size else np.array([], bool)
    matched = set(rows[keep].astype(int).tolist())
    tp = len(matched)
    n_pred, n_pos = len(pred_m), len(pos)
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_pos if n_pos else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    if n_pos and n_pred:
        points = gpd.GeoSeries(pred_m.representative_point(), crs=metric_crs)
        hit_truth, _ = points.sindex.query(pos, predicate="contains")
        point_hit_rate = len(set(hit_truth.tolist())) / n_pos
    else:
        point_hit_rate = 1.0 if not n_pos else 0.0

    unmatched = pred_m.iloc[[i for i in range(n_pred) if i not in matched]]
    confuser_fa = 0
    if len(unmatched) and len(conf):
        fa_idx, _ = conf.sindex.query(unmatched, predicate="intersects")
        confuser_fa = len(set(fa_idx.tolist()))
    if area_km2 is None:
        minx, miny, maxx, maxy = truth_m.total_bounds
        area_km2 = float((maxx - minx) * (maxy - miny) / 1e6)
    fp = n_pred - tp
    rate = fp / area_km2 * 1000.0 if area_km2 > 0 else float("nan")
    return EvaluationReport(
        iou_threshold=iou,
        n_predictions=n_pred,
        n_positives=n_pos,
        n_confusers=len(conf),
        true_positives=tp,
        false_positives=fp,
        false_negatives=n_pos - tp,
        precision=precision,
        recall=recall,
        f1=f1,
        point_hit_rate=point_hit_rate,
        confuser_false_alarms=confuser_fa,
        area_km2=area_km2,
        false_alarms_per_1000_km2=rate,
    )


@dataclass(frozen=True)
class FalseAlarmReport:
    """Detections inside scenes that hold no launch complex at all (every one is false)."""

    confuser_scenes: int
    confuser_area_km2: float
    confuser_scene_detections: int
    fa_per_1000km2: float

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


def confuser_false_alarms(
    predictions: gpd.GeoDataFrame | str | Path, scenes: gpd.GeoDataFrame | str | Path
) -> FalseAlarmReport:
    """False alarms per 1,000 km² over the confuser-only scenes.

    Args:
        predictions: Detection polygons.
        scenes: Scene footprints with an ``n_complexes`` column (as written by
            ``cube.synthetic``); rows with ``n_complexes == 0`` are the confuser-only scenes.

    Raises:
        InvalidInputError: Footprints without ``n_complexes``.
    """
    scenes_gdf = read_polygons(scenes, "scenes")
    if "n_complexes" not in scenes_gdf.columns:
        raise InvalidInputError("scene footprints need an 'n_complexes' property")
    empty = scenes_gdf[scenes_gdf["n_complexes"] == 0]
    pred_gdf = read_polygons(predictions, "predictions")
    if empty.empty:
        return FalseAlarmReport(0, 0.0, 0, float("nan"))
    crs = empty.to_crs(4326).estimate_utm_crs()
    area = float(empty.to_crs(crs).area.sum() / 1e6)
    hits = 0
    if len(pred_gdf):
        points = pred_gdf.to_crs(crs).representative_point()
        hits = int(points.within(empty.to_crs(crs).union_all()).sum())
    return FalseAlarmReport(len(empty), area, hits, hits / area * 1000.0)
