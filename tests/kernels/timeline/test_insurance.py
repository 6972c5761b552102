"""Insurance by month (kernels/timeline/insurance.py): the edges named in issue 14 and in
docs/policy.md "Insurance by month", and properties against a month-by-month oracle."""

from __future__ import annotations

import calendar
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.timeline.insurance import (
    BACK_PAID,
    CONTINUOUS,
    COUNTED,
    CURRENT,
    IN_RUN,
    MONTHS,
    RECORDS_SCHEMA,
    RESIDENT,
    SCHEME,
    insurance_as_of,
    record_counts,
)

SCHEMA = RECORDS_SCHEMA

Record = tuple[int, str, int, bool, str]


def record(
    period: str, months: int = 1, back: bool = False, person: int = 1, scheme: str = "employee"
) -> Record:
    return (person, period, months, back, scheme)


def frame(records: list[Record]) -> pl.DataFrame:
    rows = []
    for person, period, months, back, scheme in records:
        year = int(period[:4])
        if len(period) == 4:
            start, end = date(year, 1, 1), date(year, 12, 31)
        else:
            month = int(period[5:])
            start = date(year, month, 1)
            end = date(year, month, calendar.monthrange(year, month)[1])
        rows.append((person, start, end, months, back, scheme))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def one(records: list[Record], as_of: date, scheme: str | None = None) -> dict[str, object]:
    result = insurance_as_of(frame(records), as_of, scheme)
    assert result.height == 1, result
    return result.select(MONTHS, CONTINUOUS, CURRENT).row(0, named=True)


def summary(months: int, continuous: int, current: bool) -> dict[str, object]:
    return {MONTHS: months, CONTINUOUS: continuous, CURRENT: current}


# The edges


def test_a_years_total_in_february_counts_only_january() -> None:
    # The case: 12 in 2025 and 11 (or 12) "for 2026", scored on 2026-02-01.
    records = [record("2025", 12), record("2026", 11)]
    assert one(records, date(2026, 2, 1)) == summary(13, 13, True)
    assert one([record("2025", 12), record("2026", 12)], date(2026, 2, 1)) == summary(13, 13, True)
    # February has not passed on its last day; on 1 March it has.
    assert one(records, date(2026, 2, 28))[MONTHS] == 13
    assert one(records, date(2026, 3, 1))[MONTHS] == 14
    # On 15 January no month of 2026 has passed: the run ends in December.
    assert one(records, date(2026, 1, 15)) == summary(12, 12, True)


def test_the_as_of_month_counts_from_its_own_record_only() -> None:
    assert one([record("2026-02")], date(2026, 2, 1)) == summary(1, 1, True)
    assert one([record("2026", 12)], date(2026, 2, 1)) == summary(1, 1, True)
    assert one([record("2026", 12)], date(2026, 1, 31)) == summary(0, 0, False)


def test_a_record_not_begun_by_the_date_does_not_count() -> None:
    records = [record("2025", 12), record("2026-03")]
    assert one(records, date(2026, 1, 20)) == summary(12, 12, True)
    assert one(records, date(2026, 2, 20)) == summary(12, 0, False)  # January unpaid


def test_paid_only_in_2022_is_not_current() -> None:
    assert one([record("2022-05")], date(2026, 2, 1)) == summary(1, 0, False)
    assert one([record("2022", 12)], date(2026, 2, 1)) == summary(12, 0, False)


def test_back_paid_months_count_in_the_total_but_never_continuous() -> None:
    months = [record(f"2025-{month:02d}") for month in range(1, 12)]
    december = record("2025-12", back=True)
    january = record("2026-01")
    assert one([*months, december, january], date(2026, 2, 1)) == summary(13, 1, True)
    # Back-paid as the month before: not current.
    assert one([*months, december], date(2026, 1, 10)) == summary(12, 0, False)
    # A back-paid year: its months count, none continues.
    assert one([record("2025", 12, back=True)], date(2026, 1, 10)) == summary(12, 0, False)


def test_a_gap_one_month_before_the_date() -> None:
    paid_2025 = record("2025", 12)
    gap = record("2026-01", 0)
    # Paid this month after a gap last month: current, a run of one.
    assert one([paid_2025, gap, record("2026-02")], date(2026, 2, 10)) == summary(13, 1, True)
    # Nothing for this month either: not current.
    assert one([paid_2025, gap], date(2026, 2, 10)) == summary(12, 0, False)
    # A gap two months before, paid last month: a run of one.
    assert one([paid_2025, gap, record("2026-02")], date(2026, 3, 10)) == summary(13, 1, True)


def test_a_full_past_year_is_twelve_continuous_months() -> None:
    records = [record("2023", 12), record("2024", 12), record("2025", 12)]
    assert one(records, date(2026, 1, 1)) == summary(36, 36, True)
    # A partial year breaks the run: its months count, not which ones.
    records = [record("2023", 12), record("2024", 11), record("2025", 12)]
    assert one(records, date(2026, 1, 1)) == summary(35, 12, True)


def test_a_partial_total_this_year_is_not_proof_of_each_month() -> None:
    # By 15 March two months of 2026 have passed; a total of 1 does not say which.
    assert one([record("2025", 12), record("2026", 1)], date(2026, 3, 15)) == summary(13, 0, False)
    # A month record for February settles it.
    records = [record("2025", 12), record("2026", 1), record("2026-02")]
    assert one(records, date(2026, 3, 15)) == summary(13, 1, True)
    # And with January too the total is told by month records and the run continues.
    records = [*records, record("2026-01")]
    assert one(records, date(2026, 3, 15)) == summary(14, 14, True)


def test_month_records_override_the_years_total_for_their_months() -> None:
    # A year's total of 12 with an unpaid month record for June: June is a gap; the total
    # still fills the eleven other months.
    records = [record("2025", 12), record("2025-06", 0)]
    assert one(records, date(2026, 1, 5)) == summary(11, 6, True)
    # Month records covering the whole year: the total adds nothing beyond them.
    months = [record(f"2025-{month:02d}", 1 if month != 3 else 0) for month in range(1, 13)]
    assert one([record("2025", 12), *months], date(2026, 1, 5)) == summary(11, 9, True)
    assert one([record("2025", 5), *months], date(2026, 1, 5)) == summary(11, 9, True)
    # A total of 6 with two paid month records: four more months, not which ones.
    records = [record("2025", 6), record("2025-11"), record("2025-12")]
    assert one(records, date(2026, 1, 5)) == summary(6, 2, True)


def test_year_and_month_records_mixed_over_years() -> None:
    records = [
        record("2023", 12),
        record("2024", 12),
        *[record(f"2025-{month:02d}") for month in range(1, 13)],
        record("2026", 12),  # reported ahead: only passed months count
        record("2026-02"),
    ]
    assert one(records, date(2026, 2, 15)) == summary(38, 38, True)


def test_schemes_are_counted_apart() -> None:
    records = [
        record("2025", 12, scheme="employee"),
        record("2026-01", scheme="resident"),
    ]
    # The employee scheme stopped in December: not current in February.
    assert one(records, date(2026, 2, 3), scheme="employee") == summary(12, 0, False)
    assert one(records, date(2026, 2, 3), scheme="resident") == summary(1, 1, True)
    assert one(records, date(2026, 2, 3)) == summary(13, 13, True)
    assert insurance_as_of(frame(records), date(2026, 2, 3), scheme="nobody").height == 0


def test_people_are_counted_each_on_their_own() -> None:
    records = [
        record("2025", 12, person=1),
        record("2022-05", person=2),
        record("2026-01", 0, person=3),
    ]
    result = insurance_as_of(frame(records), date(2026, 1, 10))
    assert result.rows() == [(1, 12, 12, True), (2, 1, 0, False), (3, 0, 0, False)]


def test_optional_columns_may_be_absent() -> None:
    bare = frame([record("2025", 12)]).drop(BACK_PAID, SCHEME)
    assert insurance_as_of(bare, date(2026, 1, 2)).row(0) == (1, 12, 12, True)
    assert insurance_as_of(bare, date(2026, 1, 2), scheme="employee").height == 0
    nulls = frame([record("2025-12")]).with_columns(pl.lit(None, pl.Boolean).alias(BACK_PAID))
    assert insurance_as_of(nulls, date(2026, 1, 2)).row(0) == (1, 1, 1, True)


def test_record_counts_say_why_a_year_counted_less() -> None:
    records = [
        record("2025", 12),
        record("2025-06", 0),
        record("2026", 12),
        record("2025-12", back=True),
        record("2026-05"),
    ]
    counts = record_counts(frame(records), date(2026, 2, 1))
    assert counts[COUNTED].to_list() == [10, 0, 1, 1, 0]
    notes = counts["note_zh"].to_list()
    assert "其中 2 个月以逐月记录为准，计 10 个月" in notes[0]
    assert notes[1] is None
    assert "截至 2026-02-01 该年只过去 1 个月，计 1 个月" in notes[2]
    assert notes[3].startswith("补缴")
    assert "晚于 2026-02-01" in notes[4]
    assert "only 1 months of 2026 had passed by 2026-02-01: counts 1" in counts["note_en"][2]
    # The run is January 2026 (the back-paid December breaks it).
    assert counts[IN_RUN].to_list() == [False, False, True, False, False]


def test_record_counts_for_a_scheme_count_other_schemes_as_nothing() -> None:
    records = [record("2025", 12, scheme="resident"), record("2026-01", scheme="employee")]
    counts = record_counts(frame(records), date(2026, 2, 1), scheme="employee")
    assert counts[COUNTED].to_list() == [0, 1] and counts[IN_RUN].to_list() == [False, True]


# Properties against an independent month-by-month reading


def oracle(
    records: list[Record], as_of: date, scheme: str | None = None
) -> dict[int, tuple[int, int, bool]]:
    now = as_of.year * 12 + as_of.month - 1
    people: dict[int, tuple[int, int, bool]] = {}
    chosen = [r for r in records if scheme is None or r[4] == scheme]
    for person in sorted({r[0] for r in chosen}):
        mine = [r for r in chosen if r[0] == person]
        begun = [
            r
            for r in mine
            if date(int(r[1][:4]), int(r[1][5:]) if len(r[1]) == 7 else 1, 1) <= as_of
        ]
        if not begun:
            continue
        status: dict[int, str] = {}
        total = 0
        for _, period, months, back, _ in begun:
            if len(period) == 7:
                index = int(period[:4]) * 12 + int(period[5:]) - 1
                paid = months >= 1
                if paid:
                    total += 1
                clean = paid and not back
                status[index] = "clean" if clean or status.get(index) == "clean" else "not"
        for _, period, months, back, _ in begun:
            if len(period) != 4:
                continue
            year = int(period)
            passed = [m for m in range(year * 12, year * 12 + 12) if m < now]
            told = [m for m in passed if m in status]
            paid_told = sum(
                1
                for _, p, n, _, _ in begun
                if len(p) == 7
                and int(p[:4]) == year
                and n >= 1
                and int(p[:4]) * 12 + int(p[5:]) - 1 < now
            )
            open_months = [m for m in passed if m not in status]
            left = max(min(months, 12) - paid_told, 0)
            total += min(left, len(open_months))
            assert len(told) + len(open_months) == len(passed)
            if left >= len(open_months) and not back:
                for m in open_months:
                    status[m] = "clean"
        anchor = now if status.get(now) == "clean" else now - 1
        run = 0
        while status.get(anchor - run) == "clean":
            run += 1
        people[person] = (total, run, run > 0)
    return people


PERIODS = [str(year) for year in (2023, 2024, 2025, 2026)] + [
    f"{year}-{month:02d}" for year in (2024, 2025, 2026) for month in range(1, 13)
]


@st.composite
def histories(draw: st.DrawFn) -> list[Record]:
    records: list[Record] = []
    for person in range(1, draw(st.integers(1, 4)) + 1):
        periods = draw(st.lists(st.sampled_from(PERIODS), unique=True, max_size=20))
        for period in periods:
            months = draw(st.integers(0, 12) if len(period) == 4 else st.integers(0, 1))
            back = draw(st.booleans()) if draw(st.integers(0, 4)) == 0 else False
            scheme = draw(st.sampled_from(["employee", "resident"]))
            records.append((person, period, months, back, scheme))
    return records


AS_OF = st.dates(date(2024, 1, 1), date(2027, 3, 31))


def as_dict(result: pl.DataFrame) -> dict[int, tuple[int, int, bool]]:
    return {
        row[0]: (row[1], row[2], row[3])
        for row in result.select(RESIDENT, MONTHS, CONTINUOUS, CURRENT).rows()
    }


@settings(max_examples=150, deadline=None)
@given(histories(), AS_OF, st.sampled_from([None, "employee"]))
def test_agrees_with_the_month_by_month_oracle(
    records: list[Record], as_of: date, scheme: str | None
) -> None:
    result = insurance_as_of(
        frame(records) if records else pl.DataFrame(schema=SCHEMA), as_of, scheme
    )
    assert as_dict(result) == oracle(records, as_of, scheme)


@settings(max_examples=80, deadline=None)
@given(histories(), AS_OF)
def test_continuous_never_exceeds_the_total_and_current_means_a_run(
    records: list[Record], as_of: date
) -> None:
    if not records:
        return
    for months, continuous, current in as_dict(insurance_as_of(frame(records), as_of)).values():
        assert 0 <= continuous <= months
        assert current == (continuous >= 1)


@settings(max_examples=80, deadline=None)
@given(histories(), AS_OF, st.data())
def test_back_paid_never_adds_to_continuous(
    records: list[Record], as_of: date, data: st.DataObject
) -> None:
    if not records:
        return
    flipped = data.draw(st.sets(st.integers(0, len(records) - 1)))
    later = [(p, q, m, True if i in flipped else b, s) for i, (p, q, m, b, s) in enumerate(records)]
    before = as_dict(insurance_as_of(frame(records), as_of))
    after = as_dict(insurance_as_of(frame(later), as_of))
    for person, (months, continuous, current) in after.items():
        assert months == before[person][0]
        assert continuous <= before[person][1]
        assert current <= before[person][2]


@settings(max_examples=80, deadline=None)
@given(histories(), AS_OF)
def test_record_counts_add_up_to_the_total(records: list[Record], as_of: date) -> None:
    if not records:
        return
    counts = record_counts(frame(records), as_of).group_by(RESIDENT).agg(pl.col(COUNTED).sum())
    totals = as_dict(insurance_as_of(frame(records), as_of))
    assert {person: total for person, (total, _, _) in totals.items()} == {
        person: counted for person, counted in counts.rows() if person in totals
    }


@settings(max_examples=40, deadline=None)
@given(st.integers(2000, 2030), st.integers(0, 12), st.integers(1, 28))
def test_a_years_total_counts_at_most_its_passed_months(year: int, months: int, day: int) -> None:
    as_of = date(year, 2, day)
    assert one([record(str(year), months)], as_of)[MONTHS] == min(months, 1)


@pytest.mark.parametrize("as_of", [date(2026, 1, 1), date(2026, 1, 31), date(2026, 12, 31)])
def test_nothing_begun_gives_no_row(as_of: date) -> None:
    assert insurance_as_of(frame([record("2027", 12)]), as_of).height == 0
