"""``luodi user …``: accounts and department tokens, from the server's command line (which
acts as the system; ``--as USER`` acts as an account, with that account's scope)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from luodi.auth import service
from luodi.auth.actor import ROLE_LABELS, SYSTEM_ACTOR, Actor, Role
from luodi.auth.codes import configured_sender, send_all
from luodi.console import console
from luodi.db import session_scope
from luodi.errors import Invalid
from luodi.workdays import CHINA_TIME

user_app = typer.Typer(help="账号与部门令牌 / accounts and department tokens", no_args_is_help=True)

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="以该账号的身份和范围操作（默认：系统）/ act as this account"),
]


def acting(session: Session, username: str | None) -> Actor:
    """The actor a command runs as: the system, or an active account named by ``--as``."""
    if username is None:
        return SYSTEM_ACTOR
    user = service.get_user(session, username)
    if not user.active:
        raise Invalid.field("as", username, "账号已停用", "the account is disabled")
    return service.actor_of(user)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码 password", hide_input=True, confirmation_prompt=True)
    service.check_password(password)
    return password


@user_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="用户名")],
    role: Annotated[
        str,
        typer.Option("--role", help="admin|operator|reviewer|town_staff|resident|auditor|employer"),
    ],
    town: Annotated[str | None, typer.Option("--town", help="镇街代码（town_staff）")] = None,
    department: Annotated[
        str | None, typer.Option("--department", help="部门（reviewer），如 教育局")
    ] = None,
    id_number: Annotated[
        str | None, typer.Option("--id-number", help="身份证号（resident）")
    ] = None,
    credit_code: Annotated[
        str | None, typer.Option("--credit-code", help="统一社会信用代码（employer 用人单位）")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="从标准输入读一行密码")
    ] = False,
) -> None:
    """新建账号 / add an account."""
    password = read_password(password_stdin)
    with session_scope() as session:
        user = service.add_user(
            SYSTEM_ACTOR,
            session,
            username,
            role,
            password,
            town,
            department,
            id_number,
            credit_code,
        )
        label = ROLE_LABELS[Role(user.role)]
    console.print(f"已新建账号 / added {username}（{label}）", highlight=False)


@user_app.command("list")
def list_users() -> None:
    """列出账号 / list accounts."""
    with session_scope() as session:
        users = service.list_users(SYSTEM_ACTOR, session)
        table = Table(
            "用户名 username", "角色 role", "镇街 town", "部门/单位 department", "状态 state"
        )
        for user in users:
            table.add_row(
                user.username,
                f"{ROLE_LABELS[Role(user.role)]} {user.role}",
                user.town_code or "",
                user.department or user.credit_code or "",
                "启用 active"
                if user.active
                else "待激活 pending"
                if user.activated_at is None
                else "停用 disabled",
            )
    console.print(table)
    console.print(f"{len(users)} 个账号 / accounts", highlight=False)


@user_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """停用账号并撤销其令牌 / disable an account and revoke its tokens."""
    with session_scope() as session:
        service.disable_user(SYSTEM_ACTOR, session, username)
    console.print(f"已停用 / disabled {username}", highlight=False)


@user_app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="用户名")]) -> None:
    """重新启用账号（需重新登录）/ enable an account again (it signs in anew)."""
    with session_scope() as session:
        service.enable_user(SYSTEM_ACTOR, session, username)
    console.print(f"已启用 / enabled {username}", highlight=False)


@user_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="用户名")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="从标准输入读一行密码")
    ] = False,
) -> None:
    """重设密码，并撤销该账号的全部令牌和会话 / reset a password; ends all its sessions."""
    new_password = read_password(password_stdin)
    with session_scope() as session:
        revoked = service.reset_password(SYSTEM_ACTOR, session, username, new_password)
    console.print(
        f"已重设 {username} 的密码，撤销 {revoked} 个令牌 / password reset, {revoked} tokens revoked",
        highlight=False,
    )


@user_app.command("activation-code")
def activation_code(
    id_number: Annotated[
        str | None, typer.Option("--id-number", help="居民身份证号 / the resident's ID number")
    ] = None,
    resident: Annotated[
        int | None, typer.Option("--resident", help="登记库编号 / the registry's resident id")
    ] = None,
    send: Annotated[
        bool,
        typer.Option("--send", help="发送到登记手机，不显示 / text it to the registered phone"),
    ] = False,
    as_user: AsUser = None,
) -> None:
    """为登记库中的居民签发账户激活码（只显示一次）/ an activation code for a resident, shown once.

    居民没有账户时新建一个待激活的账户；工作人员不设密码，居民凭激活码在 /activate 自设密码。"""
    if (id_number is None) == (resident is None):
        raise Invalid.field(
            "id_number",
            None,
            "请用 --id-number 或 --resident 指定一位居民",
            "name one resident: --id-number or --resident",
        )
    with session_scope() as session:
        issued = service.issue_counter_code(
            acting(session, as_user), session, resident, id_number, send
        )
    if issued.outgoing is not None:
        send_all(configured_sender(), [issued.outgoing])
        console.print(
            f"激活码已发送到登记手机 {issued.phone_masked}（账号 {issued.username}，"
            f"有效至 {issued.expires_at.astimezone(CHINA_TIME):%Y-%m-%d %H:%M}）"
            " / code sent to the registered phone",
            highlight=False,
        )
        return
    console.print(
        f"账号 {issued.username} 的激活码（有效至 "
        f"{issued.expires_at.astimezone(CHINA_TIME):%Y-%m-%d %H:%M}，只显示这一次；"
        "居民在 /activate 用身份证号和激活码设置密码）/ activation code, shown once:",
        highlight=False,
    )
    print(issued.code)


token_app = typer.Typer(
    help="令牌：签发部门令牌、列出、撤销 / tokens: issue, list, revoke", no_args_is_help=True
)
user_app.add_typer(token_app, name="token")


@token_app.command("add")
def add_department_token(
    department: Annotated[str, typer.Option("--department", help="部门，如 人社局")],
    days: Annotated[
        int,
        typer.Option(
            "--days", help=f"有效天数（默认一年，最多 {service.MAX_DEPARTMENT_TOKEN_DAYS}）"
        ),
    ] = service.DEPARTMENT_TOKEN_DAYS,
) -> None:
    """为部门系统签发推送令牌（只显示一次）/ a department's push token, shown once."""
    with session_scope() as session:
        issued = service.add_department_token(SYSTEM_ACTOR, session, department, days)
    console.print(
        f"部门 {department} 的令牌 {issued.token_id}（有效至 {issued.expires_at:%Y-%m-%d}，"
        f"只显示这一次；泄露时 luodi user token revoke {issued.token_id}）/ token:",
        highlight=False,
    )
    print(issued.token)


@token_app.command("list")
def list_tokens(
    department: Annotated[
        str | None, typer.Option("--department", help="只列此部门的令牌及其账号的令牌")
    ] = None,
    include_expired: Annotated[
        bool, typer.Option("--all", help="包括已过期的令牌 / include expired tokens")
    ] = False,
) -> None:
    """列出令牌（不显示令牌本身）/ list tokens (never the secret)."""
    with session_scope() as session:
        tokens = service.list_tokens(SYSTEM_ACTOR, session, department, include_expired)
    table = Table(
        "id",
        "类型 kind",
        "部门/账号 holder",
        "签发 created",
        "到期 expires",
        "已撤销 revoked",
        "签发人 by",
    )
    for token in tokens:
        table.add_row(
            str(token.id),
            token.kind,
            token.holder,
            f"{token.created_at:%Y-%m-%d %H:%M}",
            f"{token.expires_at:%Y-%m-%d %H:%M}",
            "是 yes" if token.revoked else "否 no",
            token.created_by,
        )
    console.print(table)
    console.print(f"{len(tokens)} 个令牌 / tokens", highlight=False)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="令牌 id（见 luodi user token list）")],
) -> None:
    """撤销一个令牌，立即失效 / revoke a token: it stops working at once."""
    with session_scope() as session:
        service.revoke_token_by_id(SYSTEM_ACTOR, session, token_id)
    console.print(f"已撤销令牌 / revoked token {token_id}", highlight=False)
