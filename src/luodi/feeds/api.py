"""Departments push records or upload files; same checks and all-or-nothing rule as the CLI.

A response lists the refused records with reasons (HTTP 422 when nothing was imported). A department
token (``luodi user token add``) or a reviewer of the department may push; nobody else.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from luodi.feeds import catalog, service
from luodi.feeds.schemas import BatchRead, ImportResult, ImportStatus
from luodi.files import safe_file_name
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.params import ObjectId

router = APIRouter(prefix="/api/v1/feeds", tags=["feeds 部门数据"])
MAX_RECORDS = 100_000


class RecordsPush(BaseModel):
    records: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_RECORDS,
        description="每条记录以列名或中文表头为键 / keyed by column names or Chinese headers",
    )
    dry_run: bool = False
    accept_partial: bool = False


def _respond(result: ImportResult) -> JSONResponse:
    refused = result.status == ImportStatus.REJECTED or (
        result.status == ImportStatus.DRY_RUN and result.rows_rejected > 0
    )
    return JSONResponse(status_code=422 if refused else 200, content=result.model_dump(mode="json"))


@router.get("")
def list_feeds() -> list[dict[str, Any]]:
    """已声明的数据源及其列、中文表头 / the declared feeds with columns and headers."""
    return [
        {
            "id": spec.id,
            "department": spec.department,
            "title": spec.title.model_dump(),
            "key": spec.key,
            "columns": {
                name: {"type": column.type, "required": column.required, "headers": column.headers}
                for name, column in spec.columns.items()
            },
            "facts": sorted({fact.variable for fact in spec.facts}),
        }
        for spec in catalog.load_feeds().values()
    ]


@router.get("/batches", response_model=list[BatchRead])
def list_batches(
    actor: CurrentActor, session: DbSession, feed: str | None = None
) -> list[BatchRead]:
    """已导入的批次，最新在前 / imported batches, newest first."""
    return [BatchRead.model_validate(batch) for batch in service.list_batches(actor, session, feed)]


@router.get("/batches/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: ObjectId, actor: CurrentActor, session: DbSession) -> BatchRead:
    """一个导入批次（本部门以外的批次视同不存在）/ one batch (another department's: 404)."""
    return BatchRead.model_validate(service.get_batch(actor, session, batch_id))


@router.post("/{feed}/records", response_model=ImportResult)
def push_records(
    feed: str, body: RecordsPush, actor: CurrentActor, session: DbSession
) -> JSONResponse:
    """推送 JSON 记录：全部通过才写入（或 accept_partial）/ push records, all or nothing."""
    result = service.import_records(
        actor,
        session,
        feed,
        body.records,
        dry_run=body.dry_run,
        accept_partial=body.accept_partial,
    )
    return _respond(result)


@router.post("/{feed}/files", response_model=ImportResult)
def upload_file(
    feed: str,
    actor: CurrentActor,
    session: DbSession,
    file: Annotated[UploadFile, File(description="CSV（UTF-8/GBK）或 XLSX")],
    dry_run: Annotated[bool, Form()] = False,
    accept_partial: Annotated[bool, Form()] = False,
    sheet: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """上传文件：与命令行相同的校验和全有或全无规则 / upload a file, same rules as the CLI."""
    name = safe_file_name(file.filename or "upload.csv")
    with tempfile.TemporaryDirectory(prefix="luodi-upload-") as folder:
        path = Path(folder) / name
        with path.open("wb") as target:
            shutil.copyfileobj(file.file, target, length=1 << 22)
        result = service.import_file(
            actor,
            session,
            feed,
            path,
            dry_run=dry_run,
            accept_partial=accept_partial,
            sheet=sheet,
            write_reports=False,
            file_name=name,
        )
    return _respond(result)
