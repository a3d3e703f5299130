"""``/basemap``: the server decides whether the online basemap is reachable."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from api.routers import basemap


def test_offline_basemap_is_reported_and_cached(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    async def refuse(self: httpx.AsyncClient, url: str, **_: object) -> httpx.Response:
        calls.append(url)
        raise httpx.ConnectError("no route to host")

    monkeypatch.setattr(basemap, "_cache", {})
    monkeypatch.setattr(httpx.AsyncClient, "get", refuse)
    for _ in range(2):
        body = client.get("/basemap").json()
        assert body["online"] is False
        assert body["tiles"][0] == "https://a.basemaps.cartocdn.com/dark_all/{z}/{x}/{y}.png"
    assert calls == ["https://a.basemaps.cartocdn.com/dark_all/0/0/0.png"]  # cached


def test_online_basemap(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def answer(self: httpx.AsyncClient, url: str, **_: object) -> httpx.Response:
        return httpx.Response(200, content=b"png")

    monkeypatch.setattr(basemap, "_cache", {})
    monkeypatch.setattr(httpx.AsyncClient, "get", answer)
    assert client.get("/basemap").json()["online"] is True
