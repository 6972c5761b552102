"""Importing a feed's file or pushed records: check every row, then write all or nothing.

The rows stream from the source through the checks into a temporary Parquet file (Polars'
streaming engine), so a file larger than memory works; the refused rows are read back from
it for the report. A registering feed (residents, permits …) hands its accepted rows to the
registry as a frame (``registry.service.register_frames``, the registry's own checks); the
facts are written in slices through ``facts.repository`` (COPY on PostgreSQL) and supersede
the current facts of earlier batches with the same record key in one statement. Everything
is written in the caller's transaction: the CLI and the API commit once at the end, so an
interrupted import (kill -9 included) leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as, require, require_department
from luodi.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from luodi.facts import repository as facts_repository
from luodi.feeds import catalog, repository
from luodi.feeds.models import FeedBatch
from luodi.feeds.reading import SourceTable, open_source
from luodi.feeds.schemas import ImportResult, ImportStatus, Rejection
from luodi.kernels.feeds.checks import (
    LINE,
    REFERENCE_KEY,
    RESIDENT,
    CheckedRows,
    accepted,
    check_rows,
    facts_of,
    rejections,
)
from luodi.kernels.feeds.spec import (
    ColumnType,
    FeedSpec,
    Reference,
    RegistryTable,
    UnknownPerson,
    normalise_header,
)
from luodi.kernels.masking import mask_id_number
from luodi.registry import city_files
from luodi.registry import repository as registry_repository
from luodi.registry import service as registry_service
from luodi.registry import updates as registry_updates
from luodi.tabular import without_formulas

WRITE_SLICE_ROWS = 250_000
LISTED_REJECTIONS = 200
"""Rejections listed in a result (CLI, API); the report file has every one."""

Progress = Callable[[str, int, int], None]
"""(phase, done, total): total 0 when unknown."""


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


def _known_keys(session: Session, reference: Reference) -> pl.LazyFrame:
    if reference == Reference.PERMITS:
        # Whose each permit is, so that an endorsement of someone else's permit is refused.
        return registry_repository.permit_owners(session).lazy()
    frame = (
        registry_repository.town_keys(session)
        if reference == Reference.TOWNS
        else registry_repository.employer_keys(session)
    )
    return frame.select(pl.col("key").alias(REFERENCE_KEY)).lazy()


def _residents(session: Session, known: pl.DataFrame | None = None) -> pl.LazyFrame:
    """ID number → resident id, as ``check_rows`` wants it; ``known`` (the registry's
    ``resident_keys``) when the caller has just read them (``luodi load``: once, not per feed)."""
    return (
        (registry_repository.resident_keys(session) if known is None else known)
        .select(pl.col("key").alias(REFERENCE_KEY), pl.col("id").cast(pl.Int64).alias(RESIDENT))
        .lazy()
    )


def _masked(spec: FeedSpec, column: str, value: str | None) -> str | None:
    kind = spec.columns[column].type if column in spec.columns else None
    if value and kind == ColumnType.ID_NUMBER:
        return mask_id_number(value)
    return value


def _masked_frame(spec: FeedSpec, refused: pl.DataFrame) -> pl.DataFrame:
    """Refused values with ID numbers masked, as the terminal and the registry's rows show
    them (a report is copied and mailed about; the row number finds the line)."""
    personal = [
        name for name, column in spec.columns.items() if column.type == ColumnType.ID_NUMBER
    ]
    if refused.height == 0 or not personal:
        return refused
    return refused.with_columns(
        value=pl.when(pl.col("column").is_in(personal) & pl.col("value").is_not_null())
        .then(pl.col("value").map_elements(mask_id_number, return_dtype=pl.String, skip_nulls=True))
        .otherwise(pl.col("value"))
    )


def write_report(rejected: pl.DataFrame, target: Path) -> list[Path]:
    """The refused rows as XLSX and CSV (UTF-8 with BOM, so that Excel shows the Chinese).
    ``target`` ending in .xlsx or .csv writes that one; otherwise both, with suffixes. The
    values are as the department sent them, ID numbers masked by the caller
    (``_masked_frame``): text a spreadsheet would evaluate is quoted."""
    table = rejected.select(
        pl.col("row").alias("行号 row"),
        pl.col("column").alias("列 column"),
        pl.col("header").alias("表头 header"),
        pl.col("value").alias("值 value"),
        pl.col("reason_zh").alias("原因"),
        pl.col("reason_en").alias("reason"),
    ).pipe(without_formulas)
    paths = report_paths(target)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".xlsx":
            # A sheet holds 1,048,576 rows; the CSV always has them all.
            table.head(1_048_000).write_excel(path, worksheet="rejected", autofit=True)
        else:
            table.write_csv(path, include_bom=True)
    return paths


def report_paths(target: Path) -> list[Path]:
    """The files a report ``target`` names: itself when it ends in .xlsx or .csv, otherwise
    both, with suffixes."""
    if target.suffix.lower() in (".xlsx", ".csv"):
        return [target]
    return [target.with_name(target.name + ".xlsx"), target.with_name(target.name + ".csv")]


def _rejection_frame(rejections: list[Rejection]) -> pl.DataFrame:
    """Rejections (the registry's, from a rehearsal) as the rows of a report."""
    return pl.DataFrame(
        [
            item.model_dump(include={"row", "column", "header", "value", "reason_zh", "reason_en"})
            for item in rejections
        ],
        schema={
            "row": pl.Int64,
            "column": pl.String,
            "header": pl.String,
            "value": pl.String,
            "reason_zh": pl.String,
            "reason_en": pl.String,
        },
        orient="row",
    )


def default_report_base(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected")


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="luodi-import-") as name:
        yield Path(name)


def import_file(
    actor: Actor,
    session: Session,
    feed_id: str,
    path: Path,
    *,
    dry_run: bool = False,
    accept_partial: bool = False,
    sheet: str | None = None,
    report: Path | None = None,
    write_reports: bool = True,
    file_name: str | None = None,
    today: date | None = None,
    progress: Progress = _quiet,
    residents: pl.DataFrame | None = None,
) -> ImportResult:
    """Import one file of a feed (see the module docstring); never commits. ``residents``:
    the registry's ``resident_keys`` if the caller has them (not for registering feeds)."""
    spec = catalog.find_feed(feed_id)
    require_department(actor, spec.department)
    progress("读取 / reading", 0, 0)
    with open_source(spec, path, sheet=sheet, file_name=file_name) as source:
        return _import(
            actor,
            session,
            spec,
            source,
            dry_run=dry_run,
            accept_partial=accept_partial,
            report=(report or default_report_base(path)) if write_reports else None,
            # Only a report in the default place is luodi's to remove: ``--report`` may name
            # any file, even the one imported.
            clear_stale_report=report is None,
            today=today or date.today(),
            progress=progress,
            residents=residents,
        )


def import_records(
    actor: Actor,
    session: Session,
    feed_id: str,
    records: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    accept_partial: bool = False,
    today: date | None = None,
) -> ImportResult:
    """Records pushed as JSON objects, keyed by canonical names or the Chinese headers.
    Record *n* (from 1) is reported as row *n*."""
    spec = catalog.find_feed(feed_id)
    require_department(actor, spec.department)
    if not records:
        raise Invalid("没有记录", "no records")
    names = spec.header_names()
    problems: list[FieldProblem] = []
    rows: list[dict[str, str | None]] = []
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            problems.append(
                FieldProblem(
                    "record", None, "记录应为对象", "a record must be an object", row=index
                )
            )
            continue
        row: dict[str, str | None] = {}
        for key, value in record.items():
            name = names.get(normalise_header(str(key)))
            if name is None:
                problems.append(
                    FieldProblem(str(key), None, "未声明的字段", "field not declared", row=index)
                )
                continue
            row[name] = None if value is None else str(value)
        rows.append(row)
    if problems:
        raise Invalid(
            f"记录中有未知字段；可用字段：{', '.join(spec.columns)}",
            f"records have unknown fields; fields: {', '.join(spec.columns)}",
            problems[:LISTED_REJECTIONS],
        )
    body = json.dumps(records, ensure_ascii=False, sort_keys=True, default=str)
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in spec.columns},
        schema=dict.fromkeys(spec.columns, pl.String),
    ).with_row_index(LINE, offset=1)
    source = SourceTable(
        frame.with_columns(pl.col(LINE).cast(pl.Int64)).lazy(),
        f"api:{spec.id}",
        hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "json",
        0,
        {name: name for name in spec.columns},
    )
    return _import(
        actor,
        session,
        spec,
        source,
        dry_run=dry_run,
        accept_partial=accept_partial,
        report=None,
        today=today or date.today(),
        progress=_quiet,
    )


def _import(
    actor: Actor,
    session: Session,
    spec: FeedSpec,
    source: SourceTable,
    *,
    dry_run: bool,
    accept_partial: bool,
    report: Path | None,
    today: date,
    progress: Progress,
    residents: pl.DataFrame | None = None,
    clear_stale_report: bool = False,
) -> ImportResult:
    started = time.perf_counter()
    result = ImportResult(
        feed=spec.id,
        file_name=source.file_name,
        digest=source.digest,
        encoding=source.encoding,
        header_row=source.header_row,
        headers=source.headers,
        ignored_headers=source.ignored,
        status=ImportStatus.IMPORTED,
    )
    if _already_imported(session, spec, source, result):
        result.seconds = time.perf_counter() - started
        return result

    references = {
        name: _known_keys(session, column.reference)
        for name, column in spec.columns.items()
        if column.reference is not None
    }
    with _workdir() as workdir:
        progress("校验 / checking", 0, 0)
        checked = check_rows(spec, source.rows, today, _residents(session, residents), references)
        checked_path = workdir / "checked.parquet"
        try:
            checked.frame.sink_parquet(checked_path)
        except pl.exceptions.PolarsError as error:
            # What the structure check lets through and the parser still cannot split (an
            # odd number of quotes inside an unquoted value): the parser's first line only,
            # which names no file of ours.
            reason = str(error).splitlines()[0][:200]
            raise Invalid(
                f"无法读取文件 {source.file_name}：{reason}",
                f"cannot read file {source.file_name}: {reason}",
            ) from None
        stored = CheckedRows(pl.scan_parquet(checked_path), checked.checks)
        result.rows_read = stored.frame.select(pl.len()).collect().item()
        if result.rows_read == 0:
            raise Invalid(
                f"文件 {source.file_name} 没有数据行", f"file {source.file_name} has no data rows"
            )
        refused = (
            rejections(stored, today)
            .with_columns(
                header=pl.col("column").replace_strict(
                    source.headers, default=pl.col("column"), return_dtype=pl.String
                )
            )
            .collect()
        )
        result.rows_rejected = refused["row"].n_unique()
        result.rejections = [
            Rejection(
                row=row["row"],
                column=row["column"],
                header=row["header"],
                value=_masked(spec, row["column"], row["value"]),
                reason_zh=row["reason_zh"],
                reason_en=row["reason_en"],
            )
            for row in refused.head(LISTED_REJECTIONS).iter_rows(named=True)
        ]
        good = accepted(stored)
        result.rows_imported = result.rows_read - result.rows_rejected
        registry_refused: list[Rejection] = []
        if (
            spec.registry is not None
            and result.rows_imported
            and (dry_run or (result.rows_rejected and not accept_partial))
        ):
            # The registry's checks too when the file is refused anyway: every problem at
            # once, not the registry's only after the others are fixed.
            registry_refused = _rehearse_registry(actor, session, spec, source, good, result, today)
        if report is not None:
            reported = pl.concat(
                [_masked_frame(spec, refused), _rejection_frame(registry_refused)],
                how="diagonal_relaxed",
            )
            if reported.height:
                write_report(reported, report)
            elif clear_stale_report:
                # A report left from an earlier import of the same file would list problems
                # this one no longer has.
                for path in report_paths(report):
                    path.unlink(missing_ok=True)
            result.report_files = [str(path) for path in report_paths(report) if path.exists()]
        if dry_run:
            result.status = ImportStatus.DRY_RUN
        elif result.rows_rejected and not accept_partial:
            result.status = ImportStatus.REJECTED
            result.rows_imported = 0
        elif result.rows_imported == 0:
            result.status = ImportStatus.REJECTED
        if result.status != ImportStatus.IMPORTED:
            result.seconds = time.perf_counter() - started
            return result

        progress("写入 / writing", 0, result.rows_imported)
        # A parallel import may have committed meanwhile: wait for our turn, then look
        # again (the same content is then "already imported", not a second batch).
        repository.wait_for_writers(session)
        if _already_imported(session, spec, source, result):
            result.seconds = time.perf_counter() - started
            return result
        try:
            batch = _write(actor, session, spec, source, good, result, workdir, today, progress)
        except Invalid as error:
            # The registry refused rows the feed's own checks let through (a clean file, or
            # the rows an accepted partial import kept): they join the report, and the
            # import is refused as a rehearsal refuses it.
            found = _registry_rejections(spec, source, error)
            if report is not None:
                write_report(
                    pl.concat(
                        [_masked_frame(spec, refused), _rejection_frame(found)],
                        how="diagonal_relaxed",
                    ),
                    report,
                )
                result.report_files = [str(path) for path in report_paths(report)]
            raise
        except IntegrityError:
            # Another writer got there between our checks and our writes: on SQLite an
            # import of the same content, anywhere a registry change of the same people.
            raise Conflict(
                f"{source.file_name}：另一批数据正在同时写入相同的记录，未写入任何数据，请重试",
                f"{source.file_name}: another import wrote the same records at the same time; "
                "nothing was written, try again",
            ) from None
        result.imported_at = batch.imported_at
    result.seconds = time.perf_counter() - started
    return result


def _already_imported(
    session: Session, spec: FeedSpec, source: SourceTable, result: ImportResult
) -> bool:
    earlier = repository.batch_with_digest(session, spec.id, source.digest)
    if earlier is None:
        return False
    result.status = ImportStatus.ALREADY_IMPORTED
    result.batch_id = earlier.id
    result.already_imported_at = earlier.imported_at
    return True


def _write(
    actor: Actor,
    session: Session,
    spec: FeedSpec,
    source: SourceTable,
    good: pl.LazyFrame,
    result: ImportResult,
    workdir: Path,
    today: date,
    progress: Progress,
) -> FeedBatch:
    """The batch, the registry rows of a registering feed, the facts and their supersession."""
    batch = FeedBatch(
        feed=spec.id,
        department=spec.department,
        file_name=source.file_name[:255],
        digest=source.digest,
        imported_by=actor.username,
        rows_read=result.rows_read,
        rows_imported=result.rows_imported,
        rows_rejected=result.rows_rejected,
        facts_written=0,
        facts_superseded=0,
        residents_created=0,
    )
    session.add(batch)
    session.flush()
    result.batch_id = batch.id
    if spec.registry is not None:
        result.registered, result.residents_created = _apply_to_registry(
            actor, session, spec, good, source.file_name, today
        )
        if spec.person is not None and spec.unknown_person == UnknownPerson.CREATE:
            good = good.drop(RESIDENT).join(
                _residents(session).rename({REFERENCE_KEY: spec.person}), on=spec.person
            )
    facts_path = workdir / "facts.parquet"
    facts_of(spec, good).sink_parquet(facts_path)
    before = facts_repository.last_id(session)
    result.facts_written = _write_facts(
        session, spec, batch.id, source.file_name, facts_path, progress
    )
    result.facts_superseded = facts_repository.supersede(
        session, spec.id, batch.id, before, result.facts_written
    )
    batch.facts_written = result.facts_written
    batch.facts_superseded = result.facts_superseded
    batch.residents_created = result.residents_created
    session.flush()
    audit.record(
        session,
        actor,
        "feed.import",
        "feed_batch",
        batch.id,
        after=audit.row_state(batch),
        detail={"feed": spec.id, "department": spec.department},
    )
    return batch


def raise_if_rejected(result: ImportResult) -> None:
    """For callers that import as part of a larger transaction (``luodi load``)."""
    if result.status != ImportStatus.REJECTED:
        return
    raise Invalid(
        f"{result.file_name}：{result.rows_rejected} 行有错误，未写入任何数据",
        f"{result.file_name}: {result.rows_rejected} rows rejected; nothing was written",
        [
            FieldProblem(
                item.column,
                item.value,
                item.reason_zh,
                item.reason_en,
                file=result.file_name,
                row=item.row,
            )
            for item in result.rejections
        ],
    )


REGISTRY_KEYS = {
    RegistryTable.TOWNS: ("code", registry_repository.town_keys),
    RegistryTable.RESIDENTS: ("id_number", registry_repository.resident_keys),
    RegistryTable.PERMITS: ("permit_number", registry_repository.permit_keys),
    RegistryTable.CHILDREN: ("child_id_number", registry_repository.child_keys),
    RegistryTable.EMPLOYERS: ("credit_code", registry_repository.employer_keys),
    RegistryTable.EMPLOYMENT: (None, None),
    RegistryTable.UNIONS: (None, None),
}


def _apply_to_registry(
    actor: Actor, session: Session, spec: FeedSpec, good: pl.LazyFrame, file_name: str, today: date
) -> tuple[int, int]:
    """Hand the accepted rows to the registry as a frame (``register_frames``: its own
    checks of households, towns, employers …), each row named by its line in the
    department's file. Rows whose natural key the registry already holds are left as they
    are. Returns (rows registered, of them residents)."""
    assert spec.registry is not None
    target = f"{spec.registry}.csv"
    wanted = [name for name in city_files.registry_columns(target) if name in spec.columns]
    rows = good.select(LINE, *[pl.col(name).cast(pl.String) for name in wanted]).collect()
    what = (f"文件 {file_name} 的登记库数据", f"the registry rows of {file_name}")
    # The keys the registry holds, read once (a million residents' take a second): rows of
    # people and children already registered update them (``registry.updates``), the other
    # registered rows are left as they are.
    key, existing = REGISTRY_KEYS[spec.registry]
    known = existing(session) if existing is not None else None
    updated, rows = registry_updates.update_registered(
        actor, session, target, rows, what, file_name, known=known, feed_department=spec.department
    )
    if key is not None and known is not None:
        rows = rows.filter(~pl.col(key).is_in(known["key"].implode()))
    if rows.height == 0:
        return updated, 0
    try:
        summary = registry_service.register_frames(
            actor,
            session,
            {target: rows},
            today=today,
            what=(f"文件 {file_name} 的登记库数据", f"the registry rows of {file_name}"),
            feed_department=spec.department,
        )
    except Invalid as error:
        # The registry names its own file (residents.csv …); the rows are the department's.
        problems = [
            FieldProblem(
                problem.field,
                problem.value,
                problem.reason_zh,
                problem.reason_en,
                file=file_name if problem.file == target else problem.file,
                row=problem.row,
            )
            for problem in error.details
        ]
        if not problems:
            raise
        first = problems[0]
        raise Invalid(
            f"登记库校验未通过，未写入任何数据。第一处：{first.describe('zh')}",
            f"the registry refused the rows; nothing was written. First: {first.describe('en')}",
            problems,
        ) from None
    return updated + rows.height, summary.residents


def _registry_rejections(spec: FeedSpec, source: SourceTable, error: Invalid) -> list[Rejection]:
    """The registry's problems (``error``'s) as rejections of the department's file."""
    problems = error.details or [FieldProblem("", None, error.message_zh, error.message_en)]
    return [
        Rejection(
            row=problem.row or 0,
            column=problem.field,
            header=source.headers.get(problem.field, problem.field),
            value=_masked(
                spec, problem.field, None if problem.value is None else str(problem.value)
            ),
            reason_zh=problem.reason_zh,
            reason_en=problem.reason_en,
        )
        for problem in problems
    ]


def _rehearse_registry(
    actor: Actor,
    session: Session,
    spec: FeedSpec,
    source: SourceTable,
    good: pl.LazyFrame,
    result: ImportResult,
    today: date,
) -> list[Rejection]:
    """A dry run of a registering feed, or a file refused for its own problems, runs the
    registry's checks too (two heads of one household, a child as its own parent …), so
    that every problem is listed at once: the rows are handed over inside a savepoint
    that is always rolled back, and what the registry refuses is listed as rejections (the
    first of them; all are returned, for the report)."""
    savepoint = session.begin_nested()
    found: list[Rejection] = []
    try:
        _apply_to_registry(actor, session, spec, good, source.file_name, today)
    except Invalid as error:
        found = _registry_rejections(spec, source, error)
        room = max(LISTED_REJECTIONS - len(result.rejections), 0)
        result.rejections += found[:room]
        refused = len({problem.row for problem in found})
        result.rows_rejected += refused
        result.rows_imported = max(result.rows_imported - refused, 0)
    finally:
        savepoint.rollback()
    return found


def _write_facts(
    session: Session,
    spec: FeedSpec,
    batch_id: int,
    file_name: str,
    facts_path: Path,
    progress: Progress,
) -> int:
    """Insert the facts in slices (``facts.repository.insert_facts``), so that a file larger
    than memory is never held whole."""
    facts = pl.scan_parquet(facts_path)
    total = facts.select(pl.len()).collect().item()
    written = 0
    with facts_repository.bulk_writes(session, total):
        while written < total:
            chunk = facts.slice(written, WRITE_SLICE_ROWS).collect()
            written += facts_repository.insert_facts(
                session, chunk, feed=spec.id, batch_id=batch_id, file_name=file_name
            )
            progress("写入 / writing", written, total)
    return written


def list_batches(actor: Actor, session: Session, feed_id: str | None = None) -> list[FeedBatch]:
    """Imported batches, newest first: a reviewer or a department token sees its own
    department's, operators, administrators and auditors all."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.REVIEWER, Role.DEPARTMENT)
    return repository.batches(session, actor, feed_id)


def get_batch(actor: Actor, session: Session, batch_id: int) -> FeedBatch:
    """One batch; out of the actor's reach it does not exist (404)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.REVIEWER, Role.DEPARTMENT)
    batch = repository.batch_by_id(session, actor, batch_id)
    if batch is None:
        raise NotFound(f"没有导入批次 {batch_id}", f"no feed batch {batch_id}")
    return batch


READERS = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.REVIEWER, Role.DEPARTMENT)


def readable_feeds(actor: Actor) -> list[FeedSpec]:
    """The declared feeds the actor may read: a reviewer or a department token its own
    department's (as its batches, ``repository.readable``), the service centre, administrators
    and auditors all."""
    require(actor, *READERS)
    feeds = list(catalog.load_feeds().values())
    if acts_as(actor, Role.REVIEWER, Role.DEPARTMENT):
        return [spec for spec in feeds if spec.department == actor.department]
    return feeds


def readable_feed(actor: Actor, feed_id: str) -> FeedSpec:
    """One feed the actor may read; another department's does not exist for it (404)."""
    for spec in readable_feeds(actor):
        if spec.id == feed_id:
            return spec
    raise NotFound(f"没有数据源 {feed_id}", f"no feed {feed_id}")


def may_send(actor: Actor, spec: FeedSpec) -> bool:
    """Whether the actor may import files into the feed (``import_file`` would let it)."""
    try:
        require_department(actor, spec.department)
    except Forbidden:
        return False
    return True


def latest_batches(actor: Actor, session: Session, per_feed: int) -> list[FeedBatch]:
    """The newest ``per_feed`` batches of each feed the actor may read, newest first."""
    require(actor, *READERS)
    return repository.latest_batches(session, actor, per_feed)
