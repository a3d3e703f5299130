"""``POST /detections/{id}/review``: analyst verdicts, protected by a bearer token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.db import ConfigDep, SessionDep
from api.models import Detection, Review
from api.queries import MAX_ID
from api.schemas import ReviewIn, ReviewOut
from cube.errors import NotFoundError

__all__ = ["router"]

router = APIRouter(tags=["reviews"])

_bearer = HTTPBearer(auto_error=False, description="settings.api_review_token")


def require_reviewer(
    config: ConfigDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 without a bearer token, 403 with a wrong one, 503 when reviews are not configured."""
    if config.review_token is None:
        raise HTTPException(503, "reviews are disabled: API_REVIEW_TOKEN is not set")
    if credentials is None:
        raise HTTPException(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(credentials.credentials.encode(), config.review_token.encode()):
        raise HTTPException(403, "wrong review token")


@router.post(
    "/detections/{detection_id}/review",
    response_model=ReviewOut,
    status_code=201,
    dependencies=[Depends(require_reviewer)],
    responses={
        401: {"description": "no bearer token"},
        403: {"description": "wrong token"},
        404: {"description": "no such detection"},
        503: {"description": "reviews not configured"},
    },
)
def review_detection(
    session: SessionDep,
    detection_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    review: ReviewIn,
) -> ReviewOut:
    """Store an analyst verdict (confirmed, rejected, unsure) with a reason code and note."""
    if session.get(Detection, detection_id) is None:
        raise NotFoundError(f"detection {detection_id} not found")
    row = Review(detection_id=detection_id, **review.model_dump())
    session.add(row)
    session.commit()
    session.refresh(row)
    return ReviewOut.model_validate(row)
