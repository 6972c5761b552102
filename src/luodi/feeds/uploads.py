"""A department's file between its preview and its import: kept on the server under an
opaque id, bound to the account that uploaded it.

The console's import is two steps: the upload is checked (a dry run of
``service.import_file``) and the page shows what would be accepted and refused; the person
then confirms, and the same stored file is imported. Between the two the file waits in a
folder of its own under the data directory's ``uploads`` (``uploads/<id>/upload.<suffix>``,
where the ``feed_import`` job reads it too), beside what the preview found
(``held.json``) and the preview's every refusal (``refused.csv``, the service's report).
The id is random (128 bits) and names nothing the client sent; the client's file name is
only shown, never a path. Another account asking for the id hears "not found", as for any
object out of its reach.

The refusals of an imported batch are kept under ``feed-reports/<feed>/<digest>.csv`` (a
batch is one feed's one content, ``FeedBatch``'s unique key), so that its page lists them
after the upload is gone.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from luodi.auth.actor import Actor
from luodi.errors import FieldProblem, Invalid, NotFound
from luodi.feeds.schemas import ImportResult
from luodi.files import safe_file_name
from luodi.settings import get_settings

HELD_ID = re.compile(r"^[0-9a-f]{32}$")
HELD_FOR = timedelta(days=1)
"""An upload never confirmed (nor discarded) is removed after this long."""
SUFFIXES = (".csv", ".xlsx")
CHUNK_BYTES = 1 << 20
REPORT_COLUMNS = {
    "行号 row": "row",
    "列 column": "column",
    "表头 header": "header",
    "值 value": "value",
    "原因": "reason_zh",
    "reason": "reason_en",
}
"""The service's report (``service.write_report``) → the refusal's fields."""


def uploads_dir() -> Path:
    return (get_settings().data_dir / "uploads").resolve()


def reports_dir() -> Path:
    return (get_settings().data_dir / "feed-reports").resolve()


def owner_of(actor: Actor) -> str:
    """Who an upload belongs to: the account and the role it had (an account of the same name
    with another role is somebody else)."""
    return f"{actor.username}:{actor.role}"


@dataclass
class Held:
    id: str
    feed: str
    file_name: str
    """As uploaded (cleaned by ``files.safe_file_name``): shown, never used as a path."""
    owner: str
    uploaded_at: str
    size: int
    sheet: str | None
    result: dict[str, Any] | None = None
    """The dry run's ``ImportResult`` (JSON)."""
    job_id: int | None = None
    """The import job, once confirmed as one."""

    @property
    def folder(self) -> Path:
        return uploads_dir() / self.id

    @property
    def path(self) -> Path:
        return self.folder / f"upload{Path(self.file_name).suffix.lower()}"

    @property
    def refusals_path(self) -> Path:
        return self.folder / "refused.csv"

    @property
    def preview(self) -> ImportResult:
        if self.result is None:
            raise NotFound("没有预检结果", "no preview")
        return ImportResult.model_validate(self.result)

    def save(self) -> None:
        (self.folder / "held.json").write_text(
            json.dumps(asdict(self), ensure_ascii=False, default=str), encoding="utf-8"
        )


def hold(
    actor: Actor,
    feed_id: str,
    source: BinaryIO,
    file_name: str,
    limit: int,
    sheet: str | None = None,
) -> Held:
    """Store an uploaded file for ``actor`` (refused naming the file when it is not CSV or
    XLSX, is empty or is larger than ``limit`` bytes: nothing is kept then)."""
    name = safe_file_name(file_name or "upload.csv")
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise _refused(
            name,
            "只接受 CSV（UTF-8 或 GBK）或 XLSX 文件；旧版 .xls 请另存为 .xlsx",
            "only CSV (UTF-8 or GBK) or XLSX files; save an old .xls as .xlsx",
        )
    sweep()
    held = Held(
        id=uuid.uuid4().hex,
        feed=feed_id,
        file_name=name,
        owner=owner_of(actor),
        uploaded_at=datetime.now(UTC).isoformat(),
        size=0,
        sheet=sheet or None,
    )
    held.folder.mkdir(parents=True)
    try:
        with held.path.open("wb") as target:
            while chunk := source.read(CHUNK_BYTES):
                held.size += len(chunk)
                if held.size > limit:
                    megabytes = limit // (1024 * 1024)
                    raise _refused(
                        name,
                        f"文件超过 {megabytes} MB；更大的文件请用命令行 luodi feed import 导入",
                        f"the file is larger than {megabytes} MB; import larger files with "
                        "the command luodi feed import",
                    )
                target.write(chunk)
        if held.size == 0:
            raise _refused(name, "文件是空的", "the file is empty")
        held.save()
    except BaseException:
        discard(held.id)
        raise
    return held


def _refused(name: str, zh: str, en: str) -> Invalid:
    return Invalid(
        f"文件 {name}：{zh}", f"file {name}: {en}", [FieldProblem("file", name, zh, en, file=name)]
    )


def find(actor: Actor, held_id: str) -> Held:
    """The actor's own held upload; anybody else's, or one gone, is "not found"."""
    missing = NotFound("没有这个上传的文件（可能已导入或已过期）", "no such uploaded file")
    if not HELD_ID.match(held_id):
        raise missing
    meta = uploads_dir() / held_id / "held.json"
    if not meta.is_file():
        raise missing
    held = Held(**json.loads(meta.read_text(encoding="utf-8")))
    if held.owner != owner_of(actor) or held.id != held_id or _expired(held):
        raise missing
    return held


def _expired(held: Held) -> bool:
    return held.job_id is None and datetime.fromisoformat(held.uploaded_at) < (
        datetime.now(UTC) - HELD_FOR
    )


def sweep() -> int:
    """Remove the uploads left unconfirmed for longer than ``HELD_FOR`` (one handed to a job
    is the job's: it removes the file); how many."""
    folder = uploads_dir()
    removed = 0
    for meta in folder.glob("*/held.json") if folder.is_dir() else ():
        try:
            held = Held(**json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if _expired(held):
            discard(held.id)
            removed += 1
    return removed


def digest_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def discard(held_id: str) -> None:
    """Remove a held upload and what its preview wrote (after its import, or a refusal)."""
    if HELD_ID.match(held_id):
        shutil.rmtree(uploads_dir() / held_id, ignore_errors=True)


def read_refusals(path: Path) -> pl.DataFrame:
    """Every refusal of a report (``service.write_report``'s CSV) as row, column, header,
    value, reason_zh, reason_en; empty when there is none."""
    if not path.is_file():
        return pl.DataFrame(schema=dict.fromkeys(REPORT_COLUMNS.values(), pl.String))
    frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    return frame.rename({name: REPORT_COLUMNS[name] for name in frame.columns}).with_columns(
        pl.col("row").cast(pl.Int64, strict=False)
    )


def batch_report(feed_id: str, digest: str) -> Path:
    """Where the refusals of the batch of ``feed_id`` with content ``digest`` are kept."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", feed_id) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise NotFound("没有拒收明细", "no refusal report")
    return reports_dir() / feed_id / f"{digest}.csv"


def keep_for_batch(held: Held, digest: str) -> None:
    """The preview's refusals, kept for the batch the confirmed import makes."""
    if held.refusals_path.is_file():
        target = batch_report(held.feed, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(held.refusals_path, target)
        # Workbooks made from an earlier report of the same content (its import rolled back).
        for made in target.parent.glob(f"{target.stem}-*.xlsx"):
            made.unlink(missing_ok=True)
