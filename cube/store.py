"""Zarr/COG stores of an AOI on a local path or ``s3://``, with a stage manifest.

Layout under a root URL: ``{root}/{aoi}/{composite,features,tiles,probability}.zarr``,
``composite.tif`` and ``probability.tif`` (COGs for map serving) and ``manifest.json``. A
stage is complete only when the manifest says so: :func:`write_dataset` writes the Zarr
first and marks its stage done afterwards; a failed write removes the partial Zarr, so
readers (:func:`open_dataset`) never see half a store and a re-run resumes where it stopped.
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

from cube.errors import InvalidInputError, StoreIncompleteError

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
    fs = open_fs(loc)
    doc = read_manifest(loc)
    for key, value in fields.items():
        if key == "stages" and isinstance(value, Mapping):
            doc.setdefault("stages", {}).update(value)
        else:
            doc[key] = value
    doc["aoi"] = loc.aoi
    doc["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
    fs.makedirs(loc.url(), exist_ok=True)
    data = json.dumps(doc, indent=2, default=str).encode()
    if loc.is_remote:
        fs.pipe_file(loc.url(MANIFEST), data)  # one PUT: atomic on S3
    else:
        tmp = loc.url(f".{MANIFEST}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, loc.url(MANIFEST))
    return doc


def _remove(loc: StoreLocation, name: str) -> None:
    fs = open_fs(loc)
    path = loc.url(name)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def write_dataset(ds: xr.Dataset, loc: StoreLocation, name: str, stage: str) -> None:
    """Write ``ds`` to ``{aoi}/{name}`` (Zarr, consolidated) and mark ``stage`` done.

    Computes the dataset's dask graph (this is a persisting edge). Any error removes the
    partial Zarr and leaves the stage undone.
    """
    ds = ds.copy()
    for var in ds.variables.values():  # chunking of a store this was read from does not apply
        for key in ("chunks", "preferred_chunks", "compressors", "shards"):
            var.encoding.pop(key, None)
    for var_name, arr in ds.data_vars.items():  # Zarr needs equal chunks (the last may be smaller)
        if arr.chunks is not None and any(len(set(c[:-1])) > 1 or c[-1] > c[0] for c in arr.chunks):
            ds[var_name] = arr.chunk({d: max(c) for d, c in zip(arr.dims, arr.chunks, strict=True)})
    _remove(loc, name)
    update_manifest(loc, stages={stage: "running"})
    try:
        with warnings.catch_warnings():  # consolidated metadata: a zarr-python v3 extension
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            ds.to_zarr(
                loc.url(name),
                mode="w",
                consolidated=True,
                storage_options=loc.options,
                compute=True,
            )
    except BaseException:
        _remove(loc, name)
        update_manifest(loc, stages={stage: "failed"})
        raise
    update_manifest(loc, stages={stage: "done"})


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
