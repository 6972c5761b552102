"""The policy document: YAML text → a checked ``Policy``, or every mistake with its line.

The YAML is composed into nodes (which remember their line and column) and read by hand, so
that every message can point at the exact place; expressions are checked against the declared
inputs here, once, when the policy is loaded. The format is documented in docs/policy.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from luodi.kernels.policy.expressions import (
    BOOL,
    DATE,
    FLOAT,
    INT,
    STRING,
    ExpressionError,
    Kind,
    Node,
    ValueType,
    parse_expression,
    reserved_name,
)
from luodi.kernels.policy.problems import PolicyError, PolicyProblem

INDICATOR_KINDS = ("basic", "bonus", "deduction")
KIND_LABELS = {
    "basic": ("基础分", "basic"),
    "bonus": ("加分", "bonus"),
    "deduction": ("减分", "deduction"),
}
RESERVED_COLUMNS = frozenset({"resident_id", "total"})
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_TESTS = 2_000
"""Test cases one policy or program document may hold: a document's cases are the edges of
its rules, a few dozen; 20,000 are not its tests, and kept ``make test`` busy for minutes."""


def _day_or_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    """A YAML date, or the text as written when that day does not exist (2026-02-30):
    PyYAML's own constructor raises a bare ValueError there, with no place; as text, the
    document's reader refuses it with its key, line and reason."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


class DocumentLoader(yaml.SafeLoader):
    """The safe loader, an impossible day kept as text (``_day_or_text``)."""


class CDocumentLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same with libyaml's parser where installed (the same nodes, several times
    faster)."""


for _loader in (DocumentLoader, CDocumentLoader):
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _day_or_text)


def yaml_loader(text: str) -> yaml.SafeLoader:
    """The loader policy and program documents are read with (``DocumentLoader``)."""
    loader: yaml.SafeLoader = (
        CDocumentLoader(text) if yaml.__with_libyaml__ else DocumentLoader(text)
    )
    return loader


def load_yaml(text: str) -> Any:
    """A whole YAML document as Python values, read as ``yaml_loader`` reads it."""
    return yaml.load(text, Loader=CDocumentLoader if yaml.__with_libyaml__ else DocumentLoader)


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def both(self) -> str:
        return self.zh if self.zh == self.en else f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: ValueType
    default: Any = None
    has_default: bool = False
    label: Text | None = None

    @property
    def required(self) -> bool:
        return not self.has_default


@dataclass(frozen=True)
class Derived:
    name: str
    text: str
    expression: Node


@dataclass(frozen=True)
class Table:
    input: str
    values: dict[Any, float]
    default: float

    def describe(self) -> str:
        lines = ", ".join(f"{key}: {points:g}" for key, points in self.values.items())
        return f"{self.input} → {{{lines}}}, 其他 otherwise {self.default:g}"


@dataclass(frozen=True)
class Indicator:
    id: str
    kind: str
    label: Text
    evidence: str | None
    formula_text: str | None
    formula: Node | None
    table: Table | None
    cap: float | None
    source: str | None = None

    @property
    def sign(self) -> int:
        return -1 if self.kind == "deduction" else 1

    def rule(self) -> str:
        if self.table is not None:
            return self.table.describe()
        return self.formula_text or ""

    def names(self) -> set[str]:
        if self.table is not None:
            return {self.table.input}
        assert self.formula is not None
        return self.formula.names()


@dataclass(frozen=True)
class Group:
    id: str
    indicators: tuple[str, ...]
    combine: str  # "sum" | "max"
    cap: float | None
    label: Text | None = None


@dataclass(frozen=True)
class PolicyTest:
    name: str
    as_of: date
    inputs: dict[str, Any]
    expect: dict[str, float]
    line: int | None = None


@dataclass(frozen=True)
class Policy:
    id: str
    name: Text
    version: str
    effective_from: date
    effective_to: date | None
    inputs: dict[str, InputSpec]
    derived: list[Derived]
    indicators: list[Indicator]
    groups: list[Group]
    total_floor: float | None
    tests: list[PolicyTest]
    text: str = field(repr=False)
    source: str | None = None

    @property
    def digest(self) -> str:
        """SHA-256 of the document text: what a stored scoring run was computed with."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def indicator_ids(self) -> list[str]:
        return [indicator.id for indicator in self.indicators]


# ----------------------------------------------------------------------------- YAML with places


class _Place:
    """A YAML node with the path to it, for messages that point at the right line."""

    def __init__(self, node: yaml.Node, path: str, reader: _Reader) -> None:
        self.node = node
        self.path = path
        self.reader = reader

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    @property
    def column(self) -> int:
        return int(self.node.start_mark.column) + 1

    def value(self) -> Any:
        return self.reader.loader.construct_object(self.node, deep=True)

    def problem(
        self, reason_zh: str, reason_en: str, *, text: str | None = None, offset: int = 0
    ) -> PolicyProblem:
        column = self.column
        if isinstance(self.node, yaml.ScalarNode):
            # Point into the text: after an opening quote, at the offending character.
            column += (1 if self.node.style in ("'", '"') else 0) + offset
        if text is None and isinstance(self.node, yaml.ScalarNode):
            text = str(self.node.value)
        return PolicyProblem(
            self.path, reason_zh, reason_en, self.reader.file, self.line, column, text
        )

    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    def mapping(self) -> dict[str, _Place]:
        if not isinstance(self.node, yaml.MappingNode):
            raise _Stop(
                self.problem("这里应是映射（键: 值）", "a mapping (key: value) is expected")
            )
        entries: dict[str, _Place] = {}
        for key_node, value_node in self.node.value:
            key = str(key_node.value)
            if key in entries:
                raise _Stop(
                    _Place(key_node, f"{self.path}.{key}", self.reader).problem(
                        f"重复的键 {key}", f"duplicate key {key}"
                    )
                )
            entries[key] = _Place(value_node, f"{self.path}.{key}".lstrip("."), self.reader)
        return entries

    def sequence(self) -> list[_Place]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise _Stop(self.problem("这里应是列表", "a list is expected"))
        return [
            _Place(item, f"{self.path}[{index}]", self.reader)
            for index, item in enumerate(self.node.value)
        ]


class _Skip(Exception):
    """A part that depends on a part already reported as broken: say nothing more."""


class _Stop(Exception):
    """A problem after which the rest of that part cannot be read."""

    def __init__(self, problem: PolicyProblem) -> None:
        self.problem = problem


@dataclass
class _Reader:
    loader: yaml.SafeLoader | yaml.CSafeLoader
    file: str | None
    problems: list[PolicyProblem] = field(default_factory=list)

    def add(self, problem: PolicyProblem) -> None:
        self.problems.append(problem)


def _id_of(place: _Place) -> str:
    """The ``id`` written in an item that failed to load, if one can be read."""
    if isinstance(place.node, yaml.MappingNode):
        for key_node, value_node in place.node.value:
            if key_node.value == "id" and isinstance(value_node, yaml.ScalarNode):
                return str(value_node.value)
    return ""


def _known_keys(place: _Place, entries: dict[str, _Place], allowed: set[str]) -> None:
    for key, entry in entries.items():
        if key not in allowed:
            raise _Stop(
                entry.problem(
                    f"未知的键 {key}（可用：{', '.join(sorted(allowed))}）",
                    f"unknown key {key} (allowed: {', '.join(sorted(allowed))})",
                    text=key,
                )
            )


def _required(place: _Place, entries: dict[str, _Place], key: str) -> _Place:
    if key not in entries:
        raise _Stop(place.problem(f"缺少 {key}", f"{key} is missing", text=None))
    return entries[key]


def _string(place: _Place) -> str:
    value = place.value()
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise _Stop(place.problem("这里应是文字", "text is expected"))
    return str(value)


def _identifier(place: _Place, what_zh: str, what_en: str) -> str:
    name = _string(place)
    if not IDENTIFIER.match(name) or reserved_name(name):
        raise _Stop(
            place.problem(
                f"{what_zh}必须是英文标识符（字母、数字、下划线，不能是保留字或函数名）",
                f"{what_en} must be an identifier (letters, digits, _; not a keyword or function)",
            )
        )
    return name


def _number(place: _Place, *, minimum: float | None = None) -> float:
    value = place.value()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Stop(place.problem("这里应是数字", "a number is expected"))
    if minimum is not None and value < minimum:
        raise _Stop(place.problem(f"不能小于 {minimum:g}", f"must not be below {minimum:g}"))
    return float(value)


def _date(place: _Place, *, nullable: bool = False) -> date | None:
    value = place.value()
    if value is None and nullable:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            if DAY.match(value):
                raise _Stop(place.problem("日历上没有这一天", f"no such day ({error})")) from None
    raise _Stop(place.problem("这里应是日期 YYYY-MM-DD", "a date YYYY-MM-DD is expected"))


def _text(place: _Place) -> Text:
    if place.is_mapping():
        entries = place.mapping()
        _known_keys(place, entries, {"zh", "en"})
        zh = _string(_required(place, entries, "zh"))
        en = _string(entries["en"]) if "en" in entries else zh
        return Text(zh, en)
    text = _string(place)
    return Text(text, text)


def _expression(place: _Place, scope: dict[str, ValueType]) -> tuple[str, Node]:
    text = _string(place)
    try:
        return text, parse_expression(text, scope)
    except ExpressionError as error:
        leading = len(text) - len(text.lstrip())
        raise _Stop(
            place.problem(error.reason_zh, error.reason_en, offset=leading + error.offset)
        ) from None


# ----------------------------------------------------------------------------- sections

TYPE_NAMES = {
    "int": INT,
    "float": FLOAT,
    "bool": BOOL,
    "date": DATE,
    "string": STRING,
}


def typed_value(value: Any, value_type: ValueType) -> Any:
    """A YAML value as ``value_type``; ValueError with a reason if it is not one."""
    kind = value_type.kind
    if kind == Kind.BOOL:
        if isinstance(value, bool):
            return value
    elif kind == Kind.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == Kind.FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind == Kind.DATE:
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            return date.fromisoformat(value)
    elif kind == Kind.ENUM:
        if value_type.values is not None and str(value) in value_type.values:
            return str(value)
        raise ValueError(f"not one of {', '.join(value_type.values or ())}")
    elif kind == Kind.STRING and isinstance(value, str | int | float) and value is not None:
        return str(value)
    raise ValueError(f"not a {kind.value}")


def _input(name: str, place: _Place) -> InputSpec:
    entries = place.mapping()
    _known_keys(place, entries, {"type", "values", "default", "label"})
    type_name = _string(_required(place, entries, "type"))
    if type_name == "enum":
        values_place = _required(place, entries, "values")
        values = tuple(_string(item) for item in values_place.sequence())
        if not values or len(set(values)) != len(values):
            raise _Stop(
                values_place.problem(
                    "枚举取值不能为空或重复", "enum values must be non-empty and distinct"
                )
            )
        value_type = ValueType(Kind.ENUM, values)
    elif type_name in TYPE_NAMES:
        value_type = TYPE_NAMES[type_name]
    else:
        raise _Stop(
            entries["type"].problem(
                f"未知类型 {type_name}（可用：int float bool date string enum）",
                f"unknown type {type_name} (int float bool date string enum)",
            )
        )
    label = _text(entries["label"]) if "label" in entries else None
    if "default" not in entries:
        return InputSpec(name, value_type, label=label)
    try:
        default = typed_value(entries["default"].value(), value_type)
    except ValueError as error:
        raise _Stop(
            entries["default"].problem(
                f"默认值不是 {type_name}", f"the default is not a {type_name}: {error}"
            )
        ) from None
    return InputSpec(name, value_type, default, True, label)


def _table(place: _Place, scope: dict[str, ValueType]) -> Table:
    entries = place.mapping()
    _known_keys(place, entries, {"input", "values", "default"})
    input_place = _required(place, entries, "input")
    name = _string(input_place)
    if name not in scope:
        raise _Stop(input_place.problem(f"未声明的名称 {name}", f"unknown name {name}"))
    value_type = scope[name]
    if value_type.kind in (Kind.DATE, Kind.FLOAT):
        raise _Stop(
            input_place.problem(
                "查表只能按枚举、文字、整数或真假值", "a table looks up enum, string, int or bool"
            )
        )
    values: dict[Any, float] = {}
    values_place = _required(place, entries, "values")
    if not isinstance(values_place.node, yaml.MappingNode):
        raise _Stop(values_place.problem("这里应是映射（键: 值）", "a mapping is expected"))
    for key_node, value_node in values_place.node.value:
        key_place = _Place(key_node, f"{values_place.path}.{key_node.value}", place.reader)
        try:
            key = typed_value(key_place.value(), value_type)
        except ValueError as error:
            raise _Stop(
                key_place.problem(
                    f"{key_node.value} 不是 {name} 的取值", f"{key_node.value} is {error}"
                )
            ) from None
        if key in values:
            raise _Stop(key_place.problem(f"重复的键 {key}", f"duplicate key {key}"))
        values[key] = _number(_Place(value_node, key_place.path, place.reader), minimum=0)
    default = _number(entries["default"], minimum=0) if "default" in entries else 0.0
    return Table(name, values, default)


def _indicator(place: _Place, scope: dict[str, ValueType]) -> Indicator:
    entries = place.mapping()
    _known_keys(
        place,
        entries,
        {"id", "kind", "label", "evidence", "formula", "table", "cap", "source"},
    )
    indicator_id = _identifier(_required(place, entries, "id"), "指标 id ", "an indicator id ")
    kind_place = _required(place, entries, "kind")
    kind = _string(kind_place)
    if kind not in INDICATOR_KINDS:
        raise _Stop(
            kind_place.problem(
                "kind 只能是 basic（基础分）、bonus（加分）或 deduction（减分）",
                "kind must be basic, bonus or deduction",
            )
        )
    label = _text(_required(place, entries, "label"))
    if ("formula" in entries) == ("table" in entries):
        raise _Stop(
            place.problem(
                "formula 与 table 必须二选一", "give exactly one of formula and table", text=None
            )
        )
    formula_text, formula, table = None, None, None
    if "formula" in entries:
        formula_text, formula = _expression(entries["formula"], scope)
        if not formula.type.numeric:
            raise _Stop(
                entries["formula"].problem(
                    f"公式的结果是 {formula.type}，应是数值（真假值请写 `10 if x else 0`）",
                    f"the formula gives {formula.type}, a number is needed "
                    "(for a condition write `10 if x else 0`)",
                )
            )
    else:
        table = _table(entries["table"], scope)
    cap = _number(entries["cap"], minimum=0) if "cap" in entries else None
    evidence = _string(entries["evidence"]) if "evidence" in entries else None
    source = _string(entries["source"]) if "source" in entries else None
    return Indicator(indicator_id, kind, label, evidence, formula_text, formula, table, cap, source)


def _group(place: _Place, indicators: dict[str, Indicator], broken: set[str]) -> Group:
    entries = place.mapping()
    _known_keys(place, entries, {"id", "indicators", "cap", "combine", "label"})
    group_id = _identifier(_required(place, entries, "id"), "分组 id ", "a group id ")
    members: list[str] = []
    for member_place in _required(place, entries, "indicators").sequence():
        member = _string(member_place)
        if member in broken:
            raise _Skip
        if member not in indicators:
            raise _Stop(member_place.problem(f"没有指标 {member}", f"no indicator {member}"))
        if member in members:
            raise _Stop(member_place.problem(f"{member} 重复", f"{member} listed twice"))
        members.append(member)
    if not members:
        raise _Stop(place.problem("分组不能为空", "a group needs indicators", text=None))
    kinds = {indicators[member].kind == "deduction" for member in members}
    if len(kinds) > 1:
        raise _Stop(
            entries["indicators"].problem(
                "减分指标不能和加分、基础分指标同组",
                "a group cannot mix deductions with basic or bonus indicators",
                text=None,
            )
        )
    combine = _string(entries["combine"]) if "combine" in entries else "sum"
    if combine not in ("sum", "max"):
        raise _Stop(entries["combine"].problem("combine 只能是 sum 或 max", "combine: sum or max"))
    cap = _number(entries["cap"], minimum=0) if "cap" in entries else None
    if combine == "sum" and cap is None:
        raise _Stop(
            place.problem(
                "分组需要 cap（封顶）或 combine: max（取最高）",
                "a group needs a cap or combine: max",
                text=None,
            )
        )
    label = _text(entries["label"]) if "label" in entries else None
    # Members keep the policy's order: that order decides ties and which line a cap trims.
    order = list(indicators)
    return Group(group_id, tuple(sorted(members, key=order.index)), combine, cap, label)


def _test(
    place: _Place, policy_inputs: dict[str, InputSpec], indicator_ids: list[str]
) -> PolicyTest:
    entries = place.mapping()
    _known_keys(place, entries, {"name", "as_of", "inputs", "expect"})
    name = _string(_required(place, entries, "name"))
    as_of = _date(_required(place, entries, "as_of"))
    assert as_of is not None
    inputs: dict[str, Any] = {}
    inputs_place = _required(place, entries, "inputs")
    for key, value_place in inputs_place.mapping().items():
        if key not in policy_inputs:
            raise _Stop(value_place.problem(f"未声明的输入 {key}", f"undeclared input {key}"))
        spec = policy_inputs[key]
        try:
            inputs[key] = typed_value(value_place.value(), spec.type)
        except ValueError as error:
            raise _Stop(
                value_place.problem(f"{key} 的值不是 {spec.type}", f"{key}: {error}")
            ) from None
    missing = [name for name, spec in policy_inputs.items() if spec.required and name not in inputs]
    if missing:
        raise _Stop(
            inputs_place.problem(
                f"缺少必填输入：{', '.join(missing)}",
                f"required inputs missing: {', '.join(missing)}",
                text=None,
            )
        )
    expect: dict[str, float] = {}
    for key, value_place in _required(place, entries, "expect").mapping().items():
        if key != "total" and key not in indicator_ids:
            raise _Stop(
                value_place.problem(
                    f"{key} 既不是 total 也不是指标", f"{key} is neither total nor an indicator"
                )
            )
        expect[key] = _number(value_place)
    return PolicyTest(name, as_of, inputs, expect, place.line)


def load_policy(text: str, file: str | None = None) -> Policy:
    """Parse and check a policy document; PolicyError lists every problem found."""
    # libyaml's parser where installed (the same nodes and marks, several times faster: a
    # policy is parsed by every command that scores or allocates).
    loader = yaml_loader(text)
    reader = _Reader(loader, file)
    try:
        root_node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise PolicyError(
            [
                PolicyProblem(
                    "",
                    f"YAML 格式错误：{error.problem}",
                    f"YAML syntax error: {error.problem}",
                    file,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                )
            ]
        ) from None
    finally:
        loader.dispose()
    if root_node is None:
        raise PolicyError([PolicyProblem("", "文件是空的", "the document is empty", file)])
    root = _Place(root_node, "", reader)
    try:
        return _policy(root, reader, text, file)
    except _Stop as stop:
        reader.add(stop.problem)
    raise PolicyError(reader.problems)


def _policy(root: _Place, reader: _Reader, text: str, file: str | None) -> Policy:
    entries = root.mapping()
    _known_keys(
        root,
        entries,
        {
            "id",
            "name",
            "version",
            "effective_from",
            "effective_to",
            "inputs",
            "derived",
            "indicators",
            "groups",
            "total_floor",
            "tests",
            "description",
        },
    )
    policy_id = _string(_required(root, entries, "id"))
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", policy_id):
        reader.add(
            entries["id"].problem(
                "id 只能用字母、数字、点、横线、下划线", "id: letters, digits, . - _ only"
            )
        )
    name = _text(_required(root, entries, "name"))
    version = _string(_required(root, entries, "version"))
    effective_from = _date(_required(root, entries, "effective_from"))
    assert effective_from is not None
    effective_to = (
        _date(entries["effective_to"], nullable=True) if "effective_to" in entries else None
    )
    if effective_to is not None and effective_to < effective_from:
        reader.add(
            entries["effective_to"].problem(
                "失效日期早于生效日期", "effective_to is before effective_from"
            )
        )

    inputs: dict[str, InputSpec] = {}
    for name_key, place in _required(root, entries, "inputs").mapping().items():
        try:
            if not IDENTIFIER.match(name_key) or reserved_name(name_key):
                raise _Stop(
                    place.problem(
                        f"输入名 {name_key} 必须是英文标识符，且不能是保留字或函数名",
                        f"input name {name_key} must be an identifier, not a keyword or function",
                        text=name_key,
                    )
                )
            if name_key in RESERVED_COLUMNS:
                raise _Stop(
                    place.problem(f"{name_key} 是保留名", f"{name_key} is reserved", text=name_key)
                )
            inputs[name_key] = _input(name_key, place)
        except _Stop as stop:
            reader.add(stop.problem)

    scope: dict[str, ValueType] = {name: spec.type for name, spec in inputs.items()}
    derived: list[Derived] = []
    if "derived" in entries:
        for derived_name, place in entries["derived"].mapping().items():
            try:
                if derived_name in scope or not IDENTIFIER.match(derived_name):
                    raise _Stop(
                        place.problem(
                            f"派生名 {derived_name} 无效或与输入重名",
                            f"derived name {derived_name} is invalid or already used",
                            text=derived_name,
                        )
                    )
                if reserved_name(derived_name):
                    raise _Stop(
                        place.problem(f"{derived_name} 是保留名", f"{derived_name} is reserved")
                    )
                expression_text, expression = _expression(place, scope)
                derived.append(Derived(derived_name, expression_text, expression))
                scope[derived_name] = expression.type
            except _Stop as stop:
                reader.add(stop.problem)

    indicators: dict[str, Indicator] = {}
    broken: set[str] = set()
    indicator_places = _required(root, entries, "indicators").sequence()
    if not indicator_places:
        reader.add(entries["indicators"].problem("至少需要一个指标", "at least one indicator"))
    for place in indicator_places:
        try:
            indicator = _indicator(place, scope)
            if indicator.id in indicators or indicator.id in RESERVED_COLUMNS:
                raise _Stop(
                    place.problem(
                        f"指标 id {indicator.id} 重复或保留",
                        f"indicator id {indicator.id} is a duplicate or reserved",
                        text=None,
                    )
                )
            indicators[indicator.id] = indicator
        except _Stop as stop:
            reader.add(stop.problem)
            broken.add(_id_of(place))

    groups: list[Group] = []
    if "groups" in entries:
        for place in entries["groups"].sequence():
            try:
                group = _group(place, indicators, broken)
                if any(existing.id == group.id for existing in groups):
                    raise _Stop(place.problem(f"分组 {group.id} 重复", "duplicate group id"))
                groups.append(group)
            except _Stop as stop:
                reader.add(stop.problem)
            except _Skip:
                continue

    total_floor = None
    if "total_floor" in entries and entries["total_floor"].value() is not None:
        try:
            total_floor = _number(entries["total_floor"])
        except _Stop as stop:
            reader.add(stop.problem)

    tests: list[PolicyTest] = []
    if "tests" in entries and not reader.problems:
        cases = entries["tests"].sequence()
        if len(cases) > MAX_TESTS:
            raise PolicyError(
                [
                    entries["tests"].problem(
                        f"{len(cases):,} 个测试用例，一个文件最多 {MAX_TESTS:,} 个",
                        f"{len(cases):,} test cases, at most {MAX_TESTS:,} in one document",
                    )
                ]
            )
        for place in cases:
            try:
                tests.append(_test(place, inputs, list(indicators)))
            except _Stop as stop:
                reader.add(stop.problem)

    if reader.problems:
        raise PolicyError(reader.problems)
    return Policy(
        policy_id,
        name,
        version,
        effective_from,
        effective_to,
        inputs,
        derived,
        list(indicators.values()),
        groups,
        total_floor,
        tests,
        text,
        file,
    )
