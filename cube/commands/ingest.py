"""``python -m cube.run ingest``: STAC → cube → mask → composite → features → tiles, to Zarr.

Stages, each persisted and marked done in ``{store}/{aoi}/manifest.json`` (a re-run skips the
done ones; ``full --force`` starts afresh):

1. search (STAC API or ItemCollection) and upsert the scenes into ``imagery_catalog``;
2. ``composite``: lazy odc-stac cube → SCL mask → uint16 median → ``composite.zarr`` (+
   ``composite.tif`` COG of the six bands for the map and thumbnails);
3. ``features``: exact 2-98 % stretch + four indices → ``features.zarr``;
4. ``tiles``: weak labels around the known sites inside the AOI → ``tiles.zarr`` (+ PostGIS
   ``tiles``); skipped when no known site falls inside.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from cube.aoi import AOI, parse_aoi
from cube.errors import InvalidInputError
from cube.provenance import code_version
from cube.search import COLLECTION_ASSETS, S1_COLLECTION, S2_COLLECTION
from cube.settings import Settings

__all__ = ["add_parser", "run"]

_console = Console()


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``ingest`` and its options."""
    p = subparsers.add_parser("ingest", help="search, composite and featurise an AOI into Zarr")
    p.add_argument("--aoi", required=True, help="AOI name, GeoJSON file or minx,miny,maxx,maxy")
    p.add_argument("--start", default=None, help="ISO start date (default: the AOI's)")
    p.add_argument("--end", default=None, help="ISO end date (default: the AOI's)")
    p.add_argument("--max-cloud", type=float, default=None, help="scene cloud cover limit (%%)")
    p.add_argument("--catalog", default=None, help="STAC API URL or ItemCollection JSON path")
    p.add_argument(
        "--collections",
        nargs="+",
        default=[S2_COLLECTION],
        choices=sorted(COLLECTION_ASSETS),
        help="collections to search (sentinel-2-l2a is composited; sentinel-1-rtc is "
        "catalogued and stored as s1.zarr for SAR evidence)",
    )
    p.add_argument("--store", default=None, help="store root URL (default: the S3 bucket)")
    p.add_argument("--known-sites", default=None, help="GeoJSON of known sites (weak labels)")
    p.add_argument(
        "--stretch-from",
        default=None,
        help="AOI store name (same store root) whose 2-98 %% stretch the features reuse, e.g. "
        "the training AOI of the model that will scan this one (default: this AOI's own)",
    )
    p.add_argument("--method", choices=("median", "mean"), default="median")
    p.add_argument("--loader", choices=("odc", "stackstac"), default="odc")
    p.add_argument("--resolution", type=float, default=10.0, help="grid pixel size (m)")
    p.add_argument("--tile", type=int, default=256, help="training tile size (px)")
    p.add_argument("--overlap", type=int, default=32, help="training tile overlap (px)")
    p.add_argument("--memory-budget-mb", type=float, default=1024.0, help="sets chunk sizes")
    p.add_argument("--scheduler", default=None, help="threads|synchronous|tcp://HOST:PORT|cuda")
    p.add_argument("--no-db", action="store_true", help="do not write to PostGIS")
    p.set_defaults(func=run)


def _sites_inside(aoi: AOI, path: str | None) -> list[Any]:
    from shapely.geometry import Point

    from cube.known_sites import load_known_sites

    # only sites inside the AOI label it: a neighbouring AOI's site near the border would
    # otherwise turn a held-out AOI into a (partial) training AOI
    return [s for s in load_known_sites(path) if aoi.geometry.contains(Point(s.lon, s.lat))]


def _composite(args: argparse.Namespace, aoi: AOI, loc: Any, items: list[Any]) -> None:
    from dask.diagnostics import ProgressBar

    from cube.composite import composite
    from cube.load import load_cube
    from cube.mask import apply_mask
    from cube.store import open_dataset, write_cog, write_dataset

    if getattr(args, "loader", "odc") == "odc":
        import odc.stac

        # GDAL cloud settings (no directory listing, HTTP multiplexing, retries); odc-stac
        # captures this environment in the graph, so distributed workers read the same way.
        odc.stac.configure_rio(cloud_defaults=True)
    cube = load_cube(
        items,
        aoi,
        memory_budget_mb=getattr(args, "memory_budget_mb", 1024.0),
        loader=getattr(args, "loader", "odc"),
        resolution=getattr(args, "resolution", 10.0),
    )
    _console.print(f"cube {dict(cube.data.sizes)}, {cube.n_tasks} tasks")
    ds = composite(apply_mask(cube.data, cube.scl), getattr(args, "method", "median"))
    with ProgressBar():
        write_dataset(ds, loc, "composite.zarr", "composite")
    stored = open_dataset(loc, "composite.zarr", "composite")
    crs = cube.data.rio.crs
    with ProgressBar():
        write_cog(stored["composite"].rio.write_crs(crs), loc, "composite.tif")
        # clear looks per pixel: the data-gap layer of the map
        write_cog(stored["clear_count"].rio.write_crs(crs), loc, "coverage.tif")


def _sar(args: argparse.Namespace, aoi: AOI, loc: Any, items: list[Any], s1: list[Any]) -> None:
    """Sentinel-1 backscatter on the optical grid → ``s1.zarr`` (stage ``s1``)."""
    from dask.diagnostics import ProgressBar

    from cube.load import grid_crs, load_sar
    from cube.store import write_dataset

    sar = load_sar(
        s1,
        aoi,
        grid_crs(items, aoi),
        resolution=getattr(args, "resolution", 10.0),
        memory_budget_mb=getattr(args, "memory_budget_mb", 1024.0),
    )
    with ProgressBar():
        write_dataset(sar.to_dataset(), loc, "s1.zarr", "s1")


def _features(loc: Any, stretch_from: Any | None) -> dict[str, Any]:
    """Features with this AOI's 2-98 % stretch, or the one of ``stretch_from``'s features."""
    from dask.diagnostics import ProgressBar

    from cube.features import (
        band_histograms,
        make_features,
        percentiles_from_histograms,
        stored_percentiles,
    )
    from cube.store import open_dataset, write_dataset

    comp = open_dataset(loc, "composite.zarr", "composite")["composite"]
    if stretch_from is None:
        with ProgressBar():
            pct = percentiles_from_histograms(band_histograms(comp).compute())
    else:
        source = open_dataset(stretch_from, "features.zarr", "features")["features"]
        pct = stored_percentiles(source.attrs)
    feats = make_features(comp, pct)
    with ProgressBar():
        write_dataset(feats.to_dataset(name="features"), loc, "features.zarr", "features")
    return {
        "stretch_low": feats.attrs["stretch_low"],
        "stretch_high": feats.attrs["stretch_high"],
        "stretch_from": (stretch_from or loc).aoi,
    }


def _tiles(args: argparse.Namespace, loc: Any, sites: list[Any], dsn: str | None) -> dict[str, int]:
    from dask.diagnostics import ProgressBar

    from cube.labels import weak_labels
    from cube.store import open_dataset
    from cube.tiles import make_tiles, write_tiles

    feats = open_dataset(loc, "features.zarr", "features")["features"]
    labels = weak_labels(feats, sites)
    tiles = make_tiles(
        feats, labels, tile=getattr(args, "tile", 256), overlap=getattr(args, "overlap", 32)
    )
    with ProgressBar():
        write_tiles(tiles, loc, dsn)
    splits = [str(s) for s in tiles["split"].values]
    return {name: splits.count(name) for name in ("train", "val", "test")}


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the stages that are not done yet for one AOI; print a summary."""
    from cube.catalog_db import upsert_scenes
    from cube.cluster import make_client
    from cube.load import OPTICAL_BANDS, check_assets
    from cube.search import SearchRequest, require_assets, scene_source, search_scenes
    from cube.store import StoreLocation, read_manifest, update_manifest

    aoi = parse_aoi(args.aoi, args.start, args.end, getattr(args, "max_cloud", None))
    collections = list(getattr(args, "collections", None) or [S2_COLLECTION])
    if S2_COLLECTION not in collections:
        raise InvalidInputError(f"ingest composites {S2_COLLECTION}: add it to --collections")
    root = args.store or settings.store_root
    loc = StoreLocation(root, aoi.name, settings.storage_options if "://" in root else None)
    dsn = None if args.no_db else settings.postgres_dsn
    source = getattr(args, "stretch_from", None)
    if source is not None and (source.endswith((".geojson", ".json")) or "," in source):
        source = parse_aoi(source).name  # a GeoJSON or bbox AOI: its store folder name
    stretch_from = None
    if source is not None and source != aoi.name:
        stretch_from = StoreLocation(root, source, loc.storage_options)
    done = read_manifest(loc).get("stages", {})
    sites = _sites_inside(aoi, getattr(args, "known_sites", None))
    todo = [s for s in ("composite", "features") if done.get(s) != "done"]
    if sites and done.get("tiles") != "done":
        todo.append("tiles")
    if not todo:
        _console.print(f"AOI {aoi.name}: every ingest stage is done in {loc.url()}")
        return 0
    summary: dict[str, Any] = {}
    if "composite" in todo:
        catalog = args.catalog or settings.stac_api_url
        source = scene_source(catalog)
        items = search_scenes(source, SearchRequest(aoi))
        _console.print(f"{len(items)} scenes for {aoi.name} from {catalog}")
        check_assets(items, [*OPTICAL_BANDS, "SCL"])
        s1_items: list[Any] = []
        if S1_COLLECTION in collections:  # catalogued and stored for SAR evidence (monitor)
            s1_items = search_scenes(source, SearchRequest(aoi, S1_COLLECTION))
            require_assets(s1_items, COLLECTION_ASSETS[S1_COLLECTION])
            summary["sentinel-1 scenes"] = len(s1_items)
        if dsn is not None:
            upsert_scenes(dsn, [*items, *s1_items])
        update_manifest(
            loc,
            scenes=[i.id for i in items],
            s1_scenes=[i.id for i in s1_items],
            dates=[aoi.start.isoformat(), aoi.end.isoformat()],
            bounds=list(aoi.bbox),
            catalog=catalog,
            code_version=code_version(),
        )
        summary["scenes"] = len(items)
    with make_client(args.scheduler, console=_console):
        if "composite" in todo:
            _composite(args, aoi, loc, items)
            if s1_items:
                _sar(args, aoi, loc, items, s1_items)
        if "features" in todo:
            update_manifest(loc, **_features(loc, stretch_from))
        if "tiles" in todo:
            splits = _tiles(args, loc, sites, dsn)
            update_manifest(loc, splits=splits, known_sites=[s.name for s in sites])
            summary.update({f"tiles {k}": v for k, v in splits.items()})
    table = Table(title=f"ingest {aoi.name}")
    table.add_column("item")
    table.add_column("value", justify="right")
    for key, value in {
        "stages run": ", ".join(todo),
        **summary,
        "known sites inside": len(sites),
        "store": loc.url(),
    }.items():
        table.add_row(key, str(value))
    _console.print(table)
    return 0
