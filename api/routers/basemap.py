"""``/basemap``: whether the online basemap is reachable, asked by the server, not the browser.

Offline, a browser probe of the tile server logs a network error in the console; the map
asks this same-origin route instead and adds the basemap only when it is reachable. The
answer is cached for :data:`CACHE_S` seconds.
"""

from __future__ import annotations

import time

import httpx
from fastapi import APIRouter
from pydantic import BaseModel, Field

__all__ = ["BASEMAP_TILES", "router"]

router = APIRouter(tags=["map"])

#: CARTO Dark Matter raster tiles (subdomains a-d).
BASEMAP_TILES: tuple[str, ...] = tuple(
    f"https://{s}.basemaps.cartocdn.com/dark_all/{{z}}/{{x}}/{{y}}.png" for s in "abcd"
)
PROBE_TIMEOUT_S = 1.5
CACHE_S = 600.0
_cache: dict[str, tuple[float, bool]] = {}


class Basemap(BaseModel):
    """The basemap the map may add."""

    online: bool = Field(description="the tile server answered the server's probe")
    tiles: list[str] = Field(description="XYZ tile URL templates")
    attribution: str = Field(examples=["© OpenStreetMap contributors © CARTO"])


async def _reachable(url: str) -> bool:
    now = time.monotonic()
    hit = _cache.get(url)
    if hit is not None and now - hit[0] < CACHE_S:
        return hit[1]
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            ok = (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        ok = False
    _cache[url] = (now, ok)
    return ok


@router.get("/basemap", response_model=Basemap)
async def basemap() -> Basemap:
    """Whether the CARTO Dark Matter tiles are reachable from here (cached 10 minutes)."""
    probe = BASEMAP_TILES[0].format(z=0, x=0, y=0)
    return Basemap(
        online=await _reachable(probe),
        tiles=list(BASEMAP_TILES),
        attribution="© OpenStreetMap contributors © CARTO",
    )
