"""Public rental by household (住建部令第11号), on both databases: the household's records as
words of the rules (read in bulk from the members' facts), one application per household at
intake, at most one flat per household in the allocation, the household size from the registry,
an income test in a program that declares one, and priority groups from records only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Conflict, Invalid
from luodi.feeds import service as feeds
from luodi.kernels.policy import KEY
from luodi.policy.service import find_policy
from luodi.programs import context, intake, service
from luodi.programs import repository as programs_repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus
from luodi.programs.spec import ProgramSpecError, load_program_spec
from luodi.registry.loading import load_city
from luodi.registry.models import Resident
from luodi.scoring import service as scoring_service
from luodi.scoring.models import ResidentScore
from tests import family_city as city

AS_OF = date(2026, 9, 1)


def feed(session: Session, folder: Path, feed_id: str, text: str) -> None:
    path = folder / f"{feed_id}.csv"
    path.write_text(text, encoding="utf-8")
    feeds.raise_if_rejected(feeds.import_file(SYSTEM_ACTOR, session, feed_id, path, today=AS_OF))


def family_records(session: Session, folder: Path) -> dict[str, int]:
    """The family city with the mother owning a home, the loner in public rental, the single
    resident's public rental ended; incomes (the uncle's latest year counts), the grandmother
    disabled, the single resident's 优抚 record ended; the father a sanitation worker, the
    single resident a bus driver (the employment feed's 岗位)."""
    load_city(SYSTEM_ACTOR, session, city.write_family_city(folder / "city"))
    feed(
        session,
        folder,
        "housing",
        "身份证号,不动产权证号,住房类型,登记日期,终止日期\n"
        f"{city.MOTHER},浙(2020)慈溪市不动产权第1号,自有住房,2020-05-01,\n"
        f"{city.LONER},GZF-1,公租房,2025-03-01,\n"
        f"{city.SINGLE},GZF-2,公租房,2023-01-01,2025-12-31\n"
        f"{city.FATHER},ZL-1,登记租赁,2024-01-01,\n",
    )
    feed(
        session,
        folder,
        "household_income",
        "身份证号,收入年度,年收入（元）,财产（元）\n"
        f"{city.FATHER},2025,60000,100000\n"
        f"{city.MOTHER},2025,30000,\n"
        f"{city.UNCLE},2024,20000,\n"
        f"{city.UNCLE},2025,24000,\n",
    )
    feed(
        session,
        folder,
        "care_groups",
        "身份证号,类别,认定日期,终止日期\n"
        f"{city.GRANDMOTHER},残疾人,2010-01-01,\n"
        f"{city.SINGLE},优抚对象,2015-01-01,2025-01-01\n",
    )
    feed(
        session,
        folder,
        "employment",
        "身份证号,统一社会信用代码,就业依据,开始日期,岗位\n"
        f"{city.FATHER},{city.E1},劳动合同,2022-01-01,环卫工人\n"
        f"{city.SINGLE},{city.E2},劳动合同,2024-01-01,公交司机\n"
        f"{city.UNCLE},{city.E3},营业执照,2020-01-01,\n",  # blank: no fact, not "other"
    )
    return {row.id_number: row.id for row in session.scalars(select(Resident))}


WORDS = [*context.HOUSEHOLD_RECORD_WORDS, *context.RECORD_WORDS, "household_size"]


def test_the_household_words_from_every_members_records(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = family_records(session, tmp_path)
    people = [city.FATHER, city.UNCLE, city.GRANDMOTHER, city.SINGLE, city.LONER]
    frame = pl.DataFrame({KEY: [ids[number] for number in people]})
    from luodi.facts import service as facts_service

    reads: list[list[int]] = []
    current_facts = facts_service.current_facts

    def counted(*args: Any, **kwargs: Any) -> pl.DataFrame:
        reads.append(list(args[4]))
        return current_facts(*args, **kwargs)

    monkeypatch.setattr(facts_service, "current_facts", counted)
    built = context.add_context(SYSTEM_ACTOR, session, frame, AS_OF, {}, words_read=WORDS)
    # The facts of every member of every household in one read (one statement), the mother
    # and the loner's (who lives alone) among them, though neither is in the frame's rows.
    assert len(reads) == 1
    assert {ids[city.MOTHER], ids[city.LONER], ids[city.SINGLE]} <= set(reads[0])
    assert sorted(reads[0]) == sorted(set(reads[0])) and len(reads[0]) == 6  # 4 + 1 + 1, once each
    father, uncle, grandmother, single, loner = built.to_dicts()
    # The mother owns a home: everybody of household H1 is refused, not only her.
    for row in (father, uncle, grandmother):
        assert row["household_owns_home"] is True
        assert row["household_in_public_rental"] is False
        assert row["household_income"] == 60000 + 30000 + 24000  # the uncle's 2025 only
        assert row["household_income_per_capita"] == pytest.approx(114000 / 6)
        assert row["household_assets"] == 100000
    assert (father["post"], uncle["post"], single["post"]) == ("sanitation", None, "bus_driver")
    assert (father["yearly_income"], uncle["yearly_income"]) == (60000, 24000)
    assert grandmother["special_hardship"] is True and father["special_hardship"] is False
    # An ended record counts no more: the single resident's public rental and 优抚.
    assert single["household_in_public_rental"] is False
    assert single["military_entitled"] is False
    assert single["household_owns_home"] is False
    assert single["household_income"] is None  # nobody of H2 on record: unknown, not 0
    assert (loner["household_in_public_rental"], loner["household_size"]) == (True, 1)
    # Records are the person's own: no family read for them; household words read it.
    assert context.reads(context.RECORD_WORDS)[0] is False
    assert context.reads(["household_owns_home"])[0] is True


def test_no_form_field_stands_for_the_household_or_a_record(tmp_path: Path) -> None:
    from luodi.settings import SHIPPED_PROGRAM_DIR

    text = (SHIPPED_PROGRAM_DIR / "public-rental.yaml").read_text(encoding="utf-8")
    for name in ("household_size", "household_owns_home", "post", "military_entitled"):
        path = tmp_path / f"{name}.yaml"
        field = f"fields:\n  {name}: {{type: int, label: {{zh: 人数}}}}\n"
        path.write_text(text.replace("eligibility:\n", field + "eligibility:\n", 1), "utf-8")
        with pytest.raises(ProgramSpecError) as caught:
            load_program_spec(path.read_text(encoding="utf-8"), path.name)
        assert f"fields.{name}" in str(caught.value)
    groups = {word.group for name, word in context.WORDS.items() if name.startswith("household_")}
    assert groups == {"household"}


# --- a real cycle on the synthetic city ---------------------------------------------------

SCORED_ON = date(2026, 3, 1)
TODAY = date.today()

HOUSEHOLD_RENTAL = """
id: household-rental
name: {zh: 按户审核的公租房（测试）}
kind: public_housing
department: 住建局
policy: zj-cixi
eligibility:
  - {id: no_home, label: {zh: 本户无房}, rule: not household_owns_home, public_reason: 住房}
  - id: no_other_benefit
    label: {zh: 本户未住公租房}
    rule: not household_in_public_rental
    public_reason: 住房保障
  - id: income
    label: {zh: 家庭人均年收入不超过 30000 元}
    rule: household_income_per_capita <= 30000
    public_reason: 收入
groups:
  - {group: 0, label: {zh: 优抚对象、孤老病残}, when: "military_entitled or special_hardship"}
  - {group: 1, label: {zh: 环卫工人、公交司机}, when: "post in ['sanitation', 'bus_driver']"}
  - {group: 2, label: {zh: 其他}}
household_layouts: {1: [单间, 一室一厅], 2: [一室一厅], 3: [两室一厅, 一室一厅]}
max_choices: 3
"""


@pytest.fixture
def program_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from luodi.settings import SHIPPED_PROGRAM_DIR, get_settings

    folder = tmp_path / "programs"
    shutil.copytree(SHIPPED_PROGRAM_DIR, folder)
    (folder / "household-rental.yaml").write_text(HOUSEHOLD_RENTAL, encoding="utf-8")
    monkeypatch.setenv("LUODI_PROGRAM_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def couples(session: Session, count: int) -> list[tuple[Resident, Resident, int]]:
    """``count`` households whose head and spouse were both scored: (head, spouse, size)."""
    scored = set(session.scalars(select(ResidentScore.resident_id)))
    found: dict[int, dict[str, Resident]] = {}
    for resident in session.scalars(
        select(Resident).where(Resident.household_id.is_not(None)).order_by(Resident.id)
    ):
        if resident.id in scored and resident.relation_to_head in ("head", "spouse"):
            found.setdefault(resident.household_id, {})[resident.relation_to_head] = resident  # type: ignore[arg-type]
    pairs = [
        (members["head"], members["spouse"]) for members in found.values() if len(members) == 2
    ]
    assert len(pairs) >= count
    sizes = allocation.repository.household_sizes(
        session,
        SYSTEM_ACTOR,
        [head.household_id for head, _ in pairs[:count]],  # type: ignore[misc]
    )
    size_of = dict(zip(sizes["household_id"], sizes["household_size"], strict=True))
    return [(head, spouse, size_of[head.household_id]) for head, spouse in pairs[:count]]


def open_rental(session: Session, small_city: Path) -> int:
    return service.open_cycle(
        SYSTEM_ACTOR,
        session,
        "household-rental",
        "按户",
        TODAY - timedelta(days=1),
        TODAY + timedelta(days=10),
        SCORED_ON,
        targets_file=small_city / "housing_units.csv",
    ).id


def test_a_cycle_decides_by_household(
    session: Session, small_city: Path, program_folder: Path, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, small_city, today=SCORED_ON)
    scoring_service.score_registry(
        SYSTEM_ACTOR, session, find_policy("zj-cixi", SCORED_ON), SCORED_ON
    )
    (owner, wife, _), (head, spouse, size), (rich, _, rich_size) = couples(session, 3)
    # Nothing the synthetic feeds said of these households' housing counts here: their
    # records are replaced by a file of their own (the wife owns a home in the city).
    members = {
        row.id: row.id_number
        for row in session.scalars(
            select(Resident).where(
                Resident.household_id.in_([owner.household_id, head.household_id])
            )
        )
    }
    rows = "".join(
        f"{number},ZL-{index},登记租赁,2024-01-01,\n"
        for index, number in enumerate(members.values())
    )
    feed(
        session,
        tmp_path,
        "housing",
        "身份证号,不动产权证号,住房类型,登记日期,终止日期\n"
        f"{wife.id_number},浙(2019)慈溪市不动产权第7号,自有住房,2019-01-01,\n" + rows,
    )
    feed(
        session,
        tmp_path,
        "household_income",
        "身份证号,收入年度,年收入（元）\n"
        f"{rich.id_number},2025,{30001 * rich_size}\n{head.id_number},2025,{1000 * size}\n",
    )
    cycle_id = open_rental(session, small_city)

    def apply(*people: Resident) -> list[int]:
        records = [{"id_number": person.id_number, "choices": ["P001"]} for person in people]
        return intake.submit_applications(SYSTEM_ACTOR, session, cycle_id, records)

    # Two spouses in one batch: refused, naming both rows, nothing written.
    with pytest.raises(Invalid) as caught:
        apply(head, spouse)
    assert [problem.row for problem in caught.value.details] == [1, 2]
    assert "一户只能申请一次" in caught.value.details[0].reason_zh
    assert "one application per household" in caught.value.details[0].reason_en
    [first] = apply(head)
    # The spouse files later: refused with the household's reason.
    with pytest.raises(Conflict) as refused:
        apply(spouse)
    assert "一户只能申请一次" in refused.value.message_zh
    assert "one application per household" in refused.value.message_en
    apply(owner)
    apply(rich)
    # Defence in depth: the spouse's application slipped past intake (filed, say, before
    # the couple registered as one household): one of the two is decided, not both.
    slipped = Application(
        cycle_id=cycle_id,
        resident_id=spouse.id,
        subject=f"resident:{spouse.id}",
        choices="P001",
        fields="{}",
        status=ApplicationStatus.SUBMITTED.value,
        submitted_by="test",
    )
    session.add(slipped)
    session.flush()
    intake.verify_all(SYSTEM_ACTOR, session, cycle_id)
    run, results = allocation.allocate(SYSTEM_ACTOR, session, cycle_id, "household")
    by_application = {row["application_id"]: row for row in results.iter_rows(named=True)}
    couple = [by_application[first], by_application[slipped.id]]
    assert couple[0]["outcome"] in ("placed", "waitlisted")
    assert couple[1]["outcome"] == "ineligible"
    assert "一户限配租一套" in couple[1]["reason_zh"]
    # The man whose wife owns a home is refused, by the household rule.
    refused_owner = results.filter(pl.col(KEY) == owner.id).row(0, named=True)
    assert refused_owner["outcome"] == "ineligible"
    assert "本户无房" in refused_owner["reason_zh"]
    # Per capita income 30001 > 30000: refused by the program's income rule.
    refused_rich = results.filter(pl.col(KEY) == rich.id).row(0, named=True)
    assert refused_rich["outcome"] == "ineligible" and "收入" in refused_rich["reason_zh"]
    # The household size is the registry's, whatever an application says.
    cycle = programs_repository.get_cycle(SYSTEM_ACTOR, session, cycle_id)
    frame, _ = allocation.applicant_frame(SYSTEM_ACTOR, session, cycle, cycle_spec(cycle), None)
    assert frame.filter(pl.col("application_id") == first)["household_size"].to_list() == [size]
    assert run.id > 0


def test_an_application_cannot_say_the_household_size(
    session: Session, small_city: Path, program_folder: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, small_city, today=SCORED_ON)
    scoring_service.score_registry(
        SYSTEM_ACTOR, session, find_policy("zj-cixi", SCORED_ON), SCORED_ON
    )
    [(head, _, _)] = couples(session, 1)
    cycle_id = open_rental(session, small_city)
    with pytest.raises(Invalid) as caught:
        intake.submit_applications(
            SYSTEM_ACTOR,
            session,
            cycle_id,
            [{"id_number": head.id_number, "choices": ["P001"], "household_size": 9}],
        )
    assert caught.value.details[0].field == "household_size"
    assert "registry" in caught.value.details[0].reason_en


# --- the `household:` of a program's test case --------------------------------------------

INCOME_PROGRAM: dict[str, Any] = {
    "id": "income-probe",
    "name": {"zh": "收入线（测试）"},
    "kind": "public_housing",
    "department": "住建局",
    "policy": "zj-cixi",
    "eligibility": [
        {"id": "no_home", "label": {"zh": "本户无房"}, "rule": "not household_owns_home"},
        {
            "id": "income",
            "label": {"zh": "人均年收入不超过 30000 元"},
            "rule": "household_income_per_capita <= 30000",
        },
        {
            "id": "assets",
            "label": {"zh": "财产不超过 20 万元"},
            "rule": "household_assets <= 200000",
        },
    ],
    "household_layouts": {1: ["单间"]},
}
INCOME_CASE: dict[str, Any] = {
    "name": "三口之家人均 30000 元",
    "as_of": date(2026, 6, 30),
    "points": 80,
    "inputs": {"housing": "none", "yearly_income": 50000, "assets": 150000},
    "household": [
        {"relation": "spouse", "housing": "registered_rental", "yearly_income": 40000},
        {"relation": "child", "assets": 50000},
    ],
    "expect": {"eligible": True, "failed": []},
}


def income_cases(*cases: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump({**INCOME_PROGRAM, "tests": list(cases)}, allow_unicode=True)


def run_income(text: str) -> list[Any]:
    from luodi.programs.cases import run_cases
    from luodi.settings import SHIPPED_POLICY_DIR

    def policy_for(day: date) -> Any:
        return find_policy("zj-cixi", day, directory=SHIPPED_POLICY_DIR).policy

    return run_cases(load_program_spec(text, "probe.yaml"), policy_for, "probe.yaml")


def test_a_case_writes_the_household_and_its_words_follow() -> None:
    over = {
        **INCOME_CASE,
        "name": "人均多 1 元",
        "inputs": {**INCOME_CASE["inputs"], "yearly_income": 50003},
        "expect": {"eligible": False, "failed": ["income"]},
    }
    rich = {
        **INCOME_CASE,
        "name": "财产多 1 元",
        "inputs": {**INCOME_CASE["inputs"], "assets": 150001},
        "expect": {"eligible": False, "failed": ["assets"]},
    }
    owner = {
        **INCOME_CASE,
        "name": "子女名下有房",
        "household": [*INCOME_CASE["household"][:1], {"relation": "child", "housing": "owned"}],
        "expect": {"eligible": False, "failed": ["no_home"]},
    }
    unknown = {
        **INCOME_CASE,
        "name": "没有收入记录：条件不满足",
        "inputs": {"housing": "none"},
        "household": [],
        "expect": {"eligible": False, "failed": ["assets", "income"]},
    }
    outcomes = run_income(income_cases(INCOME_CASE, over, rich, owner, unknown))
    assert [outcome.failures for outcome in outcomes] == [[]] * 5


@pytest.mark.parametrize(
    ("changes", "place", "words"),
    [
        ({"household": [{"house": "owned"}]}, ".household[0].house", "是否指 housing"),
        ({"household": [{"housing": "castle"}]}, ".household[0].housing", "可用：owned"),
        ({"household": [{"yearly_income": "much"}]}, ".household[0].yearly_income", "应为数字"),
        (
            {"inputs": {"household_owns_home": False}},
            ".inputs.household_owns_home",
            "由用例的 household 得出",
        ),
    ],
)
def test_a_malformed_household_names_the_case_and_the_key(
    changes: dict[str, Any], place: str, words: str
) -> None:
    with pytest.raises(ProgramSpecError) as raised:
        run_income(income_cases({**INCOME_CASE, **changes}))
    problems = raised.value.problems
    assert any(place in problem and words in problem for problem in problems), problems
