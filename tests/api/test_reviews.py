import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import TOKEN, insert_detection, settings_for, square

REVIEW = {"verdict": "confirmed", "reason": "launch_pad", "note": "pad and tower"}


@pytest.fixture
def det(pg_dsn: str) -> int:
    return insert_detection(pg_dsn, square(10.01, 50.01), 0.9)


def test_review_needs_the_token(client: TestClient, pg_dsn: str, det: int) -> None:
    url = f"/detections/{det}/review"
    r = client.post(url, json=REVIEW)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert (
        client.post(url, json=REVIEW, headers={"Authorization": "Bearer nope"}).status_code == 403
    )
    assert (
        client.post(url, json=REVIEW, headers={"Authorization": f"Basic {TOKEN}"}).status_code
        == 401
    )
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM reviews").fetchone() == (0,)


def test_review_is_stored_and_shown(client: TestClient, pg_dsn: str, det: int) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post(f"/detections/{det}/review", json=REVIEW, headers=auth)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["detection_id"] == det
    assert stored["verdict"] == "confirmed"
    assert stored["reviewer"] == "analyst"
    second = {"verdict": "rejected", "reason": "quarry"}
    assert client.post(f"/detections/{det}/review", json=second, headers=auth).status_code == 201
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT verdict, reason, note FROM reviews ORDER BY id").fetchall()
    assert rows == [("confirmed", "launch_pad", "pad and tower"), ("rejected", "quarry", "")]
    reviews = client.get(f"/detections/{det}").json()["properties"]["reviews"]
    assert [x["verdict"] for x in reviews] == ["rejected", "confirmed"]
    assert [x["verdict"] for x in client.get(f"/evidence/{det}").json()["reviews"]] == [
        "rejected",
        "confirmed",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"verdict": "maybe", "reason": "x"},
        {"verdict": "confirmed"},
        {"verdict": "confirmed", "reason": "Robert'); DROP TABLE reviews;--"},
        {"verdict": "confirmed", "reason": "ok", "extra": 1},
        {"verdict": "confirmed", "reason": "ok", "note": "x" * 2001},
    ],
)
def test_bad_review_is_422(client: TestClient, det: int, body: dict[str, object]) -> None:
    r = client.post(
        f"/detections/{det}/review", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 422


def test_review_of_missing_detection_is_404(client: TestClient) -> None:
    r = client.post(
        "/detections/12345/review", json=REVIEW, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 404


def test_reviews_disabled_without_token(pg_dsn: str, store_root: str, det: int) -> None:
    app = create_app(
        settings_for(pg_dsn, api_review_token=None), store_root=store_root, web_dist=None
    )
    with TestClient(app) as c:
        r = c.post(f"/detections/{det}/review", json=REVIEW, headers={"Authorization": "Bearer x"})
    app.state.engine.dispose()
    assert r.status_code == 503
