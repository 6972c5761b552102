"""The permit time line (《浙江省流动人口居住登记条例》Art. 19) at its edges, and against an
independent day-by-day walk of the same rules for random histories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luodi.kernels.calendar import years_after
from luodi.kernels.policy.expressions import months_between
from luodi.kernels.timeline import ENDORSEMENT_WINDOW_DAYS, PermitState, permit_timeline
from luodi.kernels.timeline.permits import ENDORSEMENT_SCHEMA, PERMIT_SCHEMA, anniversary_expr

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Permit:
    resident_id: int
    permit_number: str
    issue_date: date
    expiry_date: date
    status: str = "valid"
    status_date: date | None = None


def frames(
    permits: list[Permit], endorsements: list[tuple[int, str, date]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    permit_frame = pl.DataFrame(
        [
            (p.resident_id, p.permit_number, p.issue_date, p.expiry_date, p.status, p.status_date)
            for p in permits
        ],
        schema={**PERMIT_SCHEMA, "status_date": pl.Date()},
        orient="row",
    )
    endorsement_frame = pl.DataFrame(endorsements, schema=ENDORSEMENT_SCHEMA, orient="row")
    return permit_frame, endorsement_frame


def timeline(
    permits: list[Permit], endorsements: list[tuple[int, str, date]], as_of: date
) -> dict[int, dict[str, object]]:
    result = permit_timeline(*frames(permits, endorsements), as_of)
    return {row["resident_id"]: row for row in result.iter_rows(named=True)}


def one(
    permits: list[Permit], endorsements: list[date], as_of: date, number: str = "P1"
) -> dict[str, object]:
    rows = timeline(permits, [(1, number, day) for day in endorsements], as_of)
    return rows[1]


ISSUED = date(2024, 3, 1)
FIRST = date(2025, 3, 1)  # the first anniversary
PERMIT = Permit(1, "P1", ISSUED, date(2030, 3, 1))


# ------------------------------------------------------------------------------ edges


@pytest.mark.parametrize(
    ("endorsed", "state", "start"),
    [
        (FIRST, "valid", ISSUED),  # on the anniversary
        (FIRST - timedelta(days=ENDORSEMENT_WINDOW_DAYS), "valid", ISSUED),  # 30 days before
        (FIRST - timedelta(days=31), "suspended", None),  # 31 days before: too early
        (FIRST + DAY, "valid", FIRST + DAY),  # a day late: the count restarts
        (None, "suspended", None),  # never
    ],
)
def test_endorsement_around_the_first_anniversary(
    endorsed: date | None, state: str, start: date | None
) -> None:
    row = one([PERMIT], [endorsed] if endorsed else [], date(2025, 6, 1))
    assert (row["permit_state"], row["span_start"]) == (state, start)
    assert row["permit_valid"] is (state == "valid")
    if state == "suspended":
        assert row["suspended_since"] == FIRST and row["next_endorsement_due"] is None
    else:
        assert row["next_endorsement_due"] == date(2026, 3, 1)


def test_suspended_from_the_anniversary_itself_and_valid_the_day_before() -> None:
    assert one([PERMIT], [], FIRST - DAY)["permit_state"] == "valid"
    assert one([PERMIT], [], FIRST)["permit_state"] == "suspended"


@pytest.mark.parametrize(
    ("endorsements", "as_of", "since"),
    [
        # Endorsed for 2025, none for 2026 nor 2027, late in 2027: suspended since 2026.
        ([date(2025, 2, 20), date(2027, 3, 10)], date(2027, 6, 1), date(2026, 3, 1)),
        # Nothing before the late one: since the first anniversary.
        ([date(2026, 3, 10)], date(2026, 6, 1), FIRST),
        # An earlier suspension restored late, endorsed on time after, missed again: the
        # reason names the second suspension, not the first.
        (
            [date(2025, 4, 1), date(2026, 2, 20), date(2028, 3, 5)],
            date(2028, 6, 1),
            date(2027, 3, 1),
        ),
    ],
)
def test_a_late_endorsement_says_since_when_the_permit_was_suspended(
    endorsements: list[date], as_of: date, since: date
) -> None:
    row = one([PERMIT], endorsements, as_of)
    assert (row["permit_state"], row["span_start"]) == ("valid", endorsements[-1])
    assert f"suspended since anniversary {since}" in str(row["reason_en"])
    assert f"自 {since} 周年未按时签注起中止" in str(row["reason_zh"])


def test_late_endorsement_restores_and_restarts_the_count() -> None:
    late = date(2025, 4, 10)
    row = one([PERMIT], [late, date(2026, 2, 20)], date(2026, 6, 1))
    assert (row["permit_state"], row["span_start"]) == ("valid", late)
    assert "2025-04-10" in str(row["reason_zh"]) and "restarted" in str(row["reason_en"])
    assert row["next_endorsement_due"] == date(2027, 3, 1)
    # Before it was made, the permit was suspended and nothing counted.
    assert one([PERMIT], [late], late - DAY)["span_start"] is None


def test_a_late_endorsement_does_not_excuse_the_next_anniversary() -> None:
    row = one([PERMIT], [date(2025, 4, 10)], date(2026, 3, 2))
    assert (row["permit_state"], row["suspended_since"]) == ("suspended", date(2026, 3, 1))


def test_years_of_timely_endorsements_keep_the_issue_date() -> None:
    endorsed = [date(2025, 2, 20), date(2026, 2, 1), date(2027, 3, 1)]
    row = one([PERMIT], endorsed, date(2027, 12, 31))
    assert (row["span_start"], row["next_endorsement_due"]) == (ISSUED, date(2028, 3, 1))
    assert row["reason_en"] == "permit P1 issued 2024-03-01"


def test_endorsed_ahead_the_next_due_is_the_following_anniversary() -> None:
    assert one([PERMIT], [date(2025, 2, 15)], date(2025, 2, 20))["next_endorsement_due"] == (
        date(2026, 3, 1)
    )
    assert one([PERMIT], [], date(2025, 2, 20))["next_endorsement_due"] == FIRST


def test_no_endorsement_is_due_on_or_after_expiry() -> None:
    permit = Permit(1, "P1", ISSUED, date(2025, 3, 1))
    row = one([permit], [], date(2025, 2, 28))
    assert (row["permit_state"], row["next_endorsement_due"]) == ("valid", None)
    assert one([permit], [], date(2025, 3, 1))["permit_state"] == "valid"  # its last day


def test_expired() -> None:
    permit = Permit(1, "P1", date(2020, 1, 1), date(2022, 1, 1), status="expired")
    row = one([permit], [date(2020, 12, 20)], date(2023, 1, 1))
    assert (row["permit_state"], row["span_start"], row["permit_valid"]) == (
        "expired",
        None,
        False,
    )
    assert "2022-01-01" in str(row["reason_zh"])
    # A permit the department still calls valid is expired after its date all the same.
    assert one([Permit(1, "P1", date(2020, 1, 1), date(2021, 6, 1))], [], date(2021, 6, 2))[
        "permit_state"
    ] == ("expired")


def test_cancelled_with_and_without_a_date() -> None:
    undated = Permit(1, "P1", ISSUED, date(2030, 3, 1), status="cancelled")
    assert one([undated], [], date(2024, 6, 1))["permit_state"] == "cancelled"
    dated = Permit(1, "P1", ISSUED, date(2030, 3, 1), "cancelled", date(2024, 9, 1))
    before = one([dated], [], date(2024, 8, 31))
    assert (before["permit_state"], before["span_start"]) == ("valid", ISSUED)
    after = one([dated], [], date(2024, 9, 1))
    assert (after["permit_state"], after["span_start"]) == ("cancelled", None)


def test_issue_14_example_permit_2014_2018_then_back_in_2023() -> None:
    """The issue's resident: 142 months counted from the first permit ever; 29 by law."""
    as_of = date(2026, 3, 1)
    permits = [
        Permit(1, "OLD", date(2014, 5, 1), date(2018, 4, 30), status="expired"),
        Permit(1, "NEW", date(2023, 10, 1), date(2029, 10, 1)),
    ]
    endorsed = [
        (1, "OLD", date(2015, 4, 20)),
        (1, "OLD", date(2016, 4, 20)),
        (1, "OLD", date(2017, 4, 20)),
        (1, "NEW", date(2024, 9, 20)),
        (1, "NEW", date(2025, 9, 25)),
    ]
    row = timeline(permits, endorsed, as_of)[1]
    assert months_between(date(2014, 5, 1), as_of) == 142
    assert row["span_start"] == date(2023, 10, 1)
    assert months_between(row["span_start"], as_of) == 29  # type: ignore[arg-type]
    assert row["reason_en"] == "new permit NEW issued 2023-10-01 after permit OLD expired"
    assert row["reason_zh"] == "前证 OLD 已过期，新证 NEW 于 2023-10-01 签发，重新计算"


def test_two_permits_with_a_gap_start_again() -> None:
    permits = [
        Permit(1, "A", date(2018, 1, 1), date(2020, 1, 1)),
        Permit(1, "B", date(2020, 1, 3), date(2026, 1, 3)),
    ]
    endorsed = [(1, "A", date(2018, 12, 20)), (1, "B", date(2020, 12, 20))]
    row = timeline(permits, endorsed, date(2021, 6, 1))[1]
    assert (row["permit_number"], row["span_start"]) == ("B", date(2020, 1, 3))


def test_a_renewal_without_a_gap_counts_on() -> None:
    """ASSUMPTION (docs/policy.md): a new permit issued while the old one is still valid (on or
    before its expiry date) is continuous residence."""
    permits = [
        Permit(1, "A", date(2018, 1, 1), date(2020, 1, 1), status="expired"),
        Permit(1, "B", date(2020, 1, 1), date(2026, 1, 1)),  # on A's last day
    ]
    endorsed = [(1, "A", date(2018, 12, 20)), (1, "B", date(2020, 12, 20))]
    row = timeline(permits, endorsed, date(2021, 6, 1))[1]
    assert (row["permit_number"], row["span_start"]) == ("B", date(2018, 1, 1))
    assert "B" in str(row["reason_en"]) and "without a gap" in str(row["reason_en"])
    # …but not over a suspension: A missed its anniversary, so B starts afresh.
    row = timeline(permits, endorsed[1:], date(2021, 6, 1))[1]
    assert row["span_start"] == date(2020, 1, 1)
    assert "suspended" in str(row["reason_en"])


def test_a_permit_issued_after_the_old_one_expired_starts_a_new_span() -> None:
    """Issue 14: an expired permit ends the count — even when the new one comes the next day."""
    permits = [
        Permit(1, "A", date(2018, 1, 1), date(2020, 1, 1), status="expired"),
        Permit(1, "B", date(2020, 1, 2), date(2026, 1, 2)),  # the day after A's last day
    ]
    endorsed = [(1, "A", date(2018, 12, 20)), (1, "B", date(2020, 12, 20))]
    row = timeline(permits, endorsed, date(2021, 6, 1))[1]
    assert (row["permit_number"], row["span_start"]) == ("B", date(2020, 1, 2))
    assert row["reason_zh"] == "前证 A 已过期，新证 B 于 2020-01-02 签发，重新计算"


@pytest.mark.parametrize("status_date", [None, date(2024, 3, 1), date(2023, 5, 1)])
def test_a_cancelled_permit_ends_the_span_and_the_next_starts_a_new_one(
    status_date: date | None,
) -> None:
    """The tester's A7/B7: a cancelled permit followed by a new one counted from the old."""
    permits = [
        Permit(1, "A7", date(2020, 1, 1), date(2040, 1, 1), "cancelled", status_date),
        Permit(1, "B7", date(2024, 3, 1), date(2044, 3, 1)),
    ]
    endorsed = [(1, "A7", years_after(date(2020, 1, 1), k) - DAY) for k in range(1, 5)] + [
        (1, "B7", date(2025, 2, 20))
    ]
    row = timeline(permits, endorsed, date(2026, 2, 1))[1]
    assert (row["permit_number"], row["permit_state"]) == ("B7", "valid")
    assert row["span_start"] == date(2024, 3, 1)
    assert months_between(row["span_start"], date(2026, 2, 1)) == 23  # type: ignore[arg-type]
    assert row["reason_zh"] == "前证 A7 已注销，新证 B7 于 2024-03-01 签发，重新计算"
    assert "without a gap" not in str(row["reason_en"])


def test_an_expired_permit_was_valid_before_its_expiry_date() -> None:
    """Retrospective scoring: the status is today's; on an earlier date the permit was valid."""
    permit = Permit(1, "P1", date(2020, 1, 1), date(2025, 12, 31), status="expired")
    endorsed = [years_after(date(2020, 1, 1), k) - DAY for k in range(1, 6)]
    row = one([permit], endorsed, date(2024, 6, 1))
    assert (row["permit_state"], row["span_start"]) == ("valid", date(2020, 1, 1))
    assert row["next_endorsement_due"] == date(2025, 1, 1)
    assert one([permit], endorsed, date(2025, 12, 31))["permit_state"] == "valid"
    assert one([permit], endorsed, date(2026, 1, 1))["permit_state"] == "expired"


def test_a_cancellation_with_no_date_says_the_date_is_unknown() -> None:
    undated = Permit(1, "P1", ISSUED, date(2030, 3, 1), status="cancelled")
    row = one([undated], [], date(2024, 6, 1))
    assert row["permit_state"] == "cancelled"
    assert row["reason_zh"] == "居住证 P1 已注销（注销日期未报送），居住年限终止"
    assert "2024-06-01" not in str(row["reason_zh"]) + str(row["reason_en"])
    dated = Permit(1, "P1", ISSUED, date(2030, 3, 1), "cancelled", date(2024, 5, 2))
    assert one([dated], [], date(2024, 6, 1))["reason_zh"] == (
        "居住证 P1 已注销（2024-05-02），居住年限终止"
    )


def test_a_renewal_after_a_late_endorsement_keeps_the_restart() -> None:
    permits = [
        Permit(1, "A", date(2018, 1, 1), date(2020, 1, 1)),
        Permit(1, "B", date(2019, 12, 1), date(2025, 12, 1)),
    ]
    endorsed = [(1, "A", date(2019, 2, 1)), (1, "B", date(2020, 11, 20))]
    row = timeline(permits, endorsed, date(2021, 1, 1))[1]
    assert row["span_start"] == date(2019, 2, 1)


def test_29_february_anniversaries_fall_on_28_february() -> None:
    """民法典 Art. 202: a year without a corresponding day ends on the month's last day."""
    permit = Permit(1, "P1", date(2020, 2, 29), date(2030, 1, 1))
    assert one([permit], [date(2021, 2, 28)], date(2021, 6, 1))["permit_state"] == "valid"
    # 1 March is a day late: suspended on 28 February, restored and restarted on 1 March.
    late = one([permit], [date(2021, 3, 1)], date(2021, 6, 1))
    assert (late["permit_state"], late["span_start"]) == ("valid", date(2021, 3, 1))
    # 30 days before 28 February 2021 is 29 January.
    assert one([permit], [date(2021, 1, 29)], date(2021, 6, 1))["permit_state"] == "valid"
    assert one([permit], [date(2021, 1, 28)], date(2021, 6, 1))["permit_state"] == "suspended"
    assert one([permit], [], date(2021, 2, 27))["next_endorsement_due"] == date(2021, 2, 28)
    frame = pl.DataFrame({"issue": [date(2020, 2, 29)] * 5, "years": [1, 2, 3, 4, 8]})
    days = frame.select(anniversary_expr(pl.col("issue"), pl.col("years"))).to_series()
    assert days.to_list() == [years_after(date(2020, 2, 29), k) for k in (1, 2, 3, 4, 8)]
    assert days.to_list()[3] == date(2024, 2, 29)


def test_what_is_not_known_yet() -> None:
    assert (
        timeline([Permit(1, "P1", date(2025, 1, 1), date(2030, 1, 1))], [], date(2024, 12, 31))
        == {}
    )
    # An endorsement after the date is not known on the date.
    assert one([PERMIT], [date(2025, 4, 1)], date(2025, 3, 31))["permit_state"] == "suspended"


def test_another_persons_endorsement_does_not_count() -> None:
    rows = timeline([PERMIT], [(2, "P1", FIRST)], date(2025, 6, 1))
    assert rows[1]["permit_state"] == "suspended"


def test_empty_frames() -> None:
    result = permit_timeline(*frames([], []), date(2026, 1, 1))
    assert result.height == 0 and "span_start" in result.columns


# ------------------------------------------------------------------ an independent walk


def _end(permit: Permit, next_issue: date | None, as_of: date) -> date:
    after_expiry = permit.expiry_date + DAY
    if permit.status != "cancelled":  # an expired permit was valid up to its expiry date
        return after_expiry
    return min(after_expiry, permit.status_date or next_issue or as_of)


def _anniversaries(permit: Permit) -> set[date]:
    days = set()
    k = 1
    while (day := years_after(permit.issue_date, k)) < permit.expiry_date:
        days.add(day)
        k += 1
    return days


def walk(
    permits: list[Permit], endorsements: list[tuple[int, str, date]], as_of: date
) -> tuple[str, date | None, date | None, date | None]:
    """One resident, day by day: (state, span start, next due, suspended since)."""
    issued = sorted(
        (p for p in permits if p.issue_date <= as_of), key=lambda p: (p.issue_date, p.permit_number)
    )
    endorsed = {
        p.permit_number: {
            day
            for resident, number, day in endorsements
            if number == p.permit_number and resident == p.resident_id and day <= as_of
        }
        for p in issued
    }
    state, start, since = PermitState.NONE, None, None
    current: Permit | None = None
    end = date.max
    day = issued[0].issue_date
    while day <= as_of:
        for index, permit in enumerate(issued):
            if permit.issue_date == day:
                renewal = (
                    state == PermitState.VALID
                    and current is not None
                    and current.status != "cancelled"
                    and day <= current.expiry_date
                )
                if not renewal:
                    start = day
                current, state, since = permit, PermitState.VALID, None
                next_issue = issued[index + 1].issue_date if index + 1 < len(issued) else None
                end = _end(permit, next_issue, as_of)
                anniversaries = _anniversaries(permit)
        assert current is not None
        mine = endorsed[current.permit_number]
        if day >= end:
            cancelled = current.status == "cancelled" and end <= current.expiry_date
            state = PermitState.CANCELLED if cancelled else PermitState.EXPIRED
            start = since = None
        else:
            if state == PermitState.SUSPENDED and day in mine:
                state, start, since = PermitState.VALID, day, None
            if day in anniversaries and state == PermitState.VALID:
                window = {day - timedelta(days=n) for n in range(ENDORSEMENT_WINDOW_DAYS + 1)}
                if not window & mine:
                    state, start, since = PermitState.SUSPENDED, None, day
        day += DAY
    due = None
    if state == PermitState.VALID and current is not None:
        for candidate in sorted(_anniversaries(current)):
            if candidate < as_of:
                continue
            opens = candidate - timedelta(days=ENDORSEMENT_WINDOW_DAYS)
            if not any(opens <= e <= as_of for e in endorsed[current.permit_number]):
                due = candidate
                break
    return state.value, start, due, since


OFFSETS = st.sampled_from([None, None, -45, -31, -30, -12, 0, 1, 25, 200, 340])


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Permit], list[tuple[int, str, date]], date]:
    permits: list[Permit] = []
    endorsements: list[tuple[int, str, date]] = []
    issue = draw(st.dates(date(2012, 1, 1), date(2016, 12, 31)))
    for index in range(draw(st.integers(1, 3))):
        years = draw(st.integers(1, 6))
        expiry = years_after(issue, years) - timedelta(days=draw(st.integers(0, 40)))
        status = draw(st.sampled_from(["valid", "valid", "expired", "cancelled"]))
        status_date = draw(st.none() | st.dates(issue + DAY, expiry + timedelta(days=30)))
        permit = Permit(1, f"P{index}", issue, expiry, status, status_date)
        permits.append(permit)
        for k in range(1, years + 1):
            offset = draw(OFFSETS)
            if offset is not None:
                endorsements.append(
                    (1, permit.permit_number, years_after(issue, k) + timedelta(offset))
                )
        for _ in range(draw(st.integers(0, 2))):
            endorsements.append((1, permit.permit_number, draw(st.dates(issue, expiry))))
        issue = expiry + timedelta(days=draw(st.integers(-300, 400)))
        issue = max(issue, permit.issue_date + DAY)
    endorsements = list(dict.fromkeys(endorsements))
    as_of = draw(st.dates(permits[0].issue_date, date(2030, 12, 31)))
    return permits, endorsements, as_of


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_the_columns_agree_with_a_day_by_day_walk(
    history: tuple[list[Permit], list[tuple[int, str, date]], date],
) -> None:
    permits, endorsements, as_of = history
    row = timeline(permits, endorsements, as_of)[1]
    expected = walk(permits, endorsements, as_of)
    got = (
        row["permit_state"],
        row["span_start"],
        row["next_endorsement_due"],
        row["suspended_since"],
    )
    assert got == expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_properties_of_a_span(
    history: tuple[list[Permit], list[tuple[int, str, date]], date],
) -> None:
    permits, endorsements, as_of = history
    row = timeline(permits, endorsements, as_of)[1]
    start = row["span_start"]
    issued = [p for p in permits if p.issue_date <= as_of]
    latest = max(issued, key=lambda p: p.issue_date)
    assert row["permit_number"] == latest.permit_number
    assert row["permit_valid"] is (row["permit_state"] == "valid")
    assert (start is None) is (row["permit_state"] != "valid")
    if start is None:
        assert row["next_endorsement_due"] is None
        return
    assert isinstance(start, date)
    assert issued[0].issue_date <= start <= as_of
    # A span starts on an issue date or on an endorsement's date, never elsewhere.
    assert start in {p.issue_date for p in issued} | {day for _, _, day in endorsements}
    # Before the latest permit's issue only when that permit followed one with no gap.
    if start < latest.issue_date:
        assert "without a gap" in str(row["reason_en"])
    due = row["next_endorsement_due"]
    assert due is None or as_of <= due < latest.expiry_date  # type: ignore[operator]


def test_a_city_at_once() -> None:
    """Many residents in one call give each the answer they get alone."""
    histories_ = [
        ([PERMIT], [(1, "P1", FIRST)]),
        ([PERMIT], []),
        ([PERMIT], [(1, "P1", FIRST + DAY)]),
    ]
    permits: list[Permit] = []
    endorsements: list[tuple[int, str, date]] = []
    for resident, (own_permits, own_endorsements) in enumerate(histories_, start=1):
        for p in own_permits:
            permits.append(
                Permit(resident, f"{p.permit_number}-{resident}", p.issue_date, p.expiry_date)
            )
        endorsements += [(resident, f"{n}-{resident}", d) for _, n, d in own_endorsements]
    rows = timeline(permits, endorsements, date(2025, 6, 1))
    assert [rows[r]["span_start"] for r in (1, 2, 3)] == [ISSUED, None, FIRST + DAY]
    assert [rows[r]["permit_state"] for r in (1, 2, 3)] == ["valid", "suspended", "valid"]


def test_without_reasons_the_same_spans() -> None:
    permits = [
        Permit(1, "OLD", date(2014, 5, 1), date(2018, 4, 30), status="expired"),
        Permit(1, "NEW", date(2023, 10, 1), date(2029, 10, 1)),
        Permit(2, "P2", ISSUED, date(2030, 3, 1)),
    ]
    endorsed = [(1, "NEW", date(2024, 9, 20)), (2, "P2", FIRST + DAY)]
    full = permit_timeline(*frames(permits, endorsed), date(2025, 6, 1))
    bare = permit_timeline(*frames(permits, endorsed), date(2025, 6, 1), reasons=False)
    assert bare.drop("reason_zh", "reason_en").equals(full.drop("reason_zh", "reason_en"))
    assert bare["reason_zh"].null_count() == bare.height == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(histories(), min_size=2, max_size=12))
def test_a_city_of_random_histories_gives_each_their_own(
    city: list[tuple[list[Permit], list[tuple[int, str, date]], date]],
) -> None:
    """Residents side by side (the frame order is the kernel's business) get what they get
    alone, on one date."""
    as_of = city[0][2]
    permits: list[Permit] = []
    endorsements: list[tuple[int, str, date]] = []
    for resident, (own_permits, own_endorsements, _) in enumerate(city, start=1):
        for p in own_permits:
            permits.append(
                Permit(
                    resident,
                    f"{p.permit_number}-{resident}",
                    p.issue_date,
                    p.expiry_date,
                    p.status,
                    p.status_date,
                )
            )
        endorsements += [(resident, f"{n}-{resident}", d) for _, n, d in own_endorsements]
    rows = timeline(permits[::-1], endorsements[::-1], as_of)
    for resident in range(1, len(city) + 1):
        own = [p for p in permits if p.resident_id == resident]
        if not any(p.issue_date <= as_of for p in own):
            assert resident not in rows
            continue
        row = rows[resident]
        got = (
            row["permit_state"],
            row["span_start"],
            row["next_endorsement_due"],
            row["suspended_since"],
        )
        assert got == walk(own, endorsements, as_of)
