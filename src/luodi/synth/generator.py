"""A synthetic city as Polars frames, one per department feed: vectorised, seeded, deterministic.

Every random draw comes from one NumPy generator seeded by the caller, in a fixed order, and
nothing depends on the clock (the reference date is a parameter), so the same seed and size
give byte-identical files. A million residents take seconds, not a Python loop per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
from faker.providers.person.zh_CN import Provider as PersonNames
from faker.providers.phone_number.zh_CN import Provider as PhoneNumbers

from luodi.kernels.calendar import years_before
from luodi.kernels.identifiers import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_characters,
    id_check_characters,
)
from luodi.registry import city_files
from luodi.synth import history
from luodi.synth.reference import (
    BACK_PAID,
    CITY_REGION_CODE,
    CIXI_TOWNS,
    EARLIER_STAY,
    EDUCATION,
    ENDORSEMENT_LAPSED,
    ENDORSEMENT_LATE,
    ENDORSEMENT_LATE_MAX_DAYS,
    ENDORSEMENT_LATE_MEAN_DAYS,
    FRONTLINE,
    HOUSING_LAYOUTS,
    INDUSTRIES,
    INSURED,
    INSURED_AFTER_ARRIVAL_MEAN_DAYS,
    MISSED_MONTH_IN_A_YEAR,
    MISSED_MONTHS,
    NEVER_APPLY,
    ORIGINS,
    PERMIT_AFTER_ARRIVAL_DAYS,
    PERMIT_APPLICATION_WAIT_DAYS,
    PERMIT_CANCELLED,
    PERMIT_VALIDITY_YEARS,
    REGISTRATION_START,
    RELATIVES,
    RESIDENT_MEDICAL_SCHEME,
    SKILL_LEVELS,
    STAY_YEARS,
    STOPPED_WHILE_EMPLOYED,
    UNION_BY_STAFF,
)

DEFAULT_AS_OF = date(2026, 3, 1)
"""Spring: the season when families apply for the autumn's school places."""

EPOCH = date(1970, 1, 1)
Array = npt.NDArray[np.generic]


@dataclass(frozen=True)
class SynthOptions:
    residents: int
    seed: int
    as_of: date = DEFAULT_AS_OF
    years: int = 0
    """Years of history before ``as_of`` (``synth.history``): 0 is today's city alone."""


def _choice(rng: np.random.Generator, weights: dict[str, float], size: int) -> Array:
    keys = np.array(list(weights))
    probabilities = np.array(list(weights.values()), dtype=np.float64)
    return keys[rng.choice(len(keys), size=size, p=probabilities / probabilities.sum())]


def _days(value: date) -> int:
    return (value - EPOCH).days


def _characters(given_names: list[str]) -> Array:
    """Faker's given names split into single characters, in a stable order."""
    return np.array(sorted({character for name in given_names for character in name}))


GIVEN_NAME_CHARACTERS = (
    _characters(PersonNames.first_names_male),
    _characters(PersonNames.first_names_female),
)


def _choice_text(rng: np.random.Generator, weights: dict[str, float], size: int) -> pl.Series:
    """``_choice`` as a Polars column, built from the draws' positions (no NumPy strings)."""
    probabilities = np.array(list(weights.values()), dtype=np.float64)
    drawn = rng.choice(len(weights), size=size, p=probabilities / probabilities.sum())
    return pl.Series(list(weights), dtype=pl.String).gather(drawn)


def _text(values: Array, vocabulary: Array) -> pl.Series:
    """NumPy strings drawn from a small vocabulary as a Polars column: by their position in
    it, which is many times faster than converting each string."""
    known = np.unique(vocabulary)
    return pl.Series(known.tolist(), dtype=pl.String).gather(np.searchsorted(known, values))


def _names(rng: np.random.Generator, surnames: pl.Series, male: npt.NDArray[np.bool_]) -> pl.Series:
    """Surname by its real frequency, then one or two given-name characters by sex."""
    size = len(male)
    male_given, female_given = GIVEN_NAME_CHARACTERS
    characters = pl.Series([*male_given.tolist(), *female_given.tolist(), ""], dtype=pl.String)
    women = len(male_given)

    def given() -> npt.NDArray[np.int64]:
        as_man = rng.integers(0, len(male_given), size)
        as_woman = women + rng.integers(0, len(female_given), size)
        chosen: npt.NDArray[np.int64] = np.where(male, as_man, as_woman)
        return chosen

    first = given()
    second = given()
    two_characters = rng.random(size) < 0.7
    return (
        pl.DataFrame(
            {
                "s": surnames,
                "a": characters.gather(first),
                "b": characters.gather(np.where(two_characters, second, len(characters) - 1)),
            }
        )
        .select(pl.concat_str("s", "a", "b"))
        .to_series()
    )


def _digit_text(values: npt.NDArray[np.int64], alphabet: str = "0123456789") -> pl.Series:
    """Rows of character positions in ``alphabet`` as strings, without a Python loop."""
    characters = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    rows = np.ascontiguousarray(characters[values]).view(f"S{values.shape[1]}").ravel()
    return pl.Series(rows).cast(pl.String)


def _id_numbers(
    region_index: npt.NDArray[np.int64],
    regions: list[str],
    birth_days: npt.NDArray[np.int64],
    male: npt.NDArray[np.bool_],
    first_serial: int = 0,
) -> pl.Series:
    """Unique ID numbers: the sequence counts people of one region, birth date and sex, from
    ``first_serial`` (another range of serials gives numbers no other call gives)."""
    frame = pl.DataFrame(
        {"region": region_index, "birth": birth_days, "male": male.astype(np.int64)}
    ).with_row_index("position")
    frame = frame.with_columns(
        serial=pl.col("position").cum_count().over("region", "birth", "male").cast(pl.Int64)
        + first_serial
    )
    if frame["serial"].max() > 499:  # type: ignore[operator]
        raise ValueError("too many people share a region, birth date and sex for 3 digits")
    # Odd sequence for men (1, 3, 5 …), even for women (2, 4, 6 …); never 000.
    sequence = (2 * frame["serial"] + 2 - frame["male"]).to_numpy()
    # The 17 digits as numbers (region, YYYYMMDD, sequence), then as text in one go.
    dates = pl.Series(birth_days, dtype=pl.Int64).cast(pl.Date)
    ymd = (
        dates.dt.year().cast(pl.Int64) * 10_000
        + dates.dt.month().cast(pl.Int64) * 100
        + dates.dt.day().cast(pl.Int64)
    ).to_numpy()
    region_digits = np.array([[int(c) for c in code] for code in regions], dtype=np.int64)
    places = 10 ** np.arange(7, -1, -1, dtype=np.int64)
    digits = np.concatenate(
        [
            region_digits[region_index],
            ymd[:, None] // places % 10,
            sequence[:, None] // np.array([100, 10, 1]) % 10,
        ],
        axis=1,
    )
    check = id_check_characters(digits)
    return _digit_text(digits) + _text(check, np.array(list("0123456789X")))


def _credit_codes(rng: np.random.Generator, entity_types: Array) -> pl.Series:
    """Unified social credit codes registered in 慈溪, check character computed.

    ``entity_types`` gives each code's second character: "1" a company (企业), "2" a
    个体工商户. Six organisation characters encode the row position, so codes are unique.
    """
    alphabet = np.array(list(CREDIT_CODE_ALPHABET))
    size = len(entity_types)
    values = np.zeros((size, 17), dtype=np.int64)
    values[:, 0] = CREDIT_CODE_ALPHABET.index("9")
    values[:, 1] = np.array([CREDIT_CODE_ALPHABET.index(kind) for kind in entity_types])
    values[:, 2:8] = np.array([int(digit) for digit in CITY_REGION_CODE])
    serial = np.arange(size, dtype=np.int64)
    for position in range(8, 14):
        values[:, position] = serial % 31
        serial //= 31
    values[:, 14:17] = rng.integers(0, 31, (size, 3))
    check = credit_code_check_characters(values)
    return _digit_text(values, CREDIT_CODE_ALPHABET) + _text(check, alphabet)


def _dates(days: npt.NDArray[np.int64]) -> pl.Series:
    return pl.Series(days, dtype=pl.Int64).cast(pl.Date)


def _month_index(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Months since year 0 (year × 12 + month − 1) of each day."""
    dates = _dates(days)
    return (dates.dt.year().cast(pl.Int64) * 12 + dates.dt.month().cast(pl.Int64) - 1).to_numpy()


VALID, CANCELLED, EXPIRED = 0, 1, 2
STATUSES = ["valid", "cancelled", "expired"]


def _anniversaries(
    day: npt.NDArray[np.int64], years: npt.NDArray[np.int64] | int
) -> npt.NDArray[np.int64]:
    """The anniversaries ``years`` after each day (days since 1970): the same day of the
    month, 29 February falling on 28 February in a common year (民法典 Art. 202, as
    kernels/timeline reads it)."""
    dates = day.astype("datetime64[D]")
    month = dates.astype("datetime64[M]")
    into_month = (dates - month.astype("datetime64[D]")).astype(np.int64)
    later_month = month + np.asarray(years) * 12
    later = later_month.astype("datetime64[D]").astype(np.int64)
    month_length = ((later_month + 1).astype("datetime64[D]").astype(np.int64)) - later
    result: npt.NDArray[np.int64] = later + np.minimum(into_month, month_length - 1)
    return result


def _permits(
    rng: np.random.Generator,
    as_of: date,
    adult_ids: pl.Series,
    town: Array,
    town_codes: Array,
    arrival: npt.NDArray[np.int64],
    birth: npt.NDArray[np.int64],
    age_years: npt.NDArray[np.float64],
    parents: npt.NDArray[np.bool_],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Residence permits (居住证) with their past, and their yearly endorsements (签注).

    The current stay's permit is issued half a year after arrival (Art. 16 of the Zhejiang
    条例); some residents had an earlier stay whose permit expired when they left. Each
    anniversary of a permit is endorsed in the month before it (Art. 19), a few late (which
    restarts the residence years), and a few holders let the last one lapse (suspended now).
    ``parents`` (of a child here) never go without a permit once they may have one.
    """
    n = len(arrival)
    today = _days(as_of)
    registration_start = _days(date(*REGISTRATION_START))

    def applied(arrived: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        wait = rng.exponential(PERMIT_APPLICATION_WAIT_DAYS, len(arrived)).astype(np.int64)
        # Stays older than the registration itself registered during its first year.
        opening = registration_start + rng.integers(0, 365, len(arrived))
        issued: npt.NDArray[np.int64] = np.maximum(
            arrived + PERMIT_AFTER_ARRIVAL_DAYS + wait, opening
        )
        return issued

    issue = applied(arrival)
    # Parents all apply: the permit is what a child's school place rests on (教基厅〔2022〕1号).
    has_permit = (issue < today) & ((rng.random(n) >= NEVER_APPLY) | parents)
    cancelled = rng.random(n) < PERMIT_CANCELLED
    cancelled_on = issue + 1 + (rng.random(n) * np.maximum(today - issue - 1, 1)).astype(np.int64)
    other_town = town_codes[rng.integers(0, len(town_codes), n)]
    permit_town = np.where(rng.random(n) < 0.95, town, other_town)

    # An earlier stay, ended a few months (a lapse) or years (gone home) before this one.
    earlier = rng.random(n) < EARLIER_STAY * (1 + (age_years > 35))
    gap = np.where(rng.random(n) < 0.3, rng.integers(60, 240, n), rng.integers(365, 5 * 365, n))
    left_on = arrival - gap
    earlier_arrival = left_on - rng.integers(365, 6 * 365, n)
    earlier_issue = applied(earlier_arrival)
    earlier &= (
        (earlier_issue < left_on - 30)
        & (earlier_arrival >= birth + 16 * 366)
        & (earlier_issue >= registration_start)
    )

    # Earlier permits, then the current one, of each person in turn.
    past_town = np.where(rng.random(n) < 0.9, town, other_town)
    was, now = np.flatnonzero(earlier), np.flatnonzero(has_permit)
    holder = np.concatenate([was, now])
    serial = np.concatenate([was + 1 + n, now + 1])
    began = np.concatenate([earlier_issue[was], issue[now]])
    ended = np.concatenate([left_on[was], np.where(cancelled, cancelled_on, today)[now]])
    expiry = np.concatenate([left_on[was], _anniversaries(issue[now], PERMIT_VALIDITY_YEARS)])
    status = np.concatenate(
        [np.full(len(was), EXPIRED), np.where(cancelled[now], CANCELLED, VALID)]
    )
    permit_town = np.concatenate([past_town[was], permit_town[now]])
    order = np.lexsort((began, holder))
    holder, serial, began, ended = holder[order], serial[order], began[order], ended[order]
    expiry, status, permit_town = expiry[order], status[order], permit_town[order]
    numbers = "JZ" + pl.Series(serial).cast(pl.String).str.zfill(10)
    permits = pl.DataFrame(
        {
            "permit_number": numbers,
            "id_number": adult_ids.gather(holder),
            "town_code": pl.Series(permit_town, dtype=pl.String),
            "issue_date": _dates(began),
            "expiry_date": _dates(expiry),
            "status": pl.Series(STATUSES).gather(status),
            # The day a cancellation took effect; sent only with a history (``years``).
            "status_date": _dates(np.where(status == CANCELLED, ended, 0)).set(
                pl.Series(status != CANCELLED), None
            ),
        }
    )
    endorsements = _endorsements(
        rng, today, began, ended, status, adult_ids.gather(holder), numbers
    )
    return permits, endorsements


def _endorsements(
    rng: np.random.Generator,
    today: int,
    began: npt.NDArray[np.int64],
    ended: npt.NDArray[np.int64],
    status: npt.NDArray[np.int64],
    holders: pl.Series,
    numbers: pl.Series,
) -> pl.DataFrame:
    """The yearly endorsements (签注) of permits (one entry per permit in every argument:
    its issue and end days, status, holder's ID number and permit number)."""
    # Anniversaries up to the permit's end (a valid one: up to a month ahead, for those who
    # endorse early for the coming one), permit by permit in order.
    valid = status == VALID
    horizon = np.where(valid, ended + 30, ended)
    bound = (horizon - began) // 365 + 1
    row, offset = _ranges(bound)
    anniversary = _anniversaries(began[row], offset + 1)
    inside = anniversary <= horizon[row]
    row, anniversary = row[inside], anniversary[inside]
    size = len(row)
    due = anniversary <= today
    last_of_permit = np.append(row[1:] != row[:-1], True)
    last_due = valid[row] & due & (last_of_permit | ~np.append(due[1:], False))
    late = due & (rng.random(size) < ENDORSEMENT_LATE)
    late_by = np.minimum(
        2 + rng.exponential(ENDORSEMENT_LATE_MEAN_DAYS, size).astype(np.int64),
        ENDORSEMENT_LATE_MAX_DAYS,
    )
    lapsed = last_due & (rng.random(size) < ENDORSEMENT_LAPSED)
    # On time: 1 to 28 days before the anniversary, well inside the month before it.
    endorsed = np.where(late, anniversary + late_by, anniversary - rng.integers(1, 29, size))
    kept = np.flatnonzero(~lapsed & (endorsed <= np.minimum(ended[row], today)))
    return pl.DataFrame(
        {
            "id_number": holders.gather(row[kept]),
            "permit_number": numbers.gather(row[kept]),
            "endorsed_on": _dates(endorsed[kept]),
        }
    )


def _ranges(counts: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For items counted ``counts`` times each: every repetition's item and its offset (0, 1,
    …, count − 1), items in order: the NumPy form of exploding an integer range."""
    counts = np.maximum(counts, 0)
    row = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    offset = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, offset


def _merge_order(
    first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The order that merges two sorted key arrays, concatenated, into one sorted array,
    ``first``'s rows before ``second``'s on equal keys (no sort of the whole)."""
    position = np.empty(len(first) + len(second), dtype=np.int64)
    position[: len(first)] = np.arange(len(first)) + np.searchsorted(second, first, "left")
    position[len(first) :] = np.arange(len(second)) + np.searchsorted(first, second, "right")
    order = np.empty_like(position)
    order[position] = np.arange(len(position))
    return order


def _period_labels(period: npt.NDArray[np.int64]) -> pl.Series:
    """``YYYY`` for year × 100, ``YYYY-MM`` for year × 100 + month."""
    codes = np.unique(period)
    labels = [f"{c // 100:04d}" if c % 100 == 0 else f"{c // 100:04d}-{c % 100:02d}" for c in codes]
    return pl.Series(labels, dtype=pl.String).gather(np.searchsorted(codes, period))


def _insurance(
    rng: np.random.Generator,
    as_of: date,
    adult_ids: pl.Series,
    employer_of: pl.Series,
    wage_earner: npt.NDArray[np.bool_],
    self_employed: npt.NDArray[np.bool_],
    arrival: npt.NDArray[np.int64],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Social insurance (人社) and medical insurance (医保).

    Month by month (``YYYY-MM``, 0 or 1, some back-paid) for this calendar year and the last,
    up to the month before the reference date; yearly totals (``YYYY``) before. Employee
    medical insurance (职工医保) is paid with the pension, month for month; some of those
    without it join the residents' scheme (居民医保), paid for a whole calendar year ahead.
    """
    n = len(arrival)
    today = _days(as_of)
    this_month = as_of.year * 12 + as_of.month - 1
    first_monthly = (as_of.year - 1) * 12
    width = this_month - first_monthly
    employed = wage_earner | self_employed
    share = np.where(
        wage_earner,
        INSURED["wage_earner"],
        np.where(self_employed, INSURED["self_employed"], INSURED["not_employed"]),
    )
    insured = rng.random(n) < share
    since_day = arrival + rng.exponential(INSURED_AFTER_ARRIVAL_MEAN_DAYS, n).astype(np.int64)
    since = _month_index(np.minimum(since_day, today - 31))
    stopped = ~employed | (rng.random(n) < STOPPED_WHILE_EMPLOYED)
    stop_at = since + 1 + (rng.random(n) * np.maximum(this_month - since - 1, 0)).astype(np.int64)
    stop = np.where(stopped, stop_at, this_month)  # first month not paid
    gap = ~stopped & (rng.random(n) < MISSED_MONTHS)
    gap_from = first_monthly + rng.integers(0, width, n)
    gap_to = gap_from + rng.integers(1, 4, n)
    gap_back_paid = rng.random(n) < BACK_PAID

    # Periods as numbers (year × 100 + month, 0 for a year's total) until written.
    people = np.flatnonzero(insured)
    month = first_monthly + np.arange(width, dtype=np.int64)[None, :]
    inside = (month >= since[people, None]) & (month < stop[people, None])
    missed = gap[people, None] & (month >= gap_from[people, None]) & (month < gap_to[people, None])
    back_paid = missed & gap_back_paid[people, None]
    paid = inside & (~missed | back_paid)
    cells = np.flatnonzero(inside)
    month_of = first_monthly + cells % width
    monthly_person = people[cells // width]
    monthly_period = (month_of // 12) * 100 + month_of % 12 + 1
    monthly_paid = paid.ravel()[cells].astype(np.int64)
    monthly_back = back_paid.ravel()[cells]

    # Yearly totals from the year insurance began to the year before the monthly window.
    first_year = since[people] // 12
    last_year = np.minimum((stop[people] - 1) // 12, as_of.year - 2)
    row, offset = _ranges(np.maximum(last_year - first_year + 1, 0))
    year = first_year[row] + offset
    person_since, person_stop = since[people][row], stop[people][row]
    months = np.minimum(year * 12 + 11, person_stop - 1) - np.maximum(year * 12, person_since) + 1
    months -= rng.binomial(months, MISSED_MONTH_IN_A_YEAR)
    counted = months > 0
    yearly_person = people[row][counted]

    order = _merge_order(yearly_person, monthly_person)
    person = np.concatenate([yearly_person, monthly_person])[order]
    period = np.concatenate([year[counted] * 100, monthly_period])[order]
    months_paid = np.concatenate([months[counted], monthly_paid])[order]
    back = np.concatenate([np.zeros(counted.sum(), dtype=np.bool_), monthly_back])[order]
    social = pl.DataFrame(
        {
            "id_number": adult_ids.gather(person),
            "period": _period_labels(period),
            "months_paid": months_paid,
            "back_paid": back,
            "credit_code": employer_of.gather(person),
        }
    )

    # The residents' scheme: one row per calendar year joined, this one paid ahead.
    joined = np.flatnonzero(~insured & (rng.random(n) < RESIDENT_MEDICAL_SCHEME))
    joined_in = np.maximum(
        _dates(arrival[joined]).dt.year().to_numpy().astype(np.int64),
        as_of.year - rng.integers(0, 5, len(joined)),
    )
    row, offset = _ranges(as_of.year - joined_in + 1)
    resident_person = joined[row]
    order = _merge_order(person, resident_person)
    size = len(resident_person)
    in_scheme = np.concatenate([person, resident_person])[order]
    medical = pl.DataFrame(
        {
            "id_number": adult_ids.gather(in_scheme),
            "period": _period_labels(
                np.concatenate([period, (joined_in[row] + offset) * 100])[order]
            ),
            "months_paid": np.concatenate([months_paid, np.full(size, 12)])[order],
            "back_paid": np.concatenate([back, np.zeros(size, dtype=np.bool_)])[order],
            "scheme": pl.Series(["employee", "resident"]).gather(
                np.concatenate([np.zeros(len(person), np.int64), np.ones(size, np.int64)])[order]
            ),
        }
    )
    return social, medical


HONOURS = np.array(["最美慈溪人", "优秀新市民", "优秀志愿者", "慈溪市劳动模范"])


def generate_city(options: SynthOptions) -> dict[str, pl.DataFrame]:
    """Every file of a city directory, keyed by file name (see ``city_files``)."""
    if options.residents < 1:
        raise ValueError("a city needs at least one resident")
    rng = np.random.default_rng(options.seed)
    n = options.residents
    as_of = _days(options.as_of)
    school_year = options.as_of.year if options.as_of.month >= 9 else options.as_of.year - 1
    school_year_start = _days(date(school_year, 9, 1))

    towns = pl.DataFrame(
        {
            "code": [town.code for town in CIXI_TOWNS],
            "name": [town.name for town in CIXI_TOWNS],
            "kind": [town.kind for town in CIXI_TOWNS],
        }
    )
    town_codes = towns["code"].to_numpy()
    town_weights = np.array([town.weight for town in CIXI_TOWNS])
    surname_list = np.array(list(PersonNames.last_names))
    surname_weights = np.array(list(PersonNames.last_names.values()), dtype=np.float64)
    surname_weights /= surname_weights.sum()

    # Adults: working ages, mostly 20-45 (农民工监测调查: 平均年龄 43 nationally, younger
    # among those who moved across provinces), a few more men than women.
    young = rng.random(n) < 0.8
    age_years = np.clip(np.where(young, rng.normal(32, 7, n), rng.normal(47, 6, n)), 18, 62)
    eighteenth_birthday_latest = _days(years_before(options.as_of, 18))
    birth = np.minimum(
        as_of - (age_years * 365.25).astype(np.int64) - rng.integers(0, 365, n),
        eighteenth_birthday_latest,
    )
    male = rng.random(n) < 0.57
    province_names = list(ORIGINS)
    province_probabilities = np.array([ORIGINS[name][0] for name in province_names])
    province_index = rng.choice(
        len(province_names), size=n, p=province_probabilities / province_probabilities.sum()
    )
    # Each person's county of origin, as a position in ``regions`` (the city's own last).
    regions = [county for name in province_names for county in ORIGINS[name][1]]
    regions.append(CITY_REGION_CODE)
    region = np.zeros(n, dtype=np.int64)
    first_county = 0
    for index, name in enumerate(province_names):
        counties = len(ORIGINS[name][1])
        members = province_index == index
        region[members] = first_county + rng.integers(0, counties, members.sum())
        first_county += counties
    town = town_codes[rng.choice(len(town_codes), size=n, p=town_weights / town_weights.sum())]

    # Households: about 40 % of adults live as couples (one man, one woman, one town).
    in_couple = np.flatnonzero(rng.random(n) < 0.4)
    in_couple = in_couple[: len(in_couple) // 2 * 2]
    partner_a, partner_b = in_couple[0::2], in_couple[1::2]
    male[partner_b] = ~male[partner_a]
    town[partner_b] = town[partner_a]
    household = np.arange(n, dtype=np.int64)
    household[partner_b] = partner_a
    head_age = np.floor(age_years).astype(np.int64)
    relation = np.full(n, "head", dtype="<U7")
    relation[partner_b] = "spouse"
    spouse_of = np.full(n, -1, dtype=np.int64)
    spouse_of[partner_a] = partner_b
    surname_of = rng.choice(len(surname_list), size=n, p=surname_weights)
    # A few single adults live in a couple's household: an older parent, a grown-up child, a
    # sibling. They share its town, its origin county and (but a mother) the host's surname.
    single = np.ones(n, dtype=np.bool_)
    single[in_couple] = False
    for kind, (age_from, age_to, join_share, host_low, host_high) in RELATIVES.items():
        host_ages = head_age[partner_a]
        hosts = partner_a[(host_ages >= host_low) & (host_ages <= host_high)]
        joining = np.flatnonzero(
            single & (head_age >= age_from) & (head_age <= age_to) & (rng.random(n) < join_share)
        )
        host = hosts[rng.integers(0, max(len(hosts), 1), len(joining))] if len(hosts) else None
        if host is None:
            continue
        household[joining] = host
        town[joining] = town[host]
        region[joining] = region[host]
        province_index[joining] = province_index[host]
        relation[joining] = kind
        same_name = male[joining] | (kind != "parent")
        surname_of[joining[same_name]] = surname_of[host[same_name]]
        single[joining] = False

    # Children: about 0.6 school-age or younger per household, born when a parent was 20-40.
    heads = np.unique(household)
    fertile = (head_age[heads] >= 24) & (head_age[heads] <= 48)
    # Couples bring their children more often than those whose spouse stayed at home.
    couple = spouse_of[heads] >= 0
    rate = np.where(fertile, np.where(couple, 1.6, 0.55), 0.12)
    child_count = np.minimum(rng.poisson(rate), 3)
    child_head = np.repeat(heads, child_count)
    m = len(child_head)
    oldest = np.clip(head_age[child_head] - 20, 0, 15)
    child_age_days = (rng.random(m) * (oldest + 1) * 365.25).astype(np.int64)
    child_birth = as_of - child_age_days - 1
    child_male = rng.random(m) < 0.52
    born_here = rng.random(m) < 0.45
    child_region = np.where(born_here, len(regions) - 1, region[child_head])

    ids = _id_numbers(
        np.concatenate([region, child_region]),
        regions,
        np.concatenate([birth, child_birth]),
        np.concatenate([male, child_male]),
    )
    adult_ids, child_ids = ids.slice(0, n), ids.slice(n, m)
    names = _names(rng, pl.Series(surname_list.tolist(), dtype=pl.String).gather(surname_of), male)
    child_given = _names(rng, pl.Series([""] * m, dtype=pl.String), child_male)
    child_names = (
        pl.DataFrame({"s": names.gather(child_head), "g": child_given})
        .select(pl.concat_str(pl.col("s").str.slice(0, 1), "g"))
        .to_series()
    )
    prefixes = np.array([str(prefix) for prefix in PhoneNumbers.phonenumber_prefixes])
    phones = pl.Series(prefixes[rng.integers(0, len(prefixes), n)]) + pl.Series(
        rng.integers(0, 100_000_000, n)
    ).cast(pl.String).str.zfill(8)
    household_numbers = "H" + pl.Series(household).cast(pl.String).str.zfill(8)

    residents = pl.DataFrame(
        {
            "id_number": adult_ids,
            "name": names,
            "sex": pl.Series(["female", "male"]).gather(male.astype(np.int64)),
            "birth_date": pl.Series(birth, dtype=pl.Int64).cast(pl.Date),
            "origin_province": pl.Series(province_names).gather(province_index),
            "phone": phones,
            "town_code": _text(town, town_codes),
            "household_number": household_numbers,
            "relation_to_head": _text(relation, relation),
        }
    )

    # How long each has lived here (this stay), bounded by adulthood; then the permits.
    band = rng.choice(len(STAY_YEARS), size=n, p=np.array([b[2] for b in STAY_YEARS]))
    stay_from = np.array([b[0] for b in STAY_YEARS])[band]
    stay_to = np.array([b[1] for b in STAY_YEARS])[band]
    stay = stay_from + rng.random(n) * (stay_to - stay_from)
    # A child born here means the parents were here for the birth and have stayed since.
    born_here_days = np.zeros(n, dtype=np.int64)
    np.maximum.at(born_here_days, child_head[born_here], child_age_days[born_here] + 1)
    couples_here = np.maximum(born_here_days[partner_a], born_here_days[partner_b])
    born_here_days[partner_a] = born_here_days[partner_b] = couples_here
    stay = np.maximum(stay, born_here_days / 365.25)
    years_here = np.minimum(stay, np.maximum(age_years - 16, 0.2))
    arrival = as_of - (years_here * 365.25).astype(np.int64)
    if options.years:
        # The past only when asked for, from a stream of its own: today's draws stay as they are.
        past_rng = np.random.default_rng([options.seed, options.years, 18])
        model = history.draw_migration(past_rng, options.years)
        span = history.window(options.as_of, options.years)
        town_index = np.searchsorted(town_codes, town)
        arrivals = history.time_arrivals(
            past_rng, model, span, town_index, household, arrival, birth, born_here_days
        )
        arrival = arrivals.arrival
    parents = np.zeros(n, dtype=np.bool_)
    parents[child_head] = True
    parents[partner_b] |= parents[partner_a]
    permits, endorsements = _permits(
        rng, options.as_of, adult_ids, town, town_codes, arrival, birth, age_years, parents
    )

    # Schools: entry grade 1 (primary) and 7 (junior); grade from age on 1 September.
    age_at_start = np.floor((school_year_start - child_birth) / 365.25).astype(np.int64)
    grade = age_at_start - 5
    in_school = (grade >= 1) & (grade <= 9) & (rng.random(m) < 0.9)
    child_town = town[child_head]
    next_year_start = _days(date(school_year + 1, 9, 1))
    entering_primary = np.floor((next_year_start - child_birth) / 365.25).astype(np.int64) == 6
    entering_junior = in_school & (grade == 6)

    school_rows = []
    for spec in CIXI_TOWNS:
        here = child_town == spec.code
        for stage, entering, names_of, class_size in (
            ("primary", entering_primary, ["中心小学", "第二小学", "第三小学"], 45),
            ("junior", entering_junior, ["初级中学", "实验中学"], 50),
        ):
            demand = int((here & entering).sum())
            supply_factor = 0.75 if spec.hot_schools else 1.35
            schools_here = 1 + (spec.weight >= 5) + (stage == "primary" and spec.weight >= 7)
            # No more schools than whole classes: a small city's town has one school, not
            # three half-empty ones (rounding each up to a class would hide the shortage).
            classes = max(1, round(demand * supply_factor / class_size))
            schools_here = min(schools_here, classes)
            share = rng.dirichlet(np.full(schools_here, 3.0))
            for index in range(schools_here):
                # The first school of a hot town is the one everybody wants: fewer seats.
                tight = 0.6 if (spec.hot_schools and index == 0) else 1.0
                wanted = demand * supply_factor * share[index] * tight
                seats = int(max(1, round(wanted / class_size))) * class_size
                school_rows.append(
                    {
                        "school_id": f"{spec.code}{stage[0].upper()}{index + 1}",
                        "name": f"慈溪市{spec.name}{names_of[index]}",
                        "town_code": spec.code,
                        "stage": stage,
                        "entry_grade": 1 if stage == "primary" else 7,
                        "seats": seats,
                        # 学位紧张, declared by the bureau (the programs' targets file): the
                        # school everybody wants; the others follow last year's demand.
                        "hot": "是" if tight < 1.0 else "",
                    }
                )
    schools = pl.DataFrame(school_rows)
    school_of_child = np.full(m, None, dtype=object)
    for stage, grades in (("primary", (1, 6)), ("junior", (7, 9))):
        stage_schools = schools.filter(pl.col("stage") == stage)
        for code in town_codes:
            here_schools = stage_schools.filter(pl.col("town_code") == code)["name"].to_numpy()
            pupils = in_school & (child_town == code) & (grade >= grades[0]) & (grade <= grades[1])
            school_of_child[pupils] = here_schools[rng.integers(0, len(here_schools), pupils.sum())]

    children = pl.DataFrame(
        {
            "id_number": adult_ids.gather(child_head),
            "household_number": household_numbers.gather(child_head),
            "child_id_number": child_ids,
            "child_name": child_names,
            "second_parent_id_number": adult_ids.gather(np.maximum(spouse_of[child_head], 0)).set(
                pl.Series(spouse_of[child_head] < 0), None
            ),
            "birth_date": pl.Series(child_birth, dtype=pl.Int64).cast(pl.Date),
            "vaccination_certificate": rng.random(m) < 0.95,
            "school_name": pl.Series(school_of_child.tolist(), dtype=pl.String),
            "grade": pl.Series(np.where(in_school, grade, 0), dtype=pl.Int64),
        }
    ).with_columns(grade=pl.when(pl.col("grade") > 0).then(pl.col("grade")))

    # Employers: firms of skewed size (a few large factories, many small), and 个体工商户 for
    # the self-employed, who work under their own business licence.
    firm_count = max(5, n // 40)
    employed = rng.random(n) < 0.92
    self_employed = employed & (rng.random(n) < 0.12)
    wage_earner = employed & ~self_employed
    firm_sizes = rng.pareto(1.2, firm_count) + 1
    firm_of = rng.choice(firm_count, size=n, p=firm_sizes / firm_sizes.sum())
    firm_town = town_codes[rng.choice(19, size=firm_count, p=town_weights / town_weights.sum())]
    prefixes_list = np.array(["慈溪市", "宁波", "浙江"])
    firm_names = (
        pl.DataFrame(
            {
                "p": prefixes_list[rng.integers(0, 3, firm_count)],
                "w": np.char.add(
                    np.array(["华", "达", "宏", "兴", "盛", "恒", "瑞", "鑫", "海", "金", "博"])[
                        rng.integers(0, 11, firm_count)
                    ],
                    np.array(["泰", "通", "远", "宇", "丰", "力", "诚", "信", "源", "美", "科"])[
                        rng.integers(0, 11, firm_count)
                    ],
                ),
                "i": np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), firm_count)],
                "s": np.where(rng.random(firm_count) < 0.8, "有限公司", "股份有限公司"),
            }
        )
        .select(pl.concat_str("p", "w", "i", "s"))
        .to_series()
    )
    self_index = np.flatnonzero(self_employed)
    shop_names = (
        pl.DataFrame(
            {
                "t": pl.Series(town[self_index], dtype=pl.String).replace_strict(
                    towns["code"], towns["name"], return_dtype=pl.String
                ),
                "n": names.gather(self_index),
                "i": np.array(["小吃店", "便利店", "理发店", "五金店", "服装店", "快递站"])[
                    rng.integers(0, 6, len(self_index))
                ],
            }
        )
        .select(pl.concat_str(pl.lit("慈溪市"), "t", "n", "i"))
        .to_series()
    )
    all_codes = _credit_codes(
        rng, np.concatenate([np.full(firm_count, "1"), np.full(len(self_index), "2")])
    )
    credit_codes, shop_codes = all_codes.slice(0, firm_count), all_codes.slice(firm_count)
    employers = pl.DataFrame(
        {
            "credit_code": all_codes,
            "name": pl.concat([firm_names, shop_names]),
            "town_code": np.concatenate([firm_town, town[self_index]]),
        }
    )
    employer_of = np.full(n, None, dtype=object)
    employer_of[wage_earner] = credit_codes.to_numpy()[firm_of[wage_earner]]
    employer_of[self_index] = shop_codes.to_numpy()
    start = arrival + (rng.random(n) * np.maximum(as_of - arrival, 1) * 0.5).astype(np.int64)
    employment = pl.DataFrame(
        {
            "id_number": adult_ids,
            "credit_code": pl.Series(employer_of.tolist(), dtype=pl.String),
            "basis": pl.Series(["labour_contract", "business_licence"]).gather(
                self_employed.astype(np.int64)
            ),
            "start_date": pl.Series(start, dtype=pl.Int64).cast(pl.Date),
            "end_date": pl.repeat(None, n, dtype=pl.Date, eager=True),
            "frontline": wage_earner & (rng.random(n) < FRONTLINE),
        }
    ).filter(pl.Series(employed))

    # Trade unions (总工会): more likely the larger the firm; a 个体工商户 has none.
    staff = np.bincount(firm_of[wage_earner], minlength=firm_count)
    union_share = np.select(
        [staff >= threshold for threshold, _ in UNION_BY_STAFF],
        [share for _, share in UNION_BY_STAFF],
    )
    has_union = np.concatenate(
        [rng.random(firm_count) < union_share, np.zeros(len(self_index), dtype=np.bool_)]
    )
    union_founded = as_of - rng.integers(30, 15 * 365, len(has_union))
    unions = pl.DataFrame(
        {
            "credit_code": all_codes,
            "union": has_union,
            "established_on": pl.Series(union_founded, dtype=pl.Int64).cast(pl.Date),
        }
    ).with_columns(established_on=pl.when("union").then("established_on"))

    social_insurance, medical_insurance = _insurance(
        rng,
        options.as_of,
        adult_ids,
        pl.Series(employer_of.tolist(), dtype=pl.String),
        wage_earner,
        self_employed,
        arrival,
    )

    education = pl.DataFrame(
        {
            "id_number": adult_ids,
            "education": _choice_text(rng, EDUCATION, n),
            "skill_level": _choice_text(rng, SKILL_LEVELS, n),
        }
    )

    # Public rental flats (公租房): a few projects, about 4 flats per thousand residents.
    flat_count = max(10, n * 4 // 1000)
    project_count = max(1, flat_count // 300)
    project_town = town_codes[
        rng.choice(19, size=project_count, p=town_weights / town_weights.sum())
    ]
    project_of = np.sort(rng.integers(0, project_count, flat_count))
    layout = _choice(rng, {name: spec[0] for name, spec in HOUSING_LAYOUTS.items()}, flat_count)
    low = np.array([HOUSING_LAYOUTS[name][1] for name in layout])
    high = np.array([HOUSING_LAYOUTS[name][2] for name in layout])
    area = np.round(low + rng.random(flat_count) * (high - low), 1)
    rent_per_m2_fen = rng.integers(1000, 1800, project_count)[project_of]
    town_name_of = dict(zip(towns["code"], towns["name"], strict=True))
    housing_units = pl.DataFrame(
        {
            "unit_id": [f"GZF{index + 1:06d}" for index in range(flat_count)],
            "project_id": [f"P{project + 1:03d}" for project in project_of],
            "project_name": [
                f"慈溪市{town_name_of[project_town[project]]}新市民公寓{project + 1}期"
                for project in project_of
            ],
            "town_code": project_town[project_of],
            "layout": layout,
            "area_m2": area,
            "monthly_rent_fen": (area * rent_per_m2_fen).astype(np.int64),
        }
    )

    # Housing (住建/不动产): most rent (registered or not), a quarter live in dormitories.
    housing_kind = _choice_text(
        rng,
        {
            "owned": 0.08,
            "registered_rental": 0.5,
            "public_rental": 0.03,
            "dormitory": 0.25,
            "": 0.14,
        },
        n,
    )
    housing_start = np.minimum(arrival + rng.integers(0, 400, n), as_of - 1)
    housing = pl.DataFrame(
        {
            "id_number": adult_ids,
            "record_number": "FW" + pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(10),
            "housing": housing_kind,
            "start_date": pl.Series(housing_start, dtype=pl.Int64).cast(pl.Date),
            "end_date": pl.repeat(None, n, dtype=pl.Date, eager=True),
            "town_code": _text(town, town_codes),
        }
    ).filter(pl.col("housing") != "")

    # Income tax (税务): wage earners above the threshold, the last one to three years.
    last_year = options.as_of.year - 1
    taxed = wage_earner & (rng.random(n) < 0.3)
    tax = (
        pl.DataFrame(
            {
                "id_number": adult_ids,
                "years": rng.integers(1, 4, n),
                "base": np.round(rng.gamma(1.5, 1800, n), 2),
                "credit_code": pl.Series(employer_of.tolist(), dtype=pl.String),
            }
        )
        .filter(pl.Series(taxed))
        .with_columns(back=pl.int_ranges(0, pl.col("years")))
        .explode("back")
        .select(
            "id_number",
            tax_year=(last_year - pl.col("back")).cast(pl.String),
            tax_paid_yuan=(pl.col("base") * (1 - 0.1 * pl.col("back"))).round(2),
            credit_code="credit_code",
        )
    )

    # Volunteering, blood donation and honours (文明办, 红十字会): a few per cent each.
    volunteers = np.flatnonzero(rng.random(n) < 0.12)
    services = rng.integers(1, 8, len(volunteers))
    volunteer_person = np.repeat(volunteers, services)
    donors = np.flatnonzero(rng.random(n) < 0.03)
    honoured = np.flatnonzero(rng.random(n) < 0.006)
    people = np.concatenate([volunteer_person, donors, honoured])
    kinds = np.repeat(
        ["volunteer", "blood_donation", "honour"],
        [len(volunteer_person), len(donors), len(honoured)],
    )
    record_date = as_of - rng.integers(1, 6 * 365, len(people))
    volunteering_honours = pl.DataFrame(
        {
            "record_number": "ZY"
            + pl.Series(np.arange(1, len(people) + 1)).cast(pl.String).str.zfill(9),
            "id_number": adult_ids.gather(people),
            "kind": _text(kinds, np.array(["volunteer", "blood_donation", "honour"])),
            "record_date": pl.Series(record_date, dtype=pl.Int64).cast(pl.Date),
            "hours": np.where(kinds == "volunteer", rng.integers(2, 17, len(people)) / 2, np.nan),
            "blood_ml": np.where(
                kinds == "blood_donation", rng.choice([200, 300, 400], len(people)), 0
            ),
            "level": _text(
                np.where(
                    kinds == "honour", np.where(rng.random(len(people)) < 0.8, "county", "city"), ""
                ),
                np.array(["county", "city", ""]),
            ),
            "title": _text(
                np.where(kinds == "honour", HONOURS[rng.integers(0, 4, len(people))], ""),
                np.append(HONOURS, ""),
            ),
        }
    ).with_columns(
        hours=pl.col("hours").fill_nan(None),
        blood_ml=pl.when(pl.col("blood_ml") > 0).then(pl.col("blood_ml")),
        level=pl.when(pl.col("level") != "").then(pl.col("level")),
        title=pl.when(pl.col("title") != "").then(pl.col("title")),
    )

    # Violations (公安, 信用办): rare; they are deductions in the points policy.
    offenders = np.flatnonzero(rng.random(n) < 0.016)
    offence = _choice(rng, {"detention": 0.6, "dishonesty": 0.32, "criminal": 0.08}, len(offenders))
    violations = pl.DataFrame(
        {
            "case_number": [f"GA{index + 1:09d}" for index in range(len(offenders))],
            "id_number": adult_ids.gather(offenders),
            "kind": offence,
            "decided_on": pl.Series(
                as_of - rng.integers(1, 8 * 365, len(offenders)), dtype=pl.Int64
            ).cast(pl.Date),
            "sentence_months": np.where(
                offence == "criminal", rng.integers(6, 37, len(offenders)), 0
            ),
        }
    ).with_columns(sentence_months=pl.when(pl.col("kind") == "criminal").then("sentence_months"))

    # Vaccination certificates (卫健): checked for the children that hold one.
    vaccination = children.filter(pl.col("vaccination_certificate")).select(
        "id_number",
        "child_id_number",
        certificate_number=pl.format("YM{}", pl.col("child_id_number").str.slice(6)),
        checked_on=pl.min_horizontal(
            pl.col("birth_date") + pl.duration(days=30), pl.lit(options.as_of)
        ),
        complete=pl.lit(True),
    )

    frames = {
        city_files.TOWNS: towns,
        city_files.RESIDENTS: residents,
        # Without a history the synthetic 公安 sends no status dates (the permit time line's
        # optional column); with one, cancellations carry their day.
        city_files.PERMITS: permits
        if options.years
        else permits.with_columns(status_date=pl.lit(None, pl.Date)),
        city_files.PERMIT_ENDORSEMENTS: endorsements,
        city_files.CHILDREN: children,
        city_files.EMPLOYERS: employers,
        city_files.EMPLOYMENT: employment,
        city_files.UNIONS: unions,
        city_files.SOCIAL_INSURANCE: social_insurance,
        city_files.EDUCATION: education,
        city_files.HOUSING: housing,
        city_files.TAX: tax,
        city_files.VOLUNTEERING_HONOURS: volunteering_honours,
        city_files.VIOLATIONS: violations,
        city_files.MEDICAL_INSURANCE: medical_insurance,
        city_files.VACCINATION: vaccination,
        city_files.SCHOOLS: schools,
        city_files.HOUSING_UNITS: housing_units,
    }
    if options.years:
        people = history.Population(
            as_of=options.as_of,
            years=options.years,
            town_index=town_index,
            town_codes=town_codes,
            household=household,
            relation=relation,
            male=male,
            birth=birth,
            region=region,
            regions=regions,
            province_index=province_index,
            province_names=province_names,
            surname_of=surname_of,
            surnames=pl.Series(surname_list.tolist(), dtype=pl.String),
            spouse_of=spouse_of,
            arrival=arrival,
            child_head=child_head,
            child_birth=child_birth,
            child_male=child_male,
        )
        frames = history.with_history(past_rng, model, span, arrivals, people, frames)
    return {name: frame.select(city_files.registry_columns(name)) for name, frame in frames.items()}
