"""The Spark session luodi's commands run on: local mode by default, any master by URL.

Java is what Spark needs beyond PyPI: the project's set-up installs Debian's
``openjdk-17-jre-headless`` (``make browser``); without it a command says so in words, not
with a Java gateway traceback. The session's settings pin what would otherwise make Spark
read the same bytes differently from Polars: partition values stay text (``town_code=0571``
keeps its zero), the time zone is UTC, and ANSI mode's exceptions never replace a refused row.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from luodi.errors import Invalid

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
SETTINGS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # Every value is checked by an explicit rule (kernels.policy.spark_checks): a bad one is
    # a refused row, never an exception that stops the job half-way.
    "spark.sql.ansi.enabled": "false",
}


def java_available() -> bool:
    return bool(os.environ.get("JAVA_HOME")) or shutil.which("java") is not None


def session(master: str | None = None, app: str = "luodi", **settings: str) -> SparkSession:
    """A Spark session on ``master`` (default ``local[*]``) with luodi's settings; extra
    ``settings`` (e.g. ``spark.sql.shuffle.partitions``) win over them."""
    if not java_available():
        raise Invalid(
            "找不到 Java：Spark 需要 Java 17（make browser 会安装 openjdk-17-jre-headless，"
            "或设置 JAVA_HOME）",
            "Java not found: Spark needs Java 17 (make browser installs "
            "openjdk-17-jre-headless; or set JAVA_HOME)",
        )
    # The workers run this interpreter, whose environment has luodi and Polars.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master or DEFAULT_MASTER).appName(app)
    for key, value in {**SETTINGS, **settings}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # no JVM, a master that does not answer: said, not a traceback
        raise Invalid(
            f"无法启动 Spark（master {master or DEFAULT_MASTER}）：{str(error)[:300]}",
            f"cannot start Spark (master {master or DEFAULT_MASTER}): {str(error)[:300]}",
        ) from error
    spark.sparkContext.setLogLevel("ERROR")
    return spark
