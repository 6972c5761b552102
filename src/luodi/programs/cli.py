"""``luodi program …``: open cycles, take and verify applications, allocate, publish, finalise.

Each command imports the services it runs inside its function: every command starts a new
process, and ``luodi program apply`` need not load the allocation and scoring services (nor
``allocate`` the test-case runner) before it starts work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console, error_console, parse_day
from luodi.db import session_scope
from luodi.errors import Invalid

if TYPE_CHECKING:
    import polars as pl

    from luodi.allocation.models import AllocationRun
    from luodi.kernels.policy.document import Policy
    from luodi.programs.cases import CaseOutcome
    from luodi.programs.spec import ProgramSpec

program_app = typer.Typer(
    help="项目与分配：积分入学、公租房、名额与分档待遇 / programs and allocation",
    no_args_is_help=True,
)


@program_app.command("list")
def list_programs() -> None:
    """列出项目 / the declared programs."""
    from rich.table import Table

    from luodi.programs import catalog
    from luodi.programs.spec import KIND_LABELS

    table = Table("项目 id", "名称 name", "类型 kind", "审核部门", "方法 method", "志愿数")
    for spec, _ in catalog.load_programs().values():
        table.add_row(
            spec.id,
            spec.name.zh,
            KIND_LABELS[spec.kind],
            spec.department,
            spec.mechanism.value
            if spec.mechanism
            else "只核资格 entitlement"
            if spec.entitlement
            else "分档 tiers",
            str(spec.max_choices),
        )
    console.print(table)
    # A malformed file is left out of the catalog, never silently: name it and why.
    for error in catalog.broken_programs():
        error_console.print(
            f"[red]✗ 项目文件有误，未读取 malformed, not listed[/] {error.source}",
            highlight=False,
        )
        for problem in error.problems:
            error_console.print(f"    {problem}", highlight=False, markup=False)


@program_app.command("show")
def show(program: Annotated[str, typer.Argument(help="项目 id")]) -> None:
    """项目的条件、材料、排序与分配方法 / a program's rules."""
    from luodi.programs import catalog
    from luodi.programs.spec import KIND_LABELS

    spec, _ = catalog.find_program(program)
    console.print(
        f"[bold]{spec.name.zh}[/] / {spec.name.en} — {KIND_LABELS[spec.kind]}，"
        f"审核 {spec.department}，计分策略 {spec.policy}",
        highlight=False,
    )
    for rule in spec.eligibility:
        console.print(f"  条件 {rule.label.zh}: [cyan]{rule.rule}[/]", highlight=False)
    if spec.school:
        for rule in (spec.school.full_year_rule, spec.school.current_rule):
            console.print(f"  学校规则 {rule.label.zh}: [cyan]{rule.rule}[/]", highlight=False)
    for material in spec.materials:
        when = "（入学后查验，非报名条件）" if material.after_enrolment else ""
        console.print(f"  材料 {material.label.zh}{when}", highlight=False)
    for group in spec.groups:
        console.print(
            f"  优先组 {group.group} {group.label.zh}: {group.when or '其余'}", highlight=False
        )
    if spec.entitlement is not None:
        # Nothing is ranked: the list is every registered child of the age range.
        ages = spec.entitlement
        console.print(
            f"  名单 登记库中 {ages.min_age}–{ages.max_age} 周岁的全部随迁子女，逐一核定"
            f"（luodi program entitle）",
            highlight=False,
        )
    else:
        chain = " → ".join(["优先组", "积分", *[key.label.zh for key in spec.tie_breaks], "摇号"])
        console.print(f"  排序 {chain}", highlight=False)
    if spec.once_per is not None:
        console.print(
            f"  每人每个 {spec.once_per} 一次（此前已确定的发放不再重复）", highlight=False
        )
    for tier in spec.tiers:
        console.print(f"  档位 {tier.label.zh}: {tier.when}", highlight=False)
    console.print(
        f"  期限（工作日）公示 {spec.notice_days} · 部门审核 {spec.review_days} · "
        f"异议复核 {spec.objection_review_days} / working days: notice, review, 复核",
        highlight=False,
    )
    if spec.terms is not None:
        console.print(
            f"  核准记录 利率 {spec.terms.rate or '—'}，期限（月） {spec.terms.term_months or '—'}",
            highlight=False,
        )
    if spec.places is not None:
        console.print(f"  名额 {spec.places}", highlight=False)
    for name, value in spec.settings.items():
        shown = "、".join(map(str, value)) if isinstance(value, list) else str(value)
        console.print(f"  设置 {name}: {shown}", highlight=False)
    for share in spec.cost_shares:
        by = f"（按 {share.by}）" if share.by else ""
        console.print(f"  费用分担 {share.payer.zh}{by} {share.share}", highlight=False)
    if spec.tests:
        console.print(
            f"  测试用例 {len(spec.tests)} 个 / test cases: luodi program test {spec.id}",
            highlight=False,
        )


@program_app.command("test")
def test_cases(
    programs: Annotated[
        list[str], typer.Argument(help="项目文件 YAML 或项目 id（可多个）/ program files or ids")
    ],
) -> None:
    """运行项目自带的测试用例 / run the programs' own test cases (exit 1 failed, 2 malformed)."""
    from luodi.programs.cases import run_cases
    from luodi.programs.spec import ProgramSpecError

    failed = malformed = 0
    for reference in programs:
        try:
            source, spec = _program_document(reference)
            outcomes = run_cases(spec, _policy_for(spec.policy), source)
        except ProgramSpecError as error:
            malformed += 1
            error_console.print(
                f"[red]✗ 文件有误 malformed[/] {error.source}", highlight=False, markup=True
            )
            for problem in error.problems:
                error_console.print(f"    {problem}", highlight=False, markup=False)
            continue
        if not outcomes:
            failed += 1
            error_console.print(
                f"[red]✗[/] {source} 没有测试用例 / has no test cases", highlight=False
            )
            continue
        for outcome in outcomes:
            _print_case(outcome)
        bad = sum(not outcome.ok for outcome in outcomes)
        pending = sum(outcome.pending is not None for outcome in outcomes)
        failed += bad
        console.print(
            f"{source}: {len(outcomes) - bad}/{len(outcomes)} 通过 passed"
            + (f"（其中已知问题 {pending} / {pending} known defects）" if pending else ""),
            style="green" if not bad else "red",
            highlight=False,
        )
    if malformed:
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


def _program_document(reference: str) -> tuple[str, ProgramSpec]:
    """A program file, or the id of a declared program; named by the file's name."""
    from luodi.programs import catalog
    from luodi.programs.spec import ProgramSpecError, load_program_spec

    path = Path(reference)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ProgramSpecError(path.name, ["找不到项目文件 / no such program file"])
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ProgramSpecError(path.name, ["不是 UTF-8 编码 / not UTF-8"]) from None
        return path.name, load_program_spec(text, path.name)
    spec, _ = catalog.find_program(reference)
    return reference, spec


def _policy_for(policy_id: str) -> Callable[[date], Policy]:
    """The version of the program's policy in force on a case's date."""
    from luodi.policy.service import find_policy  # the policy folder, only for this command

    return lambda day: find_policy(policy_id, day).policy


def _shown(value: object) -> str:
    if value is None:
        return "无 none"
    if isinstance(value, bool):
        return "是 true" if value else "否 false"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    if isinstance(value, int | float):
        return f"{value:,}"
    return str(value)


def _print_case(outcome: CaseOutcome) -> None:
    if outcome.pending is None:
        mark = "[green]✓ 通过 pass[/]" if outcome.passed else "[red]✗ 失败 FAIL[/]"
    elif outcome.passed:
        mark = "[red]✗ 已修好，请删去 pending / fixed: remove `pending`[/]"
    else:
        mark = f"[yellow]… 已知问题 known defect[/] ({outcome.pending})"
    console.print(f"{mark}  {outcome.name}  (as_of {outcome.as_of})", highlight=False)
    for check in outcome.failures:
        console.print(
            f"      {check.key:<12} 期望 expected {_shown(check.expected)}   "
            f"实际 actual {_shown(check.actual)}",
            highlight=False,
            markup=False,
        )


@program_app.command("open")
def open_cycle(
    program: Annotated[str, typer.Argument(help="项目 id")],
    name: Annotated[str, typer.Option("--name", help="周期名称，如 2026年秋季")],
    opens: Annotated[str, typer.Option("--opens", help="受理开始 YYYY-MM-DD")],
    closes: Annotated[str, typer.Option("--closes", help="受理截止 YYYY-MM-DD")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="条件计算日（默认截止日）")] = None,
    targets: Annotated[
        Path | None, typer.Option("--targets", help="学校 schools.csv 或房源 housing_units.csv")
    ] = None,
    places: Annotated[int | None, typer.Option("--places", help="名额类待遇的名额数")] = None,
    grade: Annotated[int | None, typer.Option("--grade", help="入学年级 1 或 7")] = None,
    notice_days: Annotated[
        int | None,
        typer.Option("--notice-days", min=1, help="公示工作日数（默认按项目文件 notice_days）"),
    ] = None,
    carry_from: Annotated[
        int | None, typer.Option("--carry-waitlist-from", help="承接该周期的轮候名单")
    ] = None,
) -> None:
    """开设申报周期 / open a cycle of a program."""
    from luodi.programs import service
    from luodi.programs import targets as program_targets

    with session_scope() as session:
        cycle = service.open_cycle(
            SYSTEM_ACTOR,
            session,
            program,
            name,
            parse_day("--opens", opens) or date.today(),
            parse_day("--closes", closes) or date.today(),
            parse_day("--as-of", as_of),
            notice_days,
            targets,
            places,
            grade,
            carry_from,
        )
        targets_opened = program_targets.cycle_targets(session, cycle.id)
        seats = sum(target.capacity for target in targets_opened)
        carried = service.cycle_counts(session, cycle.id).get("verified", 0)
        console.print(
            f"周期 cycle {cycle.id} 已开设：{cycle.program_id} {cycle.name}，受理 "
            f"{cycle.opens} – {cycle.closes}，目标 {len(targets_opened)} 个，名额 {seats:,}"
            + (f"，承接轮候 {carried:,} 人" if carried else ""),
            highlight=False,
        )
        hot = [target for target in targets_opened if target.hot]
        if hot:
            console.print(
                f"学位紧张学校 hot schools（{len(hot)}）："
                + "，".join(f"{target.name}（{target.target_id}）" for target in hot),
                highlight=False,
            )


@program_app.command("targets")
def cycle_targets(cycle: Annotated[int, typer.Argument(help="周期 id")]) -> None:
    """周期公布的学校/房源，含学位紧张学校 / the cycle's targets, hot schools marked."""
    from rich.table import Table

    from luodi.notices.repository import town_names
    from luodi.programs import service

    table = Table("编号 id", "名称 name", "镇街 town", "名额 seats", "学位紧张 hot", "依据 basis")
    with session_scope() as session:
        towns = town_names(session)
        for target in service.published_targets(SYSTEM_ACTOR, session, cycle):
            code = target.town_code or ""
            table.add_row(
                target.target_id,
                target.name,
                # The town's name as the notice gives it, its code beside (for the files).
                f"{towns[code]}（{code}）" if code in towns else code,
                f"{target.capacity:,}",
                "是" if target.hot else "否",
                service.HOT_SOURCE_LABELS.get(target.hot_source or "", ""),
            )
    console.print(table)


@program_app.command("cycles")
def cycles() -> None:
    """列出申报周期 / cycles and their applications."""
    from rich.table import Table

    from luodi.programs import service

    table = Table("周期 id", "项目", "名称", "受理期", "状态 status", "申请 by status")
    with session_scope() as session:
        for cycle in service.list_cycles(SYSTEM_ACTOR, session):
            counts = service.cycle_counts(session, cycle.id)
            table.add_row(
                str(cycle.id),
                cycle.program_id,
                cycle.name,
                f"{cycle.opens} – {cycle.closes}",
                cycle.status,
                " ".join(f"{k} {v:,}" for k, v in sorted(counts.items())),
            )
    console.print(table)


@program_app.command("apply")
def apply(
    cycle: Annotated[int, typer.Argument(help="周期 id")],
    file: Annotated[
        Path, typer.Argument(help="申请表 CSV/XLSX：id_number, child_id_number, choices …")
    ],
) -> None:
    """批量提交申请（全部成功或全部不受理）/ submit applications from a file, all or none."""
    from luodi.programs import intake

    with session_scope() as session:
        ids = intake.submit_file(SYSTEM_ACTOR, session, cycle, file)
    console.print(
        f"已受理 {len(ids):,} 份申请 / {len(ids):,} applications submitted", highlight=False
    )


@program_app.command("employer-apply")
def employer_apply(
    cycle: Annotated[int, typer.Argument(help="周期 id（积分入学）")],
    file: Annotated[
        Path, typer.Argument(help="申请表 CSV/XLSX：id_number（职工）, child_id_number, choices")
    ],
    as_user: Annotated[
        str, typer.Option("--as", help="用人单位账号（employer）/ the employer's account")
    ],
) -> None:
    """企业统一申请：用人单位为在职职工子女批量申请入学（全部成功或全部不受理）/ an employer's
    batch for its employees' children, all or none."""
    from luodi.auth.cli import acting
    from luodi.programs import intake

    with session_scope() as session:
        ids = intake.submit_employer_file(acting(session, as_user), session, cycle, file)
    console.print(
        f"已受理企业统一申请 {len(ids):,} 份 / {len(ids):,} applications submitted",
        highlight=False,
    )


@program_app.command("verify")
def verify(
    cycle: Annotated[int, typer.Argument(help="周期 id")],
    application: Annotated[
        list[int] | None, typer.Option("--application", help="申请 id（可多个）")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="审核通过全部已提交的申请")] = False,
    returned: Annotated[
        str | None, typer.Option("--return", help="退回并写明原因 / return with a reason")
    ] = None,
) -> None:
    """部门审核：通过或退回 / the department verifies or returns applications."""
    from luodi.programs import intake

    with session_scope() as session:
        if every:
            count = intake.verify_all(SYSTEM_ACTOR, session, cycle)
        elif application:
            count = intake.verify(
                SYSTEM_ACTOR, session, application, approve=returned is None, reason=returned
            )
        else:
            raise Invalid.field("--application", None, "请指定申请或 --all", "name one or --all")
    console.print(
        f"{'退回' if returned else '审核通过'} {count:,} 份 / "
        f"{'returned' if returned else 'verified'} {count:,}",
        highlight=False,
    )


@program_app.command("correct")
def correct(
    application: Annotated[int, typer.Argument(help="申请 id")],
    choices: Annotated[str | None, typer.Option("--choices", help="新的志愿，; 分隔")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", help="字段=值")] = None,
) -> None:
    """更正申请（回到待审核）/ correct an application (back to submitted)."""
    from luodi.programs import intake

    fields = {}
    for item in field or []:
        if "=" not in item:
            raise Invalid.field("--field", item, "应写成 名称=值", "write name=value")
        key, value = item.split("=", 1)
        fields[key.strip()] = value.strip()
    with session_scope() as session:
        updated = intake.correct(SYSTEM_ACTOR, session, application, choices, fields)
        console.print(
            f"申请 {updated.id} 已更正，待重新审核 / corrected, to be verified again",
            highlight=False,
        )


@program_app.command("application")
def show_application(
    application: Annotated[int, typer.Argument(help="申请 id")],
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="以该账号的身份和范围查看（默认：系统）/ act as this account"),
    ] = None,
) -> None:
    """一份申请及其审核期限 / one application with its review deadline."""
    from luodi.auth.cli import acting
    from luodi.programs import deadlines, intake
    from luodi.programs.models import ApplicationStatus

    with session_scope() as session:
        found = intake.get_application(acting(session, as_user), session, application)
        due = deadlines.review_due_on(session, found)
        overdue = found.status == ApplicationStatus.SUBMITTED and due < date.today()
        console.print(
            f"申请 {found.id}（周期 {found.cycle_id}）状态 {found.status}"
            + (f"，原因：{found.reason}" if found.reason else ""),
            highlight=False,
            markup=False,
        )
        console.print(
            f"  提交 {found.submitted_at:%Y-%m-%d %H:%M} UTC · 审核期限 review due {due}"
            + ("（已逾期 overdue）" if overdue else ""),
            highlight=False,
        )


@program_app.command("overdue")
def overdue(
    cycle: Annotated[int | None, typer.Option("--cycle", help="只看该周期 / one cycle")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="按此日判断是否逾期（默认今天）YYYY-MM-DD")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON / print JSON")] = False,
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="以该账号的身份和范围查看（默认：系统）/ act as this account"),
    ] = None,
) -> None:
    """逾期未办：超过审核期限（申请）或复核期限（异议）仍未处理的事项 / what is past its
    deadline: applications not yet verified, objections not yet decided."""
    from rich.table import Table

    from luodi.auth.cli import acting
    from luodi.notices import deadlines
    from luodi.programs.deadlines import OVERDUE_LABELS

    day = parse_day("--as-of", as_of) or date.today()
    with session_scope() as session:
        items = deadlines.overdue(acting(session, as_user), session, day, cycle)
    if as_json:
        console.print_json(
            json.dumps(
                {"as_of": day.isoformat(), "items": items.to_dicts()},
                ensure_ascii=False,
                default=str,
            )
        )
        return
    table = Table(
        "类型 kind",
        "编号 id",
        "周期 cycle",
        "项目 program",
        "部门 department",
        "起算日 since",
        "期限 due",
        "逾期工作日 late",
        title=f"截至 {day} 逾期未办 {items.height:,} 件 / overdue as of {day}",
    )
    for row in items.iter_rows(named=True):
        table.add_row(
            OVERDUE_LABELS[row["kind"]],
            str(row["id"]),
            "" if row["cycle_id"] is None else str(row["cycle_id"]),
            row["program_id"] or "积分排名",
            row["department"] or "服务中心",
            str(row["since"]),
            str(row["due_on"]),
            str(row["working_days_late"]),
        )
    console.print(table)


SAMPLE_ROWS = 10
"""Rows of the published list printed after an allocation or by ``results``."""


def _sample_rows(results: pl.DataFrame, rows: int = SAMPLE_ROWS) -> pl.DataFrame:
    """The first rows of the published list, in the order printed: by group and rank."""
    return results.sort("priority_group", "rank", nulls_last=True, maintain_order=True).head(rows)


PLACEMENT_LABELS = {
    "choice": "按志愿",
    "direct": "直接申请",
    "town": "本镇街就近",
    "coordinated": "跨镇街统筹",
}


def _print_placements(results: pl.DataFrame, summary: dict[str, Any]) -> None:
    """How the placed were placed, and every eligible child left without a seat (100% 入学:
    the run says who, and why)."""
    import polars as pl

    from luodi.kernels.allocation.programs import NO_SEAT

    # Only when some were placed otherwise than at a choice by rank (a benefit's list never is).
    if "placement" in results.columns and set(results["placement"].drop_nulls()) - {"choice"}:
        counts = results.group_by("placement").len().drop_nulls().sort("placement")
        console.print(
            "  录取方式 placed by: "
            + "，".join(
                f"{PLACEMENT_LABELS.get(how, how)} {count:,}" for how, count in counts.iter_rows()
            ),
            highlight=False,
        )
    if summary.get("no_seat"):
        left = results.filter(
            (pl.col("outcome") == "unplaced")
            & pl.col("reason_zh").is_in([zh for zh, _ in NO_SEAT.values()])
        )
        console.print(
            f"[bold red]符合条件但未安排学位 {summary['no_seat']:,} 人[/] / eligible children left "
            "without a seat:",
            highlight=False,
        )
        for reason, group in left.group_by("reason_zh", maintain_order=True):
            ids = group["application_id"].sort().to_list()
            shown = ", ".join(map(str, ids[:MAX_LISTED_IDS]))
            more = f" …（共 {len(ids):,}）" if len(ids) > MAX_LISTED_IDS else ""
            console.print(f"  {reason[0]}：申请 {shown}{more}", highlight=False, markup=False)


MAX_LISTED_IDS = 50
"""Application ids listed per reason on the terminal (the full list: ``program results``)."""


def print_run(
    run: AllocationRun,
    results: pl.DataFrame,
    named: pl.DataFrame | None = None,
    rows: int = SAMPLE_ROWS,
) -> None:
    """The run's summary (``results``: every row, names not needed) and its first ``rows``
    rows, with names: ``named`` when given (``_sample_rows`` of the results, named), else
    ``results``'."""
    import polars as pl
    from rich.table import Table

    from luodi.allocation.models import OUTCOME_LABELS

    summary = json.loads(run.summary)
    console.print(
        f"分配批次 run {run.id}（周期 {run.cycle_id}，{run.method}，种子 seed {run.seed!r}，"
        f"计分批次 {run.scoring_run_id}）输入摘要 {run.inputs_digest[:16]}…",
        highlight=False,
    )
    table = Table("结果 outcome", "人数", "")
    largest = max((count for key, count in summary.items() if key in OUTCOME_LABELS), default=1)
    for key, label in OUTCOME_LABELS.items():
        if key in summary:
            bar = "█" * max(1, round(30 * summary[key] / largest))
            table.add_row(label, f"{summary[key]:,}", f"[cyan]{bar}[/]")
    console.print(table)
    if summary.get("entitlement_total"):
        console.print(f"待遇合计 {summary['entitlement_total']:,.0f} 元", highlight=False)
    shares = summary.get("cost_shares") or []
    if shares:
        shown = Table(
            "出资方 payer", "镇街", "份额", "名额", "折合名额", title="费用分担 cost shares"
        )
        for share in shares:
            # A payer by a word (each town's union) says which of its values it pays for.
            town = next((str(v) for k, v in share.items() if k.endswith("_code")), "")
            shown.add_row(
                share["payer"],
                town,
                share["share"],
                f"{share['places']:,}",
                f"{share['places_paid']:g}",
            )
        console.print(shown)
    _print_placements(results, summary)
    placed = results.filter(pl.col("outcome") == "placed")
    if placed.height and placed["choice_rank"].drop_nulls().len():
        by_choice = placed.group_by("choice_rank").len().sort("choice_rank")
        console.print(
            "  按志愿 by choice: "
            + "，".join(
                f"{'镇街统筹' if rank is None else f'第{rank}志愿'} {count:,}"
                for rank, count in by_choice.iter_rows()
            ),
            highlight=False,
        )
    sample = Table(
        "申请",
        "姓名",
        "积分",
        "组",
        "排名",
        "结果",
        "去向",
        "原因",
        title="公示名单（节选，已脱敏）",
    )
    for row in _sample_rows(results if named is None else named, rows).iter_rows(named=True):
        sample.add_row(
            str(row["application_id"]),
            row["child_name"] or row["name"] or "",
            "" if row["points"] is None else f"{row['points']:g}",
            "" if row["priority_group"] is None else str(row["priority_group"]),
            "" if row["rank"] is None else str(row["rank"]),
            row["outcome"],
            row["unit"] or row["target_name"] or _amount(row),
            row["reason_zh"] or "",
        )
    console.print(sample)


def _amount(row: dict[str, object]) -> str:
    """A tiered benefit's amount, with a loan's rate and term when the outcome has them."""
    amount, rate, term = row["entitlement"], row.get("rate"), row.get("term_months")
    if not isinstance(amount, int | float):
        return ""
    said = f"{amount:,.0f} 元"
    if isinstance(rate, int | float):
        said += f"，年利率 {rate:g}%"
    if isinstance(term, int):
        said += f"，{term} 个月"
    return said


@program_app.command("allocate")
def allocate_cycle(
    cycle: Annotated[int, typer.Argument(help="周期 id")],
    seed: Annotated[str, typer.Option("--seed", help="公开的摇号种子 / published seed")],
    scoring_run: Annotated[
        int | None, typer.Option("--scoring-run", help="所用计分批次（默认该策略最新一次）")
    ] = None,
) -> None:
    """按积分排序并分配，保存不可更改的分配批次 / rank and allocate; the run is kept."""
    from luodi.allocation import service as allocation

    with console.status("排序与分配 / ranking and allocating …"), session_scope() as session:
        run, results = allocation.allocate(SYSTEM_ACTOR, session, cycle, seed, scoring_run)
        # Names (masked) only for the rows shown, not the whole list.
        sample = allocation.run_results(
            SYSTEM_ACTOR, session, run.id, results=_sample_rows(results)
        )
        changed = allocation.run_diff(SYSTEM_ACTOR, session, run.id)
    print_run(run, results, sample)
    if run.previous_run_id is not None:
        console.print(
            f"与上一批次 run {run.previous_run_id} 相比，{changed.height:,} 份申请结果变化 / "
            f"{changed.height:,} outcomes changed",
            highlight=False,
        )


@program_app.command("entitle")
def entitle(
    cycle: Annotated[int, typer.Argument(help="周期 id")],
    scoring_run: Annotated[
        int | None, typer.Option("--scoring-run", help="所用计分批次（默认该策略最新一次）")
    ] = None,
) -> None:
    """资格类待遇：由登记库生成名单并逐一核定（年龄范围内的全部随迁子女）/ an entitlement's
    list from the registry, each child decided eligible or not."""
    from luodi.allocation import service as allocation
    from luodi.programs import entitlement

    with console.status("生成名单 / producing the list …"), session_scope() as session:
        enrolment, run = entitlement.produce_list(SYSTEM_ACTOR, session, cycle, scoring_run)
        results = allocation.run_results(SYSTEM_ACTOR, session, run.id, masked=True)
    console.print(
        f"新列入 {enrolment.added:,} 名，已在名单 {enrolment.already:,} 名，"
        f"无登记父母未列入 {enrolment.without_parent:,} 名 / added {enrolment.added:,}, "
        f"already listed {enrolment.already:,}, without a registered parent "
        f"{enrolment.without_parent:,}",
        highlight=False,
    )
    print_run(run, results)


@program_app.command("results")
def results(
    cycle: Annotated[int, typer.Argument(help="周期 id")],
    run_id: Annotated[int | None, typer.Option("--run", help="分配批次（默认最新）")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="导出公示名单 .csv/.parquet")
    ] = None,
) -> None:
    """公示名单（脱敏）/ the published, masked list."""
    from luodi.allocation import service as allocation
    from luodi.files import check_writable, write_table

    if output is not None:
        check_writable(output)
    with session_scope() as session:
        run = (
            allocation.get_run(SYSTEM_ACTOR, session, run_id)
            if run_id is not None
            else allocation.latest_run(SYSTEM_ACTOR, session, cycle)
        )
        frame = allocation.run_results(SYSTEM_ACTOR, session, run.id)
    print_run(run, frame)
    if output is not None:
        write_table(frame.drop("resident_id", "child_id"), output)
        console.print(f"已导出 / written to {output}", highlight=False)


@program_app.command("bank-export")
def bank_export(
    run_id: Annotated[int, typer.Argument(help="分配批次 id（已确定）")],
    output: Annotated[Path, typer.Option("--output", help="导出文件 .csv/.xlsx")],
    as_user: Annotated[
        str,
        typer.Option(
            "--as",
            help="导出人的账号（管理员或主管部门审核员；记入审计）/ the account taking the list",
        ),
    ],
) -> None:
    """给银行的核准名单（含完整身份证号码，记入审计）/ the approved list for the bank.

    The list carries full ID numbers: it is taken by a named account (``--as``), whose name
    the audit entry keeps, never by the anonymous system actor."""
    from luodi.allocation import bank
    from luodi.auth.cli import acting
    from luodi.files import check_writable, write_bytes

    check_writable(output, (".csv", ".xlsx"))
    with session_scope() as session:
        _, rows, content = bank.approved_list(
            acting(session, as_user), session, run_id, output.suffix.lower().lstrip(".")
        )
        # Written before the audit entry commits: a failed write leaves no record of an
        # export that did not happen.
        write_bytes(output, content)
    console.print(
        f"已导出 {rows.height:,} 条核准记录 / {rows.height:,} approved rows written to {output}",
        highlight=False,
    )


@program_app.command("diff")
def diff(run_id: Annotated[int, typer.Argument(help="分配批次 id")]) -> None:
    """与上一次分配的差异 / what changed since the previous run."""
    from rich.table import Table

    from luodi.allocation import service as allocation

    with session_scope() as session:
        changed = allocation.run_diff(SYSTEM_ACTOR, session, run_id)
    table = Table("申请", "姓名", "之前 before", "现在 after", title=f"run {run_id} 的变化")
    for row in changed.iter_rows(named=True):
        table.add_row(str(row["application_id"]), row["name"] or "", row["before"], row["after"])
    console.print(table)
    console.print(f"{changed.height:,} 份申请结果变化 / outcomes changed", highlight=False)


@program_app.command("finalize")
def finalize(cycle: Annotated[int, typer.Argument(help="周期 id")]) -> None:
    """公示期满且无未决异议后确定结果（经由公示）/ final through its notice."""
    from luodi.notices import service as notices

    with session_scope() as session:
        notice = notices.finalize_cycle(SYSTEM_ACTOR, session, cycle)
    console.print(
        f"周期 {cycle} 结果已确定（公示 {notice.id}，分配批次 run {notice.allocation_run_id}）"
        " / final",
        highlight=False,
    )


def demo_cycles(city: Path, as_of: date, seed: int) -> list[int]:
    """The demo: a school admission, a housing, a health-check and a loan cycle in the demo
    city, with applications drawn from its people, verified, allocated and printed, then the
    outcomes of every program side by side. Returns the runs."""
    from datetime import timedelta

    from luodi.allocation import service as allocation
    from luodi.programs import demo, intake, service
    from luodi.registry import city_files

    today = date.today()
    opens, closes = today - timedelta(days=30), today + timedelta(days=30)
    folder = city / "applications"
    folder.mkdir(exist_ok=True)
    plans: list[tuple[str, str, Path | None, pl.DataFrame, dict[str, int]]] = [
        (
            "school-entry",
            f"{as_of.year}年秋季小学一年级",
            city / city_files.SCHOOLS,
            demo.school_applications(city, as_of.year, seed),
            {"grade": 1},
        ),
        (
            "public-rental",
            f"{as_of.year}年公租房第一批",
            city / city_files.HOUSING_UNITS,
            demo.housing_applications(city, seed=seed),
            {},
        ),
        (
            "health-check",
            f"{as_of.year}年新市民免费健康体检",
            None,
            demo.health_check_applications(city, seed=seed),
            {},
        ),
        (
            "loan",
            f"{as_of.year}年新市民贷",
            None,
            demo.loan_applications(city, seed=seed),
            {},
        ),
    ]
    runs: list[int] = []
    outcomes: dict[str, dict[str, int]] = {}
    for program, name, targets, applications, extra in plans:
        if applications.is_empty():
            # A small demo city (`luodi demo --residents 100`) may have no family that can apply:
            # say so and go on, rather than fail on an empty applications file.
            console.print(
                f"{name}：演示城市太小，没有可申请的家庭 / no applicants in a city this small"
            )
            continue
        path = folder / f"{program}.csv"
        applications.write_csv(path)
        with session_scope() as session:
            cycle = service.open_cycle(
                SYSTEM_ACTOR,
                session,
                program,
                name,
                opens,
                closes,
                as_of,
                targets_file=targets,
                entry_grade=extra.get("grade"),
            )
            intake.submit_file(SYSTEM_ACTOR, session, cycle.id, path)
            intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
            cycle_id = cycle.id
        console.rule(f"{name} · 周期 cycle {cycle_id}")
        with (
            console.status(f"分配 {applications.height:,} 份申请 / allocating …"),
            session_scope() as session,
        ):
            run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle_id, str(seed))
            frame = allocation.run_results(SYSTEM_ACTOR, session, run.id)
        print_run(run, frame, rows=8)
        runs.append(run.id)
        outcomes[program] = outcome_counts(frame)
    print_outcomes(outcomes)
    return runs


def outcome_counts(results: pl.DataFrame) -> dict[str, int]:
    """A run's applications by outcome (``Outcome`` values), as stored."""
    return dict(sorted(results.group_by("outcome").len().iter_rows()))


def print_outcomes(outcomes: dict[str, dict[str, int]]) -> None:
    """Per program, its applications by outcome: one row each, outcome columns in order."""
    from rich.table import Table

    from luodi.allocation.models import OUTCOME_LABELS

    # The outcomes by their stored words (placed …): the long labels would not fit 80 columns.
    table = Table(title="演示结果：各项目按结果计数 / demo outcomes per program")
    table.add_column("项目 program", no_wrap=True)
    for key in [*OUTCOME_LABELS, "total"]:
        table.add_column(key, justify="right")
    for program, counts in outcomes.items():
        table.add_row(
            program,
            *(f"{counts.get(key, 0):,}" for key in OUTCOME_LABELS),
            f"{sum(counts.values()):,}",
        )
    console.print(table)
