"""Insurance records out of current facts (facts.service ``_insurance_records``), against a
row-by-row oracle: a record is a months fact; it is back-paid when a back-paid fact of the same
resident and period exists, and its scheme is the last scheme fact of that period. Both ways of
matching a record's facts are held to it: by the period as one integer, and by the three
columns when a period does not fit one (a first day before 1970)."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.facts import service
from luodi.kernels.timeline import insurance

AS_OF = date(2026, 3, 1)
PERIODS = [
    (date(2024, 1, 1), date(2024, 12, 31)),
    (date(2025, 1, 1), date(2025, 12, 31)),
    (date(2025, 1, 1), date(2025, 1, 31)),
    (date(2025, 12, 1), date(2025, 12, 31)),
    (date(2026, 1, 1), date(2026, 1, 31)),
    (date(2026, 2, 1), date(2026, 2, 28)),
    (date(2026, 1, 1), date(2026, 12, 31)),
    (date(2026, 3, 1), date(2026, 3, 31)),
    (date(2025, 6, 1), None),  # no end: matches nothing
]
BEFORE_1970 = (date(1969, 1, 1), date(1969, 12, 31))


def facts_of(name: str, values: list[str]) -> st.SearchStrategy[tuple[int, str, str, int]]:
    return st.tuples(
        st.integers(1, 4), st.just(name), st.sampled_from(values), st.integers(0, len(PERIODS) - 1)
    )


fact = st.one_of(
    facts_of("social_insurance_months", ["0", "1", "6", "12"]),
    facts_of("social_insurance_back_paid", ["是"]),
    facts_of("medical_insurance_months", ["0", "1", "12"]),
    facts_of("medical_insurance_back_paid", ["是"]),
    facts_of("medical_insurance_scheme", ["employee", "resident"]),
)


def facts_frame(rows: list[tuple[int, str, str, tuple[date, date | None]]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(person, name, value, start, end) for person, name, value, (start, end) in rows],
        schema=service.FACT_ROWS_SCHEMA,
        orient="row",
    )


def oracle(facts: pl.DataFrame, kind: service.InsuranceKind) -> pl.DataFrame:
    rows = list(facts.iter_rows())
    records = []
    for person, name, value, start, end in rows:
        if name != kind.months:
            continue
        same = [
            row
            for row in rows
            if row[0] == person and row[3] == start and end is not None and row[4] == end
        ]
        back = any(row[1] == kind.back_paid for row in same) or None
        schemes = [row[2] for row in same if row[1] == kind.scheme_variable]
        records.append((person, start, end, int(value), back, schemes[-1] if schemes else None))
    return pl.DataFrame(
        records,
        schema=insurance.RECORDS_SCHEMA,
        orient="row",
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(fact, max_size=40), st.booleans())
def test_records_are_those_of_a_row_by_row_reading(
    drawn: list[tuple[int, str, str, int]], early: bool
) -> None:
    rows = [(person, name, value, PERIODS[period]) for person, name, value, period in drawn]
    if early:  # a period before 1970: the three columns are matched instead
        rows.append((4, "medical_insurance_months", "12", BEFORE_1970))
        rows.append((4, "medical_insurance_scheme", "employee", BEFORE_1970))
    facts = facts_frame(rows)
    for name, kind in service.INSURANCE_KINDS.items():
        kind_facts = facts.filter(pl.col("name").is_in(kind.variables))
        assert service._fits_period_key(kind_facts) == (
            not early or name not in ("employee_medical_insurance", "medical_insurance")
        )
        got = insurance.insurance_as_of(service._insurance_records(facts, kind), AS_OF, kind.scheme)
        expected = insurance.insurance_as_of(oracle(facts, kind), AS_OF, kind.scheme)
        assert got.equals(expected), name


def test_the_last_scheme_of_a_period_counts() -> None:
    february = PERIODS[5]
    facts = facts_frame(
        [
            (1, "medical_insurance_months", "1", february),
            (1, "medical_insurance_scheme", "resident", february),
            (1, "medical_insurance_scheme", "employee", february),
            (2, "medical_insurance_months", "1", february),
            (2, "medical_insurance_scheme", "employee", february),
            (2, "medical_insurance_scheme", "resident", february),
        ]
    )
    kind = service.INSURANCE_KINDS["employee_medical_insurance"]
    for frame in (facts, pl.concat([facts, facts_frame([(3, kind.months, "1", BEFORE_1970)])])):
        records = service._insurance_records(frame, kind)
        assert insurance.insurance_as_of(records, AS_OF, kind.scheme).rows() == [(1, 1, 1, True)]
