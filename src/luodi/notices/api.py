"""Notices and objections over HTTP. Reading and downloading a notice needs no sign-in (it
holds masked rows only); everything else acts as the signed-in user, scoped by the service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from luodi.notices import deadlines, schemas, service
from luodi.notices.models import Notice, NoticeAmendment, Objection, notice_columns
from luodi.notices.schemas import PublishRequest, RerunRequest, ReviewRequest
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.params import MAX_ID, ObjectId

router = APIRouter(prefix="/api/v1", tags=["notices 公示与异议"])

Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="跳过的条数 / rows to skip")]
Limit = Annotated[
    int, Query(ge=1, le=service.MAX_PAGE_ROWS, description="每页条数 / rows per page")
]
EXPORT_CACHE = "public, max-age=60"
"""Downloads are the same bytes until an amendment changes the digest (the ETag): a proxy
may serve them for a minute, and revalidation after that is a 304."""


def notice_summary(session: DbSession, notice: Notice) -> dict[str, Any]:
    return {
        "id": notice.id,
        "kind": notice.kind,
        "layout": notice.layout,
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
        "scoring_run_id": amendment.scoring_run_id,
        "other_scoring_run": amendment.other_scoring_run,
        "changed": amendment.changed,
        "changes_url": (f"/api/v1/notices/{amendment.notice_id}/amendments/{amendment.id}/changes"),
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
        "review_due_on": deadlines.review_due_on(session, objection),
        "attachments": [
            {"file_name": a.file_name, "content_type": a.content_type, "size": a.size}
            for a in service.attachments_of(session, objection.id)
        ],
    }


@router.get("/notices", summary="公示列表（公开）/ notices, public")
def list_notices(
    session: DbSession,
    actor: CurrentActor,
    q: Annotated[
        str | None, Query(max_length=100, pattern=schemas.NO_CONTROL, description="标题关键字")
    ] = None,
) -> list[dict[str, Any]]:
    return [notice_summary(session, n) for n in service.list_notices(actor, session, q)]


@router.get("/notices/{notice_id}", summary="公示名单（公开、脱敏、分页）/ a notice, masked, paged")
def get_notice(
    notice_id: ObjectId,
    session: DbSession,
    actor: CurrentActor,
    offset: Offset = 0,
    limit: Limit = 1000,
    ref: Annotated[
        str | None,
        Query(max_length=schemas.MAX_REF, pattern=schemas.NO_CONTROL, description="按编号查找"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=service.MAX_QUERY,
            pattern=schemas.NO_CONTROL,
            description="查找：申请编号，或姓名和身份证号后四位（张三 1234）/ an application "
            "number, or a name and the last four of the ID number",
        ),
    ] = None,
) -> dict[str, Any]:
    notice = service.get_notice(actor, session, notice_id)
    query = service.parse_row_query(q)
    if query is not None:
        total, rows = service.search_rows(session, notice, query, offset, limit)
        rows = rows.drop("position")
    else:
        rows = service.rows_page(session, notice, offset, limit, ref.strip() if ref else None)
        total = rows.height if ref else notice.row_count
    return {
        **notice_summary(session, notice),
        "columns": notice_columns(notice),
        "offset": offset,
        "limit": limit,
        "total": total,
        "results": rows.to_dicts(),
        "amendments": [amendment_dict(a) for a in service.amendments(session, notice.id)],
    }


@router.get(
    "/notices/{notice_id}/amendments/{amendment_id}/changes",
    summary="更正的每一条变化（脱敏、分页）/ every row an amendment changed, paged",
)
def amendment_changes(
    notice_id: ObjectId,
    amendment_id: ObjectId,
    session: DbSession,
    actor: CurrentActor,
    offset: Offset = 0,
    limit: Limit = 1000,
) -> dict[str, Any]:
    notice = service.get_notice(actor, session, notice_id)
    changes = service.amendment_changes(session, notice, amendment_id, offset, limit)
    return {"offset": offset, "limit": limit, "results": changes}


def _download(
    request: Request, session: DbSession, actor: CurrentActor, notice_id: int, kind: str
) -> Response:
    """The stored file of the notice's current rows: ``ETag`` is the rows digest, so a
    client holding it gets a 304 without the content being read from the database."""
    notice = service.get_notice(actor, session, notice_id)
    etag = f'"{notice.rows_digest}"'
    # An ASCII file name; the title is never put raw into a header.
    headers = {
        "ETag": etag,
        "Cache-Control": EXPORT_CACHE,
        "Content-Disposition": f'attachment; filename="notice-{notice.id}.{kind}"',
    }
    wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if (etag in wanted or "*" in wanted) and service.has_export(session, notice, kind):
        return Response(status_code=304, headers=headers)
    export = service.stored_export(session, notice, kind)
    return Response(export.content, media_type=service.EXPORT_MEDIA_TYPES[kind], headers=headers)


@router.get("/notices/{notice_id}/xlsx", summary="下载 Excel / download XLSX")
def notice_xlsx(
    notice_id: ObjectId, request: Request, session: DbSession, actor: CurrentActor
) -> Response:
    return _download(request, session, actor, notice_id, "xlsx")


@router.get("/notices/{notice_id}/pdf", summary="下载 PDF / download PDF")
def notice_pdf(
    notice_id: ObjectId, request: Request, session: DbSession, actor: CurrentActor
) -> Response:
    return _download(request, session, actor, notice_id, "pdf")


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
        qualification=body.qualification,
    )
    return notice_summary(session, notice)


@router.post("/notices/{notice_id}/objections", summary="提出异议 / file an objection")
def file_objection(
    notice_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    row: Annotated[str, Form(max_length=schemas.MAX_REF, description="公示中的编号")],
    reason: Annotated[str, Form(min_length=1, max_length=schemas.MAX_REASON)],
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
    actor: CurrentActor,
    session: DbSession,
    notice: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[dict[str, Any]]:
    return [objection_dict(session, o) for o in service.list_objections(actor, session, notice)]


@router.get("/objections/{objection_id}")
def get_objection(
    objection_id: ObjectId, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    return objection_dict(session, service.get_objection(actor, session, objection_id))


@router.post("/objections/{objection_id}/review", summary="复核异议 / decide an objection")
def review(
    objection_id: ObjectId, body: ReviewRequest, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    objection = service.review(actor, session, objection_id, body.uphold, body.reason)
    return objection_dict(session, objection)


@router.post("/notices/{notice_id}/rerun", summary="异议成立后重新分配 / re-run after upheld")
def rerun(
    notice_id: ObjectId, body: RerunRequest, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    amendment = service.rerun(
        actor,
        session,
        notice_id,
        body.scoring_run_id,
        body.seed,
        confirm_other_scoring_run=body.confirm_other_scoring_run,
    )
    return amendment_dict(amendment)


@router.post("/notices/{notice_id}/finalize", summary="公示期满，确定结果 / finalise")
def finalize(notice_id: ObjectId, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    return notice_summary(session, service.finalize(actor, session, notice_id))
