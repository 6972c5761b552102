"""A program document's own test cases: the ``tests:`` block is refused with its file, case and
key when it is malformed; the runner decides each case through the program's rules; ``luodi
program test`` exits 0 when every case passes, 1 on a failing case, 2 on a malformed file."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from luodi.cli import app
from luodi.kernels.policy.document import Policy
from luodi.kernels.policy.inputs import prepare_inputs
from luodi.policy.service import find_policy
from luodi.programs import context
from luodi.programs.cases import CaseOutcome, case_frame, run_cases
from luodi.programs.spec import ProgramSpec, ProgramSpecError, load_program_spec
from luodi.settings import SHIPPED_POLICY_DIR, SHIPPED_PROGRAM_DIR

runner = CliRunner()

PROGRAM: dict[str, Any] = {
    "id": "probe-loan",
    "name": {"zh": "测试贷款"},
    "kind": "tiered_benefit",
    "department": "人社局",
    "policy": "zj-cixi",
    "fields": {
        "sector": {
            "type": "enum",
            "values": {"care": "护理", "other": "其他"},
            "default": "other",
            "label": {"zh": "行业"},
        },
        "trained": {"type": "bool", "default": False, "label": {"zh": "已培训"}},
    },
    "eligibility": [
        {"id": "employed", "label": {"zh": "在职"}, "rule": "continuous_employment_months >= 6"},
        {
            "id": "registered",
            "label": {"zh": "登记满一年"},
            "rule": "years_between(residence_registration_date, as_of) >= 1",
        },
    ],
    "groups": [
        {"group": 0, "label": {"zh": "护理"}, "when": "sector == 'care' and trained"},
        {"group": 1, "label": {"zh": "其他"}},
    ],
    "tie_breaks": [
        {"key": "social_insurance_months", "label": {"zh": "社保"}},
        {"key": "application_order", "order": "asc", "label": {"zh": "先后"}},
    ],
    "tiers": [
        {"label": {"zh": "高"}, "when": "points >= 100", "amount": 100000},
        {"label": {"zh": "低"}, "when": "points >= 60", "amount": 30000},
    ],
}

GOOD_CASE: dict[str, Any] = {
    "name": "护理行业、100 分",
    "as_of": date(2026, 5, 1),
    "points": 100,
    "inputs": {
        "continuous_employment_months": 6,
        "residence_registration_date": date(2025, 5, 1),
        "social_insurance_months": 14,
    },
    "fields": {"sector": "care", "trained": True},
    "application_order": 4,
    "expect": {
        "eligible": True,
        "failed": [],
        "group": 0,
        "tier": 1,
        "entitlement": 100000,
        "tie_breaks": [14, 4],
    },
}


def document(*cases: dict[str, Any], **changes: Any) -> str:
    return yaml.safe_dump({**PROGRAM, **changes, "tests": list(cases)}, allow_unicode=True)


def case(**changes: Any) -> dict[str, Any]:
    return {**GOOD_CASE, **changes}


def expect(**changes: Any) -> dict[str, Any]:
    return case(expect={**GOOD_CASE["expect"], **changes})


@cache
def policy_for(day: date) -> Policy:
    return find_policy("zj-cixi", day, directory=SHIPPED_POLICY_DIR).policy


def load_and_run(text: str, source: str) -> list[CaseOutcome]:
    return run_cases(load_program_spec(text, source), policy_for, source)


def problems_of(text: str, source: str = "probe.yaml") -> list[str]:
    with pytest.raises(ProgramSpecError) as raised:
        load_and_run(text, source)
    assert raised.value.source == source
    return raised.value.problems


def run(text: str) -> list[CaseOutcome]:
    return load_and_run(text, "probe.yaml")


# ------------------------------------------------------------------------- malformed cases


@pytest.mark.parametrize(
    ("bad_case", "place", "words"),
    [
        (case(expected={"eligible": True}), "tests[0]「护理行业、100 分」.expected", "未知的键"),
        (expect(eligble=True), "tests[0]「护理行业、100 分」.expect.eligble", "未知的键"),
        (expect(eligible="yes"), "tests[0]「护理行业、100 分」.expect.eligible", "true 或 false"),
        (expect(group="0"), "tests[0]「护理行业、100 分」.expect.group", "应为整数"),
        (expect(failed="employed"), "tests[0]「护理行业、100 分」.expect.failed", "应为列表"),
        (case(points="100"), "tests[0]「护理行业、100 分」.points", ""),
        (case(as_of="soon"), "tests[0]「护理行业、100 分」.as_of", "日期"),
        ({"as_of": date(2026, 5, 1), "expect": {}}, "tests[0].name", "缺少必填项"),
        (case(expect={}), "tests[0]「护理行业、100 分」", "expect 至少写一项"),
        (expect(failed=["employd"]), ".expect.failed", "没有资格条件 employd"),
        (expect(group=7), ".expect.group", "没有优先组 7"),
        (expect(tier=3), ".expect.tier", "档位从 1 到 2"),
        (expect(full_year=True), ".expect", "只用于入学项目"),
        (expect(tie_breaks=[14]), ".expect.tie_breaks", "应有 2 个值"),
        (expect(eligible=True, failed=["employed"]), ".expect", "不能同时"),
        (case(fields={"sectr": "care"}), ".fields.sectr", "项目没有这个字段"),
        (case(fields={"sector": "mining"}), ".fields.sector", "枚举值（可用：care, other）"),
        (case(fields={"trained": "yes"}), ".fields.trained", "true 或 false"),
        (
            case(inputs={"continuous_employment_months": 6.5}),
            ".inputs.continuous_employment_months",
            "应为整数",
        ),
        (
            case(inputs={"residence_registration_date": "last year"}),
            ".inputs.residence_registration_date",
            "日期 YYYY-MM-DD",
        ),
        (case(inputs={"housing": "castle"}), ".inputs.housing", "可用：none, dormitory"),
        (
            case(inputs={"social_insurance_month": 12}),
            ".inputs.social_insurance_month",
            "是否指 social_insurance_months",
        ),
        (case(inputs={"points": 100}), ".inputs.points", "写在用例的 points 下"),
        (case(inputs={"sector": "care"}), ".inputs.sector", "写在用例的 fields 下"),
        (case(pending=""), ".pending", "至少 1 个字符"),
    ],
)
def test_a_malformed_case_names_the_file_the_case_and_the_key(
    bad_case: dict[str, Any], place: str, words: str
) -> None:
    problems = problems_of(document(bad_case))
    assert any(place in problem and words in problem for problem in problems), problems
    # Chinese first, English beside it.
    assert all(" / " in problem for problem in problems), problems


def test_every_problem_of_the_file_is_listed_before_any_case_runs() -> None:
    problems = problems_of(
        document(
            case(name="一", inputs={"continuous_employment_months": "six"}),
            case(name="二", inputs={"dishonesty_record": 1}),
        )
    )
    assert len(problems) == 2
    assert "tests[0]「一」.inputs.continuous_employment_months" in problems[0]
    assert "tests[1]「二」.inputs.dishonesty_record" in problems[1]


def test_two_cases_may_not_share_a_name() -> None:
    problems = problems_of(document(case(), case()))
    assert problems == ["tests[1]「护理行业、100 分」: 用例名重复 / duplicate case name"]


def test_a_program_without_tests_still_loads() -> None:
    spec = load_program_spec(yaml.safe_dump(PROGRAM, allow_unicode=True), "probe.yaml")
    assert spec.tests == []


# ------------------------------------------------------------------------- running cases


def test_a_case_that_holds_passes_on_every_key() -> None:
    (outcome,) = run(document(case()))
    assert outcome.passed and outcome.ok
    assert [check.key for check in outcome.checks] == [
        "eligible",
        "failed",
        "group",
        "tier",
        "entitlement",
        "tie_breaks",
    ]


def test_a_case_that_does_not_hold_lists_each_difference() -> None:
    wrong = case(
        name="差一天满一年",
        inputs={
            "continuous_employment_months": 5,
            "residence_registration_date": date(2025, 5, 2),
        },
        points=99.75,
        fields={"sector": "care"},
        expect={"eligible": True, "group": 0, "tier": 1, "entitlement": 100000},
    )
    also_wrong = {**wrong, "name": "两条都不满足", "expect": {"failed": ["employed"]}}
    outcome, other = run(document(wrong, also_wrong))
    assert not outcome.passed
    assert {check.key: (check.expected, check.actual) for check in outcome.failures} == {
        "eligible": (True, False),
        "group": (0, 1),
        "tier": (1, 2),
        "entitlement": (100000, 30000),
    }
    assert [(c.key, c.expected, c.actual) for c in other.failures] == [
        ("failed", ["employed"], ["employed", "registered"])
    ]


def test_what_a_case_leaves_out_takes_the_policy_default_or_stays_empty() -> None:
    # No employment months (default 0), no registration date (none on record), no fields
    # (the field defaults), no points: below every tier.
    bare = {
        "name": "空白",
        "as_of": date(2026, 5, 1),
        "expect": {
            "eligible": False,
            "failed": ["employed", "registered"],
            "group": 1,
            "tier": None,
            "entitlement": None,
            "tie_breaks": [0, 1],
        },
    }
    (outcome,) = run(document(bare))
    assert outcome.passed, outcome.failures


def test_a_date_may_be_written_as_text_and_a_value_may_be_null() -> None:
    written = case(
        inputs={
            "continuous_employment_months": 6,
            "residence_registration_date": "2025-05-01",
            "social_insurance_months": None,
        },
        expect={"eligible": True, "tie_breaks": [None, 4]},
    )
    (outcome,) = run(document(written))
    assert outcome.passed, outcome.failures


def test_the_case_date_picks_the_policy_version_in_force() -> None:
    # 2023.1 has the inputs the program names too; a case dated in 2024 runs under it.
    (outcome,) = run(document(case(as_of=date(2024, 5, 1), expect={"eligible": False})))
    assert outcome.passed  # registered 2025-05-01: not yet on 2024-05-01


def test_school_rules_are_checked_as_full_year_and_current() -> None:
    school = yaml.safe_load((SHIPPED_PROGRAM_DIR / "school-entry.yaml").read_text())
    rules = school["school"]
    rules["full_year_rule"]["rule"] = "social_insurance_months >= 12"
    rules["current_rule"]["rule"] = "social_insurance_months >= 1"
    cases = [
        {
            "name": "十二个月",
            "as_of": date(2026, 4, 30),
            "inputs": {"social_insurance_months": 12},
            "expect": {"full_year": True, "current": True},
        },
        {
            "name": "十一个月",
            "as_of": date(2026, 4, 30),
            "inputs": {"social_insurance_months": 11},
            "expect": {"full_year": True, "current": True},
        },
    ]
    text = yaml.safe_dump({**school, "tests": cases}, allow_unicode=True)
    passing, failing = run(text)
    assert passing.passed
    assert [(c.key, c.expected, c.actual) for c in failing.failures] == [("full_year", True, False)]


def test_a_pending_case_is_as_it_should_be_while_it_fails() -> None:
    known = expect(eligible=False, failed=["employed"])
    known["pending"] = "issue 99"
    (outcome,) = run(document(known))
    assert not outcome.passed and outcome.ok
    fixed = case(pending="issue 99")
    (outcome,) = run(document(fixed))
    assert outcome.passed and not outcome.ok


# ------------------------------------------------------------------------- the command


def write(tmp_path: Path, text: str, name: str = "probe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_program_test_exits_0_when_every_case_passes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["program", "test", str(write(tmp_path, document(case())))])
    assert result.exit_code == 0, result.output
    assert "✓ 通过 pass  护理行业、100 分  (as_of 2026-05-01)" in result.stdout
    assert "probe.yaml: 1/1 通过 passed" in result.stdout


def test_program_test_exits_1_and_shows_expected_and_actual(tmp_path: Path) -> None:
    wrong = {**expect(tier=2, entitlement=30000), "name": "错的"}
    path = write(tmp_path, document(case(), wrong))
    result = runner.invoke(app, ["program", "test", str(path)])
    assert result.exit_code == 1, result.output
    assert "✗ 失败 FAIL  错的" in result.stdout
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["tier", "期望", "expected", "2", "实际", "actual", "1"] in lines
    assert ["entitlement", "期望", "expected", "30,000", "实际", "actual", "100,000"] in lines
    assert "probe.yaml: 1/2 通过 passed" in result.stdout


def test_program_test_exits_2_on_a_malformed_file(tmp_path: Path) -> None:
    good = write(tmp_path, document(case()), "good.yaml")
    bad = write(tmp_path, document(expect(eligble=True)), "bad.yaml")
    result = runner.invoke(app, ["program", "test", str(good), str(bad)])
    assert result.exit_code == 2, result.output
    assert "good.yaml: 1/1 通过 passed" in result.stdout
    assert "✗ 文件有误 malformed bad.yaml" in result.stderr
    assert "tests[0]「护理行业、100 分」.expect.eligble: 未知的键" in result.stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("id: [unclosed", "YAML 语法错误"),
        ("- a list", "文档应为映射"),
        (None, "找不到项目文件"),
    ],
)
def test_program_test_exits_2_on_a_file_that_is_not_a_program(
    tmp_path: Path, text: str | None, reason: str
) -> None:
    path = tmp_path / "broken.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["program", "test", str(path)])
    assert result.exit_code == 2, result.output
    assert reason in result.stderr


def test_program_test_exits_1_on_a_file_without_cases(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(PROGRAM, allow_unicode=True))
    result = runner.invoke(app, ["program", "test", str(path)])
    assert result.exit_code == 1
    assert "没有测试用例 / has no test cases" in result.stderr


def test_program_test_takes_a_program_id() -> None:
    result = runner.invoke(app, ["program", "test", "loan"])
    assert result.exit_code == 0, result.output
    assert "loan: " in result.stdout and "通过 passed" in result.stdout


def test_a_pending_case_that_passes_fails_the_command(tmp_path: Path) -> None:
    path = write(tmp_path, document(case(pending="issue 99")))
    result = runner.invoke(app, ["program", "test", str(path)])
    assert result.exit_code == 1
    assert "已修好，请删去 pending" in result.stdout


def test_shipped_specs_parse_with_their_cases() -> None:
    for path in sorted(SHIPPED_PROGRAM_DIR.glob("*.yaml")):
        spec: ProgramSpec = load_program_spec(path.read_text(encoding="utf-8"), path.name)
        assert spec.tests, path.name


# ------------------------------------------------------------------------- the family


FAMILY: dict[str, Any] = {
    "id": "probe-family",
    "name": {"zh": "家庭"},
    "kind": "quota_benefit",
    "department": "教育局",
    "policy": "zj-cixi",
    "eligibility": [
        {
            "id": "parent_insured",
            "label": {"zh": "父母一方社保满一年"},
            "rule": "parents_max_social_insurance_months >= 12",
        },
        {"id": "no_home", "label": {"zh": "配偶无房"}, "rule": "spouse_housing != 'owned'"},
        {
            "id": "age",
            "label": {"zh": "8 月 31 日满 6 周岁"},
            "rule": "years_between(child_birth_date, date(year(as_of), 8, 31)) >= 6",
        },
    ],
    "tie_breaks": [
        {"key": "parents_max_points", "label": {"zh": "父母较高积分"}},
        {"key": "child_age", "label": {"zh": "年龄"}},
        {"key": "child_parents_registered", "label": {"zh": "父母人数"}},
        {"key": "parent_1_dishonesty_records", "label": {"zh": "默认值"}},
        {"key": "(1 if has_spouse else 0)", "label": {"zh": "有配偶"}},
    ],
}

FAMILY_CASE: dict[str, Any] = {
    "name": "母亲社保 23 个月、父亲积分更高",
    "as_of": date(2026, 4, 30),
    "parents": [
        {"points": 94.5, "social_insurance_months": 6},
        {"points": 76.5, "social_insurance_months": 23},
    ],
    "spouse": {"housing": "registered_rental"},
    "child": {"birth_date": date(2020, 8, 31)},
    "expect": {"eligible": True, "failed": [], "tie_breaks": [94.5, 5, 2, 0, 1]},
}


def family(*cases: dict[str, Any]) -> str:
    return yaml.safe_dump({**FAMILY, "tests": list(cases)}, allow_unicode=True)


def test_a_family_is_written_as_spouse_parents_and_child() -> None:
    # The higher parent's points and the other parent's insurance both count; the child is 5
    # on the as-of date and 6 on 31 August; a parent's unwritten input takes its default.
    (outcome,) = run(family(FAMILY_CASE))
    assert outcome.passed, outcome.failures


def test_either_parent_is_true_when_one_is_and_unknown_beside_a_false() -> None:
    paying = "social_insurance_current"
    program = {
        **FAMILY,
        "eligibility": [],
        "groups": [
            {"group": 0, "label": {"zh": "是"}, "when": "either_parent_social_insurance_current"},
            {"group": 1, "label": {"zh": "否"}},
        ],
        "tie_breaks": [],
    }
    cases = [
        {**FAMILY_CASE, "name": name, "parents": parents, "expect": {"group": group}}
        for name, parents, group in [
            ("一方在缴", [{paying: False}, {paying: True}], 0),
            ("都未缴", [{paying: False}, {paying: False}], 1),
            ("一方未缴、一方不明", [{paying: False}, {paying: None}], 1),
            ("只登记一方", [{paying: False}], 1),
        ]
    ]
    text = yaml.safe_dump({**program, "tests": cases}, allow_unicode=True)
    assert all(outcome.passed for outcome in run(text))


@pytest.mark.parametrize(
    ("changes", "place", "words"),
    [
        ({"parents": [{"point": 1}]}, ".parents[0].point", "是否指 points"),
        ({"parents": [{"housing": "castle"}]}, ".parents[0].housing", "可用：none"),
        ({"parents": []}, ".parents", ""),
        ({"parents": [{}, {}, {}]}, ".parents", ""),
        ({"spouse": {"points": "many"}}, ".spouse.points", "应为数字"),
        ({"child": {"colour": "red"}}, ".child.colour", "没有 child_colour"),
        ({"child": {"birth_date": "2020-02-30"}}, ".child.birth_date", "日期"),
        ({"inputs": {"parents_max_points": 3}}, ".inputs.parents_max_points", "不能再写"),
    ],
)
def test_a_malformed_family_names_the_case_and_the_key(
    changes: dict[str, Any], place: str, words: str
) -> None:
    problems = problems_of(family({**FAMILY_CASE, **changes}))
    assert any(place in problem and words in problem for problem in problems), problems


def test_rules_that_do_not_fit_the_policy_make_the_file_malformed(tmp_path: Path) -> None:
    misspelt = {
        **PROGRAM,
        "eligibility": [{"id": "frontline", "label": {"zh": "一线"}, "rule": "frontlin"}],
        "tests": [{**GOOD_CASE, "expect": {"eligible": True}}],
    }
    path = write(tmp_path, yaml.safe_dump(misspelt, allow_unicode=True))
    result = runner.invoke(app, ["program", "test", str(path)])
    assert result.exit_code == 2, result.output
    assert "eligibility.frontline: frontlin — 未声明的名称" in result.stderr
    assert "frontline" in result.stderr.split("未声明的名称", 1)[1]


def test_a_listed_parent_was_scored_and_a_missing_one_was_not() -> None:
    program = {
        **FAMILY,
        "eligibility": [
            {
                "id": "one_scored",
                "label": {"zh": "父母一方参加积分"},
                "rule": "either_parent_scored",
            }
        ],
        "tie_breaks": [
            {"key": "(1 if parent_1_scored else 0)", "label": {"zh": "一"}},
            {"key": "(1 if parent_2_scored else 0)", "label": {"zh": "二"}},
            {"key": "parents_max_social_insurance_months", "label": {"zh": "社保"}},
        ],
    }
    cases = [
        {**FAMILY_CASE, "name": name, "parents": parents, "expect": expected}
        for name, parents, expected in [
            ("只登记一方", [{}], {"eligible": True, "tie_breaks": [1, 0, 0]}),
            (
                "一方未参加积分",
                [{"scored": False}, {"social_insurance_months": 3}],
                {"eligible": True, "tie_breaks": [0, 1, 3]},
            ),
            ("都未参加积分", [{"scored": False}], {"eligible": False, "tie_breaks": [0, 0, None]}),
        ]
    ]
    outcomes = run(yaml.safe_dump({**program, "tests": cases}, allow_unicode=True))
    assert [outcome.failures for outcome in outcomes] == [[], [], []]


def test_the_family_of_a_case_is_the_context_the_registry_builds() -> None:
    """The words a case's parents and child stand for are those ``context.build`` gives the
    same family from registry frames and a scoring run (one way of deriving, not two)."""
    as_of = date(2026, 4, 30)
    policy = policy_for(as_of)
    input_types = {name: item.type for name, item in policy.inputs.items()}
    registered = {"birth_date": date(1990, 1, 1), "residence_registration_date": date(2020, 3, 1)}
    first = {"points": 94.5, "social_insurance_months": 6, "social_insurance_current": False}
    second = {"points": 76.5, "social_insurance_months": 23, "social_insurance_current": True}
    first, second = {**first, **registered}, {**second, **registered}
    registry = context.RegistryFrames(
        children=pl.DataFrame(
            {
                "child_id": [10],
                "child_household_id": [5],
                "child_birth_date": [date(2020, 8, 31)],
                "child_sex": ["female"],
                "child_grade": [None],
                "parent_id": [1],
                "second_parent_id": [2],
            },
            schema_overrides={"child_grade": pl.Int64},
        ),
        members=pl.DataFrame(
            {
                "resident_id": [1, 2],
                "household_id": [5, 5],
                "relation_to_head": ["head", "spouse"],
                "birth_date": [date(1990, 1, 1), date(1992, 1, 1)],
                "sex": ["male", "female"],
                "town_code": ["330282001", "330282001"],
                "origin_province": ["四川", "四川"],
            }
        ),
        household_children=pl.DataFrame({"household_id": [5], "household_children": [1]}),
        employments=pl.DataFrame(
            schema={
                "resident_id": pl.Int64,
                "start_date": pl.Date,
                "employment_basis": pl.String,
                "frontline": pl.Boolean,
                "employer_credit_code": pl.String,
                "employer_town_code": pl.String,
                "has_union": pl.Boolean,
                "union_established_on": pl.Date,
            }
        ),
    )
    scored = pl.DataFrame([{"resident_id": 1, **first}, {"resident_id": 2, **second}])
    related = scored.join(
        prepare_inputs(scored.drop("points"), policy), on="resident_id", suffix="_raw"
    ).select("resident_id", "points", *input_types)
    built = context.build(
        pl.DataFrame({"resident_id": [1], "child_id": [10]}), as_of, registry, input_types, related
    ).row(0, named=True)
    spec = load_program_spec(
        family({**FAMILY_CASE, "parents": [first, second], "child": {"birth_date": "2020-08-31"}}),
        "probe.yaml",
    )
    frame, _, problems = case_frame(spec, spec.tests[0], policy, "tests[0]")
    assert not problems
    derived = frame.row(0, named=True)
    words = [
        "parents_max_points",
        "parents_max_social_insurance_months",
        "either_parent_social_insurance_current",
        "parent_1_scored",
        "parent_2_scored",
        "either_parent_scored",
        "parent_2_social_insurance_months",
        "parent_1_continuous_employment_months",
        "child_age",
        "child_birth_date",
        "child_parents_registered",
    ]
    assert {word: derived[word] for word in words} == {word: built[word] for word in words}


# ------------------------------------------------------------------------- days that do not exist


@pytest.mark.parametrize(
    ("old", "new", "place"),
    [
        ("as_of: 2026-05-01", "as_of: 2026-02-30", "tests[0]「护理行业、100 分」.as_of"),
        (
            "residence_registration_date: 2025-05-01",
            "residence_registration_date: 2025-02-29",
            "tests[0]「护理行业、100 分」.inputs.residence_registration_date",
        ),
    ],
)
def test_a_day_that_does_not_exist_names_the_case_and_the_key(
    tmp_path: Path, old: str, new: str, place: str
) -> None:
    # YAML reads 2026-02-30 as a date, and PyYAML raised a bare ValueError: an internal error.
    text = document(case())
    assert old in text
    problems = problems_of(text.replace(old, new))
    assert any(place in problem and "日历上没有这一天" in problem for problem in problems), problems
    result = runner.invoke(app, ["program", "test", str(write(tmp_path, text.replace(old, new)))])
    assert result.exit_code == 2, result.output
    assert "✗ 文件有误 malformed probe.yaml" in result.stderr and place in result.stderr


def test_one_malformed_program_file_leaves_the_others_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from luodi.programs import catalog
    from luodi.settings import get_settings

    folder = tmp_path / "programs"
    folder.mkdir()
    write(folder, document(case()), "good.yaml")
    bad = document(case(), id="bad-loan").replace("as_of: 2026-05-01", "as_of: 2026-02-30")
    write(folder, bad, "bad.yaml")
    write(folder, "id: [unclosed", "broken.yaml")
    monkeypatch.setenv("LUODI_PROGRAM_DIR", str(folder))
    get_settings.cache_clear()
    try:
        assert list(catalog.load_programs()) == ["probe-loan"]
        assert [error.source for error in catalog.broken_programs()] == ["bad.yaml", "broken.yaml"]
        spec, _ = catalog.find_program("probe-loan")
        assert spec.id == "probe-loan"
        listed = runner.invoke(app, ["program", "list"])
        assert listed.exit_code == 0, listed.output
        assert "probe-loan" in listed.stdout
        assert "✗ 项目文件有误，未读取 malformed, not listed bad.yaml" in listed.stderr
        assert "tests[0]「护理行业、100 分」.as_of: 日历上没有这一天" in listed.stderr
        shown = runner.invoke(app, ["program", "show", "bad-loan"])
        assert shown.exit_code == 1
        assert "没有项目 bad-loan" in shown.stderr and "bad.yaml" in shown.stderr
        assert runner.invoke(app, ["program", "show", "probe-loan"]).exit_code == 0
    finally:
        get_settings.cache_clear()


# ------------------------------------------------------------------------- a relative not listed

SINGLE_RENTAL = {
    **FAMILY,
    "eligibility": [
        {
            "id": "household_no_home",
            "label": {"zh": "配偶无房"},
            "rule": "not has_spouse or spouse_housing != 'owned'",
        }
    ],
    "tie_breaks": [],
}


@pytest.mark.parametrize(
    ("spouse", "eligible"),
    [(None, True), ({"housing": "owned"}, False), ({"housing": "registered_rental"}, True)],
)
def test_a_case_without_a_spouse_has_none(spouse: dict[str, str] | None, eligible: bool) -> None:
    # The registry's context says has_spouse false for a single person; a case without
    # `spouse:` left it empty, and the rule failed every unmarried applicant.
    single = {
        "name": "单身",
        "as_of": date(2026, 4, 30),
        "spouse": spouse,
        "expect": {"eligible": eligible},
    }
    (outcome,) = run(yaml.safe_dump({**SINGLE_RENTAL, "tests": [single]}, allow_unicode=True))
    assert outcome.passed, outcome.failures


def test_a_derived_word_is_not_written_under_inputs() -> None:
    lonely = {**FAMILY_CASE, "spouse": None, "inputs": {"has_spouse": True}}
    problems = problems_of(family(lonely))
    assert any(".inputs.has_spouse" in p and "未写即没有" in p for p in problems), problems


def test_relatives_not_listed_are_what_the_registry_context_says() -> None:
    """A person alone in the registry (no household, so no spouse) with a child whose parents
    are not registered: the words ``context.build`` gives are those of a case that lists no
    spouse and no parents."""
    as_of = date(2026, 4, 30)
    policy = policy_for(as_of)
    input_types = {name: item.type for name, item in policy.inputs.items()}
    registry = context.RegistryFrames(
        children=pl.DataFrame(
            {
                "child_id": [10],
                "child_household_id": [None],
                "child_birth_date": [date(2020, 8, 31)],
                "child_sex": ["female"],
                "child_grade": [None],
                "parent_id": [None],
                "second_parent_id": [None],
            },
            schema_overrides={
                "child_grade": pl.Int64,
                "child_household_id": pl.Int64,
                "parent_id": pl.Int64,
                "second_parent_id": pl.Int64,
            },
        ),
        members=pl.DataFrame(
            {
                "resident_id": [1],
                "household_id": [None],
                "relation_to_head": [None],
                "birth_date": [date(1990, 1, 1)],
                "sex": ["male"],
                "town_code": ["330282001"],
                "origin_province": ["四川"],
            },
            schema_overrides={"household_id": pl.Int64, "relation_to_head": pl.String},
        ),
        household_children=pl.DataFrame(
            schema={"household_id": pl.Int64, "household_children": pl.Int64}
        ),
        employments=pl.DataFrame(
            schema={
                "resident_id": pl.Int64,
                "start_date": pl.Date,
                "employment_basis": pl.String,
                "frontline": pl.Boolean,
                "employer_credit_code": pl.String,
                "employer_town_code": pl.String,
                "has_union": pl.Boolean,
                "union_established_on": pl.Date,
            }
        ),
    )
    related = pl.DataFrame(
        schema={"resident_id": pl.Int64, "points": pl.Float64}
        | {name: context.dtype(value_type) for name, value_type in input_types.items()}
    )
    built = context.build(
        pl.DataFrame({"resident_id": [1], "child_id": [10]}), as_of, registry, input_types, related
    ).row(0, named=True)
    alone = {**FAMILY_CASE, "parents": None, "spouse": None}
    spec = load_program_spec(family(alone), "probe.yaml")
    frame, _, problems = case_frame(spec, spec.tests[0], policy, "tests[0]")
    assert not problems
    derived = frame.row(0, named=True)
    words = [
        "has_spouse",
        "spouse_scored",
        "spouse_housing",
        "parent_1_scored",
        "parent_2_scored",
        "either_parent_scored",
        "child_parents_registered",
        "parents_max_points",
        "either_parent_social_insurance_current",
    ]
    assert {word: derived[word] for word in words} == {word: built[word] for word in words}
    assert derived["has_spouse"] is False and derived["child_parents_registered"] == 0


# ------------------------------------------------------------------------- many cases


def test_a_document_holds_at_most_max_tests_cases() -> None:
    from luodi.kernels.policy.document import MAX_TESTS

    cases = [case(name=f"c{index}") for index in range(MAX_TESTS + 1)]
    problems = problems_of(document(*cases))
    assert problems == [
        f"tests: 最多 {MAX_TESTS} 项 / List should have at most {MAX_TESTS} items after validation, "
        f"not {MAX_TESTS + 1}"
    ]


@pytest.mark.parametrize("path", sorted(SHIPPED_PROGRAM_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_the_cases_of_a_document_run_together_as_each_runs_alone(path: Path) -> None:
    # run_cases evaluates the cases of one date as one frame; each must come out as it does
    # in a frame of its own (the pytest items run them one by one).
    from luodi.programs.cases import run_case

    spec = load_program_spec(path.read_text(encoding="utf-8"), path.name)
    policies = {
        case.as_of: find_policy(spec.policy, case.as_of, directory=SHIPPED_POLICY_DIR)
        for case in spec.tests
    }
    together = run_cases(spec, lambda day: policies[day].policy, path.name)
    alone = [
        run_case(spec, case, policies[case.as_of].policy, f"tests[{index}]", path.name)
        for index, case in enumerate(spec.tests)
    ]
    assert together == alone
    assert len({case.as_of for case in spec.tests}) < len(spec.tests)  # some share a frame


def test_a_tier_for_everybody_is_one_value_for_every_case() -> None:
    """A tier whose condition is a literal (``when: "True"``, a flat amount) gives that tier
    to each case of the date: it is broadcast to the cases' rows (it raised a ShapeError)."""
    flat = [{"label": {"zh": "定额"}, "when": "True", "amount": 3000}]
    outcomes = run(
        document(
            expect(tier=1, entitlement=3000),
            case(name="第二个", points=10, expect={"tier": 1, "entitlement": 3000}),
            tiers=flat,
        )
    )
    assert [outcome.passed for outcome in outcomes] == [True, True]


# ------------------------------------------------------------- settings, terms, cost shares


def test_a_rule_reads_a_setting_as_if_its_value_were_written_there() -> None:
    """The same case flips with the setting: the rule reads the program's list, not a
    constant of the code."""
    rule = {"id": "in_towns", "label": {"zh": "镇街"}, "rule": "employer_town_code in towns"}
    inside = case(
        name="单位在所列镇街",
        inputs={**GOOD_CASE["inputs"], "employer_town_code": "330282114"},
        expect={"eligible": True, "failed": []},
    )
    settings = {"towns": ["330282114", "330282103"]}
    eligibility = [*PROGRAM["eligibility"], rule]
    (outcome,) = run(document(inside, eligibility=eligibility, settings=settings))
    assert outcome.passed
    (outcome,) = run(document(inside, eligibility=eligibility, settings={"towns": ["330282103"]}))
    assert [(c.key, c.actual) for c in outcome.failures] == [
        ("eligible", False),
        ("failed", ["in_towns"]),
    ]


def test_a_setting_may_not_hide_a_word_and_an_unknown_name_is_still_refused() -> None:
    hiding = problems_of(document(case(), settings={"points": 3}))
    assert any("settings.points" in problem and "同名" in problem for problem in hiding)
    # Nor a function's name (it would replace `year(...)` in every rule), nor the date's.
    for name in ("year", "as_of"):
        hidden = problems_of(document(case(), settings={name: 2026}))
        assert any(f"settings.{name}" in problem for problem in hidden)
    rule = {"id": "in_towns", "label": {"zh": "镇街"}, "rule": "employer_town_code in town"}
    eligibility = [*PROGRAM["eligibility"], rule]
    unknown = problems_of(document(case(), eligibility=eligibility, settings={"towns": ["1"]}))
    assert any("eligibility.in_towns" in problem for problem in unknown)


def test_a_tiered_benefit_records_its_terms_where_there_is_an_amount() -> None:
    terms = {"rate": "rate_percent", "term_months": "min(months, max_term)"}
    fields = {
        **PROGRAM["fields"],
        "months": {"type": "int", "default": 12, "label": {"zh": "期限"}},
    }
    settings = {"rate_percent": 4.8, "max_term": 12}
    granted = expect(rate=4.8, term_months=6)
    granted["fields"] = {**granted["fields"], "months": 6}
    capped = {**granted, "name": "期限封顶", "fields": {**granted["fields"], "months": 30}}
    capped["expect"] = {"term_months": 12}
    below = {**case(name="不到最低一档", points=10), "expect": {"rate": None, "term_months": None}}
    outcomes = run(document(granted, capped, below, terms=terms, fields=fields, settings=settings))
    assert [outcome.passed for outcome in outcomes] == [True, True, True]
    # Expecting terms of a program that has none is a problem of the document.
    assert any("没有 terms" in p for p in problems_of(document(expect(rate=4.8))))


@pytest.mark.parametrize(
    ("shares", "words"),
    [
        (["1/3", "1/3"], "add up to 2/3"),
        (["1/2", "1/2", "1/3"], "add up to 4/3"),
        (["0.5", "1/2"], "share"),
    ],
)
def test_cost_shares_are_fractions_that_add_up_to_one(shares: list[str], words: str) -> None:
    declared = [{"payer": {"zh": f"出资方{i}"}, "share": share} for i, share in enumerate(shares)]
    problems = problems_of(document(case(), cost_shares=declared))
    assert any(words in problem for problem in problems), problems
