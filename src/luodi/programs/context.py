"""The applicant's context: the words program rules (eligibility, groups, tie-breaks, tiers)
read beyond the points policy's inputs, and the bulk builder that adds them to a frame of
applicants as of a date.

Every word is flat (the expression language has no attribute access), typed with the
expression language's ``ValueType`` and described in Chinese and English with where it comes
from; docs/programs.md lists them ("Vocabulary of program rules"). Words about *the person* are
about the person whose row it is: the applicant, or for a school place each person whose points
count (as the policy's inputs in the same row are). Words about *a child* are about the
application's child; ``parent_1_…`` is the parent who registered the child (the children feed's
``id_number``), ``parent_2_…`` the other parent (``second_parent_id_number``) when registered
here: a child's parents are these two, never other adults of the household.

The builder reads the registry in four statements whatever the number of applicants
(``registry.service``: their ids bound as one array), never one query per applicant, and joins
in Polars; the spouses' and parents' scores come from the run the caller reads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.kernels.policy import KEY
from luodi.kernels.policy.expressions import (
    BOOL,
    DATE,
    FLOAT,
    FUNCTIONS,
    INT,
    STRING,
    Kind,
    ValueType,
)
from luodi.registry.models import EmploymentBasis, Relation

SEX = ValueType(Kind.ENUM, ("male", "female"))
RELATION = ValueType(Kind.ENUM, tuple(relation.value for relation in Relation))
BASIS = ValueType(Kind.ENUM, tuple(basis.value for basis in EmploymentBasis))
POST = ValueType(Kind.ENUM, ("sanitation", "bus_driver", "other"))
HOUSING = ValueType(Kind.ENUM, ("owned", "registered_rental", "public_rental", "dormitory", "none"))
"""The housing feed's kinds (feeds/housing.yaml), and ``none`` for no record."""


@dataclass(frozen=True)
class Word:
    """One word of the vocabulary."""

    type: ValueType
    zh: str
    en: str
    source: str
    """The feed (``feeds/<id>.yaml``) or registry table it comes from."""
    group: str
    """person, household, child, parents, employer, spouse: how docs/programs.md groups it."""


def _word(group: str, value_type: ValueType, zh: str, en: str, source: str) -> Word:
    return Word(value_type, zh, en, source, group)


WORDS: dict[str, Word] = {
    # The person
    "age": _word(
        "person",
        INT,
        "年龄（周岁，按计分日期）",
        "age in completed years on the as-of date",
        "residents.yaml: 出生日期（由身份证号码得出）",
    ),
    "birth_date": _word(
        "person", DATE, "出生日期", "date of birth", "residents.yaml: 由身份证号码得出"
    ),
    "sex": _word("person", SEX, "性别（male/female）", "sex", "residents.yaml: 由身份证号码得出"),
    "town_code": _word(
        "person", STRING, "居住镇街代码", "town (township code) of residence", "residents.yaml"
    ),
    "origin_province": _word(
        "person",
        STRING,
        "户籍省份（名称，如 四川）",
        "province of household registration (its name, e.g. 四川)",
        "residents.yaml: 由身份证号码前两位得出",
    ),
    "relation_to_head": _word(
        "person",
        RELATION,
        "与户主关系（head/spouse/child/parent/sibling/other）",
        "relation to the head of the household",
        "residents.yaml: 与户主关系",
    ),
    # The household
    "household_size": _word(
        "household",
        INT,
        "家庭人数：登记库中本户的居民与随迁子女（未登记家庭的为 1）",
        "members of the household in the registry: residents and accompanying children "
        "(1 for a person registered without a household)",
        "residents.yaml, children.yaml",
    ),
    "household_adults": _word(
        "household", INT, "本户登记的居民人数", "residents of the household", "residents.yaml"
    ),
    "household_children": _word(
        "household",
        INT,
        "本户随迁子女人数",
        "accompanying children of the household",
        "children.yaml",
    ),
    "household_spouses": _word(
        "household",
        INT,
        "本户中户主的配偶人数（0 或 1）",
        "spouses of the head (0 or 1)",
        "residents.yaml",
    ),
    "household_adult_children": _word(
        "household",
        INT,
        "本户中与户主关系为子女的居民人数",
        "residents who are children of the head",
        "residents.yaml",
    ),
    "household_parents": _word(
        "household", INT, "本户中户主的父母人数", "parents of the head", "residents.yaml"
    ),
    "household_siblings": _word(
        "household", INT, "本户中户主的兄弟姐妹人数", "siblings of the head", "residents.yaml"
    ),
    "household_others": _word(
        "household", INT, "本户中其他关系的居民人数", "other residents", "residents.yaml"
    ),
    "has_spouse": _word(
        "household",
        BOOL,
        "本人的配偶在本户登记（户主与配偶互为配偶）",
        "the person's spouse is registered in the household (the head and the spouse)",
        "residents.yaml: 与户主关系",
    ),
    # The household's records (住建部令第11号 judges the household, not the applicant alone)
    "household_owns_home": _word(
        "household",
        BOOL,
        "本户任一登记成员（含本人）在本市有自有住房记录（按计分日期有效）",
        "a registered member of the household (the person included) has an owned home in the "
        "city on record, in force on the as-of date",
        "housing.yaml: 住房类型 自有住房",
    ),
    "household_in_public_rental": _word(
        "household",
        BOOL,
        "本户任一登记成员（含本人）已住公租房（按计分日期有效）",
        "a registered member of the household (the person included) already lives in public "
        "rental, in force on the as-of date",
        "housing.yaml: 住房类型 公租房",
    ),
    "household_income": _word(
        "household",
        FLOAT,
        "本户登记成员年收入之和（元，各人最近核对年度；无任何记录的为空）",
        "the household members' yearly incomes summed (yuan, each the latest year checked; "
        "empty when nobody of the household has a record)",
        "household_income.yaml (民政局)",
    ),
    "household_income_per_capita": _word(
        "household",
        FLOAT,
        "本户人均年收入：household_income ÷ household_size（元）",
        "yearly income per member: household_income ÷ household_size (yuan)",
        "household_income.yaml (民政局), residents.yaml, children.yaml",
    ),
    "household_assets": _word(
        "household",
        FLOAT,
        "本户登记成员财产之和（元，各人最近核对年度；无任何记录的为空）",
        "the household members' assets summed (yuan, each the latest year checked; empty "
        "when nobody of the household has a record)",
        "household_income.yaml (民政局)",
    ),
    # The application's child
    "child_birth_date": _word(
        "child", DATE, "子女出生日期", "the child's date of birth", "children.yaml"
    ),
    "child_age": _word(
        "child",
        INT,
        "子女年龄（周岁，按计分日期）；某日的年龄写作 years_between(child_birth_date, "
        "date(year(as_of), 8, 31))",
        "the child's age on the as-of date; on another day: years_between(child_birth_date, "
        "date(year(as_of), 8, 31))",
        "children.yaml",
    ),
    "child_sex": _word("child", SEX, "子女性别", "the child's sex", "children.yaml"),
    "child_grade": _word(
        "child", INT, "子女目前就读年级", "the grade the child attends now", "children.yaml"
    ),
    "person_is_parent": _word(
        "child",
        BOOL,
        "本行的人是子女的两位父母（监护人）之一",
        "the person of the row is one of the child's two parents (guardians)",
        "children.yaml: 监护人身份证号、另一方父母（监护人）身份证号",
    ),
    "child_parents_registered": _word(
        "child",
        INT,
        "子女在本市登记的父母（监护人）人数（0–2）",
        "the child's parents registered in this city (0–2)",
        "children.yaml, residents.yaml",
    ),
    # The employer of the current employment
    "employed": _word(
        "employer",
        BOOL,
        "计分日期有在职的就业登记",
        "has an employment in force on the as-of date",
        "employment.yaml",
    ),
    "employment_basis": _word(
        "employer",
        BASIS,
        "就业依据（labour_contract 劳动合同 / business_licence 营业执照）",
        "basis of the current employment",
        "employment.yaml",
    ),
    "employer_credit_code": _word(
        "employer",
        STRING,
        "当前用人单位统一社会信用代码",
        "the current employer's credit code",
        "employment.yaml",
    ),
    "employer_town_code": _word(
        "employer",
        STRING,
        "当前用人单位所在镇街代码",
        "the current employer's town",
        "employers.yaml",
    ),
    "employer_union": _word(
        "employer",
        BOOL,
        "当前用人单位已建立工会（按计分日期；总工会未报送的为空）",
        "the current employer has a trade union on the as-of date (empty where the union "
        "federation never said)",
        "unions.yaml (总工会)",
    ),
    "frontline": _word(
        "employer",
        BOOL,
        "当前岗位为一线岗位（未报送的为空）",
        "the current post is a frontline post (empty where not said)",
        "employment.yaml: 一线岗位",
    ),
    # The person's verified records (never what the applicant says)
    "post": _word(
        "records",
        POST,
        "当前就业登记的岗位（sanitation 环卫工人 / bus_driver 公交司机 / other；未报送的为空）",
        "the post of the employment in force (sanitation, bus_driver, other; empty where not said)",
        "employment.yaml: 岗位",
    ),
    "military_entitled": _word(
        "records",
        BOOL,
        "在册的优抚对象（按计分日期有效）",
        "on the register of entitled groups (优抚对象) on the as-of date",
        "care_groups.yaml (民政局)",
    ),
    "special_hardship": _word(
        "records",
        BOOL,
        "在册的孤老、重病或残疾人员（孤老病残，按计分日期有效）",
        "on record as lone elderly, seriously ill or disabled (孤老病残) on the as-of date",
        "care_groups.yaml (民政局)",
    ),
    "yearly_income": _word(
        "records",
        FLOAT,
        "本人年收入（元，最近核对年度；无记录的为空）",
        "the person's yearly income (yuan, the latest year checked; empty without a record)",
        "household_income.yaml (民政局)",
    ),
    "assets": _word(
        "records",
        FLOAT,
        "本人财产（元，最近核对年度；无记录的为空）",
        "the person's assets (yuan, the latest year checked; empty without a record)",
        "household_income.yaml (民政局)",
    ),
}
"""The fixed words; ``vocabulary`` adds the words about the spouse and the child's parents
for each input of the points policy."""

_PERMIT_STATE = ValueType(Kind.ENUM, ("valid", "suspended", "expired", "cancelled", "none"))
_INSURANCE_NAMES = {
    "social_insurance": ("社保", "social insurance", "social_insurance.yaml"),
    "employee_medical_insurance": (
        "职工医保",
        "employee medical insurance (职工医保)",
        "medical_insurance.yaml: 险种 employee",
    ),
    "medical_insurance": (
        "医保（职工与居民合计）",
        "medical insurance of every scheme",
        "medical_insurance.yaml",
    ),
}
FACT_WORDS: dict[str, Word] = {
    **{
        name: _word(
            "time line",
            value_type,
            f"{zh}{what_zh}",
            f"{en}: {what_en}",
            f"{source}（docs/policy.md「Insurance by month」）",
        )
        for kind, (zh, en, source) in _INSURANCE_NAMES.items()
        for name, value_type, what_zh, what_en in (
            (
                f"{kind}_months",
                INT,
                "累计缴费月数（年度合计只计已过去的月份，补缴计入）",
                "months paid by the date (a year's total counts its passed months only)",
            ),
            (
                f"{kind}_continuous_months",
                INT,
                "到当月或上月为止不间断的缴费月数（补缴不计）",
                "the unbroken run of paid months up to this or last month (no back payments)",
            ),
            (
                f"{kind}_current",
                BOOL,
                "当月或上月正在缴纳（非补缴）",
                "paid for this or last month, not in arrears",
            ),
        )
    },
    "permit_state": _word(
        "time line",
        _PERMIT_STATE,
        "居住证状态（valid/suspended/expired/cancelled/none）",
        "the permit's state (valid, suspended, expired, cancelled, none)",
        "permits.yaml, permit_endorsements.yaml（docs/policy.md「The permit time line」）",
    ),
    "permit_issue_date": _word(
        "time line",
        DATE,
        "当前居住证的签发日期",
        "the issue date of the current permit",
        "permits.yaml",
    ),
    "next_endorsement_due": _word(
        "time line",
        DATE,
        "下一次应签注的周年日（有效时）",
        "the next anniversary that asks for an endorsement (while valid)",
        "permits.yaml, permit_endorsements.yaml",
    ),
}
"""Words of the insurance and permit time lines as of the cycle's date, for the person and
the spouse and parents, whatever the points policy declares (a policy input of the same name
wins and is read from the scoring run): the 慈溪 rule for children 0–6 reads
``parent_1_employee_medical_insurance_continuous_months`` under any policy. Read from the
facts for the people asked about only (``fact_word_frame``)."""
WORDS.update(FACT_WORDS)

GRADUATION_LEVEL = ValueType(
    Kind.ENUM, ("secondary_vocational", "associate", "bachelor", "master", "doctor")
)
"""The levels of graduations.yaml (教育局), in its order."""
GRADUATION_WORDS: dict[str, Word] = {
    "graduation_level": _word(
        "education",
        GRADUATION_LEVEL,
        "毕业层次（secondary_vocational 中专 / associate 大专 / bachelor 本科 / master / "
        "doctor）：计分日期前最近一次毕业中本项目尚未为之发放过的；都发放过的，最近一次",
        "the level of the newest graduation by the date that the program has not yet granted "
        "for (the newest one when all were granted)",
        "graduations.yaml（教育局）",
    ),
    "graduation_date": _word(
        "education",
        DATE,
        "该次毕业的日期",
        "the date of that graduation",
        "graduations.yaml: 毕业日期",
    ),
    "graduation_due_date": _word(
        "education",
        DATE,
        "该层次学制规定的应毕业日期（在计分日期之后的为空）",
        "the date that level's programme was due to end (empty when after the as-of date)",
        "graduations.yaml: 应毕业日期",
    ),
    "graduation_on_time": _word(
        "education",
        BOOL,
        "如期毕业：毕业日期不晚于应毕业日期（应毕业日期尚未到的，提前毕业，亦为如期）",
        "graduated on time: not after the due date (before a due date still to come: early)",
        "graduations.yaml: 毕业日期、应毕业日期",
    ),
    "graduation_granted": _word(
        "education",
        BOOL,
        "本项目其他周期的最近一次分配中已为该层次发放过（once_per）；没有毕业记录的为 false",
        "the program already granted for that level in the latest run of another of its "
        "cycles (once_per); false without a graduation record",
        "allocation_results.granted_for",
    ),
}
"""The graduation words: which graduation a once-per-level subsidy (乐清学历提升补助) is for,
read from the 教育局's records (never what an application says) and the program's earlier
grants (``graduation_frame``)."""
WORDS.update(GRADUATION_WORDS)

RELATED: dict[str, tuple[str, str]] = {
    "spouse": ("配偶", "the spouse"),
    "parent_1": (
        "子女的第一方父母（登记子女的监护人）",
        "the child's first parent (who registered it)",
    ),
    "parent_2": ("子女的另一方父母（监护人）", "the child's other parent (guardian)"),
}
"""The people a row can name by a prefix, each with every input of the points policy and
``points`` of the scoring run (empty where that person was not scored)."""

POINTS = "points"
SCORED = "scored"
RELATED_ID = {"spouse": "spouse_id", "parent_1": "parent_1_id", "parent_2": "parent_2_id"}
"""Resident ids of the related people, kept in the frame (not words: rules do not read ids)."""


def related_types(input_types: Mapping[str, ValueType]) -> dict[str, ValueType]:
    return {
        **{name: word.type for name, word in FACT_WORDS.items() if name not in input_types},
        **input_types,
        POINTS: FLOAT,
    }


def vocabulary(input_types: Mapping[str, ValueType]) -> dict[str, Word]:
    """Every context word for a policy with these inputs: the fixed words, and per input
    ``spouse_<input>``, ``parent_1_<input>``, ``parent_2_<input>``, ``parents_max_<input>``
    (numbers: the higher of the two parents) and ``either_parent_<input>`` (true/false: true
    when either parent's is). The policy's own inputs are not repeated here (they win)."""
    words = {name: word for name, word in WORDS.items() if name not in input_types}
    for prefix, (zh, en) in RELATED.items():
        words[f"{prefix}_{SCORED}"] = _word(
            "spouse" if prefix == "spouse" else "parents",
            BOOL,
            f"{zh}在所用计分批次中（计分日持有效居住证并参加积分管理）",
            f"{en} is in the scoring run used (held a valid permit on its date)",
            "scoring run",
        )
    words[f"either_parent_{SCORED}"] = _word(
        "parents",
        BOOL,
        "父母一方在所用计分批次中（持有《浙江省居住证》且参加积分管理）",
        "either parent is in the scoring run used (holds a permit and takes part in points)",
        "scoring run",
    )
    for name, value_type in related_types(input_types).items():
        for prefix, (zh, en) in RELATED.items():
            group = "spouse" if prefix == "spouse" else "parents"
            words[f"{prefix}_{name}"] = _word(
                group, value_type, f"{zh}的 {name}", f"{en}: {name}", "scoring run"
            )
        if value_type.numeric:
            words[f"parents_max_{name}"] = _word(
                "parents",
                value_type,
                f"两位父母 {name} 中较高者（子女积分取父母中较高者）",
                f"the higher {name} of the two parents",
                "scoring run",
            )
        if value_type.kind == Kind.BOOL:
            words[f"either_parent_{name}"] = _word(
                "parents",
                BOOL,
                f"父母一方的 {name} 为真",
                f"{name} holds for either parent",
                "scoring run",
            )
    return words


def types(input_types: Mapping[str, ValueType]) -> dict[str, ValueType]:
    """The names and types the rules may use besides the policy's inputs and the program's."""
    return {name: word.type for name, word in vocabulary(input_types).items()}


def dtype(value_type: ValueType) -> pl.DataType:
    if value_type.kind == Kind.ENUM:
        return pl.Enum(list(value_type.values or ()))
    return {
        Kind.INT: pl.Int64(),
        Kind.FLOAT: pl.Float64(),
        Kind.BOOL: pl.Boolean(),
        Kind.DATE: pl.Date(),
        Kind.STRING: pl.String(),
    }[value_type.kind]


# --- building the context ------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryFrames:
    """What the registry says of the people and children of a frame of applicants."""

    children: pl.DataFrame
    """child_id, child_household_id, child_birth_date, child_sex, child_grade, parent_id,
    second_parent_id."""
    members: pl.DataFrame
    """resident_id, household_id, relation_to_head, birth_date, sex, town_code,
    origin_province: the people named, their households' members and the children's parents."""
    household_children: pl.DataFrame
    """household_id, household_children."""
    employments: pl.DataFrame
    """Employments in force on the date: resident_id, start_date, employment_basis, frontline,
    employer_credit_code, employer_town_code, has_union, union_established_on."""


MEMBER_WORDS = (
    "household_id",
    "relation_to_head",
    "birth_date",
    "sex",
    "town_code",
    "origin_province",
)
"""What the registry says of a person, read under a private name (``_birth_date``) so that a
policy input of the same name in the frame is not disturbed."""


def _years(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return FUNCTIONS["years_between"].polars([start, end], [DATE, DATE])


def _person_column(frame: pl.DataFrame) -> str:
    return KEY if KEY in frame.columns else "applicant"


def _households(members: pl.DataFrame, household_children: pl.DataFrame) -> pl.DataFrame:
    """Per household: members by relation, the head and the spouse, the children."""
    relation = pl.col("relation_to_head")

    def counted(value: Relation) -> pl.Expr:
        return (relation == value.value).sum().cast(pl.Int64)

    first_of = {
        value: pl.col("resident_id").filter(relation == value.value).min()
        for value in (Relation.HEAD, Relation.SPOUSE)
    }
    return (
        members.drop_nulls("household_id")
        .group_by("household_id")
        .agg(
            household_adults=pl.len().cast(pl.Int64),
            household_spouses=counted(Relation.SPOUSE),
            household_adult_children=counted(Relation.CHILD),
            household_parents=counted(Relation.PARENT),
            household_siblings=counted(Relation.SIBLING),
            household_others=counted(Relation.OTHER),
            _head_id=first_of[Relation.HEAD],
            _spouse_of_head_id=first_of[Relation.SPOUSE],
        )
        .join(household_children, on="household_id", how="left")
        .with_columns(pl.col("household_children").fill_null(0))
    )


def _current_employment(employments: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """One employment per person: the latest begun of those in force."""
    established = pl.col("union_established_on")
    return (
        employments.sort("resident_id", "start_date", descending=[False, True])
        .unique("resident_id", keep="first", maintain_order=True)
        .select(
            "resident_id",
            "employment_basis",
            "frontline",
            "employer_credit_code",
            "employer_town_code",
            employer_union=pl.col("has_union") & (established.is_null() | (established <= as_of)),
        )
    )


def build(
    frame: pl.DataFrame,
    as_of: date,
    registry: RegistryFrames,
    input_types: Mapping[str, ValueType],
    related: pl.DataFrame | None = None,
    keep: Collection[str] = (),
) -> pl.DataFrame:
    """``frame`` (``resident_id`` or ``applicant``, optional ``child_id``) with every word of
    ``vocabulary(input_types)`` as a column (the policy's inputs already there are kept), and
    ``spouse_id``/``parent_1_id``/``parent_2_id``. ``related``: ``resident_id``, ``points`` and
    the policy's inputs of the spouses and parents (a scoring run), or none. Columns named in
    ``keep`` (the program's fields: they win over a word of the same name) are left alone.
    Pure."""
    return _finish(_from_registry(frame, as_of, registry, input_types, keep), input_types, related)


@dataclass(frozen=True)
class _Stage:
    """The frame with what the registry says, before the related people's scores."""

    out: pl.DataFrame
    base_columns: list[str]
    words: dict[str, Word]


def _from_registry(
    frame: pl.DataFrame,
    as_of: date,
    registry: RegistryFrames,
    input_types: Mapping[str, ValueType],
    keep: Collection[str],
) -> _Stage:
    person = _person_column(frame)
    words = {name: word for name, word in vocabulary(input_types).items() if name not in keep}
    # The frame's own columns named like a word are replaced (a policy's input never is: the
    # vocabulary leaves those out); what the registry says is read under private names first.
    base = frame.drop([name for name in [*words, *RELATED_ID.values()] if name in frame.columns])
    people = registry.members.select(
        pl.col("resident_id").alias(person),
        *[pl.col(name).alias(f"_{name}") for name in MEMBER_WORDS],
    )
    households = _households(registry.members, registry.household_children).rename(
        {"household_id": "_household_id"}
    )
    relation = pl.col("_relation_to_head")
    out = (
        base.with_row_index("_row")
        .join(people, on=person, how="left")
        .join(households, on="_household_id", how="left")
        .with_columns(
            *[pl.col(f"_{name}").alias(name) for name in MEMBER_WORDS if name in words],
            age=_years(pl.col("_birth_date"), pl.lit(as_of)),
            # A resident registered without a household lives alone.
            household_size=pl.when(pl.col("_household_id").is_null())
            .then(pl.lit(1, pl.Int64))
            .otherwise(pl.col("household_adults") + pl.col("household_children")),
            spouse_id=pl.when(relation == Relation.HEAD.value)
            .then(pl.col("_spouse_of_head_id"))
            .when(relation == Relation.SPOUSE.value)
            .then(pl.col("_head_id")),
        )
        .with_columns(has_spouse=pl.col("spouse_id").is_not_null())
    )
    if "child_id" in base.columns:
        children = registry.children.select(
            "child_id",
            "child_birth_date",
            "child_sex",
            "child_grade",
            parent_1_id="parent_id",
            parent_2_id="second_parent_id",
        )
        first, second = pl.col("parent_1_id"), pl.col("parent_2_id")
        has_child = pl.col("child_id").is_not_null()
        out = out.join(children, on="child_id", how="left").with_columns(
            child_age=_years(pl.col("child_birth_date"), pl.lit(as_of)),
            person_is_parent=pl.when(has_child).then(
                (pl.col(person) == first).fill_null(False)
                | (pl.col(person) == second).fill_null(False)
            ),
            child_parents_registered=pl.when(has_child).then(
                first.is_not_null().cast(pl.Int64) + second.is_not_null().cast(pl.Int64)
            ),
        )
    else:
        out = out.with_columns(
            parent_1_id=pl.lit(None, pl.Int64), parent_2_id=pl.lit(None, pl.Int64)
        )
    employment = _current_employment(registry.employments, as_of).rename({"resident_id": person})
    out = out.join(employment, on=person, how="left").with_columns(
        employed=pl.col("employer_credit_code").is_not_null()
    )
    return _Stage(out, base.columns, words)


def _finish(
    stage: _Stage,
    input_types: Mapping[str, ValueType],
    related: pl.DataFrame | None,
    words_read: Collection[str] | None = None,
) -> pl.DataFrame:
    out = _with_related(stage.out, input_types, related)
    words = stage.words
    columns = [
        pl.col(name).cast(dtype(word.type)).alias(name)
        if name in out.columns and (words_read is None or name in words_read)
        else pl.lit(None, dtype(word.type)).alias(name)
        for name, word in words.items()
    ]
    ids = [pl.col(name) for name in RELATED_ID.values()]
    return out.sort("_row").select(*stage.base_columns, *columns, *ids)


def _with_related(
    out: pl.DataFrame, input_types: Mapping[str, ValueType], related: pl.DataFrame | None
) -> pl.DataFrame:
    """``spouse_<input>``, ``parent_1_<input>``, ``parent_2_<input>``, ``parents_max_…``,
    ``either_parent_…`` from the related people's scores."""
    names = related_types(input_types)
    asked = related is not None
    if related is None:
        related = pl.DataFrame(schema={KEY: pl.Int64})
    available = [name for name in names if name in related.columns]
    for prefix, id_column in RELATED_ID.items():
        renamed = related.select(
            pl.col(KEY).alias(id_column),
            *[pl.col(n).alias(f"{prefix}_{n}") for n in available],
            pl.lit(True).alias(f"{prefix}_{SCORED}"),
        ).unique(id_column, keep="first")
        out = out.join(renamed, on=id_column, how="left")
        # Not in the run (or nobody there) is "no" once the run was asked, unknown otherwise.
        scored = pl.col(f"{prefix}_{SCORED}")
        out = out.with_columns(scored.fill_null(False) if asked else scored)
    extra = {
        f"either_parent_{SCORED}": pl.any_horizontal(f"parent_1_{SCORED}", f"parent_2_{SCORED}")
    }
    for name in available:
        first, second = pl.col(f"parent_1_{name}"), pl.col(f"parent_2_{name}")
        if names[name].numeric:
            extra[f"parents_max_{name}"] = pl.max_horizontal(first, second)
        if names[name].kind == Kind.BOOL:
            # Either parent's true is enough; one false and one unknown is unknown.
            extra[f"either_parent_{name}"] = pl.any_horizontal(first, second)
    return out.with_columns(**extra)


RelatedInputs = Callable[[list[int]], pl.DataFrame]
"""Given resident ids, their ``resident_id``, ``points`` and the policy's inputs (a scoring
run's stored scores)."""


RELATED_PREFIXES = tuple(f"{prefix}_" for prefix in (*RELATED, "parents_max", "either_parent"))


def reads(words_read: Collection[str]) -> tuple[bool, bool, bool]:
    """What the registry and the run must give for these words (names that are no word are
    ignored): (the families: person, household, child, spouse and parents; the employments;
    the spouses' and parents' scores)."""
    groups = {WORDS[name].group for name in words_read if name in WORDS}
    related = any(name.startswith(RELATED_PREFIXES) for name in words_read)
    # Read by their own statements: the employer's, the time lines', the records' and the
    # graduations' words need no families.
    family = bool(groups - {"employer", "time line", "records", "education"}) or related
    return family, "employer" in groups, related


HOUSEHOLD_RECORD_WORDS = (
    "household_owns_home",
    "household_in_public_rental",
    "household_income",
    "household_income_per_capita",
    "household_assets",
)
"""The household's words read from its members' facts (``record_words``)."""
RECORD_WORDS = tuple(name for name, word in WORDS.items() if word.group == "records")
"""The person's words read from their own facts (``record_words``)."""
_VARIABLES_OF = {
    "household_owns_home": ("housing",),
    "household_in_public_rental": ("housing",),
    "household_income": ("yearly_income",),
    "household_income_per_capita": ("yearly_income",),
    "household_assets": ("assets",),
    "post": ("post",),
    "military_entitled": ("military_entitled",),
    "special_hardship": ("special_hardship",),
    "yearly_income": ("yearly_income",),
    "assets": ("assets",),
}
"""The facts variables (feeds' ``facts:``) each record word is read from."""


def record_words(
    actor: Actor,
    session: Session,
    out: pl.DataFrame,
    person: str,
    members: pl.DataFrame,
    as_of: date,
    names: Collection[str],
) -> pl.DataFrame:
    """``out`` (``person``, ``_household_id``, ``household_size``) with the record words
    ``names`` (``RECORD_WORDS``, ``HOUSEHOLD_RECORD_WORDS``): the facts of the people and of
    every registered member of their households (``members``: ``registry.members``) in one
    statement whatever their number, summed per household in Polars. A person without a
    household is a household of one. A member nobody's feed named owns nothing, is not in
    public rental and adds no income."""
    from luodi.facts import service as facts_service

    asked = [name for name in (*RECORD_WORDS, *HOUSEHOLD_RECORD_WORDS) if name in names]
    if not asked:
        return out
    people = out.select(pl.col(person).alias("_person"), "_household_id").drop_nulls("_person")
    pairs = pl.concat(
        [
            people.join(
                members.select(pl.col("resident_id").alias("_member"), "household_id"),
                left_on="_household_id",
                right_on="household_id",
                how="inner",
            ).select("_person", "_member"),
            # Oneself, whether or not the registry's members (read in scope) list one.
            people.select("_person", pl.col("_person").alias("_member")),
        ]
    ).unique()
    variables = sorted({variable for name in asked for variable in _VARIABLES_OF[name]})
    facts = facts_service.current_facts(
        actor, session, variables, as_of, pairs["_member"].unique().sort().to_list()
    )
    in_force = facts.filter(pl.col("valid_to").is_null() | (pl.col("valid_to") >= as_of))

    def latest(name: str, frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.filter(pl.col("name") == name)
            .sort("valid_from", nulls_last=False, maintain_order=True)
            .group_by("resident_id")
            .agg(pl.col("value").last().alias(name))
        )

    def held(name: str, value: str | None = None) -> pl.DataFrame:
        rows = in_force.filter(pl.col("name") == name)
        if value is not None:
            rows = rows.filter(pl.col("value") == value)
        return (
            rows.select("resident_id")
            .unique()
            .with_columns(pl.lit(True).alias(f"_{value or name}"))
        )

    each = pairs.select(pl.col("_member").alias("resident_id")).unique()
    if "housing" in variables:
        each = each.join(held("housing", "owned"), on="resident_id", how="left").join(
            held("housing", "public_rental"), on="resident_id", how="left"
        )
    for name in ("military_entitled", "special_hardship"):
        if name in variables:
            each = each.join(held(name), on="resident_id", how="left")
    for name in ("yearly_income", "assets"):
        if name in variables:
            each = each.join(
                latest(name, facts).with_columns(pl.col(name).cast(pl.Float64, strict=False)),
                on="resident_id",
                how="left",
            )
    if "post" in variables:
        each = each.join(latest("post", in_force), on="resident_id", how="left")
    own = each.rename({"resident_id": "_person"})
    added: dict[str, pl.Expr] = {}
    if "post" in variables:
        added["post"] = pl.col("post")
    for name in ("military_entitled", "special_hardship"):
        if name in variables:
            added[name] = pl.col(f"_{name}").fill_null(False)
    for name in ("yearly_income", "assets"):
        if name in variables:
            added[name] = pl.col(name)
    summed: list[pl.Expr] = []
    if "housing" in variables:
        summed += [
            pl.col("_owned").any().alias("household_owns_home"),
            pl.col("_public_rental").any().alias("household_in_public_rental"),
        ]
    for name, word in (("yearly_income", "household_income"), ("assets", "household_assets")):
        if name in variables:
            # Nobody of the household on record: unknown (empty), not 0.
            summed.append(pl.when(pl.col(name).count() > 0).then(pl.col(name).sum()).alias(word))
    household = (
        pairs.join(each.rename({"resident_id": "_member"}), on="_member", how="left")
        .group_by("_person")
        .agg(*summed)
    )
    words = own.select("_person", **added).join(household, on="_person", how="left")
    replaced = [name for name in words.columns if name != "_person"]
    out = out.drop(replaced, strict=False).join(
        words.rename({"_person": person}), on=person, how="left"
    )
    if "household_income" in out.columns:
        out = out.with_columns(
            household_income_per_capita=pl.col("household_income") / pl.col("household_size")
        )
    return out


def fact_word_frame(
    actor: Actor, session: Session, ids: list[int], as_of: date, names: Collection[str]
) -> pl.DataFrame:
    """``resident_id`` and the ``FACT_WORDS`` ``names`` of the residents ``ids`` as of
    ``as_of``: the insurance time line from their facts and the permit time line from their
    permits and endorsements, read for these people only. Nobody's record is no month paid
    and not insured; no permit is the state ``none``."""
    from luodi.facts import service as facts_service
    from luodi.registry import service as registry_service

    out = pl.DataFrame({KEY: sorted(set(ids))}, schema={KEY: pl.Int64})
    insured = [name for name in names if facts_service.insurance_kind(name) is not None]
    if insured and out.height:
        kinds = sorted({kind for name in insured if (kind := facts_service.insurance_kind(name))})
        found = facts_service.insurance_as_of(actor, session, kinds, as_of, out[KEY].to_list())
        out = out.join(found.select(KEY, *insured), on=KEY, how="left").with_columns(
            pl.col(name).fill_null(False if FACT_WORDS[name].type == BOOL else 0)
            for name in insured
        )
    permits = [name for name in names if name in FACT_WORDS and name not in insured]
    if permits and out.height:
        timeline = registry_service.permit_timeline(
            actor, session, as_of, out[KEY].to_list(), reasons=False
        )
        out = out.join(timeline.select(KEY, *permits), on=KEY, how="left")
        if "permit_state" in permits:
            out = out.with_columns(pl.col("permit_state").fill_null("none"))
    return out


def graduation_words(facts: pl.DataFrame, granted: pl.DataFrame | None) -> pl.DataFrame:
    """``resident_id`` and the ``GRADUATION_WORDS`` from current facts (``graduation_level``
    and ``graduation_due_level``, ``facts.service.current_facts``) and the program's earlier
    grants (``resident_id``, ``value``: the level granted for), one row per person with a
    graduation: the newest not yet granted, else the newest. Pure."""
    level = pl.col("value").cast(pl.String)
    done = facts.filter(pl.col("name") == "graduation_level").select(
        pl.col("resident_id").alias(KEY), level.alias("level"), graduation_date="valid_from"
    )
    due = facts.filter(pl.col("name") == "graduation_due_level").select(
        pl.col("resident_id").alias(KEY), level.alias("level"), graduation_due_date="valid_from"
    )
    given = (
        granted.select(
            pl.col("resident_id").alias(KEY),
            pl.col("value").cast(pl.String).alias("level"),
            graduation_granted=pl.lit(True),
        ).unique([KEY, "level"])
        if granted is not None
        else pl.DataFrame(
            schema={KEY: pl.Int64, "level": pl.String, "graduation_granted": pl.Boolean}
        )
    )
    rows = (
        done.join(due, on=[KEY, "level"], how="left")
        .join(given, on=[KEY, "level"], how="left")
        .with_columns(pl.col("graduation_granted").fill_null(False))
    )
    newest = rows.sort(
        [KEY, "graduation_granted", "graduation_date", "level"],
        descending=[False, False, True, True],
    ).unique(KEY, keep="first", maintain_order=True)
    return newest.select(
        KEY,
        pl.col("level").cast(dtype(GRADUATION_LEVEL)).alias("graduation_level"),
        "graduation_date",
        "graduation_due_date",
        # The due date is required by the feed: its fact missing is a due date after as_of.
        graduation_on_time=pl.col("graduation_due_date").is_null()
        | (pl.col("graduation_date") <= pl.col("graduation_due_date")),
        graduation_granted="graduation_granted",
    )


def graduation_frame(
    actor: Actor,
    session: Session,
    ids: list[int],
    as_of: date,
    granted: pl.DataFrame | None,
) -> pl.DataFrame:
    """``graduation_words`` of the residents ``ids`` as of ``as_of`` (one read of their
    facts)."""
    from luodi.facts import service as facts_service

    facts = facts_service.current_facts(
        actor, session, ["graduation_level", "graduation_due_level"], as_of, sorted(set(ids))
    )
    return graduation_words(facts, granted)


@dataclass(frozen=True)
class Families:
    """``registry.service.family_frames`` of some people and children: ``RegistryFrames``
    less the employments."""

    children: pl.DataFrame
    members: pl.DataFrame
    household_children: pl.DataFrame


def families(actor: Actor, session: Session, people: list[int], child_ids: list[int]) -> Families:
    """The children, the members of the people's and parents' households, and the children
    per household (three statements). The same for ``people`` as for every member of their
    households: a caller that reads it for the applicants finds their households' members in
    it, and hands it to ``add_context`` for everyone of those households."""
    # Only here: taking an application (rules' types) need not load the registry service.
    from luodi.registry import service as registry_service

    return Families(*registry_service.family_frames(actor, session, people, child_ids))


def no_families() -> Families:
    """``Families`` of nobody (nothing read: no rule reads the words they give)."""
    from luodi.registry.repository import CHILD_SCHEMA, MEMBER_SCHEMA

    return Families(
        pl.DataFrame(schema=CHILD_SCHEMA),
        pl.DataFrame(schema=MEMBER_SCHEMA),
        pl.DataFrame(schema={"household_id": pl.Int64, "household_children": pl.Int64}),
    )


def registry_frames(
    actor: Actor,
    session: Session,
    frame: pl.DataFrame,
    as_of: date,
    family: Families | None = None,
    employments: bool = True,
) -> RegistryFrames:
    """What the registry says of the people and children of ``frame``; ``family``: their
    ``families``, already read (or ``no_families``); ``employments``: false when no rule
    reads the employer's words (none are read then)."""
    from luodi.registry import repository as registry_repository
    from luodi.registry import service as registry_service

    person = _person_column(frame)
    people = frame[person].drop_nulls().unique().to_list()
    if family is None:
        child_ids = (
            frame["child_id"].drop_nulls().unique().to_list() if "child_id" in frame.columns else []
        )
        family = families(actor, session, people, child_ids)
    in_force = (
        registry_service.current_employments(actor, session, people, as_of)
        if employments
        else pl.DataFrame(schema=registry_repository.EMPLOYMENT_SCHEMA)
    )
    return RegistryFrames(family.children, family.members, family.household_children, in_force)


def add_context(
    actor: Actor,
    session: Session,
    frame: pl.DataFrame,
    as_of: date,
    input_types: Mapping[str, ValueType],
    related_inputs: RelatedInputs | None = None,
    keep: Collection[str] = (),
    known: pl.DataFrame | None = None,
    family: Families | None = None,
    words_read: Collection[str] | None = None,
    granted: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The applicants' ``frame`` with the vocabulary's columns as of ``as_of`` (``build``),
    reading the registry in bulk and, for the spouses and parents, ``related_inputs`` (only
    for the people ``known`` — scores already read, same columns — does not hold); the
    columns named in ``keep`` (the program's fields) are left as they are. ``family``: the
    ``families`` of the frame's people and children, when the caller has read them.
    ``words_read``: only these words are computed (a program's rules read a few, often
    none), the others are empty, and the registry and the run are read only for them.
    ``granted``: the program's earlier grants (``resident_id``, ``value``) for the
    ``graduation_granted`` word (none: nothing granted)."""
    family_read, employments_read, related_read = (
        (True, True, True) if words_read is None else reads(words_read)
    )
    if not family_read:
        family = no_families()
    registry = registry_frames(actor, session, frame, as_of, family, employments_read)
    stage = _from_registry(frame, as_of, registry, input_types, keep)
    asked = [
        name
        for name in FACT_WORDS
        if name in stage.words and (words_read is None or name in words_read)
    ]
    records = [
        name
        for name in (*RECORD_WORDS, *HOUSEHOLD_RECORD_WORDS)
        if name in stage.words and (words_read is None or name in words_read)
    ]
    if records:
        stage = _Stage(
            record_words(
                actor,
                session,
                stage.out,
                _person_column(frame),
                registry.members,
                as_of,
                records,
            ),
            stage.base_columns,
            stage.words,
        )
    related = None
    theirs: list[str] = []
    if related_inputs is not None and related_read:
        ids = pl.concat([stage.out[column] for column in RELATED_ID.values()]).drop_nulls()
        had = known.filter(pl.col(KEY).is_in(ids.implode())) if known is not None else None
        missing = ids.unique().sort()
        if had is not None:
            missing = missing.filter(~missing.is_in(had[KEY].implode()))
        fetched = related_inputs(missing.to_list()) if missing.len() else None
        parts = [part for part in (had, fetched) if part is not None]
        related = (
            pl.concat(parts, how="diagonal_relaxed")
            if parts
            else pl.DataFrame(schema={KEY: pl.Int64})
        )
        # The spouses' and parents' time-line words the policy does not declare (the run
        # holds only the policy's inputs): read for them as for the applicants.
        theirs = [
            name
            for name in FACT_WORDS
            if name not in input_types
            and related.height
            and (
                words_read is None
                or any(
                    word.startswith(RELATED_PREFIXES) and word.endswith(name) for word in words_read
                )
            )
        ]
    if asked or theirs:
        # One read of the time lines for the applicants and their relatives together.
        person = _person_column(frame)
        people = stage.out[person].drop_nulls().to_list() if asked else []
        others = related[KEY].to_list() if related is not None and theirs else []
        timelines = fact_word_frame(
            actor, session, [*people, *others], as_of, [*dict.fromkeys([*asked, *theirs])]
        )
        if asked:
            stage = _Stage(
                stage.out.drop(asked, strict=False).join(
                    timelines.select(KEY, *asked).rename({KEY: person}), on=person, how="left"
                ),
                stage.base_columns,
                stage.words,
            )
        if related is not None and theirs:
            related = related.drop(theirs, strict=False).join(
                timelines.select(KEY, *theirs), on=KEY, how="left"
            )
    graduation = [
        name
        for name in GRADUATION_WORDS
        if name in stage.words and (words_read is None or name in words_read)
    ]
    if graduation:
        person = _person_column(frame)
        found = graduation_frame(
            actor, session, stage.out[person].drop_nulls().to_list(), as_of, granted
        )
        out = stage.out.drop(graduation, strict=False).join(
            found.select(KEY, *graduation).rename({KEY: person}), on=person, how="left"
        )
        if "graduation_granted" in graduation:
            out = out.with_columns(pl.col("graduation_granted").fill_null(False))
        stage = _Stage(out, stage.base_columns, stage.words)
    return _finish(stage, input_types, related, words_read)
