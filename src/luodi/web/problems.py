"""A typed error on a page answers as a page, in the visitor's language: 401 sends the visitor
to sign in (and back), 404 is "no such page" (out of scope looks the same as missing), any
other error names its problems. The API keeps its JSON answers."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from luodi.errors import LuodiError
from luodi.web import i18n
from luodi.web.dependencies import get_actor_quietly
from luodi.web.i18n import N_, _

PAGE_PREFIXES = ("/console", "/my", "/notices", "/activate", "/reset-password")
"""The pages whose errors are pages (the public notice pages keep their own handling)."""

TITLES = {
    401: N_("请先登录"),
    403: N_("无权执行此操作"),
    404: N_("没有这个页面"),
    409: N_("与已有数据冲突"),
    413: N_("文件过大"),
    422: N_("填写的内容有问题"),
    429: N_("操作过于频繁"),
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES)


def page_for_error(request: Request, error: LuodiError) -> Response:
    from luodi.web.rendering import render  # rendering imports this module's neighbours

    if error.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    actor = get_actor_quietly(request)
    with i18n.speaking(i18n.language_of(request)):
        title = _(TITLES.get(error.status, N_("无法完成")))
        message = i18n.error_message(error)
        problems = [i18n.problem_text(problem) for problem in error.details[:20]]
    return render(
        request,
        actor,
        "console/error.html",
        {"title": title, "message": message, "problems": problems},
        status_code=error.status,
    )
