"""Demo applications drawn from a synthetic city's files (``luodi synth``): who applies for
a school place, a flat, a health check or a loan, and what they choose. Seeded: the same
city and seed give the same applications."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from luodi.registry import city_files


def school_applications(city: Path, autumn: int, seed: int = 1) -> pl.DataFrame:
    """Children six by 31 August of ``autumn`` (grade 1), a parent applying for each; the
    schools of their own town first, then one or two of the neighbouring towns'."""
    rng = np.random.default_rng(seed)
    children = pl.read_csv(city / city_files.CHILDREN, infer_schema=False)
    residents = pl.read_csv(city / city_files.RESIDENTS, infer_schema=False)
    schools = pl.read_csv(city / city_files.SCHOOLS, infer_schema=False).filter(
        pl.col("entry_grade") == "1"
    )
    born_from, born_to = date(autumn - 7, 9, 1), date(autumn - 6, 8, 31)
    entering = children.with_columns(birth=pl.col("birth_date").str.to_date()).filter(
        pl.col("birth").is_between(born_from, born_to)
    )
    entering = entering.join(
        residents.select("id_number", "town_code"), on="id_number", how="inner"
    ).sort("child_id_number")
    by_town: dict[str, list[str]] = {}
    for school_id, town in schools.select("school_id", "town_code").iter_rows():
        by_town.setdefault(town, []).append(school_id)
    towns = sorted(by_town)
    rows = []
    for parent, child, town in entering.select(
        "id_number", "child_id_number", "town_code"
    ).iter_rows():
        own = list(rng.permutation(by_town.get(town, [])))
        others = [t for t in towns if t != town]
        extra = [
            by_town[others[index]][0]
            for index in rng.choice(len(others), size=min(2, len(others)), replace=False)
        ]
        choices = (own + extra)[: int(rng.integers(1, 6))]
        route = rng.choice(["points", "talent", "care", "direct"], p=[0.92, 0.03, 0.03, 0.02])
        rows.append((parent, child, ";".join(choices), str(route)))
    return pl.DataFrame(
        rows, schema=["id_number", "child_id_number", "choices", "route"], orient="row"
    )


def housing_applications(city: Path, share: float = 0.01, seed: int = 2) -> pl.DataFrame:
    """About ``share`` of the households where nobody owns a home ask for a flat, one
    member each (一户一份申请: a second member's application is refused)."""
    rng = np.random.default_rng(seed)
    residents = pl.read_csv(city / city_files.RESIDENTS, infer_schema=False).with_columns(
        household=pl.coalesce("household_number", pl.lit("alone:") + pl.col("id_number"))
    )
    owners = pl.read_csv(city / city_files.HOUSING, infer_schema=False).filter(
        pl.col("housing") == "owned"
    )
    projects = (
        pl.read_csv(city / city_files.HOUSING_UNITS, infer_schema=False)["project_id"]
        .unique()
        .sort()
        .to_list()
    )
    owning = residents.join(owners.select("id_number"), on="id_number", how="semi")["household"]
    pool = (
        residents.filter(~pl.col("household").is_in(owning.implode()))
        .sort("id_number")
        .unique("household", keep="first", maintain_order=True)
    )
    chosen = pool.sample(fraction=share, seed=seed)
    count = chosen.height
    choices = [
        ";".join(rng.permutation(projects)[: int(rng.integers(1, min(3, len(projects)) + 1))])
        for _ in range(count)
    ]
    return pl.DataFrame({"id_number": chosen["id_number"], "choices": choices})


def benefit_applications(city: Path, count: int, seed: int = 3) -> pl.DataFrame:
    residents = pl.read_csv(city / city_files.RESIDENTS, infer_schema=False).sort("id_number")
    return residents.sample(n=min(count, residents.height), seed=seed).select("id_number")


def health_check_applications(city: Path, share: float = 0.05, seed: int = 4) -> pl.DataFrame:
    """Workers who wish a health check (本人意愿): about ``share`` of the wage earners in
    work, whatever their post or employer — the program, not the demo, decides who may."""
    employment = pl.read_csv(city / city_files.EMPLOYMENT, infer_schema=False)
    working = (
        employment.filter(pl.col("end_date").is_null() | (pl.col("end_date") == ""))
        .select("id_number")
        .unique()
        .sort("id_number")
    )
    if working.is_empty():
        return working
    return working.sample(n=max(1, round(working.height * share)), seed=seed)


def loan_applications(city: Path, share: float = 0.02, seed: int = 5) -> pl.DataFrame:
    """About ``share`` of residents ask for a 新市民贷: a term of 3, 6 or 12 months (a few
    ask for 24, which the program refuses) and most agree that the bank receives the
    application (a few do not, and are not approved)."""
    rng = np.random.default_rng(seed)
    residents = pl.read_csv(city / city_files.RESIDENTS, infer_schema=False).sort("id_number")
    chosen = residents.sample(n=max(1, round(residents.height * share)), seed=seed)
    count = chosen.height
    return pl.DataFrame(
        {
            "id_number": chosen["id_number"],
            "requested_term_months": rng.choice(
                [3, 6, 12, 24], size=count, p=[0.2, 0.3, 0.45, 0.05]
            ),
            "bank_consent": rng.random(count) < 0.95,
        }
    )
