"""launchwatch data layer: STAC search, lazy cubes, cloud masks, composites, features, stores."""

__all__: list[str] = []
