"""Ratings (好差评) over HTTP: a resident rates a closed case; staff read the summary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from luodi.ratings import service
from luodi.ratings.models import Rating
from luodi.ratings.schemas import RatingCreate
from luodi.web.dependencies import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/ratings", tags=["ratings 好差评"])


def rating_dict(rating: Rating) -> dict[str, Any]:
    return {
        "id": rating.id,
        "case_kind": rating.case_kind,
        "case_id": rating.case_id,
        "program_id": rating.program_id,
        "level": rating.level,
        "comment": rating.comment,
        "month": rating.month,
        "created_at": rating.created_at,
    }


@router.post("", status_code=201, summary="评价一件已办结的事 / rate a closed case")
def create_rating(body: RatingCreate, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    rating = service.rate(actor, session, body.case_kind, body.case_id, body.level, body.comment)
    return rating_dict(rating)


@router.get("/pending", summary="待评价的事项（本人）/ my closed cases not rated yet")
def pending_ratings(session: DbSession, actor: CurrentActor) -> list[dict[str, Any]]:
    return [
        {
            "case_kind": case.kind,
            "case_id": case.id,
            "program_id": case.program_id,
            "program": case.program_zh,
            "label": case.label,
        }
        for case in service.pending(actor, session)
    ]


@router.get("/summary", summary="好差评汇总（工作人员）/ the ratings summarised, staff")
def rating_summary(
    session: DbSession,
    actor: CurrentActor,
    months: Annotated[int, Query(ge=1, le=120, description="最近几个月 / last months")] = 12,
) -> dict[str, Any]:
    found = service.summary(actor, session, months)
    return {
        "since_month": found.since_month,
        "total": found.total,
        "satisfied_share": found.satisfied_share,
        "by_level": found.by_level,
        "by_program": [
            {"program_id": p, "levels": levels, "total": total}
            for p, levels, total in found.by_program
        ],
        "by_month_and_program": [
            {"month": m, "program_id": p, "levels": levels, "total": total}
            for m, p, levels, total in found.table
        ],
        "latest_comments": [rating_dict(rating) for rating in found.comments],
    }
