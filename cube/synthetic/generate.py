"""Generate synthetic multi-date Sentinel scenes with planted launch complexes and confusers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import Affine
from shapely import affinity
from shapely.geometry import Point, box, mapping

from cube.errors import InvalidInputError
from cube.synthetic.publish import asset_href, s1_item, s2_item, to_wgs84, write_cog, write_geojson
from cube.synthetic.render import burn_materials, render_date
from cube.synthetic.spec import SceneSpec
from cube.synthetic.spectra import BANDS
from cube.synthetic.structures import place_structures
from cube.synthetic.terrain import make_background

__all__ = ["SyntheticCatalog", "generate_scenes"]


@dataclass(frozen=True)
class SyntheticCatalog:
    """Paths written by :func:`generate_scenes`.

    Attributes:
        root: Output folder.
        items: STAC ItemCollection JSON (S2 items, then S1 items when asked for).
        truth: ``truth.geojson``: every planted structure (``kind``, ``scene``,
            ``scene_split``).
        known_sites: ``known_sites.geojson``: main pads of the training scenes' complexes.
        scenes: ``scenes.geojson``: scene footprints (``scene``, ``split``, ``terrain``,
            ``n_complexes``, ``n_confusers``), e.g. for false alarms on confuser-only scenes.
        n_items: Number of STAC items.
    """

    root: Path
    items: Path
    truth: Path
    known_sites: Path
    scenes: Path
    n_items: int


def _pixel_to_crs(spec: SceneSpec) -> Affine:
    return Affine(10.0, 0.0, spec.origin[0], 0.0, -10.0, spec.origin[1])


def _scene(spec: SceneSpec, out: Path, base_url: str | None) -> tuple[list, list, list]:
    rng = np.random.default_rng(spec.seed)
    bg = make_background(spec, rng)
    structures = place_structures(rng, spec.size_px, bg.water, spec.n_complexes, spec.n_confusers)
    materials = burn_materials(structures, spec.size_px)
    tr = _pixel_to_crs(spec)
    tr20 = Affine(20.0, 0.0, spec.origin[0], 0.0, -20.0, spec.origin[1])
    coeffs = (tr.a, tr.b, tr.d, tr.e, tr.xoff, tr.yoff)
    props = {
        "synthetic:scene": spec.name,
        "synthetic:split": spec.split,
        "synthetic:terrain": spec.terrain,
    }
    items: list[dict[str, Any]] = []
    for t in range(spec.n_dates):
        day = spec.start + timedelta(days=t * spec.interval_days)
        season = 0.6 + 0.4 * float(np.sin(np.pi * t / max(spec.n_dates - 1, 1)))
        acq = render_date(bg, materials, season, spec.cloud_fraction, rng, spec.with_s1)
        folder = out / spec.name / day.strftime("%Y%m%d")
        hrefs = {}
        for k, band in enumerate(BANDS):
            write_cog(folder / f"{band}.tif", acq.bands[k], tr, spec.epsg, 0)
            hrefs[band] = asset_href(folder / f"{band}.tif", out, base_url)
        write_cog(folder / "SCL.tif", acq.scl, tr20, spec.epsg, 0)
        hrefs["SCL"] = asset_href(folder / "SCL.tif", out, base_url)
        item_id = f"SYN_{spec.name}_{day:%Y%m%d}"
        items.append(
            s2_item(
                item_id, day, spec.epsg, spec.bounds, hrefs, spec.size_px, acq.cloud_cover, props
            )
        )
        if acq.s1 is not None:
            s1_hrefs = {}
            for k, pol in enumerate(("vv", "vh")):
                write_cog(folder / f"{pol}.tif", acq.s1[k], tr, spec.epsg, -32768.0)
                s1_hrefs[pol] = asset_href(folder / f"{pol}.tif", out, base_url)
            items.append(
                s1_item(
                    f"SYN_S1_{spec.name}_{day:%Y%m%d}",
                    day + timedelta(days=1),
                    spec.epsg,
                    spec.bounds,
                    s1_hrefs,
                    spec.size_px,
                    props,
                )
            )
    truth, sites = [], []
    for n, s in enumerate(structures):
        poly = to_wgs84(affinity.affine_transform(s.footprint, coeffs), spec.epsg)
        name = f"{spec.name}_{s.kind}_{n}"
        truth.append(
            {
                "type": "Feature",
                "geometry": mapping(poly),
                "properties": {
                    "name": name,
                    "kind": s.kind,
                    "scene": spec.name,
                    "scene_split": spec.split,
                },
            }
        )
        if s.kind == "launch_complex" and spec.split == "train":
            point = to_wgs84(affinity.affine_transform(Point(s.anchor), coeffs), spec.epsg)
            sites.append(
                {
                    "type": "Feature",
                    "geometry": mapping(point),
                    "properties": {
                        "name": name,
                        "country": "Synthetic",
                        "operator": "cube.synthetic",
                        "status": "active",
                        "source": f"cube.synthetic scene {spec.name} seed {spec.seed}",
                    },
                }
            )
    return items, truth, sites


def _footprint(spec: SceneSpec) -> dict[str, Any]:
    """The scene's footprint in EPSG:4326 as a GeoJSON feature."""
    minx, miny, maxx, maxy = spec.bounds
    return {
        "type": "Feature",
        "geometry": mapping(to_wgs84(box(minx, miny, maxx, maxy), spec.epsg)),
        "properties": {
            "scene": spec.name,
            "split": spec.split,
            "terrain": spec.terrain,
            "n_complexes": spec.n_complexes,
            "n_confusers": spec.n_confusers,
        },
    }


def generate_scenes(
    specs: Sequence[SceneSpec], out_dir: str | Path, base_url: str | None = None
) -> SyntheticCatalog:
    """Write COGs, a STAC ItemCollection, ``truth.geojson`` and ``known_sites.geojson``.

    Layout: ``{out_dir}/{scene}/{yyyymmdd}/{B02..B12,SCL[,vv,vh]}.tif``, ``items.json``,
    ``truth.geojson``, ``known_sites.geojson``, ``scenes.geojson``. Asset hrefs are
    ``file://`` URIs, or ``{base_url}/{relative path}`` when a base URL is given (serve
    ``out_dir`` over HTTP).

    Args:
        specs: Scenes to generate; names must be unique.
        out_dir: Output folder (created).
        base_url: Optional HTTP base URL for asset hrefs.

    Returns:
        The written paths.

    Raises:
        InvalidInputError: Duplicate scene names, no specs, or structures that do not fit;
            the scene folders of this call are then removed.
    """
    names = [s.name for s in specs]
    if not names or len(set(names)) != len(names):
        raise InvalidInputError(f"scene names must be unique and non-empty, got {names}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    sites: list[dict[str, Any]] = []
    try:
        for spec in specs:
            i, t, s = _scene(spec, out, base_url)
            items += i
            truth += t
            sites += s
    except BaseException:
        for spec in specs:  # leave no half-written scene behind
            shutil.rmtree(out / spec.name, ignore_errors=True)
        raise
    items_path = out / "items.json"
    items_path.write_text(
        json.dumps({"type": "FeatureCollection", "features": items}), encoding="utf-8"
    )
    write_geojson(out / "truth.geojson", truth)
    write_geojson(out / "known_sites.geojson", sites)
    write_geojson(out / "scenes.geojson", [_footprint(spec) for spec in specs])
    return SyntheticCatalog(
        root=out,
        items=items_path,
        truth=out / "truth.geojson",
        known_sites=out / "known_sites.geojson",
        scenes=out / "scenes.geojson",
        n_items=len(items),
    )
