"""What an application may say, per program: a Pydantic model generated from the program's
declared fields, with ``extra="forbid"`` (an undeclared key is refused, naming the key).

Identity, household, points and priority group never come from a request: the applicant is
the signed-in resident (or, for the service centre's bulk route, the ID number the record
names, looked up in the registry); the child must be in the applicant's household in the
registry; the household's size is counted from the registry; points come from the scoring
run; groups are computed from fields, and a field that decides a group is set by the
department (``set_by: department``), never by the applicant.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from luodi.programs.spec import ApplicationField, ProgramKind, ProgramSpec
from luodi.tabular import FALSE_WORDS, TRUE_WORDS

ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"
MAX_TEXT = 200


def _id_number(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


IdNumber = Annotated[
    str,
    BeforeValidator(_id_number),
    Field(pattern=ID_NUMBER_PATTERN, description="18 位公民身份号码 / citizen ID number"),
]


def _choices(value: Any) -> Any:
    """A list of target ids, or the file form ``a;b;c`` (full-width ``；`` too)."""
    if isinstance(value, str):
        return [part.strip() for part in re.split("[;；]", value) if part.strip()]
    return value


Choices = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    BeforeValidator(_choices),
    Field(min_length=1, max_length=20),
]


def _enum_validator(field: ApplicationField) -> Any:
    values = field.values or {}
    by_label = {label: key for key, label in values.items()}

    def check(value: Any) -> Any:
        if value is None or value == "":
            return field.default
        text = str(value).strip() if isinstance(value, str | int) else value
        if text in values:
            return text
        if text in by_label:
            return by_label[text]
        raise ValueError(f"应为 {'、'.join(values.values())} 之一 / one of {', '.join(values)}")

    return check


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
    raise ValueError("应为 是/否 / must be yes or no")


def _blank_is_default(default: Any) -> Any:
    def check(value: Any) -> Any:
        return default if value is None or value == "" else value

    return check


def _annotation(field: ApplicationField) -> Any:
    """The field's type; a blank value (missing, None, "") means the declared default."""
    if field.type == "enum":
        inner: Any = Annotated[str, BeforeValidator(_enum_validator(field))]
    elif field.type == "bool":
        inner = Annotated[bool, BeforeValidator(_bool)]
    elif field.type == "int":
        inner = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
    elif field.type == "float":
        inner = Annotated[float, Field(allow_inf_nan=False)]
    else:
        inner = Annotated[str, Field(max_length=MAX_TEXT)]
    return Annotated[Optional[inner], BeforeValidator(_blank_is_default(field.default))]  # noqa: UP045


def _record_fields(spec: ProgramSpec, on_behalf: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if on_behalf:
        fields["id_number"] = (IdNumber, ...)
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        fields["child_id_number"] = (IdNumber, ...)
    if spec.kind in (ProgramKind.SCHOOL_ADMISSION, ProgramKind.PUBLIC_HOUSING):
        fields["choices"] = (Choices, ...)
    for name, field in spec.fields.items():
        if field.set_by == "department" and not on_behalf:
            continue
        fields[name] = (_annotation(field), field.default)
    return fields


_models: dict[tuple[str, bool, bool], type[BaseModel]] = {}


def _built(spec: ProgramSpec, on_behalf: bool, fields_only: bool) -> type[BaseModel]:
    key = (spec.model_dump_json(), on_behalf, fields_only)
    if key not in _models:
        fields = _record_fields(spec, on_behalf)
        if fields_only:
            fields = {name: value for name, value in fields.items() if name in spec.fields}
        suffix = ("bulk" if on_behalf else "own") + ("_fields" if fields_only else "")
        _models[key] = create_model(
            f"Application_{spec.id.replace('-', '_')}_{suffix}",
            __config__=ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True),
            **fields,
        )
    return _models[key]


def record_model(spec: ProgramSpec, on_behalf: bool) -> type[BaseModel]:
    """The record of one application: ``on_behalf`` for the service centre's bulk route
    (``id_number`` names the applicant; department-set fields allowed), else a resident's own
    application (no ``id_number``: the applicant is the signed-in resident). Built once per
    program text."""
    return _built(spec, on_behalf, fields_only=False)


def fields_model(spec: ProgramSpec, on_behalf: bool) -> type[BaseModel]:
    """The program's own fields alone (a correction of an application's fields)."""
    return _built(spec, on_behalf, fields_only=True)


def record_keys(spec: ProgramSpec, on_behalf: bool) -> list[str]:
    return list(_record_fields(spec, on_behalf))
