"""Sites, observations and alerts in a real PostGIS database (``pg_dsn``)."""

from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest

from cube.known_sites import KnownSite, write_known_sites
from serving.sites import empty_sites, track_epoch
from serving.sites_db import (
    apply_reviews,
    read_alerts,
    read_epoch_detections,
    read_sites,
    tracked_epochs,
    write_epoch,
)
from tests.serving.test_sites import COVERAGE, E1, E2, E3, KNOWN, A, B, C, _poly


def _detections(*items):
    rows = [
        {
            "score": score,
            "area_km2": 0.04,
            "compactness": 0.78,
            "model_version": "unet/1",
            "aoi": "demo",
            "evidence": {"probability": "s3://x/demo/probability.zarr"},
            "geometry": _poly(w),
        }
        for w, score in items
    ]
    columns = ["score", "area_km2", "compactness", "model_version", "aoi", "evidence", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs="EPSG:4326")


def _known(dsn):
    pad = KNOWN.iloc[0]
    write_known_sites(
        dsn, [KnownSite("Pad A", "Synthetic", "test", "active", pad.point.x, pad.point.y, "t")]
    )


def _epoch(dsn, sites, dets, epoch, previous):
    result = track_epoch(sites, dets, epoch, COVERAGE, previous=previous, known=KNOWN)
    ids = write_epoch(dsn, result, epoch, store_aoi=f"demo_{epoch.name}")
    return result, ids


def test_three_epochs_round_trip(pg_dsn):
    _known(pg_dsn)
    _, ids1 = _epoch(pg_dsn, empty_sites(), _detections((A, 0.9), (C, 0.8)), E1, None)
    assert len(ids1.detections) == 2 and ids1.alerts == []
    sites = read_sites(pg_dsn, "demo")
    assert len(sites) == 2 and set(sites["status"]) == {"candidate"}
    r2, ids2 = _epoch(pg_dsn, sites, _detections((A, 0.92), (B, 0.85)), E2, E1)
    assert len(ids2.alerts) == 2
    sites = read_sites(pg_dsn, "demo")
    _epoch(pg_dsn, sites, _detections((A, 0.9), (B, 0.88)), E3, E2)
    assert tracked_epochs(pg_dsn, "demo") == [E1.name, E2.name, E3.name]
    back = read_epoch_detections(pg_dsn, f"demo_{E2.name}", E2.name)
    assert list(back["id"]) == ids2.detections
    assert list(back["site_key"]) == list(r2.detections["site_key"])
    assert back.iloc[0]["evidence"]["probability"].endswith("probability.zarr")
    assert back.crs.to_epsg() == 4326 and back.geometry.iloc[0].equals_exact(
        r2.detections.geometry.iloc[0], 1e-9
    )

    sites = read_sites(pg_dsn, "demo").set_index("site_key")
    a = sites.loc[r2.detections.iloc[0]["site_key"]]
    assert (a["status"], a["n_epochs"], a["novelty"], a["known_site"]) == (
        "persistent",
        3,
        "known",
        "Pad A",
    )
    assert a["last_score"] == pytest.approx(0.9)
    assert sorted(sites["status"]) == ["inactive", "persistent", "persistent"]
    alerts = read_alerts(pg_dsn, "demo")
    assert sorted(alerts["kind"]) == ["decommissioned", "new_construction"]
    assert set(alerts["epoch"]) == {E2.name}
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT o.epoch, d.aoi = 'demo_' || o.epoch, d.epoch, d.novelty,"
            " d.known_site_id IS NOT NULL"
            " FROM site_observations o JOIN sites s ON s.id = o.site_id"
            " JOIN detections d ON d.id = o.detection_id"
            " WHERE s.site_key = %s ORDER BY o.epoch_start",
            (a.name,),
        ).fetchall()
    assert rows == [
        (E1.name, True, E1.name, "known", True),
        (E2.name, True, E2.name, "known", True),
        (E3.name, True, E3.name, "known", True),
    ]


def test_rewriting_an_epoch_does_not_repeat_alerts(pg_dsn):
    r1, _ = _epoch(pg_dsn, empty_sites(), _detections((C, 0.8)), E1, None)
    r2 = track_epoch(r1.sites, _detections(), E2, COVERAGE, previous=E1)
    first = write_epoch(pg_dsn, r2, E2)
    again = write_epoch(pg_dsn, r2, E2)
    assert len(first.alerts) == 1 and again.alerts == []
    assert len(read_alerts(pg_dsn, epoch=E2.name)) == 1


def test_review_verdicts_move_site_status(pg_dsn):
    _, ids = _epoch(pg_dsn, empty_sites(), _detections((A, 0.9), (B, 0.9)), E1, None)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "INSERT INTO reviews (detection_id, verdict, reason) VALUES"
            " (%s, 'rejected', 'quarry'), (%s, 'unsure', 'cloud')",
            ids.detections,
        )
    assert apply_reviews(pg_dsn) == 1
    sites = read_sites(pg_dsn, "demo")
    assert sorted(sites["status"]) == ["candidate", "rejected"]
    # tracking keeps the verdict; a later epoch cannot overwrite it
    r2 = track_epoch(sites, _detections((A, 0.9), (B, 0.9)), E2, COVERAGE, previous=E1)
    write_epoch(pg_dsn, r2, E2)
    assert sorted(read_sites(pg_dsn, "demo")["status"]) == ["persistent", "rejected"]
    assert apply_reviews(pg_dsn) == 0


def test_failed_epoch_stores_nothing(pg_dsn):
    bad = _detections((A, 0.9))
    bad["compactness"] = 3.0  # violates the CHECK constraint
    result = track_epoch(empty_sites(), bad, E1, COVERAGE)
    with pytest.raises(psycopg.errors.CheckViolation):
        write_epoch(pg_dsn, result, E1)
    with psycopg.connect(pg_dsn) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM detections), (SELECT count(*) FROM sites)"
        ).fetchone()
    assert counts == (0, 0)
