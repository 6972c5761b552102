"""Programs over HTTP: the same service as ``luodi program``, acting as the signed-in user
(the service decides what each role may read and do). Results are public only through a
notice (``/api/v1/notices``)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from luodi import workdays
from luodi.allocation import bank
from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationRun
from luodi.notices import deadlines
from luodi.notices import service as notices
from luodi.programs import catalog, finder, intake, service
from luodi.programs import deadlines as program_deadlines
from luodi.programs.deadlines import OVERDUE_LABELS
from luodi.programs.models import Application, ApplicationStatus
from luodi.programs.spec import KIND_LABELS
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.params import MAX_ID, ObjectId

router = APIRouter(prefix="/api/v1", tags=["programs 项目与分配"])


class ApplicationsPush(BaseModel):
    records: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=100_000,
        description=(
            "每条申请：child_id_number（入学）、choices（志愿列表）及项目字段；新市民每次一条、"
            "只为本人或子女（身份、家庭、积分由登记信息确定）；服务中心批量提交时另填 id_number / "
            "one record per application: child_id_number (schools), choices, the program's "
            "fields; a resident files one, for self or own child; the service centre adds id_number"
        ),
    )


class Verification(BaseModel):
    approve: bool
    reason: str | None = Field(default=None, max_length=2000)


class Correction(BaseModel):
    """A correction of one's own application (after a return) or by the service centre:
    the choices, and fields of the program (the record model's rules apply)."""

    model_config = ConfigDict(extra="forbid")
    choices: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=20
    )
    fields: dict[str, Any] | None = Field(default=None, max_length=50)


class RunRequest(BaseModel):
    seed: str = Field(min_length=1, max_length=100)
    scoring_run: int | None = Field(default=None, ge=1, le=MAX_ID)


def _run(run: AllocationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "cycle_id": run.cycle_id,
        "previous_run_id": run.previous_run_id,
        "scoring_run_id": run.scoring_run_id,
        "method": run.method,
        "seed": run.seed,
        "inputs_digest": run.inputs_digest,
        "final": run.final,
        "summary": json.loads(run.summary),
    }


@router.get("/programs")
def list_programs() -> list[dict[str, Any]]:
    """已声明的项目 / the declared programs."""
    return [
        {
            "id": spec.id,
            "name": spec.name.model_dump(),
            "kind": spec.kind,
            "kind_label": KIND_LABELS[spec.kind],
            "department": spec.department,
            "method": spec.mechanism,
            "max_choices": spec.max_choices,
            "eligibility": [rule.model_dump() for rule in spec.eligibility],
            "materials": [material.model_dump() for material in spec.materials],
        }
        for spec, _ in catalog.load_programs().values()
    ]


@router.get("/program-cycles")
def list_cycles(actor: CurrentActor, session: DbSession) -> list[dict[str, Any]]:
    return [
        {
            "id": cycle.id,
            "program_id": cycle.program_id,
            "name": cycle.name,
            "opens": cycle.opens,
            "closes": cycle.closes,
            "as_of": cycle.as_of,
            "status": cycle.status,
            "applications": service.cycle_counts(session, cycle.id),
            "hot_schools": service.hot_schools(session, cycle.id),
        }
        for cycle in service.list_cycles(actor, session)
    ]


@router.get("/program-cycles/{cycle_id}/targets")
def cycle_targets(
    cycle_id: ObjectId, actor: CurrentActor, session: DbSession
) -> list[dict[str, Any]]:
    """周期公布的学校（含学位紧张学校及其依据）、房源或名额 / the cycle's published targets,
    with which schools are hot (学位紧张) and why."""
    return [
        {
            "target_id": target.target_id,
            "name": target.name,
            "town_code": target.town_code,
            "layout": target.layout,
            "capacity": target.capacity,
            "hot": target.hot,
            "hot_source": target.hot_source,
        }
        for target in service.published_targets(actor, session, cycle_id)
    ]


@router.post("/program-cycles/{cycle_id}/applications")
def submit(
    cycle_id: ObjectId, body: ApplicationsPush, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """提交申请（全部受理或全部不受理；记录 n 即第 n 行）/ all or none."""
    ids = intake.submit_applications(actor, session, cycle_id, body.records, "records")
    return {"application_ids": ids}


@router.post("/program-cycles/{cycle_id}/employer-applications")
def submit_employer_batch(
    cycle_id: ObjectId, body: ApplicationsPush, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """企业统一申请：用人单位为本单位在职职工的子女批量申请入学（全部受理或全部不受理；每条写
    职工 id_number、child_id_number、choices）/ an employer files its employees' children's
    school applications, all or none."""
    ids = intake.submit_employer_batch(actor, session, cycle_id, body.records, "records")
    return {"application_ids": ids}


@router.post("/applications/{application_id}/verification")
def verify(
    application_id: ObjectId, body: Verification, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """部门审核：通过，或退回并写明原因 / approve, or return with a reason."""
    intake.verify(actor, session, [application_id], body.approve, body.reason)
    application = intake.get_application(actor, session, application_id)
    return {"id": application.id, "status": application.status, "reason": application.reason}


@router.post("/program-cycles/{cycle_id}/runs")
def allocate(
    cycle_id: ObjectId, body: RunRequest, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """排序与分配，保存分配批次 / rank and allocate."""
    run = allocation.allocate_cycle(actor, session, cycle_id, body.seed, body.scoring_run)
    return _run(run)


class EntitlementRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scoring_run: int | None = Field(default=None, ge=1, le=MAX_ID)


@router.post("/program-cycles/{cycle_id}/entitlement-list")
def entitlement_list(
    cycle_id: ObjectId, body: EntitlementRequest, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """资格类待遇：由登记库生成名单（年龄范围内的全部随迁子女）并逐一核定 / an entitlement's
    list: every registered child in the age range, each decided eligible or not."""
    from luodi.programs import entitlement

    enrolment, run = entitlement.produce_list(actor, session, cycle_id, body.scoring_run)
    return {
        **_run(run),
        "enrolment": {
            "added": enrolment.added,
            "already": enrolment.already,
            "without_parent": enrolment.without_parent,
        },
    }


@router.get("/allocation-runs/{run_id}")
def run_results(run_id: ObjectId, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """公示名单（脱敏）/ the masked list."""
    run = allocation.get_run(actor, session, run_id)
    frame = allocation.run_results(actor, session, run_id).drop("resident_id", "child_id")
    return {**_run(run), "results": frame.to_dicts()}


@router.get(
    "/allocation-runs/{run_id}/bank-export",
    summary="给银行的核准名单（含完整身份证号码）/ the approved list for the bank",
)
def bank_export(
    run_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    file_format: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "xlsx",
) -> Response:
    """The admin and the program's own department only; every export is audited."""
    _, _, content = bank.approved_list(actor, session, run_id, file_format)
    media = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[file_format]
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="run-{run_id}-bank.{file_format}"',
            # Full ID numbers: never kept by a shared cache or the browser's.
            "Cache-Control": "no-store",
        },
    )


@router.get("/allocation-runs/{run_id}/diff")
def run_diff(run_id: ObjectId, actor: CurrentActor, session: DbSession) -> list[dict[str, Any]]:
    return allocation.run_diff(actor, session, run_id).to_dicts()


@router.post("/program-cycles/{cycle_id}/finalize")
def finalize(cycle_id: ObjectId, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """经公示后确定（公示期满、无未决异议）/ final through its notice."""
    notice = notices.finalize_cycle(actor, session, cycle_id)
    assert notice.allocation_run_id is not None
    return _run(allocation.get_run(actor, session, notice.allocation_run_id))


@router.patch("/applications/{application_id}")
def correct(
    application_id: ObjectId, body: Correction, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """更正申请（退回后由本人，或服务中心）：回到已提交，由主管部门重新审核 / correct an
    application; it goes back to submitted for the department to verify again."""
    choices = ";".join(body.choices) if body.choices is not None else None
    corrected = intake.correct(actor, session, application_id, choices, body.fields)
    return _application(session, corrected)


@router.get("/applications/{application_id}")
def get_application(
    application_id: ObjectId, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """一份申请（本人、所属镇街、主管部门或服务中心可见）/ one application, in scope."""
    return _application(session, intake.get_application(actor, session, application_id))


@router.get("/my/applications")
def my_applications(actor: CurrentActor, session: DbSession) -> list[dict[str, Any]]:
    """本人的申请 / a resident's own applications."""
    return [_application(session, a) for a in intake.my_applications(actor, session)]


@router.get("/my/entitlements")
def my_entitlements(actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """可享待遇：本人及子女对每个项目现在是否符合、缺哪项条件、还差多少；排序项目的往年录取线与
    今天的排名（与分配同一套规则计算）/ the entitlement finder: for self and each child, every
    program — eligible now, not yet or not eligible, the conditions missing and how far away,
    last cycle's cut-off and today's rank (decided by the allocation's own rules)."""
    return finder.find(actor, session).as_dict()


@router.get("/overdue")
def overdue(
    actor: CurrentActor,
    session: DbSession,
    cycle: Annotated[int | None, Query(ge=1, le=MAX_ID, description="只看该周期")] = None,
    as_of: Annotated[date | None, Query(description="按此日判断（默认今天）")] = None,
) -> dict[str, Any]:
    """逾期未办：超过审核期限的申请、超过复核期限的异议（按权限：部门审核看本部门的）/
    applications past the department's review deadline and objections past the 复核
    deadline, in the actor's scope."""
    day = as_of or workdays.today()
    items = deadlines.overdue(actor, session, day, cycle)
    return {
        "as_of": day,
        "items": [
            {**item, "kind_label": OVERDUE_LABELS[item["kind"]]} for item in items.to_dicts()
        ],
    }


def _application(session: DbSession, application: Application) -> dict[str, Any]:
    due = program_deadlines.review_due_on(session, application)
    pending = application.status == ApplicationStatus.SUBMITTED
    return {
        "id": application.id,
        "cycle_id": application.cycle_id,
        "status": application.status,
        "reason": application.reason,
        "choices": application.choices.split(";") if application.choices else [],
        "fields": json.loads(application.fields),
        "submitted_at": application.submitted_at,
        "verified_at": application.verified_at,
        "review_due_on": due,
        "review_overdue": pending and due < workdays.today(),
    }
