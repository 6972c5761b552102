"""Work handed between a city and the province's cluster (docs/scale.md): the
registry's scoring inputs out as a dataset (``luodi export inputs``), a scored dataset back
in as a scoring run (``luodi import scores``). The layout of both: ``scale/layout.py``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from luodi.analysis import service as analysis_service
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.bulk import IdRange
from luodi.errors import FieldProblem, Invalid
from luodi.kernels.analysis.points import PEOPLE_COLUMNS
from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, InputError, prepare_inputs
from luodi.policy.service import compiled_from_text, find_policy, input_invalid
from luodi.registry import service as registry_service
from luodi.scale import layout
from luodi.scoring import service
from luodi.scoring.inputs import PopulationInputs, available_inputs, build_inputs, read_inputs
from luodi.scoring.schemas import RunRead
from luodi.settings import get_settings

BATCH_RESIDENTS = 100_000
"""Residents read, built and written at a time by ``export_inputs``: what it holds."""
CARRIED = ("first_permit_date", "employment_basis")
"""What the points analysis reads of each resident that no input gives (``PEOPLE_COLUMNS``):
carried beside the inputs, so that the province's analysis needs no other table."""
SHOWN = 10
"""Problems named in a refusal (the count says how many there were)."""
TOLERANCE = 1e-9
"""Points that differ by less are the same (as a stored total and its explanation)."""


@dataclass(frozen=True)
class ExportResult:
    output: Path
    rows: int
    files: int
    batches: int
    columns: list[str]
    digest: str
    """SHA-256 of the data files (relative name and bytes, in path order)."""
    skipped_by_state: dict[str, int] = field(default_factory=dict)
    defaulted: list[str] = field(default_factory=list)


def export_inputs(
    actor: Actor,
    session: Session,
    as_of: date,
    output: Path,
    *,
    compiled: CompiledPolicy | None = None,
    partition_by: Sequence[str] = ("town_code",),
    batch_residents: int = BATCH_RESIDENTS,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """The scoring inputs as of ``as_of`` of everyone ``luodi score`` would score (a permit
    valid on the date) as a dataset at ``output``: every input the platform provides (or
    ``compiled``'s), and ``CARRIED``. Read, built and written ``batch_residents`` at a time
    (ranges of resident ids; ``progress(done, batches)`` after each), into a directory beside
    ``output`` renamed into place at the end: all or nothing. The audit entry names the
    files' digest (caller commits, after the rename)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    if batch_residents < 1:
        raise Invalid.field(
            "batch_residents", batch_residents, "每批人数须为正整数", "must be at least 1"
        )
    layout.check_output_dir(output)
    if compiled is not None:
        service.check_in_force(compiled.policy, as_of)
    wanted = list(compiled.policy.inputs) if compiled else list(available_inputs())
    provided = [name for name in wanted if name in available_inputs()]
    carried = [
        name
        for name in dict.fromkeys([*CARRIED, *partition_by])
        if name not in provided and name in PEOPLE_COLUMNS and name != KEY
    ]
    columns = [KEY, *provided, *carried]
    unknown = [name for name in partition_by if name not in columns or name == KEY]
    if unknown:
        raise Invalid.field(
            "partition_by",
            ",".join(unknown),
            f"不是导出的列；可用：{', '.join(columns[1:])}",
            f"not a column of the export; choose among: {', '.join(columns[1:])}",
        )
    batches = registry_service.id_batches(actor, session, batch_residents)
    staging = layout.staging_dir(output)
    try:
        rows = 0
        written: list[tuple[str, pl.Schema]] = []
        skipped: dict[str, int] = {}
        defaulted: list[str] = []
        for number, (ids, count) in enumerate(batches):
            if compiled is not None:
                population = build_inputs(actor, session, compiled.policy, as_of, count, ids)
            else:
                population = read_inputs(actor, session, wanted, as_of, count, ids)
            frame = _with_carried(actor, session, population, carried, as_of, ids)
            defaulted = population.defaulted
            for state, residents in population.skipped_by_state.items():
                skipped[state] = skipped.get(state, 0) + residents
            if frame.height:
                stem = f"part-{number:05d}"
                layout.write_partitioned(frame, staging, list(partition_by), stem=stem)
                written.append((stem, frame.drop(list(partition_by)).schema))
                rows += frame.height
            if progress is not None:
                progress(number + 1, len(batches))
        if rows == 0:
            raise Invalid(
                f"{as_of} 没有持有效居住证的居民可导出", f"nobody holds a valid permit on {as_of}"
            )
        _one_schema(staging, written)
        files = layout.dataset_files(staging)
        digest = _files_digest(staging, files)
        layout.Manifest(
            format=layout.INPUTS_FORMAT,
            as_of=as_of,
            engine="export",
            rows=rows,
            partition_by=list(partition_by),
            policy_id=compiled.policy.id if compiled else None,
            policy_version=compiled.policy.version if compiled else None,
            policy_digest=compiled.policy.digest if compiled else None,
            source=get_settings().city_name,
            extra={
                "skipped_by_state": dict(sorted(skipped.items())),
                "defaulted_inputs": defaulted,
                "batches": len(batches),
                "files_digest": digest,
            },
        ).write(staging)
        audit.record(
            session,
            actor,
            "scoring.export_inputs",
            "inputs_export",
            output.name,
            detail={
                "as_of": as_of,
                "policy": compiled.policy.id if compiled else None,
                "version": compiled.policy.version if compiled else None,
                "rows": rows,
                "files": len(files),
                "digest": digest,
                "partition_by": list(partition_by),
            },
        )
        layout.publish(staging, output)
    except BaseException:
        layout.discard(staging)
        raise
    return ExportResult(
        output,
        rows,
        len(files),
        len(batches),
        columns,
        digest,
        dict(sorted(skipped.items())),
        defaulted,
    )


def _with_carried(
    actor: Actor,
    session: Session,
    population: PopulationInputs,
    carried: list[str],
    as_of: date,
    ids: IdRange,
) -> pl.DataFrame:
    """The batch's inputs and the carried columns, sorted by resident."""
    frame = population.frame
    if carried:
        people = analysis_service.people(actor, session, as_of, ids).select(KEY, *carried)
        frame = frame.join(people, on=KEY, how="left")
    return frame.sort(KEY)


def _one_schema(staging: Path, written: list[tuple[str, pl.Schema]]) -> None:
    """Every file of the dataset with the same column types: a batch's sum of whole numbers
    is Int64 where another's is Float64 (``facts_as_of``), and Spark reads a dataset with
    one schema. The few files of another type are written again, one at a time."""
    unified = pl.concat(
        [pl.DataFrame(schema=schema) for _, schema in written], how="vertical_relaxed"
    ).schema
    for stem, schema in written:
        changed = {name: dtype for name, dtype in unified.items() if schema[name] != dtype}
        if not changed:
            continue
        for path in sorted(staging.rglob(f"{stem}-*.parquet")):
            frame = pl.read_parquet(path)
            frame.with_columns(
                pl.col(name).cast(dtype) for name, dtype in changed.items() if name in frame
            ).write_parquet(path)


def _files_digest(root: Path, files: list[Path]) -> str:
    whole = hashlib.sha256()
    for path in files:
        whole.update(layout.relative_name(root, path).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                whole.update(block)
    return whole.hexdigest()


# ---------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportResult:
    run: RunRead
    source: str
    engine: str
    rows: int


def _refused(
    source: Path, problems: list[FieldProblem], count: int, what: tuple[str, str]
) -> Invalid:
    listing = "\n".join(f"  {problem.describe()}" for problem in problems[:SHOWN])
    more = f"\n  …（另有 {count - SHOWN} 处 / {count - SHOWN} more）" if count > SHOWN else ""
    return Invalid(
        f"计分数据集 {source.name} 有 {count} 处{what[0]}，未导入：\n{listing}{more}",
        f"scored dataset {source.name}: {count} {what[1]}, nothing was imported",
        problems[:SHOWN],
    )


def _where(row: dict[str, object], column: str, value: object, zh: str, en: str) -> FieldProblem:
    return FieldProblem(
        column,
        value,
        zh,
        en,
        file=str(row[layout.FILE]),
        row=int(row[layout.ROW]),  # type: ignore[call-overload]
    )


def _problems(
    frame: pl.DataFrame, mask: pl.Expr, column: str, value: pl.Expr, zh: str, en: str
) -> tuple[list[FieldProblem], int]:
    """The first ``SHOWN`` rows of ``frame`` where ``mask`` holds, named by file and row."""
    hit = frame.filter(mask)
    shown = hit.head(SHOWN).select(layout.FILE, layout.ROW, value.alias("\0value"))
    return [
        _where(row, column, row["\0value"], zh, en) for row in shown.iter_rows(named=True)
    ], hit.height


def import_scores(
    actor: Actor,
    session: Session,
    source: Path,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """A scored dataset (``luodi policy score --engine … --output``) stored as a scoring run,
    exactly as ``luodi score`` stores one, once it is shown to be what the policy gives: its
    policy text is the published version in force on its date, every row a resident of the
    registry in ``actor``'s scope, once, and every total and line what the policy computes
    from the row's inputs here (caller commits). Any problem refuses it all, naming file,
    row, column and reason."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    say = progress or (lambda _text: None)
    if not source.is_dir():
        raise Invalid(
            f"找不到计分数据集目录 {source.name}", f"scored dataset {source.name} not found"
        )
    manifest = layout.Manifest.read(source)
    where = f"{source.name}/{layout.MANIFEST}"
    if manifest.format != layout.SCORES_FORMAT:
        raise _manifest_invalid(
            where, "format", manifest.format, f"应为 {layout.SCORES_FORMAT}", "not a scored dataset"
        )
    if not manifest.policy_text:
        raise _manifest_invalid(where, "policy_text", None, "缺少策略文本", "the policy is missing")
    compiled = compiled_from_text(manifest.policy_text, where)
    policy = compiled.policy
    text_digest = hashlib.sha256(manifest.policy_text.encode()).hexdigest()
    if text_digest != manifest.policy_digest:
        raise _manifest_invalid(
            where,
            "policy_digest",
            manifest.policy_digest,
            f"与策略文本的 SHA-256（{text_digest}）不符",
            f"is not the SHA-256 of the policy text ({text_digest})",
        )
    if (manifest.policy_id, manifest.policy_version) != (policy.id, policy.version):
        raise _manifest_invalid(
            where,
            "policy_version",
            f"{manifest.policy_id} {manifest.policy_version}",
            f"与策略文本（{policy.id} {policy.version}）不符",
            f"does not match the policy text ({policy.id} {policy.version})",
        )
    published = find_policy(policy.id, manifest.as_of, policy.version)
    if published.policy.digest != policy.digest:
        raise _manifest_invalid(
            where,
            "policy_text",
            f"{policy.id} {policy.version}",
            "与已发布的该版本策略文本不同",
            "differs from the published text of that version",
        )
    service.check_in_force(policy, manifest.as_of)

    say(f"读取 / reading {source.name}")
    frame = layout.scan_dataset(source).collect()
    frame = _checked_columns(source, frame, compiled)
    if frame.height != manifest.rows:
        raise _manifest_invalid(
            where,
            "rows",
            manifest.rows,
            f"数据集实有 {frame.height} 行（文件缺失或多余）",
            f"the dataset holds {frame.height} rows (a file missing or extra)",
        )
    say(f"核对居民 / checking {frame.height:,} residents")
    frame = _checked_residents(actor, session, source, frame)
    say(f"按策略重算 / re-scoring {frame.height:,}")
    inputs = frame.select(KEY, layout.INPUTS).unnest(layout.INPUTS)
    try:
        typed = prepare_inputs(inputs, policy)
    except InputError as error:
        raise input_invalid(error, source.name) from None
    points = compiled.score(typed, manifest.as_of)
    _check_points(source, frame, points, policy.indicator_ids)
    readable = registry_service.readable_resident_ids(actor, session).len()
    say("与登记库核对输入 / checking the inputs against the registry")
    _check_registry(actor, session, source, compiled, manifest.as_of, typed, readable)

    say("保存 / storing")
    available = available_inputs()
    label = f"{source.name} ({manifest.engine})"
    run = service.store_run(
        actor,
        session,
        compiled,
        manifest.as_of,
        points,
        typed,
        skipped=readable - points.height,
        defaulted=[name for name in policy.inputs if name not in available],
        source=label[:300],
        action="scoring.import",
        detail={
            "source": source.name,
            "engine": manifest.engine,
            "rows": manifest.rows,
            "refused": manifest.refused,
            "refused_digest": manifest.refused_digest,
        },
    )
    return ImportResult(run, source.name, manifest.engine, points.height)


SHOWN_DIFFERENCES = 10


def _check_registry(
    actor: Actor,
    session: Session,
    source: Path,
    compiled: CompiledPolicy,
    as_of: date,
    typed: pl.DataFrame,
    readable: int,
) -> None:
    """The scores were computed from what the registry says on ``as_of``, of everyone it
    scores then: a dataset whose inputs were edited after the export (points computed from
    made-up hours or honours), or that leaves residents out of the ranking, is refused —
    the re-scoring alone only shows that the points follow from the inputs in the file."""
    policy = compiled.policy
    population = build_inputs(actor, session, policy, as_of, readable)
    try:
        expected = prepare_inputs(population.frame, policy).sort(KEY)
    except InputError as error:
        raise input_invalid(error, "登记库 registry") from None
    given = typed.sort(KEY)
    for ids, zh, en, reason_zh, reason_en in (
        (
            expected.join(given, on=KEY, how="anti").get_column(KEY),
            "缺少登记库在 {as_of} 应计分的",
            "leaves out {count} residents the registry scores on {as_of}",
            "缺少居民",
            "residents missing",
        ),
        (
            given.join(expected, on=KEY, how="anti").get_column(KEY),
            "含登记库在 {as_of} 不计分的",
            "holds {count} residents the registry does not score on {as_of}",
            "多出居民",
            "residents not scored",
        ),
    ):
        if ids.len():
            listed = ids.head(SHOWN_DIFFERENCES)
            shown = ", ".join(str(value) for value in listed)
            count = f"{ids.len():,}"
            raise Invalid(
                f"{source.name} {zh.format(as_of=as_of)} {count} 名居民（{shown}）；未导入",
                f"{source.name} {en.format(count=count, as_of=as_of)} ({shown}); "
                "nothing was imported",
                [FieldProblem(KEY, listed.to_list(), reason_zh, reason_en, file=source.name)],
            )
    for name in policy.inputs:
        left = given.get_column(name)
        right = expected.get_column(name).cast(left.dtype)
        differs = left.ne_missing(right)
        if differs.any():
            ids = given.get_column(KEY).filter(differs).head(SHOWN_DIFFERENCES).to_list()
            raise Invalid(
                f"{source.name} 的输入 {name} 与登记库在 {as_of} 的数据不符"
                f"（{int(differs.sum()):,} 人，如 {', '.join(map(str, ids))}）；未导入",
                f"{source.name}: input {name} differs from the registry on {as_of} "
                f"({int(differs.sum()):,} residents, e.g. {', '.join(map(str, ids))}); "
                "nothing was imported",
                [
                    FieldProblem(
                        f"inputs.{name}",
                        ids,
                        "与登记库不符",
                        "differs from the registry",
                        file=source.name,
                    )
                ],
            )


def _manifest_invalid(where: str, key: str, value: object, zh: str, en: str) -> Invalid:
    problem = FieldProblem(key, value, zh, en, file=where)
    return Invalid(
        f"{where} 的 {key} 无效：{zh}；未导入",
        f"{where}: {key} is invalid: {en}; nothing was imported",
        [problem],
    )


def _checked_columns(source: Path, frame: pl.DataFrame, compiled: CompiledPolicy) -> pl.DataFrame:
    needed = [KEY, TOTAL, *compiled.policy.indicator_ids, layout.INPUTS]
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        first = str(frame.get_column(layout.FILE)[0]) if frame.height else source.name
        raise Invalid(
            f"计分数据集 {source.name} 缺少列：{', '.join(missing)}（文件 {first}）",
            f"scored dataset {source.name} lacks columns: {', '.join(missing)} (file {first})",
            [
                FieldProblem(name, None, "缺少该列", "column missing", file=first)
                for name in missing
            ],
        )
    if not isinstance(frame.schema[layout.INPUTS], pl.Struct):
        first = str(frame.get_column(layout.FILE)[0])
        raise Invalid(
            f"计分数据集 {source.name} 的 {layout.INPUTS} 列应为结构（策略读取的输入）",
            f"scored dataset {source.name}: column {layout.INPUTS} must be a struct of inputs",
            [
                FieldProblem(
                    layout.INPUTS,
                    str(frame.schema[layout.INPUTS]),
                    "应为结构",
                    "must be a struct",
                    file=first,
                )
            ],
        )
    return frame


def _checked_residents(
    actor: Actor, session: Session, source: Path, frame: pl.DataFrame
) -> pl.DataFrame:
    """``frame`` with ``resident_id`` as Int64, once each a resident ``actor`` reads."""
    key = pl.col(KEY)
    if frame.schema[KEY].is_integer():
        number = key.cast(pl.Int64)
    else:
        number = key.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    frame = frame.with_columns(number.alias("\0id"))
    problems, count = _problems(
        frame,
        pl.col("\0id").is_null(),
        KEY,
        key.cast(pl.String),
        "居民编号应为整数",
        "a resident id is a whole number",
    )
    if count:
        raise _refused(source, problems, count, ("居民编号无效", "invalid resident ids"))
    problems, count = _problems(
        frame,
        pl.col("\0id").is_duplicated(),
        KEY,
        pl.col("\0id"),
        "居民编号重复（每位居民只能有一行）",
        "resident id appears more than once",
    )
    if count:
        raise _refused(source, problems, count, ("重复的居民", "duplicated residents"))
    known = registry_service.readable_resident_ids(actor, session).to_frame("\0id")
    problems, count = _problems(
        frame.join(known.with_columns(pl.lit(True).alias("\0known")), on="\0id", how="left"),
        pl.col("\0known").is_null(),
        KEY,
        pl.col("\0id"),
        "登记库中没有该居民（或不在您的范围内）",
        "no such resident in the registry (or not in your scope)",
    )
    if count:
        raise _refused(
            source, problems, count, ("不在登记库中的居民", "residents not in the registry")
        )
    return frame.with_columns(pl.col("\0id").alias(KEY)).drop("\0id").sort(KEY)


def _check_points(
    source: Path, frame: pl.DataFrame, points: pl.DataFrame, indicator_ids: Sequence[str]
) -> None:
    """Refuse the dataset when a total or a line is not what the policy gives here."""
    columns = [TOTAL, *indicator_ids]
    given = frame.select(
        KEY, layout.FILE, layout.ROW, *[pl.col(c).cast(pl.Float64) for c in columns]
    )
    joined = given.join(
        points.select(KEY, *[pl.col(c).cast(pl.Float64).alias(f"\0{c}") for c in columns]),
        on=KEY,
        how="left",
    )
    problems: list[FieldProblem] = []
    differs = pl.lit(False)
    for column in columns:
        mine, theirs = pl.col(f"\0{column}"), pl.col(column)
        wrong = (mine - theirs).abs().gt(TOLERANCE).fill_null(theirs.is_null() != mine.is_null())
        differs = differs | wrong
    hit = joined.filter(differs).sort(layout.FILE, layout.ROW)
    count = hit.height
    for row in hit.head(SHOWN).iter_rows(named=True):
        column = next(c for c in columns if _differ(row[c], row["\0" + c]))
        recomputed = row["\0" + column]
        problems.append(
            _where(
                row,
                column,
                row[column],
                f"居民 {row[KEY]} 的分数与按策略重算的不同（重算为 {recomputed}）",
                f"resident {row[KEY]}: not what the policy gives here ({recomputed})",
            )
        )
    if count:
        raise _refused(
            source, problems, count, ("分数与策略不符", "scores the policy does not give")
        )


def _differ(given: float | None, recomputed: float | None) -> bool:
    if given is None or recomputed is None:
        return (given is None) != (recomputed is None)
    return abs(given - recomputed) > TOLERANCE
