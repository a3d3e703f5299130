"""STAC export of tracked detections and sites: local folder and S3 (moto), validated."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import geopandas as gpd
import pandas as pd
import pystac
import pytest

from cube.errors import InvalidInputError
from serving.stac_export import FsspecStacIO, build_collection, write_collection
from tests.serving.test_sites import E1, E2, E3, _run_three_epochs


def _inputs():
    results = _run_three_epochs()
    detections = gpd.GeoDataFrame(
        pd.concat([r.detections for r in results], ignore_index=True), crs="EPSG:4326"
    )
    detections["model_version"] = "unet/1"
    detections["evidence"] = [{"scenes": ["S2_1"], "code_version": "abc"}] * len(detections)
    assets = {
        e.name: {
            "probability": f"s3://imagery/demo_{e.name}/probability.tif",
            "composite": f"s3://imagery/demo_{e.name}/composite.tif",
        }
        for e in (E1, E2, E3)
    }
    stores = {e.name: f"s3://imagery/demo_{e.name}" for e in (E1, E2, E3)}
    return detections, results[-1].sites, assets, stores


def test_local_export_validates_and_reads_back(tmp_path):
    detections, sites, assets, stores = _inputs()
    collection = build_collection("demo", detections, sites, (E1, E2, E3), assets, stores)
    href = write_collection(collection, str(tmp_path / "demo" / "stac"))
    assert href == str(tmp_path / "demo" / "stac" / "collection.json")

    back = pystac.Collection.from_file(href)
    assert back.validate_all() == len(detections) + len(sites)
    items = {i.id: i for i in back.get_items(recursive=True)}
    dets = [i for i in items.values() if i.properties["launchwatch:type"] == "detection"]
    site_items = [i for i in items.values() if i.properties["launchwatch:type"] == "site"]
    assert (len(dets), len(site_items)) == (len(detections), len(sites))
    first = dets[0]
    assert first.properties["launchwatch:epoch"] == E1.name
    assert first.properties["start_datetime"].startswith("2023-01-01")
    assert first.properties["launchwatch:provenance"]["code_version"] == "abc"
    assert first.assets["probability"].href.endswith("demo_2023H1/probability.tif")
    assert first.assets["composite"].media_type == pystac.MediaType.COG
    assert any(link.rel == "derived_from" for link in first.links)
    persistent = [i for i in site_items if i.properties["launchwatch:n_epochs"] == 3]
    assert len(persistent) == 1
    related = [link for link in persistent[0].links if link.rel == "related"]
    assert len(related) == 3
    target = (Path(persistent[0].get_self_href()).parent / related[0].href).resolve()
    assert json.loads(target.read_text())["properties"]["launchwatch:type"] == "detection"
    alerted = {
        i.properties["launchwatch:site"]: i.properties["launchwatch:alerts"] for i in site_items
    }
    assert sorted(a for v in alerted.values() for a in v) == ["decommissioned", "new_construction"]


def test_s3_export_reads_back(s3, s3_root):
    detections, sites, assets, stores = _inputs()
    collection = build_collection("demo", detections, sites, (E1, E2, E3), assets, stores)
    href = write_collection(collection, f"{s3_root}/demo/stac", s3.storage_options)
    assert href == f"{s3_root}/demo/stac/collection.json"
    io = FsspecStacIO(s3.storage_options)
    back = pystac.Collection.from_file(href, stac_io=io)
    assert len(list(back.get_items(recursive=True))) == len(detections) + len(sites)
    fs = fsspec.filesystem("s3", **s3.storage_options)
    assert len(fs.glob(f"{s3_root}/demo/stac/*/*.json")) == len(detections) + len(sites)


def test_bad_input_writes_nothing(tmp_path):
    detections, sites, assets, _ = _inputs()
    with pytest.raises(InvalidInputError, match="unknown epoch"):
        build_collection("demo", detections, sites, (E1, E2), assets)
    with pytest.raises(InvalidInputError, match="EPSG:4326"):
        build_collection("demo", detections.to_crs(32641), sites, (E1, E2, E3), assets)
    with pytest.raises(InvalidInputError, match="epoch column"):
        build_collection("demo", detections.drop(columns="epoch"), sites, (E1, E2, E3), assets)
    assert not list(tmp_path.iterdir())
