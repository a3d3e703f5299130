"""The FastAPI app: ``uvicorn api.main:app`` (settings from the environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker

from api.config import ApiConfig, api_version
from api.db import make_engine
from api.errors import add_error_handlers
from api.routers import (
    basemap,
    detections,
    evidence,
    health,
    known_sites,
    raster,
    reviews,
    sites,
    tiles,
)
from cube.settings import Settings, get_settings

__all__ = ["WEB_DIST", "app", "create_app"]

#: Built web app (``npm run build`` in ``web/``), served at ``/`` when present.
WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"


def create_app(
    settings: Settings | None = None,
    *,
    store_root: str | None = None,
    web_dist: Path | None = WEB_DIST,
) -> FastAPI:
    """Build the API.

    Args:
        settings: Settings (default: read from the environment).
        store_root: Store root URL overriding ``settings.store_root`` (e.g. a local folder).
        web_dist: Folder of the built web app served at ``/``; ``None`` or missing: a JSON
            index pointing to ``/docs`` instead.
    """
    settings = settings or get_settings()
    config = ApiConfig.from_settings(settings, store_root=store_root)
    engine = make_engine(config.database_url)
    app = FastAPI(
        title="launchwatch",
        version=api_version(),
        description=(
            "Candidate launch sites found in Sentinel imagery: detections, known sites, "
            "evidence, vector tiles, TiTiler rasters and analyst review."
        ),
    )
    app.state.config = config
    app.state.engine = engine
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match"],
        expose_headers=["ETag"],
    )
    add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(raster.aois_router)
    app.include_router(detections.router)
    app.include_router(reviews.router)
    app.include_router(known_sites.router)
    app.include_router(evidence.router)
    app.include_router(tiles.router)
    app.include_router(sites.router)
    app.include_router(basemap.router)
    app.include_router(raster.raster_router, prefix="/raster", tags=["raster"])
    if web_dist is not None and (web_dist / "index.html").exists():
        app.mount("/", StaticFiles(directory=web_dist, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False)
        def index() -> dict[str, Any]:
            return {"name": "launchwatch", "docs": "/docs", "openapi": "/openapi.json"}

    return app


app = create_app()
