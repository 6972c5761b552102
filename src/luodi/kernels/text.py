"""Checks of short free text that names something (a person, a town, an employer).

A name is shown on notices, exports and staff screens, so it must be something a person can
read: not empty, not only spaces, no control characters (a NUL or a line break splits a CSV
row or a log line) and no bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/F
reorder what follows them, so that "张三" can be made to display as another text).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

FORBIDDEN_PATTERN = r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
"""The forbidden characters as a regular expression, for column-wise checks (Polars)."""


@dataclass(frozen=True)
class NameCheck:
    value: str
    """The name with surrounding spaces removed (what is stored)."""
    reason_zh: str | None = None
    reason_en: str | None = None

    @property
    def valid(self) -> bool:
        return self.reason_zh is None


def _forbidden(character: str) -> bool:
    # Cc: C0/C1 controls; Zl/Zp: line and paragraph separators (line breaks by another name).
    return character in BIDI_CONTROLS or unicodedata.category(character) in ("Cc", "Zl", "Zp")


def check_name(value: str, max_length: int) -> NameCheck:
    """Whether ``value`` is a readable name of at most ``max_length`` characters."""
    name = value.strip()
    if not name:
        return NameCheck(name, "不能为空或只有空格", "must not be empty or only spaces")
    bad = next((character for character in name if _forbidden(character)), None)
    if bad is not None:
        return NameCheck(
            name,
            f"含有不可见的控制字符或方向控制字符 U+{ord(bad):04X}",
            f"contains the invisible control or bidirectional character U+{ord(bad):04X}",
        )
    if len(name) > max_length:
        return NameCheck(
            name, f"不能超过 {max_length} 个字符", f"must be at most {max_length} characters"
        )
    return NameCheck(name)
