"""A program's rules on a frame of applicants (pure: no database).

The scope of every rule is the applicant's context (``programs.context``: the person, the
household, the spouse, the child and its two parents, the employer), the scoring policy's
inputs (typed as the policy declares them), ``points``, ``application_order`` and the program's
own fields; a name of the policy or the program wins over a context word of the same name.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import date

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.kernels.allocation.terms import TieBreakColumn
from luodi.kernels.policy import KEY
from luodi.kernels.policy.expressions import (
    FUNCTIONS,
    ExpressionError,
    Kind,
    ValueType,
    parse_expression,
)
from luodi.programs import context
from luodi.programs.spec import ProgramSpec

POINTS = "points"
ORDER = "application_order"
ENTRY_GRADE = "entry_grade"
"""A school cycle's entry grade (1 or 7): the cycle's, in the scope of a school program's
rules (the grade-1 age and the grade-7 finishing rule read it)."""
FIELD_KINDS = {
    "int": ValueType(Kind.INT),
    "float": ValueType(Kind.FLOAT),
    "bool": ValueType(Kind.BOOL),
    "string": ValueType(Kind.STRING),
}


def field_type(spec: ProgramSpec, name: str) -> ValueType:
    field = spec.fields[name]
    if field.type == "enum":
        return ValueType(Kind.ENUM, tuple(field.values or {}))
    return FIELD_KINDS[field.type]


def field_dtype(spec: ProgramSpec, name: str) -> pl.DataType:
    """How a field is stored in an application's JSON (enums and strings as text)."""
    kind = spec.fields[name].type
    return {"int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean()}.get(kind, pl.String())


def own_names(spec: ProgramSpec) -> dict[str, ValueType]:
    """The names the program and the cycle give a row (not the policy's, not the context's):
    points, the order of application, a school cycle's entry grade and the fields."""
    school = {ENTRY_GRADE: ValueType(Kind.INT)} if spec.school is not None else {}
    return {
        POINTS: ValueType(Kind.FLOAT),
        ORDER: ValueType(Kind.INT),
        **school,
        **{name: field_type(spec, name) for name in spec.fields},
    }


def scope(spec: ProgramSpec, input_types: Mapping[str, ValueType]) -> dict[str, ValueType]:
    return {**context.types(input_types), **input_types, **own_names(spec)}


class _Settings(ast.NodeTransformer):
    """Each name of a program setting replaced by its value, as if written there."""

    def __init__(self, settings: Mapping[str, object]) -> None:
        self.settings = settings

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id not in self.settings:
            return node
        value = self.settings[node.id]
        replaced: ast.expr = (
            ast.List([ast.Constant(item) for item in value], ast.Load())
            if isinstance(value, list)
            else ast.Constant(value)
        )
        return ast.copy_location(replaced, node)


def written(spec: ProgramSpec, text: str) -> str:
    """A rule as evaluated: the settings it names (``settings:``) replaced by their values,
    so that `employer_town_code in towns` reads the program's list of towns."""
    if not spec.settings:
        return text
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return text  # refused by check_rules, with where
    return ast.unparse(_Settings(spec.settings).visit(tree))


def terms_expressions(spec: ProgramSpec) -> list[tuple[str, str]]:
    """A tiered benefit's outcome terms (rate, term_months) that the document declares."""
    if spec.terms is None:
        return []
    declared = {"rate": spec.terms.rate, "term_months": spec.terms.term_months}
    return [(name, text) for name, text in declared.items() if text is not None]


def expressions(spec: ProgramSpec) -> list[tuple[str, str]]:
    """Every rule of the program with its place in the document, as evaluated (settings
    replaced by their values)."""
    return [(place, written(spec, text)) for place, text in _expressions(spec)]


def _expressions(spec: ProgramSpec) -> list[tuple[str, str]]:
    found = [(f"eligibility.{rule.id}", rule.rule) for rule in spec.eligibility]
    if spec.school is not None:
        found += [
            ("school.full_year_rule", spec.school.full_year_rule.rule),
            ("school.current_rule", spec.school.current_rule.rule),
        ]
    found += [(f"groups[{index}]", g.when) for index, g in enumerate(spec.groups) if g.when]
    found += [(f"tie_breaks[{index}]", key.key) for index, key in enumerate(spec.tie_breaks)]
    found += [(f"tiers[{index}]", tier.when) for index, tier in enumerate(spec.tiers)]
    if spec.once_per is not None:
        # A word like any rule's: checked against the scope, and computed for the run.
        found.append(("once_per", spec.once_per))
    found += [(f"terms.{name}", text) for name, text in terms_expressions(spec)]
    return found


def names_read(spec: ProgramSpec) -> set[str]:
    """Every name the program's rules mention (functions too): what an allocation has to
    compute of the applicant's context, a superset of the words the rules read (the
    expression language has no attribute access: a word is read only by its name)."""
    found: set[str] = set()
    for _, text in expressions(spec):
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            continue  # refused by check_rules, with where
        found |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    # The word a cost share is paid by (each town's union for its own employers).
    return found | {share.by for share in spec.cost_shares if share.by}


def names_in(spec: ProgramSpec, text: str) -> set[str]:
    """The names one rule reads, as evaluated (settings replaced by their values)."""
    try:
        tree = ast.parse(written(spec, text).strip(), mode="eval")
    except SyntaxError:
        return set()  # refused by check_rules, with where
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def check_rules(spec: ProgramSpec, input_types: Mapping[str, ValueType], policy: str) -> None:
    """Every rule parses and names only what the applicant's context, the scoring policy and
    the program provide; an unknown word is named with the nearest known one."""
    names = scope(spec, input_types)
    problems = [
        FieldProblem(
            f"settings.{name}",
            name,
            "设置与申请人情况、策略输入、字段或函数同名",
            "a setting has the name of a context word, policy input, field or function",
            file=spec.id,
        )
        for name in spec.settings
        # A setting named like a function would replace it in every rule (`year`, `date`).
        if name in names or name in FUNCTIONS or name == "as_of"
    ]
    problems += [
        FieldProblem(
            "cost_shares.by",
            share.by,
            "不是申请人情况的词",
            "not a word of the applicant's context",
            file=spec.id,
        )
        for share in spec.cost_shares
        if share.by and share.by not in context.WORDS
    ]
    for place, text in expressions(spec):
        try:
            parse_expression(text, names)
        except ExpressionError as error:
            problems.append(
                FieldProblem(place, text, error.reason_zh, error.reason_en, file=spec.id)
            )
    if problems:
        first = problems[0]
        raise Invalid(
            f"项目 {spec.id} 的规则不能用于策略 {policy}：{first.describe('zh')}",
            f"the rules of program {spec.id} do not fit policy {policy}: {first.describe('en')}",
            problems,
        )


def compile_rule(text: str, names: Mapping[str, ValueType], as_of: date) -> pl.Expr:
    return parse_expression(text, names).compile(as_of)


def evaluate(
    spec: ProgramSpec, input_types: Mapping[str, ValueType], frame: pl.DataFrame, as_of: date
) -> pl.DataFrame:
    """Adds ``rule:<id>`` per eligibility rule, ``eligible``, ``priority_group``, ``tie:<n>``
    per tie-break key, the school rules ``full_year`` / ``current`` and the ``entitlement``."""
    names = scope(spec, input_types)
    columns: dict[str, pl.Expr] = {
        f"rule:{rule.id}": compile_rule(written(spec, rule.rule), names, as_of).fill_null(False)
        for rule in spec.eligibility
    }
    if spec.school is not None:
        school = spec.school
        columns["full_year"] = compile_rule(written(spec, school.full_year_rule.rule), names, as_of)
        columns["current"] = compile_rule(written(spec, school.current_rule.rule), names, as_of)
    group = pl.lit(spec.groups[-1].group if spec.groups else 0, dtype=pl.Int64)
    for entry in reversed(spec.groups[:-1]):
        assert entry.when is not None
        group = (
            pl.when(compile_rule(written(spec, entry.when), names, as_of).fill_null(False))
            .then(pl.lit(entry.group, dtype=pl.Int64))
            .otherwise(group)
        )
    columns["priority_group"] = group
    for index, key in enumerate(spec.tie_breaks):
        columns[f"tie:{index}"] = compile_rule(written(spec, key.key), names, as_of).cast(
            pl.Float64
        )
    amount = pl.lit(None, dtype=pl.Float64)
    for tier in reversed(spec.tiers):
        amount = (
            pl.when(compile_rule(written(spec, tier.when), names, as_of).fill_null(False))
            .then(pl.lit(tier.amount, dtype=pl.Float64))
            .otherwise(amount)
        )
    columns["entitlement"] = amount
    # A loan's rate and term, recorded with its amount; null where there is no amount.
    terms = dict(terms_expressions(spec))
    for name, dtype in (("rate", pl.Float64), ("term_months", pl.Int64)):
        value = (
            compile_rule(written(spec, terms[name]), names, as_of).cast(dtype)
            if name in terms
            else pl.lit(None, dtype=dtype)
        )
        columns[name] = pl.when(amount.is_not_null()).then(value)
    rule_columns = [f"rule:{rule.id}" for rule in spec.eligibility]
    # Lazily: Polars' eager path folds a conditional whose condition is false on every row
    # into a scalar and then fails to broadcast it (`0 < (x if b else 0.25)` raised, or gave
    # one row for two); the lazy engine plans the whole expression over the frame.
    return (
        frame.lazy()
        .with_columns(**columns)
        .with_columns(eligible=pl.all_horizontal(rule_columns) if rule_columns else pl.lit(True))
        .collect()
    )


def by_application(
    spec: ProgramSpec, evaluated: pl.DataFrame, key: str = "application_id"
) -> pl.DataFrame:
    """One row per application from ``evaluate``'s rows of the people whose points count
    (for a school place the child's two parents, in the order the children feed names them;
    otherwise the applicant alone).

    "父母一方" (either parent): each eligibility rule, and the school's full-year and current
    rules, holds for the application when it holds for either person — condition by
    condition, not all from the same parent — and the application is eligible when every rule
    holds so. It ranks with the higher of the people's points; its group, tie-break values
    and other columns are those of the person whose points are used (the first of them on a
    tie), whose id ``points_person`` keeps."""
    rule_columns = [f"rule:{rule.id}" for rule in spec.eligibility]
    either = [name for name in (*rule_columns, "full_year", "current") if name in evaluated]
    person = KEY if KEY in evaluated.columns else None
    used = (
        evaluated.with_row_index("_person_order")
        .sort(["points", "_person_order"], descending=[True, False], nulls_last=True)
        .unique(key, keep="first", maintain_order=True)
        .sort("_person_order")
        .drop("_person_order", *either)
    )
    if person is not None:
        used = used.with_columns(points_person=pl.col(person))
    met = evaluated.group_by(key).agg(pl.col(name).fill_null(False).any() for name in either)
    return used.join(met, on=key, how="left", maintain_order="left").with_columns(
        eligible=pl.all_horizontal(rule_columns) if rule_columns else pl.lit(True)
    )


def tie_break_columns(spec: ProgramSpec) -> list[TieBreakColumn]:
    return [
        TieBreakColumn(f"tie:{index}", key.order == "desc")
        for index, key in enumerate(spec.tie_breaks)
    ]


def failed_rules(spec: ProgramSpec, row: Mapping[str, object]) -> tuple[str, str]:
    """The labels of the eligibility rules a row fails, zh and en."""
    failed = [rule for rule in spec.eligibility if not row.get(f"rule:{rule.id}")]
    return (
        "不符合条件：" + "、".join(rule.label.zh for rule in failed),
        "not eligible: " + ", ".join(rule.label.en or rule.id for rule in failed),
    )
