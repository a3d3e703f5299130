"""launchwatch data layer: STAC search, lazy cubes, cloud masks, composites, features, stores."""

from cube.aoi import AOI, area_km2, list_aois, parse_aoi
from cube.known_sites import KnownSite, buffer_sites, load_known_sites, write_known_sites
from cube.labels import weak_labels
from cube.tiles import make_tiles, open_tiles, write_tiles

__all__: list[str] = [
    "AOI",
    "KnownSite",
    "area_km2",
    "buffer_sites",
    "list_aois",
    "load_known_sites",
    "make_tiles",
    "open_tiles",
    "parse_aoi",
    "weak_labels",
    "write_known_sites",
    "write_tiles",
]
