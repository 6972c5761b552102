"""Reading facts as of a date, as the points policy sees them, and a resident's fact history.

Only current facts count (a fact superseded by a later batch of its feed is history). How
facts add up to a value is declared by the feed that yields the variable
(``aggregate: latest | sum | count``, optionally within ``window_years``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Select, case, cast, literal, select
from sqlalchemy.orm import Session, aliased

from luodi import bulk
from luodi.auth.actor import Actor
from luodi.facts import repository
from luodi.facts.models import Fact
from luodi.feeds.catalog import Variable
from luodi.feeds.models import FeedBatch
from luodi.kernels.calendar import years_before
from luodi.kernels.feeds.spec import Aggregate
from luodi.kernels.timeline import insurance


def _current(actor: Actor, names: list[str], as_of: date) -> Select[Any]:
    return select(Fact.resident_id, Fact.name, Fact.value, Fact.valid_from, Fact.valid_to).where(
        Fact.name.in_(names),
        Fact.superseded_by.is_(None),
        (Fact.valid_from.is_(None)) | (Fact.valid_from <= as_of),
        repository.readable(actor),
    )


def _current_coded(actor: Actor, names: list[str], as_of: date) -> Select[Any]:
    # Who and which variable as one number, resident_id × _codes(names) + the variable's
    # position in ``names``: a number per fact crosses from the database instead of its
    # name (the longest text of a fact row, repeated millions of times; 40 → 24 MB of CSV
    # for 736 k facts), and one column less to build and parse. SQLite tries the names in
    # their order: the most frequent first saves comparisons (0.5 s of 4.3 M facts).
    code = case({name: position for position, name in enumerate(names)}, value=Fact.name)
    who = Fact.resident_id * cast(literal(_codes(names)), BigInteger) + code
    return _current(actor, names, as_of).with_only_columns(
        who, Fact.value, Fact.valid_from, Fact.valid_to
    )


def _codes(names: list[str]) -> int:
    """A power of two above every position in ``names``."""
    return 1 << max(1, len(names) - 1).bit_length()


FACT_ROWS_SCHEMA: dict[str, pl.DataType] = {
    "resident_id": pl.Int64(),
    "name": pl.String(),
    "value": pl.String(),
    "valid_from": pl.Date(),
    "valid_to": pl.Date(),
}


def current_facts(
    actor: Actor,
    session: Session,
    names: list[str],
    as_of: date,
    resident_ids: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Every current fact of these variables begun by ``as_of`` that ``actor`` reads (of
    ``resident_ids`` only when given, bound as one value), one row each
    (``FACT_ROWS_SCHEMA``), read as a frame (everyone's: ``repository.read_rows``, CSV texts
    from PostgreSQL, JSON arrays from SQLite; some residents': ``bulk.read_frame``; never a
    Python object per fact): what every aggregation or derivation from facts starts from."""
    return current_fact_rows(actor, session, names, as_of, resident_ids).with_columns(
        pl.col("name").cast(pl.String)
    )


def current_fact_rows(
    actor: Actor,
    session: Session,
    names: list[str],
    as_of: date,
    resident_ids: Sequence[int] | None = None,
    ids: bulk.IdRange | None = None,
) -> pl.DataFrame:
    """``current_facts`` with ``name`` an ``pl.Enum`` of ``names``: what a city's scoring
    reads once, for all its derivations (insurance, endorsements, sums and latest values),
    each taking its variables out of it (``facts=`` of ``facts_as_of``, ``insurance_as_of``
    and ``registry.service.scoring_population``). A variable compared with an Enum is a
    number compared with a number, millions of times. ``ids``: the facts of the residents
    of this range of ids only (a batch of a streamed read), read as everyone's are."""
    names = list(dict.fromkeys(names))
    variable = pl.Enum(names)
    if not names:
        return pl.DataFrame(schema={**FACT_ROWS_SCHEMA, "name": variable})
    statement = _current_coded(actor, names, as_of).where(bulk.within(Fact.resident_id, ids))
    if resident_ids is not None:
        statement = statement.where(bulk.among(session, Fact.resident_id, resident_ids))
    schema = {"who": pl.Int64(), **FACT_ROWS_SCHEMA}
    del schema["resident_id"], schema["name"]
    codes = _codes(names)
    if resident_ids is None:
        coded = repository.read_rows(session, statement, schema, per_resident=codes, ids=ids)
    else:
        coded = bulk.read_frame(session, statement, schema)
    who = coded.get_column("who")
    return coded.select(
        (who // codes).alias("resident_id"),
        pl.Series(names, dtype=variable).gather(who % codes).alias("name"),
        pl.exclude("who"),
    )


def _of(facts: pl.DataFrame, *names: str) -> pl.DataFrame:
    """The rows of ``facts`` (``current_facts`` or ``current_fact_rows``) of these variables."""
    if len(names) == 1:
        return facts.filter(pl.col("name") == names[0])
    return facts.filter(pl.col("name").is_in(names))


def facts_as_of(
    actor: Actor,
    session: Session,
    variables: list[Variable],
    as_of: date,
    facts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per resident with any fact, one column per variable (text for ``latest``,
    numbers for ``sum`` and ``count``); residents without a fact are absent. ``facts``: the
    current facts as of ``as_of`` already read (``current_fact_rows``), holding at least
    these variables (otherwise they are read here)."""
    if facts is None:
        facts = current_facts(actor, session, [variable.name for variable in variables], as_of)
    result = pl.DataFrame(schema={"resident_id": pl.Int64})
    for variable in variables:
        rows = _of(facts, variable.name)
        if variable.window_years is not None:
            start = years_before(as_of, variable.window_years)
            rows = rows.filter(pl.col("valid_from").is_null() | (pl.col("valid_from") > start))
        match variable.aggregate:
            case Aggregate.SUM:
                number = pl.col("value").cast(pl.Float64, strict=False).sum()
                column = rows.group_by("resident_id").agg(number.alias(variable.name))
                summed = column.get_column(variable.name).fill_null(0)
                if (summed % 1 == 0).all():
                    column = column.with_columns(pl.col(variable.name).cast(pl.Int64))
            case Aggregate.COUNT:
                column = rows.group_by("resident_id").agg(
                    pl.len().cast(pl.Int64).alias(variable.name)
                )
            case Aggregate.LATEST:
                column = (
                    rows.filter(pl.col("valid_to").is_null() | (pl.col("valid_to") >= as_of))
                    .sort("valid_from", nulls_last=False, maintain_order=True)
                    .group_by("resident_id")
                    .agg(pl.col("value").last().alias(variable.name))
                )
        result = result.join(column, on="resident_id", how="full", coalesce=True)
    return result


@dataclass(frozen=True)
class FactSource:
    """One fact with where it came from."""

    name: str
    value: str
    valid_from: date | None
    valid_to: date | None
    feed: str | None
    batch_id: int | None
    file_name: str | None
    source_row: int | None
    imported_by: str | None
    imported_at: datetime | None
    superseded_by: int | None
    superseded_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "variable": self.name,
            "value": self.value,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "feed": self.feed,
            "batch": self.batch_id,
            "file": self.file_name,
            "row": self.source_row,
            "imported_at": self.imported_at.isoformat() if self.imported_at else None,
        }


def fact_sources(
    actor: Actor, session: Session, resident_id: int, names: list[str] | None = None
) -> list[FactSource]:
    """Every fact of a resident (superseded ones too), newest batch first; none when the
    resident is out of the actor's reach."""
    superseding = aliased(FeedBatch)
    statement = (
        select(Fact, FeedBatch, superseding.imported_at)
        .outerjoin(FeedBatch, Fact.batch_id == FeedBatch.id)
        .outerjoin(superseding, Fact.superseded_by == superseding.id)
        .where(Fact.resident_id == resident_id, repository.readable(actor))
        .order_by(Fact.name, Fact.valid_from.desc(), Fact.id.desc())
    )
    if names is not None:
        statement = statement.where(Fact.name.in_(names))
    return [
        FactSource(
            fact.name,
            fact.value,
            fact.valid_from,
            fact.valid_to,
            fact.feed,
            fact.batch_id,
            batch.file_name if batch else fact.source.rsplit(":", 1)[0],
            fact.source_row,
            batch.imported_by if batch else None,
            batch.imported_at if batch else None,
            fact.superseded_by,
            superseded_at,
        )
        for fact, batch, superseded_at in session.execute(statement)
    ]


def counts_as_of(
    source: FactSource, variable: Variable | None, as_of: date, known_at: datetime | None = None
) -> bool:
    """Whether this fact enters the value of its variable on ``as_of``, as the platform knew
    it at ``known_at`` (a scoring run's time; now when omitted)."""
    if known_at is None:
        if source.superseded_by is not None:
            return False
    else:
        if source.imported_at is not None and source.imported_at > known_at:
            return False
        if source.superseded_at is not None and source.superseded_at <= known_at:
            return False
    if source.valid_from is not None and source.valid_from > as_of:
        return False
    if variable is None or variable.aggregate == Aggregate.LATEST:
        return source.valid_to is None or source.valid_to >= as_of
    if variable.window_years is not None and source.valid_from is not None:
        return source.valid_from > years_before(as_of, variable.window_years)
    return True


def line_sources(
    actor: Actor,
    session: Session,
    resident_id: int,
    variables: Mapping[str, Variable],
    derived: dict[str, str],
    as_of: date,
    known_at: datetime | None,
) -> dict[str, list[dict[str, object]]]:
    """Input name → the facts (with feed, batch, file, row) its value came from on ``as_of``,
    as known at ``known_at``; for ``latest`` variables only the fact that was used."""
    wanted = {name: derived.get(name, name) for name in [*variables, *derived]}
    kinds = {
        name: kind
        for name in wanted
        if (kind := insurance_kind(name) or insurance_kind(wanted[name])) is not None
    }
    insurance_names = {
        variable for kind in set(kinds.values()) for variable in INSURANCE_KINDS[kind].variables
    }
    # The resident's facts of every variable asked about, insurance records included: one
    # indexed read (resident, name).
    sources = fact_sources(
        actor, session, resident_id, sorted(set(wanted.values()) | insurance_names)
    )
    used: dict[str, list[dict[str, object]]] = {}
    for name, variable_name in wanted.items():
        variable = variables.get(variable_name)
        counted = [
            source
            for source in sources
            if source.name == variable_name and counts_as_of(source, variable, as_of, known_at)
        ]
        if variable is None or variable.aggregate == Aggregate.LATEST:
            counted = counted[:1]
        if counted:
            used[name] = [source.as_dict() for source in counted]
    # Insurance inputs list each period's record with how much of it counted.
    if kinds:
        records = insurance_sources(
            actor,
            session,
            resident_id,
            sorted(set(kinds.values())),
            variables,
            as_of,
            known_at,
            sources,
        )
        for name, kind in kinds.items():
            used.pop(name, None)
            if kind in records:
                used[name] = records[kind]
    return used


def each_fact(
    actor: Actor,
    session: Session,
    name: str,
    as_of: date,
    resident_ids: list[int] | None = None,
) -> pl.DataFrame:
    """Every current fact of one variable begun by ``as_of`` (resident_id, value,
    valid_from), one row each, of every readable resident or of a page of them: for
    derivations that look at each fact rather than a sum or the latest (the permit time
    line's endorsements). One query, read as a frame."""
    statement = select(Fact.resident_id, Fact.value, Fact.valid_from).where(
        Fact.name == name,
        Fact.superseded_by.is_(None),
        Fact.valid_from <= as_of,
        repository.readable(actor),
    )
    if resident_ids is not None:
        statement = statement.where(Fact.resident_id.in_(resident_ids))
    return bulk.read_frame(
        session,
        statement,
        {"resident_id": pl.Int64(), "value": pl.String(), "valid_from": pl.Date()},
        # Everyone's: SQLite reads the table in id ranges; left to itself it walked the
        # index of current records and fetched every fact from there (3.2 s of CPU instead
        # of 0.4 for 4.4 M facts, even to find none).
        sqlite_chunks=Fact.id if resident_ids is None else None,
        few=bulk.few(resident_ids),
    )


def each_fact_of(facts: pl.DataFrame, name: str) -> pl.DataFrame:
    """``each_fact`` out of current facts already read (``current_fact_rows``)."""
    return (
        _of(facts, name)
        .filter(pl.col("valid_from").is_not_null())
        .select("resident_id", "value", "valid_from")
    )


# Insurance by month (docs/policy.md "Insurance by month"; kernels/timeline/insurance.py)


@dataclass(frozen=True)
class InsuranceKind:
    """Where one kind of insurance comes from: the facts of one feed's records, one per
    period (a year's total or a month), read together by the record's period."""

    months: str
    """The variable holding months paid per period (``valid_from``/``valid_to``: the period)."""
    back_paid: str
    """The variable marking a period paid in arrears (补缴)."""
    scheme_variable: str | None = None
    """The variable holding the period's scheme (medical insurance)."""
    scheme: str | None = None
    """Only periods of this scheme count."""

    @property
    def variables(self) -> list[str]:
        return [name for name in (self.months, self.back_paid, self.scheme_variable) if name]


INSURANCE_KINDS: dict[str, InsuranceKind] = {
    "social_insurance": InsuranceKind("social_insurance_months", "social_insurance_back_paid"),
    "employee_medical_insurance": InsuranceKind(
        "medical_insurance_months",
        "medical_insurance_back_paid",
        "medical_insurance_scheme",
        "employee",
    ),
    "medical_insurance": InsuranceKind("medical_insurance_months", "medical_insurance_back_paid"),
}
"""Kind → its facts. Each kind yields the inputs ``<kind>_months``, ``<kind>_continuous_months``
and ``<kind>_current``."""

INSURANCE_DETAILS = frozenset(
    name for kind in INSURANCE_KINDS.values() for name in kind.variables[1:]
)
"""Variables read only as part of an insurance record (back-paid, scheme), not as inputs."""


def insurance_kind(column: str) -> str | None:
    """The kind an insurance input belongs to (``social_insurance_current`` → social_insurance)."""
    for kind in INSURANCE_KINDS:
        for measure in insurance.MEASURES:
            if column == f"{kind}_{measure}":
                return kind
    return None


PERIOD = ["resident_id", "valid_from", "valid_to"]
"""What a record is: a resident's period (its facts share it)."""


def _period_key() -> pl.Expr:
    """``PERIOD`` as one integer: resident_id × 2³² + the first day (days since 1970) × 2¹⁶ +
    the days to the last (null when a date is, as a join of the three matches nothing)."""
    first = pl.col("valid_from").cast(pl.Int32).cast(pl.Int64)
    days = (pl.col("valid_to") - pl.col("valid_from")).dt.total_days()
    return (pl.col("resident_id") * (1 << 32) + first * (1 << 16) + days).alias("_period")


def _fits_period_key(rows: pl.DataFrame) -> bool:
    """Whether ``_period_key`` tells every period of ``rows`` apart: resident ids below 2³¹,
    first days from 1970 to 2149, periods shorter than 2¹⁶ days."""
    first = pl.col("valid_from").cast(pl.Int32)
    days = (pl.col("valid_to") - pl.col("valid_from")).dt.total_days()
    out = (
        ~pl.col("resident_id").is_between(0, (1 << 31) - 1)
        | ~first.is_between(0, (1 << 16) - 1)
        | ~days.is_between(0, (1 << 16) - 1)
    )
    return not rows.select(out.fill_null(False).any()).item()


def _insurance_records(facts: pl.DataFrame, kind: InsuranceKind) -> pl.DataFrame:
    """One row per record (resident and period) of ``facts`` (``current_facts`` or
    ``current_fact_rows``), with its months paid, whether back-paid and its scheme: the
    kernel's input. A record's facts are matched by their period as one integer when it
    fits (``_period_key``: one column to hash instead of three, a third of the time), else
    by the three columns; a period's last scheme counts (a record has one)."""
    rows = _of(facts, *kind.variables)
    keyed = _fits_period_key(rows)
    if keyed:
        rows = rows.with_columns(_period_key())
    keys = ["_period"] if keyed else PERIOD

    def of(name: str) -> pl.DataFrame:
        return rows.filter(pl.col("name") == name)

    records = of(kind.months).select(
        *dict.fromkeys([*PERIOD, *keys]),
        pl.col("value").cast(pl.Float64, strict=False).cast(pl.Int64).alias(insurance.MONTHS_PAID),
    )
    back = of(kind.back_paid).select(*keys, pl.lit(True).alias(insurance.BACK_PAID)).unique(keys)
    records = records.join(back, on=keys, how="left")
    if kind.scheme_variable is not None:
        scheme = of(kind.scheme_variable).select(*keys, pl.col("value").alias(insurance.SCHEME))
        # Each period once: a hash of one column tells there is nothing to drop.
        if not keyed or scheme.get_column("_period").n_unique() < scheme.height:
            scheme = scheme.unique(keys, keep="last")
        if kind.scheme is None:
            records = records.join(scheme, on=keys, how="left")
        else:
            # The kernel keeps only the kind's scheme: the records whose scheme it is.
            theirs = scheme.filter(pl.col(insurance.SCHEME) == kind.scheme)
            records = (
                records.filter(pl.col("_period").is_in(theirs.get_column("_period").implode()))
                if keyed
                else records.join(theirs, on=keys, how="semi")
            ).with_columns(pl.lit(kind.scheme, pl.String).alias(insurance.SCHEME))
    return records.select(
        "resident_id",
        pl.col("valid_from").alias(insurance.START),
        pl.col("valid_to").alias(insurance.END),
        insurance.MONTHS_PAID,
        insurance.BACK_PAID,
        *([insurance.SCHEME] if kind.scheme_variable is not None else []),
    )


def insurance_variables(kinds: list[str]) -> list[str]:
    """The variables ``insurance_as_of`` reads for these kinds, the most frequent first:
    months (one fact per record), schemes, back-paid marks (``current_fact_rows``)."""
    chosen = [INSURANCE_KINDS[name] for name in kinds]
    listed = [
        *[kind.months for kind in chosen],
        *[kind.scheme_variable for kind in chosen if kind.scheme_variable],
        *[kind.back_paid for kind in chosen],
    ]
    return list(dict.fromkeys(listed))


def insurance_as_of(
    actor: Actor,
    session: Session,
    kinds: list[str],
    as_of: date,
    resident_ids: Sequence[int] | None = None,
    facts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``resident_id`` and, for each kind (``INSURANCE_KINDS``), ``<kind>_months`` (a year's
    total counting only its passed months), ``<kind>_continuous_months`` and
    ``<kind>_current``, from the current facts begun by ``as_of`` that ``actor`` reads, in one
    query: of everyone (scoring), or of ``resident_ids`` (a program's applicants, bound as one
    value); residents without a record are absent. ``facts``: the current facts as of
    ``as_of`` already read (``current_fact_rows``), holding at least
    ``insurance_variables(kinds)`` (then nothing is read here)."""
    if facts is None:
        facts = current_fact_rows(actor, session, insurance_variables(kinds), as_of, resident_ids)
    result = pl.DataFrame(schema={"resident_id": pl.Int64})
    for name in kinds:
        kind = INSURANCE_KINDS[name]
        summary = insurance.insurance_as_of(_insurance_records(facts, kind), as_of, kind.scheme)
        result = result.join(
            summary.rename({measure: f"{name}_{measure}" for measure in insurance.MEASURES}),
            on="resident_id",
            how="full",
            coalesce=True,
        )
    return result


def insurance_sources(
    actor: Actor,
    session: Session,
    resident_id: int,
    kinds: list[str],
    variables: Mapping[str, Variable],
    as_of: date,
    known_at: datetime | None,
    sources: list[FactSource] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """Kind → the resident's records of it that entered the value on ``as_of`` as known at
    ``known_at`` (feed, batch, file, row as for every fact), each with ``period``,
    ``counted_months``, ``in_run`` (in the run that ``continuous_months`` counts),
    ``back_paid``, the scheme when the kind has one, and a note when it counted less than it
    says (a year's total of which only some months had passed, months told by month records,
    back-paid). ``sources``: the resident's facts already read (``fact_sources``), holding at
    least the kinds' variables."""
    chosen = {name: INSURANCE_KINDS[name] for name in kinds}
    if sources is None:
        names = sorted({variable for kind in chosen.values() for variable in kind.variables})
        sources = fact_sources(actor, session, resident_id, names)
    # Each kind's records, counted by the kernel in one call, each kind standing for a
    # resident of its own (the kernel counts each resident's records apart): one query for
    # one resident's explanation. A kind of one scheme brings that scheme's records only, as
    # the kernel asked for that scheme would keep them (the others count for nothing and are
    # not listed).
    read: dict[str, tuple[InsuranceKind, list[FactSource], pl.DataFrame]] = {}
    for name, kind in chosen.items():
        months_variable = variables.get(kind.months)
        if months_variable is None:
            continue
        # A record's back-paid mark and scheme are read as its months are (same batch).
        known = [
            source
            for source in sources
            if source.name in kind.variables
            and counts_as_of(source, months_variable, as_of, known_at)
        ]
        months = [source for source in known if source.name == kind.months]
        if not months:
            continue
        period = {
            (source.name, source.valid_from, source.valid_to): source.value for source in known
        }
        if kind.scheme is not None:
            months = [
                source
                for source in months
                if period.get((kind.scheme_variable or "", source.valid_from, source.valid_to))
                == kind.scheme
            ]
            if not months:
                continue
        records = pl.DataFrame(
            {
                insurance.RESIDENT: [len(read)] * len(months),
                insurance.START: [source.valid_from for source in months],
                insurance.END: [source.valid_to for source in months],
                insurance.MONTHS_PAID: [int(float(source.value)) for source in months],
                insurance.BACK_PAID: [
                    (kind.back_paid, source.valid_from, source.valid_to) in period
                    for source in months
                ],
                insurance.SCHEME: [
                    period.get((kind.scheme_variable or "", source.valid_from, source.valid_to))
                    for source in months
                ],
            },
            schema=insurance.RECORDS_SCHEMA,
        )
        read[name] = (kind, months, records)
    counts = (
        insurance.record_counts(pl.concat([records for _, _, records in read.values()]), as_of)
        if read
        else None
    )
    result: dict[str, list[dict[str, object]]] = {}
    for name, (kind, months, records) in read.items():
        assert counts is not None
        mine = counts.filter(pl.col(insurance.RESIDENT) == records[0, insurance.RESIDENT])
        listed = []
        for source, count in zip(months, mine.iter_rows(named=True), strict=True):
            start = source.valid_from
            assert start is not None  # insurance periods always have their dates
            one_month = source.valid_to is not None and (
                (start.year, start.month) == (source.valid_to.year, source.valid_to.month)
            )
            entry = {
                **source.as_dict(),
                "period": f"{start.year}-{start.month:02d}" if one_month else str(start.year),
                "counted_months": count[insurance.COUNTED],
                "in_run": count[insurance.IN_RUN],
                "back_paid": count[insurance.BACK_PAID],
            }
            if kind.scheme_variable is not None:
                entry["scheme"] = count[insurance.SCHEME]
            if count["note_zh"] is not None:
                entry["note_zh"], entry["note_en"] = count["note_zh"], count["note_en"]
            listed.append(entry)
        if listed:
            result[name] = listed
    return result
