"""The inputs of a policy for the whole population, built from the registry and the facts
as of a date, as one Polars frame (documented input names: docs/policy.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.bulk import IdRange
from luodi.errors import Invalid
from luodi.facts import service as facts_service
from luodi.feeds import catalog
from luodi.kernels.policy import KEY, Policy
from luodi.kernels.policy.expressions import months_between_expr
from luodi.registry import service as registry_service

REGISTRY_INPUTS: dict[str, str] = {
    "birth_date": "居民登记：出生日期（由身份证号码得出）",
    "sex": "居民登记：性别",
    "origin_province": "居民登记：户籍省份",
    "town_code": "居民登记：居住镇街代码",
    "permit_issue_date": "居住证：当前有效居住证的签发日期",
    "residence_registration_date": (
        "居住证：当前连续居住期间的起算日（签发日，或逾期签注日；《浙江省流动人口居住登记条例》"
        "第十九条）"
    ),
    "permit_state": "居住证：计分日的状态 valid 有效 / suspended 中止 / expired 过期 / "
    "cancelled 注销 / none 无",
    "permit_valid": "居住证：计分日有效（未中止、未过期、未注销）",
    "next_endorsement_due": "居住证：下一次应签注的周年日（有效时）",
    "continuous_employment_months": "就业登记：当前连续就业的整月数",
}
DERIVED_FACT_INPUTS: dict[str, tuple[str, str]] = {
    "local_social_insurance_months": (
        "social_insurance_months",
        "人社部门：本市缴费月数（目前与 social_insurance_months 同源：只有本市人社数据）",
    ),
    # Insurance by month (docs/policy.md "Insurance by month"): from each period's record.
    "social_insurance_months": (
        "social_insurance_months",
        "人社局：社保累计缴费月数（年度合计只计截至计分日已过去的月份，逐月记录优先，补缴计入）",
    ),
    "social_insurance_continuous_months": (
        "social_insurance_months",
        "人社局：到计分日当月或上月为止不间断的社保缴费月数（补缴不计）",
    ),
    "social_insurance_current": (
        "social_insurance_months",
        "人社局：计分日当月或上月正在缴纳社保（非补缴；即保即读）",
    ),
    "employee_medical_insurance_months": (
        "medical_insurance_months",
        "医保局：职工医保累计缴费月数（年度合计只计已过去的月份，补缴计入）",
    ),
    "employee_medical_insurance_continuous_months": (
        "medical_insurance_months",
        "医保局：到计分日当月或上月为止不间断的职工医保缴费月数（补缴不计）",
    ),
    "employee_medical_insurance_current": (
        "medical_insurance_months",
        "医保局：计分日当月或上月正在缴纳职工医保（非补缴）",
    ),
    "medical_insurance_months": (
        "medical_insurance_months",
        "医保局：医保累计缴费月数，职工与居民合计（年度合计只计已过去的月份）",
    ),
}
"""Inputs computed from a feed's variable (name → (variable, description))."""
INSURANCE_INPUTS: dict[str, str] = {
    **{
        f"{kind}_{measure}": f"{kind}_{measure}"
        for kind in ("social_insurance", "employee_medical_insurance")
        for measure in ("months", "continuous_months", "current")
    },
    "medical_insurance_months": "medical_insurance_months",
    "local_social_insurance_months": "social_insurance_months",
}
"""Inputs read from the insurance time line (``facts.service.insurance_as_of``): input → its
column there."""


def fact_inputs() -> dict[str, str]:
    """Inputs the declared feeds provide (feeds/*.yaml), with who provides them."""
    variables = catalog.fact_variables()
    described = {
        name: f"{'、'.join(variable.feeds)}：{variable.label_zh}"
        for name, variable in variables.items()
        # Endorsements are read through the permit time line (residence_registration_date …),
        # back-paid marks and schemes as parts of an insurance record (INSURANCE_INPUTS).
        if name != registry_service.ENDORSEMENT_VARIABLE
        and name not in facts_service.INSURANCE_DETAILS
    }
    for name, (source, description) in DERIVED_FACT_INPUTS.items():
        if source in variables:
            described[name] = description
    return described


def available_inputs() -> dict[str, str]:
    return {**REGISTRY_INPUTS, **fact_inputs()}


@dataclass(frozen=True)
class PopulationInputs:
    frame: pl.DataFrame
    """``resident_id`` and one raw column per policy input the platform can provide."""
    defaulted: list[str]
    """Optional inputs nobody provides: scored at their default."""
    skipped: int
    """Residents without a permit valid on the date."""
    skipped_by_state: dict[str, int] = field(default_factory=dict)
    """The skipped by permit state on the date: suspended, expired, cancelled, none."""


@dataclass(frozen=True)
class FactSources:
    """Which facts a policy's inputs come from (``fact_sources``)."""

    insured: list[str]
    """Inputs from the insurance time line (``INSURANCE_INPUTS``)."""
    kinds: list[str]
    """Their kinds of insurance (``facts.service.INSURANCE_KINDS``)."""
    inputs: list[str]
    """Inputs from a variable's facts (a sum, a count, the latest value)."""
    sources: list[str]
    """Their variables."""

    @property
    def variables(self) -> list[str]:
        """Every variable to read, the most frequent first (``current_fact_rows``): the
        insurance records, the endorsements of the permit time line, the others."""
        return list(
            dict.fromkeys(
                [
                    *facts_service.insurance_variables(self.kinds),
                    *registry_service.TIMELINE_VARIABLES,
                    *self.sources,
                ]
            )
        )


def fact_sources(names: Iterable[str]) -> FactSources:
    """The facts ``read_inputs`` reads for these inputs (a policy's)."""
    available = available_inputs()
    wanted = [name for name in names if name in available]
    insured = [name for name in wanted if name in INSURANCE_INPUTS]
    inputs = [name for name in wanted if name not in REGISTRY_INPUTS and name not in insured]
    kinds = {facts_service.insurance_kind(INSURANCE_INPUTS[name]) for name in insured}
    return FactSources(
        insured,
        sorted(kind for kind in kinds if kind is not None),
        inputs,
        sorted({DERIVED_FACT_INPUTS.get(name, (name, ""))[0] for name in inputs}),
    )


def build_inputs(
    actor: Actor,
    session: Session,
    policy: Policy,
    as_of: date,
    total_residents: int,
    ids: IdRange | None = None,
) -> PopulationInputs:
    """The inputs of ``policy`` of everyone with a permit valid on ``as_of`` (of the
    residents of ``ids`` only, when given: ``total_residents`` then counts those), or an
    error naming the required inputs the platform cannot provide."""
    available = available_inputs()
    unavailable = [name for name in policy.inputs if name not in available]
    missing_required = [name for name in unavailable if policy.inputs[name].required]
    if missing_required:
        raise Invalid(
            f"策略 {policy.id} 需要登记库无法提供的必填输入：{', '.join(missing_required)}；"
            f"可提供：{', '.join(available)}",
            f"policy {policy.id} needs required inputs the registry cannot provide: "
            f"{', '.join(missing_required)}; available: {', '.join(available)}",
        )
    return read_inputs(actor, session, list(policy.inputs), as_of, total_residents, ids)


def read_inputs(
    actor: Actor,
    session: Session,
    wanted: list[str],
    as_of: date,
    total_residents: int,
    ids: IdRange | None = None,
) -> PopulationInputs:
    """``resident_id`` and each of ``wanted`` the platform provides (``available_inputs``;
    the others are ``defaulted``) of everyone with a permit valid on ``as_of``, or of the
    residents of ``ids`` (a batch of ``luodi export inputs``: the same reads, of a range)."""
    available = available_inputs()
    unavailable = [name for name in wanted if name not in available]
    read = fact_sources(wanted)
    # Every fact the inputs come from in one read (one pass over the facts table).
    facts = facts_service.current_fact_rows(actor, session, read.variables, as_of, ids=ids)
    population = registry_service.scoring_population(actor, session, as_of, facts, ids)
    # Who is scored: a permit valid on the date. A suspended permit's functions stop until it
    # is endorsed (Art. 19), so its holder is skipped like one without a permit.
    skipped_by_state = dict(
        population.filter(~pl.col("permit_valid")).group_by("permit_state").len().iter_rows()
    )
    population = population.filter(pl.col("permit_valid"))
    population = population.with_columns(
        continuous_employment_months=pl.when(pl.col("employed_since").is_not_null())
        .then(months_between_expr(pl.col("employed_since"), pl.lit(as_of)))
        .otherwise(0)
    )
    if read.insured:
        insurance = facts_service.insurance_as_of(actor, session, read.kinds, as_of, facts=facts)
        population = population.join(
            insurance.select(
                KEY, *[pl.col(INSURANCE_INPUTS[name]).alias(name) for name in read.insured]
            ),
            on=KEY,
            how="left",
        )
    if read.inputs:
        variables = catalog.fact_variables()
        derived = facts_service.facts_as_of(
            actor, session, [variables[name] for name in read.sources], as_of, facts
        )
        for name in read.inputs:
            if name in DERIVED_FACT_INPUTS:
                derived = derived.with_columns(pl.col(DERIVED_FACT_INPUTS[name][0]).alias(name))
        population = population.join(derived, on=KEY, how="left")
    columns = [KEY, *[name for name in wanted if name in available]]
    return PopulationInputs(
        population.select(columns),
        unavailable,
        total_residents - population.height,
        skipped_by_state,
    )
