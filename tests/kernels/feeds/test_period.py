"""The ``period`` column type (a year's total or one month) and ``months_in`` (0 or 1 for a
month), as the shipped social- and medical-insurance feeds declare them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.feeds.checks import (
    LINE,
    REFERENCE_KEY,
    RESIDENT,
    accepted,
    check_rows,
    facts_of,
    parse_period,
    rejections,
)
from luodi.kernels.feeds.spec import FeedSpec, FeedSpecError, load_feed_spec
from tests.factories import id_number

TODAY = date(2026, 2, 10)
PERSON = id_number()
FEEDS = Path(__file__).parents[3] / "feeds"


def shipped(feed: str) -> FeedSpec:
    return load_feed_spec((FEEDS / f"{feed}.yaml").read_text(encoding="utf-8"), f"{feed}.yaml")


SOCIAL = shipped("social_insurance")
MEDICAL = shipped("medical_insurance")


def check(rows: list[dict[str, str]], spec: FeedSpec = SOCIAL) -> tuple[pl.DataFrame, pl.DataFrame]:
    names = list(dict.fromkeys(name for row in rows for name in row))
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in names},
        schema=dict.fromkeys(names, pl.String),
    ).with_row_index(LINE, offset=2)
    residents = pl.LazyFrame({REFERENCE_KEY: [PERSON], RESIDENT: [7]})
    checked = check_rows(spec, frame.lazy(), TODAY, residents)
    return rejections(checked, TODAY).collect(), accepted(checked).collect()


def row(period: str, months: str = "1", **more: str) -> dict[str, str]:
    return {"id_number": PERSON, "period": period, "months_paid": months, **more}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2025", "2025"),
        ("2025年", "2025"),
        ("2025年度", "2025"),
        ("２０２５", "2025"),
        ("2025-01", "2025-01"),
        ("2025-1", "2025-01"),
        ("2025/12", "2025-12"),
        ("2025.3", "2025-03"),
        ("2025年3月", "2025-03"),
        ("202503", "2025-03"),
        ("2026-02", "2026-02"),  # the current month: paid during the month
        # Excel turns a typed 2025-01 into the date 2025-01-01 (shown Jan-25); the sheet is
        # read as its text. A date on a month's first day is that month.
        ("2025-01-01 00:00:00", "2025-01"),
        ("2025-01-01", "2025-01"),
        ("2025/3/1", "2025-03"),
        ("20250301", "2025-03"),
    ],
)
def test_period_spellings(text: str, canonical: str) -> None:
    refused, good = check([row(text, "1")])
    assert refused.height == 0, refused
    assert good["period"].to_list() == [canonical]


@pytest.mark.parametrize(
    ("text", "reason_zh", "reason_en"),
    [
        ("2026-13", "月份 1–12", "month 1–12"),
        ("2025-00", "月份 1–12", "month 1–12"),
        ("26-01", "应为年份", "must be a year"),
        ("20261", "应为年份", "must be a year"),
        ("2025-01-05", "所属期是一个年份", "a period is a year"),
        ("2025-01-15 00:00:00", "是某一天的日期", "a period is a year (2025) or a month"),
        ("2025-02-30", "应为年份", "must be a year"),
        ("一月", "应为年份", "must be a year"),
        ("2026-03", "尚未开始", "has not begun"),
        ("2027", "尚未开始", "has not begun"),
        ("1899-12", "不早于 1900", "before 1900"),
    ],
)
def test_bad_periods_are_refused_with_a_reason(text: str, reason_zh: str, reason_en: str) -> None:
    refused, good = check([row(text, "0")])
    assert good.height == 0
    first = refused.row(0, named=True)
    assert (first["row"], first["column"], first["value"]) == (2, "period", text)
    assert reason_zh in first["reason_zh"] and reason_en in first["reason_en"]


def test_a_month_is_paid_0_or_1_and_a_year_up_to_12() -> None:
    refused, good = check([row("2025-01", "2"), row("2025-02", "0"), row("2025", "12")])
    assert sorted(good["period"]) == ["2025", "2025-02"]
    assert refused.select("row", "column").rows() == [(2, "months_paid")]
    assert "只能为 0 或 1" in refused["reason_zh"][0] and "0 or 1" in refused["reason_en"][0]
    refused, _ = check([row("2025", "13")])
    assert "不能大于 12" in refused["reason_zh"][0]


def test_a_year_and_its_months_are_different_records() -> None:
    refused, good = check([row("2025", "12"), row("2025-01"), row("2025-1", "0")])
    # 2025-01 and 2025-1 are the same month: both refused, the year row stays.
    assert good["period"].to_list() == ["2025"]
    assert refused["row"].to_list() == [3, 4]
    assert "首次出现在第 3 行" in refused["reason_zh"][0]


@pytest.mark.parametrize("word", ["是", "true", "1", "Y", "√"])
def test_back_paid_reads_the_one_yes_no_vocabulary(word: str) -> None:
    refused, good = check([row("2025-01", back_paid=word), row("2025-02", back_paid="否")])
    assert refused.height == 0
    assert good.sort(LINE)["back_paid"].to_list() == [True, False]
    refused, _ = check([row("2025-01", back_paid="也许")])
    assert refused["column"].to_list() == ["back_paid"] and "是/否" in refused["reason_zh"][0]


def test_chinese_headers_of_the_insurance_feeds() -> None:
    headers = SOCIAL.header_names()
    assert headers["费款所属期"] == "period" and headers["是否补缴"] == "back_paid"
    assert headers["补缴"] == "back_paid" and MEDICAL.header_names()["险种"] == "scheme"


def test_facts_carry_the_period_as_valid_from_and_valid_to() -> None:
    _, good = check([row("2025", "12"), row("2024-02", "1", back_paid="是")])
    facts = facts_of(SOCIAL, good.lazy()).collect()
    months = facts.filter(pl.col("name") == "social_insurance_months").sort("valid_from")
    assert months.select("value", "valid_from", "valid_to", "record_key").rows() == [
        ("1", date(2024, 2, 1), date(2024, 2, 29), f"{PERSON}|2024-02"),
        ("12", date(2025, 1, 1), date(2025, 12, 31), f"{PERSON}|2025"),
    ]
    back = facts.filter(pl.col("name") == "social_insurance_back_paid")
    assert back.select("valid_from", "valid_to").rows() == [(date(2024, 2, 1), date(2024, 2, 29))]


def test_medical_scheme_is_a_fact_of_its_period() -> None:
    refused, good = check(
        [row("2025-07", scheme="职工医保"), row("2025", "6", scheme="居民")], MEDICAL
    )
    assert refused.height == 0, refused
    facts = facts_of(MEDICAL, good.lazy()).collect()
    schemes = facts.filter(pl.col("name") == "medical_insurance_scheme").sort("valid_to")
    assert schemes.select("value", "valid_to").rows() == [
        ("employee", date(2025, 7, 31)),
        ("resident", date(2025, 12, 31)),
    ]


@pytest.mark.parametrize(
    ("word", "scheme"),
    [
        # 新农合 and 城镇居民医保 were merged into 城乡居民基本医疗保险 (国发〔2016〕3号).
        ("新农合", "resident"),
        ("新型农村合作医疗", "resident"),
        ("城镇居民医保", "resident"),
        ("城乡居民基本医疗保险", "resident"),
        ("城镇职工医保", "employee"),
        ("职工基本医疗保险", "employee"),
    ],
)
def test_medical_scheme_reads_the_old_scheme_names(word: str, scheme: str) -> None:
    refused, good = check([row("2015", "12", scheme=word)], MEDICAL)
    assert refused.height == 0, refused
    assert good["scheme"].to_list() == [scheme]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("months: {type: int, months_in: nowhere}", "months_in: 没有 period 类型的列 nowhere"),
        ("months: {type: int, months_in: id_number}", "no such period column"),
        ("months: {type: float, months_in: period}", "months_in is for whole numbers"),
    ],
)
def test_months_in_must_name_a_period_column(text: str, message: str) -> None:
    document = (
        "id: x\ndepartment: d\ntitle: {zh: a, en: b}\nkey: [id_number]\ncolumns:\n"
        "  id_number: {type: id_number, required: true}\n  period: {type: period}\n"
        f"  {text}\n"
    )
    with pytest.raises(FeedSpecError) as raised:
        load_feed_spec(document, "x.yaml")
    assert message in str(raised.value)


@settings(max_examples=200, deadline=None)
@given(st.integers(1900, 2100), st.integers(-1, 14), st.sampled_from(["-", "/", ".", "年"]))
def test_parse_period_agrees_with_the_calendar(year: int, month: int, separator: str) -> None:
    text = f"{year}{separator}{month}{'月' if separator == '年' else ''}"
    parsed = pl.select(parse_period(pl.lit(text))).item()
    assert parsed == (f"{year}-{month:02d}" if 1 <= month <= 12 else None)
