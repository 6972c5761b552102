"""Loading a policy: every mistake is found when the policy is loaded, with its line, column,
text and reason; a good document keeps its order, digest and tests."""

from __future__ import annotations

import pytest

from luodi.kernels.policy import CompiledPolicy, PolicyError, load_policy
from tests.kernels.policy.conftest import DEMO

GOOD = DEMO.read_text()


def problems_of(text: str) -> list:
    with pytest.raises(PolicyError) as raised:
        load_policy(text, "p.yaml")
    return raised.value.problems


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def test_demo_document_loads_in_order_with_digest(demo_policy: CompiledPolicy) -> None:
    policy = demo_policy.policy
    assert policy.indicator_ids == ["education", "insurance", "age", "conviction"]
    assert [group.id for group in policy.groups] == ["county", "edu_or_title"]
    assert policy.inputs["volunteer_hours"].default == 0.0
    assert policy.inputs["birth_date"].required
    assert len(policy.digest) == 64
    assert load_policy(GOOD + "\n# comment").digest != policy.digest


def test_unknown_name_in_a_formula_points_at_line_and_column() -> None:
    text = GOOD.replace('formula: "50 * convictions"', 'formula: "50 * convictons"')
    [problem] = problems_of(text)
    assert problem.line == line_of(text, "convictons")
    source_line = text.splitlines()[problem.line - 1]
    assert source_line[problem.column - 1 :].startswith("convictons")
    assert "did you mean `convictions`" in problem.reason_en
    assert problem.path == "indicators[3].formula"
    assert problem.text == "50 * convictons"
    assert problem.file == "p.yaml"


def test_every_broken_indicator_is_reported_not_only_the_first() -> None:
    text = GOOD.replace('"3 * (social_insurance_months // 12)"', '"3 * (months // 12)"').replace(
        '"50 * convictions"', '"50 * convictions.real"'
    )
    problems = problems_of(text)
    assert [problem.path for problem in problems] == [
        "indicators[1].formula",
        "indicators[3].formula",
    ]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("kind: deduction", "kind: penalty", "kind must be basic, bonus or deduction"),
        ("    cap: 30\n", "    cap: -1\n", "must not be below 0"),
        ("    cap: 30\n", "    cap: thirty\n", "a number is expected"),
        ("  - id: age\n", "  - id: education\n", "duplicate or reserved"),
        ("  - id: age\n", "  - id: total\n", "duplicate or reserved"),
        (
            "indicators: [insurance], cap: 200",
            "indicators: [insurence], cap: 200",
            "no indicator insurence",
        ),
        (
            "indicators: [insurance], cap: 200",
            "indicators: [insurance, conviction], cap: 200",
            "cannot mix deductions",
        ),
        (
            "{id: county, indicators: [insurance], cap: 200}",
            "{id: county, indicators: [insurance]}",
            "needs a cap or combine: max",
        ),
        ("combine: max", "combine: min", "combine: sum or max"),
        (
            "  convictions: {type: int, default: 0}",
            "  convictions: {type: integer, default: 0}",
            "unknown type integer",
        ),
        (
            "  owns_home: {type: bool, default: false}",
            "  owns_home: {type: bool, default: maybe}",
            "the default is not a bool",
        ),
        ("bachelor: 60,", "bachelors: 60,", "bachelors is not one of"),
        (
            "    evidence: education",
            '    evidence: education\n    formula: "1"',
            "exactly one of formula and table",
        ),
        ("effective_to: null", "effective_to: 2024-01-01", "effective_to is before effective_from"),
        ("expect: {total: 95,", "expect: {totl: 95,", "totl is neither total nor an indicator"),
        (
            "inputs: {birth_date: 1995-03-01,",
            "inputs: {born: 1995-03-01, birth_date: 1995-03-01,",
            "undeclared input born",
        ),
        ("inputs: {birth_date: 1995-03-01, ", "inputs: {", "required inputs missing: birth_date"),
        ("education: bachelor, social", "education: phd, social", "education: not one of"),
        ('formula: "50 * convictions"', 'formula: "convictions > 1"', "the formula gives bool"),
        (
            'age: "years_between(birth_date, as_of)"',
            'age: "years_between(birth_date)"',
            "years_between takes 2 arguments",
        ),
        ("  volunteer_hours:", "  max:", "must be an identifier"),
        ("total_floor: 0", "total_floor: 0\ntotal_floor: 1", "duplicate key total_floor"),
        ("total_floor: 0", "total_flor: 0", "unknown key total_flor"),
    ],
)
def test_a_mistake_is_named_with_its_line(old: str, new: str, reason: str) -> None:
    assert old in GOOD, old
    text = GOOD.replace(old, new, 1)
    problems = problems_of(text)
    assert any(reason in problem.reason_en for problem in problems), problems
    problem = next(p for p in problems if reason in p.reason_en)
    assert problem.line is not None and problem.line > 0
    assert problem.reason_zh


def test_yaml_syntax_error_has_its_place() -> None:
    [problem] = problems_of("id: x\nname: [unclosed\nversion: 1\n")
    assert "YAML syntax error" in problem.reason_en
    assert problem.line is not None


def test_empty_and_non_mapping_documents() -> None:
    assert "empty" in problems_of("")[0].reason_en
    assert "mapping" in problems_of("- a\n- b\n")[0].reason_en


def test_derived_names_are_usable_in_order_only() -> None:
    text = GOOD.replace(
        "derived:                      # named expressions, evaluated in order, usable below\n"
        '  age: "years_between(birth_date, as_of)"',
        'derived:\n  older: "age + 1"\n  age: "years_between(birth_date, as_of)"',
    )
    [problem] = problems_of(text)
    assert problem.path == "derived.older"
    assert "unknown name `age`" in problem.reason_en


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("effective_from: 2025-01-01", "effective_from: 2025-02-29", "effective_from"),
        ("    as_of: 2025-06-30", "    as_of: 2025-02-30", "tests[0].as_of"),
        ("birth_date: 1995-03-01", "birth_date: 1995-02-29", "tests[0].inputs.birth_date"),
    ],
)
def test_a_day_that_does_not_exist_is_a_problem_with_its_place(
    old: str, new: str, path: str
) -> None:
    # YAML reads 2025-02-30 as a date and PyYAML raised a bare ValueError (an internal error
    # of `luodi policy test`): the document's reader names the key and the line instead.
    assert old in GOOD, old
    text = GOOD.replace(old, new, 1)
    [problem] = problems_of(text)
    assert problem.path == path
    assert problem.file == "p.yaml"
    assert problem.line == line_of(text, new.strip())
    assert "day" in problem.reason_en and problem.reason_zh


def test_a_document_holds_at_most_max_tests_cases() -> None:
    from luodi.kernels.policy.document import MAX_TESTS

    start = GOOD.index("\ntests:\n") + len("\ntests:\n")
    first = GOOD[start:].split("\n  - ")[0]
    extra = "".join(
        first.replace("name: ", f"name: n{index}", 1) + "\n" for index in range(MAX_TESTS + 1)
    )
    [problem] = problems_of(GOOD[:start] + extra + GOOD[start:])
    assert problem.path == "tests"
    assert f"个测试用例，一个文件最多 {MAX_TESTS:,} 个" in problem.reason_zh
    assert f"at most {MAX_TESTS:,}" in problem.reason_en


def test_the_cases_of_a_policy_run_together_as_each_runs_alone(
    current_policy: CompiledPolicy,
) -> None:
    # run_tests scores the cases of one date with the same inputs as one frame.
    tests = current_policy.policy.tests
    assert current_policy.run_tests() == [current_policy.run_test(case) for case in tests]
    assert len({(case.as_of, tuple(sorted(case.inputs))) for case in tests}) < len(tests)
