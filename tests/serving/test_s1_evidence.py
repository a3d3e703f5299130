"""S1 persistence statistics and score fusion on a tiny 6-date, 40 x 40 px S1 cube."""

from __future__ import annotations

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from shapely.geometry import box

from cube.errors import InvalidInputError
from serving.s1_evidence import (
    FusionRule,
    apply_s1_evidence,
    candidate_evidence,
    fuse_score,
    s1_persistence,
)

EPSG = 32641
X0, Y0 = 470000.0, 4990000.0
STABLE = (5, 15, 5, 15)  # bright, steady: a pad
FLICKER = (5, 15, 25, 35)  # bright on some dates only
NODATA = (25, 35, 5, 15)  # missing on two dates


def _poly(win):
    r0, r1, c0, c1 = win
    geom = box(X0 + c0 * 10, Y0 - r1 * 10, X0 + c1 * 10, Y0 - r0 * 10)
    return gpd.GeoSeries([geom], crs=EPSG).to_crs(4326).iloc[0]


def _sl(win):
    return slice(win[0], win[1]), slice(win[2], win[3])


def _cube(chunked=True):
    rng = np.random.default_rng(0)
    n = 6
    # background: speckled desert around -18 dB (single-look gamma speckle: CV about 1)
    lin = 10 ** (-1.8) * rng.gamma(1.0, 1.0, size=(n, 2, 40, 40))
    lin[:, :, _sl(STABLE)[0], _sl(STABLE)[1]] = 10 ** (-0.3) * rng.gamma(
        25.0, 1 / 25.0, size=(n, 2, 10, 10)
    )
    lin[::2, :, _sl(FLICKER)[0], _sl(FLICKER)[1]] = 10 ** (-0.3)
    lin[1::2, :, _sl(FLICKER)[0], _sl(FLICKER)[1]] = 10 ** (-2.5)
    db = (10 * np.log10(lin)).astype("float32")
    db[:2, :, _sl(NODATA)[0], _sl(NODATA)[1]] = -32768.0
    db[2, :, _sl(NODATA)[0], _sl(NODATA)[1]] = np.nan
    data = da.from_array(db, chunks=(1, 2, 20, 20)) if chunked else db
    cube = xr.DataArray(
        data,
        dims=("time", "band", "y", "x"),
        coords={
            "time": np.arange(n).astype("datetime64[D]"),
            "band": ["vv", "vh"],
            "y": Y0 - 5 - 10 * np.arange(40),
            "x": X0 + 5 + 10 * np.arange(40),
        },
    )
    return cube.rio.write_crs(EPSG)


def test_persistence_is_lazy_and_right():
    stats = s1_persistence(_cube())
    assert isinstance(stats["mean_db"].data, da.Array)
    stats = stats.compute()
    assert list(stats["band"].values) == ["VV", "VH"]
    r, c = _sl(STABLE)
    assert float(stats["mean_db"].sel(band="VV")[r, c].median()) == pytest.approx(-3, abs=0.5)
    assert float(stats["cv"].sel(band="VV")[r, c].max()) < 0.5
    r, c = _sl(FLICKER)
    assert float(stats["cv"].sel(band="VV")[r, c].min()) > 0.9
    r, c = _sl(NODATA)
    assert int(stats["looks"].sel(band="VV")[r, c].max()) == 3
    assert int(stats["looks"].sel(band="VV")[0, 0]) == 6
    assert stats.rio.crs.to_epsg() == EPSG


def test_candidate_evidence_and_fusion():
    stats = s1_persistence(_cube(chunked=False))
    pad = candidate_evidence(stats, _poly(STABLE))
    assert pad is not None
    assert pad["stable_bright_fraction"] > 0.9
    assert pad["looks"] == 6 and pad["pixels"] == 100
    assert pad["vv_mean_db"] == pytest.approx(-3, abs=0.5)
    flicker = candidate_evidence(stats, _poly(FLICKER))
    assert flicker is not None and flicker["stable_bright_fraction"] == 0.0
    assert fuse_score(0.6, pad) == pytest.approx(0.7)
    assert fuse_score(0.6, flicker) == pytest.approx(0.48)
    sparse = candidate_evidence(stats, _poly(NODATA), FusionRule(min_looks=4))
    assert sparse is not None and sparse["looks"] == 3
    assert fuse_score(0.6, sparse, FusionRule(min_looks=4)) == 0.6  # too few looks
    assert fuse_score(0.6, None) == 0.6  # no S1
    middling = {**pad, "stable_bright_fraction": 0.1}
    assert fuse_score(0.6, middling) == 0.6
    far = gpd.GeoSeries([box(X0 + 1e5, Y0, X0 + 1e5 + 50, Y0 + 50)], crs=EPSG).to_crs(4326)
    assert candidate_evidence(stats, far.iloc[0]) is None


def test_apply_records_evidence_and_keeps_optical_score():
    stats = s1_persistence(_cube(chunked=False))
    det = gpd.GeoDataFrame(
        {"score": [0.6, 0.6], "evidence": [{"model_version": "m/1"}, {}]},
        geometry=[_poly(STABLE), _poly(FLICKER)],
        crs=4326,
    )
    out = apply_s1_evidence(det, stats)
    assert list(out["score"]) == pytest.approx([0.7, 0.48])
    assert out.iloc[0]["evidence"]["score_optical"] == 0.6
    assert out.iloc[0]["evidence"]["model_version"] == "m/1"
    assert out.iloc[0]["evidence"]["s1"]["rule"]["boost"] == 0.25
    assert det.iloc[0]["score"] == 0.6  # input untouched


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="dims"):
        s1_persistence(_cube().transpose("band", "time", "y", "x"))
    with pytest.raises(InvalidInputError, match="VV/VH"):
        s1_persistence(_cube().assign_coords(band=["hh", "hv"]))
    with pytest.raises(InvalidInputError, match="support_fraction"):
        FusionRule(contradict_fraction=0.5, support_fraction=0.2)
    with pytest.raises(InvalidInputError, match="outside"):
        fuse_score(1.5, None)
