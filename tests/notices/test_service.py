"""Notices on SQLite and PostgreSQL: rows stored as rows and paged in SQL, the digest kept
verifiable, files rendered once at publish, re-runs on the notice's own scoring run."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pypdf
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Conflict, Invalid, LuodiError
from luodi.notices import exports, service
from luodi.notices.models import NoticeExport, NoticeRow
from luodi.programs import intake
from luodi.registry import service as registry
from luodi.scoring import service as scoring
from luodi.settings import get_settings
from tests.notices.conftest import (
    RESCORED_AS_OF,
    REVIEWER,
    education_cycle,
    resident_actor,
    score,
)


def test_rows_are_stored_as_rows_and_paged_in_sql(db: Session) -> None:
    run_id = score(db)
    notice = service.publish(SYSTEM_ACTOR, db, scoring_run_id=run_id)
    scored = scoring.run_totals(SYSTEM_ACTOR, db, run_id).height
    stored = db.scalar(select(func.count()).where(NoticeRow.notice_id == notice.id))
    assert notice.row_count == stored == scored > 500

    # Pages in order cover every row once; the last page is short; a ref is one lookup.
    pages = [service.rows_page(db, notice, offset, 200) for offset in range(0, scored, 200)]
    every = pl.concat(pages)
    assert every.height == scored and every["ref"].n_unique() == scored
    assert every["rank"].is_sorted()
    assert service.rows_page(db, notice, scored - 3, 10).height == 3
    assert service.rows_page(db, notice, scored, 10).height == 0
    wanted = every.row(345, named=True)
    assert service.rows_page(db, notice, 0, 1, ref=wanted["ref"]).to_dicts() == [wanted]
    with pytest.raises(Invalid):
        service.rows_page(db, notice, -1, 10)
    with pytest.raises(Invalid):
        service.rows_page(db, notice, 0, service.MAX_PAGE_ROWS + 1)

    # The digest is SHA-256 of the published rows as JSON objects: anyone holding the pages
    # recomputes it, and a changed stored row no longer matches it.
    text = json.dumps(every.to_dicts(), ensure_ascii=False, sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest() == notice.rows_digest
    assert service.verify_digest(db, notice)
    db.execute(
        update(NoticeRow)
        .where(NoticeRow.notice_id == notice.id, NoticeRow.position == 1)
        .values(points=NoticeRow.points + 1)
    )
    assert not service.verify_digest(db, notice)


def test_files_are_rendered_once_at_publish_and_again_on_amendment(
    db: Session, residents: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = score(db)
    numbers = residents["id_number"].head(6).to_list()
    cycle = education_cycle(db, numbers, [True, False, True, True, True, True], run_id)
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    stored = {e.format: e for e in db.scalars(select(NoticeExport))}
    assert set(stored) == {"xlsx", "pdf"}
    assert {e.rows_digest for e in stored.values()} == {notice.rows_digest}
    assert stored["pdf"].content.startswith(b"%PDF-") and stored["xlsx"].content[:2] == b"PK"
    first = service.rows_page(db, notice, 0, 1).row(0, named=True)
    page = pypdf.PdfReader(io.BytesIO(stored["pdf"].content)).pages[0].extract_text()
    shown = "".join(page.replace("\x00", "").split())
    assert "申请编号" in shown and first["id_number"] in shown and first["ref"] in shown
    assert numbers[0] not in shown

    def no_render(*_args: object) -> bytes:
        raise AssertionError("a download must not render")

    monkeypatch.setattr(exports, "to_pdf", no_render)
    monkeypatch.setattr(exports, "to_xlsx", no_render)
    for _ in range(3):
        assert service.stored_export(db, notice, "pdf").content == stored["pdf"].content
        assert service.has_export(db, notice, "xlsx")
    monkeypatch.undo()

    # An amendment renders both again, for the new digest.
    resident = resident_actor(numbers[1])
    objection = service.file_objection(resident, db, notice.id, str(cycle["ids"][1]), "已毕业")
    service.review(REVIEWER, db, objection.id, uphold=True, reason="已核实毕业证书")
    intake.correct(SYSTEM_ACTOR, db, cycle["ids"][1], fields={"graduated": True})
    intake.verify(REVIEWER, db, [cycle["ids"][1]], approve=True)
    before = notice.rows_digest
    service.rerun(SYSTEM_ACTOR, db, notice.id)
    assert notice.rows_digest != before
    assert service.stored_export(db, notice, "pdf").rows_digest == notice.rows_digest
    assert service.stored_export(db, notice, "xlsx").rows_digest == notice.rows_digest


def test_a_missing_pdf_font_does_not_stop_publishing(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = score(db)
    font = get_settings().pdf_font
    monkeypatch.setattr(get_settings(), "pdf_font", Path("/nonexistent/NotoSansCJK.ttc"))
    notice = service.publish(SYSTEM_ACTOR, db, scoring_run_id=run_id)
    assert service.stored_export(db, notice, "xlsx").rows_digest == notice.rows_digest
    with pytest.raises(LuodiError) as refused:
        service.stored_export(db, notice, "pdf")
    assert refused.value.status == 503
    assert "fonts-noto-cjk" in refused.value.message_zh
    assert "/nonexistent" not in refused.value.message_zh + refused.value.message_en
    assert notice in service.notices_missing_exports(db)
    # With the font back, `luodi notice render` stores the PDF once.
    monkeypatch.setattr(get_settings(), "pdf_font", font)
    assert service.render_again(SYSTEM_ACTOR, db, notice.id) == []
    assert service.stored_export(db, notice, "pdf").content.startswith(b"%PDF-")
    assert notice not in service.notices_missing_exports(db)


def test_rerun_uses_the_notice_scoring_run_unless_another_is_confirmed(db: Session) -> None:
    """Published on run 1; the city is re-scored (run 2, a year on: most points change);
    one objection upheld. The re-run stays on run 1 and changes only the objected row;
    naming run 2 needs a confirmation, and then every changed row is listed."""
    first = score(db)
    both = scoring.run_totals(SYSTEM_ACTOR, db, first)
    people = registry.people(SYSTEM_ACTOR, db).select("resident_id", "id_number")
    numbers = people.join(both, on="resident_id")["id_number"].head(40).to_list()
    graduated = [index % 4 != 0 for index in range(len(numbers))]
    cycle = education_cycle(db, numbers, graduated, first)
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    assert notice.scoring_run_id == first
    second = score(db, RESCORED_AS_OF)

    objector, application = numbers[0], cycle["ids"][0]
    objection = service.file_objection(
        resident_actor(objector), db, notice.id, str(application), "我已取得学历证书"
    )
    service.review(REVIEWER, db, objection.id, uphold=True, reason="已核实毕业证书")
    intake.correct(SYSTEM_ACTOR, db, application, fields={"graduated": True})
    intake.verify(REVIEWER, db, [application], approve=True)

    with pytest.raises(Conflict) as refused:
        service.rerun(SYSTEM_ACTOR, db, notice.id, scoring_run_id=second)
    assert refused.value.status == 409
    assert str(first) in refused.value.message_zh and "确认" in refused.value.message_zh
    assert "confirm_other_scoring_run" in refused.value.message_en

    amendment = service.rerun(SYSTEM_ACTOR, db, notice.id)
    assert (amendment.scoring_run_id, amendment.other_scoring_run) == (first, False)
    changes = service.amendment_changes(db, notice, amendment.id)
    assert amendment.changed == len(changes) == 1
    assert changes[0]["ref"] == str(application)
    # The tiered layout's words and amount: refused, then granted 3,000.
    assert changes[0]["before"].startswith("未核准 | — |")
    assert changes[0]["after"].startswith("核准 | 3000.0 |")
    assert "*" in changes[0]["name"]  # masked
    assert notice.scoring_run_id == first

    # A second upheld objection, re-run on the newer run with confirmation: every row whose
    # points differ between the runs is listed, before and after.
    again = service.file_objection(
        resident_actor(objector), db, notice.id, str(application), "积分应按新数据"
    )
    service.review(REVIEWER, db, again.id, uphold=True, reason="按新计分批次重算")
    before = service.rows_page(db, notice, 0, 1000)
    confirmed = service.rerun(
        SYSTEM_ACTOR, db, notice.id, scoring_run_id=second, confirm_other_scoring_run=True
    )
    assert (confirmed.scoring_run_id, confirmed.other_scoring_run) == (second, True)
    later = scoring.run_totals(SYSTEM_ACTOR, db, second)
    moved = (
        # Not scored in the later run (the permit lapsed) counts as changed too.
        both.join(later, on="resident_id", how="left", suffix="_later")
        .filter(pl.col("total").ne_missing(pl.col("total_later")))
        .join(people, on="resident_id")
        .filter(pl.col("id_number").is_in(numbers))
    )
    assert moved.height > 1
    listed = [
        *service.amendment_changes(db, notice, confirmed.id, 0, 7),
        *service.amendment_changes(db, notice, confirmed.id, 7, 1000),
    ]
    assert confirmed.changed == len(listed) == len({c["ref"] for c in listed}) == moved.height
    shown_before = dict(zip(before["ref"], before["points"], strict=True))
    for change in listed:
        assert change["before"] != change["after"]
        assert str(shown_before[change["ref"]]) in change["before"]
    assert notice.scoring_run_id == second
    # Allocation rows (empty lottery numbers, texts with punctuation) verify after the
    # bulk write too (COPY on PostgreSQL).
    assert service.verify_digest(db, notice)


def test_objections_are_scoped_in_sql(db: Session, residents: pl.DataFrame) -> None:
    from luodi.auth.actor import PUBLIC_ACTOR, Actor, Role
    from luodi.errors import Forbidden, NotFound
    from luodi.notices import repository

    run_id = score(db)
    numbers = residents["id_number"].head(4).to_list()
    cycle = education_cycle(db, numbers, [True, True, False, True], run_id)
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    mine = service.file_objection(
        resident_actor(numbers[0]), db, notice.id, str(cycle["ids"][0]), "名次有误"
    )
    others = service.file_objection(
        resident_actor(numbers[1]), db, notice.id, str(cycle["ids"][1]), "积分有误"
    )
    actors = {
        "resident": resident_actor(numbers[0]),
        "stranger": resident_actor(numbers[3]),
        "rsj": REVIEWER,
        "edu": Actor(username="edu", role=Role.REVIEWER, department="教育局"),
        "rsj-token": Actor(username="token", role=Role.DEPARTMENT, department="人社局"),
        "operator": Actor(username="op", role=Role.OPERATOR),
        "admin": Actor(username="ad", role=Role.ADMIN),
        "auditor": Actor(username="au", role=Role.AUDITOR),
        "town": Actor(username="t", role=Role.TOWN_STAFF, town_code=residents["town_code"][0]),
        "public": PUBLIC_ACTOR,
    }
    both = {mine.id, others.id}
    reads = {
        "resident": {mine.id},
        "stranger": set(),
        "rsj": both,
        "edu": set(),
        "rsj-token": both,
        "operator": both,
        "admin": both,
        "auditor": both,
        "town": set(),
        "public": set(),
    }
    writes = {**reads, "auditor": set()}
    for name, actor in actors.items():
        readable = set(
            db.scalars(
                repository.readable_objections(actor).with_only_columns(repository.Objection.id)
            )
        )
        writable = set(
            db.scalars(
                repository.writable_objections(actor).with_only_columns(repository.Objection.id)
            )
        )
        assert readable == reads[name], name
        assert writable == writes[name], name
        # Every published notice is public; its department's staff (and the centre) write it.
        assert notice in db.scalars(repository.readable_notices(actor)).all(), name
        writes_notice = notice in db.scalars(repository.writable_notices(actor)).all()
        assert writes_notice == (name in ("rsj", "rsj-token", "operator", "admin")), name

    # Through the service: out of scope is "not found", in scope but not allowed is 403.
    assert [o.id for o in service.list_objections(actors["resident"], db)] == [mine.id]
    with pytest.raises(NotFound):
        service.get_objection(actors["stranger"], db, mine.id)
    with pytest.raises(NotFound):
        service.review(actors["edu"], db, mine.id, uphold=False, reason="不成立")
    with pytest.raises(Forbidden):
        service.review(actors["auditor"], db, mine.id, uphold=False, reason="不成立")
    decided = service.review(actors["rsj"], db, mine.id, uphold=False, reason="核实无误")
    assert decided.status == "dismissed"


def test_bad_names_and_texts_are_refused(db: Session, residents: pl.DataFrame) -> None:
    run_id = score(db)
    numbers = residents["id_number"].head(2).to_list()
    cycle = education_cycle(db, numbers, [True, True], run_id)
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    resident, row = resident_actor(numbers[0]), str(cycle["ids"][0])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    for name in ("photo\u202egnp.exe", "a\x00.png", "tab\t.png", "\u2066x.png"):
        with pytest.raises(Invalid, match="控制"):
            service.file_objection(
                resident, db, notice.id, row, "理由", [service.Upload(name, png)]
            )
    with pytest.raises(Invalid, match="控制"):
        service.file_objection(resident, db, notice.id, row, "理由\x00")
    with pytest.raises(Invalid):
        service.file_objection(resident, db, notice.id, "1\x00", "理由")
    with pytest.raises(Invalid):
        service.file_objection(resident, db, notice.id, row, "长" * (service.MAX_REASON + 1))
    filed = service.file_objection(resident, db, notice.id, row, "多行\n理由\t可以")
    with pytest.raises(Invalid):
        service.review(REVIEWER, db, filed.id, uphold=True, reason="x" * 2001)


def test_the_export_libraries_load_only_when_a_file_is_rendered() -> None:
    code = (
        "import sys, luodi.notices.service, luodi.notices.api, luodi.notices.cli; "
        "print(sorted({'fpdf', 'xlsxwriter'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
