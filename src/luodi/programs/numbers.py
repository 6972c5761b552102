"""受理编号: the number a resident is given for an application, readable on the phone and at
the counter, and the one the portal, ``/my`` and the notices show and search by.

It is derived, never stored: the program's prefix (the initials of its id: ``school-entry`` →
``SE``), the year the cycle opened and the application's id, zero-padded (``SE-2026-000123``).
The id alone decides the application; prefix and year make a number read aloud or typed
recognisable (a wrong prefix or year is refused, not silently taken).
"""

from __future__ import annotations

import re
from datetime import date

NUMBER_PATTERN = re.compile(r"^\s*([A-Za-z]{1,6})-?([0-9]{4})-?([0-9]{6,12})\s*$")
DIGITS = 6


def program_prefix(program_id: str) -> str:
    """The initials of the program's id, upper case (``public-rental`` → ``PR``)."""
    return "".join(part[0] for part in re.split(r"[-_]", program_id) if part).upper()[:6]


def application_number(program_id: str, opens: date, application_id: int) -> str:
    """The 受理编号 of application ``application_id`` of a cycle of ``program_id`` that opened
    on ``opens``."""
    return f"{program_prefix(program_id)}-{opens.year}-{application_id:0{DIGITS}d}"


def parse_application_number(
    text: str, program_id: str | None = None, opens: date | None = None
) -> int | None:
    """The application id a 受理编号 names (dashes optional, any case); None when ``text`` is
    not one, or names another program's prefix or another year than those given."""
    found = NUMBER_PATTERN.match(text)
    if found is None:
        return None
    prefix, year, digits = found.groups()
    if program_id is not None and prefix.upper() != program_prefix(program_id):
        return None
    if opens is not None and int(year) != opens.year:
        return None
    return int(digits)
