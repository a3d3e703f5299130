"""``/known-sites``: the reference launch sites."""

from __future__ import annotations

from fastapi import APIRouter

from api.db import SessionDep
from api.queries import known_site_features
from api.schemas import KnownSiteCollection

__all__ = ["router"]

router = APIRouter(tags=["known sites"])


@router.get("/known-sites", response_model=KnownSiteCollection)
def list_known_sites(session: SessionDep) -> KnownSiteCollection:
    """All reference sites (name, country, operator, status, source) as GeoJSON points."""
    return KnownSiteCollection(features=known_site_features(session))
