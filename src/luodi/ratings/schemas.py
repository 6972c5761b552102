"""Request bodies of the ratings API: every text has its limit here, so an oversized value is
a 422 before any service runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from luodi.errors import MAX_ID
from luodi.ratings.models import CaseKind

MAX_COMMENT = 300
"""A comment is a few sentences (浙江“好差评”: 差评 with a short reason)."""


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_kind: CaseKind = Field(description="application（申请）/ objection（异议）")
    case_id: int = Field(ge=1, le=MAX_ID)
    level: int = Field(ge=1, le=5, description="5 非常满意 … 1 非常不满意")
    comment: str | None = Field(
        default=None, max_length=MAX_COMMENT, description="意见（仅工作人员可见）"
    )
