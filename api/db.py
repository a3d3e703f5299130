"""SQLAlchemy engine and the per-request session dependency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from api.config import ApiConfig

__all__ = ["ConfigDep", "SessionDep", "get_config", "get_session", "make_engine"]


def make_engine(database_url: str) -> Engine:
    """A pooled engine (psycopg 3) that checks connections before use."""
    return create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=8,
        max_overflow=8,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )


def get_config(request: Request) -> ApiConfig:
    """The app's :class:`ApiConfig` (set by ``create_app``)."""
    config: ApiConfig = request.app.state.config
    return config


def get_session(request: Request) -> Iterator[Session]:
    """One session per request (closed afterwards; outages are mapped in ``api.errors``)."""
    factory: sessionmaker[Session] = request.app.state.sessions
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ConfigDep = Annotated[ApiConfig, Depends(get_config)]
