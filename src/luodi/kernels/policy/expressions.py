"""The policy expression language: a safe subset of Python expression syntax.

Text is parsed with ``ast`` and checked, name by name and type by type, against the names a
policy declares; what passes becomes a small typed tree. The tree has two evaluators that
must agree: ``compile`` builds one Polars expression for the whole population, and
``evaluate`` computes one row in plain Python (the reference the property tests and the
benchmark compare against). Nothing is ever given to ``eval`` or ``exec``.

Rules where Python would raise or is ambiguous, identical in both evaluators:

* ``a / 0``, ``a // 0`` and ``a % 0`` are 0 (a formula must not stop a city's scoring run);
* ``years_between(a, b)`` counts completed years from a to b and ``months_between`` completed
  months, as 《民法典》第二百零二条 ends a period: "按照年、月计算期间的，到期月的对应日为期间的
  最后一日；没有对应日的，月末日为期间的最后一日" — a year or month is completed on the
  corresponding day, or on the last day of a month that has none (a year from 29 February is
  completed on 28 February in common years; from 31 January one month is completed on
  28 February, two on 31 March); if b is before a the result is negative, the completed span
  from b to a;
* ``round(x)`` rounds to the nearest integer, halves to even (as Python does).
"""

from __future__ import annotations

import ast
import calendar
import difflib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import polars as pl


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    STRING = "string"
    ENUM = "enum"


NUMERIC = frozenset({Kind.INT, Kind.FLOAT})


@dataclass(frozen=True)
class ValueType:
    kind: Kind
    values: tuple[str, ...] | None = None
    """The declared values of an enum."""

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    @property
    def textual(self) -> bool:
        return self.kind in (Kind.STRING, Kind.ENUM)

    def comparable_with(self, other: ValueType) -> bool:
        if self.numeric and other.numeric:
            return True
        if self.textual and other.textual:
            return True
        return self.kind == other.kind

    def __str__(self) -> str:
        return self.kind.value


INT = ValueType(Kind.INT)
FLOAT = ValueType(Kind.FLOAT)
BOOL = ValueType(Kind.BOOL)
DATE = ValueType(Kind.DATE)
STRING = ValueType(Kind.STRING)

AS_OF = "as_of"
"""The scoring date, a name every expression may use."""


class ExpressionError(Exception):
    """A mistake at a character offset of the expression text."""

    def __init__(self, offset: int, reason_zh: str, reason_en: str) -> None:
        super().__init__(reason_en)
        self.offset = offset
        self.reason_zh = reason_zh
        self.reason_en = reason_en


def _numeric_result(*types: ValueType) -> ValueType:
    return INT if all(t.kind == Kind.INT for t in types) else FLOAT


# ----------------------------------------------------------------------------- the tree


class Node(ABC):
    type: ValueType

    def compile(self, as_of: date) -> pl.Expr:
        """The Polars expression; a part that reads no column is computed once, in Python,
        and becomes a literal (Polars mishandles some expressions of literals only)."""
        if not self.names() - {AS_OF}:
            return pl.lit(self.evaluate({AS_OF: as_of}))
        return self.to_polars(as_of)

    @abstractmethod
    def to_polars(self, as_of: date) -> pl.Expr: ...

    @abstractmethod
    def evaluate(self, env: Mapping[str, Any]) -> Any: ...

    @abstractmethod
    def names(self) -> set[str]: ...


@dataclass
class Constant(Node):
    value: Any
    type: ValueType

    def to_polars(self, as_of: date) -> pl.Expr:
        return pl.lit(self.value)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self.value

    def names(self) -> set[str]:
        return set()


@dataclass
class Name(Node):
    name: str
    type: ValueType

    def to_polars(self, as_of: date) -> pl.Expr:
        return pl.lit(as_of, dtype=pl.Date) if self.name == AS_OF else pl.col(self.name)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return env[self.name]

    def names(self) -> set[str]:
        return {self.name}


@dataclass
class Negative(Node):
    operand: Node
    type: ValueType

    def to_polars(self, as_of: date) -> pl.Expr:
        return -self.operand.compile(as_of)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return -self.operand.evaluate(env)

    def names(self) -> set[str]:
        return self.operand.names()


@dataclass
class Not(Node):
    operand: Node
    type: ValueType = BOOL

    def to_polars(self, as_of: date) -> pl.Expr:
        return ~self.operand.compile(as_of)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return not self.operand.evaluate(env)

    def names(self) -> set[str]:
        return self.operand.names()


def _zero_safe(
    operation: Callable[[pl.Expr, pl.Expr], pl.Expr],
) -> Callable[[pl.Expr, pl.Expr], pl.Expr]:
    def apply(left: pl.Expr, right: pl.Expr) -> pl.Expr:
        return pl.when(right == 0).then(pl.lit(0)).otherwise(operation(left, right))

    return apply


POLARS_ARITHMETIC: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _zero_safe(lambda a, b: a / b),
    "//": _zero_safe(lambda a, b: a // b),
    "%": _zero_safe(lambda a, b: a % b),
}

PYTHON_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: 0 if b == 0 else a / b,
    "//": lambda a, b: 0 if b == 0 else a // b,
    "%": lambda a, b: 0 if b == 0 else a % b,
}


@dataclass
class Arithmetic(Node):
    operator: str
    left: Node
    right: Node
    type: ValueType

    def to_polars(self, as_of: date) -> pl.Expr:
        constant = {AS_OF: as_of}
        if not (self.left.names() | self.right.names()) - {AS_OF}:
            return pl.lit(self.evaluate(constant))
        left = self.left.compile(as_of)
        if self.operator in ("/", "//", "%") and not self.right.names() - {AS_OF}:
            # Polars divides by a scalar as a multiplication by its reciprocal, which is not
            # correctly rounded (314 / 3 → 104.66666666666666) and can tip a floor() to the
            # wrong integer. A divisor that is a column divides exactly, as Python does.
            right = pl.lit(self.right.evaluate(constant)) + left * 0
        else:
            right = self.right.compile(as_of)
        return POLARS_ARITHMETIC[self.operator](left, right)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return PYTHON_ARITHMETIC[self.operator](self.left.evaluate(env), self.right.evaluate(env))

    def names(self) -> set[str]:
        return self.left.names() | self.right.names()


COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass
class Comparison(Node):
    """``a < b <= c``: every adjacent pair holds."""

    operators: list[str]
    operands: list[Node]
    type: ValueType = BOOL

    def to_polars(self, as_of: date) -> pl.Expr:
        compiled = [operand.compile(as_of) for operand in self.operands]
        result: pl.Expr | None = None
        for index, operator in enumerate(self.operators):
            pair = COMPARISONS[operator](compiled[index], compiled[index + 1])
            result = pair if result is None else result & pair
        assert result is not None
        return result

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        values = [operand.evaluate(env) for operand in self.operands]
        return all(
            COMPARISONS[operator](values[index], values[index + 1])
            for index, operator in enumerate(self.operators)
        )

    def names(self) -> set[str]:
        return set().union(*(operand.names() for operand in self.operands))


@dataclass
class Membership(Node):
    """``x in [1, 2, 3]`` / ``x not in [...]`` against a list of constants."""

    operand: Node
    options: list[Any]
    negated: bool
    type: ValueType = BOOL

    def to_polars(self, as_of: date) -> pl.Expr:
        value = self.operand.compile(as_of)
        found = pl.lit(False)
        for option in self.options:
            found = found | (value == pl.lit(option))
        return ~found if self.negated else found

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        found = self.operand.evaluate(env) in self.options
        return not found if self.negated else found

    def names(self) -> set[str]:
        return self.operand.names()


@dataclass
class Logic(Node):
    operator: str
    operands: list[Node]
    type: ValueType = BOOL

    def to_polars(self, as_of: date) -> pl.Expr:
        compiled = [operand.compile(as_of) for operand in self.operands]
        result = compiled[0]
        for other in compiled[1:]:
            result = (result & other) if self.operator == "and" else (result | other)
        return result

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        values = (operand.evaluate(env) for operand in self.operands)
        return all(values) if self.operator == "and" else any(values)

    def names(self) -> set[str]:
        return set().union(*(operand.names() for operand in self.operands))


@dataclass
class Conditional(Node):
    test: Node
    body: Node
    orelse: Node
    type: ValueType

    def to_polars(self, as_of: date) -> pl.Expr:
        return (
            pl.when(self.test.compile(as_of))
            .then(self.body.compile(as_of))
            .otherwise(self.orelse.compile(as_of))
        )

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self.body.evaluate(env) if self.test.evaluate(env) else self.orelse.evaluate(env)

    def names(self) -> set[str]:
        return self.test.names() | self.body.names() | self.orelse.names()


# ----------------------------------------------------------------------------- date arithmetic


def _corresponding_day(start: date, year: int, month: int) -> int:
    """The day of ``month`` in ``year`` that corresponds to ``start``'s day: the same day, or
    the month's last day where it has none (民法典 Art. 202)."""
    return min(start.day, calendar.monthrange(year, month)[1])


def years_between(start: date, end: date) -> int:
    """Completed years from ``start`` to ``end``; negative if ``end`` is earlier."""
    if end < start:
        return -years_between(end, start)
    anniversary = (start.month, _corresponding_day(start, end.year, start.month))
    return end.year - start.year - ((end.month, end.day) < anniversary)


def months_between(start: date, end: date) -> int:
    """Completed months from ``start`` to ``end``; negative if ``end`` is earlier."""
    if end < start:
        return -months_between(end, start)
    short = end.day < _corresponding_day(start, end.year, end.month)
    return (end.year - start.year) * 12 + end.month - start.month - short


def days_between(start: date, end: date) -> int:
    return (end - start).days


def corresponding_day_expr(start: pl.Expr, end: pl.Expr, same_month: bool) -> pl.Expr:
    """``start``'s day of the month as it falls in ``end``'s year (29 February → 28 in a
    common year) or, with ``same_month``, in ``end``'s month (31 → 30, 29 or 28): the day a
    year or a month is completed on (民法典 Art. 202)."""
    day = start.dt.day().cast(pl.Int32)
    if same_month:
        return pl.min_horizontal(day, end.dt.month_end().dt.day().cast(pl.Int32))
    common_year_29_february = (
        (start.dt.month() == 2) & (start.dt.day() == 29) & ~end.dt.is_leap_year()
    )
    return pl.when(common_year_29_february).then(pl.lit(28, dtype=pl.Int32)).otherwise(day)


def _polars_years(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    def forward(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        later_in_year = (b.dt.month().cast(pl.Int32) * 100 + b.dt.day().cast(pl.Int32)) < (
            a.dt.month().cast(pl.Int32) * 100 + corresponding_day_expr(a, b, same_month=False)
        )
        return (
            b.dt.year().cast(pl.Int64) - a.dt.year().cast(pl.Int64) - later_in_year.cast(pl.Int64)
        )

    return pl.when(end >= start).then(forward(start, end)).otherwise(-forward(end, start))


def months_between_expr(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    def forward(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        def month_index(x: pl.Expr) -> pl.Expr:
            return x.dt.year().cast(pl.Int64) * 12 + x.dt.month().cast(pl.Int64)

        short = b.dt.day().cast(pl.Int32) < corresponding_day_expr(a, b, same_month=True)
        return month_index(b) - month_index(a) - short.cast(pl.Int64)

    return pl.when(end >= start).then(forward(start, end)).otherwise(-forward(end, start))


def _polars_days(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return (end - start).dt.total_days().cast(pl.Int64)


def calendar_date(year: int, month: int, day: int) -> date:
    """``date(2026, 8, 31)``: a day written in a rule (31 August of the entry year)."""
    return date(year, month, day)


def _python_year(day: date) -> int:
    return day.year


def _python_round(value: float) -> int:
    return round(value)


def _polars_round(value: pl.Expr, value_type: ValueType) -> pl.Expr:
    if value_type.kind == Kind.INT:
        return value
    return value.round(0, mode="half_to_even").cast(pl.Int64)


def _polars_floor(value: pl.Expr, value_type: ValueType) -> pl.Expr:
    return value if value_type.kind == Kind.INT else value.floor().cast(pl.Int64)


def _polars_ceil(value: pl.Expr, value_type: ValueType) -> pl.Expr:
    return value if value_type.kind == Kind.INT else value.ceil().cast(pl.Int64)


@dataclass(frozen=True)
class Function:
    name: str
    arity: tuple[int, int | None]
    """Least and most arguments (None: any number)."""
    argument_kind: str
    """``numeric``, ``int`` or ``date``."""
    result: Callable[[list[ValueType]], ValueType]
    python: Callable[..., Any]
    polars: Callable[[list[pl.Expr], list[ValueType]], pl.Expr]


FUNCTIONS: dict[str, Function] = {
    function.name: function
    for function in (
        Function(
            "min",
            (2, None),
            "numeric",
            lambda types: _numeric_result(*types),
            min,
            lambda args, types: pl.min_horizontal(args),
        ),
        Function(
            "max",
            (2, None),
            "numeric",
            lambda types: _numeric_result(*types),
            max,
            lambda args, types: pl.max_horizontal(args),
        ),
        Function(
            "floor",
            (1, 1),
            "numeric",
            lambda types: INT,
            math.floor,
            lambda args, types: _polars_floor(args[0], types[0]),
        ),
        Function(
            "ceil",
            (1, 1),
            "numeric",
            lambda types: INT,
            math.ceil,
            lambda args, types: _polars_ceil(args[0], types[0]),
        ),
        Function(
            "round",
            (1, 1),
            "numeric",
            lambda types: INT,
            _python_round,
            lambda args, types: _polars_round(args[0], types[0]),
        ),
        Function(
            "abs",
            (1, 1),
            "numeric",
            lambda types: types[0],
            abs,
            lambda args, types: args[0].abs(),
        ),
        Function(
            "clip",
            (3, 3),
            "numeric",
            lambda types: _numeric_result(*types),
            lambda x, low, high: min(max(x, low), high),
            lambda args, types: pl.min_horizontal(pl.max_horizontal(args[0], args[1]), args[2]),
        ),
        Function(
            "years_between",
            (2, 2),
            "date",
            lambda types: INT,
            years_between,
            lambda args, types: _polars_years(args[0], args[1]),
        ),
        Function(
            "months_between",
            (2, 2),
            "date",
            lambda types: INT,
            months_between,
            lambda args, types: months_between_expr(args[0], args[1]),
        ),
        Function(
            "days_between",
            (2, 2),
            "date",
            lambda types: INT,
            days_between,
            lambda args, types: _polars_days(args[0], args[1]),
        ),
        Function(
            "date",
            (3, 3),
            "int",
            lambda types: DATE,
            calendar_date,
            lambda args, types: pl.date(args[0], args[1], args[2]),
        ),
        Function(
            "year",
            (1, 1),
            "date",
            lambda types: INT,
            _python_year,
            lambda args, types: args[0].dt.year().cast(pl.Int64),
        ),
    )
}


@dataclass
class Call(Node):
    function: Function
    arguments: list[Node]
    type: ValueType

    def to_polars(self, as_of: date) -> pl.Expr:
        return self.function.polars(
            [argument.compile(as_of) for argument in self.arguments],
            [argument.type for argument in self.arguments],
        )

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self.function.python(*(argument.evaluate(env) for argument in self.arguments))

    def names(self) -> set[str]:
        return set().union(*(argument.names() for argument in self.arguments))


# ----------------------------------------------------------------------------- the checker

ARITHMETIC_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}
COMPARISON_OPERATORS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
RESERVED_NAMES = frozenset(FUNCTIONS) | {AS_OF, "True", "False", "None"}


def reserved_name(name: str) -> bool:
    import keyword

    return name in RESERVED_NAMES or keyword.iskeyword(name)


def parse_expression(text: str, scope: Mapping[str, ValueType]) -> Node:
    """Parse and check ``text``; every name must be in ``scope`` (``as_of`` always is)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(0, "表达式为空", "the expression is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        offset = max((error.offset or 1) - 1, 0)
        raise ExpressionError(
            offset, f"语法错误：{error.msg}", f"syntax error: {error.msg}"
        ) from None
    checker = _Checker(text.strip(), {**scope, AS_OF: DATE})
    checker.check_names(tree.body)
    return checker.check(tree.body)


class _Checker:
    def __init__(self, text: str, scope: Mapping[str, ValueType]) -> None:
        self.text = text
        self.encoded = text.encode()
        self.scope = scope

    def offset(self, node: ast.AST) -> int:
        # ast gives UTF-8 byte offsets; a message should point at characters.
        byte_offset = getattr(node, "col_offset", 0)
        return len(self.encoded[:byte_offset].decode(errors="ignore"))

    def fail(self, node: ast.AST, reason_zh: str, reason_en: str) -> ExpressionError:
        return ExpressionError(self.offset(node), reason_zh, reason_en)

    def check(self, node: ast.expr) -> Node:
        method = getattr(self, f"check_{type(node).__name__.lower()}", None)
        if method is None:
            shown = ast.get_source_segment(self.text, node) or type(node).__name__
            raise self.fail(
                node,
                f"不支持的写法 `{shown}`（只允许数字、字符串、名称、运算、比较、条件和内置函数）",
                f"`{shown}` is not allowed (numbers, strings, names, operators, comparisons, "
                "conditionals and the built-in functions only)",
            )
        result: Node = method(node)
        return result

    def require(self, node: ast.expr, checked: Node, wanted: str) -> None:
        ok = {
            "numeric": checked.type.numeric,
            "int": checked.type.kind == Kind.INT,
            "bool": checked.type.kind == Kind.BOOL,
            "date": checked.type.kind == Kind.DATE,
        }[wanted]
        if not ok:
            shown = ast.get_source_segment(self.text, node)
            names_zh = {"numeric": "数值", "int": "整数", "bool": "真假值", "date": "日期"}[wanted]
            raise self.fail(
                node,
                f"`{shown}` 的类型是 {checked.type}，这里需要{names_zh}",
                f"`{shown}` is {checked.type}, {wanted} needed here",
            )

    def check_constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool):
            return Constant(value, BOOL)
        if isinstance(value, int):
            return Constant(value, INT)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(node, "数字必须有限", "numbers must be finite")
            return Constant(value, FLOAT)
        if isinstance(value, str):
            return Constant(value, STRING)
        raise self.fail(node, f"不支持的常量 {value!r}", f"constant {value!r} is not allowed")

    def check_names(self, tree: ast.expr) -> None:
        """Every unknown name of the expression at once, each with its nearest known word,
        in the order written (a rule with three misspellings is fixed in one round, not
        three); the error points at the first. Function names are the calls' to check."""
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        names = sorted(
            (
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.Name) and id(node) not in called
            ),
            key=lambda node: (node.lineno, node.col_offset),
        )
        unknown: dict[str, ast.Name] = {}
        for node in names:
            if node.id not in self.scope:
                unknown.setdefault(node.id, node)
        if not unknown:
            return
        shown_zh, shown_en = [], []
        for name in unknown:
            close = difflib.get_close_matches(name, list(self.scope), n=1)
            shown_zh.append(f"`{name}`" + (f"（是否想写 `{close[0]}`？）" if close else ""))
            shown_en.append(f"`{name}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
        first = next(iter(unknown.values()))
        raise self.fail(
            first, f"未声明的名称 {'、'.join(shown_zh)}", f"unknown name {', '.join(shown_en)}"
        )

    def check_name(self, node: ast.Name) -> Node:
        if node.id not in self.scope:
            self.check_names(node)
        return Name(node.id, self.scope[node.id])

    def check_unaryop(self, node: ast.UnaryOp) -> Node:
        operand = self.check(node.operand)
        if isinstance(node.op, ast.Not):
            self.require(node.operand, operand, "bool")
            return Not(operand)
        if isinstance(node.op, ast.USub | ast.UAdd):
            self.require(node.operand, operand, "numeric")
            return Negative(operand, operand.type) if isinstance(node.op, ast.USub) else operand
        raise self.fail(node, "不支持的运算符 ~", "operator ~ is not allowed")

    def check_binop(self, node: ast.BinOp) -> Node:
        operator = ARITHMETIC_OPERATORS.get(type(node.op))
        if operator is None:
            raise self.fail(
                node, "只允许 + - * / // % 运算", "only + - * / // % operators are allowed"
            )
        left, right = self.check(node.left), self.check(node.right)
        self.require(node.left, left, "numeric")
        self.require(node.right, right, "numeric")
        result = FLOAT if operator == "/" else _numeric_result(left.type, right.type)
        return Arithmetic(operator, left, right, result)

    def check_boolop(self, node: ast.BoolOp) -> Node:
        operands = [self.check(value) for value in node.values]
        for value, checked in zip(node.values, operands, strict=True):
            self.require(value, checked, "bool")
        return Logic("and" if isinstance(node.op, ast.And) else "or", operands)

    def check_ifexp(self, node: ast.IfExp) -> Node:
        test, body, orelse = self.check(node.test), self.check(node.body), self.check(node.orelse)
        self.require(node.test, test, "bool")
        if body.type.numeric and orelse.type.numeric:
            return Conditional(test, body, orelse, _numeric_result(body.type, orelse.type))
        if body.type.kind != orelse.type.kind:
            raise self.fail(
                node,
                f"条件两支的类型不同：{body.type} 与 {orelse.type}",
                f"the branches have different types: {body.type} and {orelse.type}",
            )
        return Conditional(test, body, orelse, body.type)

    def check_literal_against(self, node: ast.expr, typed: Node, literal: Any) -> None:
        """A string compared with an enum must be one of its declared values."""
        values = typed.type.values
        if values is not None and isinstance(literal, str) and literal not in values:
            close = difflib.get_close_matches(literal, list(values), n=1)
            hint = f"；是否想写 {close[0]!r}" if close else ""
            hint_en = f"; did you mean {close[0]!r}" if close else ""
            raise self.fail(
                node,
                f"{literal!r} 不是声明过的取值（{', '.join(values)}）{hint}",
                f"{literal!r} is not a declared value ({', '.join(values)}){hint_en}",
            )

    def check_compare(self, node: ast.Compare) -> Node:
        operands_ast = [node.left, *node.comparators]
        operands: list[Node] = []
        pieces: list[Node] = []
        checked_left = self.check(node.left)
        operands.append(checked_left)
        for index, (operator_node, right_ast) in enumerate(
            zip(node.ops, node.comparators, strict=True)
        ):
            left_ast, left = operands_ast[index], operands[index]
            if isinstance(operator_node, ast.In | ast.NotIn):
                options = self.literal_list(right_ast, left)
                for option_node, option in zip(right_ast.elts, options, strict=True):  # type: ignore[attr-defined]
                    self.check_literal_against(option_node, left, option)
                pieces.append(Membership(left, options, isinstance(operator_node, ast.NotIn)))
                operands.append(Constant(options, left.type))
                continue
            operator = COMPARISON_OPERATORS.get(type(operator_node))
            if operator is None:
                raise self.fail(node, "不支持 is / is not", "`is` / `is not` are not allowed")
            right = self.check(right_ast)
            operands.append(right)
            if not left.type.comparable_with(right.type):
                raise self.fail(
                    node,
                    f"不能比较 {left.type} 与 {right.type}",
                    f"cannot compare {left.type} with {right.type}",
                )
            ordered = operator in ("<", "<=", ">", ">=")
            if ordered and not (left.type.numeric or left.type.kind == Kind.DATE):
                raise self.fail(
                    node,
                    f"{left.type} 只能比较相等（== !=）",
                    f"{left.type} values can only be compared with == and !=",
                )
            if isinstance(right, Constant):
                self.check_literal_against(right_ast, left, right.value)
            if isinstance(left, Constant):
                self.check_literal_against(left_ast, right, left.value)
            pieces.append(Comparison([operator], [left, right]))
        if len(pieces) == 1:
            return pieces[0]
        return Logic("and", pieces)

    def literal_list(self, node: ast.expr, left: Node) -> list[Any]:
        if not isinstance(node, ast.List | ast.Tuple) or not node.elts:
            raise self.fail(
                node,
                "in 后面必须是常量列表，如 [1, 2]",
                "`in` must be followed by a list of constants, e.g. [1, 2]",
            )
        values: list[Any] = []
        for element in node.elts:
            checked = self.check(element)
            if isinstance(checked, Negative) and isinstance(checked.operand, Constant):
                checked = Constant(-checked.operand.value, checked.type)
            if not isinstance(checked, Constant):
                raise self.fail(element, "列表里只能写常量", "the list may hold constants only")
            if not left.type.comparable_with(checked.type):
                raise self.fail(
                    element,
                    f"列表里的 {checked.value!r} 与 {left.type} 类型不同",
                    f"{checked.value!r} in the list is not of type {left.type}",
                )
            values.append(checked.value)
        return values

    def check_call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = ast.get_source_segment(self.text, node.func)
            close = difflib.get_close_matches(str(shown), list(FUNCTIONS), n=1)
            hint = f"（是否想写 {close[0]}？）" if close else ""
            hint_en = f" (did you mean {close[0]}?)" if close else ""
            raise self.fail(
                node,
                f"未知函数 {shown}{hint}；可用：{', '.join(FUNCTIONS)}",
                f"unknown function {shown}{hint_en}; available: {', '.join(FUNCTIONS)}",
            )
        function = FUNCTIONS[node.func.id]
        if node.keywords:
            raise self.fail(node, "函数不接受命名参数", "functions take no keyword arguments")
        least, most = function.arity
        count = len(node.args)
        if count < least or (most is not None and count > most):
            wanted = f"{least}" if least == most else f"{least}+" if most is None else ""
            raise self.fail(
                node,
                f"{function.name} 需要 {wanted} 个参数，给了 {count} 个",
                f"{function.name} takes {wanted} arguments, {count} given",
            )
        arguments = [self.check(argument) for argument in node.args]
        for argument_node, argument in zip(node.args, arguments, strict=True):
            self.require(argument_node, argument, function.argument_kind)
        call = Call(function, arguments, function.result([a.type for a in arguments]))
        if function.name == "date" and call.names() <= {AS_OF}:
            # A day written in the rule is checked when the rule is, not on the first row; one
            # that depends on the date alone, in a common and in a leap year (29 February).
            try:
                for year in (2027, 2028):
                    call.evaluate({AS_OF: date(year, 1, 1)})
            except ValueError:
                shown = ast.get_source_segment(self.text, node)
                raise self.fail(
                    node, f"{shown} 不是真实日期", f"{shown} is not a real date"
                ) from None
        return call
