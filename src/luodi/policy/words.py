"""A policy's rules in words, for people who do not read formulas: each indicator's formula or
table said in Chinese or English ("在浙累计缴纳社保月数 × 0.5，最多 30 分"), its groups and its
floor. Built from the checked expression tree (``kernels.policy.expressions``), never from the
text, so the words say what the engine computes. A rule the words cannot say faithfully (a
name with no label, a function this module does not know, a very long rule) raises
``Unspeakable``: the page then shows the formula as written, labelled as such."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from luodi.kernels.policy.document import Group, Indicator, Policy, Table
from luodi.kernels.policy.expressions import (
    AS_OF,
    Arithmetic,
    Call,
    Comparison,
    Conditional,
    Constant,
    Kind,
    Logic,
    Membership,
    Name,
    Negative,
    Node,
    Not,
)

Language = Literal["zh", "en"]
MAX_CHARS = 240
"""Longer words than this read worse than the formula: shown as written instead."""
MAX_DEPTH = 12

VALUE_WORDS: dict[tuple[str, str], tuple[str, str]] = {
    ("education", "none"): ("未受学历教育", "no formal education"),
    ("education", "junior_high"): ("初中", "junior high school"),
    ("education", "senior_high"): ("高中", "senior high school"),
    ("education", "associate"): ("大专", "associate degree"),
    ("education", "bachelor"): ("本科", "bachelor's degree"),
    ("education", "master"): ("硕士", "master's degree"),
    ("education", "doctor"): ("博士", "doctorate"),
    ("skill_level", "none"): ("无", "none"),
    ("skill_level", "junior"): ("五级（初级工）", "level 5 (junior)"),
    ("skill_level", "intermediate"): ("四级（中级工）", "level 4 (intermediate)"),
    ("skill_level", "senior"): ("三级（高级工）", "level 3 (senior)"),
    ("skill_level", "technician"): ("二级（技师）", "level 2 (technician)"),
    ("skill_level", "senior_technician"): ("一级（高级技师）", "level 1 (senior technician)"),
    ("professional_title", "none"): ("无", "none"),
    ("professional_title", "clerk"): ("员级", "clerk grade"),
    ("professional_title", "assistant"): ("助理级", "assistant grade"),
    ("professional_title", "intermediate"): ("中级", "intermediate grade"),
    ("professional_title", "associate_senior"): ("副高级", "associate senior grade"),
    ("professional_title", "senior"): ("正高级", "senior grade"),
    ("special_skill_certificate", "none"): ("无", "none"),
    ("special_skill_certificate", "ordinary"): ("普通", "ordinary"),
    ("special_skill_certificate", "advanced"): ("高级", "advanced"),
    ("housing", "none"): ("无", "none"),
    ("housing", "dormitory"): ("单位宿舍", "employer's dormitory"),
    ("housing", "public_rental"): ("公共租赁住房", "public rental flat"),
    ("housing", "registered_rental"): ("登记备案的租赁住房", "registered rented home"),
    ("housing", "owned"): ("自有住房", "own home"),
    ("permit_state", "valid"): ("有效", "valid"),
    ("permit_state", "suspended"): ("逾期未签注中止", "suspended (not endorsed)"),
    ("permit_state", "expired"): ("过期", "expired"),
    ("permit_state", "cancelled"): ("注销", "cancelled"),
    ("permit_state", "none"): ("无", "none"),
}
"""The values of the shipped policies' enum inputs in words (a policy declares values, not
their names); a value not listed is shown as written."""

SYMBOLS = {
    "+": "+",
    "-": "−",
    "*": "×",
    "/": "÷",
    "<": "<",
    "<=": "≤",
    ">": ">",
    ">=": "≥",
    "==": "=",
    "!=": "≠",
}
PRECEDENCE = {"+": 5, "-": 5, "*": 6, "/": 6}
CONDITION = -1
"""A chain of conditions: bracketed wherever it is part of something else."""
LOW = 0
"""A phrase ("…，最多 20"; "…除以 200 取整"): bracketed inside any operation."""
ATOM = 9


class Unspeakable(Exception):
    """The rule cannot be said faithfully in words; show the formula as written."""


@dataclass(frozen=True)
class Said:
    text: str
    precedence: int


def number(value: float) -> str:
    """A number as written in a rule: 0.5, 30, 1,000."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def lower_first(text: str) -> str:
    """An English label inside a sentence: "Date of birth" → "date of birth" (an acronym
    such as "ID number" kept)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class Speaker:
    """The words of one policy's rules in one language."""

    def __init__(self, policy: Policy, language: Language) -> None:
        self.policy = policy
        self.language = language
        self.derived = {item.name: item.expression for item in policy.derived}

    def pick(self, zh: str, en: str) -> str:
        return zh if self.language == "zh" else en

    def points(self, value: float) -> str:
        unit = "point" if value == 1 else "points"
        return self.pick(f"{number(value)} 分", f"{number(value)} {unit}")

    # ------------------------------------------------------------------ what people read

    def indicator(self, indicator: Indicator) -> str:
        """The rule of an indicator with its cap; Unspeakable when it cannot be said."""
        if indicator.table is not None:
            said = self.table(indicator.table)
        else:
            assert indicator.formula is not None
            node = indicator.formula
            said = self.points(node.value) if isinstance(node, Constant) else self.say(node).text
        if indicator.cap is not None:
            said += self.pick(
                f"，最多 {number(indicator.cap)} 分", f", at most {number(indicator.cap)} points"
            )
        if len(said) > MAX_CHARS:
            raise Unspeakable(indicator.id)
        return upper_first(said)

    def cap(self, cap: float | None) -> str:
        return "" if cap is None else self.points(cap)

    def group(self, group: Group, labels: dict[str, str]) -> str:
        members = self.listing([labels[member] for member in group.indicators])
        parts = []
        if group.combine == "max":
            parts.append(self.pick(f"{members}只取最高一项", f"only the highest of {members}"))
        if group.cap is not None:
            cap = number(group.cap)
            parts.append(
                self.pick(f"合计最多 {cap} 分", f"at most {cap} points together")
                if group.combine == "max"
                else self.pick(
                    f"{members}合计最多 {cap} 分", f"{members}: at most {cap} points together"
                )
            )
        return upper_first(self.pick("，", "; ").join(parts))

    def floor(self, floor: float) -> str:
        return self.pick(
            f"扣分后总分最低为 {number(floor)} 分",
            f"after deductions the total is at least {number(floor)}",
        )

    def table(self, table: Table) -> str:
        """ "最高学历：本科、硕士 10 分；大专 8 分；其他 5 分": values with the same points
        together, in the policy's order."""
        by_points: dict[float, list[str]] = {}
        for key, value in table.values.items():
            by_points.setdefault(value, []).append(self.value_of(table.input, key))
        lines = [f"{self.listing(keys)} {self.points(value)}" for value, keys in by_points.items()]
        lines.append(
            self.pick(
                f"其他 {self.points(table.default)}", f"otherwise {self.points(table.default)}"
            )
        )
        return self.pick(
            f"{self.name_words(table.input)}：{'；'.join(lines)}",
            f"{self.name_words(table.input)}: {'; '.join(lines)}",
        )

    # ------------------------------------------------------------------ pieces

    def listing(self, items: Sequence[str]) -> str:
        if self.language == "zh":
            return "、".join(items)
        if len(items) < 2:
            return "".join(items)
        return f"{', '.join(items[:-1])} and {items[-1]}"

    def value_of(self, input_name: str | None, value: Any) -> str:
        if isinstance(value, bool):
            return self.pick("是", "yes") if value else self.pick("否", "no")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, int | float):
            return number(value)
        words = VALUE_WORDS.get((input_name or "", str(value)))
        if words is None:
            return f"“{value}”" if self.language == "zh" else f'"{value}"'
        return self.pick(*words)

    def name_words(self, name: str) -> str:
        if name == AS_OF:
            return self.pick("计分日", "the scoring date")
        spec = self.policy.inputs.get(name)
        if spec is not None:
            if spec.label is None:
                raise Unspeakable(name)
            return self.pick(spec.label.zh, lower_first(spec.label.en))
        raise Unspeakable(name)

    @staticmethod
    def enum_input(node: Node) -> str | None:
        """The input an enum-typed operand reads, for saying the values compared with it."""
        if isinstance(node, Name) and node.type.kind in (Kind.ENUM, Kind.STRING):
            return node.name
        return None

    def wrap(self, said: Said, above: int) -> str:
        if said.precedence > above:
            return said.text
        return self.pick(f"（{said.text}）", f"({said.text})")

    # ------------------------------------------------------------------ the tree

    def say(self, node: Node, depth: int = 0) -> Said:
        if depth > MAX_DEPTH:
            raise Unspeakable("too deep")
        speak: Callable[[Any, int], Said] | None = getattr(
            self, f"say_{type(node).__name__.lower()}", None
        )
        if speak is None:
            raise Unspeakable(type(node).__name__)
        return speak(node, depth + 1)

    def say_constant(self, node: Constant, depth: int) -> Said:
        return Said(self.value_of(None, node.value), ATOM)

    def say_name(self, node: Name, depth: int) -> Said:
        if node.name in self.derived:
            return self.say(self.derived[node.name], depth)
        return Said(self.name_words(node.name), ATOM)

    def say_negative(self, node: Negative, depth: int) -> Said:
        return Said(f"−{self.wrap(self.say(node.operand, depth), 7)}", 7)

    def say_not(self, node: Not, depth: int) -> Said:
        inner = self.wrap(self.say(node.operand, depth), 3)
        return Said(self.pick(f"并非{inner}", f"not {inner}"), 3)

    def say_arithmetic(self, node: Arithmetic, depth: int) -> Said:
        operator = node.operator
        left, right = node.left, node.right
        if operator == "*" and isinstance(left, Constant) and not isinstance(right, Constant):
            # "0.5 * months" reads better as "months × 0.5".
            left, right = right, left
        if operator in ("//", "%"):
            a = self.wrap(self.say(left, depth), 4)
            b = self.wrap(self.say(right, depth), 4)
            if operator == "//":
                return Said(
                    self.pick(f"{a} 除以 {b} 取整", f"{a} divided by {b}, rounded down"), LOW
                )
            return Said(
                self.pick(f"{a} 除以 {b} 的余数", f"the remainder of {a} divided by {b}"), LOW
            )
        level = PRECEDENCE[operator]
        a = self.wrap(self.say(left, depth), level - 1)
        # The right side of − and ÷ needs brackets at the same level: a − (b − c).
        b = self.wrap(self.say(right, depth), level if operator in ("-", "/") else level - 1)
        return Said(f"{a} {SYMBOLS[operator]} {b}", level)

    def operand_value(self, node: Node, other: Node, depth: int) -> str:
        """An operand of a comparison; a constant compared with an enum input in words."""
        if isinstance(node, Constant):
            return self.value_of(self.enum_input(other), node.value)
        return self.wrap(self.say(node, depth), 4)

    def say_comparison(self, node: Comparison, depth: int) -> Said:
        operands = node.operands
        parts = [self.operand_value(operands[0], operands[1], depth)]
        for index, operator in enumerate(node.operators):
            right = operands[index + 1]
            parts.append(SYMBOLS[operator])
            parts.append(self.operand_value(right, operands[index], depth))
        return Said(" ".join(parts), 4)

    def say_membership(self, node: Membership, depth: int) -> Said:
        subject = self.wrap(self.say(node.operand, depth), 4)
        options = self.listing(
            [self.value_of(self.enum_input(node.operand), option) for option in node.options]
        )
        if node.negated:
            return Said(
                self.pick(f"{subject}不是{options}之一", f"{subject} is none of {options}"), 4
            )
        return Said(self.pick(f"{subject}是{options}之一", f"{subject} is one of {options}"), 4)

    def say_logic(self, node: Logic, depth: int) -> Said:
        level = 2 if node.operator == "and" else 1
        joiner = {"and": self.pick("且", " and "), "or": self.pick("或", " or ")}[node.operator]
        return Said(
            joiner.join(self.wrap(self.say(operand, depth), level) for operand in node.operands),
            level,
        )

    def branch(self, node: Node, depth: int) -> str:
        if isinstance(node, Constant) and not isinstance(node.value, bool):
            return self.points(node.value)
        return self.wrap(self.say(node, depth), CONDITION)

    def say_conditional(self, node: Conditional, depth: int) -> Said:
        """ "x > 60 时 0 分；≥ 55 时 5 分；否则 …": a chain of conditions, the subject of a
        comparison said once while the next condition compares the same thing."""
        clauses: list[str] = []
        previous: str | None = None
        current: Node = node
        while isinstance(current, Conditional):
            test = current.test
            condition = self.say(test, depth).text
            if isinstance(test, Comparison) and len(test.operators) == 1:
                subject = self.operand_value(test.operands[0], test.operands[1], depth)
                if subject == previous:
                    condition = condition[len(subject) :].lstrip()
                previous = subject
            else:
                previous = None
            result = self.branch(current.body, depth)
            clauses.append(self.pick(f"{condition} 时 {result}", f"{result} if {condition}"))
            current = current.orelse
            depth += 1
            if depth > MAX_DEPTH:
                raise Unspeakable("too deep")
        otherwise = self.branch(current, depth)
        clauses.append(self.pick(f"否则 {otherwise}", f"otherwise {otherwise}"))
        return Said(self.pick("；", "; ").join(clauses), CONDITION)

    def say_call(self, node: Call, depth: int) -> Said:
        name = node.function.name
        arguments = node.arguments
        if name in ("min", "max"):
            constants = [argument for argument in arguments if isinstance(argument, Constant)]
            others = [argument for argument in arguments if not isinstance(argument, Constant)]
            if len(arguments) == 2 and len(constants) == 1 and len(others) == 1:
                subject = self.wrap(self.say(others[0], depth), LOW)
                bound = number(constants[0].value)
                if name == "min":
                    return Said(
                        self.pick(f"{subject}，最多 {bound}", f"{subject}, at most {bound}"), LOW
                    )
                return Said(
                    self.pick(f"{subject}，至少 {bound}", f"{subject}, at least {bound}"), LOW
                )
            said = self.listing(
                [self.wrap(self.say(argument, depth), LOW) for argument in arguments]
            )
            if name == "min":
                return Said(self.pick(f"{said}中较小者", f"the smaller of {said}"), LOW)
            return Said(self.pick(f"{said}中较大者", f"the larger of {said}"), LOW)
        words = ONE_ARGUMENT.get(name)
        if words is not None:
            zh, en, precedence = words
            subject = self.wrap(self.say(arguments[0], depth), LOW)
            return Said(self.pick(zh, en).format(subject), precedence)
        spans = SPANS.get(name)
        if spans is not None:
            # A noun phrase ("出生日期至计分日的整年数"): needs no brackets around it.
            start = self.wrap(self.say(arguments[0], depth), LOW)
            end = self.wrap(self.say(arguments[1], depth), LOW)
            return Said(self.pick(*spans).format(start=start, end=end), ATOM)
        if name == "clip":
            subject, low, high = (
                self.wrap(self.say(argument, depth), LOW) for argument in arguments
            )
            return Said(
                self.pick(
                    f"{subject}，不低于 {low}、不高于 {high}",
                    f"{subject}, kept between {low} and {high}",
                ),
                LOW,
            )
        if name == "date" and all(isinstance(argument, Constant) for argument in arguments):
            year, month, day = (argument.value for argument in arguments)  # type: ignore[attr-defined]
            return Said(f"{year:04d}-{month:02d}-{day:02d}", ATOM)
        raise Unspeakable(name)


ONE_ARGUMENT: dict[str, tuple[str, str, int]] = {
    "floor": ("{} 向下取整", "{} rounded down", LOW),
    "ceil": ("{} 向上取整", "{} rounded up", LOW),
    "round": ("{} 取最接近的整数", "{} to the nearest whole number", LOW),
    "abs": ("{} 的绝对值", "the absolute value of {}", ATOM),
    "year": ("{}的年份", "the year of {}", ATOM),
}
SPANS: dict[str, tuple[str, str]] = {
    "years_between": ("{start}至{end}的整年数", "whole years from {start} to {end}"),
    "months_between": ("{start}至{end}的整月数", "whole months from {start} to {end}"),
    "days_between": ("{start}至{end}的天数", "days from {start} to {end}"),
}


def indicator_words(policy: Policy, indicator: Indicator, language: Language) -> str | None:
    """The indicator's rule in words, or None when it cannot be said (show the formula)."""
    try:
        return Speaker(policy, language).indicator(indicator)
    except Unspeakable:
        return None
