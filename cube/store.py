"""Zarr/COG stores of an AOI on a local path or ``s3://``, with a stage manifest.

Layout under a root URL: ``{root}/{aoi}/{composite,features,tiles,probability}.zarr``,
``composite.tif`` and ``probability.tif`` (COGs for map serving) and ``manifest.json``; while
a Zarr is being written, ``{name}.regions.json`` beside it records the regions already
written. A stage is complete only when the manifest says so: :func:`write_dataset` writes the
Zarr region by region and marks its stage done afterwards; an interrupted write resumes from
the regions recorded, a failed one removes the partial Zarr, and readers
(:func:`open_dataset`) never see half a store.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import xarray as xr
from rich.console import Console

from cube.errors import InvalidInputError, StoreIncompleteError
from cube.regions import RegionPlan, fingerprint, plan_regions, scheduler_threads

__all__ = [
    "StoreLocation",
    "open_dataset",
    "open_fs",
    "read_manifest",
    "stage_done",
    "update_manifest",
    "write_cog",
    "write_dataset",
]

MANIFEST = "manifest.json"
REGIONS_SUFFIX = ".regions.json"
"""Suffix of the marker beside a Zarr being written: its fingerprint and the regions written."""


@dataclass(frozen=True)
class StoreLocation:
    """Where an AOI's stores live.

    Attributes:
        root: Local path or ``s3://bucket[/prefix]``.
        aoi: AOI name (one folder under the root).
        storage_options: fsspec options for ``s3://`` (credentials, ``client_kwargs``
            with ``endpoint_url``); ignored for local paths.
    """

    root: str
    aoi: str
    storage_options: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        """Validate the root and the AOI name."""
        if not self.root:
            raise InvalidInputError("store root must not be empty")
        if not self.aoi or "/" in self.aoi or self.aoi in (".", ".."):
            raise InvalidInputError(f"AOI name {self.aoi!r} cannot name a store folder")

    @property
    def is_remote(self) -> bool:
        """True for ``s3://`` (or any other protocol) roots."""
        return "://" in self.root

    def url(self, name: str = "") -> str:
        """URL of ``name`` inside the AOI folder (the folder itself for ``""``)."""
        base = f"{self.root.rstrip('/')}/{self.aoi}"
        if not self.is_remote:
            base = os.path.abspath(base)
        return f"{base}/{name}" if name else base

    @property
    def options(self) -> dict[str, Any] | None:
        """Storage options to pass to fsspec/xarray (``None`` for local paths)."""
        return dict(self.storage_options or {}) if self.is_remote else None


def open_fs(loc: StoreLocation) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of ``loc`` (local or s3 through s3fs)."""
    protocol = loc.root.split("://", 1)[0] if loc.is_remote else "file"
    return fsspec.filesystem(protocol, **(loc.options or {}))


def read_manifest(loc: StoreLocation) -> dict[str, Any]:
    """The AOI's manifest (an empty dict when none exists yet)."""
    fs = open_fs(loc)
    path = loc.url(MANIFEST)
    if not fs.exists(path):
        return {}
    doc: dict[str, Any] = json.loads(fs.cat_file(path))
    return doc


def update_manifest(loc: StoreLocation, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the manifest (``stages`` merged key by key); write it whole."""
    doc = read_manifest(loc)
    for key, value in fields.items():
        if key == "stages" and isinstance(value, Mapping):
            doc.setdefault("stages", {}).update(value)
        else:
            doc[key] = value
    doc["aoi"] = loc.aoi
    doc["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    _put_whole(loc, MANIFEST, json.dumps(doc, indent=2, default=str).encode())
    return doc


def _put_whole(loc: StoreLocation, name: str, data: bytes) -> None:
    """Replace ``{aoi}/{name}`` at once: one PUT on S3, a write and a rename locally."""
    fs = open_fs(loc)
    fs.makedirs(loc.url(), exist_ok=True)
    if loc.is_remote:
        fs.pipe_file(loc.url(name), data)  # one PUT: atomic on S3
    else:
        tmp = loc.url(f".{name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, loc.url(name))


def _remove(loc: StoreLocation, name: str) -> None:
    fs = open_fs(loc)
    for path in (loc.url(name), loc.url(f"{name}{REGIONS_SUFFIX}")):
        if fs.exists(path):
            fs.rm(path, recursive=True)


def _zarr_ready(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without stale chunk encodings and with Zarr-compatible (equal) dask chunks."""
    ds = ds.copy()
    for var in ds.variables.values():  # chunking of a store this was read from does not apply
        for key in ("chunks", "preferred_chunks", "compressors", "shards"):
            var.encoding.pop(key, None)
    for var_name, arr in ds.data_vars.items():  # Zarr needs equal chunks (the last may be smaller)
        if arr.chunks is not None and any(len(set(c[:-1])) > 1 or c[-1] > c[0] for c in arr.chunks):
            ds[var_name] = arr.chunk({d: max(c) for d, c in zip(arr.dims, arr.chunks, strict=True)})
    return ds


def _load_outside(ds: xr.Dataset, plan: RegionPlan) -> xr.Dataset:
    """``ds`` with the dask-backed variables ``plan`` leaves out (coordinates, 0-d) computed."""
    names = [k for k, v in ds.variables.items() if v.chunks is not None and k not in plan.variables]
    if not names:
        return ds
    loaded = ds[names].compute()
    return ds.assign({k: loaded[k].variable for k in names if k in ds.data_vars}).assign_coords(
        {k: loaded[k].variable for k in names if k not in ds.data_vars}
    )


def _written(loc: StoreLocation, name: str, stage: str, key: str) -> list[tuple[int, int]] | None:
    """Ranges already written into a partial store of the same dataset; ``None``: start over."""
    fs = open_fs(loc)
    marker = loc.url(f"{name}{REGIONS_SUFFIX}")
    if (
        stage_done(loc, stage)
        or not fs.exists(marker)
        or not fs.exists(loc.url(f"{name}/zarr.json"))
    ):
        return None
    try:
        doc = json.loads(fs.cat_file(marker))
        if doc.get("fingerprint") != key:
            return None
        return [(int(a), int(b)) for a, b in doc["written"]]
    except (ValueError, KeyError, TypeError):  # unreadable marker: start over
        return None


def _record(loc: StoreLocation, name: str, key: str, written: list[tuple[int, int]]) -> None:
    doc = {"fingerprint": key, "written": [list(r) for r in written]}
    _put_whole(loc, f"{name}{REGIONS_SUFFIX}", json.dumps(doc).encode())


def _consolidate(loc: StoreLocation, name: str) -> None:
    import zarr

    group = zarr.open_group(loc.url(name), mode="r+", storage_options=loc.options)
    zarr.consolidate_metadata(group.store)


def write_dataset(
    ds: xr.Dataset,
    loc: StoreLocation,
    name: str,
    stage: str,
    *,
    chunks_per_region: int | None = None,
    console: Console | None = None,
) -> None:
    """Write ``ds`` to ``{aoi}/{name}`` (Zarr, consolidated) region by region; mark ``stage`` done.

    A persisting edge: it computes the dataset's dask graph, one region (consecutive chunk
    rows along one dimension, see :func:`cube.regions.plan_regions`) at a time:

    1. the stage is marked ``running``; the template (metadata, coordinates, in-memory
       variables; no dask chunks) is written without consolidated metadata, and the
       dataset's :func:`~cube.regions.fingerprint` goes into ``{name}.regions.json``;
    2. each region is computed and written, then appended to ``written`` in
       ``{name}.regions.json``;
    3. the metadata is consolidated, the marker removed and the stage marked ``done``.

    When the stage is not done and ``{name}.regions.json`` holds the same fingerprint, the
    template is kept and the regions it lists are skipped; otherwise the store starts over.
    An exception (bad input found while computing: a corrupt COG, a missing band) removes the
    partial store with its marker and marks the stage ``failed``. An interruption
    (``KeyboardInterrupt``, a killed process) leaves both, and the stage ``running``, for the
    next call to resume. Readers never take a partial store for a complete one: it has no
    consolidated metadata and :func:`open_dataset` checks the manifest.

    Args:
        ds: Dataset to write (dask-backed variables are computed region by region).
        loc: Store location (root + AOI).
        name: Zarr name inside the AOI folder (``composite.zarr``).
        stage: Manifest stage marked done afterwards.
        chunks_per_region: Chunks of the largest variable per region, at least (default:
            twice the threads of the active Dask scheduler, so every worker has work).
        console: Where the region plan is printed (stderr by default).
    """
    ds = _zarr_ready(ds)
    plan = plan_regions(ds, chunks_per_region or 2 * scheduler_threads())
    ds = _load_outside(ds, plan)
    key = fingerprint(ds)
    written = _written(loc, name, stage, key)
    url = loc.url(name)
    update_manifest(loc, stages={stage: "running"})
    try:
        with warnings.catch_warnings():  # consolidated metadata: a zarr-python v3 extension
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            if written is None:
                _remove(loc, name)
                ds.to_zarr(
                    url, mode="w", consolidated=False, compute=False, storage_options=loc.options
                )
                written = []
                _record(loc, name, key, written)
            _say(console, url, plan, written)
            # data only: attributes and encoding are the template's (CF attrs like _FillValue
            # would clash with the encoding xarray reads back from the store)
            body = xr.Dataset({k: (ds[k].dims, ds[k].data) for k in plan.variables})
            for start, stop in plan.pending(written):
                body.isel({plan.dim: slice(start, stop)}).to_zarr(
                    url,
                    region={plan.dim: slice(start, stop)},
                    mode="r+",
                    consolidated=False,
                    storage_options=loc.options,
                )
                written.append((start, stop))
                _record(loc, name, key, written)
            _consolidate(loc, name)
            open_fs(loc).rm(loc.url(f"{name}{REGIONS_SUFFIX}"))
    except Exception:
        _remove(loc, name)
        update_manifest(loc, stages={stage: "failed"})
        raise
    update_manifest(loc, stages={stage: "done"})


def _say(
    console: Console | None, url: str, plan: RegionPlan, written: list[tuple[int, int]]
) -> None:
    if not plan.rows:
        return
    todo = plan.pending(written)
    message = f"{url}: {len(todo)} regions along {plan.dim}"
    if written:
        message += f", resuming: {plan.covered(written)} of {len(plan.rows)} chunk rows written"
    (console or Console(stderr=True)).print(message, highlight=False, soft_wrap=True)


def stage_done(loc: StoreLocation, stage: str) -> bool:
    """True when the manifest marks ``stage`` done."""
    return read_manifest(loc).get("stages", {}).get(stage) == "done"


def open_dataset(loc: StoreLocation, name: str, stage: str) -> xr.Dataset:
    """Open a complete store lazily.

    Raises:
        StoreIncompleteError: The manifest does not mark ``stage`` done.
    """
    if not stage_done(loc, stage):
        raise StoreIncompleteError(
            f"{loc.url(name)} of AOI {loc.aoi} is not complete (stage {stage!r} not done)"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        ds = xr.open_zarr(loc.url(name), consolidated=True, storage_options=loc.options)
    mappings = {str(v.attrs.get("grid_mapping", "")) for v in ds.data_vars.values()}
    return ds.set_coords([m for m in mappings if m in ds.data_vars])  # CRS back as coordinate


def write_cog(da: xr.DataArray, loc: StoreLocation, name: str) -> str:
    """Write a 2-D or (band, y, x) georeferenced array as a COG with overviews; return its URL."""
    import rioxarray  # noqa: F401

    if da.rio.crs is None:
        raise InvalidInputError(f"{name} of AOI {loc.aoi} has no CRS: cannot write a COG")
    fs = open_fs(loc)
    with tempfile.TemporaryDirectory(prefix="cog-") as tmp:
        local = os.path.join(tmp, name)
        da.rio.to_raster(
            local,
            driver="COG",
            compress="DEFLATE",
            overview_resampling="average",
            blocksize=512,
            BIGTIFF="IF_SAFER",
        )
        fs.makedirs(loc.url(), exist_ok=True)
        fs.put_file(local, loc.url(name))
    return loc.url(name)
