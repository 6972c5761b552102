"""Registry tables: towns, residents, residence permits, households, children, employers, and
the per-town counts that every registry write keeps current."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class TownKind(StrEnum):
    SUBDISTRICT = "subdistrict"  # 街道
    TOWN = "town"  # 镇


class PermitStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Relation(StrEnum):
    """A resident's relation to the head of the household (与户主关系), as the residents
    feed records it; ``RELATION_LABELS`` gives the Chinese words the feed also accepts."""

    HEAD = "head"  # 户主
    SPOUSE = "spouse"  # 配偶
    CHILD = "child"  # 子女
    PARENT = "parent"  # 父母
    SIBLING = "sibling"  # 兄弟姐妹
    OTHER = "other"  # 其他


RELATION_LABELS: dict[Relation, str] = {
    Relation.HEAD: "户主",
    Relation.SPOUSE: "配偶",
    Relation.CHILD: "子女",
    Relation.PARENT: "父母",
    Relation.SIBLING: "兄弟姐妹",
    Relation.OTHER: "其他",
}


class EmploymentBasis(StrEnum):
    LABOUR_CONTRACT = "labour_contract"  # 劳动合同
    BUSINESS_LICENCE = "business_licence"  # 营业执照


class Town(Base):
    __tablename__ = "towns"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(16), default=TownKind.TOWN)


class Resident(Base):
    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date] = mapped_column(Date)
    origin_region_code: Mapped[str] = mapped_column(String(6))
    origin_province: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str | None] = mapped_column(String(20))
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    relation_to_head: Mapped[str | None] = mapped_column(String(8))
    """A ``Relation``; unknown (null) when the feed did not say."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class ResidencePermit(Base):
    __tablename__ = "residence_permits"
    __table_args__ = (CheckConstraint("expiry_date > issue_date", name="expiry_after_issue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    permit_number: Mapped[str] = mapped_column(String(32), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=PermitStatus.VALID)
    status_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    """Since when the status holds (a cancellation's date), when the department sends it:
    the permit time line ends a cancelled permit there (docs/policy.md)."""


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_number: Mapped[str] = mapped_column(String(32), unique=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), index=True)


class Child(Base):
    """An accompanying child (随迁子女) of a household.

    Its parents (or guardians) are the two the children feed names, never other adults of
    the household: ``parent_id`` the resident who registered the child (the feed's
    ``id_number``), and the other parent by ID number as the feed gave it, with
    ``second_parent_id`` the resident of that number once the registry has one (a parent who
    works in another city is still a parent)."""

    __tablename__ = "children"
    __table_args__ = (
        CheckConstraint("grade IS NULL OR (grade BETWEEN 1 AND 12)", name="grade_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date] = mapped_column(Date)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    second_parent_id_number: Mapped[str | None] = mapped_column(String(18), index=True)
    second_parent_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    vaccination_certificate: Mapped[bool] = mapped_column(default=False)
    school_name: Mapped[str | None] = mapped_column(String(100))
    grade: Mapped[int | None] = mapped_column(Integer)


class Employer(Base):
    __tablename__ = "employers"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), index=True)


class EmployerUnion(Base):
    """Whether an employer has set up a trade union (是否建立工会), as the 总工会's feed last
    said; an employer the feed never named has no row (unknown, not "no")."""

    __tablename__ = "employer_unions"

    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id"), primary_key=True)
    has_union: Mapped[bool] = mapped_column()
    established_on: Mapped[date | None] = mapped_column(Date)


class Employment(Base):
    __tablename__ = "employments"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id"), index=True)
    basis: Mapped[str] = mapped_column(String(24))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    frontline: Mapped[bool | None] = mapped_column()
    """A frontline post (一线岗位); unknown (null) when the feed did not say."""


class TownCount(Base):
    """Residents and accompanying children of a town, changed by every registry write in the
    same transaction (``repository.adjust_counts``), so that the towns list and the home page
    read one row per town instead of counting whole tables."""

    __tablename__ = "town_counts"

    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), primary_key=True)
    residents: Mapped[int] = mapped_column(Integer, default=0)
    children: Mapped[int] = mapped_column(Integer, default=0)


class TownPermitCount(Base):
    """Permits of status ``valid`` of a town, by expiry date. A permit is valid on a day when
    its status is valid and it expires on or after that day, so the count for any day is a sum
    over the rows from that day on: exact on every date without a nightly recount, and the
    rows number towns × distinct expiry dates (about 20,000 for a city), not permits. The
    covering index makes the sum index-only, one range per town (1.8 ms on SQLite)."""

    __tablename__ = "town_permit_counts"
    __table_args__ = (
        Index("ix_town_permit_counts_valid_from", "town_id", "expiry_date", "permits"),
    )

    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"), primary_key=True)
    expiry_date: Mapped[date] = mapped_column(Date, primary_key=True)
    permits: Mapped[int] = mapped_column(Integer, default=0)
