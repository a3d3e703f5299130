"""launchwatch HTTP API: FastAPI on PostGIS, vector tiles, TiTiler rasters, analyst review.

Run with ``uvicorn api.main:app``; build test apps with :func:`api.main.create_app`.
"""

__all__: list[str] = []
