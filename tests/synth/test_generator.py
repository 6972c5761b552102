"""The synthetic city: deterministic, valid, and shaped like a Zhejiang migrant population."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl

from luodi.kernels.identifiers import check_credit_code, invalid_id_number_rows
from luodi.registry import city_files
from luodi.synth.generator import DEFAULT_AS_OF, SynthOptions
from luodi.synth.service import write_city


def digests(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.csv"))
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = digests_of(tmp_path / "a", seed=11)
    again = digests_of(tmp_path / "b", seed=11)
    other = digests_of(tmp_path / "c", seed=12)
    assert first == again
    # The past's files only with ``--years``.
    assert set(first) == (set(city_files.COLUMNS) - set(city_files.HISTORY_FILES)) | set(
        city_files.OPTIONAL_REGISTRY_FILES
    )
    assert all(
        first[name] != other[name]
        for name in (
            city_files.RESIDENTS,
            city_files.CHILDREN,
            city_files.PERMITS,
            city_files.PERMIT_ENDORSEMENTS,
            city_files.SOCIAL_INSURANCE,
            city_files.UNIONS,
        )
    )


def digests_of(directory: Path, seed: int) -> dict[str, str]:
    write_city(SynthOptions(residents=1_500, seed=seed), directory)
    return digests(directory)


def test_every_file_has_its_columns_and_people_carry_id_number(
    city: dict[str, pl.DataFrame],
) -> None:
    for name, frame in city.items():
        assert frame.columns == city_files.registry_columns(name)
        assert frame.height > 0
    for name in (
        city_files.RESIDENTS,
        city_files.PERMITS,
        city_files.CHILDREN,
        city_files.EMPLOYMENT,
        city_files.SOCIAL_INSURANCE,
        city_files.EDUCATION,
    ):
        assert "id_number" in city[name].columns


def test_all_numbers_valid_and_unique(city: dict[str, pl.DataFrame]) -> None:
    people = pl.concat(
        [city[city_files.RESIDENTS]["id_number"], city[city_files.CHILDREN]["child_id_number"]]
    )
    assert invalid_id_number_rows(people, DEFAULT_AS_OF).len() == 0
    assert people.is_unique().all()
    codes = city[city_files.EMPLOYERS]["credit_code"]
    assert codes.is_unique().all()
    assert all(check_credit_code(code).valid for code in codes.to_list())


def test_references_resolve(city: dict[str, pl.DataFrame]) -> None:
    residents = city[city_files.RESIDENTS]["id_number"]
    towns = city[city_files.TOWNS]["code"]
    assert city[city_files.PERMITS]["id_number"].is_in(residents.implode()).all()
    assert (
        city[city_files.EMPLOYMENT]["credit_code"]
        .is_in(city[city_files.EMPLOYERS]["credit_code"].implode())
        .all()
    )
    for name in (
        city_files.RESIDENTS,
        city_files.SCHOOLS,
        city_files.HOUSING_UNITS,
        city_files.EMPLOYERS,
    ):
        assert city[name]["town_code"].is_in(towns.implode()).all()
    households = city[city_files.RESIDENTS]["household_number"]
    assert city[city_files.CHILDREN]["household_number"].is_in(households.implode()).all()


def test_population_looks_like_a_zhejiang_manufacturing_city(city: dict[str, pl.DataFrame]) -> None:
    residents = city[city_files.RESIDENTS].with_columns(pl.col("birth_date").cast(pl.Date))
    age = (pl.lit(DEFAULT_AS_OF) - pl.col("birth_date")).dt.total_days() / 365.25
    ages = residents.select(age.alias("age"))["age"]
    assert (
        residents["birth_date"]
        <= date(DEFAULT_AS_OF.year - 18, DEFAULT_AS_OF.month, DEFAULT_AS_OF.day)
    ).all()
    assert 0.6 < ((ages >= 20) & (ages <= 45)).mean() < 0.9
    top = (
        residents.group_by("origin_province")
        .len()
        .sort("len", descending=True)["origin_province"]
        .head(5)
    )
    assert set(top.to_list()) <= {"安徽", "贵州", "江西", "河南", "四川"}
    education = city[city_files.EDUCATION]["education"].value_counts(sort=True)
    assert education["education"][0] == "junior_high"
    per_household = city[city_files.CHILDREN].height / residents["household_number"].n_unique()
    assert 0.5 < per_household < 0.75
    children = city[city_files.CHILDREN].with_columns(pl.col("birth_date").cast(pl.Date))
    assert (children["birth_date"] < DEFAULT_AS_OF).all()
    assert (children["birth_date"] > date(DEFAULT_AS_OF.year - 16, 1, 1)).all()
    months = (
        city[city_files.SOCIAL_INSURANCE]
        .group_by("id_number")
        .agg(pl.col("months_paid").sum())["months_paid"]
    )
    assert months.median() < months.mean()  # skewed: a long tail of long contributors
    relations = residents["relation_to_head"].value_counts().to_dict(as_series=False)
    shares = dict(zip(relations["relation_to_head"], relations["count"], strict=True))
    assert set(shares) == {"head", "spouse", "parent", "child", "sibling"}
    assert 0.15 < shares["spouse"] / residents.height < 0.25


def test_some_schools_over_subscribed_and_spare_seats_elsewhere(
    city: dict[str, pl.DataFrame],
) -> None:
    children = city[city_files.CHILDREN].with_columns(pl.col("birth_date").cast(pl.Date))
    entering = children.filter(
        (pl.col("birth_date") > date(DEFAULT_AS_OF.year - 7, 8, 31))
        & (pl.col("birth_date") <= date(DEFAULT_AS_OF.year - 6, 8, 31))
    ).join(
        city[city_files.RESIDENTS]
        .select("household_number", "town_code")
        .unique("household_number"),
        on="household_number",
    )
    demand = entering.group_by("town_code").len()
    seats = (
        city[city_files.SCHOOLS]
        .filter(pl.col("stage") == "primary")
        .group_by("town_code")
        .agg(pl.col("seats").sum())
    )
    ratio = demand.join(seats, on="town_code").with_columns(r=pl.col("len") / pl.col("seats"))["r"]
    assert (ratio > 1).any(), "no town is over-subscribed"
    assert (ratio < 1).any(), "no town has spare seats"
