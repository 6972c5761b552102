"""Enum cells in their canonical spelling, as a feed import reads them.

``luodi load`` reads the registry files with the feeds that register them; their ``values:``
spellings (类型 街道/镇, 状态 有效/已过期/注销, 与户主关系 父亲/本人, 就业依据 劳动合同 …)
must mean there what they mean to ``luodi feed import`` of the same file: one lookup
(``kernels.feeds.checks.typed``), not a second list in the loader.
"""

from __future__ import annotations

import polars as pl

from luodi.kernels.feeds.checks import raw, typed
from luodi.kernels.feeds.spec import ColumnType, FeedSpec


def canonical_enums(spec: FeedSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (text columns named as the feed's) with each enum cell in its canonical
    spelling; a spelling the feed does not know is left as written, for the registry's own
    check to name with its row."""
    enums = [
        (name, column)
        for name, column in spec.columns.items()
        if column.type == ColumnType.ENUM and name in frame.columns
    ]
    if not enums:
        return frame
    originals = [raw(name) for name, _ in enums]
    return (
        frame.with_columns(pl.col(name).alias(raw(name)) for name, _ in enums)
        .with_columns(
            pl.coalesce(typed(name, column), pl.col(raw(name))).alias(name)
            for name, column in enums
        )
        .drop(originals)
    )
