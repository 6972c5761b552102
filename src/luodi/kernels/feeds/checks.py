"""Checking a feed's rows column-wise, lazily, so that a file larger than memory streams through.

The input is a LazyFrame of text columns named by their canonical names plus ``_line`` (the
row as seen in the source). ``check_rows`` adds, for each column, the typed value and one
boolean flag per check; ``rejections`` lists the flagged rows (row, column, value, reason in
Chinese and English); ``accepted`` keeps the rows with no flag; ``facts_of`` turns them into
the long-form facts the points policy reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from luodi.kernels.feeds.spec import (
    Column,
    ColumnType,
    FeedSpec,
    Reference,
    UnknownPerson,
)
from luodi.kernels.identifiers import (
    check_credit_code,
    check_id_number,
    credit_code_valid,
    id_number_valid,
)

LINE = "_line"
RESIDENT = "resident_id"
RECORD_KEY = "record_key"
DUPLICATE_OF = "_duplicate_of"
TRUE_WORDS = ["true", "1", "yes", "y", "是", "有", "√"]
FALSE_WORDS = ["false", "0", "no", "n", "否", "无", "×"]
REFERENCE_KEY = "key"
"""Reference sets (known towns, employers, residents) are frames with this one column."""


UNKNOWN_CODE = ("登记库中没有此代码", "unknown to the registry")
REFERENCE_REASONS = {
    Reference.TOWNS: ("登记库中没有此镇街代码", "no such town in the registry"),
    Reference.EMPLOYERS: ("登记库中没有此用人单位", "no such employer in the registry"),
    Reference.PERMITS: ("登记库中没有此居住证", "no such residence permit in the registry"),
}
OWNER = "owner"
"""A reference frame with this column (a resident id) also names whose the value is: a row
naming someone else's permit is refused."""
VALID_FROM, VALID_TO = "valid_from", "valid_to"
"""A reference frame with these columns (dates) also says when each value held: a column
declared ``during`` it must fall between them (an endorsement within its permit's validity)."""
VOID = "void"
"""A feed's optional true/false column withdrawing the record its key names (作废)."""


def raw(name: str) -> str:
    return f"raw__{name}"


@dataclass(frozen=True)
class Check:
    """One reason a row can be refused; ``flag`` is its boolean column in the checked frame."""

    flag: str
    column: str
    reason_zh: pl.Expr
    reason_en: pl.Expr
    id_reason: str | None = None
    """'id_number' or 'credit_code': the exact reason is then worked out per value."""


def normalised_text(expression: pl.Expr) -> pl.Expr:
    """Full-width digits and letters folded (NFKC), spaces trimmed, empty cells as null."""
    cell = expression.cast(pl.String)
    # NFKC leaves ASCII as it is: only the cells with another character are folded (the
    # others reach the normaliser as nulls), a fifth of the time on a file of digits.
    wide = pl.when(cell.str.len_bytes() != cell.str.len_chars()).then(cell)
    text = pl.coalesce(wide.str.normalize("NFKC"), cell).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def parse_date(text: pl.Expr) -> pl.Expr:
    """2025-01-05, 2025/1/5, 2025.1.5, 2025年1月5日, 20250105 and Excel's '2025-01-05 00:00:00'."""
    dashed = (
        text.str.replace_all(r"[/.年月]", "-")
        .str.replace_all("日", "")
        .str.split(" ")
        .list.first()
        .str.split("T")
        .list.first()
    )
    return pl.coalesce(
        dashed.str.to_date("%Y-%m-%d", strict=False),
        pl.when(text.str.contains(r"^\d{8}$")).then(text.str.to_date("%Y%m%d", strict=False)),
    )


def parse_number(text: pl.Expr) -> pl.Expr:
    """A finite number ("nan", "inf" and 1e400 are not amounts anybody means)."""
    number = text.str.replace_all(",", "").cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number)


def parse_bool(text: pl.Expr) -> pl.Expr:
    lowered = text.str.to_lowercase()
    return (
        pl.when(lowered.is_in(TRUE_WORDS))
        .then(True)
        .when(lowered.is_in(FALSE_WORDS))
        .then(False)
        .otherwise(None)
    )


_PERIOD = r"^(\d{4})(?:年度|年)?$|^(\d{4})(?:(?:[-/.]|年)(\d{1,2})月?|(\d{2}))$"
"""2025, 2025年, 2025年度 (a year); 2025-01, 2025/1, 2025.1, 2025年1月, 202501 (a month)."""


def parse_period(text: pl.Expr) -> pl.Expr:
    """A payment period as text: ``YYYY`` for a year, ``YYYY-MM`` for a month; null where the
    text is neither (``26-01``) or names no month (``2025-13``)."""
    # Most cells are written so already: they are their own period. Only the others are
    # parsed (reaching the parser as nulls, the spelled ones pass through it for nothing;
    # parsing every cell was a second of a million-row file).
    written = text.str.contains(r"^\d{4}(?:-(?:0[1-9]|1[0-2]))?$")
    return pl.when(written).then(text).otherwise(_spelled_period(pl.when(~written).then(text)))


def _spelled_period(text: pl.Expr) -> pl.Expr:
    parts = text.str.extract_groups(_PERIOD)
    year = pl.coalesce(parts.struct.field("1"), parts.struct.field("2"))
    month = pl.coalesce(parts.struct.field("3"), parts.struct.field("4")).cast(pl.Int32)
    # Excel makes a date of a month typed as 2025-01 (the 1st, shown as Jan-25), and the
    # sheet is read as '2025-01-01 00:00:00': a date on a month's first day is that month.
    # Any other day names no period and stays null (refused, see ``period_is_a_day``).
    day = parse_date(text)
    return (
        pl.when(parts.struct.field("1").is_not_null())
        .then(year)
        .when(month.is_between(1, 12))
        .then(pl.concat_str(year, pl.lit("-"), month.cast(pl.String).str.zfill(2)))
        .when(day.dt.day() == 1)
        .then(day.dt.strftime("%Y-%m"))
    )


def period_is_a_day(text: pl.Expr) -> pl.Expr:
    """The text is a date not on a month's first day: no period, refused for its own reason."""
    return parse_date(text).dt.day() != 1


def period_start(period: pl.Expr) -> pl.Expr:
    """The first day of a period (``YYYY`` or ``YYYY-MM``)."""
    month = pl.when(period.str.len_chars() == 7).then(period.str.slice(5, 2)).otherwise(pl.lit("1"))
    return pl.date(period.str.slice(0, 4).cast(pl.Int32), month.cast(pl.Int32), 1)


def period_end(period: pl.Expr) -> pl.Expr:
    """The last day of a period (31 December for a year, the month's last day for a month)."""
    start = period_start(period)
    return (
        pl.when(period.str.len_chars() == 7)
        .then(start.dt.month_end())
        .otherwise(pl.date(start.dt.year(), 12, 31))
    )


def period_months(period: pl.Expr) -> pl.Expr:
    """How many months a period spans: 1 for a month, 12 for a year."""
    return pl.when(period.str.len_chars() == 7).then(1).otherwise(12)


def _enum_lookup(column: Column) -> dict[str, str]:
    assert column.values is not None
    lookup: dict[str, str] = {}
    for canonical, aliases in column.values.items():
        for spelling in [canonical, *aliases]:
            lookup[spelling.strip().lower()] = canonical
    return lookup


def typed(name: str, column: Column) -> pl.Expr:
    """The typed value of a given cell, or null where the text does not parse."""
    text = pl.col(raw(name))
    match column.type:
        case ColumnType.INT:
            number = parse_number(text)
            return pl.when(number == number.floor()).then(number).cast(pl.Int64, strict=False)
        case ColumnType.YEAR:
            number = parse_number(text.str.strip_suffix("年").str.strip_suffix("年度"))
            return pl.when(number == number.floor()).then(number).cast(pl.Int32, strict=False)
        case ColumnType.FLOAT:
            return parse_number(text)
        case ColumnType.DATE:
            return parse_date(text)
        case ColumnType.PERIOD:
            return parse_period(text)
        case ColumnType.BOOL:
            return parse_bool(text)
        case ColumnType.ENUM:
            lookup = _enum_lookup(column)
            return text.str.to_lowercase().replace_strict(
                list(lookup), list(lookup.values()), default=None, return_dtype=pl.String
            )
        case ColumnType.ID_NUMBER | ColumnType.CREDIT_CODE:
            return text.str.to_uppercase()
        case ColumnType.STRING:
            return text


EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
"""Dates outside these are typing errors (year 0, 20250 for 2025), and beyond what the
databases and Python store alike."""

TYPE_REASONS: dict[ColumnType, tuple[str, str]] = {
    ColumnType.INT: ("应为整数", "must be a whole number"),
    ColumnType.YEAR: ("应为四位年份，如 2025", "must be a four-digit year such as 2025"),
    ColumnType.FLOAT: ("应为数字", "must be a number"),
    ColumnType.DATE: (
        "应为真实日期，如 2025-01-05、2025/1/5、2025年1月5日",
        "must be a real date such as 2025-01-05, 2025/1/5 or 20250105",
    ),
    ColumnType.BOOL: ("应为 是/否", "must be yes or no (是/否)"),
    ColumnType.PERIOD: (
        "应为年份（如 2025，全年合计）或年月（如 2025-01，月份 1–12）",
        "must be a year such as 2025 (the year's total) or a month such as 2025-01 (month 1–12)",
    ),
}


def _constant(zh: str, en: str) -> tuple[pl.Expr, pl.Expr]:
    return pl.lit(zh), pl.lit(en)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def column_checks(name: str, column: Column, today: date) -> list[tuple[pl.Expr, Check]]:
    """(bad-row expression, check) for one column, in the order a person would read them."""
    given = pl.col(raw(name)).is_not_null()
    value = pl.col(name)
    checks: list[tuple[pl.Expr, Check]] = []

    def add(
        bad: pl.Expr, kind: str, reasons: tuple[pl.Expr, pl.Expr], id_reason: str | None = None
    ) -> None:
        checks.append((bad, Check(f"bad__{name}__{kind}", name, *reasons, id_reason)))

    if column.required:
        add(~given, "missing", _constant("必填项为空", "required value missing"))
    # A NUL character is never text (a damaged file or record); databases refuse it.
    add(
        given & pl.col(raw(name)).str.contains("\x00", literal=True),
        "nul",
        _constant("含有空字符（NUL，0x00）", "contains a NUL character (0x00)"),
    )
    match column.type:
        case ColumnType.ID_NUMBER:
            add(given & ~id_number_valid(value, today), "id", _constant("", ""), "id_number")
        case ColumnType.CREDIT_CODE:
            add(given & ~credit_code_valid(value), "code", _constant("", ""), "credit_code")
        case ColumnType.ENUM:
            assert column.values is not None
            allowed = ", ".join(
                f"{key}（{'/'.join(aliases)}）" if aliases else key
                for key, aliases in column.values.items()
            )
            add(
                given & value.is_null(),
                "enum",
                _constant(f"取值应为 {allowed} 之一", f"must be one of {allowed}"),
            )
        case ColumnType.STRING:
            pass
        case ColumnType.PERIOD:
            # Read as a date only where no period was (most cells are one).
            is_day = period_is_a_day(pl.when(value.is_null()).then(pl.col(raw(name))))
            is_day = is_day.fill_null(False)
            add(
                given & value.is_null() & is_day,
                "day",
                _constant(
                    "是某一天的日期，不是所属期：所属期是一个年份（如 2025）或一个月（如 2025-01；"
                    "某月 1 日的日期读作该月）",
                    "is a day, not a period: a period is a year (2025) or a month (2025-01; "
                    "a date on a month's first day reads as that month)",
                ),
            )
            add(
                given & value.is_null() & ~is_day,
                "type",
                _constant(*TYPE_REASONS[ColumnType.PERIOD]),
            )
        case other:
            add(given & value.is_null(), "type", _constant(*TYPE_REASONS[other]))
    low = (
        column.min if column.min is not None else (1900 if column.type == ColumnType.YEAR else None)
    )
    high = (
        column.max if column.max is not None else (2100 if column.type == ColumnType.YEAR else None)
    )
    if low is not None:
        add(
            value < low,
            "min",
            _constant(f"不能小于 {_number_text(low)}", f"must not be below {_number_text(low)}"),
        )
    if high is not None:
        add(
            value > high,
            "max",
            _constant(f"不能大于 {_number_text(high)}", f"must not be above {_number_text(high)}"),
        )
    if column.type == ColumnType.DATE:
        add(
            (value < pl.lit(EARLIEST_DATE)) | (value > pl.lit(LATEST_DATE)),
            "range",
            _constant(
                f"日期应在 {EARLIEST_DATE} 至 {LATEST_DATE} 之间",
                f"date must be between {EARLIEST_DATE} and {LATEST_DATE}",
            ),
        )
    if column.type == ColumnType.PERIOD:
        add(
            period_start(value) < pl.lit(EARLIEST_DATE),
            "range",
            _constant(
                f"所属期应不早于 {EARLIEST_DATE.year} 年", f"period before {EARLIEST_DATE.year}"
            ),
        )
        # A period not yet begun cannot have been paid (the current month can).
        add(
            period_start(value) > pl.lit(today),
            "future",
            _constant(
                f"所属期晚于今天（{today}）尚未开始", f"period has not begun by today ({today})"
            ),
        )
    if column.months_in is not None:
        add(
            value > period_months(pl.col(column.months_in)),
            "months",
            _constant(
                "按月的记录缴费月数只能为 0 或 1（年度合计最多 12）",
                "a month's record is 0 or 1 month (a year's total at most 12)",
            ),
        )
    if column.not_after_today:
        add(
            value > pl.lit(today),
            "future",
            _constant(f"日期晚于今天（{today}）", f"date is after today ({today})"),
        )
    if column.pattern is not None:
        add(
            given & ~value.str.contains(f"^(?:{column.pattern})$"),
            "pattern",
            _constant(f"格式不符（{column.pattern}）", f"does not match {column.pattern}"),
        )
    if column.max_length is not None:
        add(
            value.str.len_chars() > column.max_length,
            "length",
            _constant(
                f"长度不能超过 {column.max_length} 个字符",
                f"must be at most {column.max_length} characters",
            ),
        )
    return checks


@dataclass(frozen=True)
class CheckedRows:
    frame: pl.LazyFrame
    """``_line``, ``raw__<column>`` (text), ``<column>`` (typed), ``resident_id``,
    ``record_key`` and one boolean ``bad__…`` column per check."""
    checks: list[Check]


def record_key(spec: FeedSpec) -> pl.Expr:
    return pl.concat_str([pl.col(name).cast(pl.String) for name in spec.key], separator="|")


def check_rows(
    spec: FeedSpec,
    rows: pl.LazyFrame,
    today: date,
    residents: pl.LazyFrame,
    references: Mapping[str, pl.LazyFrame] | None = None,
) -> CheckedRows:
    """Type and check every row. ``residents`` maps ``key`` (ID number) → ``resident_id``;
    ``references`` maps a column name to the frame (``key``) of the values it may take."""
    present = set(rows.collect_schema().names())
    frame = rows.select(
        pl.col(LINE).cast(pl.Int64),
        *[
            normalised_text(pl.col(name) if name in present else pl.lit(None, pl.String)).alias(
                raw(name)
            )
            for name in spec.columns
        ],
    ).with_columns(typed(name, column).alias(name) for name, column in spec.columns.items())
    checks: list[Check] = []
    flags: list[pl.Expr] = []
    for name, column in spec.columns.items():
        for bad, check in column_checks(name, column, today):
            flags.append(bad.fill_null(False).alias(check.flag))
            checks.append(check)
    frame = frame.with_columns(flags)

    def row_is_clean(columns: list[str]) -> pl.Expr:
        own = [check.flag for check in checks if check.column in columns]
        return ~pl.any_horizontal(own) if own else pl.lit(True)

    # References: a value must be one the registry knows (a town code, a credit code).
    for name, known in (references or {}).items():
        if name not in spec.columns:
            continue
        flag = f"bad__{name}__unknown"
        marker = f"_known__{name}"
        known_columns = known.collect_schema().names()
        owned = OWNER in known_columns
        dated = VALID_FROM in known_columns and VALID_TO in known_columns
        frame = frame.join(
            known.select(
                pl.col(REFERENCE_KEY).alias(name),
                pl.lit(True).alias(marker),
                *([pl.col(OWNER).alias(f"_owner__{name}")] if owned else []),
                *(
                    [
                        pl.col(VALID_FROM).alias(f"_from__{name}"),
                        pl.col(VALID_TO).alias(f"_to__{name}"),
                    ]
                    if dated
                    else []
                ),
            ).unique(),
            on=name,
            how="left",
        ).with_columns(
            (pl.col(name).is_not_null() & pl.col(marker).is_null() & row_is_clean([name])).alias(
                flag
            )
        )
        reference = spec.columns[name].reference
        reasons = REFERENCE_REASONS[reference] if reference is not None else UNKNOWN_CODE
        checks.append(Check(flag, name, *_constant(*reasons)))

    # The person: known to the registry, or to be created (feeds that register people).
    if spec.person is None:
        frame = frame.with_columns(pl.lit(None, pl.Int64).alias(RESIDENT))
    else:
        frame = frame.join(
            residents.select(pl.col(REFERENCE_KEY).alias(spec.person), pl.col(RESIDENT)),
            on=spec.person,
            how="left",
        )
    if spec.person is not None and spec.unknown_person == UnknownPerson.REJECT:
        flag = f"bad__{spec.person}__unknown"
        frame = frame.with_columns(
            (pl.col(RESIDENT).is_null() & row_is_clean([spec.person])).alias(flag)
        )
        checks.append(
            Check(
                flag,
                spec.person,
                *_constant("登记库中没有此人", "no such resident in the registry"),
            )
        )
    if spec.person is not None:
        # A value that belongs to somebody (a permit): it must be the row's person's.
        for name, known in (references or {}).items():
            if name not in spec.columns or OWNER not in known.collect_schema().names():
                continue
            flag = f"bad__{name}__other_person"
            frame = frame.with_columns(
                (
                    (pl.col(f"_owner__{name}") != pl.col(RESIDENT)).fill_null(False)
                    & row_is_clean([name, spec.person])
                ).alias(flag)
            )
            checks.append(
                Check(
                    flag,
                    name,
                    *_constant(
                        "此证件属于另一人，不是该身份证号的持有人",
                        "it belongs to another person, not to the holder of this ID number",
                    ),
                )
            )

    # Dates within the validity of the record a reference names (an endorsement within its
    # permit's issue and expiry); a row withdrawing a record (void) is not held to it.
    withdrawn = (
        pl.col(VOID).fill_null(False)
        if VOID in spec.columns and spec.columns[VOID].type == ColumnType.BOOL
        else pl.lit(False)
    )
    present_columns = frame.collect_schema().names()
    for name, column in spec.columns.items():
        during = column.during
        if during is None or f"_from__{during}" not in present_columns:
            continue
        flag = f"bad__{name}__during"
        start, end = pl.col(f"_from__{during}"), pl.col(f"_to__{during}")
        frame = frame.with_columns(
            (
                ((pl.col(name) < start) | (pl.col(name) > end)).fill_null(False)
                & ~withdrawn
                & row_is_clean([name, during])
            ).alias(flag)
        )
        checks.append(
            Check(
                flag,
                name,
                pl.format("不在所引证件的有效期内（{} 至 {}）", start, end),
                pl.format("outside the validity of the record it names ({} to {})", start, end),
            )
        )

    # Duplicate keys inside the file: every row sharing a key is refused, naming the first.
    frame = frame.with_columns(
        pl.when(row_is_clean(spec.key)).then(record_key(spec)).alias(RECORD_KEY)
    )
    duplicates = (
        frame.filter(pl.col(RECORD_KEY).is_not_null())
        .group_by(RECORD_KEY)
        .agg(pl.col(LINE).min().alias(DUPLICATE_OF), pl.len().alias("_copies"))
        .filter(pl.col("_copies") > 1)
        .drop("_copies")
    )
    flag = "bad__key__duplicate"
    frame = frame.join(duplicates, on=RECORD_KEY, how="left").with_columns(
        pl.col(DUPLICATE_OF).is_not_null().alias(flag)
    )
    keys = "+".join(spec.key)
    checks.append(
        Check(
            flag,
            spec.key[-1] if len(spec.key) > 1 else spec.key[0],
            pl.format(f"键（{keys}）在文件内重复，首次出现在第 {{}} 行", pl.col(DUPLICATE_OF)),
            pl.format(
                f"key ({keys}) repeated in the file, first at row {{}}", pl.col(DUPLICATE_OF)
            ),
        )
    )
    return CheckedRows(frame, checks)


def _exact_reason(kind: str, today: date, english: bool) -> pl.Expr:
    def reason(value: str) -> str:
        check = check_id_number(value, today) if kind == "id_number" else check_credit_code(value)
        return (check.reason_en if english else check.reason_zh) or ""

    return pl.col("value").map_elements(reason, return_dtype=pl.String)


def rejections(checked: CheckedRows, today: date) -> pl.LazyFrame:
    """One row per refused value: ``row``, ``column``, ``value`` (as written), ``reason_zh``,
    ``reason_en``, ordered by row and then by the order of the checks."""
    parts = []
    for order, check in enumerate(checks := checked.checks):
        part = checked.frame.filter(pl.col(check.flag)).select(
            row=pl.col(LINE),
            order=pl.lit(order),
            column=pl.lit(check.column),
            value=pl.col(raw(check.column)),
            reason_zh=check.reason_zh,
            reason_en=check.reason_en,
        )
        if check.id_reason is not None:
            part = part.with_columns(
                reason_zh=_exact_reason(check.id_reason, today, english=False),
                reason_en=_exact_reason(check.id_reason, today, english=True),
            )
        parts.append(part)
    if not checks:
        return pl.LazyFrame(
            schema={
                "row": pl.Int64,
                "column": pl.String,
                "value": pl.String,
                "reason_zh": pl.String,
                "reason_en": pl.String,
            }
        )
    return pl.concat(parts).sort("row", "order").drop("order")


def any_flag(checked: CheckedRows) -> pl.Expr:
    return pl.any_horizontal([check.flag for check in checked.checks])


def accepted(checked: CheckedRows) -> pl.LazyFrame:
    """The rows with no problem, typed (flags dropped)."""
    return checked.frame.filter(~any_flag(checked)).drop([check.flag for check in checked.checks])


def _bound(spec: FeedSpec, column: str | None, end: bool) -> pl.Expr:
    if column is None:
        return pl.lit(None, pl.Date)
    if spec.columns[column].type == ColumnType.YEAR:
        year = pl.col(column)
        return pl.date(year, 12, 31) if end else pl.date(year, 1, 1)
    if spec.columns[column].type == ColumnType.PERIOD:
        return period_end(pl.col(column)) if end else period_start(pl.col(column))
    return pl.col(column)


def facts_of(spec: FeedSpec, rows: pl.LazyFrame) -> pl.LazyFrame:
    """Long-form facts of accepted rows: ``resident_id`` (null for people still to be
    created), the person's ID number, ``name``, ``value`` (text), ``valid_from``, ``valid_to``,
    ``record_key``, ``source_row``."""
    parts = []
    for fact in spec.facts:
        selected = rows
        for column, allowed in fact.when.items():
            selected = selected.filter(pl.col(column).cast(pl.String).is_in(allowed))
        if fact.value is not None:
            value = pl.col(fact.value).cast(pl.String)
            # A row that leaves the value blank (an optional status) states no fact: the
            # facts table holds values, and an empty one failed the whole batch's insert.
            selected = selected.filter(value.is_not_null())
        else:
            value = pl.lit(fact.constant if fact.constant is not None else "1")
        parts.append(
            selected.select(
                pl.col(RESIDENT),
                pl.col(spec.person or RESIDENT).alias("id_number"),
                name=pl.lit(fact.variable),
                value=value,
                valid_from=_bound(spec, fact.valid_from, end=False),
                valid_to=_bound(spec, fact.valid_to, end=True),
                record_key=pl.col(RECORD_KEY),
                source_row=pl.col(LINE),
            )
        )
    if not parts:
        return pl.LazyFrame(
            schema={
                RESIDENT: pl.Int64,
                "id_number": pl.String,
                "name": pl.String,
                "value": pl.String,
                "valid_from": pl.Date,
                "valid_to": pl.Date,
                RECORD_KEY: pl.String,
                "source_row": pl.Int64,
            }
        )
    return pl.concat(parts)
