"""The approved list of a tiered benefit for the bank that pays it (新市民贷: 慈溪农商银行).

Unlike a notice, the list names each borrower by the full ID number: the bank must identify
its customer (反洗钱法 第十六条, 客户身份识别) and cannot by a masked one. 个人信息保护法 第二十三条
allows giving it to the bank only with each person's separate consent, which the program's
application carries (loan.yaml: ``bank_consent``, a condition of approval); 第六条 (最小必要):
nothing the bank does not need (no phone, no address, no household). Only the admin and the
program's own department export it, only from a final run (the list the notice period
settled), and every export is audited (docs/programs.md, "loan").
"""

from __future__ import annotations

import io

import polars as pl
from sqlalchemy.orm import Session

from luodi.allocation import repository
from luodi.allocation.models import AllocationRun, Outcome
from luodi.allocation.service import _stored_results
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Conflict, Invalid
from luodi.programs import repository as programs_repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import ProgramCycle
from luodi.programs.spec import ProgramKind

FORMATS = ("csv", "xlsx")

COLUMNS = {
    "application_id": "申请编号",
    "name": "姓名",
    "id_number": "身份证号码",
    "points": "积分",
    "entitlement": "核准额度（元）",
    "rate": "年利率（%）",
    "term_months": "期限（月）",
}
"""The bank's columns, in order: column → the heading it reads."""


def approved_list(
    actor: Actor, session: Session, run_id: int, file_format: str
) -> tuple[AllocationRun, pl.DataFrame, bytes]:
    """The run, its approved rows (``COLUMNS``, full ID numbers) and the file in
    ``file_format`` (csv or xlsx); the export is audited."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    if file_format not in FORMATS:
        raise Invalid.field(
            "format", file_format, "格式只能是 csv 或 xlsx", "the format is csv or xlsx"
        )
    # The owning department's reviewers (and the admin) only: the runs they may change.
    run = programs_repository.one(
        session,
        repository.writable_runs(actor).where(AllocationRun.id == run_id),
        f"没有分配批次 {run_id}",
        f"no allocation run {run_id}",
    )
    cycle = session.get(ProgramCycle, run.cycle_id)
    assert cycle is not None  # a run's cycle is a foreign key
    spec = cycle_spec(cycle)
    if spec.kind is not ProgramKind.TIERED_BENEFIT:
        raise Conflict(
            f"项目 {spec.id} 不是分档待遇，没有给银行的核准名单",
            f"program {spec.id} is not a tiered benefit: no approved list for a bank",
        )
    if not run.final:
        raise Conflict(
            f"分配批次 {run.id} 尚未确定（公示期满、异议处理完毕后才能交给银行）",
            f"run {run.id} is not final: the list goes to the bank after the notice period",
        )
    results = _stored_results(session, run.id).filter(pl.col("outcome") == Outcome.PLACED.value)
    people, _ = repository.names(session, actor, results["resident_id"].to_list(), [])
    rows = (
        results.join(people, on="resident_id", how="left")
        .select(list(COLUMNS))
        .sort("application_id")
    )
    content = (
        to_csv(rows) if file_format == "csv" else to_xlsx(rows, f"{spec.name.zh}·{cycle.name}")
    )
    audit.record(
        session,
        actor,
        "allocation.bank_export",
        "allocation_run",
        run.id,
        # What went out, never who: the digest of the rows identifies the list.
        after={"rows": rows.rows()},
        detail={"format": file_format, "rows": rows.height, "program": spec.id},
    )
    return run, rows, content


def to_csv(rows: pl.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark (a spreadsheet opens it as UTF-8), Chinese headings; a
    whole amount of yuan written as one (50000, not 50000.0)."""
    amount = pl.col("entitlement")
    written = rows.with_columns(
        pl.when(amount == amount.round(0))
        .then(amount.cast(pl.Int64).cast(pl.String))
        .otherwise(amount.cast(pl.String))
        .alias("entitlement")
    )
    return "\ufeff".encode() + written.rename(COLUMNS).write_csv().encode()


def to_xlsx(rows: pl.DataFrame, title: str) -> bytes:
    """ID numbers and the application number as text (a spreadsheet number would round an
    18-digit ID number and lose an X)."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("核准名单")
    bold = book.add_format({"bold": True})
    sheet.write_string(0, 0, title, book.add_format({"bold": True, "font_size": 14}))
    for index, label in enumerate(COLUMNS.values()):
        sheet.write_string(2, index, label, bold)
    texts = {"application_id", "name", "id_number"}
    for r, row in enumerate(rows.iter_rows(named=True), start=3):
        for c, column in enumerate(COLUMNS):
            value = row[column]
            if value is None:
                continue
            if column in texts:
                sheet.write_string(r, c, str(value))
            else:
                sheet.write_number(r, c, value)
    sheet.set_column(0, len(COLUMNS) - 1, 16)
    book.close()
    return buffer.getvalue()
