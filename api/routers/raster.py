"""``/raster``: TiTiler endpoints over each AOI's composite / probability COG; ``/aois``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from titiler.core.factory import TilerFactory

from api.db import ConfigDep
from api.rasters import AOI_PATTERN, Layer, gdal_env, raster_url
from api.schemas import AoiInfo
from api.stores import list_aois

__all__ = ["aois_router", "raster_router"]


def aoi_layer_url(
    config: ConfigDep,
    aoi: Annotated[str, Query(pattern=AOI_PATTERN, description="AOI name", examples=["demo"])],
    layer: Annotated[
        Layer,
        Query(
            description="composite (6 bands B02 B03 B04 B08 B11 B12), probability, change "
            "(monitor epochs: probability difference, ΔNDBI, ΔBSI) or coverage (clear looks "
            "per pixel)"
        ),
    ] = "composite",
) -> str:
    """Resolve ``aoi`` + ``layer`` to the COG URL in the store (never a client-given URL)."""
    return raster_url(config.store_root, aoi, layer)


def raster_env(config: ConfigDep) -> dict[str, Any]:
    """GDAL config for the store (S3 endpoint, credentials)."""
    return gdal_env(config.storage_options)


raster_router = TilerFactory(
    path_dependency=aoi_layer_url,
    environment_dependency=raster_env,
    router_prefix="/raster",
).router

aois_router = APIRouter(tags=["aois"])


@aois_router.get("/aois", response_model=list[AoiInfo])
async def read_aois(config: ConfigDep) -> list[AoiInfo]:
    """AOIs that have a store (``manifest.json``), with bounds to fly to and raster layers."""
    return await run_in_threadpool(
        list_aois, config.store_root, config.storage_options, gdal_env(config.storage_options)
    )
