"""What every page shares: the template environment (autoescaped, with Babel's gettext), the
render function (language, CSRF token, the signed-in actor, the flash message of the last
action), the console's areas, and the redirect after a form."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from luodi.auth.actor import PUBLIC_ACTOR, ROLE_LABELS, Actor, Role
from luodi.auth.permissions import acts_as, may_open
from luodi.errors import NotFound, Unauthorized
from luodi.settings import get_settings
from luodi.web import i18n
from luodi.web.assets import asset_url
from luodi.web.dependencies import CSRF_COOKIE, csrf_token
from luodi.web.i18n import N_, _
from luodi.workdays import CHINA_TIME, local_day

TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
)
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
FLASH_COOKIE = "luodi_flash"
PRIVATE_PAGES = ("/console", "/my", "/activate", "/reset-password", "/login")
"""Pages never cached, signed in or not."""

CONSOLE_NAV = (
    ("home", "/console", N_("工作台")),
    ("residents", "/console/residents", N_("新市民")),
    ("feeds", "/console/feeds", N_("部门数据")),
    ("scoring", "/console/scoring", N_("积分计算")),
    ("cycles", "/console/cycles", N_("申请与分配")),
    ("objections", "/console/objections", N_("异议复核")),
    ("policies", "/console/policies", N_("积分政策")),
    ("forecast", "/console/forecast", N_("学位预测")),
    ("analysis", "/console/analysis", N_("积分分析")),
    ("ratings", "/console/ratings", N_("好差评")),
    ("users", "/console/users", N_("账号管理")),
    ("audit", "/console/audit", N_("审计日志")),
)


ALSO_UNDER = {"/console/cycles": ("/console/runs", "/console/applications")}
"""Pages that belong to an area whose path they do not start with (a run is a cycle's)."""


def _current(path: str, area_path: str) -> bool:
    """Whether the page at ``path`` is in the area at ``area_path`` (its tab marked current)."""
    if area_path == "/console":
        return path == "/console"
    prefixes = (area_path, *ALSO_UNDER.get(area_path, ()))
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def role_word(role: Role | str) -> str:
    return _(ROLE_LABELS[Role(role)])


def number(value: Any, digits: int = 0) -> str:
    """A number as people read it: thousands separated, points to at most ``digits`` places."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.{max(digits, 2)}f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_day(value).isoformat()
    return value.isoformat()


def moment(value: datetime | None) -> str:
    """A stored (UTC) moment as the time in China, to the minute."""
    if value is None:
        return ""
    moment_utc = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment_utc.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def as_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` (a chart's option): not HTML-escaped
    (a script's text is read raw: ``&#34;`` would reach ``JSON.parse``), with ``<``, ``>`` and
    ``&`` written as JSON escapes so that no value can close the script element."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


TEMPLATES.env.globals.update(
    ROLE_LABELS=ROLE_LABELS, role_word=role_word, asset=asset_url, settings=get_settings
)
TEMPLATES.env.filters.update(number=number, day=day, moment=moment, as_json=as_json)


def render(
    request: Request,
    actor: Actor,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """The page in the visitor's language, with the CSRF token of its forms and the flash
    message the last action left (shown once)."""
    token = csrf_token(request)
    chosen = i18n.language_of(request)
    flash = request.cookies.get(FLASH_COOKIE)
    with i18n.speaking(chosen):
        response = TEMPLATES.TemplateResponse(
            request,
            template,
            {
                **context,
                "actor": actor,
                "csrf": token,
                "lang": chosen,
                "large_text": request.cookies.get(i18n.LARGE_TEXT_COOKIE) == "1",
                "flash": unquote(flash)[:300] if flash else None,
                "signed_in": actor != PUBLIC_ACTOR,
                "is_resident": acts_as(actor, Role.RESIDENT),
                "nav": [
                    (path, label, _current(request.url.path, path))
                    for area, path, label in CONSOLE_NAV
                    if may_open(actor, area)
                ]
                if actor != PUBLIC_ACTOR
                else [],
                "path": request.url.path,
            },
            status_code=status_code,
        )
    if flash:
        response.delete_cookie(FLASH_COOKIE)
    if actor != PUBLIC_ACTOR or request.url.path.startswith(PRIVATE_PAGES):
        # A signed-in person's pages (staff and residents) and the account pages (a typed ID
        # number, a code) carry personal data: no shared or browser cache keeps them (a
        # shared computer's or a counter kiosk's back button, a proxy).
        response.headers["cache-control"] = "no-store"
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=get_settings().secure_cookies,
        )
    return response


def done(url: str, message: str) -> RedirectResponse:
    """After a form: go to ``url`` (303) and show ``message`` there once (already translated:
    call it with ``_("…")``)."""
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        quote(message[:300]),
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    return response


def console_actor(actor: Actor, area: str) -> Actor:
    """The actor, if its role works in ``area`` of the console: a visitor not signed in is sent
    to sign in; a role that has no such area gets 404 (as if it did not exist)."""
    if actor == PUBLIC_ACTOR:
        raise Unauthorized("请先登录", "sign in first")
    if not may_open(actor, area):
        raise NotFound("没有这个页面", "no such page")
    return actor


def local_path(candidate: str | None, default: str) -> str:
    """Where to go next: a path on this site only (never another host: no open redirect)."""
    if candidate and candidate.startswith("/") and not candidate.startswith(("//", "/\\")):
        return candidate
    return default


def check_form(request: Request, submitted: str | None) -> None:
    """The CSRF check of a page's form: the form's hidden field, or the header HTMX sends
    (``hx-headers`` on the body carries the token)."""
    from luodi.web.dependencies import check_csrf

    check_csrf(request, submitted or request.headers.get("x-csrf-token"))
