"""The feed kernel: every rejection reason, the typed values, facts, and the declaration checks."""

from __future__ import annotations

from datetime import date

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
    rejections,
)
from luodi.kernels.feeds.spec import FeedSpecError, load_feed_spec
from luodi.kernels.identifiers import check_credit_code, credit_code_valid
from tests.factories import credit_code, id_number

TODAY = date(2026, 11, 21)
PERSON = id_number()
STRANGER = id_number(sequence=456)
CODE = credit_code()

SPEC = load_feed_spec(
    """
id: sample
department: 测试
title: {zh: 样例, en: Sample}
key: [id_number, period]
columns:
  id_number: {type: id_number, required: true, headers: [公民身份号码, 身份证号]}
  period: {type: year, required: true, headers: [年度]}
  months: {type: int, min: 0, max: 12, headers: [月数]}
  amount: {type: float, min: 0}
  day: {type: date, not_after_today: true}
  flag: {type: bool}
  level: {type: enum, values: {county: [县级], city: [市级]}}
  employer: {type: credit_code}
  code: {type: string, pattern: '\\d{3}', max_length: 3}
  town: {type: string, reference: towns}
facts:
  - variable: months_total
    value: months
    valid_from: period
    valid_to: period
    aggregate: sum
  - variable: honours
    aggregate: count
    when: {level: [county, city]}
""",
    "sample.yaml",
)


def check(rows: list[dict[str, str | None]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in ["id_number", "period", *rows[0]]},
        schema_overrides=dict.fromkeys(rows[0], pl.String),
    )
    frame = frame.select(pl.all().cast(pl.String)).with_row_index(LINE, offset=2)
    residents = pl.LazyFrame({REFERENCE_KEY: [PERSON], RESIDENT: [7]})
    towns = pl.LazyFrame({REFERENCE_KEY: ["330282114"]})
    checked = check_rows(SPEC, frame.lazy(), TODAY, residents, {"town": towns})
    return rejections(checked, TODAY).collect(), accepted(checked).collect()


GOOD = {"id_number": PERSON, "period": "2025"}


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("period", None, "必填项为空"),
        ("period", "二〇二五", "四位年份"),
        ("period", "1850", "不能小于 1900"),
        ("months", "6.5", "应为整数"),
        ("months", "13", "不能大于 12"),
        ("months", "-1", "不能小于 0"),
        ("amount", "abc", "应为数字"),
        ("day", "2025-02-30", "真实日期"),
        ("day", "2099-01-01", "晚于今天"),
        ("flag", "maybe", "是/否"),
        ("level", "省级", "取值应为"),
        ("employer", "91330282MA2AB1C2DX", "校验码"),
        ("employer", "91330282MA2AB1C2", "长度"),
        ("code", "12a", "格式不符"),
        ("code", "1234", "格式不符"),
        ("town", "330282999", "没有此镇街"),
        ("id_number", "110101199003071234", "校验码"),
        ("id_number", STRANGER, "登记库中没有此人"),
        # A CSV saved from a sheet that held the ID number as a number.
        ("id_number", "3.40522E+17", "身份证号被表格存成了数字，末几位已丢失"),
        ("id_number", "3.40522198305050E+17", "请把该列设为文本后重新导出"),
    ],
)
def test_each_rejection_reason(column: str, value: str | None, reason: str) -> None:
    refused, good = check([{**GOOD, column: value}])
    assert good.height == 0
    assert refused.height >= 1
    first = refused.row(0, named=True)
    assert (first["row"], first["column"]) == (2, column)
    assert reason in first["reason_zh"]
    assert first["reason_en"]


def test_max_length_is_its_own_reason() -> None:
    refused, _ = check([{**GOOD, "code": "1234"}])
    assert any("长度不能超过 3" in reason for reason in refused["reason_zh"])


def test_duplicate_keys_refuse_every_copy_and_name_the_first_row() -> None:
    refused, good = check([GOOD, {**GOOD, "months": "3"}, {**GOOD, "period": "2024"}])
    assert good.height == 1 and good["period"].to_list() == [2024]
    assert refused["row"].to_list() == [2, 3]
    assert all("首次出现在第 2 行" in reason for reason in refused["reason_zh"])


def test_messy_values_are_normalised_before_typing() -> None:
    refused, good = check(
        [
            {
                **GOOD,
                "id_number": PERSON.lower() + " ",
                "period": "２０２５年",
                "months": "12.0",
                "amount": "1,234.5",
                "day": "2025年1月5日",
                "flag": "是",
                "level": "县级",
                "employer": CODE.lower(),
                "code": " 007 ",
                "town": "330282114",
            }
        ]
    )
    assert refused.height == 0, refused
    row = good.row(0, named=True)
    assert row["period"] == 2025 and row["months"] == 12 and row["amount"] == 1234.5
    assert row["day"] == date(2025, 1, 5) and row["flag"] is True and row["level"] == "county"
    assert row["employer"] == CODE and row["code"] == "007" and row[RESIDENT] == 7


@pytest.mark.parametrize(
    "text", ["2025-01-05", "2025/1/5", "2025.1.5", "20250105", "2025-01-05 00:00:00"]
)
def test_date_spellings(text: str) -> None:
    refused, good = check([{**GOOD, "day": text}])
    assert refused.height == 0 and good["day"].to_list() == [date(2025, 1, 5)]


def test_facts_of_accepted_rows() -> None:
    _, good = check([{**GOOD, "months": "7", "level": "市级"}])
    facts = facts_of(SPEC, good.lazy()).collect().sort("name")
    assert facts["name"].to_list() == ["honours", "months_total"]
    months = facts.filter(pl.col("name") == "months_total").row(0, named=True)
    assert months["value"] == "7"
    assert (months["valid_from"], months["valid_to"]) == (date(2025, 1, 1), date(2025, 12, 31))
    assert months["record_key"] == f"{PERSON}|2025" and months["source_row"] == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["2023", "2024", "2025", "x", None]), min_size=1, max_size=30))
def test_every_row_is_either_accepted_or_refused(periods: list[str | None]) -> None:
    refused, good = check([{**GOOD, "period": period} for period in periods])
    refused_rows = set(refused["row"])
    assert good.height + len(refused_rows) == len(periods)
    assert not refused_rows & set(good[LINE])
    # Accepted keys are unique: a repeated valid period is refused in every copy.
    assert good["period"].is_unique().all()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYIOZ", min_size=16, max_size=19))
def test_credit_code_expression_agrees_with_the_scalar_check(code: str) -> None:
    vectorised = pl.select(credit_code_valid(pl.lit(code))).item()
    assert vectorised == check_credit_code(code).valid


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\ndepartment: d\ntitle: {zh: a, en: b}\nkey: [id_number]\ncolumns: {}\n", "person"),
        (
            "id: x\ndepartment: d\ntitle: {zh: a, en: b}\nkey: [nope]\n"
            "columns: {id_number: {type: id_number, required: true}}\n",
            "key: 没有列 nope",
        ),
        (
            "id: x\ndepartment: d\ntitle: {zh: a, en: b}\nkey: [id_number]\n"
            "columns: {id_number: {type: id_number, required: true}, k: {type: enum}}\n",
            "enum column needs values",
        ),
        (
            "id: x\ndepartment: d\ntitle: {zh: a, en: b}\nkey: [id_number]\nextra: 1\n"
            "columns: {id_number: {type: id_number, required: true}}\n",
            "extra",
        ),
        (
            "id: x\ndepartment: d\ntitle: {zh: a, en: b}\nkey: [id_number]\n"
            "columns: {id_number: {type: id_number, required: true}}\n"
            "facts: [{variable: v, value: missing}]\n",
            "facts[0] (v).value: 没有列 missing",
        ),
    ],
)
def test_declaration_errors_name_their_place(text: str, message: str) -> None:
    with pytest.raises(FeedSpecError) as raised:
        load_feed_spec(text, "x.yaml")
    assert message in str(raised.value)
