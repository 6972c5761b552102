"""Typed errors shared by every domain: a message in Chinese and in English, and a status.

One handler renders them for the API (``app.py``) and one for the CLI (``cli.py``); an expected
business failure is never a 500 and never a traceback.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from luodi.kernels.masking import mask_id_number, mask_numbers_in, mask_phone

MAX_ID = 2**31 - 1
"""The largest object id: the ``INTEGER`` of both databases. A larger id names nothing (not
found), and is never handed to the driver, where it would overflow into a 500. Kept here, where
every layer (the web parameters, the CLI, the services) can import it without loading FastAPI
or SQLAlchemy."""

EXCERPT_CHARS = 60
"""How much of a refused value a message may echo back."""


_VALIDATION_WORDS: dict[str, tuple[str, str]] = {
    "missing": ("缺少必填项", "required"),
    "extra_forbidden": ("未知的键", "not an allowed key"),
    "int_parsing": ("应为整数", "must be a whole number"),
    "int_type": ("应为整数", "must be a whole number"),
    "int_from_float": ("应为整数", "must be a whole number"),
    "float_parsing": ("应为数字", "must be a number"),
    "float_type": ("应为数字", "must be a number"),
    "bool_parsing": ("应为 true 或 false", "must be true or false"),
    "bool_type": ("应为 true 或 false", "must be true or false"),
    "string_type": ("应为文字", "must be text"),
    "string_too_long": ("不能超过 {max_length} 个字符", "at most {max_length} characters"),
    "string_too_short": ("至少 {min_length} 个字符", "at least {min_length} characters"),
    "string_pattern_mismatch": ("格式不符", "does not have the expected form"),
    "greater_than_equal": ("不能小于 {ge}", "must be at least {ge}"),
    "greater_than": ("应大于 {gt}", "must be more than {gt}"),
    "less_than_equal": ("不能大于 {le}", "must be at most {le}"),
    "less_than": ("应小于 {lt}", "must be less than {lt}"),
    "date_parsing": ("日期格式应为 YYYY-MM-DD 且为真实日期", "must be a real YYYY-MM-DD date"),
    "date_from_datetime_parsing": (
        "日期格式应为 YYYY-MM-DD 且为真实日期",
        "must be a real YYYY-MM-DD date",
    ),
    "date_type": ("日期格式应为 YYYY-MM-DD", "must be a YYYY-MM-DD date"),
    "enum": ("应为以下之一：{expected}", "must be one of {expected}"),
    "literal_error": ("应为以下之一：{expected}", "must be one of {expected}"),
    "list_type": ("应为列表", "must be a list"),
    "too_long": ("最多 {max_length} 项", "at most {max_length} items"),
    "too_short": ("至少 {min_length} 项", "at least {min_length} items"),
    "dict_type": ("应为对象", "must be an object"),
    "model_type": ("应为对象", "must be an object"),
    "model_attributes_type": ("应为对象", "must be an object"),
    "json_invalid": ("不是有效的 JSON", "is not valid JSON"),
}
"""Pydantic's error types in both languages (its own messages are English only)."""


def validation_reason(problem: Any) -> tuple[str, str]:
    """(zh, en) of one of Pydantic's errors (``ValidationError.errors()``): its type in
    both languages with its limits, or a validator's own message (ours say both)."""
    words = _VALIDATION_WORDS.get(str(problem.get("type")))
    if words is None:
        message = str(problem.get("msg", "")).removeprefix("Value error, ")
        return message, message
    context = {key: str(value) for key, value in (problem.get("ctx") or {}).items()}
    try:
        return words[0].format(**context), words[1].format(**context)
    except (KeyError, IndexError):
        return words


def excerpt(value: Any) -> Any:
    """A short excerpt of a refused value: never the whole of a large input."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON cannot carry it; the answer must still be written
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        # str() of an integer of thousands of digits raises (Python's conversion limit)
        return value if value.bit_length() <= 64 else f"（{value.bit_length()} 位整数 / bits）"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= EXCERPT_CHARS:
        return text
    return f"{text[:EXCERPT_CHARS]}…（共 {len(text)} 字符 / {len(text)} chars）"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid value: where (file, row, field), what value, why (zh and en)."""

    field: str
    value: Any
    reason_zh: str
    reason_en: str
    file: str | None = None
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "field": self.field,
            # Masked as in messages and logs: an answer is kept by proxies and clients too.
            "value": self.shown_value(),
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }

    def describe(self, language: str | None = None) -> str:
        """One line naming where (file, row, column), the value and the reason: in Chinese
        (``"zh"``), in English (``"en"``), or both (a listing read by either)."""
        if language == "zh":
            where_zh = "".join(
                part
                for part in (
                    f"文件 {self.file} " if self.file else "",
                    f"第 {self.row} 行 " if self.row is not None else "",
                    f"列 {self.field}",
                )
            )
            return f"{where_zh}：{self.shown_value()!r} — {self.reason_zh}"
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file else "",
                f"row {self.row}" if self.row is not None else "",
                f"column {self.field}",
            )
            if part
        )
        if language == "en":
            return f"{where}: {self.shown_value()!r} — {self.reason_en}"
        return f"{where}: {self.shown_value()!r} — {self.reason_zh} / {self.reason_en}"

    def shown_value(self) -> Any:
        """The value as it may appear in messages and logs: personal numbers masked, long
        values cut to an excerpt."""
        value = self.value
        if any(secret in self.field.lower() for secret in ("password", "token", "secret")):
            return "***"  # never echoed, not even an excerpt (a 300-character password)
        personal = self.field.endswith(("id_number", "phone"))
        if personal and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a number sent where text belongs is the same number
        if isinstance(value, str) and personal:
            masked = mask_id_number(value) if "id" in self.field else mask_phone(value)
            return excerpt(masked)
        if isinstance(value, (str, list, dict)):
            # Any other text or a whole refused body: the numbers in it masked before it is
            # cut to an excerpt (a cut would leave part of a number unmasked).
            text = (
                value
                if isinstance(value, str)
                else json.dumps(value, ensure_ascii=False, default=str)
            )
            return excerpt(mask_numbers_in(text))
        return excerpt(value)


@dataclass(eq=False)
class LuodiError(Exception):
    message_zh: str
    message_en: str
    status: int = 400
    details: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "details": [problem.as_dict() for problem in self.details],
        }


class NotFound(LuodiError):
    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, 404)


class Conflict(LuodiError):
    def __init__(
        self, message_zh: str, message_en: str, details: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(message_zh, message_en, 409, details or [])


class Invalid(LuodiError):
    def __init__(
        self, message_zh: str, message_en: str, details: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(message_zh, message_en, 422, details or [])

    @classmethod
    def field(cls, field_name: str, value: Any, reason_zh: str, reason_en: str) -> Invalid:
        """An error about one field, its message naming the field, the value and the reason."""
        problem = FieldProblem(field_name, value, reason_zh, reason_en)
        shown = problem.shown_value()
        return cls(
            f"字段 {field_name} 的值 {shown!r} 无效：{reason_zh}",
            f"field {field_name} value {shown!r} is invalid: {reason_en}",
            [problem],
        )


class Forbidden(LuodiError):
    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, 403)


class Unauthorized(LuodiError):
    """No valid credentials: a missing, expired, revoked or forged token, or a wrong password."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, 401)


class TooManyRequests(LuodiError):
    def __init__(self, message_zh: str, message_en: str, retry_after: int) -> None:
        super().__init__(message_zh, message_en, 429)
        self.retry_after = retry_after
