"""One language at a time on every page: Chinese (the msgids themselves) by default, English by
the ``luodi_lang`` cookie. The English catalogue is every ``translations/en/*.po`` merged (one
file per area of the pages, so that the areas are translated apart); Babel reads them when the
first page renders. ``tests/web/test_i18n.py`` fails on a label without its English."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal

from babel.messages.pofile import read_po
from starlette.requests import Request

from luodi.errors import FieldProblem, LuodiError

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
LANGUAGE_COOKIE = "luodi_lang"
LARGE_TEXT_COOKIE = "luodi_large"
"""长辈版: larger type and 1.5 line spacing, chosen in the footer."""
CATALOGUES = Path(__file__).parent / "translations"

_language: ContextVar[Language] = ContextVar("luodi_language", default="zh")


@cache
def english() -> dict[str, str]:
    """msgid (Chinese) → English, from every catalogue file; an empty msgstr is no translation."""
    messages: dict[str, str] = {}
    for path in sorted((CATALOGUES / "en").glob("*.po")):
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale="en")
        for message in catalogue:
            if isinstance(message.id, str) and isinstance(message.string, str) and message.string:
                messages[message.id] = message.string
    return messages


def language() -> Language:
    return _language.get()


def language_of(request: Request) -> Language:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return "en" if chosen == "en" else "zh"


@contextmanager
def speaking(chosen: Language) -> Iterator[None]:
    """Render (and translate) in ``chosen`` within the block."""
    token = _language.set(chosen)
    try:
        yield
    finally:
        _language.reset(token)


def gettext(message: str, **variables: Any) -> str:
    """The message in the current language, formatted with ``variables`` (``%(name)s``)."""
    text = english().get(message, message) if _language.get() == "en" else message
    return text % variables if variables else text


def ngettext(singular: str, plural: str, count: int, **variables: Any) -> str:
    # Chinese has one form; English takes the plural's translation past one.
    chosen = singular if _language.get() == "zh" or count == 1 else plural
    return gettext(chosen, num=count, **variables)


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark, translate later"
    """Marks a constant's words for the catalogue; ``_()`` translates them where shown."""
    return message


def text_of(pair: Any) -> str:
    """A document's text (a program's or a policy's ``Text``: ``zh``, optional ``en``) in
    the page's language; Chinese where no English is given."""
    return str(pair.en or pair.zh) if language() == "en" else str(pair.zh)


def error_message(error: LuodiError) -> str:
    """A typed error's message in the current language (each error carries both)."""
    return error.message_en if _language.get() == "en" else error.message_zh


def problem_text(problem: FieldProblem) -> str:
    """A field problem (file, row, column, value, reason) in the current language."""
    return problem.describe(_language.get())


def used_messages() -> dict[str, str]:
    """Every message the pages translate (msgid → where it is first used): ``_()`` in the
    templates and in the web modules, read by Babel's extractors."""
    from babel.messages.extract import extract_from_dir

    root = Path(__file__).parent
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found: dict[str, str] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        str(root),
        method_map,
        options,
        keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, f"{filename}:{line}")
    for text in _data_labels():
        found.setdefault(text, "notices/models.py")
    return found


def _data_labels() -> list[str]:
    """Labels that come with the data, not the templates: a notice's column titles, the
    roles' names."""
    from luodi.auth.actor import ROLE_LABELS
    from luodi.notices.models import LAYOUT_COLUMNS, PUBLIC_COLUMNS

    return [
        label
        for columns in (*LAYOUT_COLUMNS.values(), *PUBLIC_COLUMNS.values(), ROLE_LABELS)
        for label in columns.values()
    ]


def untranslated() -> dict[str, str]:
    """The messages used with no English in the catalogue (msgid → where)."""
    known = english()
    return {text: where for text, where in used_messages().items() if text not in known}


def print_missing() -> None:
    """Print the missing messages as catalogue entries to fill in (``msgstr`` empty):
    ``python -c "from luodi.web import i18n; i18n.print_missing()"``."""
    for text, where in untranslated().items():
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        print(f'#: {where}\nmsgid "{escaped}"\nmsgstr ""\n')


class LanguageMiddleware:
    """Speaks the visitor's language (the ``luodi_lang`` cookie) for the whole request, so
    that words a route computes before rendering (a chart's labels, a flash message) are in
    the page's language too. Set here, before the route runs: a sync route runs in a thread
    that starts from a copy of this context."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen: Language = "zh"
        for name, value in scope.get("headers", ()):
            if name == b"cookie" and f"{LANGUAGE_COOKIE}=en".encode() in value:
                chosen = "en" if _cookie(value.decode("latin-1"), LANGUAGE_COOKIE) == "en" else "zh"
        with speaking(chosen):
            await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed cookie header names no language
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None
