"""The synthetic city's past (``luodi synth --years N``): the migration model of
docs/analytics.md, vectorised.

Today's city (``generator``) is what survived: the families here at the reference date. The
past adds, for the ``N`` years before it,

1. the timing of arrivals: the families of today who arrived in the window are spread over its
   months by a Poisson intensity per town — a level growing by a rate that varies by town and
   year, times a Spring-Festival season — weighted by their chance to have stayed until today;
2. the families who left: those who arrived in the window and left before today, and those
   here before it who left during it (a yearly hazard per town), each a copy of one of
   today's households of the same town, as old at its departure as that household is today,
   with its children (brought along or born here) and its permits, cancelled on the day it
   left or expired the day before (with their endorsements);
3. the past school cycles: for each school year, the children of entry age whose family the
   registry knew on 30 April (``kernels.forecast.presence``: the same reading the forecast
   makes of the registry), a share of them applying per town, spread over the town's schools
   open that year, placed up to each school's seats of that year.

Every draw comes from one generator seeded from the city's seed (a stream of its own, so that
today's city is drawn exactly as without a history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from luodi.kernels.calendar import years_before
from luodi.kernels.forecast import ENTRY_GRADES
from luodi.kernels.forecast.presence import entry_age_born, family_presence, present_on
from luodi.registry import city_files
from luodi.synth.reference import (
    ARRIVAL_SEASON,
    CAPTURE_RANGE,
    CIXI_TOWNS,
    DEPARTURE_CANCELLED,
    DEPARTURE_HAZARD,
    DEPARTURE_HAZARD_RANGE,
    INFLOW_TREND,
    INFLOW_TREND_SPREAD,
    INFLOW_YEAR_SPREAD,
    NEVER_APPLY,
    NEW_SCHOOL_TOWNS,
    PERMIT_AFTER_ARRIVAL_DAYS,
    PERMIT_APPLICATION_WAIT_DAYS,
    PERMIT_VALIDITY_YEARS,
    REGISTRATION_START,
    SCHOOL_YEAR_COUNT_DAY,
    SEAT_GROWTH_CLASS,
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
EPOCH = date(1970, 1, 1)
YEAR_DAYS = 365.25
CLASS_SIZES = {1: 45, 7: 50}
"""Seats of one class by entry grade, as ``generator`` sizes the schools."""
GROWN_FIRST_SERIAL, DEPARTED_FIRST_SERIAL = 200, 300
"""The grown children's and the departed's ID numbers count their sequence from these: today's
people use the first few serials of a region, birth date and sex, so none share a number."""
FERTILITY = {"couple": 1.6, "single": 0.55}
"""Children per household over the sixteen years of childhood, as ``generator`` draws them."""
PERMIT_RATE_MIN_DAYS = 30
"""A leaver whose permit would come less than a month before leaving never had one."""


def _days(value: date) -> int:
    return (value - EPOCH).days


@dataclass(frozen=True)
class Migration:
    """The drawn parameters of the model, per town (in ``CIXI_TOWNS`` order)."""

    growth: Floats
    """Towns × years: the growth of arrivals from each window year to the next."""
    level: Floats
    """Towns × years: arrivals' level in each window year relative to the first."""
    hazard: Floats
    """Yearly probability of leaving, per town."""
    capture: Floats
    """Share of the children of entry age who apply, per town."""


@dataclass(frozen=True)
class Window:
    """The ``years`` before the reference date, month by month."""

    years: int
    start: int
    end: int
    month_start: Ints
    """Days of the months' starts (the first clipped to ``start``), and ``end`` last."""
    calendar_month: Ints
    """Each month's calendar month, 0 for January."""

    @property
    def months(self) -> int:
        return len(self.month_start) - 1


def window(as_of: date, years: int) -> Window:
    start = _days(years_before(as_of, years))
    first = np.datetime64(years_before(as_of, years), "M")
    last = np.datetime64(as_of, "M")
    if as_of.day > 1:
        last = last + 1
    starts = np.arange(first, last + 1).astype("datetime64[D]").astype(np.int64)
    starts[0] = start
    starts[-1] = _days(as_of)
    calendar = (np.arange(first, last).astype(np.int64) % 12).astype(np.int64)
    return Window(years, start, _days(as_of), starts, calendar)


def draw_migration(rng: np.random.Generator, years: int) -> Migration:
    towns = len(CIXI_TOWNS)
    kind = np.array([INFLOW_TREND["hot" if t.hot_schools else "other"] for t in CIXI_TOWNS])
    trend = kind + rng.normal(0, INFLOW_TREND_SPREAD, towns)
    growth = trend[:, None] + rng.normal(0, INFLOW_YEAR_SPREAD, (towns, years))
    level = np.cumprod(np.concatenate([np.ones((towns, 1)), 1 + growth[:, :-1]], axis=1), axis=1)
    hazard = DEPARTURE_HAZARD * rng.uniform(*DEPARTURE_HAZARD_RANGE, towns)
    capture = rng.uniform(*CAPTURE_RANGE, towns)
    return Migration(growth, level, hazard, capture)


def _intensity(model: Migration, span: Window) -> tuple[Floats, Floats]:
    """Towns × months: the arrival intensity's shape (level × season × the month's length in
    average months) and the chance that a family arrived mid-month is still here at the end."""
    length = np.diff(span.month_start).astype(np.float64)
    year_of = np.minimum(np.arange(span.months) // 12, span.years - 1)
    season = np.asarray(ARRIVAL_SEASON)[span.calendar_month]
    shape = model.level[:, year_of] * season[None, :] * (length / (YEAR_DAYS / 12))[None, :]
    middle = span.month_start[:-1] + length / 2
    stayed = np.exp(-model.hazard[:, None] * (span.end - middle)[None, :] / YEAR_DAYS)
    return shape, stayed


def _day_in_month(rng: np.random.Generator, span: Window, month: Ints) -> Ints:
    length = span.month_start[month + 1] - span.month_start[month]
    offset: Ints = (rng.random(len(month)) * length).astype(np.int64)
    return span.month_start[month] + offset


@dataclass(frozen=True)
class Arrivals:
    arrival: Ints
    """Every resident's arrival day, those of the window's households drawn again."""
    scale: Floats
    """Per town: families arriving in an average month of the first window year."""


def time_arrivals(
    rng: np.random.Generator,
    model: Migration,
    span: Window,
    town_index: Ints,
    household: Ints,
    arrival: Ints,
    birth: Ints,
    born_here_days: Ints,
) -> Arrivals:
    """Today's households who arrived in the window, arrived again by the model: a month
    drawn in proportion to intensity × survival (they are the survivors), the day uniform in
    it; the whole household on the head's day (ASSUMPTION: families move together), but never
    after a child born here, nor before a member's sixteenth birthday unless a child was born
    here before it."""
    shape, stayed = _intensity(model, span)
    heads = np.flatnonzero(household == np.arange(len(household)))
    recent = heads[arrival[heads] >= span.start]
    drawn = np.zeros(len(household), dtype=np.int64)
    scale = np.zeros(len(CIXI_TOWNS))
    head_town = town_index[recent]
    for town in range(len(CIXI_TOWNS)):
        mine = recent[head_town == town]
        weight = shape[town] * stayed[town]
        scale[town] = len(mine) / weight.sum()
        month = rng.choice(span.months, size=len(mine), p=weight / weight.sum())
        drawn[mine] = _day_in_month(rng, span, month)
    moved = np.isin(household, recent)
    latest = span.end - born_here_days - 1
    adult = birth + int(16 * YEAR_DAYS)
    again = np.minimum(drawn[household], latest)
    again = np.where(born_here_days == 0, np.maximum(again, np.minimum(adult, latest)), again)
    return Arrivals(np.where(moved, again, arrival), scale)


@dataclass(frozen=True)
class Population:
    """Today's city as the generator's arrays (one entry per adult, then per child)."""

    as_of: date
    years: int
    town_index: Ints
    town_codes: npt.NDArray[np.str_]
    household: Ints
    relation: npt.NDArray[np.str_]
    male: Bools
    birth: Ints
    region: Ints
    regions: list[str]
    province_index: Ints
    province_names: list[str]
    surname_of: Ints
    surnames: pl.Series
    spouse_of: Ints
    arrival: Ints
    child_head: Ints
    child_birth: Ints
    child_male: Bools


@dataclass(frozen=True)
class Leavers:
    template: Ints
    """The household (its head) each leaving family copies."""
    arrived: Ints
    left: Ints


def draw_leavers(
    rng: np.random.Generator,
    model: Migration,
    span: Window,
    arrivals: Arrivals,
    people: Population,
) -> Leavers:
    """The families who left during the window: those who arrived in it (per town and month,
    Poisson of intensity × the chance to have left by now; a stay drawn from the hazard,
    ended before today) and those here before it (Poisson of today's such families × (e^{hN}
    − 1): the share of the families present at its start that left; the day from the hazard
    within the window)."""
    shape, stayed = _intensity(model, span)
    household = people.household
    heads = np.flatnonzero(household == np.arange(len(household)))
    head_town = people.town_index[heads]
    earlier = arrivals.arrival[heads] < span.start
    parts: list[tuple[Ints, Ints, Ints]] = []
    for town in range(len(CIXI_TOWNS)):
        hazard = model.hazard[town]
        here = heads[head_town == town]
        before = heads[(head_town == town) & earlier]
        if len(here) == 0:
            continue
        # Arrived in the window and gone.
        counts = rng.poisson(arrivals.scale[town] * shape[town] * (1 - stayed[town]))
        month = np.repeat(np.arange(span.months), counts)
        arrived = _day_in_month(rng, span, month)
        left = arrived + _stay_days(rng, hazard, (span.end - arrived) / YEAR_DAYS)
        template = here[rng.integers(0, len(here), len(month))]
        parts.append((template, arrived, left))
        # Here before the window and gone during it: as old at leaving as their template now.
        if len(before):
            count = rng.poisson(len(before) * np.expm1(hazard * span.years))
            template = before[rng.integers(0, len(before), count)]
            left = span.start + _stay_days(
                rng, hazard, np.full(count, (span.end - span.start) / YEAR_DAYS)
            )
            arrived = arrivals.arrival[template] - (span.end - left)
            parts.append((template, arrived, left))
    template, arrived, left = (np.concatenate(column) for column in zip(*parts, strict=True))
    return Leavers(template, arrived, np.minimum(left, span.end - 1))


def _stay_days(rng: np.random.Generator, hazard: float, limit_years: Floats) -> Ints:
    """A stay (days, at least one) of an exponential law of ``hazard`` per year, truncated
    below ``limit_years``: inverse of its distribution function."""
    u = rng.random(len(limit_years))
    years = -np.log1p(-u * -np.expm1(-hazard * limit_years)) / hazard
    stay: Ints = np.maximum((years * YEAR_DAYS).astype(np.int64), 1)
    return stay


def _ranges(counts: Ints) -> tuple[Ints, Ints]:
    counts = np.maximum(counts, 0)
    row = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offset = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, offset


def _grouped(keys: Ints, size: int) -> tuple[Ints, Ints, Ints]:
    """Positions sorted by ``keys`` (stable), each key's first position there, its count."""
    order = np.argsort(keys, kind="stable")
    count = np.bincount(keys, minlength=size)
    first = np.cumsum(count) - count
    return order, first, count


def departed_frames(
    rng: np.random.Generator, people: Population, leavers: Leavers
) -> dict[str, pl.DataFrame]:
    """The leaving families as rows of residents, permits, endorsements and children (the
    registry keeps who left, with their ended permits). A family none of whom held a permit
    before leaving never reached the registry and is dropped."""
    from luodi.synth import generator  # the helpers that draw people as today's are drawn

    n = len(people.household)
    today = _days(people.as_of)
    order, first, count = _grouped(people.household, n)
    copy, offset = _ranges(count[leavers.template])
    member = order[first[leavers.template[copy]] + offset]
    shift = (today - leavers.left)[copy]
    arrived = leavers.arrived[copy]
    left = leavers.left[copy]
    birth = people.birth[member] - shift

    # Permits: issued half a year after arrival as today's; a leaver's ends the day it left.
    has_children = np.zeros(n, dtype=np.bool_)
    has_children[people.child_head] = True
    parent = has_children[people.household[member]] & np.isin(
        people.relation[member], ["head", "spouse"]
    )
    registration = _days(date(*REGISTRATION_START))
    wait = rng.exponential(PERMIT_APPLICATION_WAIT_DAYS, len(member)).astype(np.int64)
    issue = np.maximum(
        arrived + PERMIT_AFTER_ARRIVAL_DAYS + wait,
        registration + rng.integers(0, 365, len(member)),
    )
    holds = (issue < left - PERMIT_RATE_MIN_DAYS) & (
        (rng.random(len(member)) >= NEVER_APPLY) | parent
    )
    known_family = np.zeros(len(leavers.template), dtype=np.bool_)
    known_family[copy[holds]] = True
    keep = known_family[copy]
    families = np.flatnonzero(known_family)
    family_number = np.full(len(known_family), -1, dtype=np.int64)
    family_number[families] = np.arange(len(families))

    # Children of the copied households: as old at leaving as theirs today.
    child_order, child_first, child_count = _grouped(people.child_head, n)
    kid_copy, kid_offset = _ranges(child_count[leavers.template[families]])
    kid_family = families[kid_copy]
    kid = child_order[child_first[leavers.template[kid_family]] + kid_offset]
    kid_birth = people.child_birth[kid] - (today - leavers.left[kid_family])
    # Born here when born after the family arrived (the city's region), else at its origin.
    head_of = np.full(len(leavers.template), -1, dtype=np.int64)
    is_head = member == leavers.template[copy]
    head_of[copy[is_head]] = np.flatnonzero(is_head)
    kid_region = np.where(
        kid_birth >= leavers.arrived[kid_family],
        len(people.regions) - 1,
        people.region[member[head_of[kid_family]]],
    )

    adults = np.flatnonzero(keep)
    ids = generator._id_numbers(
        np.concatenate([people.region[member[adults]], kid_region]),
        people.regions,
        np.concatenate([birth[adults], kid_birth]),
        np.concatenate([people.male[member[adults]], people.child_male[kid]]),
        first_serial=DEPARTED_FIRST_SERIAL,
    )
    adult_ids, child_ids = ids.slice(0, len(adults)), ids.slice(len(adults), len(kid))
    # Positions among the kept adults, by position among all copied members.
    kept_position = np.full(len(member), -1, dtype=np.int64)
    kept_position[adults] = np.arange(len(adults))
    # The spouse of a copied head: the copy of the template head's spouse, in the same copy.
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first[people.household[order]]
    head_rows = head_of[kid_family]
    template_spouse = people.spouse_of[member[head_rows]]
    spouse_row = np.where(
        template_spouse >= 0,
        head_rows - rank[member[head_rows]] + rank[np.maximum(template_spouse, 0)],
        -1,
    )

    household_numbers = "H" + pl.Series(n + family_number[copy[adults]]).cast(pl.String).str.zfill(
        8
    )
    male = people.male[member[adults]]
    names = generator._names(rng, people.surnames.gather(people.surname_of[member[adults]]), male)
    prefixes = np.array([str(p) for p in generator.PhoneNumbers.phonenumber_prefixes])
    phones = pl.Series(prefixes[rng.integers(0, len(prefixes), len(adults))]) + pl.Series(
        rng.integers(0, 100_000_000, len(adults))
    ).cast(pl.String).str.zfill(8)
    town = people.town_codes[people.town_index[member[adults]]]
    residents = pl.DataFrame(
        {
            "id_number": adult_ids,
            "name": names,
            "sex": pl.Series(["female", "male"]).gather(male.astype(np.int64)),
            "birth_date": generator._dates(birth[adults]),
            "origin_province": pl.Series(people.province_names).gather(
                people.province_index[member[adults]]
            ),
            "phone": phones,
            "town_code": pl.Series(town, dtype=pl.String),
            "household_number": household_numbers,
            "relation_to_head": pl.Series(people.relation[member[adults]], dtype=pl.String),
        }
    )

    holders = np.flatnonzero(holds)
    size = len(holders)
    cancelled = rng.random(size) < DEPARTURE_CANCELLED
    began, ended = issue[holders], left[holders]
    status = np.where(cancelled, generator.CANCELLED, generator.EXPIRED)
    expiry = np.where(cancelled, generator._anniversaries(began, PERMIT_VALIDITY_YEARS), ended - 1)
    other_town = people.town_codes[rng.integers(0, len(people.town_codes), size)]
    permit_town = np.where(
        rng.random(size) < 0.95, people.town_codes[people.town_index[member[holders]]], other_town
    )
    numbers = "JZ" + pl.Series(2 * n + 1 + np.arange(size)).cast(pl.String).str.zfill(10)
    holder_ids = adult_ids.gather(kept_position[holders])
    permits = pl.DataFrame(
        {
            "permit_number": numbers,
            "id_number": holder_ids,
            "town_code": pl.Series(permit_town, dtype=pl.String),
            "issue_date": generator._dates(began),
            "expiry_date": generator._dates(expiry),
            "status": pl.Series(generator.STATUSES).gather(status),
            "status_date": generator._dates(ended).set(pl.Series(~cancelled), None),
        }
    )
    # Endorsed at the latest on the last day the permit held (the day before leaving).
    endorsements = generator._endorsements(
        rng, today, began, ended - 1, status, holder_ids, numbers
    )

    child_male = people.child_male[kid]
    given = generator._names(rng, pl.Series([""] * len(kid), dtype=pl.String), child_male)
    head_ids = adult_ids.gather(kept_position[head_rows])
    spouse_ids = adult_ids.gather(kept_position[np.maximum(spouse_row, 0)]).set(
        pl.Series(spouse_row < 0), None
    )
    children = pl.DataFrame(
        {
            "id_number": head_ids,
            "household_number": "H"
            + pl.Series(n + family_number[kid_family]).cast(pl.String).str.zfill(8),
            "child_id_number": child_ids,
            "child_name": pl.DataFrame({"s": names.gather(kept_position[head_rows]), "g": given})
            .select(pl.concat_str(pl.col("s").str.slice(0, 1), "g"))
            .to_series(),
            "second_parent_id_number": spouse_ids,
            "birth_date": generator._dates(kid_birth),
            "vaccination_certificate": rng.random(len(kid)) < 0.95,
            "school_name": pl.repeat(None, len(kid), dtype=pl.String, eager=True),
            "grade": pl.repeat(None, len(kid), dtype=pl.Int64, eager=True),
        }
    )
    return {
        city_files.RESIDENTS: residents,
        city_files.PERMITS: permits,
        city_files.PERMIT_ENDORSEMENTS: endorsements,
        city_files.CHILDREN: children,
    }


def grown_children(
    rng: np.random.Generator, people: Population, frames: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """Children of today's households who are 16 to ``15 + N`` today: today's city lists
    the children under 16, but the window's school years took in children who have grown
    since (those twelve in its first year are older than fifteen now). Drawn as the generator
    draws the younger ones (per household, by whether a couple lives there), born when a
    parent was 20 or older; born here when born after the family arrived."""
    from luodi.synth import generator  # its helpers draw people as today's are drawn

    today = _days(people.as_of)
    heads = np.flatnonzero(people.household == np.arange(len(people.household)))
    head_age = (today - people.birth[heads]) / YEAR_DAYS
    # Years of age above 15 a child of this parent can have (born at 20 or later), at most N.
    reach = np.minimum(np.clip(head_age - 20 - 16, 0, None), float(people.years))
    couple = people.spouse_of[heads] >= 0
    per_year = np.where(couple, FERTILITY["couple"], FERTILITY["single"]) / 16
    count = np.minimum(rng.poisson(per_year * reach), 2)
    head = np.repeat(heads, count)
    age = 16 + rng.random(len(head)) * np.repeat(reach, count)
    birth = today - (age * YEAR_DAYS).astype(np.int64)
    male = rng.random(len(head)) < 0.52
    born_here = birth >= people.arrival[head]
    region = np.where(born_here, len(people.regions) - 1, people.region[head])
    ids = generator._id_numbers(
        region, people.regions, birth, male, first_serial=GROWN_FIRST_SERIAL
    )
    residents = frames[city_files.RESIDENTS]
    given = generator._names(rng, pl.Series([""] * len(head), dtype=pl.String), male)
    spouse = people.spouse_of[head]
    return pl.DataFrame(
        {
            "id_number": residents["id_number"].gather(head),
            "household_number": residents["household_number"].gather(head),
            "child_id_number": ids,
            "child_name": pl.DataFrame({"s": residents["name"].gather(head), "g": given})
            .select(pl.concat_str(pl.col("s").str.slice(0, 1), "g"))
            .to_series(),
            "second_parent_id_number": residents["id_number"]
            .gather(np.maximum(spouse, 0))
            .set(pl.Series(spouse < 0), None),
            "birth_date": generator._dates(birth),
            "vaccination_certificate": rng.random(len(head)) < 0.95,
            "school_name": pl.repeat(None, len(head), dtype=pl.String, eager=True),
            "grade": pl.repeat(None, len(head), dtype=pl.Int64, eager=True),
        }
    )


def presence(frames: dict[str, pl.DataFrame], today: date) -> pl.DataFrame:
    """``family_presence`` of the city's files (children numbered by their row)."""
    residents = frames[city_files.RESIDENTS]
    household_town = residents.group_by("household_number").agg(
        household_town=pl.col("town_code").first()
    )
    children = (
        frames[city_files.CHILDREN]
        .with_row_index("child_id")
        .join(household_town, on="household_number", how="left", maintain_order="left")
        .select(
            pl.col("child_id").cast(pl.Int64),
            pl.col("birth_date").cast(pl.Date),
            parent="id_number",
            second_parent="second_parent_id_number",
            household_town="household_town",
        )
    )
    permits = frames[city_files.PERMITS].select(
        holder="id_number",
        town_code="town_code",
        issue_date=pl.col("issue_date").cast(pl.Date),
        expiry_date=pl.col("expiry_date").cast(pl.Date),
        status="status",
        status_date=pl.col("status_date").cast(pl.Date),
    )
    return family_presence(children, permits, today)


def school_intakes(
    rng: np.random.Generator,
    model: Migration,
    as_of: date,
    years: int,
    frames: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    """The entry-grade intakes of the school years ``as_of.year − years`` … ``as_of.year − 1``
    (``city_files.SCHOOL_INTAKES``)."""
    known = presence(frames, as_of)
    schools = frames[city_files.SCHOOLS].with_columns(
        pl.col("entry_grade").cast(pl.Int64), pl.col("seats").cast(pl.Int64)
    )
    school_years = list(range(as_of.year - years, as_of.year))
    codes = [town.code for town in CIXI_TOWNS]
    town_of = {code: index for index, code in enumerate(codes)}

    # Seats back in time: each year one class fewer with SEAT_GROWTH_CLASS; the fastest
    # growing towns opened their last school of a stage during the window.
    count = schools.height
    seats = np.zeros((count, len(school_years)), dtype=np.int64)
    current = schools["seats"].to_numpy().astype(np.int64)
    class_size = np.array([CLASS_SIZES[g] for g in schools["entry_grade"].to_list()])
    for back in range(len(school_years) - 1, -1, -1):
        grown = rng.random(count) < SEAT_GROWTH_CLASS
        current = np.where(grown, np.maximum(current - class_size, class_size), current)
        seats[:, back] = current
    growing = {codes[i] for i in np.argsort(-model.growth.mean(axis=1))[:NEW_SCHOOL_TOWNS]}
    opened = np.full(count, school_years[0], dtype=np.int64)
    if len(school_years) > 1:
        for grade in ENTRY_GRADES:
            for code in sorted(growing):
                here = np.flatnonzero(
                    (schools["town_code"] == code).to_numpy()
                    & (schools["entry_grade"] == grade).to_numpy()
                )
                if len(here) > 1:
                    opened[here[-1]] = rng.integers(school_years[1], school_years[-1] + 1)
    # The school everybody wants draws applicants as if it had the seats it lacks.
    pull = np.where(schools["hot"].to_numpy() == "是", 1 / 0.6, 1.0)

    rows: list[pl.DataFrame] = []
    for index, year in enumerate(school_years):
        counted = date(year, *SCHOOL_YEAR_COUNT_DAY)
        present = known.filter(present_on(counted))
        for grade, age in ENTRY_GRADES.items():
            born_from, born_to = entry_age_born(year, age)
            cohort = (
                present.filter(pl.col("birth_date").is_between(born_from, born_to))
                .group_by("town_code")
                .len()
            )
            children = np.zeros(len(codes), dtype=np.int64)
            for code, size in cohort.iter_rows():
                if code in town_of:
                    children[town_of[code]] = size
            applying = rng.binomial(children, model.capture)
            is_open = (schools["entry_grade"] == grade).to_numpy() & (opened <= year)
            applicants = np.zeros(count, dtype=np.int64)
            for town, code in enumerate(codes):
                here = np.flatnonzero(is_open & (schools["town_code"] == code).to_numpy())
                if len(here) == 0:
                    continue
                weight = seats[here, index] * pull[here]
                applicants[here] = rng.multinomial(applying[town], weight / weight.sum())
            chosen = np.flatnonzero(is_open)
            rows.append(
                pl.DataFrame(
                    {
                        "school_year": np.full(len(chosen), year, dtype=np.int64),
                        "school_id": schools["school_id"].gather(chosen),
                        "town_code": schools["town_code"].gather(chosen),
                        "grade": np.full(len(chosen), grade, dtype=np.int64),
                        "seats": seats[chosen, index],
                        "applicants": applicants[chosen],
                        "placed": np.minimum(applicants[chosen], seats[chosen, index]),
                    }
                )
            )
    return pl.concat(rows).sort("school_year", "grade", "school_id")


def with_history(
    rng: np.random.Generator,
    model: Migration,
    span: Window,
    arrivals: Arrivals,
    people: Population,
    frames: dict[str, pl.DataFrame],
) -> dict[str, pl.DataFrame]:
    """Today's files with the families who left during the window and the past intakes."""
    leavers = draw_leavers(rng, model, span, arrivals, people)
    gone = departed_frames(rng, people, leavers)
    merged = dict(frames)
    grown = grown_children(rng, people, frames)
    merged[city_files.CHILDREN] = pl.concat(
        [frames[city_files.CHILDREN], grown.select(frames[city_files.CHILDREN].columns)]
    )
    for name, rows in gone.items():
        merged[name] = pl.concat([merged[name], rows.select(frames[name].columns)])
    merged[city_files.SCHOOL_INTAKES] = school_intakes(rng, model, people.as_of, span.years, merged)
    return merged
