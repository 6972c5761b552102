"""What an import reports: counts, the refused values and where the report files are."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class ImportStatus(StrEnum):
    IMPORTED = "imported"
    ALREADY_IMPORTED = "already_imported"
    REJECTED = "rejected"
    DRY_RUN = "dry_run"


STATUS_LABELS = {
    ImportStatus.IMPORTED: "已导入 / imported",
    ImportStatus.ALREADY_IMPORTED: "此前已导入，未作改动 / already imported, nothing changed",
    ImportStatus.REJECTED: "有错误，未导入任何数据 / rejected, nothing imported",
    ImportStatus.DRY_RUN: "试运行，未写入 / dry run, nothing written",
}


class Rejection(BaseModel):
    row: int
    """The row as seen in the source (records pushed by the API: the record's position)."""
    column: str
    header: str
    value: str | None
    """As written; ID numbers masked."""
    reason_zh: str
    reason_en: str


class ImportResult(BaseModel):
    feed: str
    file_name: str
    digest: str
    encoding: str
    header_row: int
    headers: dict[str, str]
    ignored_headers: list[str] = Field(default_factory=list)
    status: ImportStatus
    batch_id: int | None = None
    imported_at: datetime | None = None
    already_imported_at: datetime | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    facts_written: int = 0
    facts_superseded: int = 0
    residents_created: int = 0
    registered: int = 0
    """Rows written into the registry table of a registry feed (new keys only)."""
    rejections: list[Rejection] = Field(default_factory=list)
    """The first refused values; the report files list them all."""
    report_files: list[str] = Field(default_factory=list)
    seconds: float = 0.0


class BatchRead(BaseModel):
    model_config = {"from_attributes": True}

    id: int
    feed: str
    department: str
    file_name: str
    digest: str
    imported_by: str
    imported_at: datetime
    rows_read: int
    rows_imported: int
    rows_rejected: int
    facts_written: int
    facts_superseded: int
    residents_created: int
