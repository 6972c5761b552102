"""Each role's whole job in a real browser, one after another, against a real server with its
job worker, on SQLite and on PostgreSQL (issue 16): the operator opens a cycle; a department
imports a file after its preview; residents apply; the reviewer verifies one, returns one
with a reason and verifies the rest; the operator allocates (a progress bar, then the run) and
publishes the notice; a resident objects; the reviewer upholds; the operator re-runs and, the
notice period over, finalises; the auditor verifies the audit chain; the administrator revokes
a department's token. Every page on the way gets ``check_page`` (axe-core, 390 px,
screenshots at 1280 and 390 px under ``var/test-artefacts/``)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, text

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.scoring import service as scoring_service
from tests.web.browser import check_page, sign_in
from tests.web.conftest import AS_OF, PASSWORD
from tests.web.conftest import sign_in as api_sign_in

pytestmark = pytest.mark.browser

APPLICANTS = 6


@pytest.fixture(scope="module")
def people(loaded_engine: Engine, city: pl.DataFrame) -> dict[str, Any]:
    """The city scored; three residents with accounts of their own (they apply, one objects),
    three more who apply; a department token to revoke."""
    numbers = city["id_number"].slice(50, APPLICANTS).to_list()
    assert len(numbers) == APPLICANTS
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        for index, number in enumerate(numbers[:3]):
            auth_service.add_user(
                SYSTEM_ACTOR, session, f"flow-resident{index}", "resident", PASSWORD,
                id_number=number,
            )  # fmt: skip
        auth_service.add_user(
            SYSTEM_ACTOR, session, "flow-hr", "reviewer", PASSWORD, department="教育局"
        )
        issued = auth_service.add_department_token(SYSTEM_ACTOR, session, "教育局")
    return {"numbers": numbers, "token_id": issued.token_id}


def education_csv(numbers: list[str]) -> bytes:
    rows = [(number, "本科", "中级工") for number in numbers]
    rows.append((numbers[0][:-1] + ("0" if numbers[0][-1] != "0" else "1"), "本科", "中级工"))
    frame = pl.DataFrame(rows, schema=["身份证号", "最高学历", "职业技能等级"], orient="row")
    return frame.write_csv().encode("gbk")


def test_every_role_does_its_whole_job_in_the_browser(
    server: str,
    browser: Any,
    client: TestClient,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    people: dict[str, Any],
    tmp_path: Path,
) -> None:
    numbers: list[str] = people["numbers"]
    failed: list[str] = []

    def new_page(username: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("requestfailed", lambda request: failed.append(request.url))
        sign_in(page, server, username, PASSWORD)
        return page

    # 1. The operator opens a cycle of the health check through the form.
    operator = new_page("operator")
    operator.goto(f"{server}/console/cycles/new?program=health-check")
    check_page(operator, "flow-01-open-cycle")
    today = date.today()
    operator.get_by_label("周期名称").fill("全流程演练")
    operator.get_by_label("受理开始日期").fill((today - timedelta(days=1)).isoformat())
    operator.get_by_label("受理截止日期").fill((today + timedelta(days=5)).isoformat())
    operator.get_by_label("条件计算日").fill(AS_OF.isoformat())
    operator.get_by_label("名额", exact=True).fill("3")
    operator.get_by_role("button", name="开设周期").click()
    operator.wait_for_url(re.compile(r".*/console/cycles/\d+$"))
    cycle_id = int(operator.url.rsplit("/", 1)[1])
    assert "全流程演练" in operator.get_by_role("heading", level=1).inner_text()

    # 2. A department (教育局) uploads its file: the dry run first, then the import.
    department = new_page("flow-hr")
    department.goto(f"{server}/console/feeds/education")
    upload = tmp_path / "学历.csv"
    upload.write_bytes(education_csv(numbers))
    department.get_by_label("数据文件（CSV 或 XLSX）").set_input_files(str(upload))
    department.get_by_role("button", name="上传并预检").click()
    assert department.get_by_test_id("rows-accepted").inner_text() == str(APPLICANTS)
    assert department.get_by_test_id("rows-refused").inner_text() == "1"
    check_page(department, "flow-02-feed-preview")
    department.locator("#accept_partial").check()
    department.get_by_test_id("confirm").click()
    department.wait_for_url(re.compile(r".*/console/feeds/batches/\d+$"))
    check_page(department, "flow-03-feed-batch")

    # 3. Residents apply (the resident's own surface is the API until the portal is built).
    applications = []
    for index in range(APPLICANTS):
        own = index < 3  # a resident files for self; the centre files the others' forms
        headers = api_sign_in(client, f"flow-resident{index}" if own else "operator")
        record = {} if own else {"id_number": numbers[index]}
        answer = client.post(
            f"/api/v1/program-cycles/{cycle_id}/applications",
            json={"records": [record]},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        applications.extend(answer.json()["application_ids"])

    # 4. The reviewer of 总工会 verifies one, returns one with a reason, verifies the rest.
    reviewer = new_page("health")
    reviewer.goto(f"{server}/console/applications/{applications[0]}")
    check_page(reviewer, "flow-04-verification")
    reviewer.get_by_role("button", name="审核通过").click()
    expect(reviewer.get_by_test_id("flash")).to_be_visible()
    reviewer.goto(f"{server}/console/applications/{applications[1]}")
    reviewer.get_by_role("button", name="退回").click()
    expect(reviewer.get_by_test_id("error-summary")).to_be_visible()  # a return needs its reason
    reviewer.get_by_label("退回原因").fill("缺少劳动合同复印件")
    reviewer.get_by_role("button", name="退回").click()
    expect(reviewer.get_by_test_id("flash")).to_be_visible()
    reviewer.goto(f"{server}/console/cycles/{cycle_id}")
    check_page(reviewer, "flow-05-queue")
    reviewer.get_by_role("button", name="审核通过全部符合筛选条件的").click()
    expect(reviewer.get_by_test_id("bulk-row")).to_have_count(APPLICANTS - 2)
    check_page(reviewer, "flow-06-bulk-confirmation")
    reviewer.get_by_role("button", name=re.compile("确认审核通过")).click()
    expect(reviewer.get_by_test_id("flash")).to_be_visible()

    # 5. The operator allocates: the job's progress bar, then (the worker done) the run.
    operator.goto(f"{server}/console/cycles/{cycle_id}/runs")
    operator.get_by_role("button", name="开始分配").click()
    assert operator.get_by_test_id("job").count() == 1 or "/console/runs/" in operator.url
    operator.wait_for_url(re.compile(r".*/console/runs/\d+$"), timeout=60_000)
    run_id = int(operator.url.rsplit("/", 1)[1])
    operator.wait_for_selector("#chart-outcome svg")
    check_page(operator, "flow-07-run")

    # 6. … and publishes its notice after the confirmation.
    operator.get_by_test_id("publish-link").click()
    check_page(operator, "flow-08-publish-confirmation")
    operator.get_by_test_id("confirm-publish").click()
    expect(operator.get_by_test_id("flash")).to_be_visible()
    notice_id = int(
        re.search(r"/notices/(\d+)", operator.get_by_test_id("run-notices").inner_html()).group(1)  # type: ignore[union-attr]
    )

    # 7. A resident objects to the row about them on the public notice.
    resident = new_page("flow-resident2")
    resident.goto(f"{server}/notices/{notice_id}")
    own = resident.get_by_test_id(f"own-row-{applications[2]}")
    own.get_by_text("对此条提出异议").click()
    own.get_by_label("理由").fill("已补交劳动合同，请重新审核")
    own.get_by_role("button", name="提交异议").click()
    resident.wait_for_url(f"{server}/my*")
    assert "已补交劳动合同" in resident.get_by_test_id("objections").inner_text()

    # 8. The reviewer upholds it, with a reason.
    reviewer.goto(f"{server}/console/objections")
    check_page(reviewer, "flow-09-objections")
    reviewer.get_by_role("link", name=re.compile(r"^异议 \d+$")).first.click()
    reviewer.wait_for_url(re.compile(r".*/console/objections/\d+$"))
    check_page(reviewer, "flow-10-objection")
    reviewer.get_by_label("复核理由").fill("材料已补齐，异议成立")
    reviewer.get_by_role("button", name="异议成立").click()
    expect(reviewer.get_by_test_id("objection-status")).to_have_text("异议成立")

    # 9. The operator re-runs (a confirmation first, then the changes).
    operator.goto(f"{server}/console/objections/notices/{notice_id}/rerun")
    check_page(operator, "flow-11-rerun-confirmation")
    operator.get_by_test_id("confirm-rerun").click()
    operator.wait_for_url(re.compile(r".*/amendments/\d+$"))
    check_page(operator, "flow-12-amendment")

    # 10. The notice period over (moved into the past here), the operator finalises.
    with loaded_engine.begin() as connection:
        connection.execute(
            text("UPDATE notices SET starts_on = :start, ends_on = :end WHERE id = :id"),
            {
                "start": today - timedelta(days=30),
                "end": today - timedelta(days=10),
                "id": notice_id,
            },
        )
    with loaded_engine.connect() as connection:
        latest = connection.execute(
            text("SELECT allocation_run_id FROM notices WHERE id = :id"), {"id": notice_id}
        ).scalar_one()
    assert latest > run_id  # the re-run made a new run, and the notice follows it
    operator.goto(f"{server}/console/runs/{latest}/finalize")
    check_page(operator, "flow-13-finalize-confirmation")
    operator.get_by_test_id("confirm-finalize").click()
    expect(operator.get_by_test_id("flash")).to_be_visible()
    with loaded_engine.connect() as connection:
        status = connection.execute(
            text("SELECT status FROM notices WHERE id = :id"), {"id": notice_id}
        ).scalar_one()
    assert status == "final"

    # 11. The auditor verifies the audit chain.
    auditor = new_page("auditor")
    auditor.goto(f"{server}/console/audit")
    auditor.get_by_role("button", name="立即校验").click()
    auditor.wait_for_selector("[data-testid=verdict]")
    assert auditor.get_by_test_id("verdict").get_attribute("data-intact") == "yes"
    check_page(auditor, "flow-14-audit")

    # 12. The administrator revokes the department's token.
    admin = new_page("admin")
    admin.goto(f"{server}/console/users/tokens")
    check_page(admin, "flow-15-tokens")
    admin.get_by_role("link", name=f"撤销令牌 {people['token_id']}").click()
    check_page(admin, "flow-16-revoke-confirmation")
    admin.get_by_role("button", name="确认撤销").click()
    with loaded_engine.connect() as connection:
        revoked = connection.execute(
            text("SELECT revoked FROM api_tokens WHERE id = :id"), {"id": people["token_id"]}
        ).scalar_one()
    assert revoked

    assert not failed, f"requests failed: {failed}"
    for page in (operator, department, reviewer, resident, auditor, admin):
        page.context.close()
