"""Masking of personal data on anything public (DESIGN.md, 国办 2018 政务公开要点)."""

from __future__ import annotations

import re

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
_PHONE_LIKE = re.compile(r"(?<![0-9])1[0-9]{10}(?![0-9])")


def mask_name(name: str) -> str:
    """Keep the first character: 张三丰 → 张**."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_id_number(number: str) -> str:
    """Keep the first 2 and last 3 characters: 33*************12X."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 5) + number[-3:]


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits: 138****1234."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_numbers_in(text: str) -> str:
    """Every citizen ID number (18 or 15 characters) and mobile number standing alone in a
    free text masked: a refused request body echoed back must not carry them."""
    text = _ID_LIKE.sub(lambda found: mask_id_number(found.group(0)), text)
    return _PHONE_LIKE.sub(lambda found: mask_phone(found.group(0)), text)
