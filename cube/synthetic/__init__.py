"""Synthetic Sentinel-2 L2A / Sentinel-1 scenes with planted launch complexes and confusers.

For the offline demo and tests: :func:`generate_scenes` writes COGs, a STAC ItemCollection,
``truth.geojson`` and ``known_sites.geojson`` for a sequence of :class:`SceneSpec`;
:data:`DEMO_SCENES` is the demo preset (covered by the ``demo`` AOI).
"""

from cube.synthetic.generate import SyntheticCatalog, generate_scenes
from cube.synthetic.spec import DEMO_SCENES, TERRAINS, SceneSpec

__all__ = ["DEMO_SCENES", "TERRAINS", "SceneSpec", "SyntheticCatalog", "generate_scenes"]
