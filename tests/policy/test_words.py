"""A policy's rules in words: what each form of the expression language reads as, in Chinese and
English, and the rules that cannot be said (then the page shows the formula as written)."""

from __future__ import annotations

import pytest

from luodi.kernels.policy import Policy, load_policy
from luodi.policy.service import published_policies
from luodi.policy.words import Speaker, indicator_words

INPUTS = """
  months: {type: int, default: 0, label: {zh: 社保月数, en: Months of insurance}}
  hours: {type: float, default: 0, label: {zh: 志愿小时数, en: Volunteer hours}}
  paying: {type: bool, default: false, label: {zh: 正在缴纳社保, en: Paying insurance now}}
  born: {type: date, default: 1990-01-01, label: {zh: 出生日期, en: Date of birth}}
  education:
    type: enum
    values: [none, bachelor, master]
    default: none
    label: {zh: 最高学历, en: Highest education}
  unlabelled: {type: int, default: 0}
"""


def policy_with(formula: str, cap: str = "", derived: str = "") -> Policy:
    text = f"""
id: words
name: 测试
version: "1"
effective_from: 2026-01-01
inputs:{INPUTS}
{derived}
indicators:
  - id: line
    kind: bonus
    label: 测试
    formula: "{formula}"
    {cap}
"""
    return load_policy(text)


def words(formula: str, language: str = "zh", **options: str) -> str | None:
    policy = policy_with(formula, **options)
    return indicator_words(policy, policy.indicators[0], language)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("formula", "zh", "en"),
    [
        ("0.25 * months", "社保月数 × 0.25", "Months of insurance × 0.25"),
        ("10", "10 分", "10 points"),
        (
            "months - (hours - 1)",
            "社保月数 − （志愿小时数 − 1）",
            "Months of insurance − (volunteer hours − 1)",
        ),
        (
            "(months + hours) * 2",
            "（社保月数 + 志愿小时数） × 2",
            "(months of insurance + volunteer hours) × 2",
        ),
        ("min(30, months)", "社保月数，最多 30", "Months of insurance, at most 30"),
        (
            "max(months, hours)",
            "社保月数、志愿小时数中较大者",
            "The larger of months of insurance and volunteer hours",
        ),
        (
            "3 * floor(hours / 50)",
            "（志愿小时数 ÷ 50 向下取整） × 3",
            "(volunteer hours ÷ 50 rounded down) × 3",
        ),
        (
            "months // 12",
            "社保月数 除以 12 取整",
            "Months of insurance divided by 12, rounded down",
        ),
        (
            "5 if paying else 0",
            "正在缴纳社保 时 5 分；否则 0 分",
            "5 points if paying insurance now; otherwise 0 points",
        ),
        (
            "0 if months > 60 else (5 if months >= 30 else 1)",
            "社保月数 > 60 时 0 分；≥ 30 时 5 分；否则 1 分",
            "0 points if months of insurance > 60; 5 points if ≥ 30; otherwise 1 point",
        ),
        (
            "8 if education == 'bachelor' and paying else 0",
            "最高学历 = 本科且正在缴纳社保 时 8 分；否则 0 分",
            "8 points if highest education = bachelor's degree and paying insurance now; otherwise 0 points",
        ),
        (
            "10 if education in ['bachelor', 'master'] else 0",
            "最高学历是本科、硕士之一 时 10 分；否则 0 分",
            "10 points if highest education is one of bachelor's degree and master's degree; otherwise 0 points",
        ),
        (
            "years_between(born, as_of)",
            "出生日期至计分日的整年数",
            "Whole years from date of birth to the scoring date",
        ),
        (
            "clip(months, 1, 5)",
            "社保月数，不低于 1、不高于 5",
            "Months of insurance, kept between 1 and 5",
        ),
        ("-months + 100", "−社保月数 + 100", "−months of insurance + 100"),
    ],
)
def test_each_form_in_words(formula: str, zh: str, en: str) -> None:
    assert words(formula) == zh
    assert words(formula, "en") == en


def test_the_cap_is_said_after_the_rule() -> None:
    assert words("0.5 * months", cap="cap: 30") == "社保月数 × 0.5，最多 30 分"
    assert (
        words("0.5 * months", "en", cap="cap: 30") == "Months of insurance × 0.5, at most 30 points"
    )


def test_a_derived_name_is_said_by_its_definition() -> None:
    derived = 'derived:\n  age: "years_between(born, as_of)"'
    assert words("min(20, 60 - age)", derived=derived) == "60 − 出生日期至计分日的整年数，最多 20"


@pytest.mark.parametrize(
    "formula",
    [
        "unlabelled * 2",  # a name without a label: saying its identifier would be a code
        "year(date(2020, 1, months))",  # a date built from a column
        " + ".join(["months * 2"] * 40),  # longer in words than the formula helps
    ],
)
def test_what_cannot_be_said_is_none(formula: str) -> None:
    assert words(formula) is None
    assert words(formula, "en") is None


def test_every_shipped_rule_is_said_in_both_languages() -> None:
    for compiled in published_policies():
        policy = compiled.policy
        for language in ("zh", "en"):
            speaker = Speaker(policy, language)  # type: ignore[arg-type]
            for indicator in policy.indicators:
                said = speaker.indicator(indicator)
                assert said and "_" not in said, (indicator.id, said)  # no identifier leaks
            labels = {item.id: item.label.zh for item in policy.indicators}
            assert all(speaker.group(group, labels) for group in policy.groups)
