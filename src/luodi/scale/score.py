"""``luodi policy score`` on datasets, with Polars in this process or on Apache Spark: read
with provenance, check every record (``kernels.policy.checks`` / ``spark_checks``), score the
clean ones with the same compiled policy, write the scored dataset and the refused rows
(layout: ``scale.layout``). Either engine gives the same scored rows and the same refused
rows (tests/scale/test_spark_equal.py).

All or nothing twice over: the dataset appears at the output in one rename or not at all;
and with ``on_refused="stop"`` (the default) a single refused record means nothing is scored
— the refused rows are written so that the sender can mend them. ``"skip"`` scores the clean
records and lists the others.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, InputError
from luodi.kernels.policy.checks import FILE, PARTITION, REFUSED_SCHEMA, ROW, check_rows
from luodi.kernels.policy.expressions import Kind
from luodi.policy.service import input_invalid
from luodi.scale import layout

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

Engine = Literal["polars", "spark"]
OnRefused = Literal["stop", "skip"]
ENGINES: tuple[str, ...] = ("polars", "spark")
ON_REFUSED: tuple[str, ...] = ("stop", "skip")
DEFAULT_PARTITION = "town_code"
MAX_PARTITIONS = 10_000
"""Distinct partition values an output may have: partitioning by a resident's id would make
millions of directories."""
KIND_DTYPES: dict[Kind, pl.DataType] = {
    Kind.INT: pl.Int64(),
    Kind.FLOAT: pl.Float64(),
    Kind.BOOL: pl.Boolean(),
    Kind.DATE: pl.Date(),
    Kind.STRING: pl.String(),
    Kind.ENUM: pl.String(),
}
"""The type of each kind of input in a scored dataset's ``inputs`` (as the stored frame of a
scoring run keeps them, ``scoring.frames``; enums as text)."""


@dataclass(frozen=True)
class Plan:
    """What a scoring of ``source`` will write, decided before any record is read."""

    partition_by: list[str]
    carried: list[str]
    """Columns of the source passed through (not declared by the policy)."""
    dropped: list[str] = field(default_factory=list)
    """Columns of the source not carried: named like an output column (an indicator …)."""


@dataclass(frozen=True)
class ScoreResult:
    engine: str
    residents: int
    """Residents scored (0 when stopped)."""
    refused_records: int
    """Distinct input records refused."""
    refused_reasons: int
    """Rows of the refused file (a record can be refused for several columns)."""
    written: bool
    output: Path
    refused_path: Path
    mean: float
    minimum: float
    maximum: float
    seconds: float
    plan: Plan


def _plan(
    compiled: CompiledPolicy, columns: Sequence[str], partition_by: Sequence[str] | None
) -> Plan:
    policy = compiled.policy
    outputs = {KEY, TOTAL, layout.INPUTS, *policy.indicator_ids}
    undeclared = [
        name
        for name in columns
        if name not in policy.inputs and name != KEY and name not in layout.PROVENANCE
    ]
    carried = [name for name in undeclared if name not in outputs]
    dropped = [name for name in undeclared if name in outputs]
    if partition_by is None:
        chosen = [DEFAULT_PARTITION] if DEFAULT_PARTITION in columns else []
    else:
        chosen = list(dict.fromkeys(name.strip() for name in partition_by if name.strip()))
    for name in chosen:
        if name == KEY:
            raise Invalid.field(
                "partition_by",
                name,
                "不能按居民编号分区（每人一个目录）：请按镇街等取值较少的列分区",
                "cannot partition by the resident id (a directory each): use the town or the like",
            )
        if name in policy.indicator_ids or name in (TOTAL, layout.INPUTS):
            raise Invalid.field(
                "partition_by",
                name,
                f"不能按 {name} 分区：与输出列同名",
                f"cannot partition by {name}: an output column has that name",
            )
        if name not in columns or name in dropped:
            raise Invalid.field(
                "partition_by",
                name,
                f"不能按 {name} 分区：输入中没有这一列（可用：{', '.join(c for c in columns if c not in layout.PROVENANCE and c != KEY)}）",
                f"cannot partition by {name}: not a column of the input",
            )
    return Plan(chosen, carried, dropped)


def _check_partitions(count: int) -> None:
    if count > MAX_PARTITIONS:
        raise Invalid.field(
            "partition_by",
            count,
            f"分区过多（{count:,} 个，最多 {MAX_PARTITIONS:,}）：请按镇街等取值较少的列分区",
            f"too many partitions ({count:,}, at most {MAX_PARTITIONS:,}): partition by a "
            "column with fewer values, such as the town",
        )


def _refused_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sorted_refused(refused: pl.DataFrame) -> pl.DataFrame:
    order = "__order"
    if order in refused.columns:
        refused = refused.sort("file", "row", order).drop(order)
    return refused.select(list(REFUSED_SCHEMA)).cast(REFUSED_SCHEMA)  # type: ignore[arg-type]


def _records(refused: pl.DataFrame) -> int:
    if not len(refused):
        return 0
    return refused.select(pl.struct("file", "row").n_unique()).item()


def _manifest(
    compiled: CompiledPolicy,
    as_of: date,
    engine: str,
    rows: int,
    plan: Plan,
    source: Path,
    refused: int,
    refused_path: Path,
) -> layout.Manifest:
    policy = compiled.policy
    return layout.Manifest(
        format=layout.SCORES_FORMAT,
        as_of=as_of,
        engine=engine,
        rows=rows,
        partition_by=plan.partition_by,
        policy_id=policy.id,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_text=policy.text,
        refused=refused,
        refused_digest=_refused_digest(refused_path),
        source=source.name,
        extra={"carried": plan.carried, "not_carried": plan.dropped},
    )


def _inputs_struct(compiled: CompiledPolicy) -> pl.Expr:
    return pl.struct(
        [
            pl.col(name).cast(KIND_DTYPES[spec.type.kind]).alias(name)
            for name, spec in compiled.policy.inputs.items()
        ]
    ).alias(layout.INPUTS)


def _partition_columns(plan: Plan) -> list[pl.Expr]:
    return [pl.col(name).cast(pl.String).alias(name) for name in plan.partition_by]


def score_dataset(
    compiled: CompiledPolicy,
    source: Path,
    output: Path,
    as_of: date,
    *,
    engine: Engine = "polars",
    partition_by: Sequence[str] | None = None,
    on_refused: OnRefused = "stop",
    master: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    """Score every record of the dataset ``source`` into the dataset ``output``."""
    if engine not in ENGINES:
        raise Invalid.field(
            "engine", engine, "引擎只能是 polars 或 spark", "engine must be polars or spark"
        )
    if on_refused not in ON_REFUSED:
        raise Invalid.field("on_refused", on_refused, "只能是 stop 或 skip", "must be stop or skip")
    say = progress or (lambda _text: None)
    started = time.perf_counter()
    layout.check_output_dir(output)
    if output.resolve().is_relative_to(source.resolve()) and source.is_dir():
        raise Invalid.field(
            "output",
            output.name,
            "输出不能放在输入数据集的目录中（下次读取输入时会被当作数据）",
            "the output cannot be inside the input dataset (it would be read as input next time)",
        )
    columns = layout.dataset_columns(source)
    plan = _plan(compiled, columns, partition_by)
    refused_path = layout.refused_path(output)
    staging = layout.staging_dir(output)
    try:
        if engine == "polars":
            rows, refused, stats = _score_polars(
                compiled, source, staging, as_of, plan, on_refused, say
            )
        else:
            rows, refused, stats = _score_spark(
                compiled, source, staging, as_of, plan, on_refused, master, say
            )
        say(f"写出拒收行 / writing refused rows ({len(refused):,})")
        layout.write_refused(refused, refused_path)
        records = _records(refused)
        written = not (records and on_refused == "stop")
        if written:
            _manifest(compiled, as_of, engine, rows, plan, source, records, refused_path).write(
                staging
            )
            layout.publish(staging, output)
        else:
            layout.discard(staging)
    except BaseException:
        layout.discard(staging)
        raise
    return ScoreResult(
        engine,
        rows if written else 0,
        records,
        len(refused),
        written,
        output,
        refused_path,
        *stats,
        time.perf_counter() - started,
        plan,
    )


def _stats(frame: pl.DataFrame) -> tuple[float, float, float]:
    if not len(frame):
        return 0.0, 0.0, 0.0
    mean, minimum, maximum = frame.select(
        pl.col(TOTAL).mean().alias("mean"),
        pl.col(TOTAL).min().alias("min"),
        pl.col(TOTAL).max().alias("max"),
    ).row(0)
    return float(mean), float(minimum), float(maximum)


def _score_polars(
    compiled: CompiledPolicy,
    source: Path,
    staging: Path,
    as_of: date,
    plan: Plan,
    on_refused: OnRefused,
    say: Callable[[str], None],
) -> tuple[int, pl.DataFrame, tuple[float, float, float]]:
    say(f"读取 / reading {source.name}")
    frame = layout.scan_dataset(source).collect()
    say(f"检查 / checking {frame.height:,}")
    try:
        checked = check_rows(frame, compiled.policy, carry=plan.carried)
    except InputError as error:
        raise input_invalid(error, source.name) from None
    del frame
    refused = checked.refused
    if len(refused) and on_refused == "stop":
        return 0, refused, (0.0, 0.0, 0.0)
    typed = checked.typed
    say(f"计分 / scoring {typed.height:,}")
    points = compiled.score(typed, as_of)
    scored = points.hstack(
        typed.select(
            _inputs_struct(compiled),
            *[pl.col(name) for name in plan.carried if name not in plan.partition_by],
            *_partition_columns(plan),
        )
    )
    if plan.partition_by:
        _check_partitions(scored.select(pl.struct(plan.partition_by).n_unique()).item())
    say(f"写出 / writing {scored.height:,}")
    layout.write_partitioned(scored, staging, plan.partition_by)
    return scored.height, refused, _stats(points)


# ----------------------------------------------------------------------------- Spark


def read_spark(spark: SparkSession, source: Path) -> SparkFrame:
    """The dataset on Spark with its partition columns (text) and provenance (as
    ``layout.scan_dataset``: file relative to the root, its directory, 1-based row)."""
    from pyspark.sql import functions as sf

    files = layout.dataset_files(source)
    root = (source if source.is_dir() else source.parent).resolve()
    marker = root.as_posix().rstrip("/") + "/"
    # The path is percent-encoded; url_decode is a form decoder that would also read "+" as
    # a space, so a literal plus is protected first.
    path = sf.url_decode(sf.regexp_replace(sf.col("_metadata.file_path"), r"\+", "%2B"))
    relative = sf.substring(path, sf.instr(path, marker) + len(marker), 1 << 30)
    frame = (
        spark.read.option("basePath", str(root))
        .parquet(*[str(file.resolve()) for file in files])
        .withColumns(
            {
                FILE: relative,
                PARTITION: sf.regexp_extract(relative, r"^(.*)/[^/]*$", 1),
                ROW: sf.col("_metadata.row_index") + sf.lit(1),
            }
        )
    )
    return frame


def spark_points(
    spark: SparkSession,
    source: Path,
    compiled: CompiledPolicy,
    as_of: date,
    *,
    carry: Sequence[str] | None = None,
    partition_by: Sequence[str] = (),
) -> tuple[SparkFrame, SparkFrame]:
    """(scored records in the scored dataset's columns, refused rows with ``__order``) of
    ``source`` on Spark, both lazy. ``carry``: default every column the policy does not
    declare."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    from luodi.kernels.policy.spark_checks import check_rows as spark_check_rows

    frame = read_spark(spark, source)
    if carry is None:
        carry = _plan(compiled, layout.dataset_columns(source), partition_by).carried
    try:
        checked = spark_check_rows(frame, compiled.policy, carry=carry)
    except InputError as error:
        raise input_invalid(error, source.name) from None
    policy = compiled.policy
    partition_columns = {name: sf.col(name).cast("string") for name in partition_by}
    typed = checked.typed.withColumns(
        {
            layout.INPUTS: sf.struct(*[sf.col(name) for name in policy.inputs]),
            **{f"__part_{name}": column for name, column in partition_columns.items()},
        }
    )
    carried = [name for name in carry if name not in partition_by]
    keep = [layout.INPUTS, *carried, *[f"__part_{name}" for name in partition_by]]
    fields = {field.name: field for field in typed.schema.fields}
    schema = st.StructType(
        [
            st.StructField(KEY, fields[KEY].dataType),
            st.StructField(TOTAL, st.DoubleType()),
            *[st.StructField(name, st.DoubleType()) for name in policy.indicator_ids],
            *[st.StructField(name, fields[name].dataType) for name in keep],
        ]
    )
    scorer = compiled.arrow_scorer(as_of, keep)
    scored = typed.mapInArrow(scorer, schema).withColumnsRenamed(
        {f"__part_{name}": name for name in partition_by}
    )
    return scored, checked.refused


def _score_spark(
    compiled: CompiledPolicy,
    source: Path,
    staging: Path,
    as_of: date,
    plan: Plan,
    on_refused: OnRefused,
    master: str | None,
    say: Callable[[str], None],
) -> tuple[int, pl.DataFrame, tuple[float, float, float]]:
    from luodi.scale.spark import session

    say(f"启动 Spark / starting Spark ({master or 'local[*]'})")
    spark = session(master)
    scored, refused_frame = spark_points(
        spark, source, compiled, as_of, carry=plan.carried, partition_by=plan.partition_by
    )
    say("检查 / checking")
    refused = _sorted_refused(_to_polars(refused_frame))
    if len(refused) and on_refused == "stop":
        return 0, refused, (0.0, 0.0, 0.0)
    if plan.partition_by:
        # Counted on the records as read (a projection of a few columns), not on the scored.
        _check_partitions(read_spark(spark, source).select(*plan.partition_by).distinct().count())
    say("计分并写出 / scoring and writing")
    writer = scored.write.mode("overwrite")
    if plan.partition_by:
        writer = writer.partitionBy(*plan.partition_by)
    writer.parquet(str(staging.resolve()))
    written = layout.scan_dataset(staging).select(TOTAL).collect()
    return written.height, refused, _stats(written)


def _to_polars(frame: SparkFrame) -> pl.DataFrame:
    table = frame.toArrow()
    result = pl.from_arrow(table)
    assert isinstance(result, pl.DataFrame)
    return result


def read_scored(path: Path) -> tuple[layout.Manifest, pl.LazyFrame]:
    """A scored dataset: its manifest and its records (partition columns as text)."""
    manifest = layout.Manifest.read(path)
    if manifest.format != layout.SCORES_FORMAT:
        raise Invalid(
            f"{path.name} 不是计分结果数据集（格式 {manifest.format}）",
            f"{path.name} is not a scored dataset (format {manifest.format})",
            [FieldProblem("format", manifest.format, "格式不对", "wrong format")],
        )
    return manifest, layout.scan_dataset(path)
