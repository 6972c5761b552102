"""Notices and objections over HTTP. Reading and downloading a notice needs no sign-in (it
holds masked rows only); everything else acts as the signed-in user, scoped by the service."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from luodi.notices import exports, service
from luodi.notices.models import Notice, NoticeAmendment, Objection
from luodi.web.dependencies import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1", tags=["notices 公示与异议"])


class PublishRequest(BaseModel):
    allocation_run_id: int | None = None
    scoring_run_id: int | None = None
    starts_on: date | None = None
    working_days: int = Field(default=service.DEFAULT_WORKING_DAYS, ge=1, le=30)
    title: str | None = Field(default=None, max_length=service.MAX_TITLE)


class ReviewRequest(BaseModel):
    uphold: bool
    reason: str = Field(max_length=service.MAX_REASON)


class RerunRequest(BaseModel):
    scoring_run_id: int | None = None
    seed: str | None = Field(default=None, max_length=100)


def notice_summary(session: DbSession, notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "kind": notice.kind,
        "title": notice.title,
        "department": notice.department,
        "cycle_id": notice.cycle_id,
        "allocation_run_id": notice.allocation_run_id,
        "scoring_run_id": notice.scoring_run_id,
        "seed": notice.seed,
        "starts_on": notice.starts_on,
        "ends_on": notice.ends_on,
        "status": notice.status,
        "rows": notice.row_count,
        "rows_digest": notice.rows_digest,
        "published_at": notice.published_at,
        "objections": service.objection_counts(session, notice.id),
    }


def amendment_dict(amendment: NoticeAmendment) -> dict[str, Any]:
    return {
        "id": amendment.id,
        "previous_run_id": amendment.previous_run_id,
        "new_run_id": amendment.new_run_id,
        "changed": amendment.changed,
        "changes": json.loads(amendment.changes_json),
        "created_at": amendment.created_at,
    }


def objection_dict(session: DbSession, objection: Objection) -> dict[str, Any]:
    return {
        "id": objection.id,
        "notice_id": objection.notice_id,
        "row": objection.row_ref,
        "reason": objection.reason,
        "status": objection.status,
        "decision_reason": objection.decision_reason,
        "decided_at": objection.decided_at,
        "amendment_id": objection.amendment_id,
        "filed_at": objection.filed_at,
        "attachments": [
            {"file_name": a.file_name, "content_type": a.content_type, "size": a.size}
            for a in service.attachments_of(session, objection.id)
        ],
    }


@router.get("/notices", summary="公示列表（公开）/ notices, public")
def list_notices(
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100, description="标题关键字")] = None,
) -> list[dict[str, Any]]:
    return [notice_summary(session, notice) for notice in service.list_notices(session, q)]


@router.get("/notices/{notice_id}", summary="公示名单（公开、脱敏）/ a notice, masked")
def get_notice(
    notice_id: int,
    session: DbSession,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
    ref: Annotated[str | None, Query(max_length=40, description="按编号查找")] = None,
) -> dict[str, Any]:
    notice = service.get_notice(session, notice_id)
    rows = service.notice_rows(notice)
    if ref is not None:
        rows = rows.filter(rows["ref"].cast(str) == ref.strip())
    return {
        **notice_summary(session, notice),
        "columns": service.PUBLIC_COLUMNS[service.NoticeKind(notice.kind)],
        "results": rows.slice(offset, limit).to_dicts(),
        "amendments": [amendment_dict(a) for a in service.amendments(session, notice.id)],
    }


def _download(content: bytes, media_type: str, notice: Notice, suffix: str) -> Response:
    # An ASCII file name (and the UTF-8 one per RFC 6266); the title is never put raw into
    # a header.
    name = f"notice-{notice.id}.{suffix}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/notices/{notice_id}/xlsx", summary="下载 Excel / download XLSX")
def notice_xlsx(notice_id: int, session: DbSession) -> Response:
    notice = service.get_notice(session, notice_id)
    return _download(
        exports.to_xlsx(notice),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        notice,
        "xlsx",
    )


@router.get("/notices/{notice_id}/pdf", summary="下载 PDF / download PDF")
def notice_pdf(notice_id: int, session: DbSession) -> Response:
    notice = service.get_notice(session, notice_id)
    return _download(exports.to_pdf(notice), "application/pdf", notice, "pdf")


@router.post("/notices", summary="发布公示 / publish a notice")
def publish(body: PublishRequest, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    notice = service.publish(
        actor,
        session,
        allocation_run_id=body.allocation_run_id,
        scoring_run_id=body.scoring_run_id,
        starts_on=body.starts_on,
        working_days=body.working_days,
        title=body.title,
    )
    return notice_summary(session, notice)


@router.post("/notices/{notice_id}/objections", summary="提出异议 / file an objection")
def file_objection(
    notice_id: int,
    actor: CurrentActor,
    session: DbSession,
    row: Annotated[str, Form(max_length=40, description="公示中的编号")],
    reason: Annotated[str, Form(max_length=service.MAX_REASON)],
    files: Annotated[list[UploadFile] | None, File(description="最多3个 PDF/PNG/JPEG")] = None,
) -> dict[str, Any]:
    uploads = []
    for upload in files or []:
        # Read one byte past the limit: enough to refuse an oversized file, never more (the
        # whole request is capped by the app's body limit).
        content = upload.file.read(service.MAX_ATTACHMENT_BYTES + 1)
        uploads.append(service.Upload(upload.filename or "", content))
    objection = service.file_objection(actor, session, notice_id, row, reason, uploads)
    return objection_dict(session, objection)


@router.get("/objections", summary="异议列表（按权限）/ objections in scope")
def list_objections(
    actor: CurrentActor, session: DbSession, notice: int | None = None
) -> list[dict[str, Any]]:
    return [objection_dict(session, o) for o in service.list_objections(actor, session, notice)]


@router.get("/objections/{objection_id}")
def get_objection(objection_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return objection_dict(session, service.get_objection(actor, session, objection_id))


@router.post("/objections/{objection_id}/review", summary="复核异议 / decide an objection")
def review(
    objection_id: int, body: ReviewRequest, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    objection = service.review(actor, session, objection_id, body.uphold, body.reason)
    return objection_dict(session, objection)


@router.post("/notices/{notice_id}/rerun", summary="异议成立后重新分配 / re-run after upheld")
def rerun(
    notice_id: int, body: RerunRequest, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    amendment = service.rerun(actor, session, notice_id, body.scoring_run_id, body.seed)
    return amendment_dict(amendment)


@router.post("/notices/{notice_id}/finalize", summary="公示期满，确定结果 / finalise")
def finalize(notice_id: int, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return notice_summary(session, service.finalize(actor, session, notice_id))
