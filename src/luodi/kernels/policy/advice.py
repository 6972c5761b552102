"""How could I get more points: for one resident's typed input row, the changes that would
raise the TOTAL under a compiled policy, and by how much — computed by the policy itself, never
written by hand per indicator.

For every scoring indicator (not a deduction) that is not at its own cap, the inputs it reads
(directly or through a derived value) are varied: a number is raised by candidate increments
(a ladder of small steps and the steps that reach round values: months, millilitres, hours
alike), an enum moves to each later value of its declared order, a true/false input turns
true. All these variants are one small frame, scored in ONE call of ``CompiledPolicy.score``;
the gain is the difference of the totals, so group caps (慈溪's county layer of 200) and
"highest line only" groups are in it. Time passing (the scoring date 6 and 12 months later)
is one more call per horizon, for indicators that read dates.

A suggestion is kept only when the total rises; the words are for the caller (the policy's
input labels and these numbers: ``luodi.web.portal.points``)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from luodi.kernels.policy.document import Indicator, Policy
from luodi.kernels.policy.engine import KEY, TOTAL, CompiledPolicy
from luodi.kernels.policy.expressions import AS_OF, Kind
from luodi.kernels.small import engine_for, small_memo

TOLERANCE = 1e-9
SMALL_STEPS = range(1, 61)
"""Every increment up to 60 (months of insurance, years, counts, hours)."""
ROUND_UNITS = (5, 10, 50, 100, 200, 500, 1000)
"""Raising a number to a multiple of these (650 ml → 800 ml) is a candidate too."""
ROUND_TARGETS = 12
"""Multiples of each unit above the current value tried (200 ml × 12 = 2.4 litres)."""
HORIZONS = (6, 12)
"""Months of time passing tried for indicators that read dates."""
ENUM_CHOICES = 3
"""At most this many higher values of one enum input (each worth more than the one before)."""


@dataclass(frozen=True)
class Suggestion:
    """One change and what it adds to the total."""

    kind: str
    """``increase`` (a number), ``choose`` (an enum value), ``enable`` (true/false) or
    ``time`` (the scoring date later)."""
    input: str
    """The input changed; ``as_of`` for time passing."""
    current: Any
    proposed: Any
    """The input's new value (for ``time``: the later scoring date)."""
    step: float | None
    """How much a number is raised by; months of time passing."""
    gain: float
    """Total after the change minus total now (after caps, groups and the floor): > 0."""
    indicators: tuple[str, ...]
    """The indicators whose points rise, in policy order."""
    reaches_cap: bool
    """After the change the first of ``indicators`` has its own cap's points."""


def months_later(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day where it has none."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def read_inputs(policy: Policy, indicator: Indicator) -> set[str]:
    """The inputs an indicator reads, through derived values (``as_of`` included)."""
    derived = {item.name: item.expression for item in policy.derived}
    found: set[str] = set()
    pending = list(indicator.names())
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        if name in derived:
            pending.extend(derived[name].names())
    return {name for name in found if name in policy.inputs or name == AS_OF}


def increments(value: float, kind: Kind) -> list[float]:
    """Candidate increments of a number: 1 … 60, and those that make it a multiple of each
    of ``ROUND_UNITS`` (a float also gets what brings it to the next whole number)."""
    found: set[float] = {float(step) for step in SMALL_STEPS}
    for unit in ROUND_UNITS:
        first = (value // unit + 1) * unit
        found.update(float(first + unit * k - value) for k in range(ROUND_TARGETS))
    if kind == Kind.FLOAT and not float(value).is_integer():
        found.update(float((value // 1 + k) - value) for k in range(1, 4))
    return sorted(step for step in found if step > 0)


def at_own_cap(indicator: Indicator, capped: float) -> bool:
    return indicator.cap is not None and capped >= indicator.cap - TOLERANCE


_Variant = tuple[str, str, Any, float | None]
"""(kind, input, proposed value, step) of one variant of the row."""


def _variants(policy: Policy, row: dict[str, Any], inputs: Iterable[str]) -> list[_Variant]:
    found: list[_Variant] = []
    for name in sorted(inputs):
        spec = policy.inputs[name]
        current = row[name]
        kind = spec.type.kind
        if kind in (Kind.INT, Kind.FLOAT):
            base = float(current or 0)
            steps = increments(base, kind)
            if kind == Kind.INT:
                found.extend(
                    ("increase", name, int(base + step), step)
                    for step in steps
                    if step.is_integer()
                )
            else:
                found.extend(("increase", name, base + step, step) for step in steps)
        elif kind == Kind.ENUM and spec.type.values:
            values = list(spec.type.values)
            later = values[values.index(current) + 1 :] if current in values else values
            found.extend(("choose", name, value, None) for value in later)
        elif kind == Kind.BOOL and not current:
            found.append(("enable", name, True, None))
    return found


def _variant_frame(row: pl.DataFrame, variants: Sequence[_Variant]) -> pl.LazyFrame:
    """The row as it is (key 0) and once per variant (key 1, 2, …) with that variant's input
    changed: one lazy frame (built without a query per input) for one scoring call."""
    count = len(variants) + 1
    base = row.row(0, named=True)
    columns: dict[str, list[Any]] = {}
    for index, (_, name, proposed, _) in enumerate(variants, start=1):
        column = columns.setdefault(name, [base[name]] * count)
        column[index] = proposed
    unchanged = [
        column.new_from_index(0, count) for column in row.drop(KEY, *columns).get_columns()
    ]
    changed = [pl.Series(name, values, dtype=row.schema[name]) for name, values in columns.items()]
    keys = pl.Series(KEY, range(count), dtype=pl.Int64)
    return pl.DataFrame([keys, *unchanged, *changed]).lazy()


@small_memo(key=lambda compiled: compiled.digest)
def advise(
    compiled: CompiledPolicy,
    row: pl.DataFrame,
    as_of: date,
    horizons: Sequence[int] = HORIZONS,
    today: date | None = None,
) -> list[Suggestion]:
    """Suggestions for the one typed input row ``row`` (as ``prepare_inputs`` makes it), by
    the first indicator each raises (policy order), then input, then gain (smallest first).

    The variants are one frame and one query. The row as it is and time passing are scored
    by the row-by-row reference (``score_row``: the same semantics operation for operation,
    held equal to the columnar path by the engine's property tests), a query costing more
    than the arithmetic of one row.

    Time passing counts from ``today`` when it is after the run's ``as_of`` (a score read
    months after its run: "6 months from now", not from a date already past), and its gain
    is against the score as of ``as_of``, the one the resident sees."""
    if row.height != 1:
        raise ValueError("advise takes one resident's row")
    policy = compiled.policy
    values = row.row(0, named=True)
    reference = compiled.score_row(values, as_of)
    open_indicators = [
        indicator
        for indicator in policy.indicators
        if indicator.kind != "deduction"
        and not at_own_cap(indicator, reference.capped[indicator.id])
    ]
    order = {indicator.id: index for index, indicator in enumerate(policy.indicators)}
    changeable: set[str] = set()
    reads_dates = False
    for indicator in open_indicators:
        for name in read_inputs(policy, indicator):
            if name == AS_OF:
                reads_dates = True
            elif policy.inputs[name].type.kind in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.BOOL):
                changeable.add(name)
    variants = _variants(policy, values, changeable)
    open_ids = [indicator.id for indicator in open_indicators]
    # The row as it is, and only the variants that raise the total, come back to Python.
    scored = (
        compiled.lazy_points(_variant_frame(row, variants), as_of)
        .filter((pl.col(KEY) == 0) | (pl.col(TOTAL) - reference.total > TOLERANCE))
        .select(KEY, TOTAL, *open_ids)
        .sort(KEY)
        .collect(engine=engine_for(len(variants) + 1))
    )
    now_row = scored.row(0, named=True)
    total_now = float(now_row[TOTAL])

    def suggestion(
        kind: str, name: str, current: Any, proposed: Any, step: float | None, after: dict[str, Any]
    ) -> Suggestion | None:
        gain = float(after[TOTAL]) - total_now
        up = tuple(
            item for item in open_ids if float(after[item]) > float(now_row[item]) + TOLERANCE
        )
        if gain <= TOLERANCE or not up:
            return None
        first = policy.indicators[order[up[0]]]
        reaches = first.cap is not None and abs(float(after[first.id])) >= first.cap - TOLERANCE
        return Suggestion(kind, name, current, proposed, step, gain, up, reaches)

    found: list[Suggestion] = []
    by_input: dict[str, list[Suggestion]] = {}
    for after in scored.slice(1).iter_rows(named=True):
        kind, name, proposed, step = variants[after[KEY] - 1]
        made = suggestion(kind, name, values[name], proposed, step, after)
        if made is not None:
            by_input.setdefault(name, []).append(made)
    for name, rising in by_input.items():
        found.extend(_chosen(rising, policy.inputs[name].type.kind))
    if reads_dates:
        for months in horizons:
            later = months_later(max(as_of, today or as_of), months)
            later_row = compiled.score_row(values, later)
            after = {TOTAL: later_row.total, **later_row.points}
            waited = suggestion("time", AS_OF, as_of, later, float(months), after)
            if waited is not None:
                found.append(waited)
                break  # the nearest horizon that adds points
    return sorted(found, key=lambda item: (order[item.indicators[0]], item.input, item.gain))


def _chosen(made: list[Suggestion], kind: Kind) -> list[Suggestion]:
    """Of one input's rising variants: a number's smallest step that adds points and the
    smallest step that reaches the most points these candidates reach (the cap); an enum's
    first values that each add more than the one before; a switch's one."""
    if kind in (Kind.INT, Kind.FLOAT):
        ordered = sorted(made, key=lambda item: item.step or 0.0)
        smallest = ordered[0]
        best = max(item.gain for item in ordered)
        reaching = next(item for item in ordered if item.gain >= best - TOLERANCE)
        # A gain still growing at the largest candidate is no cap: only the first step.
        plateau = reaching is not ordered[-1] or reaching is smallest
        return [smallest] if reaching is smallest or not plateau else [smallest, reaching]
    if kind == Kind.ENUM:
        kept: list[Suggestion] = []
        for item in made:  # declared order: the lowest value of each better gain
            if not kept or item.gain > kept[-1].gain + TOLERANCE:
                kept.append(item)
        return kept[:ENUM_CHOICES]
    return made[:1]
