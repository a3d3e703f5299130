"""``/health``: version, database and Triton readiness (degraded, never 500)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.config import api_version
from api.db import ConfigDep
from api.schemas import Health

__all__ = ["router"]

router = APIRouter(tags=["health"])

#: Seconds to wait for Triton's readiness endpoint.
TRITON_TIMEOUT_S = 1.0


def _count_detections(sessions: sessionmaker[Session]) -> int | None:
    try:
        with sessions() as session:
            return int(session.execute(text("SELECT count(*) FROM detections")).scalar_one())
    except SQLAlchemyError:
        return None


async def _triton_ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=TRITON_TIMEOUT_S) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


@router.get("/health", response_model=Health)
async def health(request: Request, config: ConfigDep) -> Health:
    """``ok`` when PostGIS (and Triton, if configured) answer, else ``degraded``."""
    count = await run_in_threadpool(_count_detections, request.app.state.sessions)
    triton = await _triton_ready(config.triton_health_url) if config.triton_health_url else None
    ok = count is not None and triton is not False
    return Health(
        status="ok" if ok else "degraded",
        version=api_version(),
        database=count is not None,
        detections=count,
        triton=triton,
    )
