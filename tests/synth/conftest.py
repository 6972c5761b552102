"""One synthetic city for the synth tests: generated once, also written as its CSV files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from luodi.synth.generator import SynthOptions, generate_city
from luodi.synth.service import write_frames


@pytest.fixture(scope="session")
def city() -> dict[str, pl.DataFrame]:
    return generate_city(SynthOptions(residents=20_000, seed=3))


@pytest.fixture(scope="session")
def city_dir(city: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("city")
    write_frames(city, directory)
    return directory
