"""Registry rows handed over as frames (``registry.service.register_frames``): what a
registering feed and ``luodi load`` both use. Problems name the file and the row the caller
gives; a bad row writes nothing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.registry import city_files, service
from luodi.registry.loading import read_registry_files
from luodi.registry.models import Resident, Town
from luodi.tabular import LINE


def residents(small_city: Path, count: int) -> pl.DataFrame:
    """Residents as text with the rows of a department's file (a title row, then data)."""
    frame = pl.read_csv(small_city / city_files.RESIDENTS, infer_schema=False).head(count)
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(LINE) + 3)


def test_frames_register_and_a_bad_row_is_named_by_its_line(
    session: Session, small_city: Path
) -> None:
    frames = read_registry_files(small_city)
    towns = {city_files.TOWNS: frames[city_files.TOWNS]}
    service.register_frames(SYSTEM_ACTOR, session, towns)
    bad = residents(small_city, 10).with_columns(
        town_code=pl.when(pl.col(LINE) == 7).then(pl.lit("330282999")).otherwise("town_code")
    )
    with pytest.raises(Invalid) as refused:
        service.register_frames(
            SYSTEM_ACTOR, session, {city_files.RESIDENTS: bad}, what=("住户", "residents")
        )
    problem = refused.value.details[0]
    assert (problem.file, problem.row, problem.field) == (city_files.RESIDENTS, 7, "town_code")
    assert refused.value.message_en.startswith("residents: 1 problem found;")
    assert session.scalar(select(func.count()).select_from(Resident)) == 0

    summary = service.register_frames(
        SYSTEM_ACTOR, session, {city_files.RESIDENTS: residents(small_city, 10)}
    )
    assert summary.residents == 10
    assert session.scalar(select(func.count()).select_from(Town)) == 19


def test_the_city_files_are_read_by_the_feed_reader(small_city: Path, tmp_path: Path) -> None:
    """Chinese headers and a title row above them, as a department writes its file."""
    city = tmp_path / "city"
    city.mkdir()
    for name in [*city_files.REGISTRY_FILES, *city_files.OPTIONAL_REGISTRY_FILES]:
        if (small_city / name).exists():
            (city / name).write_bytes((small_city / name).read_bytes())
    frame = pl.read_csv(small_city / city_files.RESIDENTS, infer_schema=False)
    titled = (
        "新市民居住登记表\n"
        + frame.rename(
            {"id_number": "公民身份号码", "name": "姓名", "town_code": "镇街代码"}
        ).write_csv()
    )
    (city / city_files.RESIDENTS).write_bytes(titled.encode("gbk"))
    read = read_registry_files(city)[city_files.RESIDENTS]
    assert read.height == frame.height
    assert read[LINE][0] == 3  # the title is row 1, the header row 2
    assert read["id_number"].to_list() == frame["id_number"].to_list()
