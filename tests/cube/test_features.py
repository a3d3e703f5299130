"""Exact histogram percentiles, stretch and indices."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from cube.errors import InvalidInputError
from cube.features import (
    FEATURE_BANDS,
    band_histograms,
    make_features,
    percentiles_from_histograms,
    stored_percentiles,
)

BANDS = list(FEATURE_BANDS[:6])


def _composite(seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 6000, (6, 70, 50), dtype=np.uint16)
    data[:, :5, :5] = 0
    return xr.DataArray(
        da.from_array(data, chunks=(6, 32, 32)),
        dims=("band", "y", "x"),
        coords={"band": BANDS, "y": -10.0 * np.arange(70), "x": 10.0 * np.arange(50)},
    ).rio.write_crs("EPSG:32641")


def test_percentiles_are_exact_over_all_chunks():
    comp = _composite()
    hist = band_histograms(comp)
    assert isinstance(hist, da.Array)
    pct = percentiles_from_histograms(hist.compute())
    values = comp.values
    for k in range(6):
        valid = values[k][values[k] != 0]
        expected = np.percentile(valid, [2, 98], method="inverted_cdf")
        np.testing.assert_array_equal(pct[k], expected)


def test_features_layout_ranges_and_indices():
    comp = _composite()
    pct = percentiles_from_histograms(band_histograms(comp).compute())
    feats = make_features(comp, pct)
    assert isinstance(feats.data, da.Array)
    assert feats.dims == ("band", "y", "x") and feats.dtype == np.float32
    assert list(feats["band"].values) == list(FEATURE_BANDS)
    assert feats.rio.crs.to_epsg() == 32641
    v = feats.values
    assert np.isnan(v[:, :5, :5]).all()  # nodata stays NaN
    assert np.nanmin(v[:6]) == 0.0 and np.nanmax(v[:6]) == 1.0
    assert np.nanmin(v[6:]) >= -1.0 and np.nanmax(v[6:]) <= 1.0
    refl = comp.values.astype(np.float64)[:, 10, 10]
    b02, b03, b04, b08, b11, _ = refl
    np.testing.assert_allclose(
        v[6:, 10, 10],
        [
            (b08 - b04) / (b08 + b04),
            (b03 - b08) / (b03 + b08),
            (b11 - b08) / (b11 + b08),
            (b11 + b04 - b08 - b02) / (b11 + b04 + b08 + b02),
        ],
        rtol=1e-5,
    )
    assert feats.attrs["stretch_low"] == pct[:, 0].tolist()


def test_stored_percentiles_stretch_new_data_the_same_way():
    train = make_features(
        _composite(0), percentiles_from_histograms(band_histograms(_composite(0)).compute())
    )
    new = _composite(1)
    again = make_features(new, stored_percentiles(train.attrs))
    assert again.attrs["stretch_low"] == train.attrs["stretch_low"]
    lo, hi = train.attrs["stretch_low"][2], train.attrs["stretch_high"][2]
    raw = new.sel(band="B04").values.astype(np.float64)
    expected = np.clip((raw - lo) / (hi - lo), 0, 1)
    got = again.sel(band="B04").values
    ok = raw != 0
    np.testing.assert_allclose(got[ok], expected[ok], atol=1e-6)
    with pytest.raises(InvalidInputError, match="no stretch percentiles"):
        stored_percentiles({})


def test_bad_inputs():
    comp = _composite()
    with pytest.raises(InvalidInputError, match=r"\(6, 2\)"):
        make_features(comp, [[0, 1]])
    with pytest.raises(InvalidInputError, match="lacks bands"):
        make_features(comp.sel(band=BANDS[:5]), np.zeros((6, 2)))
    with pytest.raises(InvalidInputError, match="low"):
        percentiles_from_histograms(np.zeros((1, 65536)), 50, 10)
    assert percentiles_from_histograms(np.zeros((1, 65536))).tolist() == [[0, 1]]
