"""Site tracking over synthetic epochs on a tiny 100 x 100 px (1 km) UTM grid."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from shapely.geometry import box

from cube.epochs import Epoch, parse_epochs
from cube.errors import InvalidInputError
from cube.known_sites import KnownSite, buffer_sites
from serving.sites import (
    RasterCoverage,
    TrackConfig,
    classify_known,
    clear_looks,
    empty_sites,
    track_epoch,
)

EPSG = 32641
X0, Y0 = 470000.0, 4990000.0
E1, E2, E3 = parse_epochs("2023H1,2023H2,2024H1")

# pixel windows (row0, row1, col0, col1) of the planted structures
A = (10, 30, 10, 30)  # present in every epoch
B = (10, 30, 60, 80)  # built between epoch 1 and 2
C = (60, 80, 10, 30)  # removed between epoch 1 and 2
D = (60, 80, 60, 80)  # under a cloud gap in epoch 1, seen from epoch 2
L = (40, 50, 40, 50)  # seen only in epoch 2, when it is cloudy there (1 clear look)


def _poly(win, shift_px=0):
    r0, r1, c0, c1 = win
    geom = box(X0 + (c0 + shift_px) * 10, Y0 - r1 * 10, X0 + (c1 + shift_px) * 10, Y0 - r0 * 10)
    return gpd.GeoSeries([geom], crs=EPSG).to_crs(4326).iloc[0]


def _detections(*items):
    rows = [{"score": score, "aoi": "demo", "geometry": _poly(w)} for w, score in items]
    return gpd.GeoDataFrame(rows, columns=["score", "aoi", "geometry"], crs="EPSG:4326")


def _clear(default=6, **windows):
    data = np.full((100, 100), default, dtype=np.uint8)
    for win, value in windows.values():
        r0, r1, c0, c1 = win
        data[r0:r1, c0:c1] = value
    da = xr.DataArray(
        data,
        dims=("y", "x"),
        coords={"y": Y0 - 5 - 10 * np.arange(100), "x": X0 + 5 + 10 * np.arange(100)},
    )
    return da.rio.write_crs(EPSG)


COVERAGE = RasterCoverage(
    {
        E1.name: _clear(gap=(D, 0)),
        E2.name: _clear(cloud=(L, 1)),
        E3.name: _clear(),
    }
)
KNOWN = buffer_sites(
    [
        KnownSite(
            "Pad A",
            "Synthetic",
            "test",
            "active",
            _poly(A).centroid.x,
            _poly(A).centroid.y,
            "test",
        )
    ],
    radius_m=300.0,
)


def _run_three_epochs():
    r1 = track_epoch(empty_sites(), _detections((A, 0.9), (C, 0.8)), E1, COVERAGE, known=KNOWN)
    r2 = track_epoch(
        r1.sites,
        _detections((A, 0.92), (B, 0.85), (D, 0.9), (L, 0.95)),
        E2,
        COVERAGE,
        previous=E1,
        known=KNOWN,
    )
    r3 = track_epoch(
        r2.sites,
        _detections((A, 0.9), (B, 0.88), (D, 0.9)),
        E3,
        COVERAGE,
        previous=E2,
        known=KNOWN,
    )
    return r1, r2, r3


def _site_at(sites, win):
    hit = sites[sites.intersects(_poly(win).centroid)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_baseline_epoch_raises_no_alert():
    r1, _, _ = _run_three_epochs()
    assert r1.alerts.empty
    assert set(r1.sites["status"]) == {"candidate"}
    assert len(r1.observations) == 2


def test_built_complex_raises_exactly_one_new_construction_alert():
    _, r2, r3 = _run_three_epochs()
    new = r2.alerts[r2.alerts["kind"] == "new_construction"]
    assert len(new) == 1
    assert new.iloc[0]["geometry"].equals(_poly(B))
    assert new.iloc[0]["previous_epoch"] == E1.name
    assert new.iloc[0]["clear_looks"] == 6
    assert r3.alerts.empty  # nothing re-alerted
    site = _site_at(r3.sites, B)
    assert site["first_seen"] == E2.name and site["alerted"] == ("new_construction",)


def test_complex_present_in_all_epochs_is_persistent_without_alert():
    r1, r2, r3 = _run_three_epochs()
    site = _site_at(r3.sites, A)
    assert site["status"] == "persistent"
    assert site["n_epochs"] == 3
    assert site["first_seen"] == E1.name and site["last_seen"] == E3.name
    assert site["best_score"] == pytest.approx(0.92)
    all_alerts = [*r1.alerts["site_key"], *r2.alerts["site_key"], *r3.alerts["site_key"]]
    assert site["site_key"] not in all_alerts
    assert len(r3.sites) == 5  # A, B, C, D, L: matched epochs reuse their site


def test_removed_complex_raises_decommissioned_alert_once():
    _, r2, r3 = _run_three_epochs()
    gone = r2.alerts[r2.alerts["kind"] == "decommissioned"]
    assert len(gone) == 1
    assert gone.iloc[0]["geometry"].equals(_poly(C))
    assert _site_at(r3.sites, C)["status"] == "inactive"
    assert not (r3.alerts["kind"] == "decommissioned").any()


def test_cloud_gap_flags_low_coverage_and_raises_no_alert():
    _, r2, _ = _run_three_epochs()
    assert len(r2.alerts) == 2  # B new, C gone: nothing for D (gap in N-1) or L (cloudy in N)
    assert len(r2.detections) == 4
    low = r2.detections[[("low_coverage" in f) for f in r2.detections["flags"]]]
    assert len(low) == 1
    assert low.iloc[0]["geometry"].equals(_poly(L))
    assert low.iloc[0]["clear_looks"] == 1
    obs = r2.observations[r2.observations.geometry.apply(lambda g: g.equals(_poly(L)))]
    assert list(obs.iloc[0]["flags"]) == ["low_coverage"]
    assert _site_at(r2.sites, D)["alerted"] == ()


def test_missing_site_under_clouds_is_not_decommissioned():
    coverage = RasterCoverage({E1.name: _clear(), E2.name: _clear(gap=(C, 0))})
    r1 = track_epoch(empty_sites(), _detections((C, 0.9)), E1, coverage)
    r2 = track_epoch(r1.sites, _detections(), E2, coverage, previous=E1)
    assert r2.alerts.empty
    assert r2.sites.iloc[0]["status"] == "candidate"


def test_known_versus_novel():
    _, _, r3 = _run_three_epochs()
    a = _site_at(r3.sites, A)
    assert (a["novelty"], a["known_site"]) == ("known", "Pad A")
    b = _site_at(r3.sites, B)
    assert (b["novelty"], b["known_site"]) == ("novel", None)
    det = r3.detections
    assert sorted(det["novelty"]) == ["known", "novel", "novel"]
    novelty, names = classify_known(det, None)
    assert set(novelty) == {"novel"} and set(names) == {None}


def test_shifted_detection_matches_its_site():
    r1 = track_epoch(empty_sites(), _detections((A, 0.9)), E1, COVERAGE)
    moved = gpd.GeoDataFrame(
        {"score": [0.9], "aoi": ["demo"], "id": [42]}, geometry=[_poly(A, 5)], crs=4326
    )
    r2 = track_epoch(r1.sites, moved, E2, COVERAGE, previous=E1)
    assert len(r2.sites) == 1
    assert r2.sites.iloc[0]["status"] == "persistent"
    assert r2.observations.iloc[0]["detection"] == 42
    assert r2.detections.iloc[0]["site_key"] == r1.sites.iloc[0]["site_key"]


def test_reviewed_status_is_kept_and_rejected_sites_never_alert():
    r1 = track_epoch(empty_sites(), _detections((A, 0.9), (C, 0.9)), E1, COVERAGE)
    sites = r1.sites.copy()
    sites["status"] = ["confirmed", "rejected"]
    r2 = track_epoch(sites, _detections((A, 0.9)), E2, COVERAGE, previous=E1)
    assert list(r2.sites["status"]) == ["confirmed", "rejected"]
    assert r2.alerts.empty


def test_weak_previous_sighting_counts_as_absent():
    r1 = track_epoch(empty_sites(), _detections((B, 0.2)), E1, COVERAGE)
    r2 = track_epoch(r1.sites, _detections((B, 0.9)), E2, COVERAGE, previous=E1)
    assert list(r2.alerts["kind"]) == ["new_construction"]


def test_clear_looks_median_and_outside():
    layer = _clear(default=4, half=((0, 100, 0, 50), 2))
    assert clear_looks(layer, _poly((0, 100, 0, 100))) in (2.0, 3.0, 4.0)
    assert clear_looks(layer, _poly((0, 10, 60, 70))) == 4.0
    far = gpd.GeoSeries([box(X0 + 1e5, Y0, X0 + 1e5 + 50, Y0 + 50)], crs=EPSG).to_crs(4326)
    assert clear_looks(layer, far.iloc[0]) is None
    assert RasterCoverage({})(E1, _poly(A)) is None


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="EPSG:4326"):
        track_epoch(empty_sites(), _detections((A, 0.9)).to_crs(EPSG), E1, COVERAGE)
    with pytest.raises(InvalidInputError, match="lack columns"):
        track_epoch(empty_sites(), _detections((A, 0.9)).drop(columns="aoi"), E1, COVERAGE)
    with pytest.raises(InvalidInputError, match="does not precede"):
        track_epoch(empty_sites(), _detections(), E1, COVERAGE, previous=E2)
    with pytest.raises(InvalidInputError, match="alert_threshold"):
        TrackConfig(alert_threshold=0.2, absent_score=0.5)
    assert Epoch("x", date(2020, 1, 1), date(2020, 1, 2)).days == 2
