"""The visitor's language for the whole of a route, not only its template: words made in
Python (a rule said in words, a form's error, the flash message after an action) are then in
the language the page is rendered in. ``render`` sets it for the template alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request

from luodi.web import i18n


async def visitors_language(request: Request) -> AsyncIterator[None]:
    """A router dependency. Async on purpose: it runs in the request's own task, so the
    language it sets is in the context the (sync) route is then run with in a thread."""
    with i18n.speaking(i18n.language_of(request)):
        yield
