"""A scoring run's typed inputs and points as one frame, stored once as Parquet parts.

The frame has one row per resident scored, sorted by ``resident_id``: ``total``, ``points``
(a struct: indicator id → signed points, in the policy's order) and ``inputs`` (a struct: the
run's typed inputs, exactly as the policy read them: Int64, Float64, Boolean, Date, String).
It is cut into parts of ``PART_ROWS`` residents, each a Parquet file stored in a table row
with its SHA-256, so that one resident's score reads one small part and an allocation the
parts it needs, and no reader decodes JSON. Within a part, row groups of ``ROW_GROUP_ROWS``
residents carry their id range in the Parquet statistics: a reader asking for one resident
decodes the one row group that holds them (about 1 ms), not the part (about 15 ms). The run's ``frame_digest`` is the SHA-256 of the
parts' bytes in order: it certifies the stored frame (the audit record of the run carries it)
and is checked on every read.

Pure: frames in, bytes out; the database is the repository's.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from luodi.kernels.policy import KEY, TOTAL

PART_ROWS = 16_384
"""Residents per part: one resident's page reads one part (~0.6 MB), not the whole city."""
ROW_GROUP_ROWS = 1_024
"""Residents per Parquet row group of a part: what one resident's read decodes. Smaller
groups decode faster but weigh more (per 16,384 residents, zstd: 256 → 1.26 MB, 1,024 →
0.61 MB, one group → 0.37 MB; decoding one resident 1.2, 1.5 and 12.6 ms)."""
POINTS = "points"
INPUTS = "inputs"


@dataclass(frozen=True)
class Part:
    number: int
    first_resident_id: int
    last_resident_id: int
    rows: int
    digest: str
    data: bytes


class FrameDamaged(RuntimeError):
    """A stored part no longer matches its digest: the run's scores cannot be trusted."""


def score_frame(
    points: pl.DataFrame, typed: pl.DataFrame, indicator_ids: Sequence[str]
) -> pl.DataFrame:
    """The frame to store from the kernel's points (``KEY``, indicators, ``TOTAL``) and the
    typed inputs they were computed from (``KEY`` and one column per input)."""
    # One type per kind whatever the path: an input at its default is a literal (Int32 for
    # an int) where a read one is Int64, and the frame, hence its digest, must not depend on
    # which it was.
    inputs = [
        pl.col(name).cast(pl.Int64)
        if dtype.is_integer()
        else pl.col(name).cast(pl.Float64)
        if dtype.is_float()
        else pl.col(name)
        for name, dtype in typed.schema.items()
        if name != KEY
    ]
    scored = points.select(
        pl.col(KEY).cast(pl.Int64),
        pl.col(TOTAL).cast(pl.Float64).alias("total"),
        pl.struct([pl.col(name).cast(pl.Float64) for name in indicator_ids]).alias(POINTS),
    )
    typed_inputs = typed.select(pl.col(KEY).cast(pl.Int64), pl.struct(inputs).alias(INPUTS))
    if scored.get_column(KEY).equals(typed_inputs.get_column(KEY)):
        frame = scored.with_columns(typed_inputs.get_column(INPUTS))
    else:
        frame = scored.join(typed_inputs, on=KEY, how="left")
    return frame.sort(KEY)


def to_parts(frame: pl.DataFrame) -> tuple[list[Part], str]:
    """``frame`` (sorted by ``KEY``) as Parquet parts, and the digest of them all."""
    whole = hashlib.sha256()
    parts: list[Part] = []
    for number, chunk in enumerate(frame.iter_slices(PART_ROWS)):
        buffer = io.BytesIO()
        chunk.write_parquet(
            buffer, compression="zstd", statistics=True, row_group_size=ROW_GROUP_ROWS
        )
        data = buffer.getvalue()
        whole.update(data)
        keys = chunk.get_column(KEY)
        parts.append(
            Part(
                number,
                int(keys[0]),
                int(keys[-1]),
                chunk.height,
                hashlib.sha256(data).hexdigest(),
                data,
            )
        )
    return parts, whole.hexdigest()


def from_parts(
    parts: Iterable[tuple[int, str, bytes]],
    where: str,
    columns: Sequence[str] | None = None,
    keep: pl.Series | None = None,
) -> pl.DataFrame:
    """The frame of stored parts (number, digest, data), each checked against its digest;
    ``where`` names the run in the error. ``columns``: only these are decoded (the points
    struct is half of a part's decoding, and an allocation reads none of it); ``keep``: only
    the rows of these resident ids are kept, part by part (the whole frame is never held),
    and only the row groups whose id range meets theirs are decoded (one resident: one)."""
    frames: list[pl.DataFrame] = []
    wanted = None if keep is None else keep.cast(pl.Int64).unique().sort()
    for number, digest, data in parts:
        if hashlib.sha256(data).hexdigest() != digest:
            raise FrameDamaged(f"{where}: stored part {number} does not match its digest")
        if wanted is None:
            frame = pl.read_parquet(io.BytesIO(data), columns=list(columns) if columns else None)
        else:
            # The filter goes down to the reader: a row group whose statistics (its lowest
            # and highest resident_id) lie outside the ids wanted is skipped undecoded.
            scan = pl.scan_parquet(io.BytesIO(data))
            if wanted.len() == 0:
                scan = scan.filter(pl.lit(False))
            elif wanted.len() == 1:
                scan = scan.filter(pl.col(KEY) == wanted[0])
            else:
                # The reader prunes by the bounds (not by the list itself).
                scan = scan.filter(
                    pl.col(KEY).is_between(wanted[0], wanted[-1]),
                    pl.col(KEY).is_in(wanted.implode()),
                )
            if columns:
                scan = scan.select(columns)
            frame = scan.collect(engine="in-memory")
        frames.append(frame)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="vertical", rechunk=False)


def parts_holding(ranges: pl.DataFrame, resident_ids: pl.Series) -> list[int]:
    """The numbers of the parts (``ranges``: ``part``, ``first_resident_id``,
    ``last_resident_id``, in order) whose range holds at least one of ``resident_ids``."""
    if ranges.height == 0 or resident_ids.len() == 0:
        return []
    ids = resident_ids.cast(pl.Int64).unique().sort().to_frame(KEY)
    located = ids.join_asof(
        ranges.sort("first_resident_id"),
        left_on=KEY,
        right_on="first_resident_id",
        strategy="backward",
    ).filter(pl.col(KEY) <= pl.col("last_resident_id"))
    return located.get_column("part").unique().sort().to_list()


def frame_digest(parts: Iterable[bytes]) -> str:
    whole = hashlib.sha256()
    for data in parts:
        whole.update(data)
    return whole.hexdigest()


def typed_inputs(frame: pl.DataFrame) -> pl.DataFrame:
    """``KEY`` and the run's typed inputs, one column each."""
    return frame.select(KEY, INPUTS).unnest(INPUTS)


def points_of(frame: pl.DataFrame) -> pl.DataFrame:
    """``KEY``, ``total`` and one column of points per indicator."""
    return frame.select(KEY, "total", POINTS).unnest(POINTS)
