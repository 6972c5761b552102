"""Row by row: which records of an input dataset a policy can score, and why the others are
refused — the same checks as ``prepare_inputs``, per (row, column), on Polars; their Spark
twin is ``kernels.policy.spark_checks`` (the same rules as Spark expressions, equal row for
row: tests/scale).

Missing columns (the key, a required input) refuse the whole dataset (``InputError``); a value
refuses its row: the key empty or repeated, a required value empty, a value that does not read
as its type, an enum value not declared. Values are read by one grammar on both engines (the
patterns below): numbers as decimal text, dates as YYYY-MM-DD, YYYY/M/D, YYYY.M.D or
YYYYMMDD, true/false in the words of ``TRUE_WORDS``/``FALSE_WORDS``; whitespace (Unicode's)
around a value is not part of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from luodi.kernels.policy.document import Policy
from luodi.kernels.policy.engine import KEY

NUMBER_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
DATE_PATTERN = r"^([0-9]{4})([-/.])([0-9]{1,2})([-/.])([0-9]{1,2})$|^[0-9]{8}$"


@dataclass(frozen=True)
class Checked:
    typed: pl.DataFrame
    """The rows that pass: ``key``, one typed column per declared input (as
    ``prepare_inputs`` types them), then the carried columns as they came."""
    refused: pl.DataFrame
    """``scale.layout.REFUSED_SCHEMA``: one row per refused (row, column, reason)."""


def check_rows(
    frame: pl.DataFrame, policy: Policy, *, key: str = KEY, carry: Sequence[str] = ()
) -> Checked:
    """``frame`` holds ``scale.layout.PROVENANCE`` columns beside the inputs."""
    raise NotImplementedError
