"""The data layout of work handed between a city and a province's cluster (docs/scale.md).

A **dataset** is a directory of Parquet files, partitioned Hive-style (``town_code=330282001/
part-0.parquet``) by any columns, at any depth, or one Parquet file. Files and directories
whose names start with ``_`` or ``.`` are not data (Spark's convention: ``_SUCCESS``, the
manifest). Partition values are text, never guessed as numbers (a town code keeps its zeros).

Every record of a dataset has a **provenance**: its ``file`` (path relative to the dataset's
root, ``/``-separated), its ``partition`` (that file's directory, ``""`` at the root) and its
``row`` (1-based position in the file). A refused row is named by these, whichever engine
read it.

A **scored dataset** (``luodi policy score --engine … --output DIR``) holds one row per
resident scored: ``resident_id``, ``total``, one signed column per indicator (the policy's
order), ``inputs`` (a struct: the typed inputs exactly as the policy read them; enums as
text) and the **carried** columns (every input column the policy does not declare, such as
``first_permit_date``, plus the partition columns), partitioned by the user's columns. Its
``_luodi.json`` manifest names the policy (id, version, digest, text), the date, the engine,
the counts and the digest of the refused rows. Refused rows are written beside the output,
``DIR.refused.csv`` (UTF-8 with BOM, for Excel).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.kernels.policy.checks import FILE, PARTITION, REFUSED_SCHEMA, ROW

PROVENANCE = (FILE, PARTITION, ROW)
"""Columns a reader adds to every record: where it came from."""

INPUTS = "inputs"
MANIFEST = "_luodi.json"
SCORES_FORMAT = "luodi-scores/1"
INPUTS_FORMAT = "luodi-inputs/1"


def is_data(relative: Path) -> bool:
    return not any(part.startswith(("_", ".")) for part in relative.parts)


def dataset_files(root: Path) -> list[Path]:
    """The Parquet files of a dataset, in path order (one file: itself)."""
    if root.is_file():
        if root.suffix.lower() != ".parquet":
            raise Invalid(
                f"{root.name} 不是 Parquet 文件（需要 .parquet 文件或分区目录）",
                f"{root.name} is not a Parquet file (a .parquet file or a partitioned directory)",
                [
                    FieldProblem(
                        "input", root.name, "格式不支持", "unsupported format", file=root.name
                    )
                ],
            )
        return [root]
    if not root.is_dir():
        raise Invalid(f"找不到输入 {root}", f"input not found: {root}")
    files = sorted(
        path
        for path in root.rglob("*.parquet")
        if path.is_file() and is_data(path.relative_to(root))
    )
    if not files:
        raise Invalid(
            f"目录 {root.name} 中没有 Parquet 文件", f"no Parquet files under {root.name}"
        )
    return files


def relative_name(root: Path, file: Path) -> str:
    return file.name if root.is_file() else file.relative_to(root).as_posix()


def partition_of(relative: str) -> str:
    """The directory part of a file's relative name (``""`` at the root)."""
    return relative.rpartition("/")[0]


def partition_values(relative: str) -> dict[str, str]:
    """``{"town_code": "330282001"}`` from ``town_code=330282001/part-0.parquet``."""
    values: dict[str, str] = {}
    for segment in partition_of(relative).split("/"):
        if "=" in segment:
            key, _, value = segment.partition("=")
            values[unquote(key)] = unquote(value)
    return values


def dataset_columns(root: Path) -> list[str]:
    """The columns of a dataset (its files' then its partitions'), after checking that every
    file has the same columns of the same types and no column is also a partition key: two
    engines would otherwise each read such a dataset their own way."""
    files = dataset_files(root)
    first = pl.read_parquet_schema(files[0])
    for file in files[1:]:
        schema = pl.read_parquet_schema(file)
        if dict(schema) != dict(first):
            differ = sorted(
                (set(schema) ^ set(first))
                | {name for name in set(schema) & set(first) if schema[name] != first[name]}
            )
            raise Invalid(
                f"{relative_name(root, file)} 的列与 {relative_name(root, files[0])} 不同"
                f"（{', '.join(differ)}）：一个数据集的文件须有相同的列和类型",
                f"{relative_name(root, file)} has other columns than "
                f"{relative_name(root, files[0])} ({', '.join(differ)})",
                [
                    FieldProblem(
                        differ[0],
                        None,
                        "列不一致",
                        "columns differ",
                        file=relative_name(root, file),
                    )
                ],
            )
    keys: list[str] = []
    for file in files:
        for key in partition_values(relative_name(root, file)):
            if key in first:
                raise Invalid(
                    f"分区键 {key} 也是文件中的列（{relative_name(root, file)}）",
                    f"partition key {key} is also a column in the files",
                    [
                        FieldProblem(
                            key,
                            None,
                            "分区键重复",
                            "partition key repeated",
                            file=relative_name(root, file),
                        )
                    ],
                )
            if key not in keys:
                keys.append(key)
    return [*first, *keys]


def scan_dataset(root: Path) -> pl.LazyFrame:
    """Every record of a dataset with its partition columns (text) and provenance."""
    frames = []
    for file in dataset_files(root):
        relative = relative_name(root, file)
        columns = [
            # Hive's directory of an empty value reads as null, as Spark reads it.
            pl.lit(None if value == NULL_PARTITION else value, dtype=pl.String).alias(key)
            for key, value in partition_values(relative).items()
        ]
        scan = pl.scan_parquet(file)
        frames.append(
            scan.with_columns(
                *columns,
                pl.lit(relative, dtype=pl.String).alias(FILE),
                pl.lit(partition_of(relative), dtype=pl.String).alias(PARTITION),
                (pl.int_range(pl.len(), dtype=pl.Int64) + 1).alias(ROW),
            )
        )
    return pl.concat(frames, how="diagonal_relaxed")


def refused_path(output: Path) -> Path:
    """Where the refused rows of ``output`` are written: beside it."""
    return output.with_name(output.name + ".refused.csv")


def empty_refused() -> pl.DataFrame:
    return pl.DataFrame(schema=REFUSED_SCHEMA)


def write_refused(refused: pl.DataFrame, path: Path) -> None:
    """The refused rows as CSV with a BOM (Excel opens it in Chinese), atomically."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        refused.select(list(REFUSED_SCHEMA)).write_csv(temporary, include_bom=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_output_dir(output: Path) -> None:
    """An output dataset is a new directory: never written over another one."""
    if output.exists() and (output.is_file() or any(output.iterdir())):
        raise Invalid(
            f"输出 {output.name} 已存在；请换一个目录名或先删除它",
            f"output {output.name} already exists; choose another directory or remove it",
            [FieldProblem("output", output.name, "已存在", "already exists")],
        )
    if not output.parent.is_dir():
        raise Invalid(
            f"输出目录 {output.parent} 不存在", f"output folder {output.parent} does not exist"
        )


def staging_dir(output: Path) -> Path:
    """A temporary directory beside ``output``; ``publish`` renames it into place."""
    return Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))


def publish(staging: Path, output: Path) -> None:
    """All or nothing: the finished dataset appears at ``output`` in one rename."""
    if output.exists():
        output.rmdir()  # empty (check_output_dir)
    os.replace(staging, output)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def write_partitioned(
    frame: pl.DataFrame, directory: Path, partition_by: Sequence[str], *, stem: str = "part"
) -> None:
    """``frame`` as Parquet under ``directory`` (Hive-style by ``partition_by``; one file
    when none): the partition columns are in the path, not the files, as Spark writes them.
    ``stem`` starts the files' names: a dataset written in batches gives each its own."""
    directory.mkdir(parents=True, exist_ok=True)
    if not partition_by:
        frame.write_parquet(directory / f"{stem}-00000.parquet")
        return
    for number, (values, part) in enumerate(
        frame.partition_by(list(partition_by), as_dict=True, maintain_order=True).items()
    ):
        folder = directory
        for key, value in zip(partition_by, values, strict=True):
            folder = folder / f"{key}={_escape(value)}"
        folder.mkdir(parents=True, exist_ok=True)
        part.drop(list(partition_by)).write_parquet(folder / f"{stem}-{number:05d}.parquet")


NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The directory of records whose partition value is empty (as Spark and Hive name it)."""


def _escape(value: Any) -> str:
    if value is None or value == "":
        return NULL_PARTITION
    text = str(value)
    return "".join(
        f"%{ord(ch):02X}" if ch in "\"#%'*/:=?\\\x7f{}[]^" or ord(ch) < 32 else ch for ch in text
    )


@dataclass(frozen=True)
class Manifest:
    """``_luodi.json`` of a dataset luodi wrote."""

    format: str
    as_of: date
    engine: str
    rows: int
    partition_by: list[str] = field(default_factory=list)
    policy_id: str | None = None
    policy_version: str | None = None
    policy_digest: str | None = None
    policy_text: str | None = None
    refused: int = 0
    refused_digest: str | None = None
    source: str | None = None
    """The input dataset's name (a scored dataset) or the city (an inputs export)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: Path) -> None:
        payload = asdict(self) | {"as_of": self.as_of.isoformat()}
        (directory / MANIFEST).write_text(
            json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8"
        )

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise Invalid(
                f"{directory.name} 中没有 {MANIFEST}（不是 luodi 写出的数据集）",
                f"no {MANIFEST} in {directory.name} (not a dataset luodi wrote)",
            )
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            payload["as_of"] = date.fromisoformat(payload["as_of"])
            known = set(cls.__dataclass_fields__)
            return cls(**{key: value for key, value in payload.items() if key in known})
        except (ValueError, TypeError, KeyError) as error:
            raise Invalid(
                f"{MANIFEST} 无法读取：{error}", f"{MANIFEST} cannot be read: {error}"
            ) from None


def ordered(columns: Iterable[str], first: Sequence[str]) -> list[str]:
    """``first`` (those present) then the rest in their order."""
    listed = list(columns)
    return [name for name in first if name in listed] + [
        name for name in listed if name not in first
    ]
