"""Masking of personal data on anything public (DESIGN.md, 国办 2018 政务公开要点)."""

from __future__ import annotations


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
