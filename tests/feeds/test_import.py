"""Importing department files into a real database (SQLite and PostgreSQL): encodings, Chinese
headers, XLSX, all or nothing, partial imports, idempotence, supersession and as-of reads."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid, NotFound
from luodi.facts import service as facts_service
from luodi.facts.models import Fact
from luodi.feeds import catalog, service
from luodi.feeds.models import FeedBatch
from luodi.feeds.schemas import ImportStatus
from luodi.kernels.masking import mask_id_number
from luodi.registry.models import ResidencePermit, Resident
from tests.factories import id_number

CHINESE = {"id_number": "公民身份号码", "period": "缴费年度", "months_paid": "缴费月数"}


def fact_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Fact)) or 0)


def insurance(small_city: Path, rows: int = 200) -> pl.DataFrame:
    return pl.read_csv(small_city / "social_insurance.csv", infer_schema=False).head(rows)


def write_gbk(frame: pl.DataFrame, path: Path) -> Path:
    path.write_bytes(frame.rename(CHINESE, strict=False).write_csv().encode("gbk"))
    return path


def test_gbk_file_with_chinese_headers(db: Session, small_city: Path, tmp_path: Path) -> None:
    frame = insurance(small_city).drop("credit_code")
    path = write_gbk(frame, tmp_path / "社保.csv")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert result.encoding == "gb18030"
    assert result.headers["id_number"] == "公民身份号码"
    assert result.rows_read == result.rows_imported == result.facts_written == frame.height
    assert fact_count(db) == frame.height
    batch = db.get_one(FeedBatch, result.batch_id)
    assert (batch.file_name, batch.imported_by, batch.rows_imported) == (
        "社保.csv",
        "system",
        frame.height,
    )
    first = db.scalars(select(Fact).where(Fact.source_row == 2)).one()
    assert (first.feed, first.batch_id, first.source) == (
        "social_insurance",
        batch.id,
        "社保.csv:2",
    )
    assert first.value == frame["months_paid"][0]


def test_bom_file_with_a_title_row_and_other_headers(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    frame = insurance(small_city, 30).rename(
        {
            "id_number": "身份证号",
            "period": "年度",
            "months_paid": "实缴月数",
            "credit_code": "备注",
        }
    )
    text = "2025年度社保缴费明细,,,\n" + frame.write_csv()
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert (result.encoding, result.header_row) == ("utf-8-sig", 2)
    assert result.ignored_headers == ["备注"]
    rows = db.scalars(select(Fact.source_row).order_by(Fact.source_row)).all()
    assert rows[0] == 3 and len(rows) == 30


def write_merged_xlsx(frame: pl.DataFrame, path: Path) -> Path:
    """A department's spreadsheet: a merged title, a header merged over two rows, a merged
    group header, an ID column stored as text, and empty rows at the end."""
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("明细")
    centre = book.add_format({"align": "center"})
    sheet.merge_range("A1:D1", "社会保险缴费明细（2025）", centre)
    sheet.merge_range("A2:A3", "公民身份号码", centre)
    sheet.merge_range("B2:C2", "缴费信息", centre)
    sheet.write("B3", "缴费年度")
    sheet.write("C3", "缴费月数")
    sheet.write("D2", "备注")
    for index, row in enumerate(frame.iter_rows(named=True)):
        sheet.write_string(index + 3, 0, row["id_number"])
        # A year as a number, a month (2025-01) as text, as departments' sheets hold them.
        period = row["period"]
        sheet.write(index + 3, 1, int(period) if len(period) == 4 else period)
        sheet.write_number(index + 3, 2, int(row["months_paid"]))
    last = frame.height + 3
    for blank in range(last, last + 5):
        sheet.write_blank(blank, 0, None, centre)
        sheet.write_string(blank, 1, "")
    book.close()
    return path


def test_xlsx_with_merged_headers_and_trailing_empty_rows(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    frame = insurance(small_city, 50)
    path = write_merged_xlsx(frame, tmp_path / "社保.xlsx")
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert result.header_row == 3 and result.rows_read == 50
    assert result.headers["id_number"] == "公民身份号码"
    # Excel's own row numbers: the first data row is row 4.
    assert min(db.scalars(select(Fact.source_row)).all()) == 4


def test_xlsx_unknown_sheet_is_a_clear_error(db: Session, small_city: Path, tmp_path: Path) -> None:
    path = write_merged_xlsx(insurance(small_city, 5), tmp_path / "a.xlsx")
    with pytest.raises(Invalid) as raised:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path, sheet="Sheet9")
    assert "明细" in raised.value.message_zh


def test_one_bad_row_among_many_imports_nothing(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    frame = insurance(small_city, 500)
    bad = frame.with_columns(
        months_paid=pl.when(pl.int_range(pl.len()) == 321)
        .then(pl.lit("1.5"))
        .otherwise("months_paid")
    )
    path = tmp_path / "bad.csv"
    bad.write_csv(path)
    before = fact_count(db)
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert result.status == ImportStatus.REJECTED
    assert (result.rows_rejected, result.rows_imported, result.facts_written) == (1, 0, 0)
    assert fact_count(db) == before
    assert db.scalar(select(func.count()).select_from(FeedBatch)) == 0
    only = result.rejections[0]
    assert (only.row, only.column, only.value) == (323, "months_paid", "1.5")
    # The report: next to the file, XLSX and CSV, every refused value with row and reason.
    report_csv = tmp_path / "bad.rejected.csv"
    report_xlsx = tmp_path / "bad.rejected.xlsx"
    assert sorted(result.report_files) == sorted([str(report_csv), str(report_xlsx)])
    table = pl.read_csv(report_csv)
    assert table.row(0) == (
        323,
        "months_paid",
        "months_paid",
        1.5,
        "应为整数",
        "must be a whole number",
    )
    assert pl.read_excel(report_xlsx).height == 1


def test_accept_partial_imports_the_good_rows(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    frame = insurance(small_city, 100)
    stranger = id_number(sequence=999)
    bad = pl.concat(
        [
            frame,
            pl.DataFrame(
                {
                    **{name: [None] for name in frame.columns},
                    "id_number": [stranger],
                    "period": ["2025"],
                    "months_paid": ["3"],
                },
                schema=frame.schema,
            ),
        ]
    )
    path = tmp_path / "partial.csv"
    bad.write_csv(path)
    report = tmp_path / "out" / "rejected.xlsx"
    result = service.import_file(
        SYSTEM_ACTOR, db, "social_insurance", path, accept_partial=True, report=report
    )
    assert result.status == ImportStatus.IMPORTED
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (101, 100, 1)
    assert result.rejections[0].reason_en == "no such resident in the registry"
    assert result.rejections[0].value != stranger  # masked
    assert result.report_files == [str(report)] and report.exists()
    # The report masks it as the terminal does (it was written in full).
    in_report = pl.read_excel(report)
    assert in_report["值 value"].to_list() == [mask_id_number(stranger)]
    assert fact_count(db) == 100


def test_dry_run_writes_nothing(db: Session, small_city: Path, tmp_path: Path) -> None:
    path = tmp_path / "dry.csv"
    insurance(small_city, 20).write_csv(path)
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path, dry_run=True)
    assert result.status == ImportStatus.DRY_RUN and result.rows_imported == 20
    assert fact_count(db) == 0


def test_reimporting_the_same_content_changes_nothing(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    path = tmp_path / "same.csv"
    insurance(small_city, 40).write_csv(path)
    first = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    copy = tmp_path / "renamed-copy.csv"
    copy.write_bytes(path.read_bytes())
    again = service.import_file(SYSTEM_ACTOR, db, "social_insurance", copy)
    assert again.status == ImportStatus.ALREADY_IMPORTED and again.batch_id == first.batch_id
    assert fact_count(db) == 40
    assert db.scalar(select(func.count()).select_from(FeedBatch)) == 1


def test_a_later_file_supersedes_and_the_history_stays(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    education = pl.read_csv(small_city / "education.csv", infer_schema=False).head(20)
    person = education["id_number"][3]
    resident_id = db.scalars(select(Resident.id).where(Resident.id_number == person)).one()
    older = tmp_path / "edu-2025.csv"
    education.with_columns(education=pl.lit("junior_high")).write_csv(older)
    service.import_file(SYSTEM_ACTOR, db, "education", older)
    newer = tmp_path / "edu-2026.csv"
    education.filter(pl.col("id_number") == person).with_columns(
        education=pl.lit("本科")
    ).write_csv(newer)
    result = service.import_file(SYSTEM_ACTOR, db, "education", newer)
    # Two facts (education, skill level) of one record were superseded, none deleted.
    assert result.facts_superseded == 2
    history = facts_service.fact_sources(SYSTEM_ACTOR, db, resident_id, ["education"])
    assert [(source.value, source.superseded_by) for source in history] == [
        ("bachelor", None),
        ("junior_high", result.batch_id),
    ]
    variables = catalog.fact_variables()
    now = facts_service.facts_as_of(SYSTEM_ACTOR, db, [variables["education"]], date(2026, 3, 1))
    values = dict(zip(now["resident_id"], now["education"], strict=True))
    assert values[resident_id] == "bachelor"
    assert list(values.values()).count("junior_high") == 19


def test_sums_read_only_the_current_facts_valid_by_the_date(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    person = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"][0]
    resident_id = db.scalars(select(Resident.id).where(Resident.id_number == person)).one()

    def upload(name: str, rows: list[tuple[str, str]]) -> None:
        path = tmp_path / name
        pl.DataFrame(
            {
                "id_number": [person] * len(rows),
                "period": [p for p, _ in rows],
                "months_paid": [m for _, m in rows],
            }
        ).write_csv(path)
        assert service.import_file(SYSTEM_ACTOR, db, "social_insurance", path).status == "imported"

    upload("a.csv", [("2023", "12"), ("2024", "6")])
    upload("b.csv", [("2024", "12"), ("2025", "5")])  # corrects 2024, adds 2025
    variable = catalog.fact_variables()["social_insurance_months"]

    def months(as_of: date) -> int:
        frame = facts_service.facts_as_of(SYSTEM_ACTOR, db, [variable], as_of)
        return dict(zip(frame["resident_id"], frame["social_insurance_months"], strict=True))[
            resident_id
        ]

    assert months(date(2026, 3, 1)) == 12 + 12 + 5
    assert months(date(2024, 6, 30)) == 12 + 12
    assert months(date(2023, 6, 30)) == 12


def test_registering_feeds_create_people_then_permits(db: Session, tmp_path: Path) -> None:
    newcomer = id_number(region="330282", birth=date(1995, 2, 3), sequence=771)
    people = tmp_path / "新登记.csv"
    pl.DataFrame(
        {
            "身份证号": [newcomer],
            "姓名": ["王小明"],
            "镇街代码": ["330282003"],
            "手机号码": ["13912345678"],
        }
    ).write_csv(people)
    result = service.import_file(SYSTEM_ACTOR, db, "residents", people)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert (result.registered, result.residents_created) == (1, 1)
    resident = db.scalars(select(Resident).where(Resident.id_number == newcomer)).one()
    assert (resident.name, resident.birth_date) == ("王小明", date(1995, 2, 3))
    permits = tmp_path / "居住证.csv"
    pl.DataFrame(
        {
            "居住证号码": ["JZ-NEW-1"],
            "公民身份号码": [newcomer],
            "签发镇街代码": ["330282003"],
            "签发日期": ["2025/3/1"],
            "有效期至": ["2028年2月29日"],
            "状态": ["有效"],
        }
    ).write_csv(permits)
    result = service.import_file(SYSTEM_ACTOR, db, "permits", permits)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    permit = db.scalars(
        select(ResidencePermit).where(ResidencePermit.permit_number == "JZ-NEW-1")
    ).one()
    assert (permit.resident_id, permit.expiry_date, permit.status) == (
        resident.id,
        date(2028, 2, 29),
        "valid",
    )


def test_registry_refusal_names_the_row_of_the_department_file(db: Session, tmp_path: Path) -> None:
    newcomer = id_number(region="330282", birth=date(1995, 2, 3), sequence=772)
    path = tmp_path / "children.csv"
    pl.DataFrame(
        {
            "id_number": [newcomer],
            "household_number": ["H-NOT-THERE"],
            "child_id_number": [id_number(region="330282", birth=date(2019, 1, 1), sequence=11)],
            "child_name": ["小明"],
        }
    ).write_csv(path)
    # The parent is unknown: refused by the feed's own person check.
    result = service.import_file(SYSTEM_ACTOR, db, "children", path)
    assert result.status == ImportStatus.REJECTED
    assert result.rejections[0].reason_en == "no such resident in the registry"


def test_unknown_feed_and_missing_columns(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("姓名,年龄\n张三,30\n", encoding="utf-8")
    with pytest.raises(NotFound) as missing:
        service.import_file(SYSTEM_ACTOR, db, "no_such_feed", path)
    assert "social_insurance" in missing.value.message_zh
    with pytest.raises(Invalid) as raised:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert "表头" in raised.value.message_zh
    path.write_text("身份证号,年度\n1,2\n", encoding="utf-8")
    with pytest.raises(Invalid) as raised:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert "months_paid" in raised.value.message_zh
    assert "缴费月数" in raised.value.details[0].reason_zh
