"""Citizen ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015).

Scalar checks give the precise reason a value is invalid; the vectorised check-character
functions serve the synthetic-city generator, which builds a million numbers at a time. The
scalar checks are pure Python: NumPy and Polars are imported by the vectorised functions that
use them, so that ``luodi id check`` starts without either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from luodi.kernels.regions import PROVINCES

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
ID_CHECK_CHARACTERS = "10X98765432"

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUE = {character: value for value, character in enumerate(CREDIT_CODE_ALPHABET)}

EARLIEST_BIRTH_YEAR = 1900


class IdProblem(StrEnum):
    LENGTH = "length"
    CHARACTERS = "characters"
    REGION = "region"
    BIRTH_DATE = "birth_date"
    SEQUENCE = "sequence"
    CHECK_CHARACTER = "check_character"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True)
class IdNumberCheck:
    """The verdict on one ID number; on success, what the number itself tells."""

    raw: str
    number: str
    problem: IdProblem | None = None
    reason_zh: str = ""
    reason_en: str = ""
    birth_date: date | None = None
    sex: Sex | None = None
    region_code: str | None = None
    origin_province: str | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


def id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


NUMBER_LOST_ZH = "身份证号被表格存成了数字，末几位已丢失；请把该列设为文本后重新导出"
NUMBER_LOST_EN = (
    "the spreadsheet stored the ID number as a number and its last digits are lost; "
    "set the column to text and export again"
)
_AS_A_NUMBER = re.compile(r"^\d(?:\.\d+)?E\+?\d+$")
"""3.40522E+17: what a spreadsheet writes into a CSV for an ID number it holds as a number."""


def check_id_number(raw: str, today: date | None = None) -> IdNumberCheck:
    """Validate an 18-character ID number; ``x`` is accepted and normalised to ``X``."""
    number = raw.strip().upper()

    def invalid(problem: IdProblem, zh: str, en: str) -> IdNumberCheck:
        return IdNumberCheck(raw, number, problem, zh, en)

    if _AS_A_NUMBER.match(number):
        return invalid(IdProblem.CHARACTERS, NUMBER_LOST_ZH, NUMBER_LOST_EN)
    if len(number) != 18:
        return invalid(
            IdProblem.LENGTH,
            f"长度应为18位，实际为{len(number)}位",
            f"must be 18 characters long, got {len(number)}",
        )
    if not number[:17].isascii() or not number[:17].isdigit():
        return invalid(
            IdProblem.CHARACTERS,
            "前17位必须全部是数字",
            "the first 17 characters must all be digits",
        )
    if not (number[17].isascii() and (number[17].isdigit() or number[17] == "X")):
        return invalid(
            IdProblem.CHARACTERS,
            f"第18位校验码只能是数字或X，实际为“{number[17]}”",
            f"the 18th (check) character must be a digit or X, got {number[17]!r}",
        )
    region = number[:6]
    province = PROVINCES.get(region[:2])
    if province is None:
        return invalid(
            IdProblem.REGION,
            f"地址码{region}的省级代码{region[:2]}不存在",
            f"region code {region}: province code {region[:2]} does not exist",
        )
    birth_text = number[6:14]
    try:
        birth = date(int(birth_text[:4]), int(birth_text[4:6]), int(birth_text[6:8]))
    except ValueError:
        return invalid(
            IdProblem.BIRTH_DATE,
            f"出生日期{birth_text}不是有效的日历日期",
            f"birth date {birth_text} is not a real calendar date",
        )
    if birth > (today or date.today()):
        return invalid(
            IdProblem.BIRTH_DATE,
            f"出生日期{birth.isoformat()}晚于今天",
            f"birth date {birth.isoformat()} is in the future",
        )
    if birth.year < EARLIEST_BIRTH_YEAR:
        return invalid(
            IdProblem.BIRTH_DATE,
            f"出生日期{birth.isoformat()}早于{EARLIEST_BIRTH_YEAR}年",
            f"birth date {birth.isoformat()} is before {EARLIEST_BIRTH_YEAR}",
        )
    sequence = number[14:17]
    if sequence == "000":
        return invalid(
            IdProblem.SEQUENCE,
            "顺序码不能为000",
            "sequence code cannot be 000",
        )
    expected = id_check_character(number[:17])
    if number[17] != expected:
        return invalid(
            IdProblem.CHECK_CHARACTER,
            f"校验码应为{expected}，实际为{number[17]}",
            f"check character should be {expected}, got {number[17]}",
        )
    return IdNumberCheck(
        raw,
        number,
        birth_date=birth,
        sex=Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE,
        region_code=region,
        origin_province=province,
    )


def id_check_characters(first17_digits: npt.NDArray[np.integer]) -> npt.NDArray[np.str_]:
    """Vectorised check characters for an (n, 17) array of digits."""
    import numpy as np

    if first17_digits.ndim != 2 or first17_digits.shape[1] != 17:
        raise ValueError("expected an (n, 17) array of digits")
    remainders = (first17_digits.astype(np.int64) @ np.array(ID_WEIGHTS, dtype=np.int64)) % 11
    characters: npt.NDArray[np.str_] = np.array(list(ID_CHECK_CHARACTERS))[remainders]
    return characters


class CreditCodeProblem(StrEnum):
    LENGTH = "length"
    CHARACTERS = "characters"
    REGION = "region"
    CHECK_CHARACTER = "check_character"


@dataclass(frozen=True)
class CreditCodeCheck:
    raw: str
    code: str
    problem: CreditCodeProblem | None = None
    reason_zh: str = ""
    reason_en: str = ""

    @property
    def valid(self) -> bool:
        return self.problem is None


def credit_code_check_character(first17: str) -> str:
    total = sum(
        _CREDIT_VALUE[character] * weight
        for character, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def check_credit_code(raw: str) -> CreditCodeCheck:
    """Validate an 18-character unified social credit code (统一社会信用代码)."""
    code = raw.strip().upper()

    def invalid(problem: CreditCodeProblem, zh: str, en: str) -> CreditCodeCheck:
        return CreditCodeCheck(raw, code, problem, zh, en)

    if len(code) != 18:
        return invalid(
            CreditCodeProblem.LENGTH,
            f"长度应为18位，实际为{len(code)}位",
            f"must be 18 characters long, got {len(code)}",
        )
    bad = sorted({character for character in code if character not in _CREDIT_VALUE})
    if bad:
        return invalid(
            CreditCodeProblem.CHARACTERS,
            f"含有不允许的字符：{''.join(bad)}（不使用I、O、Z、S、V）",
            f"has characters outside the code alphabet: {''.join(bad)} (I, O, Z, S, V unused)",
        )
    if not code[2:8].isdigit():
        return invalid(
            CreditCodeProblem.REGION,
            f"第3至8位登记管理机关行政区划码{code[2:8]}必须是数字",
            f"characters 3-8 (registration region code) {code[2:8]} must be digits",
        )
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        return invalid(
            CreditCodeProblem.CHECK_CHARACTER,
            f"校验码应为{expected}，实际为{code[17]}",
            f"check character should be {expected}, got {code[17]}",
        )
    return CreditCodeCheck(raw, code)


def credit_code_check_characters(first17_values: npt.NDArray[np.integer]) -> npt.NDArray[np.str_]:
    """Vectorised check characters for an (n, 17) array of alphabet values (0..30)."""
    import numpy as np

    if first17_values.ndim != 2 or first17_values.shape[1] != 17:
        raise ValueError("expected an (n, 17) array of code values")
    totals = (first17_values.astype(np.int64) @ np.array(CREDIT_CODE_WEIGHTS, dtype=np.int64)) % 31
    characters: npt.NDArray[np.str_] = np.array(list(CREDIT_CODE_ALPHABET))[(31 - totals) % 31]
    return characters


ID_PATTERN = r"^[0-9]{17}[0-9X]$"
CREDIT_CODE_PATTERN = f"^[{CREDIT_CODE_ALPHABET}]{{2}}[0-9]{{6}}[{CREDIT_CODE_ALPHABET}]{{10}}$"
"""Eighteen characters each, all ASCII: what the check characters are computed over."""


def _check_character_holds(
    values: pl.Series,
    pattern: str,
    holds: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.bool_]],
) -> pl.Series:
    """For a batch of text values: whether each matches ``pattern`` (18 ASCII characters)
    and its check character holds, ``holds`` deciding on the (n, 18) bytes of the matching
    ones at once. A value per character in Polars cost a second a million."""
    import numpy as np

    formed = values.str.contains(pattern).fill_null(False)
    positions = formed.arg_true()
    if positions.len() == 0:
        return formed
    chosen = values if positions.len() == values.len() else values.gather(positions)
    text = chosen.str.join("").item()
    matrix = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    return formed.scatter(positions, holds(matrix))


def _weighted_sum(
    matrix: npt.NDArray[np.uint8], value_of_byte: npt.NDArray[np.int32], weights: tuple[int, ...]
) -> npt.NDArray[np.int32]:
    """Σ weight × value of the first ``len(weights)`` characters of each row, a column at a
    time (a matrix product over int64 copies took five times as long)."""
    import numpy as np

    total = np.zeros(len(matrix), dtype=np.int32)
    for position, weight in enumerate(weights):
        total += value_of_byte[matrix[:, position]] * weight
    return total


def _values_of_bytes(alphabet: str) -> npt.NDArray[np.int32]:
    """Byte → the value of the character (its position in ``alphabet``), 0 for others."""
    import numpy as np

    table = np.zeros(256, dtype=np.int32)
    for value, character in enumerate(alphabet):
        table[ord(character)] = value
    return table


def _id_check_holds(numbers: pl.Series) -> pl.Series:
    import numpy as np

    digit_value = _values_of_bytes("0123456789")
    expected = np.frombuffer(ID_CHECK_CHARACTERS.encode("ascii"), dtype=np.uint8)

    def holds(matrix: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        remainders = _weighted_sum(matrix, digit_value, ID_WEIGHTS) % 11
        same: npt.NDArray[np.bool_] = expected[remainders] == matrix[:, 17]
        return same

    return _check_character_holds(numbers, ID_PATTERN, holds)


def _credit_check_holds(codes: pl.Series) -> pl.Series:
    value_of_byte = _values_of_bytes(CREDIT_CODE_ALPHABET)

    def holds(matrix: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
        totals = _weighted_sum(matrix, value_of_byte, CREDIT_CODE_WEIGHTS) % 31
        same: npt.NDArray[np.bool_] = (31 - totals) % 31 == value_of_byte[matrix[:, 17]]
        return same

    return _check_character_holds(codes, CREDIT_CODE_PATTERN, holds)


def id_number_valid(number: pl.Expr, today: date) -> pl.Expr:
    """True where a (trimmed, upper-case) ID number passes every check of
    :func:`check_id_number`, column-wise (a million in a blink); null stays null."""
    import polars as pl

    birth = number.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (
        number.str.contains(ID_PATTERN)
        & number.str.slice(0, 2).is_in(list(PROVINCES))
        & birth.is_not_null()
        & (birth <= today)
        & (birth.dt.year() >= EARLIEST_BIRTH_YEAR)
        & (number.str.slice(14, 3) != "000")
        & number.map_batches(_id_check_holds, return_dtype=pl.Boolean, is_elementwise=True)
    ).fill_null(False)


def credit_code_valid(code: pl.Expr) -> pl.Expr:
    """True where a (trimmed, upper-case) credit code passes :func:`check_credit_code`."""
    import polars as pl

    return code.map_batches(_credit_check_holds, return_dtype=pl.Boolean, is_elementwise=True)


def invalid_id_number_rows(numbers: pl.Series, today: date) -> pl.Series:
    """Positions of the invalid numbers in a column, found column-wise.

    The reason for each is then given by :func:`check_id_number`, which is exact but scalar.
    """
    import polars as pl

    text = numbers.cast(pl.String).str.strip_chars().str.to_uppercase()
    frame = pl.DataFrame({"number": text})
    valid = id_number_valid(pl.col("number"), today)
    return frame.with_row_index("row").filter(~valid)["row"]
