"""The applicant's context: the typed vocabulary of program rules, the bulk builder on a small
registry (SQLite and PostgreSQL), and rules that name its words (or a word that does not exist)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.kernels.policy import KEY
from luodi.kernels.policy.expressions import BOOL, DATE, FLOAT, INT, Kind, ValueType
from luodi.programs import context, rules
from luodi.programs.spec import load_program_spec
from luodi.registry.loading import load_city
from luodi.registry.models import Child, Resident
from tests import family_city as city

INPUTS = {
    "birth_date": DATE,
    "social_insurance_months": INT,
    "social_insurance_current": BOOL,
    "housing": ValueType(Kind.ENUM, ("none", "owned")),
}
AS_OF = date(2026, 9, 1)


def test_every_word_is_typed_described_and_sourced() -> None:
    words = context.vocabulary(INPUTS)
    for name, word in words.items():
        assert name.isidentifier() and name == name.lower(), name
        assert word.zh and word.en and word.source and word.group, name
    types = context.types(INPUTS)
    assert types["age"] == INT
    assert types["frontline"] == BOOL
    assert types["employer_union"] == BOOL
    assert types["child_birth_date"] == DATE
    assert types["relation_to_head"].values == (
        "head",
        "spouse",
        "child",
        "parent",
        "sibling",
        "other",
    )
    # The spouse's and both parents' inputs and points; the higher of two numbers; either's
    # true/false ("父母一方" per condition).
    assert types["spouse_housing"] == INPUTS["housing"]
    assert types["parent_2_social_insurance_months"] == INT
    assert types["parents_max_points"] == FLOAT
    assert types["parents_max_social_insurance_months"] == INT
    assert types["either_parent_social_insurance_current"] == BOOL
    assert "either_parent_points" not in types
    assert types["either_parent_scored"] == types["spouse_scored"] == BOOL
    # A policy input is the policy's: the vocabulary does not repeat it.
    assert "birth_date" not in types
    assert "birth_date" in context.types({})


def family_frame(session: Session) -> tuple[pl.DataFrame, dict[str, int]]:
    """Rows as the allocation builds them: (application, person whose points count, child)."""
    ids = {row.id_number: row.id for row in session.scalars(select(Resident))}
    children = {row.id_number: row.id for row in session.scalars(select(Child))}
    father, mother, uncle = ids[city.FATHER], ids[city.MOTHER], ids[city.UNCLE]
    frame = pl.DataFrame(
        {
            "application_id": [1, 1, 1, 2, 3, 4],
            "applicant": [father, father, father, father, ids[city.SINGLE], ids[city.LONER]],
            "child_id": [children[city.C1]] * 3 + [children[city.C2], None, None],
            KEY: [father, mother, uncle, father, ids[city.SINGLE], ids[city.LONER]],
            "household_size": [None] * 6,  # the allocation's own column: replaced
        },
        schema_overrides={"child_id": pl.Int64, "household_size": pl.Int64},
    )
    return frame, ids


def scores_of(ids: dict[str, int]) -> context.RelatedInputs:
    points = {city.FATHER: 76.5, city.MOTHER: 94.5, city.UNCLE: 168.5}
    months = {city.FATHER: 6, city.MOTHER: 23, city.UNCLE: 60}
    current = {city.FATHER: False, city.MOTHER: True, city.UNCLE: True}
    housing = {city.FATHER: "none", city.MOTHER: "owned", city.UNCLE: "none"}
    table = pl.DataFrame(
        {
            KEY: [ids[number] for number in points],
            "points": list(points.values()),
            "social_insurance_months": list(months.values()),
            "social_insurance_current": list(current.values()),
            "housing": list(housing.values()),
        }
    )
    asked: list[list[int]] = []

    def related(wanted: list[int]) -> pl.DataFrame:
        asked.append(wanted)
        return table.filter(pl.col(KEY).is_in(wanted))

    related.asked = asked  # type: ignore[attr-defined]
    return related


def test_the_context_of_a_family(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, ids = family_frame(session)
    related = scores_of(ids)
    built = context.add_context(SYSTEM_ACTOR, session, frame, AS_OF, INPUTS, related)
    assert built.height == frame.height
    assert built["application_id"].to_list() == frame["application_id"].to_list()
    # The uncle's scores are never asked for: he is nobody's parent or spouse here.
    assert sorted(related.asked[0]) == sorted([ids[city.FATHER], ids[city.MOTHER]])  # type: ignore[attr-defined]
    rows = built.to_dicts()
    father, mother, uncle, father_c2, single, loner = rows

    assert (father["age"], father["sex"], father["town_code"]) == (38, "male", city.ZHOUXIANG)
    assert (mother["sex"], mother["origin_province"], mother["relation_to_head"]) == (
        "female",
        "四川",
        "spouse",
    )
    assert father["household_size"] == 6  # four residents and two children
    assert (father["household_adults"], father["household_children"]) == (4, 2)
    assert (father["household_spouses"], father["household_siblings"]) == (1, 1)
    assert father["household_parents"] == 1
    assert (loner["household_size"], loner["household_adults"]) == (1, None)

    # The spouse: the head's is the spouse and the spouse's the head; the uncle has none.
    assert (father["has_spouse"], mother["has_spouse"], uncle["has_spouse"]) == (
        True,
        True,
        False,
    )
    assert (father["spouse_housing"], mother["spouse_housing"]) == ("owned", "none")
    assert (father["spouse_points"], uncle["spouse_points"]) == (94.5, None)

    # The child and its two parents; the uncle is in the household but not a parent.
    assert (father["child_birth_date"], father["child_age"]) == (date(2020, 3, 1), 6)
    assert (father["person_is_parent"], mother["person_is_parent"]) == (True, True)
    assert uncle["person_is_parent"] is False
    assert single["person_is_parent"] is None  # no child
    assert (father["parent_1_points"], father["parent_2_points"]) == (76.5, 94.5)
    assert father["parents_max_points"] == 94.5
    assert father["parents_max_social_insurance_months"] == 23
    assert father["either_parent_social_insurance_current"] is True
    assert father["child_parents_registered"] == 2
    # C2's other parent lives elsewhere: only the father's figures count.
    assert (father_c2["parent_2_id"], father_c2["parents_max_points"]) == (None, 76.5)
    assert father_c2["child_parents_registered"] == 1
    # Who is in the scoring run ("父母一方持有居住证且参加积分管理").
    assert (father["parent_1_scored"], father["parent_2_scored"]) == (True, True)
    assert (father_c2["parent_2_scored"], father_c2["either_parent_scored"]) == (False, True)
    assert (uncle["spouse_scored"], single["either_parent_scored"]) == (False, False)

    # The employer of the current employment, its union and the post.
    assert (father["employer_credit_code"], father["employer_town_code"]) == (
        city.E1,
        city.ZHOUXIANG,
    )
    assert (father["employer_union"], father["frontline"]) == (True, True)
    assert (mother["employer_union"], mother["frontline"]) == (False, False)
    assert (uncle["employer_union"], uncle["frontline"]) == (None, None)  # never said
    assert (single["employer_credit_code"], single["employment_basis"]) == (
        city.E2,
        "labour_contract",
    )
    assert (loner["employed"], loner["employer_union"]) == (False, None)

    # Every word is a column of its declared type.
    for name, value_type in context.types(INPUTS).items():
        assert built.schema[name] == context.dtype(value_type), name


def test_scores_at_hand_are_not_asked_for_again(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, ids = family_frame(session)
    related = scores_of(ids)
    known = related([ids[city.FATHER]])
    built = context.add_context(SYSTEM_ACTOR, session, frame, AS_OF, INPUTS, related, known=known)
    assert related.asked[1:] == [[ids[city.MOTHER]]]  # type: ignore[attr-defined]
    assert built["parents_max_points"].to_list()[:2] == [94.5, 94.5]
    nobody = context.add_context(
        SYSTEM_ACTOR, session, frame.filter(pl.col(KEY) == ids[city.LONER]), AS_OF, INPUTS, related
    )
    assert nobody.select("spouse_scored", "either_parent_scored").row(0) == (False, False)


def test_only_the_words_the_rules_read_are_read(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from luodi.registry import service as registry_service

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, ids = family_frame(session)
    everything = context.add_context(SYSTEM_ACTOR, session, frame, AS_OF, INPUTS, scores_of(ids))
    spec = load_program_spec(
        HEALTH_CHECK.replace("RULE", "employed and child_age >= 6 or parents_max_points > 90"),
        "health-check-test.yaml",
    )
    read = rules.names_read(spec)
    assert {"employed", "child_age", "parents_max_points", "application_order"} <= read
    assert context.reads(read) == (True, True, True)
    assert context.reads({"employed", "points"}) == (False, True, False)
    assert context.reads({"spouse_housing"}) == (True, False, True)
    assert context.reads({"points", "housing", "application_order"}) == (False, False, False)
    # The words read are as when every word is computed; the others are empty.
    some = context.add_context(
        SYSTEM_ACTOR, session, frame, AS_OF, INPUTS, scores_of(ids), words_read=read
    )
    assert some.columns == everything.columns and some.schema == everything.schema
    for name in ("employed", "child_age", "parents_max_points"):
        assert some[name].equals(everything[name]) and everything[name].null_count() < 6
    assert some["household_size"].null_count() == 6 > everything["household_size"].null_count()

    # No word read: neither the registry nor the run is asked.
    def refused(*_args: object) -> None:
        raise AssertionError("read")

    monkeypatch.setattr(registry_service, "family_frames", refused)
    monkeypatch.setattr(registry_service, "current_employments", refused)
    none = context.add_context(
        SYSTEM_ACTOR, session, frame, AS_OF, INPUTS, refused, words_read={"points"}
    )
    assert none.columns == everything.columns
    assert none.drop(frame.columns).null_count().row(0) == (6,) * (none.width - frame.width)


def test_the_employer_and_union_as_of_the_date(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, ids = family_frame(session)
    single = frame.filter(pl.col(KEY) == ids[city.SINGLE])
    # In 2019 S worked at E1, whose union was set up in June 2020.
    early = context.add_context(SYSTEM_ACTOR, session, single, date(2019, 6, 1), INPUTS)
    assert early.select("employer_credit_code", "employer_union").row(0) == (city.E1, False)
    later = context.add_context(SYSTEM_ACTOR, session, single, date(2021, 6, 1), INPUTS)
    assert later.select("employer_credit_code", "employer_union").row(0) == (city.E1, True)


HEALTH_CHECK = """
id: health-check-test
name: {zh: 一线职工免费体检, en: Health checks}
kind: quota_benefit
department: 总工会
policy: zj-cixi
eligibility:
  - id: frontline
    label: {zh: 已建工会企业一线职工, en: Frontline worker of a unionised employer}
    rule: "RULE"
groups:
  - {group: 0, label: {zh: 本人申请, en: Applicants}}
tie_breaks:
  - {key: application_order, order: asc, label: {zh: 报名先后, en: Order of application}}
"""


def spec_with(rule: str) -> object:
    return load_program_spec(HEALTH_CHECK.replace("RULE", rule), "health-check-test.yaml")


def test_an_unknown_word_is_refused_with_the_nearest() -> None:
    spec = spec_with("frontlin and employer_union")
    with pytest.raises(Invalid) as caught:
        rules.check_rules(spec, INPUTS, "zj-cixi")  # type: ignore[arg-type]
    problem = caught.value.details[0]
    assert problem.field == "eligibility.frontline"
    assert "unknown name `frontlin`" in problem.reason_en
    assert "did you mean `frontline`" in problem.reason_en
    assert "frontline" in problem.reason_zh


def test_a_rule_on_frontline_union_and_town(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, _ = family_frame(session)
    rule = f"frontline and employer_union and town_code in ['{city.ZHOUXIANG}', '330282102']"
    spec = spec_with(rule)
    rules.check_rules(spec, INPUTS, "zj-cixi")  # type: ignore[arg-type]
    built = context.add_context(SYSTEM_ACTOR, session, frame, AS_OF, INPUTS).with_columns(
        points=pl.lit(60.0), application_order=pl.col("application_id")
    )
    evaluated = rules.evaluate(spec, INPUTS, built, AS_OF)  # type: ignore[arg-type]
    # The father only: the mother's employer has no union, the uncle's post is not known to be
    # frontline, S lives in 白沙路 and the loner has no job.
    assert evaluated["eligible"].to_list() == [True, False, False, True, False, False]


def test_grade_one_by_the_age_on_31_august(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, _ = family_frame(session)
    spec = spec_with(
        "person_is_parent and 6 <= years_between(child_birth_date, date(year(as_of), 8, 31)) < 8"
    )
    built = context.add_context(SYSTEM_ACTOR, session, frame, AS_OF, INPUTS).with_columns(
        points=pl.lit(60.0), application_order=pl.col("application_id")
    )
    evaluated = rules.evaluate(spec, INPUTS, built, AS_OF)  # type: ignore[arg-type]
    # C1 (born 2020-03-01) is 6 on 31 August 2026, C2 (2019-09-15) 6 too; the uncle is no parent.
    assert evaluated["eligible"].to_list() == [True, True, False, True, False, False]


def test_docs_list_every_word() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "programs.md").read_text(encoding="utf-8")
    section = docs.split("## Vocabulary of program rules", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in context.WORDS if f"`{name}`" not in section]
    assert not missing, f"docs/programs.md lacks {missing}"
    for prefix in ("spouse_X", "parent_1_X", "parent_2_X", "parents_max_X", "either_parent_X"):
        assert f"`{prefix}`" in section
    for scored in ("spouse_scored", "parent_1_scored", "parent_2_scored", "either_parent_scored"):
        assert f"`{scored}`" in section


def test_a_program_field_wins_over_a_word_of_the_same_name(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    frame, _ = family_frame(session)
    said = frame.with_columns(frontline=pl.lit("as the form says"))
    built = context.add_context(SYSTEM_ACTOR, session, said, AS_OF, INPUTS, keep=["frontline"])
    assert built["frontline"].unique().to_list() == ["as the form says"]
    assert built["employer_union"].to_list()[0] is True


# --- through a cycle: opened, applied for, allocated -----------------------------------------

FRONTLINE_CHECK = HEALTH_CHECK.replace("health-check-test", "frontline-check")


@pytest.fixture
def program_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped programs and one more, as ``LUODI_PROGRAM_DIR``."""
    from luodi.settings import SHIPPED_PROGRAM_DIR, get_settings

    folder = tmp_path / "programs"
    shutil.copytree(SHIPPED_PROGRAM_DIR, folder)
    monkeypatch.setenv("LUODI_PROGRAM_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def open_cycle(session: Session, program: str) -> int:
    from datetime import timedelta

    from luodi.programs import service

    today = date.today()
    cycle = service.open_cycle(
        SYSTEM_ACTOR,
        session,
        program,
        "测试",
        today - timedelta(days=1),
        today + timedelta(days=10),
        SCORED_ON,
        places=5,
    )
    return cycle.id


SCORED_ON = date(2026, 3, 1)


def test_a_cycle_whose_rule_names_an_unknown_word_does_not_open(
    session: Session, program_folder: Path
) -> None:
    (program_folder / "frontline-check.yaml").write_text(
        FRONTLINE_CHECK.replace("RULE", "frontlin and employer_union"), encoding="utf-8"
    )
    with pytest.raises(Invalid) as caught:
        open_cycle(session, "frontline-check")
    assert "did you mean `frontline`" in caught.value.message_en
    assert caught.value.details[0].field == "eligibility.frontline"


def test_an_allocation_reads_the_context(
    session: Session, small_city: Path, program_folder: Path
) -> None:
    """Frontline workers of unionised employers only, on the synthetic city: every placed
    applicant is one, and the others are refused by that rule."""
    from luodi.allocation import service as allocation
    from luodi.policy.service import find_policy
    from luodi.programs import demo, intake
    from luodi.scoring import service as scoring_service

    (program_folder / "frontline-check.yaml").write_text(
        FRONTLINE_CHECK.replace("RULE", "frontline and employer_union"), encoding="utf-8"
    )
    load_city(SYSTEM_ACTOR, session, small_city, today=SCORED_ON)
    scoring_service.score_registry(
        SYSTEM_ACTOR, session, find_policy("zj-cixi", SCORED_ON), SCORED_ON
    )
    cycle_id = open_cycle(session, "frontline-check")
    applications = demo.benefit_applications(small_city, 300)
    intake.submit_applications(SYSTEM_ACTOR, session, cycle_id, applications.to_dicts())
    intake.verify_all(SYSTEM_ACTOR, session, cycle_id)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle_id, "ctx")
    results = allocation.run_results(SYSTEM_ACTOR, session, run.id)
    placed = results.filter(pl.col("outcome") == "placed")
    assert placed.height == 5
    facts = context.add_context(
        SYSTEM_ACTOR, session, results.select(KEY, "outcome"), SCORED_ON, {}
    )
    eligible = facts.filter(pl.col("frontline") & pl.col("employer_union"))
    assert set(placed[KEY]) <= set(eligible[KEY])
    refused = facts.filter(~(pl.col("frontline") & pl.col("employer_union")).fill_null(False))
    assert refused.height > 0
    assert set(refused["outcome"]) <= {"ineligible"}


def test_time_line_words_whatever_the_policy_declares(session: Session, tmp_path: Path) -> None:
    """The 慈溪 rule for children 0–6 (a parent with 12 months of 职工医保, insured now) and
    a permit's issue date are words of every program, read from the facts and the permit
    time line as of the cycle's date, for the person and for the child's parents, though
    this policy declares none of them."""
    from luodi.feeds import service as feeds

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    # The mother: 职工医保 every month from 2025-07 to 2026-08, December 2025 paid in arrears
    # (补缴): 14 months paid, a run of 8 since January, insured in August.
    months = [f"2025-{m:02d}" for m in range(7, 13)] + [f"2026-{m:02d}" for m in range(1, 9)]
    rows = [
        f"{city.MOTHER},{month},1,{'是' if month == '2025-12' else '否'},职工" for month in months
    ]
    # The father: one month of the resident scheme only.
    rows.append(f"{city.FATHER},2026-08,1,否,居民")
    feed = tmp_path / "医保.csv"
    feed.write_text("身份证号,所属期,缴费月数,是否补缴,险种\n" + "\n".join(rows) + "\n", "utf-8")
    result = feeds.import_file(SYSTEM_ACTOR, session, "medical_insurance", feed, today=AS_OF)
    feeds.raise_if_rejected(result)

    frame, ids = family_frame(session)
    words = [
        "employee_medical_insurance_months",
        "employee_medical_insurance_current",
        "parent_2_employee_medical_insurance_continuous_months",
        "either_parent_employee_medical_insurance_current",
        "medical_insurance_months",
        "permit_state",
    ]
    assert all(word in context.types(INPUTS) for word in words)
    # A rule on them opens (it was refused as an unknown name under this policy).
    rules.check_rules(
        spec_with(  # type: ignore[arg-type]
            "employee_medical_insurance_continuous_months >= 12 and next_endorsement_due > as_of"
        ),
        INPUTS,
        "zj-cixi",
    )
    built = context.add_context(
        SYSTEM_ACTOR,
        session,
        frame,
        AS_OF,
        INPUTS,
        related_inputs=scores_of(ids),
        words_read=words,
    ).row(1, named=True)  # the mother's row of the first child
    assert built["employee_medical_insurance_months"] == 14  # back payments count here
    assert built["employee_medical_insurance_current"] is True  # August paid, not in arrears
    assert built["medical_insurance_months"] == 14
    assert built["permit_state"] == "none"  # the family city issues no permit
    # The child's parents: the mother is parent 2; her run starts after the back payment.
    assert built["parent_2_employee_medical_insurance_continuous_months"] == 8
    assert built["either_parent_employee_medical_insurance_current"] is True
