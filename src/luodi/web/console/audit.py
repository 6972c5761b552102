"""The console's audit area (``/console/audit…``, auditors and administrators): the entries of
the hash chain by object, actor and time (paged in SQL), and "verify the chain" with its
outcome in words.

Verifying reads the chain as plain rows, 40–100 µs an entry (measured on a loaded machine:
100,000 entries in 6–10 s on SQLite and PostgreSQL; the small city's chain, 27 entries, in
10–20 ms). A service centre's chain grows by its staff's actions and sign-ins, tens of
thousands of entries a year, so a chain longer than ``INLINE_ENTRIES`` (a second or two) is
checked by a job (``audit_verify``) whose progress the page shows; a shorter one at once."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from luodi.audit import service as audit
from luodi.audit.models import AuditEntry
from luodi.console import parse_day
from luodi.errors import MAX_ID, Invalid, LuodiError, NotFound
from luodi.jobs import service as jobs
from luodi.web.console.users import field_errors
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import ObjectId
from luodi.web.rendering import check_form, console_actor, done, number, render, role_word

router = APIRouter(prefix="/console/audit")

PAGE_SIZE = 50
SECONDS_PER_10K_ENTRIES = 0.8
"""What a verification takes (measured; the page's estimate)."""
INLINE_ENTRIES = 20_000
"""Up to this many entries a verification runs in the request; past it, as a job."""

OBJECT_PAGES = {
    "application": "/console/applications/{id}",
    "objection": "/console/objections/{id}",
    "program_cycle": "/console/cycles/{id}",
    "feed_batch": "/console/feeds/batches/{id}",
    "scoring_run": "/console/scoring/{id}",
    "resident": "/console/residents/{id}",
    "allocation_run": "/console/runs/{id}",
    "notice": "/notices/{id}",
    "user": "/console/users?name={id}",
    "token": "/console/users/tokens",
}
"""Where an entry's object has its page (an object type without one is shown as text)."""

OBJECT_WORDS = {
    "application": N_("申请"),
    "objection": N_("异议事项"),
    "program_cycle": N_("申报周期"),
    "feed_batch": N_("导入批次"),
    "scoring_run": N_("计分批次"),
    "resident": N_("新市民"),
    "allocation_run": N_("分配批次"),
    "notice": N_("公示"),
    "user": N_("账号"),
    "token": N_("令牌"),
    "town": N_("镇街"),
    "household": N_("家庭户"),
    "permit": N_("居住证"),
    "employer": N_("用人单位"),
    "employment": N_("就业"),
    "child": N_("随迁子女"),
    "registry_load": N_("登记库导入"),
    "town_counts": N_("镇街统计"),
    "audit_chain": N_("审计链"),
    "job": N_("任务"),
}
"""Object types in words (an unknown type is shown as it is stored)."""


ACTION_WORDS = {
    "allocation.bank_export": N_("导出银行名单"),
    "allocation.finalize": N_("确定分配结果"),
    "allocation.run": N_("执行分配"),
    "application.correct": N_("申请更正"),
    "application.return": N_("退回申请"),
    "application.verify": N_("审核通过申请"),
    "applications.employer_batch": N_("用人单位统一申请"),
    "applications.submit": N_("提交申请"),
    "applications.verify_all": N_("批量审核通过"),
    "audit.verify": N_("审计链校验"),
    "auth.logout": N_("退出登录"),
    "auth.sign_in": N_("登录成功"),
    "auth.sign_in_failed": N_("登录失败"),
    "child.add": N_("登记随迁子女"),
    "cycle.open": N_("开启申报周期"),
    "employer.add": N_("登记用人单位"),
    "employment.add": N_("登记就业"),
    "entitlement.enrol": N_("登记享受待遇"),
    "feed.import": N_("导入部门数据"),
    "household.add": N_("登记家庭户"),
    "job.submit": N_("提交任务"),
    "notice.amend": N_("更正公示"),
    "notice.finalize": N_("公示期满确定"),
    "notice.publish": N_("公示发布"),
    "notice.render": N_("生成公示文件"),
    "objection.dismiss": N_("驳回异议"),
    "objection.file": N_("异议提出"),
    "objection.uphold": N_("支持异议"),
    "permit.add": N_("登记居住证"),
    "registry.feed_update": N_("部门数据更新登记库"),
    "registry.load": N_("导入登记库"),
    "resident.add": N_("新市民登记"),
    "resident.correct": N_("新市民信息更正"),
    "scoring.run": N_("完成积分计算"),
    "token.add": N_("签发部门令牌"),
    "token.revoke": N_("令牌撤销"),
    "town.add": N_("添加镇街"),
    "town.recount": N_("重算镇街统计"),
    "user.add": N_("新增账号"),
    "user.disable": N_("账号停用"),
    "user.enable": N_("账号启用"),
    "user.password": N_("密码重设"),
}
"""The chain's actions in words (the stored code stays beside them: it is what a query of
the database or ``luodi audit show`` names)."""


def action_word(action: str) -> str:
    word = ACTION_WORDS.get(action)
    return _(word) if word else action


def object_word(object_type: str) -> str:
    word = OBJECT_WORDS.get(object_type)
    return _(word) if word else object_type


def object_link(entry: AuditEntry) -> str | None:
    page = OBJECT_PAGES.get(entry.object_type)
    if page is None:
        return None
    if entry.object_type not in ("user", "token") and not entry.object_id.isdigit():
        return None
    return page.format(id=entry.object_id)


def _role(stored: str) -> str:
    try:
        return role_word(stored)
    except ValueError:
        return stored  # a role since renamed: as it was written


def _day(text: str | None, field: str, problems: list[Any]) -> date | None:
    if not text:
        return None
    try:
        return parse_day(field, text)  # the one date parser
    except Invalid:
        problems.append((field, _("日期格式应为 YYYY-MM-DD")))
        return None


@router.get("", response_class=HTMLResponse)
def audit_index(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    by: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=20)] = None,
    until: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_ID // PAGE_SIZE)] = 1,
    job: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    console_actor(actor, "audit")
    running = jobs.get_job(actor, session, job) if job is not None else None
    if running is not None and running.kind != "audit_verify":
        running = None  # another kind of job has no place on this page
    values = {
        "object_type": object_type or "",
        "object_id": object_id or "",
        "by": by or "",
        "since": since or "",
        "until": until or "",
    }
    entries: list[AuditEntry] = []
    total = 0
    summary: list[Any] = []
    first, last = _day(since, "since", summary), _day(until, "until", summary)
    errors = dict(summary)
    if not summary:
        try:
            entries, total = audit.search(
                actor,
                session,
                object_type=object_type,
                object_id=object_id,
                by=by,
                since=first,
                until=last,
                offset=(page - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
            )
        except LuodiError as error:
            summary, errors = field_errors(error, tuple(values))
    types = [(kind, object_word(kind)) for kind in audit.object_types(actor, session)]
    rows = [
        {
            "entry": entry,
            "at": datetime.fromisoformat(entry.at),
            "role": _role(entry.role),
            "object": object_word(entry.object_type),
            "action": action_word(entry.action),
            "href": object_link(entry),
        }
        for entry in entries
    ]
    length = audit.chain_length(actor, session)
    query = urlencode({key: value for key, value in values.items() if value})
    return render(
        request,
        actor,
        "console/admin/audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "pager_url": f"/console/audit?{query}&" if query else "/console/audit?",
            "values": values,
            "types": types,
            "summary": summary,
            "errors": errors,
            "verification": audit.last_verification(actor, session),
            "chain_length": length,
            "estimate": max(1, round(length / 10_000 * SECONDS_PER_10K_ENTRIES)),
            "job": running,
        },
        status_code=422 if summary else 200,
    )


@router.post("/verify", response_class=HTMLResponse, response_model=None)
def verify_chain(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Walk the chain and append what was found (``audit.verify_and_record``): now, or as a
    job when the chain is long; the page it leads back to shows the outcome in words."""
    console_actor(actor, "audit")
    check_form(request, csrf_token)
    if audit.chain_length(actor, session) > INLINE_ENTRIES:
        job = jobs.submit(actor, session, "audit_verify", {})
        message = _("校验已开始，完成后在此显示结果")
        return done(f"/console/audit?job={job.id}#verify", message)
    check = audit.verify_and_record(actor, session)
    if check.intact:
        message = _("审计链完整：%(n)s 条记录全部相符", n=number(check.entries))
    else:
        message = _("审计链已被破坏：第 %(seq)s 条起不符", seq=check.broken_seq)
    return done("/console/audit#verify", message)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def verify_job(
    job_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """The progress of a verification job (the fragment the page polls)."""
    console_actor(actor, "audit")
    job = jobs.get_job(actor, session, job_id)
    if job.kind != "audit_verify":
        raise NotFound(f"没有校验任务 {job_id}", f"no verification job {job_id}")
    return render(request, actor, "console/admin/audit_job.html", {"job": job})
