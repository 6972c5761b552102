"""The console's feeds area (``/console/feeds…``): a department's files, checked before they
are imported.

- ``/console/feeds``: the feeds the actor reads (``feeds.service.readable_feeds``), each with
  its newest batches.
- ``/console/feeds/{feed}``: the feed's declaration in words, the upload form (for whoever may
  send it), its batches.
- Upload → ``/console/feeds/{feed}/uploads/{id}``: the file is kept under an opaque id bound
  to its uploader (``feeds.uploads``) and checked by a dry run of ``service.import_file``;
  the page lists what would be accepted and refused (every refusal as XLSX), then the person
  confirms. The confirmed import reads the same stored file, and its digest must be the
  preview's.
- A file of more than ``IN_REQUEST_ROWS`` rows is imported by a ``feed_import`` job
  (``/console/feeds/jobs/{id}`` shows its progress and survives a reload); a smaller one in
  the request, which answers in about a second.
- ``/console/feeds/batches/{id}``: a batch's provenance and its refusals.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import polars as pl
import xlsxwriter
from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.auth.permissions import STAFF_WRITE_BYTES
from luodi.errors import Conflict, FieldProblem, Forbidden, Invalid, LuodiError, NotFound
from luodi.feeds import catalog, service, uploads
from luodi.feeds.models import FeedBatch
from luodi.feeds.schemas import ImportResult, ImportStatus, Rejection
from luodi.jobs import service as jobs
from luodi.kernels.feeds.spec import ColumnType, FeedSpec, Reference
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import ObjectId
from luodi.web.rendering import check_form, console_actor, done, render

router = APIRouter(prefix="/console/feeds")

PER_FEED = 3
"""Batches shown beside each feed on the list."""
LISTED = 50
"""Refusals shown on a page; the XLSX has every one."""
IN_REQUEST_ROWS = 5_000
"""Larger files are imported by a job (a progress bar) rather than in the request."""
UPLOAD_BYTES = STAFF_WRITE_BYTES
"""The largest file the page takes (the request guard's limit for staff)."""

TYPE_WORDS = {
    ColumnType.STRING: N_("文本"),
    ColumnType.INT: N_("整数"),
    ColumnType.FLOAT: N_("数值"),
    ColumnType.DATE: N_("日期（如 2025-06-01）"),
    ColumnType.YEAR: N_("年份（如 2025）"),
    ColumnType.PERIOD: N_("年或年月（如 2025 或 2025-06）"),
    ColumnType.BOOL: N_("是/否"),
    ColumnType.ENUM: N_("选项"),
    ColumnType.ID_NUMBER: N_("公民身份号码（18 位）"),
    ColumnType.CREDIT_CODE: N_("统一社会信用代码（18 位）"),
}
REFERENCE_WORDS = {
    Reference.TOWNS: N_("须为登记库中的镇街代码"),
    Reference.EMPLOYERS: N_("须为已登记的用人单位"),
    Reference.PERMITS: N_("须为本人已登记的居住证"),
}
ENCODING_WORDS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "gb18030": "GBK (GB18030)",
    "xlsx": "XLSX",
}
STATUS_WORDS = {
    "queued": N_("排队中"),
    "running": N_("运行中"),
    "done": N_("已完成"),
    "failed": N_("失败"),
}


def _title(spec: FeedSpec) -> str:
    return spec.title.en if i18n.language() == "en" else spec.title.zh


def _titles() -> dict[str, FeedSpec]:
    return dict(catalog.load_feeds())


def _column_rows(spec: FeedSpec) -> list[dict[str, Any]]:
    """The declaration in words: each column's headers, type, whether required, its rules."""
    rows = []
    for name, column in spec.columns.items():
        rules: list[str] = []
        if column.values:
            rules.append(
                "；".join(
                    "/".join(aliases) + (f" ({value})" if i18n.language() == "en" else "")
                    if aliases
                    else value
                    for value, aliases in column.values.items()
                )
            )
        if column.min is not None:
            rules.append(_("不小于 %(n)s", n=format(column.min, "g")))
        if column.max is not None:
            rules.append(_("不大于 %(n)s", n=format(column.max, "g")))
        if column.max_length is not None:
            rules.append(_("最多 %(n)s 字", n=column.max_length))
        if column.not_after_today:
            rules.append(_("不晚于今天"))
        if column.reference is not None:
            rules.append(_(REFERENCE_WORDS[column.reference]))
        rows.append(
            {
                "name": name,
                "headers": "、".join(column.headers) if column.headers else name,
                "type": _(TYPE_WORDS[column.type]),
                "required": column.required,
                "key": name in spec.key,
                "rules": rules,
            }
        )
    return rows


def _column_word(column: str, header: str) -> str:
    """A refused value's column as the department wrote it (its header), with the declared
    name beside it on an English page."""
    if i18n.language() == "en" and header and header != column:
        return f"{header} ({column})"
    return header or column


def _refusal_rows(rejections: list[Rejection] | pl.DataFrame) -> list[dict[str, Any]]:
    english = i18n.language() == "en"
    items = (
        rejections.head(LISTED).iter_rows(named=True)
        if isinstance(rejections, pl.DataFrame)
        else (item.model_dump() for item in rejections[:LISTED])
    )
    return [
        {
            "row": item["row"],
            "column": _column_word(item["column"] or "", item["header"] or ""),
            "value": item["value"],
            "reason": item["reason_en"] if english else item["reason_zh"],
        }
        for item in items
    ]


def refusals_workbook(refusals: pl.DataFrame, target: Path) -> None:
    """Every refusal as an XLSX sheet, headed in the page's language (行号/列/值/原因, or Row,
    Column, Value, Reason). Each value is written as text, never as a formula; XlsxWriter's
    constant-memory mode keeps a large report out of memory."""
    english = i18n.language() == "en"
    headers = ("Row", "Column", "Value", "Reason") if english else ("行号", "列", "值", "原因")
    workbook = xlsxwriter.Workbook(str(target), {"constant_memory": True})
    sheet = workbook.add_worksheet("Refused" if english else "拒收明细")
    bold = workbook.add_format({"bold": True})
    for position, header in enumerate(headers):
        sheet.write_string(0, position, header, bold)
    sheet.set_column(0, 0, 8)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, 2, 28)
    sheet.set_column(3, 3, 60)
    for line, item in enumerate(refusals.head(1_048_000).iter_rows(named=True), start=1):
        if item["row"] is not None:
            sheet.write_number(line, 0, item["row"])
        sheet.write_string(line, 1, _column_word(item["column"] or "", item["header"] or ""))
        sheet.write_string(line, 2, "" if item["value"] is None else str(item["value"]))
        sheet.write_string(line, 3, item["reason_en"] if english else item["reason_zh"])
    workbook.close()


def _workbook_response(report: Path, file_name: str) -> FileResponse:
    """Every refusal of ``report`` (the service's CSV) as XLSX in the page's language, made once
    per language and kept beside the report (a million refusals take XlsxWriter a while)."""
    language = i18n.language()
    target = report.with_name(f"{report.stem}-{language}.xlsx")
    if not target.is_file():
        refusals = uploads.read_refusals(report)
        if refusals.height == 0:
            raise NotFound("没有被拒收的行", "no refused rows")
        with tempfile.NamedTemporaryFile(
            dir=report.parent, prefix=".refused-", suffix=".xlsx", delete=False
        ) as handle:
            partial = Path(handle.name)
        try:
            refusals_workbook(refusals, partial)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    stem = Path(file_name).stem or "upload"
    shown = f"{stem}-{'refused' if language == 'en' else '拒收明细'}.xlsx"
    return FileResponse(
        target,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "content-disposition": (
                f"attachment; filename=\"refused.xlsx\"; filename*=UTF-8''{quote(shown)}"
            )
        },
    )


# --- the list and one feed ----------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def feeds_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "feeds")
    feeds = service.readable_feeds(actor)
    newest: dict[str, list[FeedBatch]] = defaultdict(list)
    for batch in service.latest_batches(actor, session, PER_FEED):
        newest[batch.feed].append(batch)
    rows = [
        {
            "spec": spec,
            "title": _title(spec),
            "may_send": service.may_send(actor, spec),
            "batches": newest.get(spec.id, []),
        }
        for spec in sorted(feeds, key=lambda spec: (spec.department, spec.id))
    ]
    return render(request, actor, "console/feeds/index.html", {"feeds": rows})


def _feed_page(
    request: Request,
    actor: Actor,
    session: Session,
    spec: FeedSpec,
    errors: list[tuple[str | None, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    sheet: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "spec": spec,
        "title": _title(spec),
        "columns": _column_rows(spec),
        "may_send": service.may_send(actor, spec),
        "batches": service.list_batches(actor, session, spec.id),
        "errors": errors or [],
        "field_errors": field_errors or {},
        "sheet": sheet or "",
        "max_bytes": UPLOAD_BYTES,
        "max_megabytes": UPLOAD_BYTES // (1024 * 1024),
    }
    return render(request, actor, "console/feeds/feed.html", context, status_code)


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request, batch_id: ObjectId, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "feeds")
    batch = service.get_batch(actor, session, batch_id)
    spec = _titles().get(batch.feed)
    refusals = uploads.read_refusals(uploads.batch_report(batch.feed, batch.digest))
    context = {
        "batch": batch,
        "spec": spec,
        "title": _title(spec) if spec else batch.feed,
        "refusals": _refusal_rows(refusals),
        "refusals_kept": refusals.height,
    }
    return render(request, actor, "console/feeds/batch.html", context)


@router.get("/batches/{batch_id}/refusals.xlsx")
def batch_refusals(
    request: Request, batch_id: ObjectId, actor: CurrentActor, session: DbSession
) -> FileResponse:
    console_actor(actor, "feeds")
    batch = service.get_batch(actor, session, batch_id)
    return _workbook_response(uploads.batch_report(batch.feed, batch.digest), batch.file_name)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: ObjectId, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """An import job's progress (the fragment alone for the page's own polling)."""
    console_actor(actor, "feeds")
    job = jobs.get_job(actor, session, job_id)
    if job.kind != "feed_import":
        raise NotFound(f"没有任务 {job_id}", f"no job {job_id}")
    if job.state in ("done", "failed"):
        # The job removed the file; what the preview kept beside it goes too.
        uploads.discard(Path(str(job.params.get("path", ""))).parent.name)
    result = job.result or {}
    context = {
        "job": job,
        "state_word": _(STATUS_WORDS.get(job.state, job.state)),
        "file_name": job.params.get("file_name") or "",
        "feed": job.params.get("feed_id"),
        "batch_id": result.get("batch_id"),
        "rows_imported": result.get("rows_imported"),
        "problems": [_problem_text(item) for item in (job.error_details or [])[:LISTED]],
        "fragment": request.headers.get("hx-request") == "true",
    }
    template = (
        "console/feeds/job_fragment.html" if context["fragment"] else "console/feeds/job.html"
    )
    return render(request, actor, template, context)


def _problem_text(item: dict[str, Any]) -> str:
    """A failed job's problem (``FieldProblem.as_dict``) in the page's language."""
    return i18n.problem_text(
        FieldProblem(
            str(item.get("field") or ""),
            item.get("value"),
            str(item.get("reason_zh") or ""),
            str(item.get("reason_en") or ""),
            file=item.get("file"),
            row=item.get("row"),
        )
    )


@router.get("/{feed}", response_class=HTMLResponse)
def feed_page(request: Request, feed: str, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "feeds")
    return _feed_page(request, actor, session, service.readable_feed(actor, feed))


# --- upload, preview, confirm --------------------------------------------------------------


def _sendable(actor: Actor, feed: str) -> FeedSpec:
    spec = service.readable_feed(actor, feed)
    if not service.may_send(actor, spec):
        raise Forbidden(
            f"只有 {spec.department} 的审核人员或管理员可以导入此数据源",
            f"only {spec.department}'s reviewers or an administrator may import into this feed",
        )
    return spec


def _error_lines(error: LuodiError, field: str | None) -> list[tuple[str | None, str]]:
    lines: list[tuple[str | None, str]] = [(field, i18n.error_message(error))]
    lines += [(field, i18n.problem_text(problem)) for problem in error.details[:LISTED]]
    # The first problem often repeats the message (a file's only problem): say it once.
    return list(dict.fromkeys(lines))


@router.post("/{feed}/uploads", response_class=HTMLResponse)
def upload(
    request: Request,
    feed: str,
    actor: CurrentActor,
    session: DbSession,
    file: Annotated[UploadFile | None, File()] = None,
    sheet: Annotated[str | None, Form(max_length=100)] = None,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Keep the file and check it (a dry run); the preview page follows."""
    console_actor(actor, "feeds")
    check_form(request, csrf_token)
    spec = _sendable(actor, feed)
    sheet = (sheet or "").strip() or None
    if file is None or not file.filename:
        message = _("请选择要上传的文件")
        return _feed_page(
            request, actor, session, spec, [("file", message)], {"file": message}, sheet, 422
        )
    held: uploads.Held | None = None
    try:
        held = uploads.hold(actor, spec.id, file.file, file.filename, UPLOAD_BYTES, sheet)
        result = service.import_file(
            actor,
            session,
            spec.id,
            held.path,
            dry_run=True,
            sheet=held.sheet,
            report=held.refusals_path,
            file_name=held.file_name,
        )
    except Invalid as error:
        session.rollback()
        if held is not None:
            uploads.discard(held.id)
        lines = _error_lines(error, "file")
        return _feed_page(request, actor, session, spec, lines, {"file": lines[0][1]}, sheet, 422)
    if result.status == ImportStatus.ALREADY_IMPORTED and result.batch_id is not None:
        uploads.discard(held.id)
        return done(
            f"/console/feeds/batches/{result.batch_id}",
            _("此文件此前已导入（批次 %(batch)s），未作改动", batch=result.batch_id),
        )
    held.result = result.model_dump(mode="json", exclude={"report_files"})
    held.save()
    return done(
        f"/console/feeds/{spec.id}/uploads/{held.id}", _("预检完成：尚未导入，请核对后确认")
    )


def _held(actor: Actor, feed: str, held_id: str) -> uploads.Held:
    held = uploads.find(actor, held_id)
    if held.feed != feed:
        raise NotFound("没有这个上传的文件（可能已导入或已过期）", "no such uploaded file")
    return held


def _preview_page(
    request: Request,
    actor: Actor,
    spec: FeedSpec,
    held: uploads.Held,
    errors: list[tuple[str | None, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    preview = held.preview
    context = {
        "spec": spec,
        "title": _title(spec),
        "held": held,
        "preview": preview,
        "encoding": ENCODING_WORDS.get(preview.encoding, preview.encoding),
        "refusals": _refusal_rows(preview.rejections),
        "as_job": preview.rows_read > IN_REQUEST_ROWS,
        "errors": errors or [],
    }
    return render(request, actor, "console/feeds/preview.html", context, status_code)


@router.get("/{feed}/uploads/{held_id}", response_class=HTMLResponse)
def preview_page(request: Request, feed: str, held_id: str, actor: CurrentActor) -> Response:
    console_actor(actor, "feeds")
    held = _held(actor, feed, held_id)
    if held.job_id is not None:
        return RedirectResponse(f"/console/feeds/jobs/{held.job_id}", status_code=303)
    return _preview_page(request, actor, _sendable(actor, feed), held)


@router.get("/{feed}/uploads/{held_id}/refusals.xlsx")
def preview_refusals(request: Request, feed: str, held_id: str, actor: CurrentActor) -> Response:
    console_actor(actor, "feeds")
    held = _held(actor, feed, held_id)
    return _workbook_response(held.refusals_path, held.file_name)


@router.post("/{feed}/uploads/{held_id}/discard")
def discard(
    request: Request,
    feed: str,
    held_id: str,
    actor: CurrentActor,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    console_actor(actor, "feeds")
    check_form(request, csrf_token)
    held = _held(actor, feed, held_id)
    if held.job_id is not None:
        raise Conflict("文件已在导入中，不能放弃", "the file is being imported already")
    uploads.discard(held.id)
    return done(
        f"/console/feeds/{feed}", _("已放弃上传的文件 %(file)s，未导入", file=held.file_name)
    )


@router.post("/{feed}/uploads/{held_id}/import")
def confirm(
    request: Request,
    feed: str,
    held_id: str,
    actor: CurrentActor,
    session: DbSession,
    background: BackgroundTasks,
    digest: Annotated[str, Form(max_length=64)] = "",
    accept_partial: Annotated[str | None, Form(max_length=8)] = None,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Import the previewed file: the same stored file (its digest is the preview's), by the
    service's rule (all or nothing, or only the accepted rows when the person chose so)."""
    console_actor(actor, "feeds")
    check_form(request, csrf_token)
    held = _held(actor, feed, held_id)
    spec = _sendable(actor, feed)
    if held.job_id is not None:
        return RedirectResponse(f"/console/feeds/jobs/{held.job_id}", status_code=303)
    preview = held.preview
    if digest != preview.digest or uploads.digest_of(held.path) != preview.digest:
        raise Conflict(
            f"文件 {held.file_name} 与预检时的不同，未导入；请重新上传",
            f"file {held.file_name} is not the one previewed; nothing imported, upload it again",
        )
    partial = accept_partial == "1"
    if preview.rows_imported == 0:
        return _preview_page(
            request, actor, spec, held, [(None, _("没有可导入的行，请修改文件后重新上传"))], 422
        )
    if preview.rows_rejected and not partial:
        message = _(
            "文件有 %(refused)s 行有错误：请修改后重新上传，或勾选确认只导入通过校验的 %(accepted)s 行",
            refused=preview.rows_rejected,
            accepted=preview.rows_imported,
        )
        return _preview_page(request, actor, spec, held, [("accept_partial", message)], 422)
    if preview.rows_read > IN_REQUEST_ROWS:
        return _submit_job(request, actor, session, spec, held, partial)
    try:
        result = service.import_file(
            actor,
            session,
            spec.id,
            held.path,
            accept_partial=partial,
            sheet=held.sheet,
            write_reports=False,
            file_name=held.file_name,
        )
        if result.digest != preview.digest:
            raise Conflict(
                f"文件 {held.file_name} 与预检时的不同，未导入；请重新上传",
                f"file {held.file_name} is not the one previewed; nothing imported",
            )
    except (Invalid, Conflict) as error:
        session.rollback()
        return _preview_page(request, actor, spec, held, _error_lines(error, None), error.status)
    return _after_import(request, actor, spec, held, result, background)


def _after_import(
    request: Request,
    actor: Actor,
    spec: FeedSpec,
    held: uploads.Held,
    result: ImportResult,
    background: BackgroundTasks,
) -> Response:
    if result.status == ImportStatus.ALREADY_IMPORTED and result.batch_id is not None:
        background.add_task(uploads.discard, held.id)
        return done(
            f"/console/feeds/batches/{result.batch_id}",
            _("此文件此前已导入（批次 %(batch)s），未作改动", batch=result.batch_id),
        )
    if result.status != ImportStatus.IMPORTED or result.batch_id is None:
        # What changed since the preview (the registry, or the rule) refused the file now.
        message = _("有 %(n)s 行有错误，未导入任何数据", n=result.rows_rejected)
        return _preview_page(request, actor, spec, held, [(None, message)], 422)
    uploads.keep_for_batch(held, result.digest)
    background.add_task(uploads.discard, held.id)
    return done(
        f"/console/feeds/batches/{result.batch_id}",
        _("已导入 %(n)s 行（批次 %(batch)s）", n=result.rows_imported, batch=result.batch_id),
    )


def _submit_job(
    request: Request,
    actor: Actor,
    session: Session,
    spec: FeedSpec,
    held: uploads.Held,
    partial: bool,
) -> Response:
    job = jobs.submit(
        actor,
        session,
        "feed_import",
        {
            "feed_id": spec.id,
            "path": str(held.path),
            "file_name": held.file_name,
            "accept_partial": partial,
            "sheet": held.sheet,
        },
    )
    held.job_id = job.id
    held.save()
    uploads.keep_for_batch(held, held.preview.digest)
    return done(f"/console/feeds/jobs/{job.id}", _("已开始导入，完成后可查看批次"))
