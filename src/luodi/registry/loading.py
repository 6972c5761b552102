"""Bulk load of a city directory (see ``city_files``) into the registry, all or nothing.

Every file is read as text and checked column-wise with Polars; problems are collected across
all files and raised together (file, row, column, value, reason) before anything is written.
Rows then go in through ``luodi.bulk`` (COPY on PostgreSQL), never one ORM object per row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require, require_department
from luodi.errors import FieldProblem
from luodi.kernels.identifiers import (
    check_credit_code,
    check_id_number,
    credit_code_valid,
    invalid_id_number_rows,
)
from luodi.kernels.regions import PROVINCES
from luodi.kernels.text import FORBIDDEN_PATTERN
from luodi.registry import city_files, repository
from luodi.registry.models import (
    RELATION_LABELS,
    Child,
    Employer,
    Employment,
    EmploymentBasis,
    Household,
    PermitStatus,
    Relation,
    ResidencePermit,
    Resident,
    Town,
    TownKind,
)
from luodi.registry.schemas import LoadSummary
from luodi.tabular import (
    LINE,
    MAX_LISTED_PROBLEMS,
    REPORTED_PROBLEMS,
    Problems,
    is_given,
    parse_bool,
    parse_date,
)

ProgressCallback = Callable[[str], None]


def _id_number_problems(
    problems: Problems, file: str, frame: pl.DataFrame, column: str, today: date
) -> None:
    bad_rows = invalid_id_number_rows(frame[column].fill_null(""), today)
    for row in bad_rows.head(problems.limit).to_list():
        value = frame[row, column]
        check = check_id_number(value or "", today)
        problems.add(
            FieldProblem(
                column,
                value,
                check.reason_zh or "必填项为空",
                check.reason_en or "required value missing",
                file=file,
                row=frame[row, LINE],
            )
        )
    problems.total += max(bad_rows.len() - problems.limit, 0)


def _require(problems: Problems, file: str, frame: pl.DataFrame, columns: list[str]) -> None:
    for column in columns:
        problems.flag(
            file, frame, ~is_given(column), column, "必填项为空", "required value missing"
        )


def _duplicates(problems: Problems, file: str, frame: pl.DataFrame, column: str) -> None:
    problems.flag(
        file,
        frame,
        is_given(column) & pl.col(column).is_duplicated(),
        column,
        "文件内重复",
        "duplicated within the file",
    )


def _already_in_database(
    problems: Problems, file: str, frame: pl.DataFrame, column: str, existing: pl.DataFrame
) -> None:
    problems.flag(
        file,
        frame,
        pl.col(column).is_in(existing["key"].implode()),
        column,
        "数据库中已存在",
        "already in the database",
    )


def flag_unknown(
    problems: Problems,
    file: str,
    frame: pl.DataFrame,
    column: str,
    known: pl.Series,
    what_zh: str,
    what_en: str,
) -> None:
    problems.flag(
        file,
        frame,
        is_given(column) & ~pl.col(column).is_in(known.implode()),
        column,
        f"未知的{what_zh}",
        f"unknown {what_en}",
    )


def flag_permit_terms(
    problems: Problems, file: str, frame: pl.DataFrame, issued: pl.Expr, today: date | None
) -> None:
    """A permit's ``expiry_date`` after its issue (``issued``), a known ``status``, and a
    ``status_date`` neither before the issue nor after ``today`` (when given): the checks of
    a first load and of a re-sent permit (``registry.updates``), on typed columns."""
    problems.flag(
        file,
        frame,
        pl.col("expiry_date") <= issued,
        "expiry_date",
        "有效期截止日期必须晚于签发日期",
        "expiry must be after the issue date",
    )
    problems.flag(
        file,
        frame,
        ~pl.col("status").is_in(list(PermitStatus)),
        "status",
        "状态应为 valid / expired / cancelled",
        "status must be valid, expired or cancelled",
    )
    too_late = pl.col("status_date") > today if today is not None else pl.lit(False)
    problems.flag(
        file,
        frame,
        ((pl.col("status_date") < issued) | too_late).fill_null(False),
        "status_date",
        "状态日期不能早于签发日期，也不能晚于今天",
        "the status date must be neither before the issue date nor after today",
    )


def _dates(problems: Problems, file: str, frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    for column in columns:
        problems.flag(
            file,
            frame,
            is_given(column) & parse_date(column).is_null(),
            column,
            "日期格式应为YYYY-MM-DD且为真实日期",
            "date must be a real YYYY-MM-DD date",
        )
    return frame.with_columns(parse_date(column) for column in columns)


def _names(
    problems: Problems, file: str, frame: pl.DataFrame, column: str, max_length: int = 50
) -> None:
    """The checks of ``kernels.text.check_name``, column-wise (blank is ``_require``'s)."""
    problems.flag(
        file,
        frame,
        is_given(column) & pl.col(column).str.contains(FORBIDDEN_PATTERN),
        column,
        "含有不可见的控制字符或方向控制字符",
        "contains an invisible control or bidirectional character",
    )
    problems.flag(
        file,
        frame,
        pl.col(column).str.len_chars() > max_length,
        column,
        f"不能超过 {max_length} 个字符",
        f"must be at most {max_length} characters",
    )


def _town_codes(problems: Problems, file: str, towns: pl.DataFrame, cities: list[str]) -> None:
    """What ``luodi town add`` checks: a known province, a township (not the county itself),
    under the city of the towns already registered (or of the file's first town)."""
    code = pl.col("code")
    problems.flag(
        file,
        towns,
        is_given("code") & ~code.str.contains(r"^(\d{9}|\d{12})$"),
        "code",
        "镇街代码应为9位或12位数字",
        "a town code is 9 or 12 digits",
    )
    problems.flag(
        file,
        towns,
        is_given("code") & ~code.str.slice(0, 2).is_in(list(PROVINCES)),
        "code",
        "省级代码不存在",
        "no province has this code",
    )
    problems.flag(
        file,
        towns,
        code.str.slice(6, 3) == "000",
        "code",
        "第7–9位为000是县级代码，不是乡镇街道",
        "digits 7–9 of 000 name the county itself, not a township",
    )
    given = towns.filter(is_given("code"))
    city = cities or given["code"].str.slice(0, 6).head(1).to_list()
    problems.flag(
        file,
        towns,
        is_given("code") & ~code.str.slice(0, 6).is_in(city),
        "code",
        f"不属于本市（{', '.join(city)}）",
        f"not under this city ({', '.join(city)})",
    )


def _sex_of(id_number_column: str) -> pl.Expr:
    """An odd 17th digit is a man (GB 11643)."""
    odd = pl.col(id_number_column).str.slice(16, 1).cast(pl.Int64) % 2 == 1
    return pl.when(odd).then(pl.lit("male")).otherwise(pl.lit("female"))


def _birth_date_of(id_number_column: str) -> pl.Expr:
    return pl.col(id_number_column).str.slice(6, 8).str.to_date("%Y%m%d")


def _map(frame: pl.DataFrame, column: str, keys: pl.DataFrame, into: str) -> pl.DataFrame:
    """Replace a natural key by the database id it stands for (left join, order kept)."""
    return frame.join(
        keys.rename({"key": column, "id": into}), on=column, how="left", maintain_order="left"
    )


RELATION_SPELLINGS = {
    **{relation.value: relation.value for relation in Relation},
    **{label: relation.value for relation, label in RELATION_LABELS.items()},
}
"""与户主关系 in English or Chinese, as the residents feed accepts it."""


def _relations(
    problems: Problems, file: str, residents: pl.DataFrame, session: Session
) -> pl.DataFrame:
    """``relation_to_head`` in its English spelling; at most one head (户主) and one spouse
    (配偶) per household, counting those the registry holds already."""
    if "relation_to_head" not in residents.columns:
        return residents.with_columns(relation_to_head=pl.lit(None, pl.String))
    if "household_number" not in residents.columns:
        residents = residents.with_columns(household_number=pl.lit(None, pl.String))
    # Only the households of rows that say a relation.
    named = residents.filter(is_given("relation_to_head"))["household_number"].drop_nulls()
    registered = repository.heads_and_spouses(session, named)
    relation = (
        pl.col("relation_to_head")
        .str.to_lowercase()
        .replace_strict(RELATION_SPELLINGS, default=None, return_dtype=pl.String)
    )
    problems.flag(
        file,
        residents,
        is_given("relation_to_head") & relation.is_null(),
        "relation_to_head",
        "与户主关系应为 户主/配偶/子女/父母/兄弟姐妹/其他",
        "relation must be head, spouse, child, parent, sibling or other",
    )
    residents = residents.with_columns(relation_to_head=relation)
    for one, zh, en in ((Relation.HEAD, "户主", "head"), (Relation.SPOUSE, "配偶", "spouse")):
        taken = registered.filter(pl.col("relation_to_head") == one.value)["household_number"]
        problems.flag(
            file,
            residents,
            is_given("household_number")
            & (pl.col("relation_to_head") == one.value)
            & (
                (pl.col("relation_to_head") == one.value).sum().over("household_number").gt(1)
                | pl.col("household_number").is_in(taken.implode())
            ),
            "relation_to_head",
            f"同一家庭只能有一名{zh}",
            f"a household has one {en} at most",
        )
    return residents


def _parents(
    problems: Problems, file: str, children: pl.DataFrame, known_people: pl.Series, today: date
) -> None:
    """A child's parents are the resident who registers it (``id_number``) and the other
    parent or guardian (``second_parent_id_number``), who may live elsewhere and so need not
    be registered; never one person twice, never the child."""
    if "id_number" in children.columns:
        flag_unknown(problems, file, children, "id_number", known_people, "居民", "resident")
    column = "second_parent_id_number"
    if column not in children.columns:
        return
    second = pl.col(column).str.to_uppercase()
    given = children.filter(is_given(column)).with_columns(second)
    _id_number_problems(problems, file, given, column, today)
    if "id_number" in children.columns:
        problems.flag(
            file,
            children,
            is_given(column) & (second == pl.col("id_number").str.to_uppercase()),
            column,
            "另一方父母不能与第一方父母为同一人",
            "the second parent cannot be the first",
        )
    problems.flag(
        file,
        children,
        is_given(column) & (second == pl.col("child_id_number")),
        column,
        "父母不能是子女本人",
        "a parent cannot be the child",
    )


def _optional_bool(problems: Problems, file: str, frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """A true/false column where blank means "not said" (null), not false."""
    if column not in frame.columns:
        return frame.with_columns(pl.lit(None, pl.Boolean).alias(column))
    problems.flag(
        file,
        frame,
        is_given(column) & parse_bool(column).is_null(),
        column,
        "应为 true/false 或 是/否",
        "must be true/false (是/否)",
    )
    return frame.with_columns(pl.when(is_given(column)).then(parse_bool(column)).alias(column))


def _unions(
    problems: Problems, unions: pl.DataFrame | None, known_employers: pl.Series
) -> pl.DataFrame:
    """The 总工会's rows: an employer the registry knows, whether it has a union, since when."""
    schema = {"credit_code": pl.String, "has_union": pl.Boolean, "established_on": pl.Date}
    if unions is None:
        return pl.DataFrame(schema=schema)
    file = city_files.UNIONS
    unions = unions.with_columns(pl.col("credit_code").str.to_uppercase())
    if "established_on" not in unions.columns:
        unions = unions.with_columns(established_on=pl.lit(None, pl.String))
    _require(problems, file, unions, city_files.REQUIRED[file])
    _duplicates(problems, file, unions, "credit_code")
    flag_unknown(problems, file, unions, "credit_code", known_employers, "用人单位", "employer")
    problems.flag(
        file,
        unions,
        is_given("union") & parse_bool("union").is_null(),
        "union",
        "应为 true/false 或 是/否",
        "must be true/false (是/否)",
    )
    unions = _dates(problems, file, unions, ["established_on"])
    return unions.select(
        "credit_code", has_union=parse_bool("union"), established_on="established_on"
    )


def read_registry_files(directory: Path) -> dict[str, pl.DataFrame]:
    """The registry files of a city directory as text frames (``_line`` = the row in the
    file), each read by the feed reader with the feed that registers it (``feeds/*.yaml``:
    encoding, header row and its Chinese spellings, broken rows named); ``towns.csv`` and
    the optional files may be absent."""
    from luodi.feeds import catalog  # feeds build on the registry
    from luodi.feeds.reading import open_source
    from luodi.feeds.spellings import canonical_enums

    specs = {spec.file: spec for spec in catalog.load_feeds().values() if spec.registry}
    optional = [city_files.TOWNS, *city_files.OPTIONAL_REGISTRY_FILES]
    frames: dict[str, pl.DataFrame] = {}
    for name in [*city_files.REGISTRY_FILES, *city_files.OPTIONAL_REGISTRY_FILES]:
        if name in optional and not (directory / name).exists():
            continue
        with open_source(specs[name], directory / name) as source:
            frames[name] = canonical_enums(
                specs[name],
                source.rows.with_columns(pl.col(pl.String).str.strip_chars()).collect(),
            )
    return frames


def load_city(
    actor: Actor,
    session: Session,
    directory: Path,
    today: date | None = None,
    progress: ProgressCallback | None = None,
) -> LoadSummary:
    """Load the registry files of ``directory`` and then its department feeds, in the
    caller's transaction; on any problem raise and write nothing."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    today = today or date.today()
    say = progress or (lambda _message: None)
    registry_files = read_registry_files(directory)
    # Past intakes (optional), checked before anything is written: their towns are the
    # registry's and the directory's own.
    from luodi.forecast import intakes as past_intakes  # the forecast builds on the registry

    directory_towns = registry_files.get(city_files.TOWNS, pl.DataFrame(schema={"code": pl.String}))
    intakes = past_intakes.read_intakes(
        directory,
        pl.concat([repository.town_keys(session)["key"], directory_towns["code"]]),
        today,
    )
    summary = register_frames(
        actor,
        session,
        registry_files,
        today=today,
        progress=say,
        what=(f"导入目录 {directory}", f"loading directory {directory}"),
        listed=REPORTED_PROBLEMS,
    )

    # Department feeds of the same directory (social insurance, education …), each a batch
    # with its provenance, in the same transaction: a bad row undoes the whole load.
    from luodi.facts import repository as facts_repository
    from luodi.feeds import catalog  # feeds build on the registry
    from luodi.feeds import service as feeds_service

    # Read once for every feed (each would otherwise read a million keys again).
    residents = repository.resident_keys(session)
    with facts_repository.bulk_writes(session, 0, first_load=True):
        for spec in catalog.load_feeds().values():
            if spec.file is None or spec.file in [
                *city_files.REGISTRY_FILES,
                *city_files.OPTIONAL_REGISTRY_FILES,
            ]:
                continue
            if not (directory / spec.file).exists():
                continue
            say(f"部门数据 / feed {spec.id}")
            result = feeds_service.import_file(
                actor,
                session,
                spec.id,
                directory / spec.file,
                today=today,
                report=None,
                residents=residents,
            )
            feeds_service.raise_if_rejected(result)
            summary.facts += result.facts_written
    if intakes is not None:
        say(f"往年招生 / past intakes: {intakes.height}")
        summary.school_intakes = past_intakes.write_intakes(session, intakes)
    session.flush()
    audit.record(
        session,
        actor,
        "registry.load",
        "registry_load",
        directory.name,
        after=summary.model_dump(),
    )
    return summary


def require_registrar(actor: Actor, feed_department: str | None = None) -> None:
    """Who writes registry rows in bulk: the service centre; through a department's own feed
    (``feed_department``), whoever may push that feed — its reviewer or token, or an
    administrator —, since the department is the source of what its feed carries (公安局 the
    residence registration and the permits, 教育局 the children …). Audited in their name."""
    if feed_department is None:
        require(actor, Role.ADMIN, Role.OPERATOR)
    else:
        require_department(actor, feed_department)


def register_frames(
    actor: Actor,
    session: Session,
    frames: dict[str, pl.DataFrame],
    *,
    today: date | None = None,
    progress: ProgressCallback | None = None,
    what: tuple[str, str] = ("登记库数据", "registry rows"),
    listed: int = MAX_LISTED_PROBLEMS,
    feed_department: str | None = None,
) -> LoadSummary:
    """Check and write registry rows given as text frames keyed by their city file
    (``city_files``; ``_line`` is the row a problem names). A registry file missing from
    ``frames`` is no rows (towns and the optional files: not given). On any problem raise
    naming file, row, column and reason, and write nothing; ``what`` (zh, en) names the whole
    in the message; ``listed``: how many problems the error lists (the rest are counted);
    ``feed_department``: the rows come from that department's feed (``require_registrar``)."""
    require_registrar(actor, feed_department)
    today = today or date.today()
    say = progress or (lambda _message: None)
    problems = Problems(limit=listed)
    optional = [city_files.TOWNS, *city_files.OPTIONAL_REGISTRY_FILES]
    frames = {
        name: frames[name]
        if name in frames
        else pl.DataFrame(
            schema={LINE: pl.Int64} | dict.fromkeys(city_files.COLUMNS[name], pl.String)
        )
        for name in [*city_files.REGISTRY_FILES, *city_files.OPTIONAL_REGISTRY_FILES]
        if name not in optional or name in frames
    }
    say("校验 / validating")

    # Towns: reference data; a town already known by its code is kept as it is.
    existing_towns = repository.town_keys(session)
    towns = frames.get(city_files.TOWNS, pl.DataFrame(schema={"code": pl.String}))
    if city_files.TOWNS in frames:
        file = city_files.TOWNS
        _require(problems, file, towns, ["code", "name"])
        _town_codes(problems, file, towns, repository.city_prefixes(session))
        _names(problems, file, towns, "name")
        _duplicates(problems, file, towns, "code")
        if "kind" in towns.columns:
            problems.flag(
                file,
                towns,
                is_given("kind") & ~pl.col("kind").is_in(list(TownKind)),
                "kind",
                "类型应为 subdistrict 或 town",
                "kind must be subdistrict or town",
            )
        towns = towns.filter(~pl.col("code").is_in(existing_towns["key"].implode()))
    known_towns = pl.concat([existing_towns["key"], towns["code"]])

    # Residents
    file = city_files.RESIDENTS
    residents = frames[file].with_columns(pl.col("id_number").str.to_uppercase())
    _require(problems, file, residents, ["id_number", "name", "town_code"])
    _names(problems, file, residents, "name")
    _id_number_problems(problems, file, residents, "id_number", today)
    _duplicates(problems, file, residents, "id_number")
    existing_residents = repository.resident_keys(session)
    _already_in_database(problems, file, residents, "id_number", existing_residents)
    flag_unknown(problems, file, residents, "town_code", known_towns, "镇街代码", "town code")
    if "phone" in residents.columns:
        problems.flag(
            file,
            residents,
            is_given("phone") & ~pl.col("phone").str.contains(r"^1\d{10}$"),
            "phone",
            "手机号码应为以1开头的11位数字",
            "a mobile number is 11 digits starting with 1",
        )
    residents = _relations(problems, file, residents, session)
    known_people = pl.concat([existing_residents["key"], residents["id_number"]])

    # Permits
    file = city_files.PERMITS
    permits = frames[file].with_columns(pl.col("id_number").str.to_uppercase())
    _require(problems, file, permits, city_files.REQUIRED[file])
    _duplicates(problems, file, permits, "permit_number")
    _already_in_database(problems, file, permits, "permit_number", repository.permit_keys(session))
    flag_unknown(problems, file, permits, "id_number", known_people, "居民", "resident")
    flag_unknown(problems, file, permits, "town_code", known_towns, "镇街代码", "town code")
    permits = _dates(problems, file, permits, ["issue_date", "expiry_date"])
    if "status" not in permits.columns:
        permits = permits.with_columns(status=pl.lit(None, pl.String))
    permits = permits.with_columns(pl.col("status").fill_null(PermitStatus.VALID.value))
    # The status's date (a cancellation's), optional: the permit time line ends there.
    if "status_date" not in permits.columns:
        permits = permits.with_columns(status_date=pl.lit(None, pl.String))
    permits = _dates(
        problems, file, permits.with_columns(pl.col("status_date").cast(pl.String)), ["status_date"]
    )
    flag_permit_terms(problems, file, permits, pl.col("issue_date"), today)

    # Households come from residents.household_number; children name their household.
    existing_households = repository.household_keys(session)
    if "household_number" not in residents.columns:
        residents = residents.with_columns(household_number=pl.lit(None, pl.String))
    new_households = (
        residents.filter(
            is_given("household_number")
            & ~pl.col("household_number").is_in(existing_households["key"].implode())
        )
        .group_by("household_number", maintain_order=True)
        .agg(pl.col("town_code").first())
    )
    known_households = pl.concat([existing_households["key"], new_households["household_number"]])

    file = city_files.CHILDREN
    children = frames[file].with_columns(pl.col("child_id_number").str.to_uppercase())
    _require(problems, file, children, city_files.REQUIRED[file])
    _names(problems, file, children, "child_name")
    _id_number_problems(problems, file, children, "child_id_number", today)
    _duplicates(problems, file, children, "child_id_number")
    existing_children = repository.child_keys(session)
    _already_in_database(problems, file, children, "child_id_number", existing_children)
    flag_unknown(
        problems, file, children, "household_number", known_households, "家庭编号", "household"
    )
    _parents(problems, file, children, known_people, today)
    for optional in ("id_number", "second_parent_id_number"):
        if optional not in children.columns:
            children = children.with_columns(pl.lit(None, pl.String).alias(optional))
    children = children.with_columns(
        pl.col("id_number", "second_parent_id_number").str.to_uppercase()
    )
    for optional in ("vaccination_certificate", "school_name", "grade"):
        if optional not in children.columns:
            children = children.with_columns(pl.lit(None, pl.String).alias(optional))
    problems.flag(
        file,
        children,
        parse_bool("vaccination_certificate").is_null(),
        "vaccination_certificate",
        "应为 true/false 或 是/否",
        "must be true/false (是/否)",
    )
    grade = pl.col("grade").cast(pl.Int64, strict=False)
    problems.flag(
        file,
        children,
        is_given("grade") & (grade.is_null() | ~grade.is_between(1, 12)),
        "grade",
        "年级应为1至12的整数",
        "grade must be a whole number from 1 to 12",
    )

    # Employers and employment
    file = city_files.EMPLOYERS
    employers = frames[file].with_columns(pl.col("credit_code").str.to_uppercase())
    _require(problems, file, employers, city_files.REQUIRED[file])
    _names(problems, file, employers, "name", 200)
    # Column-wise first; only the codes it refuses get their exact reason, one by one.
    suspect = employers.filter(
        is_given("credit_code") & ~credit_code_valid(pl.col("credit_code").str.strip_chars())
    )
    for line, code in suspect.select(LINE, "credit_code").iter_rows():
        check = check_credit_code(code)
        if not check.valid:
            problems.flag(
                file,
                suspect.filter(pl.col(LINE) == line),
                pl.lit(True),
                "credit_code",
                check.reason_zh,
                check.reason_en,
            )
    _duplicates(problems, file, employers, "credit_code")
    existing_employers = repository.employer_keys(session)
    _already_in_database(problems, file, employers, "credit_code", existing_employers)
    flag_unknown(problems, file, employers, "town_code", known_towns, "镇街代码", "town code")
    known_employers = pl.concat([existing_employers["key"], employers["credit_code"]])

    file = city_files.EMPLOYMENT
    employment = frames[file].with_columns(
        pl.col("id_number").str.to_uppercase(), pl.col("credit_code").str.to_uppercase()
    )
    if "end_date" not in employment.columns:
        employment = employment.with_columns(end_date=pl.lit(None, pl.String))
    _require(problems, file, employment, city_files.REQUIRED[file])
    flag_unknown(problems, file, employment, "id_number", known_people, "居民", "resident")
    flag_unknown(problems, file, employment, "credit_code", known_employers, "用人单位", "employer")
    problems.flag(
        file,
        employment,
        is_given("basis") & ~pl.col("basis").is_in(list(EmploymentBasis)),
        "basis",
        "应为 labour_contract 或 business_licence",
        "must be labour_contract or business_licence",
    )
    employment = _dates(problems, file, employment, ["start_date", "end_date"])
    problems.flag(
        file,
        employment,
        pl.col("end_date") < pl.col("start_date"),
        "end_date",
        "结束日期早于开始日期",
        "ends before it starts",
    )
    employment = _optional_bool(problems, file, employment, "frontline")
    unions = _unions(problems, frames.get(city_files.UNIONS), known_employers)

    problems.raise_if_any(*what)

    # Everything checked: write, assigning ids so that references resolve without lookups.
    summary = LoadSummary()
    say("写入 / writing")
    if towns.height:
        if "kind" not in towns.columns:
            towns = towns.with_columns(kind=pl.lit(None, pl.String))
        town_rows = bulk.with_ids(session, Town.__table__, towns).select(
            "id",
            code="code",
            name="name",
            kind=pl.col("kind").fill_null(TownKind.TOWN.value),
        )
        summary.towns = bulk.insert_frame(session, Town.__table__, town_rows)
    town_keys = repository.town_keys(session)

    household_rows = _map(
        bulk.with_ids(session, Household.__table__, new_households),
        "town_code",
        town_keys,
        "town_id",
    ).select("id", "household_number", "town_id")
    summary.households = bulk.insert_frame(session, Household.__table__, household_rows)
    household_keys = pl.concat(
        [existing_households, household_rows.select("id", key="household_number")]
    )

    # What the ID number says is authoritative for birth date, sex and origin.
    resident_rows = _map(
        _map(
            bulk.with_ids(session, Resident.__table__, residents), "town_code", town_keys, "town_id"
        ),
        "household_number",
        household_keys,
        "household_id",
    ).select(
        "id",
        id_number="id_number",
        name="name",
        sex=_sex_of("id_number"),
        birth_date=_birth_date_of("id_number"),
        origin_region_code=pl.col("id_number").str.slice(0, 6),
        origin_province=pl.col("id_number").str.slice(0, 2).replace_strict(PROVINCES),
        phone=pl.col("phone") if "phone" in residents.columns else pl.lit(None, pl.String),
        town_id="town_id",
        household_id="household_id",
        relation_to_head="relation_to_head",
    )
    summary.residents = bulk.insert_frame(session, Resident.__table__, resident_rows)
    say(f"居民 / residents: {summary.residents}")
    resident_keys = pl.concat([existing_residents, resident_rows.select("id", key="id_number")])
    if resident_rows.height:
        repository.link_second_parents(session)

    permit_rows = _map(
        _map(
            bulk.with_ids(session, ResidencePermit.__table__, permits),
            "id_number",
            resident_keys,
            "resident_id",
        ),
        "town_code",
        town_keys,
        "town_id",
    ).select(
        "id",
        permit_number="permit_number",
        resident_id="resident_id",
        town_id="town_id",
        issue_date="issue_date",
        expiry_date="expiry_date",
        status="status",
        status_date="status_date",
    )
    summary.permits = bulk.insert_frame(session, ResidencePermit.__table__, permit_rows)

    child_rows = _map(
        _map(
            _map(
                bulk.with_ids(session, Child.__table__, children),
                "household_number",
                household_keys,
                "household_id",
            ),
            "id_number",
            resident_keys,
            "parent_id",
        ),
        "second_parent_id_number",
        resident_keys,
        "second_parent_id",
    ).select(
        "id",
        household_id="household_id",
        id_number="child_id_number",
        name="child_name",
        sex=_sex_of("child_id_number"),
        birth_date=_birth_date_of("child_id_number"),
        parent_id="parent_id",
        second_parent_id_number=pl.when(is_given("second_parent_id_number")).then(
            pl.col("second_parent_id_number")
        ),
        second_parent_id="second_parent_id",
        vaccination_certificate=parse_bool("vaccination_certificate"),
        school_name=pl.when(is_given("school_name")).then(pl.col("school_name")),
        grade=pl.col("grade").cast(pl.Int64, strict=False),
    )
    summary.children = bulk.insert_frame(session, Child.__table__, child_rows)

    # The per-town counts, in the same transaction as the rows they count.
    repository.adjust_counts(
        session,
        residents=resident_rows.group_by("town_id").len("n"),
        children=child_rows.join(repository.household_towns(session), on="household_id", how="left")
        .group_by("town_id")
        .len("n"),
        permits=permit_rows.filter(pl.col("status") == PermitStatus.VALID.value)
        .group_by("town_id", "expiry_date")
        .len("n"),
    )

    employer_rows = _map(
        bulk.with_ids(session, Employer.__table__, employers), "town_code", town_keys, "town_id"
    ).select(
        "id",
        credit_code="credit_code",
        name="name",
        town_id="town_id",
    )
    summary.employers = bulk.insert_frame(session, Employer.__table__, employer_rows)
    employer_keys = pl.concat([existing_employers, employer_rows.select("id", key="credit_code")])

    employment_rows = _map(
        _map(
            bulk.with_ids(session, Employment.__table__, employment),
            "id_number",
            resident_keys,
            "resident_id",
        ),
        "credit_code",
        employer_keys,
        "employer_id",
    ).select(
        "id",
        resident_id="resident_id",
        employer_id="employer_id",
        basis="basis",
        start_date="start_date",
        end_date="end_date",
        frontline="frontline",
    )
    summary.employments = bulk.insert_frame(session, Employment.__table__, employment_rows)
    repository.replace_unions(session, _map(unions, "credit_code", employer_keys, "employer_id"))
    session.flush()
    return summary
